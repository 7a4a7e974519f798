//! The input object of an element type, written once: `element_input!` declares each input
//! field in one line and derives both the GraphQL input type and the write it asks for.

/// Expands to an `InputObject` struct and its `into_write`, which turns the input into the
/// element pipeline's `Write`. One line per field, in the order the schema lists them:
///
/// - `text f;`: nullable text; trimmed, an empty string clears it.
/// - `required_text f;`: text the row always has; given or left as it is.
/// - `value f: T;`: a nullable column taken as it is (`null` clears it).
/// - `flag f;`: a boolean column; given or left as it is.
/// - `id f: Kind;`: a nullable reference given as a public id of `Kind`.
/// - `required_id f: Kind;`: a reference the row always has.
/// - `links f: Kind;`: the element's linked elements (contacts of a deal, companies of a
///   contact), replaced when given.
/// - `communications;`: the `phones`, `emails`, `webs` and `ims` lists.
///
/// Every input ends with `customFields`. Errors name the field as the schema spells it.
macro_rules! element_input {
    (
        $(#[$sm:meta])*
        $name:ident => $row:ident {
            $( $(#[doc = $d:literal])* $kind:ident $($f:ident)? $(: $arg:ident)? ; )*
        }
    ) => {
        $crate::api::input::element_input!(@struct [$(#[$sm])* $name] []
            $( $(#[doc = $d])* $kind $($f)? $(: $arg)? ; )*
        );

        impl $name {
            pub fn into_write(
                self,
            ) -> $crate::kernel::DomainResult<$crate::kernel::write::Write<$crate::kernel::models::$row>> {
                #[allow(unused_mut, unused_assignments)]
                let mut links = None;
                #[allow(unused_mut, unused_assignments)]
                let mut comms = $crate::crm::shared::communications::CommSet::default();
                $( $crate::api::input::element_input!(@before links comms self $kind $($f)? $(: $arg)?); )*
                let custom = $crate::api::common::custom_values(self.custom_fields);
                Ok($crate::kernel::write::Write {
                    comms,
                    links,
                    reject_duplicates: false,
                    custom,
                    apply: Box::new(move |row: &mut $crate::kernel::models::$row| {
                        $( $crate::api::input::element_input!(@apply row self $kind $($f)? $(: $arg)?); )*
                        Ok(())
                    }),
                })
            }
        }
    };

    // The struct: one field per line (four for `communications`), then `customFields`.
    (@struct [$($head:tt)*] [$($acc:tt)*]) => {
        $crate::api::input::element_input!(@emit [$($head)*] [$($acc)*]);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* text $f:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: async_graphql::MaybeUndefined<String>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* required_text $f:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: Option<String>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* value $f:ident: $t:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: async_graphql::MaybeUndefined<$t>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* flag $f:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: Option<bool>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* id $f:ident: $k:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: async_graphql::MaybeUndefined<async_graphql::ID>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* required_id $f:ident: $k:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: Option<async_graphql::ID>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* links $f:ident: $k:ident; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub $f: Option<Vec<async_graphql::ID>>,
        ] $($more)*);
    };
    (@struct $head:tt [$($acc:tt)*] $(#[doc = $d:literal])* communications; $($more:tt)*) => {
        $crate::api::input::element_input!(@struct $head [$($acc)*
            $(#[doc = $d])* pub phones: Option<Vec<$crate::api::common::CommunicationInput>>,
            pub emails: Option<Vec<$crate::api::common::CommunicationInput>>,
            pub webs: Option<Vec<$crate::api::common::CommunicationInput>>,
            pub ims: Option<Vec<$crate::api::common::CommunicationInput>>,
        ] $($more)*);
    };
    (@emit [$(#[$sm:meta])* $name:ident] [$($fields:tt)*]) => {
        $(#[$sm])*
        #[derive(async_graphql::InputObject)]
        pub struct $name {
            $($fields)*
            /// Custom field values to set (others stay as they are).
            pub custom_fields: Option<Vec<$crate::api::common::CustomFieldValueInput>>,
        }
    };

    // Taken from the input before the row is known: links and communications.
    (@before $links:ident $comms:ident $s:tt links $f:ident: $k:ident) => {
        $links = $crate::api::common::decode_ids(
            $crate::kernel::ids::IdKind::$k,
            $s.$f,
            &$crate::kernel::history::camel_case(stringify!($f)),
        )?
    };
    (@before $links:ident $comms:ident $s:tt communications) => {
        $comms = $crate::api::common::comm_set($s.phones, $s.emails, $s.webs, $s.ims)
    };
    (@before $links:ident $comms:ident $s:tt $($other:tt)*) => {};

    // Applied to the row: created or read for update.
    (@apply $r:ident $s:tt text $f:ident) => {
        $crate::api::common::patch_text(&mut $r.$f, $s.$f)
    };
    (@apply $r:ident $s:tt value $f:ident: $t:ident) => {
        $crate::api::common::patch(&mut $r.$f, $s.$f)
    };
    (@apply $r:ident $s:tt id $f:ident: $k:ident) => {
        $crate::api::common::patch_id(&mut $r.$f, $s.$f, $crate::kernel::ids::IdKind::$k, stringify!($f))?
    };
    (@apply $r:ident $s:tt required_id $f:ident: $k:ident) => {
        if let Some(v) = $s.$f {
            $r.$f = $crate::kernel::ids::decode(
                $crate::kernel::ids::IdKind::$k,
                &v,
                &$crate::kernel::history::camel_case(stringify!($f)),
            )?;
        }
    };
    (@apply $r:ident $s:tt $kind:ident $f:ident) => {
        if let Some(v) = $s.$f {
            $r.$f = v;
        }
    };
    (@apply $r:ident $s:tt $($other:tt)*) => {};
}
pub(crate) use element_input;

/// An input object given as JSON rather than in a GraphQL document (an import's row, a web
/// form's answers), parsed by the same rules as a client's; the error is the message
/// async-graphql gives a client.
pub fn from_json<I: async_graphql::InputType>(json: serde_json::Value) -> Result<I, String> {
    let value = async_graphql::Value::from_json(json).map_err(|e| e.to_string())?;
    I::parse(Some(value)).map_err(|e| e.into_server_error(Default::default()).message)
}

//! The GraphQL object of an element type, written once: `element_object!` wraps the fields
//! of one type with the fields every element shares (custom fields, id, version, the nested
//! lists, communications, audit fields, activities and timeline), in the order the schema
//! lists them.

/// Expands to the `#[Object]` impl of an element row type.
///
/// - `version`, `activities`, `timeline`: the type's own description of the shared field.
/// - `fields`: the type's own fields, between `version` and the nested lists: one line per
///   column (`text f;`, `required_text f;`, `value f: T;`, `id f: Kind;`, `required_id f:
///   Kind;`, `status f => name;`, `user f => name;`, `element f: Row => name;`,
///   `products;` for product rows and their totals), or a hand-written resolver.
/// - `nested`: connections to other elements (`field: Row, Filter, Order, Connection,
///   relation;`), with the usual filter, order and page arguments.
/// - `comms`: the element type whose `phones`, `emails`, `webs` and `ims` to show (empty for
///   a type without communications).
/// - `tail`: the type's own fields between the audit fields and `activities`, written like
///   `fields`.
macro_rules! element_object {
    // The type's own fields: column getters written as one line each (see `@fields`),
    // hand-written resolvers passed through as they are.
    (
        $ty:ident, $etype:ident;
        version $(#[doc = $vdoc:literal])*;
        fields { $($fields:tt)* }
        $($rest:tt)*
    ) => {
        $crate::api::element::element_object!(
            @fields [$ty, $etype; version $(#[doc = $vdoc])*;] [] [$($rest)*] $($fields)*
        );
    };
    // The fields are done: the `tail` is written in the same lines, so read it next.
    (@fields $head:tt [$($acc:tt)*] [@tail [$($fields:tt)*] $($rest:tt)*]) => {
        $crate::api::element::element_object!(@emit $head fields { $($fields)* } tail { $($acc)* } $($rest)*);
    };
    (
        @fields $head:tt [$($acc:tt)*]
        [nested $nested:tt comms $comms:tt tail { $($tail:tt)* } $($rest:tt)*]
    ) => {
        $crate::api::element::element_object!(
            @fields $head [] [@tail [$($acc)*] nested $nested comms $comms $($rest)*] $($tail)*
        );
    };
    // `products;`: the product rows of a lead or deal and their totals.
    (@fields [$ty:ident, $etype:ident; $($h:tt)*] [$($acc:tt)*] $rest:tt products; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields [$ty, $etype; $($h)*] [$($acc)*
            async fn product_rows(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> $crate::api::GqlResult<Vec<$crate::kernel::models::ProductRow>> {
                $crate::crm::shared::products_api::rows_of(ctx, $crate::kernel::ElementType::$etype, self.id).await
            }
            async fn totals(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> $crate::api::GqlResult<$crate::crm::shared::products_api::Totals> {
                $crate::crm::shared::products_api::totals_of(ctx, $crate::kernel::ElementType::$etype, self.id).await
            }
        ] $rest $($more)*);
    };
    // `text f;`: a nullable text column.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* text $f:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> Option<&str> { self.$f.as_deref() }
        ] $rest $($more)*);
    };
    // `required_text f;`: a text column that is never null.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* required_text $f:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> &str { &self.$f }
        ] $rest $($more)*);
    };
    // `value f: T;`: a column shown as it is stored.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* value $f:ident: $t:ty; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> $t { self.$f }
        ] $rest $($more)*);
    };
    // `id f: Kind;`: a nullable reference, as a public id.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* id $f:ident: $k:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> Option<async_graphql::ID> {
                $crate::api::opt_id($crate::kernel::ids::IdKind::$k, self.$f)
            }
        ] $rest $($more)*);
    };
    // `required_id f: Kind;`: a reference that is never null, as a public id.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* required_id $f:ident: $k:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> async_graphql::ID {
                $crate::api::to_id($crate::kernel::ids::IdKind::$k, self.$f)
            }
        ] $rest $($more)*);
    };
    // `status f => name;`: a status item reference: its id and the item.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* status $f:ident => $n:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> Option<async_graphql::ID> {
                $crate::api::opt_id($crate::kernel::ids::IdKind::StatusItem, self.$f)
            }
            async fn $n(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Option<$crate::kernel::models::StatusItem>> {
                $crate::api::common::status_of(ctx, self.$f).await
            }
        ] $rest $($more)*);
    };
    // `user f => name;`: a user reference: its id and the user.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* user $f:ident => $n:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> Option<async_graphql::ID> {
                $crate::api::opt_id($crate::kernel::ids::IdKind::User, self.$f)
            }
            async fn $n(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Option<$crate::kernel::models::User>> {
                $crate::api::common::user_of(ctx, self.$f).await
            }
        ] $rest $($more)*);
    };
    // `element f: Row => name;`: a reference to another element: its id and the element
    // (null when the caller may not read it).
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[doc = $d:literal])* element $f:ident: $row:ident => $n:ident; $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[doc = $d])* async fn $f(&self) -> Option<async_graphql::ID> {
                $crate::api::opt_id($crate::kernel::ids::IdKind::$row, self.$f)
            }
            async fn $n(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Option<$crate::kernel::models::$row>> {
                $crate::api::element::load_element(ctx, self.$f).await
            }
        ] $rest $($more)*);
    };
    // A hand-written resolver.
    (@fields $head:tt [$($acc:tt)*] $rest:tt $(#[$m:meta])* async fn $n:ident ($($args:tt)*) -> $ret:ty $body:block $($more:tt)*) => {
        $crate::api::element::element_object!(@fields $head [$($acc)*
            $(#[$m])* async fn $n($($args)*) -> $ret $body
        ] $rest $($more)*);
    };
    (
        @emit [$ty:ident, $etype:ident; version $(#[doc = $vdoc:literal])*;]
        fields { $($fields:tt)* }
        tail { $($tail:tt)* }
        nested { $( $nfield:ident: $nrow:ident, $nfilter:ty, $nrel_order:ty, $nconn:ident, $nrel:expr; )* }
        comms { $($ctype:ident)? }
        activities $(#[doc = $adoc:literal])*;
        timeline $(#[doc = $tdoc:literal])*;
    ) => {
        #[async_graphql::Object]
        impl $ty {
            /// Custom field values, by code.
            async fn custom_fields(&self) -> Vec<$crate::api::common::CustomFieldValue> {
                $crate::api::common::custom_list(&self.custom)
            }
            /// One custom field's value (null when unset).
            async fn custom_field(&self, code: String) -> Option<async_graphql::Json<serde_json::Value>> {
                self.custom.get(code.trim()).cloned().map(async_graphql::Json)
            }
            pub async fn id(&self) -> async_graphql::ID {
                $crate::api::to_id($crate::kernel::ElementType::$etype.id_kind(), self.id)
            }
            $(#[doc = $vdoc])*
            async fn version(&self) -> i32 {
                self.version
            }
            $($fields)*
            $(
                #[allow(clippy::too_many_arguments)]
                #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
                async fn $nfield(
                    &self,
                    ctx: &async_graphql::Context<'_>,
                    filter: Option<$nfilter>,
                    order_by: Option<Vec<$nrel_order>>,
                    first: Option<i32>,
                    after: Option<String>,
                    last: Option<i32>,
                    before: Option<String>,
                ) -> $crate::api::GqlResult<$nconn> {
                    let args = $crate::api::filters::list_args(
                        $crate::api::phone_region(ctx), filter, order_by, first, after, last, before,
                    )?;
                    $crate::api::connection::nested_list!(ctx, $nrow, $nconn, args, $nrel, self.id)
                }
            )*
            $(
                async fn phones(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Vec<$crate::api::common::Communication>> {
                    $crate::api::common::comms_of(ctx, $crate::kernel::ElementType::$ctype, self.id, $crate::crm::shared::communications::CommKind::Phone).await
                }
                async fn emails(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Vec<$crate::api::common::Communication>> {
                    $crate::api::common::comms_of(ctx, $crate::kernel::ElementType::$ctype, self.id, $crate::crm::shared::communications::CommKind::Email).await
                }
                async fn webs(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Vec<$crate::api::common::Communication>> {
                    $crate::api::common::comms_of(ctx, $crate::kernel::ElementType::$ctype, self.id, $crate::crm::shared::communications::CommKind::Web).await
                }
                async fn ims(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Vec<$crate::api::common::Communication>> {
                    $crate::api::common::comms_of(ctx, $crate::kernel::ElementType::$ctype, self.id, $crate::crm::shared::communications::CommKind::Im).await
                }
            )?
            async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
                self.created_at
            }
            async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
                self.updated_at
            }
            async fn created_by(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Option<$crate::kernel::models::User>> {
                $crate::api::common::user_of(ctx, self.created_by_id).await
            }
            async fn updated_by(&self, ctx: &async_graphql::Context<'_>) -> $crate::api::GqlResult<Option<$crate::kernel::models::User>> {
                $crate::api::common::user_of(ctx, self.updated_by_id).await
            }
            $($tail)*
            $(#[doc = $adoc])*
            #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
            async fn activities(
                &self,
                ctx: &async_graphql::Context<'_>,
                filter: Option<$crate::activity::api::ActivityFilter>,
                order_by: Option<Vec<$crate::activity::api::ActivityOrder>>,
                first: Option<i32>,
                after: Option<String>,
            ) -> $crate::api::GqlResult<$crate::activity::api::ActivityConnection> {
                $crate::activity::api::activities_of(ctx, $crate::kernel::ElementType::$etype, self.id, filter, order_by, first, after).await
            }
            $(#[doc = $tdoc])*
            #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
            async fn timeline(
                &self,
                ctx: &async_graphql::Context<'_>,
                first: Option<i32>,
                after: Option<String>,
                filter: Option<$crate::api::timeline::TimelineFilter>,
            ) -> $crate::api::GqlResult<$crate::api::timeline::TimelineConnection> {
                $crate::api::timeline::timeline_of(ctx, $crate::kernel::ElementType::$etype, self.id, first, after, filter).await
            }
        }
    };
}
pub(crate) use element_object;

/// One row by id through the request's loader (an element, a product); null when there is
/// no id, or the row is gone or hidden from the caller.
pub async fn load_element<T>(ctx: &async_graphql::Context<'_>, id: Option<i64>) -> crate::api::GqlResult<Option<T>>
where
    T: crate::kernel::list::Listable,
{
    match id {
        None => Ok(None),
        Some(id) => crate::api::loader(ctx)
            .load_one(crate::api::loaders::ById::<T>::new(id))
            .await
            .map_err(crate::api::load_error)
            .map(Option::flatten),
    }
}

//! Public ids. Every object id is `<kind>:<number>` (`lead:42`), so `node(id)` can tell the
//! type and two objects never share an id. Where the kind is known from the argument, a bare
//! number is accepted too, which is friendlier to people typing queries in GraphiQL.

use crate::kernel::error::DomainError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    Lead,
    Contact,
    Company,
    Deal,
    User,
    StatusItem,
    Pipeline,
    Stage,
    TimelineEntry,
    Department,
    Product,
    ProductRow,
    Activity,
    Role,
    ApiToken,
    CustomField,
    ImportJob,
    WebForm,
    WebFormSubmission,
    Call,
    MailMessage,
    Webhook,
    WebhookDelivery,
    Notification,
}

impl IdKind {
    pub const ALL: [IdKind; 24] = [
        IdKind::Lead,
        IdKind::Contact,
        IdKind::Company,
        IdKind::Deal,
        IdKind::User,
        IdKind::StatusItem,
        IdKind::Pipeline,
        IdKind::Stage,
        IdKind::TimelineEntry,
        IdKind::Department,
        IdKind::Product,
        IdKind::ProductRow,
        IdKind::Activity,
        IdKind::Role,
        IdKind::ApiToken,
        IdKind::CustomField,
        IdKind::ImportJob,
        IdKind::WebForm,
        IdKind::WebFormSubmission,
        IdKind::Call,
        IdKind::MailMessage,
        IdKind::Webhook,
        IdKind::WebhookDelivery,
        IdKind::Notification,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Lead => "lead",
            IdKind::Contact => "contact",
            IdKind::Company => "company",
            IdKind::Deal => "deal",
            IdKind::User => "user",
            IdKind::StatusItem => "status",
            IdKind::Pipeline => "pipeline",
            IdKind::Stage => "stage",
            IdKind::TimelineEntry => "timeline",
            IdKind::Department => "department",
            IdKind::Product => "product",
            IdKind::ProductRow => "productrow",
            IdKind::Activity => "activity",
            IdKind::Role => "role",
            IdKind::ApiToken => "apitoken",
            IdKind::CustomField => "customfield",
            IdKind::ImportJob => "import",
            IdKind::WebForm => "webform",
            IdKind::WebFormSubmission => "submission",
            IdKind::Call => "call",
            IdKind::MailMessage => "mail",
            IdKind::Webhook => "webhook",
            IdKind::WebhookDelivery => "delivery",
            IdKind::Notification => "notification",
        }
    }

    pub fn from_prefix(p: &str) -> Option<IdKind> {
        IdKind::ALL.into_iter().find(|k| k.prefix() == p)
    }
}

pub fn encode(kind: IdKind, id: i64) -> String {
    format!("{}:{id}", kind.prefix())
}

/// Splits a public id into its kind (if prefixed) and number.
pub fn parse_any(raw: &str) -> Option<(Option<IdKind>, i64)> {
    let raw = raw.trim();
    let (kind, num) = match raw.split_once(':') {
        Some((p, n)) => (Some(IdKind::from_prefix(p)?), n),
        None => (None, raw),
    };
    let n: i64 = num.parse().ok()?;
    (n > 0).then_some((kind, n))
}

/// Decodes an id that must be of `kind`; a malformed id or one of another kind is reported
/// against `field`.
pub fn decode(kind: IdKind, raw: &str, field: &str) -> Result<i64, DomainError> {
    match parse_any(raw) {
        Some((None, n)) => Ok(n),
        Some((Some(k), n)) if k == kind => Ok(n),
        _ => Err(DomainError::bad_input(field, format!("`{raw}` is not a valid {} id", kind.prefix()))),
    }
}

/// Like `decode`, but for lookups: an id of the wrong shape simply names nothing.
pub fn decode_lookup(kind: IdKind, raw: &str) -> Result<i64, DomainError> {
    match parse_any(raw) {
        Some((None, n)) => Ok(n),
        Some((Some(k), n)) if k == kind => Ok(n),
        _ => Err(DomainError::NotFound(format!("{} `{raw}` not found", kind.prefix()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bare_numbers() {
        assert_eq!(encode(IdKind::Lead, 42), "lead:42");
        assert_eq!(decode(IdKind::Lead, "lead:42", "id").unwrap(), 42);
        assert_eq!(decode(IdKind::Lead, "42", "id").unwrap(), 42);
        assert!(decode(IdKind::Lead, "deal:42", "id").is_err());
        assert!(decode(IdKind::Lead, "lead:-1", "id").is_err());
        assert!(decode(IdKind::Lead, "lead:abc", "id").is_err());
        assert!(matches!(decode_lookup(IdKind::Deal, "x"), Err(DomainError::NotFound(_))));
        assert_eq!(parse_any("status:7"), Some((Some(IdKind::StatusItem), 7)));
    }

    #[test]
    fn hostile_ids_are_refused_not_truncated() {
        for raw in [
            "lead:9223372036854775808",
            "lead:99999999999999999999999999",
            "lead:0",
            "lead:",
            ":",
            "lead:1:2",
            "lead:1.5",
            "lead:١٢",
            "",
            "lead:\u{0}1",
        ] {
            assert!(decode(IdKind::Lead, raw, "id").is_err(), "{raw:?}");
            assert!(matches!(decode_lookup(IdKind::Lead, raw), Err(DomainError::NotFound(_))), "{raw:?}");
        }
        assert_eq!(decode(IdKind::Lead, "lead:9223372036854775807", "id").unwrap(), i64::MAX);
    }
}

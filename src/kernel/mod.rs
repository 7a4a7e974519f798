//! What every capability shares: errors, ids, the acting user, value rules, history, the
//! outbox, the row structs, the list engine (`list`), the element write pipeline (`write`)
//! and rights (`access`). Knows PostgreSQL (through diesel-async) but nothing of GraphQL.

pub mod access;
pub mod actor;
pub mod bulk;
pub mod error;
pub mod history;
pub mod ids;
pub mod kinds;
pub mod limits;
pub mod list;
pub mod memo;
pub mod models;
pub mod outbox;
pub mod validate;
pub mod write;

pub use actor::Actor;
pub use error::{DomainError, DomainResult};

/// The four CRM element types that carry history, communications and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ElementType {
    Lead,
    Contact,
    Company,
    Deal,
}

impl ElementType {
    pub const ALL: [ElementType; 4] =
        [ElementType::Lead, ElementType::Contact, ElementType::Company, ElementType::Deal];

    pub fn as_str(self) -> &'static str {
        match self {
            ElementType::Lead => "LEAD",
            ElementType::Contact => "CONTACT",
            ElementType::Company => "COMPANY",
            ElementType::Deal => "DEAL",
        }
    }

    pub fn parse(s: &str) -> Option<ElementType> {
        match s {
            "LEAD" => Some(ElementType::Lead),
            "CONTACT" => Some(ElementType::Contact),
            "COMPANY" => Some(ElementType::Company),
            "DEAL" => Some(ElementType::Deal),
            _ => None,
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            ElementType::Lead => "leads",
            ElementType::Contact => "contacts",
            ElementType::Company => "companies",
            ElementType::Deal => "deals",
        }
    }

    pub fn id_kind(self) -> ids::IdKind {
        match self {
            ElementType::Lead => ids::IdKind::Lead,
            ElementType::Contact => ids::IdKind::Contact,
            ElementType::Company => ids::IdKind::Company,
            ElementType::Deal => ids::IdKind::Deal,
        }
    }
}

/// A reference to one element, as used by history, comments and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ElementRef {
    pub element_type: ElementType,
    pub id: i64,
}

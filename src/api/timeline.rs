//! History: timeline entries per element and across all elements.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::api::common;
use crate::api::connection::{connection, nested_list, top_level_list};
use crate::api::filters::{DateTimeFilter, IdFilter, element_filter};
use crate::api::{GqlResult, to_id};
use crate::kernel::ElementType;
use crate::kernel::history::Change;
use crate::kernel::ids::IdKind;
use crate::kernel::list::{Relation, Value};
use crate::kernel::models::{TimelineEntry, User};

/// An element type, as in `ElementRef`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ElementType")]
pub enum ElementTypeGql {
    Lead,
    Contact,
    Company,
    Deal,
}

impl From<ElementTypeGql> for ElementType {
    fn from(t: ElementTypeGql) -> Self {
        match t {
            ElementTypeGql::Lead => ElementType::Lead,
            ElementTypeGql::Contact => ElementType::Contact,
            ElementTypeGql::Company => ElementType::Company,
            ElementTypeGql::Deal => ElementType::Deal,
        }
    }
}

impl From<ElementType> for ElementTypeGql {
    fn from(t: ElementType) -> Self {
        match t {
            ElementType::Lead => ElementTypeGql::Lead,
            ElementType::Contact => ElementTypeGql::Contact,
            ElementType::Company => ElementTypeGql::Company,
            ElementType::Deal => ElementTypeGql::Deal,
        }
    }
}

/// Names one CRM element.
#[derive(InputObject, Clone)]
pub struct ElementRef {
    #[graphql(name = "type")]
    pub element_type: ElementTypeGql,
    pub id: ID,
}

impl ElementRef {
    pub fn decode(&self) -> crate::kernel::DomainResult<crate::kernel::ElementRef> {
        let element_type: ElementType = self.element_type.into();
        Ok(crate::kernel::ElementRef {
            element_type,
            id: crate::kernel::ids::decode_lookup(element_type.id_kind(), &self.id)?,
        })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TimelineKind {
    Created,
    Updated,
    Deleted,
    Comment,
    StatusChanged,
    Junked,
    Converted,
    StageChanged,
    Closed,
    Reopened,
    Merged,
    Imported,
    ImportRolledBack,
}

impl TimelineKind {
    fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Created => "CREATED",
            TimelineKind::Updated => "UPDATED",
            TimelineKind::Deleted => "DELETED",
            TimelineKind::Comment => "COMMENT",
            TimelineKind::StatusChanged => "STATUS_CHANGED",
            TimelineKind::Junked => "JUNKED",
            TimelineKind::Converted => "CONVERTED",
            TimelineKind::StageChanged => "STAGE_CHANGED",
            TimelineKind::Closed => "CLOSED",
            TimelineKind::Reopened => "REOPENED",
            TimelineKind::Merged => "MERGED",
            TimelineKind::Imported => "IMPORTED",
            TimelineKind::ImportRolledBack => "IMPORT_ROLLED_BACK",
        }
    }
}

crate::api::filters::eq_in_filter!(TimelineKindFilter, TimelineKind, |k| Ok(Value::Text(k.as_str().into())));

crate::api::filters::eq_in_filter!(ElementTypeFilter, ElementTypeGql, |t| Ok(Value::Text(
    ElementType::from(*t).as_str().into()
)));

crate::api::filters::eq_in_filter!(
    /// Element ids in history are of the entry's own element type, so any prefix is accepted.
    ElementIdFilter,
    ID,
    |id| {
        crate::kernel::ids::parse_any(id).map(|(_, n)| Value::Int8(n)).ok_or_else(|| {
            crate::kernel::DomainError::bad_input("elementId", format!("`{}` is not an element id", id.as_str()))
        })
    }
);

element_filter! {
    TimelineFilter, TimelineOrder, TimelineOrderField, ElementType::Lead,
    filters {
        kind: TimelineKindFilter => "kind",
        element_type: ElementTypeFilter => "element_type",
        element_id: ElementIdFilter => "element_id",
        author_id: IdFilter => "author_id" as User,
        at: DateTimeFilter => "at",
    }
    order {
        Id => "id": Int8,
    }
}

connection!(TimelineConnection, TimelineEdge, TimelineEntry);

/// One changed field of an UPDATED entry.
#[derive(SimpleObject)]
#[graphql(name = "FieldChange")]
pub struct FieldChangeGql {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

#[Object(name = "TimelineEntry")]
impl TimelineEntry {
    pub async fn id(&self) -> ID {
        to_id(IdKind::TimelineEntry, self.id)
    }
    /// CREATED, UPDATED, DELETED, COMMENT, STATUS_CHANGED, JUNKED, CONVERTED, STAGE_CHANGED,
    /// CLOSED, REOPENED, MERGED.
    async fn kind(&self) -> &str {
        &self.kind
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    async fn author(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        common::user_of(ctx, self.author_id).await
    }
    async fn element_type(&self) -> Option<ElementTypeGql> {
        ElementType::parse(&self.element_type).map(Into::into)
    }
    async fn element_id(&self) -> ID {
        match ElementType::parse(&self.element_type) {
            Some(t) => to_id(t.id_kind(), self.element_id),
            None => ID(self.element_id.to_string()),
        }
    }
    async fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
    async fn changes(&self) -> Vec<FieldChangeGql> {
        serde_json::from_value::<Vec<Change>>(self.changes.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|c| FieldChangeGql { field: c.field, old_value: c.old_value, new_value: c.new_value })
            .collect()
    }
}

const NEWEST_FIRST: [crate::kernel::list::OrderKey; 1] = [crate::kernel::list::OrderKey {
    column: std::borrow::Cow::Borrowed("id"),
    ty: crate::kernel::list::FieldType::Int8,
    desc: true,
}];

/// Timeline list arguments: always newest first.
pub fn timeline_args(
    region: phonenumber::country::Id,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<TimelineFilter>,
) -> crate::kernel::DomainResult<crate::kernel::list::ListArgs> {
    Ok(crate::kernel::list::ListArgs {
        filter: filter.map(|f| f.to_cond(region)).transpose()?,
        order: NEWEST_FIRST.to_vec(),
        first,
        after,
        last: None,
        before: None,
    })
}

pub fn timeline_relation(element: ElementType) -> Relation {
    let extra = crate::kernel::list::element_type_is!("t", element);
    Relation { join: "", parent: "t.element_id", extra }
}

/// The timeline of one element (nested under it, so batched across parents).
pub async fn timeline_of(
    ctx: &Context<'_>,
    element: ElementType,
    id: i64,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<TimelineFilter>,
) -> GqlResult<TimelineConnection> {
    let args = timeline_args(crate::api::phone_region(ctx), first, after, filter)?;
    nested_list!(ctx, TimelineEntry, TimelineConnection, args, timeline_relation(element), id)
}

/// History across all elements (CRM > History), newest first.
pub async fn history(
    ctx: &Context<'_>,
    filter: Option<TimelineFilter>,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<TimelineConnection> {
    let args = timeline_args(crate::api::phone_region(ctx), first, after, filter)?;
    top_level_list!(ctx, TimelineEntry, TimelineConnection, args)
}

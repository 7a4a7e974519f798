//! Pieces every element type shares: communications in and out, patch helpers, and the
//! loaders behind `assignedTo`, `createdBy`, status items and timelines.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, SimpleObject};

use crate::api::loaders::{Comms, StatusId, UserId};
use crate::api::{GqlResult, load_error, loader};
use crate::crm::shared::communications::{CommKind, CommSet, CommValue};
use crate::kernel::ElementType;
use crate::kernel::error::DomainResult;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Communication as CommRow, StatusItem, User};

/// A phone, e-mail, web address or IM handle.
#[derive(SimpleObject, Clone)]
pub struct Communication {
    pub value: String,
    /// WORK, MOBILE, HOME, ... (per kind, as in Bitrix24).
    pub value_type: String,
    /// E.164 for phones, lower-case for e-mails: what filters and duplicate search match.
    pub normalized: String,
}

#[derive(InputObject, Clone)]
pub struct CommunicationInput {
    pub value: String,
    pub value_type: Option<String>,
}

pub fn comm_set(
    phones: Option<Vec<CommunicationInput>>,
    emails: Option<Vec<CommunicationInput>>,
    webs: Option<Vec<CommunicationInput>>,
    ims: Option<Vec<CommunicationInput>>,
) -> CommSet {
    let mut set = CommSet::default();
    for (kind, list) in
        [(CommKind::Phone, phones), (CommKind::Email, emails), (CommKind::Web, webs), (CommKind::Im, ims)]
    {
        if let Some(list) = list {
            set.0.push((
                kind,
                list.into_iter().map(|c| CommValue { value: c.value, value_type: c.value_type }).collect(),
            ));
        }
    }
    set
}

pub async fn comms_of(
    ctx: &Context<'_>,
    element: ElementType,
    id: i64,
    kind: CommKind,
) -> GqlResult<Vec<Communication>> {
    let rows: Vec<CommRow> = loader(ctx).load_one(Comms(element, id)).await.map_err(load_error)?.unwrap_or_default();
    Ok(rows
        .into_iter()
        .filter(|c| c.kind == kind.as_str())
        .map(|c| Communication { value: c.value, value_type: c.value_type, normalized: c.normalized })
        .collect())
}

pub async fn user_of(ctx: &Context<'_>, id: Option<i64>) -> GqlResult<Option<User>> {
    match id {
        None => Ok(None),
        Some(id) => loader(ctx).load_one(UserId(id)).await.map_err(load_error),
    }
}

pub async fn status_of(ctx: &Context<'_>, id: Option<i64>) -> GqlResult<Option<StatusItem>> {
    match id {
        None => Ok(None),
        Some(id) => loader(ctx).load_one(StatusId(id)).await.map_err(load_error),
    }
}

/// Applies a nullable input field: absent keeps, null clears, a value sets.
pub fn patch<T>(slot: &mut Option<T>, input: MaybeUndefined<T>) {
    match input {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => *slot = None,
        MaybeUndefined::Value(v) => *slot = Some(v),
    }
}

/// Like `patch`, trimming text and treating an empty string as clearing the field.
pub fn patch_text(slot: &mut Option<String>, input: MaybeUndefined<String>) {
    match input {
        MaybeUndefined::Value(v) if v.trim().is_empty() => *slot = None,
        MaybeUndefined::Value(v) => *slot = Some(v.trim().to_owned()),
        other => patch(slot, other),
    }
}

/// Applies a nullable id input field of a known kind; errors name the field as the schema
/// spells it.
pub fn patch_id(slot: &mut Option<i64>, input: MaybeUndefined<ID>, kind: IdKind, column: &str) -> DomainResult<()> {
    match input {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => *slot = None,
        MaybeUndefined::Value(v) => *slot = Some(ids::decode(kind, &v, &crate::kernel::history::camel_case(column))?),
    }
    Ok(())
}

pub fn decode_ids(kind: IdKind, list: Option<Vec<ID>>, field: &str) -> DomainResult<Option<Vec<i64>>> {
    let Some(list) = list else { return Ok(None) };
    crate::kernel::limits::check_len(field, list.len(), crate::kernel::limits::MAX_LINKED_IDS)?;
    list.iter().map(|i| ids::decode(kind, i, field)).collect::<DomainResult<Vec<_>>>().map(Some)
}

/// A custom field value to set; `value` is null to clear, a list for multiple fields.
#[derive(InputObject, Clone)]
pub struct CustomFieldValueInput {
    pub code: String,
    /// null clears the field.
    pub value: Option<async_graphql::Json<serde_json::Value>>,
}

/// A custom field value of an element.
#[derive(SimpleObject, Clone)]
pub struct CustomFieldValue {
    pub code: String,
    pub value: async_graphql::Json<serde_json::Value>,
}

pub fn custom_values(input: Option<Vec<CustomFieldValueInput>>) -> Vec<(String, serde_json::Value)> {
    input
        .into_iter()
        .flatten()
        .map(|v| (v.code.trim().to_owned(), v.value.map(|j| j.0).unwrap_or(serde_json::Value::Null)))
        .collect()
}

/// An element's custom values, in code order.
pub fn custom_list(custom: &serde_json::Value) -> Vec<CustomFieldValue> {
    let mut out: Vec<CustomFieldValue> = custom
        .as_object()
        .into_iter()
        .flatten()
        .map(|(code, v)| CustomFieldValue { code: code.clone(), value: async_graphql::Json(v.clone()) })
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

//! Timeline (history) entries. Written in the same transaction as the change they record;
//! field changes are computed generically from the row before and after.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::db::schema::timeline_entries;
use crate::kernel::ElementRef;
use crate::kernel::error::DomainResult;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::kinds::HistoryKind;
use crate::kernel::models::TimelineEntry;

/// One changed field, old → new, as shown to clients (camelCase field, public ids).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// Bookkeeping columns that change with every write and are not news.
const META: &[&str] = &["id", "created_at", "updated_at", "created_by_id", "updated_by_id", "version"];

/// The kind of id a column holds, so it shows as the API shows it (`user:5`).
pub fn id_kind_of(column: &str) -> Option<IdKind> {
    Some(match column {
        "assigned_to_id" => IdKind::User,
        "status_id" | "source_id" | "type_id" | "industry_id" | "employees_id" => IdKind::StatusItem,
        "stage_id" => IdKind::Stage,
        "pipeline_id" => IdKind::Pipeline,
        "contact_id" => IdKind::Contact,
        "company_id" => IdKind::Company,
        "origin_lead_id" => IdKind::Lead,
        "created_by_id" | "updated_by_id" | "responsible_id" => IdKind::User,
        _ => return None,
    })
}

pub fn camel_case(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn render(column: &str, v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => match (id_kind_of(column), n.as_i64()) {
            (Some(kind), Some(id)) => Some(ids::encode(kind, id)),
            _ => Some(n.to_string()),
        },
        other => Some(other.to_string()),
    }
}

/// The fields that differ between two serialised rows. Custom field values (the `custom`
/// object) show like built-in fields, under their codes.
pub fn diff(old: &Map<String, Json>, new: &Map<String, Json>) -> Vec<Change> {
    let mut out: Vec<Change> = new
        .iter()
        .filter(|(k, _)| !META.contains(&k.as_str()) && k.as_str() != "custom")
        .filter_map(|(k, n)| {
            let o = old.get(k).unwrap_or(&Json::Null);
            (o != n).then(|| Change { field: camel_case(k), old_value: render(k, o), new_value: render(k, n) })
        })
        .collect();
    let empty = Map::new();
    let custom =
        |m: &Map<String, Json>| m.get("custom").and_then(Json::as_object).cloned().unwrap_or_else(|| empty.clone());
    let (o, n) = (custom(old), custom(new));
    let mut codes: Vec<&String> = o.keys().chain(n.keys()).collect();
    codes.sort();
    codes.dedup();
    for code in codes {
        let (a, b) = (o.get(code).unwrap_or(&Json::Null), n.get(code).unwrap_or(&Json::Null));
        if a != b {
            out.push(Change { field: code.clone(), old_value: render(code, a), new_value: render(code, b) });
        }
    }
    out
}

pub fn list_change(field: &str, old: &[String], new: &[String]) -> Change {
    let join = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
    Change { field: field.to_owned(), old_value: join(old), new_value: join(new) }
}

pub async fn record(
    conn: &mut AsyncPgConnection,
    author_id: i64,
    element: ElementRef,
    kind: HistoryKind,
    text: Option<String>,
    changes: &[Change],
) -> DomainResult<TimelineEntry> {
    let entry = diesel::insert_into(timeline_entries::table)
        .values(entry_row(author_id, &Entry { element, kind, text, changes: changes.to_vec() })?)
        .returning(TimelineEntry::as_returning())
        .get_result(conn)
        .await?;
    // Subscribers of `timelineAdded` learn of the entry through the outbox.
    crate::kernel::outbox::append_many(conn, author_id, vec![event_of(&entry)?]).await?;
    Ok(entry)
}

/// One history entry to write.
pub struct Entry {
    pub element: ElementRef,
    pub kind: HistoryKind,
    pub text: Option<String>,
    pub changes: Vec<Change>,
}

/// Writes many entries in one statement, in the given order. Their `timelineAdded` events
/// are the caller's to append (`event_of`), so they can sit beside the elements' own.
pub async fn record_many(
    conn: &mut AsyncPgConnection,
    author_id: i64,
    entries: &[Entry],
) -> DomainResult<Vec<TimelineEntry>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let rows = entries.iter().map(|e| entry_row(author_id, e)).collect::<DomainResult<Vec<_>>>()?;
    Ok(diesel::insert_into(timeline_entries::table)
        .values(rows)
        .returning(TimelineEntry::as_returning())
        .get_results(conn)
        .await?)
}

/// The `timelineAdded` event of a written entry.
pub fn event_of(entry: &TimelineEntry) -> DomainResult<crate::kernel::outbox::Pending> {
    let element_type = crate::kernel::ElementType::parse(&entry.element_type)
        .ok_or_else(|| anyhow::anyhow!("history entry of unknown type {}", entry.element_type))?;
    Ok(crate::kernel::outbox::Pending {
        element: ElementRef { element_type, id: entry.element_id },
        action: crate::kernel::kinds::EventAction::Timeline,
        changed: vec![],
        snapshot: serde_json::to_value(entry).map_err(anyhow::Error::from)?,
        previous: serde_json::Map::new(),
    })
}

#[allow(clippy::type_complexity)]
fn entry_row(
    author_id: i64,
    e: &Entry,
) -> DomainResult<(
    diesel::dsl::Eq<timeline_entries::element_type, &'static str>,
    diesel::dsl::Eq<timeline_entries::element_id, i64>,
    diesel::dsl::Eq<timeline_entries::kind, &'static str>,
    diesel::dsl::Eq<timeline_entries::author_id, i64>,
    diesel::dsl::Eq<timeline_entries::text, Option<String>>,
    diesel::dsl::Eq<timeline_entries::changes, Json>,
)> {
    Ok((
        timeline_entries::element_type.eq(e.element.element_type.as_str()),
        timeline_entries::element_id.eq(e.element.id),
        timeline_entries::kind.eq(e.kind.as_str()),
        timeline_entries::author_id.eq(author_id),
        timeline_entries::text.eq(e.text.clone()),
        timeline_entries::changes.eq(serde_json::to_value(&e.changes).map_err(anyhow::Error::from)?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_reports_changed_fields_with_public_ids() {
        let old = json!({"id": 1, "title": "A", "status_id": 3, "opportunity": "10.00", "version": 1});
        let new = json!({"id": 1, "title": "B", "status_id": 4, "opportunity": "10.00", "version": 2});
        let changes = diff(old.as_object().unwrap(), new.as_object().unwrap());
        assert_eq!(
            changes,
            vec![
                Change {
                    field: "statusId".into(),
                    old_value: Some("status:3".into()),
                    new_value: Some("status:4".into())
                },
                Change { field: "title".into(), old_value: Some("A".into()), new_value: Some("B".into()) },
            ]
        );
    }

    #[test]
    fn custom_values_show_under_their_codes() {
        let old = json!({"id": 1, "custom": {"UF_A": 1, "UF_B": "x"}});
        let new = json!({"id": 1, "custom": {"UF_A": 2, "UF_C": true}});
        let fields: Vec<(String, Option<String>, Option<String>)> =
            diff(old.as_object().unwrap(), new.as_object().unwrap())
                .into_iter()
                .map(|c| (c.field, c.old_value, c.new_value))
                .collect();
        assert_eq!(
            fields,
            vec![
                ("UF_A".into(), Some("1".into()), Some("2".into())),
                ("UF_B".into(), Some("x".into()), None),
                ("UF_C".into(), None, Some("true".into())),
            ]
        );
    }

    #[test]
    fn camel_cases_columns() {
        assert_eq!(camel_case("assigned_to_id"), "assignedToId");
        assert_eq!(camel_case("title"), "title");
    }
}

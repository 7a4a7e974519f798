//! The transactional outbox: every write appends its events in its own transaction, so
//! nothing is published before commit and nothing committed is lost. The relay (real-time
//! issue) publishes from this table.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Map, Value as Json, json};

use crate::db::schema::events;
use crate::kernel::ElementRef;
use crate::kernel::error::DomainResult;
use crate::kernel::history::Change;
use crate::kernel::kinds::EventAction;

/// Whether a COUNTERS event concerns `user_id`.
pub fn counters_concern(payload: &Json, user_id: i64) -> bool {
    payload.get("users").and_then(Json::as_array).is_some_and(|u| u.iter().any(|v| v.as_i64() == Some(user_id)))
}

/// An event to append: the element's state after the change.
pub struct Pending {
    pub element: ElementRef,
    pub action: EventAction,
    pub changed: Vec<String>,
    pub snapshot: Json,
    /// The changed fields' values before the change, as history renders them (outgoing
    /// webhooks send them); empty for creations and events that are not an element's.
    pub previous: Map<String, Json>,
}

impl Pending {
    /// An element's event after an update: its changed fields and their previous values come
    /// from the same changes history records.
    pub fn change(element: ElementRef, action: EventAction, changes: &[Change], snapshot: Json) -> Pending {
        Pending {
            element,
            action,
            changed: changes.iter().map(|c| c.field.clone()).collect(),
            snapshot,
            previous: changes
                .iter()
                .map(|c| (c.field.clone(), c.old_value.clone().map_or(Json::Null, Json::String)))
                .collect(),
        }
    }

    fn payload(self) -> Json {
        let mut p = json!({
            "elementType": self.element.element_type.as_str(),
            "elementId": self.element.id,
            "action": self.action.as_str(),
            "changed": self.changed,
            "element": self.snapshot,
        });
        if !self.previous.is_empty()
            && let Some(o) = p.as_object_mut()
        {
            o.insert("previous".into(), Json::Object(self.previous));
        }
        p
    }
}

/// Appends one event carrying the element's state after the change.
pub async fn append(
    conn: &mut AsyncPgConnection,
    actor_id: i64,
    element: ElementRef,
    action: EventAction,
    changed: Vec<String>,
    snapshot: Json,
) -> DomainResult<i64> {
    insert(conn, actor_id, Pending { element, action, changed, snapshot, previous: Map::new() }).await
}

/// Appends one prepared event (`Pending::change` for an update).
pub async fn insert(conn: &mut AsyncPgConnection, actor_id: i64, event: Pending) -> DomainResult<i64> {
    let id =
        diesel::insert_into(events::table).values(row(actor_id, event)).returning(events::id).get_result(conn).await?;
    Ok(id)
}

/// Rows per INSERT: PostgreSQL takes at most 65,535 parameters in one statement.
const ROWS_PER_INSERT: usize = 5_000;

/// Appends many events in the given order (their ids, and so the relay's order, follow it).
pub async fn append_many(conn: &mut AsyncPgConnection, actor_id: i64, events: Vec<Pending>) -> DomainResult<()> {
    let mut rows: Vec<_> = events.into_iter().map(|e| row(actor_id, e)).collect();
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(ROWS_PER_INSERT));
        diesel::insert_into(events::table).values(rows).execute(conn).await?;
        rows = rest;
    }
    Ok(())
}

#[allow(clippy::type_complexity)]
fn row(
    actor_id: i64,
    e: Pending,
) -> (
    diesel::dsl::Eq<events::element_type, &'static str>,
    diesel::dsl::Eq<events::element_id, i64>,
    diesel::dsl::Eq<events::action, &'static str>,
    diesel::dsl::Eq<events::changed, Vec<String>>,
    diesel::dsl::Eq<events::payload, Json>,
    diesel::dsl::Eq<events::actor_id, i64>,
) {
    let (element_type, element_id, action, changed) =
        (e.element.element_type.as_str(), e.element.id, e.action.as_str(), e.changed.clone());
    let payload = e.payload();
    (
        events::element_type.eq(element_type),
        events::element_id.eq(element_id),
        events::action.eq(action),
        events::changed.eq(changed),
        events::payload.eq(payload),
        events::actor_id.eq(actor_id),
    )
}

//! The transactional outbox: every write appends its events in its own transaction, so
//! nothing is published before commit and nothing committed is lost. The relay (real-time
//! issue) publishes from this table.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value as Json, json};

use crate::db::schema::events;
use crate::kernel::ElementRef;
use crate::kernel::error::DomainResult;
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
}

impl Pending {
    fn payload(&self) -> Json {
        json!({
            "elementType": self.element.element_type.as_str(),
            "elementId": self.element.id,
            "action": self.action.as_str(),
            "changed": self.changed,
            "element": self.snapshot,
        })
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
    let event = Pending { element, action, changed, snapshot };
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
    let payload = e.payload();
    (
        events::element_type.eq(e.element.element_type.as_str()),
        events::element_id.eq(e.element.id),
        events::action.eq(e.action.as_str()),
        events::changed.eq(e.changed),
        events::payload.eq(payload),
        events::actor_id.eq(actor_id),
    )
}

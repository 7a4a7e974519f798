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

/// Appends one event carrying the element's state after the change.
pub async fn append(
    conn: &mut AsyncPgConnection,
    actor_id: i64,
    element: ElementRef,
    action: EventAction,
    changed: Vec<String>,
    snapshot: Json,
) -> DomainResult<i64> {
    let payload = json!({
        "elementType": element.element_type.as_str(),
        "elementId": element.id,
        "action": action.as_str(),
        "changed": changed,
        "element": snapshot,
    });
    let id = diesel::insert_into(events::table)
        .values((
            events::element_type.eq(element.element_type.as_str()),
            events::element_id.eq(element.id),
            events::action.eq(action.as_str()),
            events::changed.eq(changed),
            events::payload.eq(payload),
            events::actor_id.eq(actor_id),
        ))
        .returning(events::id)
        .get_result(conn)
        .await?;
    Ok(id)
}

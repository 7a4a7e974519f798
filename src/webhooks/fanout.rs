//! Turns published events into deliveries: one row per event and subscribed endpoint whose
//! creator may read the element. It follows the relay's gapless `published_seq` from a
//! cursor in `webhook_fanout`; whichever instance holds that row's lock does a round, so
//! each event becomes one delivery per endpoint however many instances run, and the cursor
//! moves in the same transaction as the rows it stands for.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::rules;
use super::store::{self, WebhookRow};
use crate::db::sql::{Bind, Sql};
use crate::events::{EVENT_COLUMNS, Event, HIGH_WATER_SQL, facts};
use crate::kernel::access::visibility;
use crate::kernel::kinds::EventAction;
use crate::kernel::{Actor, DomainError, ElementType};
use crate::org::auth;

/// Events looked at per round.
const ROUND: i64 = 1000;

/// What a round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub events: usize,
    pub deliveries: usize,
}

#[derive(QueryableByName)]
struct Cursor {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// One round: the next events after the cursor become deliveries. Does nothing (an empty
/// round) while another instance holds the cursor.
pub async fn round(conn: &mut AsyncPgConnection) -> anyhow::Result<Round> {
    conn.transaction(async |conn| {
        let cursor: Vec<Cursor> =
            diesel::sql_query("SELECT seq FROM webhook_fanout FOR UPDATE SKIP LOCKED").load(conn).await?;
        let Some(Cursor { seq: from }) = cursor.into_iter().next() else { return Ok(Round::default()) };
        let hooks = store::active(conn).await.map_err(DomainError::into_anyhow)?;
        if hooks.is_empty() {
            // Nobody listens: move past what exists without reading it.
            diesel::sql_query(format!(
                "UPDATE webhook_fanout f SET seq = h.seq FROM ({HIGH_WATER_SQL}) h WHERE f.seq <> h.seq"
            ))
            .execute(conn)
            .await?;
            return Ok(Round::default());
        }
        let mut q = Sql::new(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE published_seq IS NOT NULL AND published_seq > "
        ));
        q.bind(Bind::Int8(from)).push(" ORDER BY published_seq LIMIT ").bind(Bind::Int8(ROUND));
        let events: Vec<Event> = q.load(conn).await?;
        let Some(last) = events.last().map(|e| e.seq) else { return Ok(Round::default()) };
        let deliveries = plan(conn, &hooks, &events).await?;
        let n = deliveries.len();
        insert(conn, deliveries).await?;
        let mut q = Sql::new("UPDATE webhook_fanout SET seq = ");
        q.bind(Bind::Int8(last));
        q.execute(conn).await?;
        Ok(Round { events: events.len(), deliveries: n })
    })
    .await
}

/// A delivery to write.
struct Planned {
    webhook_id: i64,
    seq: i64,
    event_type: String,
    element_key: String,
}

/// Which endpoint gets which event: subscribed to its type, created after it was numbered,
/// and its creator may read the element (as a subscription of that user would decide).
async fn plan(conn: &mut AsyncPgConnection, hooks: &[WebhookRow], events: &[Event]) -> anyhow::Result<Vec<Planned>> {
    let mut owners: HashMap<i64, Option<Actor>> = HashMap::new();
    for h in hooks {
        if let std::collections::hash_map::Entry::Vacant(v) = owners.entry(h.created_by_id) {
            // A deactivated creator's endpoints receive nothing.
            v.insert(auth::actor_for_user(conn, h.created_by_id).await.ok());
        }
    }
    // Activity events carry the activity, not the element: who may read them follows the
    // owning element's current assignee, as for history entries.
    let about_activities: Vec<&Event> = events.iter().filter(|e| e.payload.get("activity").is_some()).collect();
    let facts = facts::load_on(conn, &about_activities).await?;
    let mut out = Vec::new();
    for e in events {
        let Some(action) = EventAction::parse(&e.action) else { continue };
        let Some(event_type) = rules::event_type(&e.element_type, action) else { continue };
        let Some(et) = ElementType::parse(&e.element_type) else { continue };
        for h in hooks {
            if e.seq <= h.start_seq || !rules::subscribed(&h.events, &event_type) {
                continue;
            }
            let Some(Some(owner)) = owners.get(&h.created_by_id) else { continue };
            let readable = if e.payload.get("activity").is_some() {
                visibility::can_read_facts(owner, et, facts.get(&e.seq))
            } else {
                visibility::can_read(owner, et, &e.payload)
            };
            if readable {
                out.push(Planned {
                    webhook_id: h.id,
                    seq: e.seq,
                    event_type: event_type.clone(),
                    element_key: format!("{}:{}", e.element_type, e.element_id),
                });
            }
        }
    }
    Ok(out)
}

async fn insert(conn: &mut AsyncPgConnection, planned: Vec<Planned>) -> anyhow::Result<()> {
    if planned.is_empty() {
        return Ok(());
    }
    let (mut hooks, mut seqs, mut types, mut keys) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in planned {
        hooks.push(p.webhook_id);
        seqs.push(p.seq);
        types.push(p.event_type);
        keys.push(p.element_key);
    }
    let mut q = Sql::new(
        "INSERT INTO webhook_deliveries (webhook_id, event_seq, event_type, element_key) SELECT * FROM unnest(",
    );
    q.bind(Bind::Int8s(hooks)).push(", ").bind(Bind::Int8s(seqs)).push(", ");
    q.bind(Bind::Texts(types)).push(", ").bind(Bind::Texts(keys));
    q.push(") ON CONFLICT (webhook_id, event_seq) DO NOTHING");
    q.execute(conn).await?;
    Ok(())
}

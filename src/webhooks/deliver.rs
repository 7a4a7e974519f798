//! The delivery worker, on every instance: fans new events out into deliveries, then claims
//! due deliveries and sends them. A claim marks rows as this instance's for a minute
//! (`locked_until`) under `FOR UPDATE SKIP LOCKED`, so each delivery goes out from one
//! instance at a time; only the oldest open delivery of an element to an endpoint can be
//! claimed, so an element's events arrive in order even while one of them is being retried.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::body::{self, Payload};
use super::fanout;
use super::rules::{self, Verdict};
use super::send::{Message, Sender, Sent};
use super::store::{self, WebhookRow};
use crate::db::Pool;
use crate::db::sql::{Bind, Planned, Sql};
use crate::events::{Bus, EVENT_COLUMNS, Event};
use crate::kernel::DomainError;

/// Deliveries claimed (and sent side by side) at a time by one instance.
const BATCH: i64 = 64;
/// How long a claim keeps other instances away: longer than any attempt can take.
const CLAIM: &str = "interval '2 minutes'";
/// How often an idle worker looks for due retries and other instances' events.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs forever on this instance.
pub async fn run(pool: Pool, sender: Sender, bus: Bus, retention: chrono::Duration) {
    let mut events = bus.subscribe();
    let wake = sender.wake.clone();
    let mut last_prune: Option<Instant> = None;
    loop {
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            match prune(&pool, Utc::now() - retention).await {
                Ok(()) => last_prune = Some(Instant::now()),
                Err(e) => tracing::warn!(error = %e, "pruning webhook deliveries failed"),
            }
        }
        match step(&pool, &sender).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery round failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tokio::select! {
            _ = events.recv() => {}
            _ = wake.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
}

async fn prune(pool: &Pool, before: DateTime<Utc>) -> anyhow::Result<()> {
    let mut conn = pool.get().await?;
    store::prune(&mut conn, before).await.map_err(DomainError::into_anyhow)?;
    Ok(())
}

/// Fans out what is new, then sends one batch. Says whether there was anything to send.
async fn step(pool: &Pool, sender: &Sender) -> anyhow::Result<bool> {
    let claimed = {
        let mut conn = pool.get().await?;
        while fanout::round(&mut conn).await?.events > 0 {}
        claim(&mut conn).await?
    };
    if claimed.is_empty() {
        return Ok(false);
    }
    let sends = claimed.iter().map(|c| attempt(sender, c));
    let results: Vec<Option<Sent>> = futures_util::future::join_all(sends).await;
    let mut conn = pool.get().await?;
    record(&mut conn, &claimed, results).await?;
    Ok(true)
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    webhook_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    event_seq: Option<i64>,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

/// A delivery this instance is sending, with what it needs to send it.
struct Claimed {
    row: ClaimedRow,
    hook: Option<WebhookRow>,
    /// `None` when the event is no longer retained.
    event: Option<Event>,
}

async fn claim(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<Claimed>> {
    let q = Sql::new(format!(
        "WITH due AS (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.active \
         WHERE d.status IN ('PENDING', 'RETRYING') AND d.event_seq IS NOT NULL AND d.next_attempt_at <= now() \
           AND (d.locked_until IS NULL OR d.locked_until < now()) \
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                AND e.element_key = d.element_key AND e.status IN ('PENDING', 'RETRYING') \
                AND e.event_seq < d.event_seq) \
         ORDER BY d.next_attempt_at, d.id LIMIT {BATCH} FOR UPDATE OF d SKIP LOCKED) \
         UPDATE webhook_deliveries d SET locked_until = now() + {CLAIM} FROM due WHERE d.id = due.id \
         RETURNING d.id, d.webhook_id, d.event_seq, d.event_type, d.attempts, d.created_at"
    ));
    // Planned each time: a cached generic plan made while the table was small (a fresh
    // installation's first burst) scanned the whole backlog per row, 4.5 s a claim.
    let rows: Vec<ClaimedRow> = Planned(q).load(conn).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut seqs: Vec<i64> = rows.iter().filter_map(|r| r.event_seq).collect();
    seqs.sort_unstable();
    let mut q = Sql::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE published_seq = ANY("));
    q.bind(Bind::Int8s(seqs)).push(")");
    let found: Vec<Event> = q.load(conn).await?;
    let events: HashMap<i64, Event> = found.into_iter().map(|e| (e.seq, e)).collect();
    let mut hook_ids: Vec<i64> = rows.iter().map(|r| r.webhook_id).collect();
    hook_ids.sort_unstable();
    hook_ids.dedup();
    let mut q = Sql::new("SELECT * FROM webhooks WHERE id = ANY(");
    q.bind(Bind::Int8s(hook_ids)).push(")");
    let found: Vec<WebhookRow> = q.load(conn).await?;
    let hooks: HashMap<i64, WebhookRow> = found.into_iter().map(|h| (h.id, h)).collect();
    Ok(rows
        .into_iter()
        .map(|row| Claimed {
            hook: hooks.get(&row.webhook_id).cloned(),
            // Several endpoints may be sent the same event.
            event: row.event_seq.and_then(|s| events.get(&s).cloned()),
            row,
        })
        .collect())
}

/// Sends one claimed delivery; `None` when there is nothing left to send (the event was
/// pruned, the endpoint deleted).
async fn attempt(sender: &Sender, c: &Claimed) -> Option<Sent> {
    let (hook, event) = (c.hook.as_ref()?, c.event.as_ref()?);
    let payload = Payload::parse(&hook.payload);
    let body = body::render(event, &c.row.event_type, payload).to_string();
    let msg_id = rules::message_id(hook.id, c.row.event_seq, c.row.id);
    let message =
        Message { url: &hook.url, msg_id: &msg_id, body: body.as_bytes(), secrets: hook.signing_secrets(Utc::now()) };
    Some(sender.send(&message).await)
}

/// The state a delivery moves to after an attempt.
struct Next {
    status: &'static str,
    code: i32,
    error: String,
    duration_ms: i32,
    next_attempt_at: DateTime<Utc>,
}

fn next_state(c: &Claimed, sent: Option<&Sent>, now: DateTime<Utc>) -> Next {
    let Some(sent) = sent else {
        let error = if c.hook.is_none() { "the endpoint was deleted" } else { "the event is no longer retained" };
        return Next { status: "FAILED", code: 0, error: error.into(), duration_ms: 0, next_attempt_at: now };
    };
    let o = &sent.outcome;
    let (code, duration_ms) = (o.status.map(i32::from).unwrap_or(0), o.duration_ms);
    let error = o.error.clone().unwrap_or_default();
    let status = match sent.verdict {
        Verdict::Delivered => "SUCCEEDED",
        Verdict::Failed | Verdict::Gone => "FAILED",
        Verdict::Retry => "RETRYING",
    };
    if status != "RETRYING" {
        return Next { status, code, error, duration_ms, next_attempt_at: now };
    }
    let wait =
        sent.retry_after.unwrap_or_else(|| rules::jittered(rules::backoff(c.row.attempts + 1), rand::random::<f64>()));
    let next_attempt_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(10));
    if next_attempt_at > c.row.created_at + rules::GIVE_UP_AFTER {
        let error = format!("{error}; given up after 3 days of attempts");
        return Next { status: "FAILED", code, error, duration_ms, next_attempt_at: now };
    }
    Next { status, code, error, duration_ms, next_attempt_at }
}

async fn record(conn: &mut AsyncPgConnection, claimed: &[Claimed], results: Vec<Option<Sent>>) -> anyhow::Result<()> {
    let now = Utc::now();
    let (mut ids, mut statuses, mut codes, mut errors, mut durations, mut nexts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut working, mut failing, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for (c, sent) in claimed.iter().zip(&results) {
        let n = next_state(c, sent.as_ref(), now);
        match sent.as_ref().map(|s| s.verdict) {
            Some(Verdict::Delivered) => working.push(c.row.webhook_id),
            Some(Verdict::Gone) => gone.push(c.row.webhook_id),
            Some(_) => failing.push(c.row.webhook_id),
            None => {}
        }
        ids.push(c.row.id);
        statuses.push(n.status.to_owned());
        codes.push(n.code);
        errors.push(n.error);
        durations.push(n.duration_ms);
        nexts.push(n.next_attempt_at);
    }
    let mut q = Sql::new(
        "UPDATE webhook_deliveries d SET status = x.status, attempts = d.attempts + 1, \
         last_status_code = NULLIF(x.code, 0), last_error = NULLIF(x.error, ''), last_duration_ms = x.ms, \
         next_attempt_at = x.next, locked_until = NULL, \
         delivered_at = CASE WHEN x.status = 'SUCCEEDED' THEN now() ELSE d.delivered_at END \
         FROM unnest(",
    );
    q.bind(Bind::Int8s(ids)).push(", ").bind(Bind::Texts(statuses)).push(", ").bind(Bind::Int4s(codes));
    q.push(", ").bind(Bind::Texts(errors)).push(", ").bind(Bind::Int4s(durations)).push(", ");
    q.bind(Bind::Tss(nexts)).push(") AS x(id, status, code, error, ms, next) WHERE d.id = x.id");
    q.execute(conn).await?;
    endpoint_health(conn, failing, working, gone).await
}

/// While an endpoint is unreachable, its oldest open delivery keeps being tried at a pace
/// that follows the outage (a tenth of its length, between 5 s and 5 min) instead of its own
/// backoff, which grows to hours: the first success then brings every waiting retry forward
/// (`endpoint_health`), so an endpoint that comes back is caught up within seconds even when
/// nothing new is written. Only the oldest is tried, so the probe costs one request per
/// endpoint, and the per-element order holds (nothing older of any element is open).
async fn probe(conn: &mut AsyncPgConnection, hooks: Vec<i64>) -> anyhow::Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let pace = "least(greatest((now() - w.failing_since) / 10, interval '5 seconds'), interval '5 minutes')";
    let mut q = Sql::new(
        "UPDATE webhook_deliveries d SET next_attempt_at = now() + ".to_owned()
            + pace
            + " FROM webhooks w, (SELECT DISTINCT ON (webhook_id) id FROM webhook_deliveries \
               WHERE status IN ('PENDING', 'RETRYING') AND event_seq IS NOT NULL AND webhook_id = ANY(",
    );
    q.bind(Bind::Int8s(hooks)).push(format!(
        ") ORDER BY webhook_id, event_seq) head \
         WHERE d.id = head.id AND w.id = d.webhook_id AND w.failing_since IS NOT NULL \
           AND d.status = 'RETRYING' AND d.last_status_code IS NULL AND d.next_attempt_at > now() + {pace}"
    ));
    q.execute(conn).await?;
    Ok(())
}

/// An endpoint that keeps failing for 3 days, or answers 410, is disabled; any success
/// clears its failure record and brings its waiting retries forward.
async fn endpoint_health(
    conn: &mut AsyncPgConnection,
    mut failing: Vec<i64>,
    mut working: Vec<i64>,
    mut gone: Vec<i64>,
) -> anyhow::Result<()> {
    for v in [&mut failing, &mut working, &mut gone] {
        v.sort_unstable();
        v.dedup();
    }
    failing.retain(|id| !working.contains(id));
    if !failing.is_empty() {
        let mut q = Sql::new("UPDATE webhooks SET failing_since = coalesce(failing_since, now()) WHERE id = ANY(");
        q.bind(Bind::Int8s(failing)).push(") RETURNING *");
        let rows: Vec<WebhookRow> = q.load(conn).await?;
        let mut still = Vec::new();
        for h in rows {
            if h.failing_since.is_some_and(|since| Utc::now() - since > rules::GIVE_UP_AFTER) {
                store::disable(conn, h.id, "failing for 3 days").await.map_err(DomainError::into_anyhow)?;
            } else {
                still.push(h.id);
            }
        }
        probe(conn, still).await?;
    }
    if !working.is_empty() {
        // An endpoint that answers again gets the retries that found it unreachable now rather
        // than on the schedule (after an hour's outage they would otherwise wait up to two
        // more). Those its answers failed (a 500 for one element) keep their schedule.
        let mut q = Sql::new(
            "WITH back AS (UPDATE webhooks SET failing_since = NULL WHERE failing_since IS NOT NULL AND id = ANY(",
        );
        q.bind(Bind::Int8s(working)).push(
            ") RETURNING id) UPDATE webhook_deliveries d SET next_attempt_at = now() FROM back \
             WHERE d.webhook_id = back.id AND d.status = 'RETRYING' AND d.last_status_code IS NULL \
             AND d.next_attempt_at > now()",
        );
        q.execute(conn).await?;
    }
    for id in gone {
        store::disable(conn, id, "the receiver answered 410 Gone").await.map_err(DomainError::into_anyhow)?;
    }
    Ok(())
}

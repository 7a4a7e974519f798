//! Webhooks and their deliveries in PostgreSQL (`webhooks`, `webhook_deliveries`,
//! `webhook_fanout`).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::sql::{Bind, Sql};
use crate::events::HIGH_WATER_SQL;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids::{self, IdKind};

#[derive(QueryableByName, Clone, Debug)]
pub struct WebhookRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Array<Text>)]
    pub events: Vec<String>,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub previous_secret: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub previous_secret_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    pub start_seq: i64,
    #[diesel(sql_type = BigInt)]
    pub created_by_id: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub failing_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub disabled_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub disabled_reason: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

impl WebhookRow {
    /// The secrets a message is signed with now: the current one, and the previous one for a
    /// day after a rotation.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && until > now
        {
            out.push(prev);
        }
        out
    }
}

/// What an endpoint is set to.
#[derive(Clone, Debug)]
pub struct WebhookSpec {
    pub name: Option<String>,
    pub url: String,
    pub events: Vec<String>,
    pub payload: &'static str,
    pub active: bool,
}

#[derive(QueryableByName, Clone, Debug)]
pub struct DeliveryRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub webhook_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub event_seq: Option<i64>,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_status_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_duration_ms: Option<i32>,
    #[diesel(sql_type = Timestamptz)]
    pub next_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_seq, event_type, status, attempts, last_status_code, \
     last_error, last_duration_ms, next_attempt_at, created_at, delivered_at";

pub fn not_found(id: i64) -> DomainError {
    DomainError::not_found(format!("webhook `{}`", ids::encode(IdKind::Webhook, id)))
}

pub async fn list(conn: &mut AsyncPgConnection) -> DomainResult<Vec<WebhookRow>> {
    Ok(diesel::sql_query("SELECT * FROM webhooks ORDER BY id").load(conn).await?)
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Option<WebhookRow>> {
    let rows: Vec<WebhookRow> =
        diesel::sql_query("SELECT * FROM webhooks WHERE id = $1").bind::<BigInt, _>(id).load(conn).await?;
    Ok(rows.into_iter().next())
}

pub async fn get(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<WebhookRow> {
    by_id(conn, id).await?.ok_or_else(|| not_found(id))
}

/// Active endpoints, for the fan-out.
pub async fn active(conn: &mut AsyncPgConnection) -> DomainResult<Vec<WebhookRow>> {
    Ok(diesel::sql_query("SELECT * FROM webhooks WHERE active ORDER BY id").load(conn).await?)
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    spec: &WebhookSpec,
    secret: &str,
    created_by: i64,
) -> DomainResult<WebhookRow> {
    let mut q = Sql::new(
        "INSERT INTO webhooks (name, url, events, payload, active, secret, created_by_id, start_seq) VALUES (NULLIF(",
    );
    q.bind(Bind::Text(spec.name.clone().unwrap_or_default())).push(", ''), ");
    q.bind(Bind::Text(spec.url.clone())).push(", ").bind(Bind::Texts(spec.events.clone())).push(", ");
    q.bind(Bind::Text(spec.payload.into())).push(", ").bind(Bind::Bool(spec.active)).push(", ");
    q.bind(Bind::Text(secret.into())).push(", ").bind(Bind::Int8(created_by));
    q.push(format!(", ({HIGH_WATER_SQL})) RETURNING *"));
    let mut rows: Vec<WebhookRow> = q.load(conn).await?;
    Ok(rows.pop().ok_or_else(|| anyhow::anyhow!("insert returned no webhook"))?)
}

/// Replaces an endpoint's settings. Enabling a disabled endpoint clears its failure record
/// and starts it at the newest event (what happened while it was off is not sent).
pub async fn update(conn: &mut AsyncPgConnection, id: i64, spec: &WebhookSpec) -> DomainResult<WebhookRow> {
    let mut q = Sql::new("UPDATE webhooks SET name = NULLIF(");
    q.bind(Bind::Text(spec.name.clone().unwrap_or_default())).push(", ''), url = ");
    q.bind(Bind::Text(spec.url.clone())).push(", events = ").bind(Bind::Texts(spec.events.clone()));
    q.push(", payload = ").bind(Bind::Text(spec.payload.into())).push(", active = ").bind(Bind::Bool(spec.active));
    // Switched on again (`enabling`): start afresh at the newest event.
    let enabling = |q: &mut Sql| {
        q.push(" CASE WHEN NOT active AND ").bind(Bind::Bool(spec.active));
    };
    q.push(", start_seq =");
    enabling(&mut q);
    q.push(format!(" THEN ({HIGH_WATER_SQL}) ELSE start_seq END, failing_since ="));
    enabling(&mut q);
    q.push(" THEN NULL ELSE failing_since END, disabled_at = CASE WHEN ").bind(Bind::Bool(spec.active));
    q.push(" THEN NULL ELSE disabled_at END, disabled_reason = CASE WHEN ").bind(Bind::Bool(spec.active));
    q.push(" THEN NULL ELSE disabled_reason END, updated_at = now() WHERE id = ");
    q.bind(Bind::Int8(id)).push(" RETURNING *");
    let mut rows: Vec<WebhookRow> = q.load(conn).await?;
    let row = rows.pop().ok_or_else(|| not_found(id))?;
    if !row.active {
        fail_open(conn, id, "the endpoint was switched off").await?;
    }
    Ok(row)
}

pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<()> {
    let n = diesel::sql_query("DELETE FROM webhooks WHERE id = $1").bind::<BigInt, _>(id).execute(conn).await?;
    if n == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// A new secret; the old one keeps signing (beside it) until `until`.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    id: i64,
    secret: &str,
    until: DateTime<Utc>,
) -> DomainResult<WebhookRow> {
    let mut q = Sql::new("UPDATE webhooks SET previous_secret = secret, previous_secret_until = ");
    q.bind(Bind::Ts(until)).push(", secret = ").bind(Bind::Text(secret.into()));
    q.push(", updated_at = now() WHERE id = ").bind(Bind::Int8(id)).push(" RETURNING *");
    let mut rows: Vec<WebhookRow> = q.load(conn).await?;
    rows.pop().ok_or_else(|| not_found(id))
}

/// Switches an endpoint off for `reason` (410, or failing for too long); its open deliveries
/// fail with the reason and its creator is notified, in one transaction.
pub async fn disable(conn: &mut AsyncPgConnection, id: i64, reason: &str) -> DomainResult<bool> {
    diesel_async::AsyncConnection::transaction(conn, async |conn| {
        let mut q = Sql::new("UPDATE webhooks SET active = false, disabled_at = now(), disabled_reason = ");
        q.bind(Bind::Text(reason.into())).push(", updated_at = now() WHERE active AND id = ").bind(Bind::Int8(id));
        q.push(" RETURNING *");
        let rows: Vec<WebhookRow> = q.load(conn).await?;
        let Some(hook) = rows.into_iter().next() else { return Ok(false) };
        fail_open(conn, id, &format!("the endpoint was disabled: {reason}")).await?;
        let name = hook.name.as_deref().unwrap_or(&hook.url);
        crate::notifications::sources::webhook_disabled(conn, hook.created_by_id, hook.id, name, reason).await?;
        Ok(true)
    })
    .await
}

async fn fail_open(conn: &mut AsyncPgConnection, id: i64, why: &str) -> DomainResult<()> {
    let mut q = Sql::new("UPDATE webhook_deliveries SET status = 'FAILED', locked_until = NULL, last_error = ");
    q.bind(Bind::Text(why.into()));
    q.push(" WHERE status IN ('PENDING', 'RETRYING') AND webhook_id = ").bind(Bind::Int8(id));
    q.execute(conn).await?;
    Ok(())
}

/// An endpoint's deliveries, newest first; `after` is the id of the last one seen.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    webhook_id: i64,
    status: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> DomainResult<Vec<DeliveryRow>> {
    let mut q = Sql::new(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = "));
    q.bind(Bind::Int8(webhook_id));
    if let Some(s) = status {
        q.push(" AND status = ").bind(Bind::Text(s.into()));
    }
    if let Some(a) = after {
        q.push(" AND id < ").bind(Bind::Int8(a));
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(Bind::Int8(limit));
    Ok(q.load(conn).await?)
}

pub async fn delivery(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Option<DeliveryRow>> {
    let mut q = Sql::new(format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = "));
    q.bind(Bind::Int8(id));
    let mut rows: Vec<DeliveryRow> = q.load(conn).await?;
    Ok(rows.pop())
}

/// Sends a delivery again as soon as possible, with the same `webhook-id`.
pub async fn redeliver(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<DeliveryRow> {
    let mut q = Sql::new(
        "UPDATE webhook_deliveries SET status = CASE WHEN status = 'RETRYING' THEN 'RETRYING' ELSE 'PENDING' END, \
         next_attempt_at = now(), locked_until = NULL, delivered_at = NULL WHERE event_seq IS NOT NULL AND id = ",
    );
    q.bind(Bind::Int8(id)).push(format!(" RETURNING {DELIVERY_COLUMNS}"));
    let mut rows: Vec<DeliveryRow> = q.load(conn).await?;
    rows.pop().ok_or_else(|| {
        DomainError::not_found(format!("webhook delivery `{}`", ids::encode(IdKind::WebhookDelivery, id)))
    })
}

/// A test message's delivery row, written after it was sent (it is never retried).
pub async fn record_test(
    conn: &mut AsyncPgConnection,
    webhook_id: i64,
    outcome: &Outcome,
) -> DomainResult<DeliveryRow> {
    let mut q = Sql::new(
        "INSERT INTO webhook_deliveries (webhook_id, event_type, element_key, status, attempts, last_status_code, \
         last_error, last_duration_ms, delivered_at) VALUES (",
    );
    q.bind(Bind::Int8(webhook_id)).push(", 'webhook.test', '', ");
    q.bind(Bind::Text(if outcome.delivered { "SUCCEEDED" } else { "FAILED" }.into())).push(", 1, NULLIF(");
    q.bind(Bind::Int4(outcome.status.map(i32::from).unwrap_or(0))).push(", 0), NULLIF(");
    q.bind(Bind::Text(outcome.error.clone().unwrap_or_default())).push(", ''), ");
    q.bind(Bind::Int4(outcome.duration_ms)).push(", CASE WHEN ").bind(Bind::Bool(outcome.delivered));
    q.push(format!(" THEN now() END) RETURNING {DELIVERY_COLUMNS}"));
    let mut rows: Vec<DeliveryRow> = q.load(conn).await?;
    Ok(rows.pop().ok_or_else(|| anyhow::anyhow!("insert returned no delivery"))?)
}

/// What one attempt came to.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub delivered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// Deletes finished deliveries older than the event retention.
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> DomainResult<usize> {
    let mut q = Sql::new("DELETE FROM webhook_deliveries WHERE status IN ('SUCCEEDED', 'FAILED') AND created_at < ");
    q.bind(Bind::Ts(before));
    Ok(q.execute(conn).await?)
}

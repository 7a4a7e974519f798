//! Web forms and their submissions in PostgreSQL (`web_forms`, `web_form_submissions`).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use serde_json::Value as Json;

use crate::intake::forms::rules::{FieldDef, FormSpec};
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids::{self, IdKind};

#[derive(QueryableByName, Clone, Debug)]
pub struct WebFormRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub public_key: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Jsonb)]
    pub fields: Json,
    #[diesel(sql_type = Nullable<Text>)]
    pub success_message: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub redirect_url: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub assigned_to_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub source_id: Option<i64>,
    #[diesel(sql_type = Array<Text>)]
    pub allowed_origins: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub consent_text: Option<String>,
    #[diesel(sql_type = Bool)]
    pub active: bool,
    #[diesel(sql_type = BigInt)]
    pub created_by_id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub submission_count: i64,
}

impl WebFormRow {
    /// The stored fields; a row this server wrote always reads back.
    pub fn field_defs(&self) -> Vec<FieldDef> {
        serde_json::from_value(self.fields.clone()).unwrap_or_default()
    }
}

const SELECT: &str = "SELECT f.*, (SELECT count(*) FROM web_form_submissions s \
     WHERE s.form_id = f.id AND s.status = 'ACCEPTED') AS submission_count FROM web_forms f";

fn not_found(id: i64) -> DomainError {
    DomainError::not_found(format!("web form `{}`", ids::encode(IdKind::WebForm, id)))
}

/// A key nobody can guess from another form's: 18 random bytes, URL-safe.
fn new_key() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn list(conn: &mut AsyncPgConnection) -> DomainResult<Vec<WebFormRow>> {
    Ok(diesel::sql_query(format!("{SELECT} ORDER BY f.id")).load(conn).await?)
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Option<WebFormRow>> {
    let rows: Vec<WebFormRow> =
        diesel::sql_query(format!("{SELECT} WHERE f.id = $1")).bind::<BigInt, _>(id).load(conn).await?;
    Ok(rows.into_iter().next())
}

pub async fn by_key(conn: &mut AsyncPgConnection, key: &str) -> DomainResult<Option<WebFormRow>> {
    let rows: Vec<WebFormRow> =
        diesel::sql_query(format!("{SELECT} WHERE f.public_key = $1")).bind::<Text, _>(key).load(conn).await?;
    Ok(rows.into_iter().next())
}

pub async fn insert(conn: &mut AsyncPgConnection, spec: &FormSpec, by: i64) -> DomainResult<WebFormRow> {
    let id: Vec<Id> = diesel::sql_query(
        "INSERT INTO web_forms (public_key, name, fields, success_message, redirect_url, assigned_to_id, source_id, \
         allowed_origins, consent_text, active, created_by_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind::<Text, _>(new_key())
    .bind::<Text, _>(&spec.name)
    .bind::<Jsonb, _>(serde_json::to_value(&spec.fields).map_err(anyhow::Error::from)?)
    .bind::<Nullable<Text>, _>(spec.success_message.as_deref())
    .bind::<Nullable<Text>, _>(spec.redirect_url.as_deref())
    .bind::<Nullable<BigInt>, _>(spec.assigned_to_id)
    .bind::<Nullable<BigInt>, _>(spec.source_id)
    .bind::<Array<Text>, _>(&spec.allowed_origins)
    .bind::<Nullable<Text>, _>(spec.consent_text.as_deref())
    .bind::<Bool, _>(spec.active)
    .bind::<BigInt, _>(by)
    .load(conn)
    .await
    .map_err(crate::kernel::write::map_write_error)?;
    let id = id.into_iter().next().map(|i| i.id).ok_or_else(|| anyhow::anyhow!("insert returned no id"))?;
    by_id(conn, id).await?.ok_or_else(|| not_found(id))
}

pub async fn update(conn: &mut AsyncPgConnection, id: i64, spec: &FormSpec) -> DomainResult<WebFormRow> {
    let n = diesel::sql_query(
        "UPDATE web_forms SET name = $2, fields = $3, success_message = $4, redirect_url = $5, assigned_to_id = $6, \
         source_id = $7, allowed_origins = $8, consent_text = $9, active = $10, updated_at = now() WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(&spec.name)
    .bind::<Jsonb, _>(serde_json::to_value(&spec.fields).map_err(anyhow::Error::from)?)
    .bind::<Nullable<Text>, _>(spec.success_message.as_deref())
    .bind::<Nullable<Text>, _>(spec.redirect_url.as_deref())
    .bind::<Nullable<BigInt>, _>(spec.assigned_to_id)
    .bind::<Nullable<BigInt>, _>(spec.source_id)
    .bind::<Array<Text>, _>(&spec.allowed_origins)
    .bind::<Nullable<Text>, _>(spec.consent_text.as_deref())
    .bind::<Bool, _>(spec.active)
    .execute(conn)
    .await
    .map_err(crate::kernel::write::map_write_error)?;
    if n == 0 {
        return Err(not_found(id));
    }
    by_id(conn, id).await?.ok_or_else(|| not_found(id))
}

pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<()> {
    let n = diesel::sql_query("DELETE FROM web_forms WHERE id = $1").bind::<BigInt, _>(id).execute(conn).await?;
    if n == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// A submission as stored: what the visitor sent and what became of it.
#[derive(QueryableByName, Clone, Debug)]
pub struct SubmissionRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub form_id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub fields: Json,
    #[diesel(sql_type = Nullable<Text>)]
    pub page_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub referrer: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub utm: Json,
    #[diesel(sql_type = Nullable<Text>)]
    pub ip: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub lead_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub activity_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub consent_hash: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub consent_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// A submission to store.
pub struct NewSubmission<'a> {
    pub form_id: i64,
    pub kind: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub fields: &'a Json,
    pub page_url: Option<&'a str>,
    pub referrer: Option<&'a str>,
    pub utm: &'a Json,
    pub ip: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub lead_id: Option<i64>,
    pub activity_id: Option<i64>,
    pub consent_hash: Option<&'a str>,
}

/// Stores a submission; None when one with the same idempotency key was stored first.
pub async fn record(conn: &mut AsyncPgConnection, s: &NewSubmission<'_>) -> DomainResult<Option<i64>> {
    let ids: Vec<Id> = diesel::sql_query(
        "INSERT INTO web_form_submissions (form_id, kind, status, reason, fields, page_url, referrer, utm, ip, \
         idempotency_key, lead_id, activity_id, consent_hash, consent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, CASE WHEN $13 IS NULL THEN NULL ELSE now() END) \
         ON CONFLICT (form_id, idempotency_key) DO NOTHING RETURNING id",
    )
    .bind::<BigInt, _>(s.form_id)
    .bind::<Text, _>(s.kind)
    .bind::<Text, _>(s.status)
    .bind::<Nullable<Text>, _>(s.reason)
    .bind::<Jsonb, _>(s.fields)
    .bind::<Nullable<Text>, _>(s.page_url)
    .bind::<Nullable<Text>, _>(s.referrer)
    .bind::<Jsonb, _>(s.utm)
    .bind::<Nullable<Text>, _>(s.ip)
    .bind::<Nullable<Text>, _>(s.idempotency_key)
    .bind::<Nullable<BigInt>, _>(s.lead_id)
    .bind::<Nullable<BigInt>, _>(s.activity_id)
    .bind::<Nullable<Text>, _>(s.consent_hash)
    .load(conn)
    .await?;
    Ok(ids.into_iter().next().map(|i| i.id))
}

/// The submission stored under an idempotency key, if any.
pub async fn by_idempotency_key(
    conn: &mut AsyncPgConnection,
    form_id: i64,
    key: &str,
) -> DomainResult<Option<SubmissionRow>> {
    let rows: Vec<SubmissionRow> =
        diesel::sql_query("SELECT * FROM web_form_submissions WHERE form_id = $1 AND idempotency_key = $2")
            .bind::<BigInt, _>(form_id)
            .bind::<Text, _>(key)
            .load(conn)
            .await?;
    Ok(rows.into_iter().next())
}

/// A page of a form's submissions, newest first, after the submission `after`.
pub async fn page(
    conn: &mut AsyncPgConnection,
    form_id: i64,
    status: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> DomainResult<Vec<SubmissionRow>> {
    Ok(diesel::sql_query(
        "SELECT * FROM web_form_submissions WHERE form_id = $1 AND ($2::text IS NULL OR status = $2) \
         AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
    )
    .bind::<BigInt, _>(form_id)
    .bind::<Nullable<Text>, _>(status)
    .bind::<Nullable<BigInt>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?)
}

//! Import jobs as stored: the row every instance reads progress from, the verdict of each
//! file row and the failed rows.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};

crate::kernel::kinds::stored_words! {
    /// Where a job is (`import_jobs.status`).
    Status {
        Queued = "QUEUED",
        Running = "RUNNING",
        Done = "DONE",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
        RolledBack = "ROLLED_BACK",
    }
}

crate::kernel::kinds::stored_words! {
    /// What happened (or, in a dry run, would happen) to one row of the file.
    Verdict { Create = "CREATE", Update = "UPDATE", Skip = "SKIP", Fail = "FAIL", }
}

/// What to do with a row that matches an existing element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DuplicateMode {
    /// Leave the existing element alone.
    Skip,
    /// Fill its empty fields and add new communications.
    Merge,
    /// Overwrite the fields the file gives.
    Replace,
    /// Create a new element anyway.
    Allow,
}

/// What identifies a row as an element that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MatchKey {
    Email,
    Phone,
    Name,
    CompanyTitle,
    /// The file's external id column holds a Kontor id (`lead:12`), as an export writes it.
    ExternalId,
}

/// The job's options as the client gave them (stored with the job).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub duplicates: DuplicateMode,
    pub match_by: Vec<MatchKey>,
    /// (column, field) pairs; none: by header.
    pub mapping: Option<Vec<(String, String)>>,
    /// GraphQL field name → value, used where a row leaves the field empty.
    pub defaults: Vec<(String, String)>,
    pub delimiter: Option<u8>,
    pub encoding: Option<String>,
}

#[derive(QueryableByName, Clone, Debug)]
pub struct Job {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub element_type: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Bool)]
    pub dry_run: bool,
    #[diesel(sql_type = Text)]
    pub file_name: String,
    #[diesel(sql_type = Jsonb)]
    pub options: Json,
    #[diesel(sql_type = Jsonb)]
    pub headers: Json,
    #[diesel(sql_type = Jsonb)]
    pub unknown_columns: Json,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub processed: i64,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
    #[diesel(sql_type = BigInt)]
    pub skipped: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub message: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub created_by_id: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    pub fn status_kind(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }

    pub fn element_kind(&self) -> DomainResult<ElementType> {
        ElementType::parse(&self.element_type)
            .ok_or_else(|| DomainError::from(anyhow::anyhow!("import job of unknown type `{}`", self.element_type)))
    }

    /// A job is its starter's; administrators see every job.
    pub fn visible_to(&self, actor: &crate::kernel::Actor) -> bool {
        actor.is_admin || self.created_by_id == Some(actor.user_id)
    }

    pub fn is_finished(&self) -> bool {
        !matches!(self.status_kind(), Status::Queued | Status::Running)
    }
}

/// Counters of rows seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub processed: i64,
    pub created: i64,
    pub updated: i64,
    pub skipped: i64,
    pub failed: i64,
}

impl Counts {
    pub fn add(&mut self, verdict: Verdict) {
        self.processed += 1;
        match verdict {
            Verdict::Create => self.created += 1,
            Verdict::Update => self.updated += 1,
            Verdict::Skip => self.skipped += 1,
            Verdict::Fail => self.failed += 1,
        }
    }
}

const COLUMNS: &str = "id, element_type, status, dry_run, file_name, options, headers, unknown_columns, total, \
     processed, created, updated, skipped, failed, message, created_by_id, created_at, started_at, finished_at";

pub async fn insert(
    conn: &mut AsyncPgConnection,
    element_type: ElementType,
    dry_run: bool,
    file_name: &str,
    options: &Options,
    created_by: i64,
) -> DomainResult<Job> {
    let options = serde_json::to_value(options).map_err(anyhow::Error::from)?;
    Ok(diesel::sql_query(format!(
        "INSERT INTO import_jobs (element_type, dry_run, file_name, options, created_by_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind::<Text, _>(element_type.as_str())
    .bind::<Bool, _>(dry_run)
    .bind::<Text, _>(file_name)
    .bind::<Jsonb, _>(options)
    .bind::<BigInt, _>(created_by)
    .get_result(conn)
    .await?)
}

pub async fn get(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Option<Job>> {
    Ok(diesel::sql_query(format!("SELECT {COLUMNS} FROM import_jobs WHERE id = $1"))
        .bind::<BigInt, _>(id)
        .get_results(conn)
        .await?
        .pop())
}

/// Newest first, from below `before` (a job id) when given; `created_by` limits to one user's.
pub async fn list(
    conn: &mut AsyncPgConnection,
    created_by: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> DomainResult<Vec<Job>> {
    Ok(diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM import_jobs WHERE ($1::bigint IS NULL OR created_by_id = $1) \
         AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind::<Nullable<BigInt>, _>(created_by)
    .bind::<Nullable<BigInt>, _>(before)
    .bind::<BigInt, _>(limit)
    .get_results(conn)
    .await?)
}

/// The job starts: what the file's header gave.
pub async fn start(conn: &mut AsyncPgConnection, id: i64, headers: &[String], unknown: &[String]) -> DomainResult<()> {
    diesel::sql_query(
        "UPDATE import_jobs SET status = 'RUNNING', started_at = now(), heartbeat_at = now(), headers = $2, \
         unknown_columns = $3 WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .bind::<Jsonb, _>(serde_json::json!(headers))
    .bind::<Jsonb, _>(serde_json::json!(unknown))
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores the counters after a batch; answers whether a cancel was asked for.
pub async fn progress(conn: &mut AsyncPgConnection, id: i64, counts: &Counts) -> DomainResult<bool> {
    #[derive(QueryableByName)]
    struct Cancel {
        #[diesel(sql_type = Bool)]
        cancel_requested: bool,
    }
    let row: Cancel = diesel::sql_query(
        "UPDATE import_jobs SET processed = $2, created = $3, updated = $4, skipped = $5, failed = $6, \
         total = GREATEST(total, $2), heartbeat_at = now() WHERE id = $1 RETURNING cancel_requested",
    )
    .bind::<BigInt, _>(id)
    .bind::<BigInt, _>(counts.processed)
    .bind::<BigInt, _>(counts.created)
    .bind::<BigInt, _>(counts.updated)
    .bind::<BigInt, _>(counts.skipped)
    .bind::<BigInt, _>(counts.failed)
    .get_result(conn)
    .await?;
    Ok(row.cancel_requested)
}

pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: i64,
    status: Status,
    total: i64,
    message: Option<&str>,
) -> DomainResult<()> {
    // One transaction: the job's end and the importer's notification.
    diesel_async::AsyncConnection::transaction(conn, async |conn| {
        let jobs: Vec<Job> = diesel::sql_query(format!(
            "UPDATE import_jobs SET status = $2, total = GREATEST(total, $3), message = $4, finished_at = now(), \
             heartbeat_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(status.as_str())
        .bind::<BigInt, _>(total)
        .bind::<Nullable<Text>, _>(message)
        .load(conn)
        .await?;
        // The importer hears of a finished run; a rollback is their own doing.
        if let Some(job) = jobs.into_iter().next()
            && let Some(user) = job.created_by_id
            && status != Status::RolledBack
        {
            let dry = if job.dry_run { " (dry run)" } else { "" };
            let title = format!("Import {} {}{dry}", job.file_name, status.as_str().to_lowercase());
            let body = format!(
                "{} created, {} updated, {} skipped, {} failed",
                job.created, job.updated, job.skipped, job.failed
            );
            crate::notifications::sources::import_finished(conn, user, job.id, title, Some(body)).await?;
        }
        Ok(())
    })
    .await
}

/// Asks a running job to stop at the next row boundary; a queued one stops at once.
pub async fn request_cancel(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<()> {
    diesel::sql_query(
        "UPDATE import_jobs SET cancel_requested = true, \
         status = CASE WHEN status = 'QUEUED' THEN 'CANCELLED' ELSE status END WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Jobs left RUNNING by an instance that stopped: their heartbeat is older than `stale_secs`.
pub async fn fail_abandoned(conn: &mut AsyncPgConnection, stale_secs: i64) -> DomainResult<usize> {
    Ok(diesel::sql_query(
        "UPDATE import_jobs SET status = 'FAILED', finished_at = now(), \
         message = 'the server running the import stopped; roll it back or import the file again' \
         WHERE status IN ('RUNNING', 'QUEUED') AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1)",
    )
    .bind::<BigInt, _>(stale_secs)
    .execute(conn)
    .await?)
}

/// What one row of the file became, as stored for rollback.
pub struct RowVerdict<'a> {
    pub number: u64,
    pub verdict: Verdict,
    pub element_id: Option<i64>,
    pub before: Option<&'a Json>,
}

/// Stores the verdicts of a batch's rows and its row errors, two statements whatever the
/// batch's size.
pub async fn record_rows(
    conn: &mut AsyncPgConnection,
    job: i64,
    rows: &[RowVerdict<'_>],
    errors: &[&RowError],
) -> DomainResult<()> {
    if !rows.is_empty() {
        let list: Vec<Json> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "row_number": r.number, "verdict": r.verdict.as_str(),
                    "element_id": r.element_id, "before": r.before,
                })
            })
            .collect();
        diesel::sql_query(
            "INSERT INTO import_rows (job_id, row_number, verdict, element_id, before) \
             SELECT $1, r.row_number, r.verdict, r.element_id, r.before FROM jsonb_to_recordset($2) \
             AS r(row_number BIGINT, verdict TEXT, element_id BIGINT, before JSONB) \
             ON CONFLICT (job_id, row_number) DO NOTHING",
        )
        .bind::<BigInt, _>(job)
        .bind::<Jsonb, _>(Json::Array(list))
        .execute(conn)
        .await?;
    }
    if !errors.is_empty() {
        let list: Vec<Json> = errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "row_number": e.row_number, "column_name": e.column_name, "field": e.field,
                    "message": e.message, "raw": e.raw,
                })
            })
            .collect();
        diesel::sql_query(
            "INSERT INTO import_errors (job_id, row_number, column_name, field, message, raw) \
             SELECT $1, r.row_number, r.column_name, r.field, r.message, r.raw FROM jsonb_to_recordset($2) \
             AS r(row_number BIGINT, column_name TEXT, field TEXT, message TEXT, raw JSONB) \
             ON CONFLICT (job_id, row_number) DO NOTHING",
        )
        .bind::<BigInt, _>(job)
        .bind::<Jsonb, _>(Json::Array(list))
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// One failed row of the file.
#[derive(QueryableByName, Clone, Debug)]
pub struct RowError {
    #[diesel(sql_type = BigInt)]
    pub row_number: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub column_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub field: Option<String>,
    #[diesel(sql_type = Text)]
    pub message: String,
    #[diesel(sql_type = Jsonb)]
    pub raw: Json,
}

pub async fn record_error(conn: &mut AsyncPgConnection, job: i64, e: &RowError) -> DomainResult<()> {
    diesel::sql_query(
        "INSERT INTO import_errors (job_id, row_number, column_name, field, message, raw) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, row_number) DO NOTHING",
    )
    .bind::<BigInt, _>(job)
    .bind::<BigInt, _>(e.row_number)
    .bind::<Nullable<Text>, _>(e.column_name.as_deref())
    .bind::<Nullable<Text>, _>(e.field.as_deref())
    .bind::<Text, _>(&e.message)
    .bind::<Jsonb, _>(&e.raw)
    .execute(conn)
    .await?;
    Ok(())
}

/// Failed rows in file order, after row `after`.
pub async fn errors(conn: &mut AsyncPgConnection, job: i64, after: i64, limit: i64) -> DomainResult<Vec<RowError>> {
    Ok(diesel::sql_query(
        "SELECT row_number, column_name, field, message, raw FROM import_errors \
         WHERE job_id = $1 AND row_number > $2 ORDER BY row_number LIMIT $3",
    )
    .bind::<BigInt, _>(job)
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(limit)
    .get_results(conn)
    .await?)
}

/// What a job created and changed, for rollback: each element once, with its values before
/// the job's first change.
#[derive(QueryableByName, Clone, Debug)]
pub struct Change {
    #[diesel(sql_type = Text)]
    pub verdict: String,
    #[diesel(sql_type = BigInt)]
    pub element_id: i64,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub before: Option<Json>,
}

pub async fn changes(conn: &mut AsyncPgConnection, job: i64) -> DomainResult<Vec<Change>> {
    Ok(diesel::sql_query(
        "SELECT DISTINCT ON (element_id) verdict, element_id, before FROM import_rows \
         WHERE job_id = $1 AND element_id IS NOT NULL AND verdict IN ('CREATE', 'UPDATE') \
         ORDER BY element_id, row_number",
    )
    .bind::<BigInt, _>(job)
    .get_results(conn)
    .await?)
}

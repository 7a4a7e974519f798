//! Imports in GraphQL: `startImport` over the multipart request convention, the job's state,
//! cancelling, and `importProgress` for a live view.

use std::time::Duration;

use async_graphql::{Context, Enum, ID, InputObject, Object, Subscription, Upload};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::api::{GqlResult, actor, conn, lookup_id, to_id, write_ctx};
use crate::import::job::{self, Job, MatchKey, Options};
use crate::import::lookups::Lookups;
use crate::import::mapping::CustomFieldInfo;
use crate::import::run::{self, Plan};
use crate::kernel::access::permissions::Action;
use crate::kernel::ids::IdKind;
use crate::kernel::models::User;
use crate::kernel::{DomainError, ElementType};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "DuplicateMode", remote = "crate::import::job::DuplicateMode")]
pub enum DuplicateModeGql {
    /// Leave the existing element alone.
    Skip,
    /// Fill its empty fields and add new communications.
    Merge,
    /// Overwrite the fields the file gives.
    Replace,
    /// Create a new element anyway.
    Allow,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "MatchKey", remote = "crate::import::job::MatchKey")]
pub enum MatchKeyGql {
    Email,
    Phone,
    /// First and last name (persons).
    Name,
    CompanyTitle,
    /// A column of Kontor ids (`lead:12`), as an export writes them.
    ExternalId,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ImportStatus", remote = "crate::import::job::Status")]
pub enum ImportStatusGql {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    RolledBack,
}

/// One column of the file and the field it fills: a field of the element's input
/// (`firstName`, `email`, `phone (mobile)`, ...) or a custom field (`custom.<code>`).
#[derive(InputObject)]
pub struct ColumnMapping {
    pub column: String,
    pub field: String,
}

/// Values for rows that leave these fields empty; references by id or by name.
#[derive(InputObject, Default)]
pub struct ImportDefaults {
    pub status_id: Option<String>,
    pub source_id: Option<String>,
    pub assigned_to_id: Option<String>,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
}

#[derive(InputObject)]
pub struct ImportInput {
    pub element_type: crate::api::timeline::ElementTypeGql,
    #[graphql(default_with = "DuplicateModeGql::Skip")]
    pub duplicates: DuplicateModeGql,
    #[graphql(default_with = "vec![MatchKeyGql::Email, MatchKeyGql::Phone]")]
    pub match_by: Vec<MatchKeyGql>,
    /// Which column fills which field; without it, columns map by their header.
    pub mapping: Option<Vec<ColumnMapping>>,
    /// Goes through every row and reports what would happen, writing no element.
    #[graphql(default = false)]
    pub dry_run: bool,
    pub defaults: Option<ImportDefaults>,
    /// `,`, `;`, tab or `|`; detected from the header when not given.
    pub delimiter: Option<String>,
    /// `utf-8`, `utf-16` or `windows-1252`; detected when not given.
    pub encoding: Option<String>,
}

impl ImportInput {
    fn options(&self) -> Result<Options, DomainError> {
        use crate::kernel::limits::{MAX_IMPORT_COLUMNS, check_len};
        check_len("mapping", self.mapping.as_ref().map_or(0, Vec::len), MAX_IMPORT_COLUMNS)?;
        let mut match_by: Vec<MatchKey> = Vec::new();
        for k in self.match_by.iter().map(|k| MatchKey::from(*k)) {
            if !match_by.contains(&k) {
                match_by.push(k);
            }
        }
        let delimiter = match self.delimiter.as_deref() {
            None | Some("") => None,
            Some("\\t") | Some("tab") => Some(b'\t'),
            Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
            Some(d) => return Err(DomainError::bad_input("delimiter", format!("`{d}` is not one character"))),
        };
        let defaults = self
            .defaults
            .iter()
            .flat_map(|d| {
                [
                    ("statusId", &d.status_id),
                    ("sourceId", &d.source_id),
                    ("assignedToId", &d.assigned_to_id),
                    ("pipelineId", &d.pipeline_id),
                    ("stageId", &d.stage_id),
                ]
            })
            .filter_map(|(f, v)| v.as_ref().map(|v| (f.to_owned(), v.clone())))
            .collect();
        Ok(Options {
            duplicates: self.duplicates.into(),
            match_by,
            mapping: self.mapping.as_ref().map(|m| m.iter().map(|c| (c.column.clone(), c.field.clone())).collect()),
            defaults,
            delimiter,
            encoding: self.encoding.clone(),
        })
    }
}

/// A failed row of the file.
#[derive(async_graphql::SimpleObject)]
pub struct ImportRowError {
    /// The row's line in the file (the header is row 1).
    pub row: i64,
    /// The column to blame, when one is.
    pub column: Option<String>,
    /// The field to blame, when one is.
    pub field: Option<String>,
    pub message: String,
}

#[Object(name = "ImportJob")]
impl Job {
    async fn id(&self) -> ID {
        to_id(IdKind::ImportJob, self.id)
    }
    async fn element_type(&self) -> GqlResult<crate::api::timeline::ElementTypeGql> {
        Ok(self.element_kind()?.into())
    }
    async fn status(&self) -> ImportStatusGql {
        self.status_kind().into()
    }
    async fn dry_run(&self) -> bool {
        self.dry_run
    }
    async fn file_name(&self) -> &str {
        &self.file_name
    }
    /// Rows in the file once it has been read to the end; until then, the rows seen so far.
    async fn total(&self) -> i64 {
        self.total
    }
    async fn processed(&self) -> i64 {
        self.processed
    }
    async fn created(&self) -> i64 {
        self.created
    }
    async fn updated(&self) -> i64 {
        self.updated
    }
    async fn skipped(&self) -> i64 {
        self.skipped
    }
    async fn failed(&self) -> i64 {
        self.failed
    }
    /// Why the job failed or stopped.
    async fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
    /// Columns of the file that map to no field (they were ignored).
    async fn unknown_columns(&self) -> Vec<String> {
        serde_json::from_value(self.unknown_columns.clone()).unwrap_or_default()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        crate::api::common::user_of(ctx, self.created_by_id).await
    }
    /// Failed rows in file order; `after` is the `row` of the last one seen.
    async fn errors(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Vec<ImportRowError>> {
        let first = i64::from(first.unwrap_or(100).clamp(0, 1000));
        let after = match after.as_deref() {
            None | Some("") => 0,
            Some(a) => a.parse::<i64>().map_err(|_| DomainError::bad_input("after", "a row number"))?,
        };
        let rows = job::errors(&mut *conn(ctx).await?, self.id, after, first).await?;
        Ok(rows
            .into_iter()
            .map(|e| ImportRowError { row: e.row_number, column: e.column_name, field: e.field, message: e.message })
            .collect())
    }
}

/// A job the caller may see: their own, or any for an administrator.
async fn visible_job(ctx: &Context<'_>, id: &ID) -> GqlResult<Job> {
    let me = actor(ctx)?;
    let n = lookup_id(IdKind::ImportJob, id)?;
    match job::get(&mut *conn(ctx).await?, n).await? {
        Some(j) if j.visible_to(me) => Ok(j),
        _ => Err(DomainError::NotFound(format!("import `{}` not found", id.as_str())).into()),
    }
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    async fn import_job(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Job>> {
        match visible_job(ctx, &id).await {
            Ok(j) => Ok(Some(j)),
            Err(e) if e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| *c == "NOT_FOUND".into()) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Import jobs, newest first (an administrator sees everyone's); `after` is the id of the
    /// last job seen.
    async fn import_jobs(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<ID>) -> GqlResult<Vec<Job>> {
        let me = actor(ctx)?;
        let before = after.as_ref().map(|a| lookup_id(IdKind::ImportJob, a)).transpose()?;
        let limit = i64::from(first.unwrap_or(20).clamp(0, 100));
        let mine = (!me.is_admin).then_some(me.user_id);
        Ok(job::list(&mut *conn(ctx).await?, mine, before, limit).await?)
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Starts importing a CSV or XLSX file (the GraphQL multipart request convention). Needs
    /// the IMPORT and ADD rights on the element type. The file is checked (format, encoding,
    /// header, mapping) before this answers; rows run in the background: follow the job
    /// with `importProgress` or `importJob`.
    async fn start_import(&self, ctx: &Context<'_>, file: Upload, input: ImportInput) -> GqlResult<Job> {
        let wctx = write_ctx(ctx)?;
        let element: ElementType = input.element_type.into();
        wctx.actor.rights.check_may(element, Action::Import)?;
        wctx.actor.rights.check_may(element, Action::Add)?;
        let options = input.options()?;
        let upload = file.value(ctx).map_err(|e| DomainError::bad_input("file", e.to_string()))?;
        let file_name = upload.filename.clone();
        let path = persist(upload)?;
        let mut c = conn(ctx).await?;
        let custom: Vec<CustomFieldInfo> = crate::crm::shared::custom_fields::definitions(&mut c, element)
            .await?
            .into_iter()
            .map(|d| CustomFieldInfo { code: d.code, label: d.label })
            .collect();
        let opened = {
            let (path, options) = (path.clone(), options.clone());
            tokio::task::spawn_blocking(move || run::open(&path, element, &options, &custom))
                .await
                .map_err(|e| DomainError::from(anyhow::anyhow!(e.to_string())))?
        };
        let (rows, mapping) = match opened {
            Ok(x) => x,
            Err(message) => {
                let _ = std::fs::remove_file(&path);
                return Err(DomainError::bad_input("file", message).into());
            }
        };
        let lookups = Lookups::load(&mut c).await?;
        let created = job::insert(&mut c, element, input.dry_run, &file_name, &options, wctx.actor.user_id).await?;
        let pool = ctx.data::<crate::api::ApiState>()?.pool.clone();
        let plan = Plan { job_id: created.id, element, dry_run: input.dry_run, options, mapping, lookups, ctx: wctx };
        tokio::spawn(run::run(pool, plan, rows, Some(path)));
        Ok(created)
    }

    /// Undoes a finished import: deletes what it created and puts back the values it
    /// changed (history records both). Needs the rights those writes need.
    async fn rollback_import(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Job> {
        let j = visible_job(ctx, &id).await?;
        let wctx = write_ctx(ctx)?;
        let mut c = conn(ctx).await?;
        crate::import::rollback::rollback(&mut c, &wctx, &j).await?;
        Ok(job::get(&mut c, j.id).await?.unwrap_or(j))
    }

    /// Stops a running import at the next row boundary; what it wrote stays (roll it back
    /// to undo it).
    async fn cancel_import(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Job> {
        let j = visible_job(ctx, &id).await?;
        let mut c = conn(ctx).await?;
        if !j.is_finished() {
            job::request_cancel(&mut c, j.id).await?;
        }
        Ok(job::get(&mut c, j.id).await?.unwrap_or(j))
    }
}

/// Writes the upload to a file the job reads, row by row, until it ends.
fn persist(upload: async_graphql::UploadValue) -> Result<std::path::PathBuf, DomainError> {
    let dir = std::env::temp_dir().join("kontor-imports");
    std::fs::create_dir_all(&dir).map_err(anyhow::Error::from)?;
    let path = dir.join(format!("{}.upload", uuid_like()));
    std::fs::write(&path, &upload.content).map_err(anyhow::Error::from)?;
    Ok(path)
}

/// A name no other upload has: the time and a counter.
fn uuid_like() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{}-{n}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

#[derive(Default)]
pub struct ImportSubscription;

/// How often a progress subscription looks at the job.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

#[Subscription]
impl ImportSubscription {
    /// The job's state at once, then whenever it changes (at least every second while it
    /// runs), and its final state; then the subscription ends.
    async fn import_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Result<Job, async_graphql::Error>>, async_graphql::Error> {
        let first = visible_job(ctx, &id).await?;
        let pool = ctx.data::<crate::api::ApiState>()?.pool.clone();
        let state = Progress { pool, id: first.id, pending: Some(first), seen: None, done: false };
        Ok(futures_util::stream::unfold(state, Progress::next))
    }
}

/// Where a progress subscription is: the state to send next, the last one sent.
struct Progress {
    pool: crate::db::Pool,
    id: i64,
    pending: Option<Job>,
    seen: Option<(String, i64, std::time::Instant)>,
    done: bool,
}

impl Progress {
    async fn next(mut self) -> Option<(GqlResult<Job>, Progress)> {
        loop {
            if let Some(j) = self.pending.take() {
                self.done = j.is_finished();
                self.seen = Some((j.status.clone(), j.processed, std::time::Instant::now()));
                return Some((Ok(j), self));
            }
            if self.done {
                return None;
            }
            tokio::time::sleep(PROGRESS_EVERY).await;
            let current = match self.pool.get().await {
                Ok(mut c) => job::get(&mut c, self.id).await,
                Err(e) => Err(DomainError::from(e)),
            };
            match current {
                Ok(Some(j)) => {
                    let changed = self.seen.as_ref().is_none_or(|(status, processed, at)| {
                        *status != j.status || *processed != j.processed || at.elapsed() >= Duration::from_secs(1)
                    });
                    if changed || j.is_finished() {
                        self.pending = Some(j);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    self.done = true;
                    return Some((Err(e.into()), self));
                }
            }
        }
    }
}

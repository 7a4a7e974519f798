//! Running an import job: the file is read on a blocking thread and handed over in batches
//! (so memory stays flat whatever the file's size); each batch is one transaction, written
//! set-based by `batch` with the same rules as the API (rights, rules, history with kind
//! IMPORTED, an event per element). A batch the database refuses as a whole goes again row
//! by row, each row in a savepoint, so the failing row is skipped and the rest lands. Every
//! row's verdict is stored for rollback.

use std::path::PathBuf;

use async_graphql::InputType;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};

use crate::crm::shared::communications::{CommSet, CommValue};
use crate::crm::shared::duplicates::{self, Probe};
use crate::db::Pool;
use crate::import::batch;
use crate::import::file::{ReadOptions, Rows};
use crate::import::job::{self, Counts, DuplicateMode, MatchKey, Options, RowError, Status, Verdict};
use crate::import::lookups::Lookups;
use crate::import::mapping::{self, Mapping, Target};
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::{Communication, Company, Contact, Deal, Lead};
use crate::kernel::write::{self as elements, Ctx, Element, Op, Write};
use crate::kernel::{ElementType, ids, memo};

/// How a dry run's batch ends its transaction: as an error, so nothing it wrote stays.
const DRY_RUN: &str = "dry run: rolled back";

/// Rows per transaction: large enough that a batch's fixed statements are few per row,
/// small enough that progress moves several times a second and a cancel lands soon.
const BATCH: usize = 1_000;

/// An element type the import can write: its API input and how that becomes a write.
pub trait Importable: Element + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    type Input: InputType;
    fn write(input: Self::Input) -> DomainResult<Write<Self>>;
}

macro_rules! importable {
    ($row:ident, $input:path) => {
        impl Importable for $row {
            type Input = $input;
            fn write(input: $input) -> DomainResult<Write<$row>> {
                input.into_write()
            }
        }
    };
}
importable!(Lead, crate::crm::lead::api::LeadInput);
importable!(Contact, crate::crm::contact::api::ContactInput);
importable!(Company, crate::crm::company::api::CompanyInput);
importable!(Deal, crate::crm::deal::api::DealInput);

/// Everything a run needs besides the connection.
pub struct Plan {
    pub job_id: i64,
    pub element: ElementType,
    pub dry_run: bool,
    pub options: Options,
    pub mapping: Mapping,
    pub lookups: Lookups,
    pub ctx: Ctx,
}

/// Opens the file and maps its header: what `startImport` checks before it answers, so a
/// file that cannot be read is an error of the request, not a failed job.
pub fn open(
    path: &std::path::Path,
    element: ElementType,
    options: &Options,
    custom: &[mapping::CustomFieldInfo],
) -> Result<(Rows, Mapping), String> {
    let rows = Rows::open(path, &ReadOptions { delimiter: options.delimiter, encoding: options.encoding.clone() })
        .map_err(|e| e.to_string())?;
    let kind = mapping_kind(element);
    let mapping = match &options.mapping {
        Some(pairs) => mapping::explicit_map(kind, rows.headers(), pairs, custom)?,
        None => mapping::auto_map(kind, rows.headers(), custom),
    };
    Ok((rows, mapping))
}

pub fn mapping_kind(element: ElementType) -> mapping::ElementKind {
    match element {
        ElementType::Lead => mapping::ElementKind::Lead,
        ElementType::Contact => mapping::ElementKind::Contact,
        ElementType::Company => mapping::ElementKind::Company,
        ElementType::Deal => mapping::ElementKind::Deal,
    }
}

/// Runs the job to its end and records how it ended; `upload`, the server's copy of the
/// file, is removed afterwards.
pub async fn run(pool: Pool, plan: Plan, rows: Rows, upload: Option<PathBuf>) {
    let job_id = plan.job_id;
    let outcome = match plan.element {
        ElementType::Lead => run_typed::<Lead>(&pool, &plan, rows).await,
        ElementType::Contact => run_typed::<Contact>(&pool, &plan, rows).await,
        ElementType::Company => run_typed::<Company>(&pool, &plan, rows).await,
        ElementType::Deal => run_typed::<Deal>(&pool, &plan, rows).await,
    };
    if let Some(path) = upload {
        let _ = std::fs::remove_file(path);
    }
    let (status, total, message) = match outcome {
        Ok((counts, false)) => (Status::Done, counts.processed, None),
        Ok((counts, true)) => (Status::Cancelled, counts.processed, Some("cancelled".to_owned())),
        Err(e) => {
            tracing::warn!(job = job_id, error = %e.message(), "import failed");
            (Status::Failed, 0, Some(format!("the import stopped: {}", e.message())))
        }
    };
    match pool.get().await {
        Ok(mut conn) => {
            if let Err(e) = job::finish(&mut conn, job_id, status, total, message.as_deref()).await {
                tracing::error!(job = job_id, error = %e.message(), "could not record the end of an import");
            }
        }
        Err(e) => tracing::error!(job = job_id, error = %e, "could not record the end of an import"),
    }
}

pub(super) type Item = Result<crate::import::file::Row, crate::import::file::RowError>;

/// Reads the file on a blocking thread, `BATCH` rows at a time; the bounded channel holds
/// the reader back while the database is slower.
fn reader(rows: Rows) -> tokio::sync::mpsc::Receiver<Vec<Item>> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for item in rows {
            batch.push(item);
            if batch.len() == BATCH
                && tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
    });
    rx
}

/// Returns the counts and whether the job was cancelled.
async fn run_typed<T: Importable>(pool: &Pool, plan: &Plan, rows: Rows) -> DomainResult<(Counts, bool)> {
    let mut conn = pool.get().await.map_err(|e| DomainError::from(anyhow::anyhow!(e.to_string())))?;
    let headers = rows.headers().to_vec();
    job::start(&mut conn, plan.job_id, &headers, &plan.mapping.unknown).await?;
    let mut rx = reader(rows);
    let mut counts = Counts::default();
    while let Some(batch) = rx.recv().await {
        let mut outcomes = Vec::new();
        let result = conn
            .transaction::<_, DomainError, _>(async |conn| {
                outcomes = memo::scope(batch::run::<T>(conn, plan, &headers, &batch)).await?;
                end_batch(conn, plan, &outcomes).await
            })
            .await;
        let outcomes = match settle(&mut conn, plan, result, outcomes).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // A row the database refuses (a reference deleted meanwhile, ...) breaks the
                // set-based batch: the batch again, row by row, to find it.
                tracing::info!(job = plan.job_id, error = %e.message(), "import batch goes row by row");
                let mut outcomes = Vec::with_capacity(batch.len());
                let result = conn
                    .transaction::<_, DomainError, _>(async |conn| {
                        for item in batch {
                            outcomes.push(row::<T>(conn, plan, &headers, item).await?);
                        }
                        end_batch(conn, plan, &outcomes).await
                    })
                    .await;
                settle(&mut conn, plan, result, outcomes).await?
            }
        };
        for o in &outcomes {
            counts.add(o.verdict);
        }
        if job::progress(&mut conn, plan.job_id, &counts).await? {
            return Ok((counts, true));
        }
    }
    Ok((counts, false))
}

/// The end of a batch's transaction: a dry run undoes what the batch wrote (by failing it),
/// a real run records the rows' verdicts beside the writes.
async fn end_batch(conn: &mut AsyncPgConnection, plan: &Plan, outcomes: &[Outcome]) -> DomainResult<()> {
    if plan.dry_run {
        return Err(DomainError::Conflict { message: DRY_RUN.into(), details: Json::Null });
    }
    record(conn, plan.job_id, outcomes).await
}

/// The outcomes of a batch whose transaction ended with `result`; a dry run's verdicts are
/// recorded now that its writes are gone.
async fn settle(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    result: DomainResult<()>,
    outcomes: Vec<Outcome>,
) -> DomainResult<Vec<Outcome>> {
    match result {
        Ok(()) => Ok(outcomes),
        Err(DomainError::Conflict { message, .. }) if plan.dry_run && message == DRY_RUN => {
            conn.transaction::<_, DomainError, _>(async |conn| record(conn, plan.job_id, &outcomes).await).await?;
            Ok(outcomes)
        }
        Err(e) => Err(e),
    }
}

/// What became of one row of the file.
pub(super) struct Outcome {
    number: u64,
    verdict: Verdict,
    element_id: Option<i64>,
    before: Option<Json>,
    error: Option<RowError>,
}

async fn record(conn: &mut AsyncPgConnection, job_id: i64, outcomes: &[Outcome]) -> DomainResult<()> {
    let rows: Vec<job::RowVerdict<'_>> = outcomes
        .iter()
        .map(|o| job::RowVerdict {
            number: o.number,
            verdict: o.verdict,
            element_id: o.element_id,
            before: o.before.as_ref(),
        })
        .collect();
    let errors: Vec<&RowError> = outcomes.iter().filter_map(|o| o.error.as_ref()).collect();
    job::record_rows(conn, job_id, &rows, &errors).await
}

/// One row of the file, in its own savepoint. A row the API refuses is a row error, not a
/// failed job; a database failure is.
async fn row<T: Importable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    headers: &[String],
    item: Item,
) -> DomainResult<Outcome> {
    let (number, raw, result) = match item {
        Err(e) => (e.number, e.raw, Err(RowFailure { column: None, field: None, message: e.message })),
        Ok(r) => {
            let mut refused = None;
            let outcome = conn
                .transaction::<_, DomainError, _>(async |conn| match apply::<T>(conn, plan, headers, &r.cells).await {
                    Ok(applied) => Ok(applied),
                    // A refused row must not leave half its writes behind: its savepoint goes.
                    Err(f) => {
                        refused = Some(f);
                        Err(DomainError::Conflict { message: ROW_FAILED.into(), details: Json::Null })
                    }
                })
                .await;
            let result = match (outcome, refused) {
                (Ok(applied), _) => Ok(applied),
                (Err(_), Some(f)) => Err(f),
                (Err(e), None) => return Err(e),
            };
            (r.number, r.raw, result)
        }
    };
    Ok(Outcome::of(number, &raw, result))
}

impl Outcome {
    pub(super) fn of(number: u64, raw: &[String], result: Result<Applied, RowFailure>) -> Outcome {
        match result {
            Ok((verdict, element_id, before)) => Outcome { number, verdict, element_id, before, error: None },
            Err(f) => Outcome {
                number,
                verdict: Verdict::Fail,
                element_id: None,
                before: None,
                error: Some(RowError {
                    row_number: i64::try_from(number).unwrap_or(i64::MAX),
                    column_name: f.column,
                    field: f.field,
                    message: f.message,
                    raw: json!(raw),
                }),
            },
        }
    }
}

/// How a row's savepoint ends when the row is refused: as an error, so its writes go.
const ROW_FAILED: &str = "import row refused";

/// Why a row failed, naming the column and field when one is to blame.
#[derive(Debug)]
pub(super) struct RowFailure {
    pub column: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl RowFailure {
    pub(super) fn from_domain(
        e: DomainError,
        headers: &[String],
        mapping: &Mapping,
    ) -> Result<RowFailure, DomainError> {
        match e {
            DomainError::BadInput { field, message } => {
                let column = column_of(&field, headers, mapping);
                Ok(RowFailure { column, field: Some(field), message })
            }
            DomainError::NotFound(m) | DomainError::Forbidden(m) => {
                Ok(RowFailure { column: None, field: None, message: m })
            }
            DomainError::Conflict { message, .. } => Ok(RowFailure { column: None, field: None, message }),
            other => Err(other),
        }
    }
}

/// The header of the column a field came from.
fn column_of(field: &str, headers: &[String], mapping: &Mapping) -> Option<String> {
    let base = field.split(['[', '.']).next().unwrap_or(field);
    mapping.targets.iter().zip(headers).find_map(|(t, h)| match t {
        Some(Target::Field(f)) if *f == base => Some(h.clone()),
        Some(Target::Comm { kind, .. }) if kind.field() == base => Some(h.clone()),
        Some(Target::Custom(code)) if base == "customFields" || base == code => Some(h.clone()),
        _ => None,
    })
}

pub(super) type Applied = (Verdict, Option<i64>, Option<Json>);

/// A row made ready to write: the API's write, and what it is matched by.
pub(super) struct Planned<T> {
    pub write: Write<T>,
    pub probe: Option<Probe>,
    /// A Kontor id given in the file, when the job matches by external id.
    pub external: Option<i64>,
}

impl<T> Planned<T> {
    /// The values two rows of one file share when they are the same element.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.external.iter().map(|id| format!("x:{id}")).collect();
        if let Some(p) = &self.probe {
            for (tag, values) in [("p", &p.phones), ("e", &p.emails), ("n", &p.names), ("t", &p.company_titles)] {
                keys.extend(values.iter().map(|v| format!("{tag}:{v}")));
            }
        }
        keys
    }
}

/// Everything about a row that needs no database: its cells as the API's input, the
/// element's write, and its match values.
pub(super) fn prepare_row<T: Importable>(
    plan: &Plan,
    headers: &[String],
    cells: &[String],
) -> Result<Planned<T>, RowFailure> {
    let fail = |e: DomainError| RowFailure::from_domain(e, headers, &plan.mapping).unwrap_or_else(internal);
    let mut input = row_input(plan, headers, cells)?;
    let external = input
        .remove(EXTERNAL_ID)
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|_| plan.options.match_by.contains(&MatchKey::ExternalId))
        .and_then(|raw| ids::decode_lookup(plan.element.id_kind(), &raw).ok());
    let probe = probe(plan, &input).map_err(fail)?;
    let parsed = crate::api::input::from_json::<T::Input>(Json::Object(input)).map_err(|message| RowFailure {
        column: None,
        field: None,
        message,
    })?;
    let write = T::write(parsed).map_err(fail)?;
    Ok(Planned { write, probe, external })
}

/// How a job's rows are recorded in history: naming the job.
pub(super) fn op_text(plan: &Plan) -> String {
    format!("import {}", ids::encode(ids::IdKind::ImportJob, plan.job_id))
}

/// Decides and writes one row. The outer `Result` is a row failure (Ok(Err)) or a database
/// failure that ends the job (the savepoint's error).
async fn apply<T: Importable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    headers: &[String],
    cells: &[String],
) -> Result<Applied, RowFailure> {
    let fail = |e: DomainError| RowFailure::from_domain(e, headers, &plan.mapping);
    let Planned { write, probe, external } = prepare_row::<T>(plan, headers, cells)?;
    let existing = if plan.options.duplicates == DuplicateMode::Allow {
        None
    } else {
        find_existing::<T>(conn, plan, external, probe.as_ref()).await.map_err(|e| fail(e).unwrap_or_else(internal))?
    };
    let result = match existing {
        None => {
            let op = Op::new(HistoryKind::Imported, EventAction::Created, op_text(plan));
            elements::create_in_tx::<T>(conn, &plan.ctx, write, op)
                .await
                .map(|saved| (Verdict::Create, Some(saved.id()), None))
        }
        Some(_) if plan.options.duplicates == DuplicateMode::Skip => return Ok((Verdict::Skip, None, None)),
        Some(id) => update::<T>(conn, plan, id, write, op_text(plan)).await,
    };
    result.map_err(|e| fail(e).unwrap_or_else(internal))
}

pub(super) fn internal(e: DomainError) -> RowFailure {
    RowFailure { column: None, field: None, message: e.message() }
}

/// REPLACE overwrites the fields the row gives; MERGE only fills the element's empty ones
/// and adds communications it does not have.
async fn update<T: Importable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    id: i64,
    mut write: Write<T>,
    op_text: String,
) -> DomainResult<Applied> {
    let old: T = elements::lock(conn, &plan.ctx.actor, id).await?;
    let before = serde_json::to_value(&old).map_err(anyhow::Error::from)?;
    if plan.options.duplicates == DuplicateMode::Merge {
        let current = crate::crm::shared::communications::load(conn, T::TYPE, &[id]).await?.remove(&id);
        write = merged(plan, &old, &current.unwrap_or_default(), write)?;
    }
    let op = Op::new(HistoryKind::Imported, EventAction::Updated, op_text);
    let saved = elements::update_locked(conn, &plan.ctx, old, write, op, Vec::new()).await?;
    Ok((Verdict::Update, Some(saved.id()), Some(before)))
}

/// A write that only fills what `old` leaves empty, and adds to `current` (its
/// communications) only values it does not have.
pub(super) fn merged<T: Importable>(
    plan: &Plan,
    old: &T,
    current: &[Communication],
    write: Write<T>,
) -> DomainResult<Write<T>> {
    let Write { apply, comms, links, reject_duplicates, custom } = write;
    let now = serde_json::to_value(old).map_err(anyhow::Error::from)?;
    let custom = custom.into_iter().filter(|(code, _)| now["custom"].get(code).is_none_or(is_empty)).collect();
    let comms = merged_comms(plan, current, comms)?;
    let links = links.filter(|_| false);
    let fill = move |row: &mut T| -> DomainResult<()> {
        let mut candidate = row.clone();
        apply(&mut candidate)?;
        let mut now = serde_json::to_value(&*row).map_err(anyhow::Error::from)?;
        let wanted = serde_json::to_value(&candidate).map_err(anyhow::Error::from)?;
        if let (Some(now_map), Some(wanted_map)) = (now.as_object_mut(), wanted.as_object()) {
            for (k, v) in wanted_map {
                if k != "custom" {
                    elements::fill_empty(now_map, k, v);
                }
            }
        }
        *row = serde_json::from_value(now).map_err(anyhow::Error::from)?;
        Ok(())
    };
    Ok(Write { apply: Box::new(fill), comms, links, reject_duplicates, custom })
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The element's communications plus the row's new ones (a value it has already, compared
/// normalised, is not added twice).
fn merged_comms(plan: &Plan, existing: &[Communication], new: CommSet) -> DomainResult<CommSet> {
    let mut out = CommSet::default();
    for (kind, values) in new.0 {
        let mine: Vec<_> = existing.iter().filter(|c| c.kind == kind.as_str()).collect();
        let mut list: Vec<CommValue> =
            mine.iter().map(|c| CommValue { value: c.value.clone(), value_type: Some(c.value_type.clone()) }).collect();
        for v in values {
            let normalized = kind.normalize("communications", &v.value, plan.ctx.phone_region)?;
            if !mine.iter().any(|c| c.normalized == normalized) && !list.iter().any(|c| c.value == v.value) {
                list.push(v);
            }
        }
        out.0.push((kind, list));
    }
    Ok(out)
}

/// The row as the element's API input (GraphQL field names), references resolved and the
/// job's defaults filled in.
fn row_input(plan: &Plan, headers: &[String], cells: &[String]) -> Result<Map<String, Json>, RowFailure> {
    let mut input = Map::new();
    for ((cell, target), header) in cells.iter().zip(&plan.mapping.targets).zip(headers) {
        let cell = crate::import::export::unescape(cell.trim());
        let Some(target) = target else { continue };
        if cell.is_empty() {
            continue;
        }
        match target {
            Target::Field(field) => {
                let value = field_value(plan, field, cell).map_err(|message| RowFailure {
                    column: Some(header.clone()),
                    field: Some((*field).to_owned()),
                    message,
                })?;
                input.insert((*field).to_owned(), value);
            }
            Target::Comm { kind, value_type } => {
                let list = input.entry(kind.field()).or_insert_with(|| json!([]));
                if let Some(list) = list.as_array_mut() {
                    // An export joins the values of one type with ", ".
                    for value in cell.split(", ").map(str::trim).filter(|v| !v.is_empty()) {
                        list.push(json!({ "value": value, "valueType": value_type }));
                    }
                }
            }
            Target::Custom(code) => {
                let list = input.entry("customFields").or_insert_with(|| json!([]));
                if let Some(list) = list.as_array_mut() {
                    list.push(json!({ "code": code, "value": cell }));
                }
            }
            Target::ExternalId => {
                input.insert(EXTERNAL_ID.to_owned(), json!(cell));
            }
        }
    }
    for (field, value) in &plan.options.defaults {
        if !input.contains_key(field) {
            let value = field_value(plan, field, value).map_err(|message| RowFailure {
                column: None,
                field: Some(field.clone()),
                message,
            })?;
            input.insert(field.clone(), value);
        }
    }
    Ok(input)
}

/// Where the row's external id waits until matching has read it (it is no API field).
const EXTERNAL_ID: &str = "__externalId";

/// A cell as the JSON the API input takes: references resolved, yes/no words as booleans.
fn field_value(plan: &Plan, field: &str, cell: &str) -> Result<Json, String> {
    if field == "opened" {
        return match cell.to_lowercase().as_str() {
            "1" | "true" | "yes" | "y" | "ja" | "x" => Ok(json!(true)),
            "0" | "false" | "no" | "n" | "nein" => Ok(json!(false)),
            _ => Err(format!("`{cell}` is not yes or no")),
        };
    }
    if field == "probability" {
        return cell.parse::<i32>().map(|n| json!(n)).map_err(|_| format!("`{cell}` is not a whole number"));
    }
    Ok(json!(plan.lookups.resolve(plan.element, field, cell)?))
}

/// What to look for in existing elements, by the job's match keys; None when the row gives
/// none of them.
fn probe(plan: &Plan, input: &Map<String, Json>) -> DomainResult<Option<Probe>> {
    let values = |list: &str| crate::crm::shared::communications::values_in(input, list);
    let text = |f: &str| input.get(f).and_then(Json::as_str).unwrap_or("").to_owned();
    let mut phones = Vec::new();
    let mut emails = Vec::new();
    let mut names = Vec::new();
    let mut titles = Vec::new();
    for key in &plan.options.match_by {
        match key {
            MatchKey::Email => emails = values("emails"),
            MatchKey::Phone => phones = values("phones"),
            MatchKey::Name => {
                let name = format!("{} {}", text("firstName"), text("lastName"));
                if !name.trim().is_empty() {
                    names.push(name);
                }
            }
            MatchKey::CompanyTitle => {
                let title = if plan.element == ElementType::Company { text("title") } else { text("companyTitle") };
                if !title.is_empty() {
                    titles.push(title);
                }
            }
            MatchKey::ExternalId => {}
        }
    }
    let probe = Probe::from_raw(&phones, &emails, &names, &titles, plan.ctx.phone_region)?;
    Ok((!probe.is_empty()).then_some(probe))
}

/// The existing element of the job's type the row matches: by external id (a Kontor id, as
/// an export writes it) first, then by the probe. Elements the importing user may not see
/// do not count.
async fn find_existing<T: Importable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    external: Option<i64>,
    probe: Option<&Probe>,
) -> DomainResult<Option<i64>> {
    if let Some(id) = external
        && elements::get::<T>(conn, &plan.ctx.actor, id).await.is_ok()
    {
        return Ok(Some(id));
    }
    if let Some(probe) = probe {
        let found = duplicates::find_among(conn, &plan.ctx.actor, probe, &[plan.element]).await?;
        if let Some(m) = found.into_iter().next() {
            return Ok(Some(m.element.id));
        }
    }
    Ok(None)
}

//! One batch of an import, set-based: every row is prepared without the database, matched
//! against existing elements in one statement, and the creates and updates are stored with
//! `kernel::bulk` (a fixed number of statements for the batch). Rows that match each other
//! inside the batch are split into consecutive segments, so a later row sees the element an
//! earlier one created or changed, as it would row by row.

use std::collections::HashSet;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::crm::shared::duplicates;
use crate::db::sql::{Bind, Sql};
use crate::import::file::Row;
use crate::import::job::{DuplicateMode, Verdict};
use crate::import::run::{self, Importable, Item, Outcome, Plan, Planned, RowFailure};
use crate::kernel::bulk;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::write::Op;

/// The outcome of every item of the batch, in order.
pub async fn run<T: Importable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    headers: &[String],
    items: &[Item],
) -> DomainResult<Vec<Outcome>> {
    let started = std::time::Instant::now();
    let mut outcomes: Vec<Option<Outcome>> = items.iter().map(|_| None).collect();
    let mut planned: Vec<Option<Planned<T>>> = Vec::with_capacity(items.len());
    for (slot, item) in outcomes.iter_mut().zip(items) {
        match item {
            Err(e) => {
                let failure = RowFailure { column: None, field: None, message: e.message.clone() };
                *slot = Some(Outcome::of(e.number, &e.raw, Err(failure)));
                planned.push(None);
            }
            Ok(r) => match run::prepare_row::<T>(plan, headers, &r.cells) {
                Ok(p) => planned.push(Some(p)),
                Err(f) => {
                    *slot = Some(Outcome::of(r.number, &r.raw, Err(f)));
                    planned.push(None);
                }
            },
        }
    }
    let prepared = started.elapsed();
    let (mut matching, mut segments) = (std::time::Duration::ZERO, 0);
    let mut start = 0;
    while start < items.len() {
        segments += 1;
        let end = segment_end(&planned, start);
        // What the rows are matched by, apart from their writes (which cannot be shared
        // across an await).
        let matchers: Vec<Matcher> =
            planned[start..end].iter().map(|p| p.as_ref().map(|p| (p.external, p.probe.clone()))).collect();
        let before = std::time::Instant::now();
        let (end, targets) = targets::<T>(conn, plan, &matchers, start, end).await?;
        matching += before.elapsed();
        let segment = Segment { items: &items[start..end], planned: &mut planned[start..end], targets };
        for (i, outcome) in segment.write(conn, plan, headers).await? {
            outcomes[start + i] = Some(outcome);
        }
        start = end;
    }
    // Where a batch's time goes, for tuning (RUST_LOG=kontor::import=debug).
    tracing::debug!(
        job = plan.job_id,
        rows = items.len(),
        segments,
        prepare_ms = prepared.as_millis() as u64,
        match_ms = matching.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "import batch"
    );
    let done: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    if done.len() != items.len() {
        return Err(anyhow::anyhow!("an import batch lost track of a row").into());
    }
    Ok(done)
}

/// The end of the segment that starts at `start`: before the first row that shares a match
/// value with an earlier row of the segment.
fn segment_end<T>(planned: &[Option<Planned<T>>], start: usize) -> usize {
    let mut seen = HashSet::new();
    for (i, p) in planned.iter().enumerate().skip(start) {
        let Some(p) = p else { continue };
        let keys = p.keys();
        if i > start && keys.iter().any(|k| seen.contains(k)) {
            return i;
        }
        seen.extend(keys);
    }
    planned.len()
}

/// A row's external id and probe; None for a row that already failed.
type Matcher = Option<(Option<i64>, Option<duplicates::Probe>)>;

#[derive(QueryableByName)]
struct Visible {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The existing element each row of `start..end` matches (by external id first, then by the
/// probe), and where the segment really ends: before a row whose element an earlier row of
/// the segment already writes.
async fn targets<T: Importable>(
    conn: &mut AsyncPgConnection,
    plan: &Plan,
    rows: &[Matcher],
    start: usize,
    end: usize,
) -> DomainResult<(usize, Vec<Option<i64>>)> {
    if plan.options.duplicates == DuplicateMode::Allow {
        return Ok((end, vec![None; rows.len()]));
    }
    let external: Vec<i64> = rows.iter().flatten().filter_map(|m| m.0).collect();
    let mut visible = HashSet::new();
    if !external.is_empty() {
        let mut q = Sql::new(format!("SELECT t.id FROM {} t WHERE t.id = ANY(", T::TABLE));
        q.bind(Bind::Int8s(external)).push(") AND ").append(&T::visibility(&plan.ctx.actor, "t"));
        visible.extend(q.load::<Visible>(conn).await?.into_iter().map(|v| v.id));
    }
    let probes: Vec<_> = rows.iter().map(|m| m.as_ref().and_then(|m| m.1.as_ref())).collect();
    let found = duplicates::first_matches(conn, &plan.ctx.actor, plan.element, &probes).await?;
    let mut taken = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, (p, by_probe)) in rows.iter().zip(found).enumerate() {
        let target = p.as_ref().and_then(|m| m.0.filter(|id| visible.contains(id))).or(by_probe);
        if let Some(id) = target
            && !taken.insert(id)
        {
            return Ok((start + i, out));
        }
        out.push(target);
    }
    Ok((end, out))
}

/// Rows of a batch that share no element, with what each matched.
struct Segment<'a, T> {
    items: &'a [Item],
    planned: &'a mut [Option<Planned<T>>],
    targets: Vec<Option<i64>>,
}

impl<T: Importable> Segment<'_, T> {
    /// Writes the segment; returns the outcome of each row it decided (by index in it).
    async fn write(
        self,
        conn: &mut AsyncPgConnection,
        plan: &Plan,
        headers: &[String],
    ) -> DomainResult<Vec<(usize, Outcome)>> {
        let mut creates = (Vec::new(), Vec::new());
        let mut updates = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        let Segment { items, planned, targets } = self;
        let outcome = |i: usize, result: Result<run::Applied, RowFailure>| -> Outcome {
            let (number, raw) = match &items[i] {
                Ok(Row { number, raw, .. }) => (*number, raw.as_slice()),
                Err(e) => (e.number, e.raw.as_slice()),
            };
            Outcome::of(number, raw, result)
        };
        for (i, (p, target)) in planned.iter_mut().zip(&targets).enumerate() {
            let Some(p) = p.take() else { continue };
            match target {
                None => {
                    creates.0.push(i);
                    creates.1.push(p.write);
                }
                Some(_) if plan.options.duplicates == DuplicateMode::Skip => {
                    out.push((i, outcome(i, Ok((Verdict::Skip, None, None)))));
                }
                Some(id) => {
                    updates.0.push(i);
                    updates.1.push((*id, p.write));
                }
            }
        }
        let fail = |e: DomainError| RowFailure::from_domain(e, headers, &plan.mapping).unwrap_or_else(run::internal);
        if !creates.1.is_empty() {
            let op = Op::new(HistoryKind::Imported, EventAction::Created, run::op_text(plan));
            for (i, r) in creates.0.into_iter().zip(bulk::create_many::<T>(conn, &plan.ctx, creates.1, &op).await?) {
                out.push((i, outcome(i, r.map(|saved| (Verdict::Create, Some(saved.id()), None)).map_err(fail))));
            }
        }
        if !updates.1.is_empty() {
            let op = Op::new(HistoryKind::Imported, EventAction::Updated, run::op_text(plan));
            let merge = plan.options.duplicates == DuplicateMode::Merge;
            let done = bulk::update_many::<T, _>(conn, &plan.ctx, updates.1, &op, |old, current, w| {
                if merge { run::merged(plan, old, current, w) } else { Ok(w) }
            })
            .await?;
            for (i, r) in updates.0.into_iter().zip(done) {
                let r = r.and_then(|(old, saved)| {
                    let before = serde_json::to_value(&old).map_err(anyhow::Error::from)?;
                    Ok((Verdict::Update, Some(saved.id()), Some(before)))
                });
                out.push((i, outcome(i, r.map_err(fail))));
            }
        }
        Ok(out)
    }
}

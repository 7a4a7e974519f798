//! Writes of many elements of one type at once, for an import's batch: the same rules as
//! `write` (`prepare_create`, `prepare_update`), but stored with a fixed number of
//! statements per batch instead of a dozen per element. Reference checks inside the rules
//! are remembered for the batch (`memo::scope`, opened by the caller).
//!
//! A row the rules refuse comes back as its own error and nothing of it is written; an
//! error of the database is the batch's (the caller's transaction is then unusable).

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value as Json;

use crate::crm::shared::communications::{self as comms, CleanComm};
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Action;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::{self, Change, Entry};
use crate::kernel::models::Communication;
use crate::kernel::outbox::{self, Pending};
use crate::kernel::write::{self, Ctx, Element, Op, Prepared, Write};

/// What became of one item of a batch: the stored row, or why the rules refused it.
pub type Outcome<T> = DomainResult<T>;

/// Errors that refuse one row (a rule, a right, a reference) rather than break the batch.
pub fn is_refusal(e: &DomainError) -> bool {
    matches!(
        e,
        DomainError::BadInput { .. }
            | DomainError::NotFound(_)
            | DomainError::Forbidden(_)
            | DomainError::Conflict { .. }
    )
}

/// Keeps a refusal as the row's outcome; anything else ends the batch.
fn refused<T>(result: DomainResult<T>) -> DomainResult<Outcome<T>> {
    match result {
        Err(e) if !is_refusal(&e) => Err(e),
        other => Ok(other),
    }
}

/// Creates the elements of `writes`, in order, recorded as `op`.
pub async fn create_many<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    writes: Vec<Write<T>>,
    op: &Op,
) -> DomainResult<Vec<Outcome<T>>> {
    let mut outcomes: Vec<Outcome<T>> = Vec::with_capacity(writes.len());
    let mut ready = Vec::new();
    if let Err(e) = ctx.actor.rights.check_may(T::TYPE, Action::Add) {
        return Ok(writes.iter().map(|_| Err(DomainError::Forbidden(e.message()))).collect());
    }
    let started = std::time::Instant::now();
    let blank = T::blank(conn, ctx).await?;
    for w in writes {
        match refused(write::prepare_create(conn, ctx, blank.clone(), w).await)? {
            Ok(p) => {
                ready.push((outcomes.len(), p));
                outcomes.push(Err(DomainError::Internal(anyhow::anyhow!("not stored"))));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    if ready.is_empty() {
        return Ok(outcomes);
    }
    let rules = started.elapsed();
    let ids = next_ids::<T>(conn, ready.len()).await?;
    let mut rows = Vec::with_capacity(ready.len());
    for ((_, p), id) in ready.iter().zip(&ids) {
        let mut map = write::to_map(&p.row)?;
        map.insert("id".into(), Json::from(*id));
        rows.push(Json::Object(map));
    }
    let mut saved = by_id(insert_all::<T>(conn, rows).await?);
    let mut new_comms = Vec::new();
    let mut entries = Vec::new();
    let mut events = Vec::new();
    for ((slot, p), id) in ready.into_iter().zip(ids) {
        let row = saved.remove(&id).ok_or_else(|| anyhow::anyhow!("stored row {id} did not come back"))?;
        let Prepared { comms: clean, links, .. } = p;
        let mut extra: Vec<Change> = clean
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| history::list_change(k.field(), &[], &values(v)))
            .collect();
        new_comms.extend(clean.into_iter().map(|(_, v)| (id, v)));
        extra.extend(write::finish_write(conn, ctx, &row, links, Vec::new()).await?);
        T::after_save(conn, ctx, None, &row).await?;
        let r = write::element_ref(&row);
        entries.push(Entry { element: r, kind: op.kind, text: op.text.clone(), changes: vec![] });
        events.push(Pending {
            element: r,
            action: op.action,
            changed: write::created_fields(&row, &extra)?,
            snapshot: write::snapshot(&row)?,
            previous: serde_json::Map::new(),
        });
        outcomes[slot] = Ok(row);
    }
    insert_comms(conn, T::TYPE, new_comms).await?;
    record(conn, ctx, entries, events).await?;
    tracing::debug!(
        rows = outcomes.len(),
        rules_ms = rules.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "bulk create"
    );
    Ok(outcomes)
}

/// Updates elements by id, in order: `adjust` sees the locked row and its communications
/// before the write is applied (an import's MERGE fills only what is empty). Every item is
/// recorded as `op`, even one that changes nothing, when `op` has a text.
pub async fn update_many<T, F>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    items: Vec<(i64, Write<T>)>,
    op: &Op,
    mut adjust: F,
) -> DomainResult<Vec<Outcome<(T, T)>>>
where
    T: Element,
    F: FnMut(&T, &[Communication], Write<T>) -> DomainResult<Write<T>>,
{
    let started = std::time::Instant::now();
    let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
    let mut locked = by_id(lock_all::<T>(conn, ctx, &ids).await?);
    let mut old_comms = comms::load(conn, T::TYPE, &ids).await?;
    let mut outcomes: Vec<Outcome<(T, T)>> = Vec::with_capacity(items.len());
    let mut ready = Vec::new();
    for (id, w) in items {
        let Some(old) = locked.remove(&id) else {
            outcomes.push(Err(DomainError::not_found(format!(
                "{} `{}`",
                T::TYPE.as_str().to_lowercase(),
                crate::kernel::ids::encode(T::TYPE.id_kind(), id)
            ))));
            continue;
        };
        let current = old_comms.remove(&id).unwrap_or_default();
        let prepared = match refused(adjust(&old, &current, w))? {
            Ok(w) => refused(write::prepare_update(conn, ctx, &old, w).await)?,
            Err(e) => Err(e),
        };
        match prepared {
            Ok(p) => {
                ready.push((outcomes.len(), old, current, p));
                outcomes.push(Err(DomainError::Internal(anyhow::anyhow!("not stored"))));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    let rules = started.elapsed();
    let mut rows = Vec::new();
    let mut changes_of = Vec::new();
    let mut replaced = Vec::new();
    for (_, old, current, p) in &mut ready {
        let mut changes = history::diff(&write::to_map(&*old)?, &write::to_map(&p.row)?);
        for (kind, new) in &p.comms {
            let before: Vec<String> =
                current.iter().filter(|c| c.kind == kind.as_str()).map(|c| c.value.clone()).collect();
            let after = values(new);
            if before != after {
                changes.push(history::list_change(kind.field(), &before, &after));
            }
            replaced.push((p.row.id(), kind.as_str()));
        }
        if !changes.is_empty() || op.text.is_some() {
            p.row.stamp(ctx.actor.user_id, old.version() + 1);
            rows.push(Json::Object(write::to_map(&p.row)?));
        }
        changes_of.push(changes);
    }
    let mut saved = by_id(store_all::<T>(conn, rows).await?);
    delete_comms(conn, T::TYPE, replaced).await?;
    let mut entries = Vec::new();
    let mut events = Vec::new();
    let mut new_comms = Vec::new();
    for ((slot, old, _, p), mut changes) in ready.into_iter().zip(changes_of) {
        let id = p.row.id();
        new_comms.extend(p.comms.into_iter().map(|(_, v)| (id, v)));
        let Some(row) = saved.remove(&id) else {
            // Nothing changed and nothing to record: the element stays at its version.
            outcomes[slot] = Ok((old.clone(), old));
            continue;
        };
        changes.extend(write::finish_write(conn, ctx, &row, p.links, Vec::new()).await?);
        T::after_save(conn, ctx, Some(&old), &row).await?;
        let r = write::element_ref(&row);
        events.push(Pending::change(r, op.action, &changes, write::snapshot(&row)?));
        entries.push(Entry { element: r, kind: op.kind, text: op.text.clone(), changes });
        outcomes[slot] = Ok((old, row));
    }
    insert_comms(conn, T::TYPE, new_comms).await?;
    record(conn, ctx, entries, events).await?;
    tracing::debug!(
        rows = outcomes.len(),
        lock_and_rules_ms = rules.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "bulk update"
    );
    Ok(outcomes)
}

fn values(v: &[CleanComm]) -> Vec<String> {
    v.iter().map(|c| c.value.clone()).collect()
}

fn by_id<T: Element>(rows: Vec<T>) -> HashMap<i64, T> {
    rows.into_iter().map(|r| (r.id(), r)).collect()
}

#[derive(QueryableByName)]
struct NextId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids for `n` new rows, drawn before the insert so each stored row is known by its item.
async fn next_ids<T: Element>(conn: &mut AsyncPgConnection, n: usize) -> DomainResult<Vec<i64>> {
    let mut q = Sql::new(format!(
        "SELECT nextval(pg_get_serial_sequence('{}', 'id')) AS id FROM generate_series(1, ",
        T::TABLE
    ));
    q.bind(Bind::Int8(i64::try_from(n).unwrap_or(i64::MAX))).push(")");
    Ok(q.load::<NextId>(conn).await?.into_iter().map(|r| r.id).collect())
}

async fn insert_all<T: Element>(conn: &mut AsyncPgConnection, rows: Vec<Json>) -> DomainResult<Vec<T>> {
    let Some(Json::Object(first)) = <[Json]>::first(&rows) else { return Ok(Vec::new()) };
    // Every row has the same fields; the generated columns take no value (`insert_columns`).
    let (c, rc) = write::insert_columns(first);
    let json = serde_json::to_string(&rows).map_err(anyhow::Error::from)?;
    let mut q = Sql::new(format!(
        "INSERT INTO {t} ({c}) SELECT {rc} FROM jsonb_populate_recordset(NULL::{t}, CAST(",
        t = T::TABLE
    ));
    q.bind(Bind::Text(json)).push(" AS jsonb)) r RETURNING *");
    q.load(conn).await.map_err(write::map_write_error)
}

/// Stores changed rows (all columns but the id) in one statement.
async fn store_all<T: Element>(conn: &mut AsyncPgConnection, rows: Vec<Json>) -> DomainResult<Vec<T>> {
    let Some(Json::Object(first)) = <[Json]>::first(&rows) else { return Ok(Vec::new()) };
    let cols: Vec<&str> = first.keys().map(String::as_str).filter(|k| *k != "id").collect();
    let mut q = Sql::new(format!(
        "UPDATE {t} t SET ({c}) = ({rc}) FROM jsonb_populate_recordset(NULL::{t}, CAST(",
        t = T::TABLE,
        c = cols.join(", "),
        rc = cols.iter().map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", "),
    ));
    let json = serde_json::to_string(&rows).map_err(anyhow::Error::from)?;
    q.bind(Bind::Text(json)).push(" AS jsonb)) r WHERE t.id = r.id RETURNING t.*");
    q.load(conn).await.map_err(write::map_write_error)
}

/// Locks the rows the actor may see, in id order (two batches never wait on each other in
/// a circle).
async fn lock_all<T: Element>(conn: &mut AsyncPgConnection, ctx: &Ctx, ids: &[i64]) -> DomainResult<Vec<T>> {
    let mut q = Sql::new(format!("SELECT {} FROM {} t WHERE t.id = ANY(", T::SELECT, T::TABLE));
    q.bind(Bind::Int8s(ids.to_vec())).push(") AND ").append(&T::visibility(&ctx.actor, "t"));
    q.push(" ORDER BY t.id FOR UPDATE");
    Ok(q.load(conn).await?)
}

async fn delete_comms(
    conn: &mut AsyncPgConnection,
    element: crate::kernel::ElementType,
    pairs: Vec<(i64, &'static str)>,
) -> DomainResult<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let (ids, kinds): (Vec<i64>, Vec<String>) = pairs.into_iter().map(|(i, k)| (i, k.to_owned())).unzip();
    let mut q = Sql::new("DELETE FROM communications c USING unnest(");
    q.bind(Bind::Int8s(ids)).push(", ").bind(Bind::Texts(kinds));
    q.push(") AS x(element_id, kind) WHERE c.element_type = ").bind(Bind::Text(element.as_str().to_owned()));
    q.push(" AND c.element_id = x.element_id AND c.kind = x.kind");
    q.execute(conn).await?;
    Ok(())
}

/// Stores the communications of many elements (each list in its order) in one statement.
async fn insert_comms(
    conn: &mut AsyncPgConnection,
    element: crate::kernel::ElementType,
    lists: Vec<(i64, Vec<CleanComm>)>,
) -> DomainResult<()> {
    #[derive(Default)]
    struct Columns {
        ids: Vec<i64>,
        kinds: Vec<String>,
        types: Vec<String>,
        values: Vec<String>,
        normalized: Vec<String>,
        sorts: Vec<i32>,
    }
    let mut cols = Columns::default();
    for (id, list) in lists {
        for (i, c) in list.into_iter().enumerate() {
            cols.ids.push(id);
            cols.kinds.push(c.kind.as_str().to_owned());
            cols.types.push(c.value_type);
            cols.values.push(c.value);
            cols.normalized.push(c.normalized);
            cols.sorts.push(i32::try_from(i).unwrap_or(i32::MAX));
        }
    }
    if cols.ids.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new(
        "INSERT INTO communications (element_type, element_id, kind, value_type, value, normalized, sort) SELECT ",
    );
    q.bind(Bind::Text(element.as_str().to_owned())).push(", x.* FROM unnest(");
    q.bind(Bind::Int8s(cols.ids)).push(", ").bind(Bind::Texts(cols.kinds)).push(", ").bind(Bind::Texts(cols.types));
    q.push(", ").bind(Bind::Texts(cols.values)).push(", ").bind(Bind::Texts(cols.normalized));
    q.push(", ").bind(Bind::Int4s(cols.sorts));
    q.push(") AS x");
    q.execute(conn).await?;
    Ok(())
}

/// History entries and, per element, its `timelineAdded` event followed by its own: the
/// order a single write appends them in.
async fn record(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    entries: Vec<Entry>,
    events: Vec<Pending>,
) -> DomainResult<()> {
    let written = history::record_many(conn, ctx.actor.user_id, &entries).await?;
    let mut timeline: HashMap<i64, Pending> = HashMap::new();
    for e in &written {
        timeline.insert(e.element_id, history::event_of(e)?);
    }
    let mut all = Vec::with_capacity(events.len() * 2);
    for e in events {
        if let Some(t) = timeline.remove(&e.element.id) {
            all.push(t);
        }
        all.push(e);
    }
    outbox::append_many(conn, ctx.actor.user_id, all).await
}

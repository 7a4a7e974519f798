//! What decides whether a subscriber may read an event whose payload is not the element
//! (a TIMELINE event carries the history entry): the element's current assignee, `opened`
//! flag and pipeline (`permissions::Facts`). An instance loads them once per event, however
//! many subscriptions ask, and for a replay page in one statement per element type; each
//! subscription then decides in memory (`visibility::can_read_facts`). So delivering an
//! event costs the same statements for one subscriber as for thousands.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable};
use diesel_async::RunQueryDsl;
use tokio::sync::OnceCell;

use super::Event;
use crate::db::Pool;
use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::permissions::Facts;

/// How many events' facts an instance keeps, the most recently loaded. Live subscriptions
/// ask within moments of each other, and a replay loads a page (`bus::REPLAY_PAGE`) just
/// before it delivers it, so this covers both with room to spare.
pub const CACHED_EVENTS: usize = 4096;

/// The facts of an event's element: `None` when the element no longer exists.
type Cell = Arc<OnceCell<Option<Facts>>>;

#[derive(Default)]
pub struct FactsCache {
    cells: Mutex<Cells>,
}

/// Cells by event seq, and the seqs in the order they were added (the oldest go first).
#[derive(Default)]
struct Cells {
    by_seq: HashMap<i64, Cell>,
    added: VecDeque<i64>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    assigned_to_id: Option<i64>,
    #[diesel(sql_type = Bool)]
    opened: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    pipeline_id: Option<i64>,
}

impl FactsCache {
    /// The facts of each event's element, in the order given; loads what no one asked for
    /// yet. Events about something other than an element get `None`.
    pub async fn get(&self, pool: &Pool, events: &[&Event]) -> anyhow::Result<Vec<Option<Facts>>> {
        let cells: Vec<Cell> = {
            let mut guard = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            let Cells { by_seq, added } = &mut *guard;
            let cells = events
                .iter()
                .map(|e| {
                    by_seq
                        .entry(e.seq)
                        .or_insert_with(|| {
                            added.push_back(e.seq);
                            Cell::default()
                        })
                        .clone()
                })
                .collect();
            while added.len() > CACHED_EVENTS {
                if let Some(old) = added.pop_front() {
                    by_seq.remove(&old);
                }
            }
            cells
        };
        let missing: Vec<usize> = (0..events.len()).filter(|&i| !cells[i].initialized()).collect();
        match missing.as_slice() {
            [] => {}
            // One event (the live case): concurrent subscribers wait for one load.
            [i] => {
                let e = events[*i];
                cells[*i]
                    .get_or_try_init(|| async { Ok::<_, anyhow::Error>(load(pool, &[e]).await?.remove(&e.seq)) })
                    .await?;
            }
            // A replay page: one statement per element type. A load of the same event
            // already under way wins (it reads the same row); ours fills the rest.
            many => {
                let wanted: Vec<&Event> = many.iter().map(|&i| events[i]).collect();
                let mut loaded = load(pool, &wanted).await?;
                for &i in many {
                    let found = loaded.remove(&events[i].seq);
                    cells[i].get_or_init(|| async move { found }).await;
                }
            }
        }
        Ok(cells.iter().map(|c| c.get().copied().flatten()).collect())
    }
}

/// The current facts of the elements `events` are about, by event seq.
async fn load(pool: &Pool, events: &[&Event]) -> anyhow::Result<HashMap<i64, Facts>> {
    if events.iter().all(|e| ElementType::parse(&e.element_type).is_none()) {
        return Ok(HashMap::new());
    }
    load_on(&mut *pool.get().await?, events).await
}

/// The facts rights are decided on, of elements of one type, as `conn` sees them (inside a
/// writing transaction: the state being committed). Missing elements are left out.
pub async fn of_elements(
    conn: &mut diesel_async::AsyncPgConnection,
    et: ElementType,
    mut ids: Vec<i64>,
) -> diesel::QueryResult<Vec<(i64, Facts)>> {
    ids.sort_unstable();
    ids.dedup();
    let pipeline = if et == ElementType::Deal { "pipeline_id" } else { "NULL::bigint" };
    let mut q = Sql::new(format!(
        "SELECT id, assigned_to_id, opened, {pipeline} AS pipeline_id FROM {} WHERE id = ANY(",
        et.table()
    ));
    q.bind(Bind::Int8s(ids)).push(")");
    let rows: Vec<Row> = q.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, Facts { assigned_to_id: r.assigned_to_id, opened: r.opened, pipeline_id: r.pipeline_id }))
        .collect())
}

/// `load` on a connection the caller holds (the webhook fan-out, inside its transaction).
pub async fn load_on(
    conn: &mut diesel_async::AsyncPgConnection,
    events: &[&Event],
) -> anyhow::Result<HashMap<i64, Facts>> {
    let mut by_type: BTreeMap<&'static str, (ElementType, Vec<i64>)> = BTreeMap::new();
    for e in events {
        if let Some(et) = ElementType::parse(&e.element_type) {
            by_type.entry(et.as_str()).or_insert_with(|| (et, Vec::new())).1.push(e.element_id);
        }
    }
    let mut facts: HashMap<(ElementType, i64), Facts> = HashMap::new();
    for (et, ids) in by_type.into_values() {
        for (id, f) in of_elements(conn, et, ids).await? {
            facts.insert((et, id), f);
        }
    }
    Ok(events
        .iter()
        .filter_map(|e| {
            let et = ElementType::parse(&e.element_type)?;
            Some((e.seq, *facts.get(&(et, e.element_id))?))
        })
        .collect())
}

//! One instance's event bus: a single task delivers events in `seq` order into a tokio
//! broadcast that every subscription reads. Events arrive from the relay (same process) or
//! from Redis; a gap or a quiet period is filled from PostgreSQL. It also reads `after:`
//! replays page by page and keeps the facts that decide who may read history events
//! (`facts`), so subscriptions share one load per event.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use diesel_async::RunQueryDsl;
use tokio::sync::{broadcast, mpsc, watch};

use super::facts::FactsCache;
use super::{EVENT_COLUMNS, Event, HIGH_WATER_SQL};
use crate::db::Pool;
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Facts;

/// How many events a slow subscriber may fall behind before its subscription ends with an
/// error naming where to resume (`after`).
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Events read from PostgreSQL at a time, for an `after:` replay or a gap: a subscription
/// holds at most one page of its replay in memory, however many events are retained.
pub const REPLAY_PAGE: usize = 500;

#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Arc<Event>>,
    /// The newest ACCESS event; live connections watch it (events/access.rs) without waking
    /// for every other event.
    access: watch::Sender<i64>,
    inbox: mpsc::UnboundedSender<Event>,
    last: AtomicI64,
    pool: Pool,
    facts: FactsCache,
}

impl Bus {
    /// Starts the delivery task; it begins after the newest event already published, so a
    /// fresh instance does not replay history to nobody.
    pub async fn start(pool: Pool, poll: Duration) -> anyhow::Result<Bus> {
        let (tx, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let (inbox, rx) = mpsc::unbounded_channel();
        let last = {
            let mut conn = pool.get().await?;
            high_water(&mut conn).await?
        };
        let access = watch::Sender::new(last);
        let bus = Bus {
            inner: Arc::new(Inner {
                tx,
                access,
                inbox,
                last: AtomicI64::new(last),
                pool,
                facts: FactsCache::default(),
            }),
        };
        tokio::spawn(deliver(bus.clone(), rx, poll));
        Ok(bus)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// Changes to the `seq` of each ACCESS event delivered on this instance.
    pub fn watch_access(&self) -> watch::Receiver<i64> {
        self.inner.access.subscribe()
    }

    /// The newest event delivered on this instance.
    pub fn last_seq(&self) -> i64 {
        AtomicI64::load(&self.inner.last, Ordering::SeqCst)
    }

    /// Hands an event (from the relay or Redis) to the delivery task.
    pub fn offer(&self, event: Event) {
        let _ = self.inner.inbox.send(event);
    }

    /// The first page of published events after `after` up to `upto`, oldest first, from
    /// PostgreSQL (`after:` replays ask page by page).
    pub async fn replay_page(&self, after: i64, upto: i64) -> anyhow::Result<Vec<Event>> {
        let mut conn = self.inner.pool.get().await?;
        page(&mut conn, after, Some(upto)).await
    }

    /// The facts that decide who may read each event's element (history events), loaded
    /// through `pool` once per event on this instance.
    pub async fn facts(&self, pool: &Pool, events: &[&Event]) -> anyhow::Result<Vec<Option<Facts>>> {
        self.inner.facts.get(pool, events).await
    }

    fn publish(&self, event: Event) {
        self.inner.last.store(event.seq, Ordering::SeqCst);
        if event.action == crate::kernel::kinds::EventAction::Access {
            self.inner.access.send_replace(event.seq);
        }
        // No receivers is fine: nobody is subscribed on this instance.
        let _ = self.inner.tx.send(Arc::new(event));
    }

    /// Delivers every published event after the last delivered one, from PostgreSQL.
    async fn catch_up(&self, upto: Option<i64>) -> anyhow::Result<()> {
        loop {
            let events = {
                let mut conn = self.inner.pool.get().await?;
                page(&mut conn, self.last_seq(), upto).await?
            };
            let n = events.len();
            for e in events {
                let last = self.last_seq();
                if e.seq > last + 1 {
                    // One read sees every event stamped before the newest it returns (the
                    // relay stamps a batch in one statement, batch after batch), so numbers
                    // missing below it were pruned: this instance fell behind by more than
                    // the retention period. Waiting would stall it for good; subscriptions
                    // that needed the missing events notice the jump and end with an error.
                    tracing::warn!(
                        from = last + 1,
                        to = e.seq - 1,
                        "events were pruned before this instance delivered them"
                    );
                }
                self.publish(e);
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }
}

/// Up to `REPLAY_PAGE` published events after `after` (up to `upto`), oldest first.
async fn page(conn: &mut diesel_async::AsyncPgConnection, after: i64, upto: Option<i64>) -> anyhow::Result<Vec<Event>> {
    let mut q = Sql::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE published_seq > "));
    q.bind(Bind::Int8(after));
    if let Some(u) = upto {
        q.push(" AND published_seq <= ").bind(Bind::Int8(u));
    }
    q.push(" ORDER BY published_seq LIMIT ").bind(Bind::Int8(REPLAY_PAGE as i64));
    Ok(q.load(conn).await?)
}

/// The newest number ever stamped, which pruning cannot lower.
async fn high_water(conn: &mut diesel_async::AsyncPgConnection) -> anyhow::Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct Mark {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let m: Mark = diesel::sql_query(HIGH_WATER_SQL).get_result(conn).await?;
    Ok(m.seq)
}

/// The single delivery task: in-order events go straight out, a gap is filled from
/// PostgreSQL first, and a periodic check catches what Redis never delivered.
async fn deliver(bus: Bus, mut rx: mpsc::UnboundedReceiver<Event>, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = rx.recv() => {
                let Some(event) = received else { return };
                let last = bus.last_seq();
                if event.seq <= last {
                    continue;
                }
                if event.seq > last + 1
                    && let Err(e) = bus.catch_up(Some(event.seq - 1)).await {
                        tracing::warn!(error = %e, "event backfill failed; retrying on the next tick");
                        continue;
                    }
                if event.seq == bus.last_seq() + 1 {
                    bus.publish(event);
                }
            }
            _ = tick.tick() => {
                if let Err(e) = bus.catch_up(None).await {
                    tracing::warn!(error = %e, "event catch-up failed");
                }
            }
        }
    }
}

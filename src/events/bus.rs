//! One instance's event bus: a single task delivers events in `seq` order into a tokio
//! broadcast that every subscription reads. Events arrive from the relay (same process) or
//! from Redis; a gap or a quiet period is filled from PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use diesel_async::RunQueryDsl;
use tokio::sync::{broadcast, mpsc, watch};

use super::{EVENT_COLUMNS, Event};
use crate::db::Pool;
use crate::db::sql::{Bind, Sql};

/// How many events a slow subscriber may fall behind before it is dropped.
pub const SUBSCRIBER_BUFFER: usize = 1024;

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
}

impl Bus {
    /// Starts the delivery task; it begins after the newest event already published, so a
    /// fresh instance does not replay history to nobody.
    pub async fn start(pool: Pool, poll: Duration) -> anyhow::Result<Bus> {
        let (tx, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let (inbox, rx) = mpsc::unbounded_channel();
        let last = {
            let mut conn = pool.get().await?;
            max_seq(&mut conn).await?
        };
        let access = watch::Sender::new(last);
        let bus = Bus { inner: Arc::new(Inner { tx, access, inbox, last: AtomicI64::new(last), pool }) };
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

    /// Events after `after` up to `upto`, from PostgreSQL (replay for `after:` arguments).
    pub async fn replay(&self, after: i64, upto: i64) -> anyhow::Result<Vec<Event>> {
        let mut conn = self.inner.pool.get().await?;
        let mut q = Sql::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE published_seq > "));
        q.bind(Bind::Int8(after)).push(" AND published_seq <= ").bind(Bind::Int8(upto)).push(" ORDER BY published_seq");
        Ok(q.load(&mut conn).await?)
    }

    fn publish(&self, event: Event) {
        self.inner.last.store(event.seq, Ordering::SeqCst);
        if event.action == crate::domain::outbox::ACCESS {
            self.inner.access.send_replace(event.seq);
        }
        // No receivers is fine: nobody is subscribed on this instance.
        let _ = self.inner.tx.send(Arc::new(event));
    }

    /// Delivers every published event after the last delivered one, from PostgreSQL.
    async fn catch_up(&self, upto: Option<i64>) -> anyhow::Result<()> {
        loop {
            let last = self.last_seq();
            let mut conn = self.inner.pool.get().await?;
            let mut q = Sql::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE published_seq > "));
            q.bind(Bind::Int8(last));
            if let Some(u) = upto {
                q.push(" AND published_seq <= ").bind(Bind::Int8(u));
            }
            q.push(" ORDER BY published_seq LIMIT 500");
            let events: Vec<Event> = q.load(&mut conn).await?;
            drop(conn);
            let n = events.len();
            for e in events {
                if e.seq == self.last_seq() + 1 {
                    self.publish(e);
                } else {
                    // A stamped event not yet visible to this snapshot; the next round gets it.
                    return Ok(());
                }
            }
            if n < 500 {
                return Ok(());
            }
        }
    }
}

async fn max_seq(conn: &mut diesel_async::AsyncPgConnection) -> anyhow::Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct Max {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let m: Max =
        diesel::sql_query("SELECT coalesce(max(published_seq), 0) AS seq FROM events").get_result(conn).await?;
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
                if event.seq > last + 1 {
                    if let Err(e) = bus.catch_up(Some(event.seq - 1)).await {
                        tracing::warn!(error = %e, "event backfill failed; retrying on the next tick");
                        continue;
                    }
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

//! The outbox relay: one runner across all instances (a PostgreSQL advisory lock held on a
//! dedicated connection). It stamps committed events with the next `published_seq` values
//! in id order, publishes them (Redis, or the local bus without Redis) and marks them
//! published. If publishing fails it retries with backoff; stamped events are republished
//! in order, so nothing is lost and order is kept. Old events are pruned after the
//! retention period; numbering continues from a stored high-water mark, not from the
//! newest retained event, so a prune never makes numbers repeat. The same runner is the
//! counter ticker: when a deadline passes or a user's day ends it writes a COUNTERS event,
//! so counters move on every instance with no write and no per-subscription timer.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::Notify;

use super::{Bus, CHANNEL, EVENT_COLUMNS, Event, HIGH_WATER_SQL};
use crate::activity::counters;
use crate::db::sql::{Bind, Sql};
use crate::kernel::DomainError;
use crate::kernel::kinds::EventAction;

const RELAY_LOCK: i64 = 0x6b6f_6e74_7265;
const BATCH: i64 = 500;

#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub database_url: String,
    pub redis_url: Option<String>,
    /// How often to look for events when no notification arrives (a safety net: committed
    /// events notify the relay).
    pub poll: Duration,
    pub retention: chrono::Duration,
    /// How long read notifications are kept.
    pub notification_retention: chrono::Duration,
}

/// Where published events go.
enum Sink {
    Local(Bus),
    Redis { client: Box<redis::Client>, conn: Option<redis::aio::MultiplexedConnection> },
}

impl Sink {
    async fn publish(&mut self, events: &[Event]) -> anyhow::Result<()> {
        match self {
            Sink::Local(bus) => {
                for e in events {
                    bus.offer(e.clone());
                }
                Ok(())
            }
            Sink::Redis { client, conn } => {
                if conn.is_none() {
                    let c = tokio::time::timeout(Duration::from_secs(2), client.get_multiplexed_async_connection())
                        .await??;
                    *conn = Some(c);
                }
                let Some(c) = conn.as_mut() else { anyhow::bail!("no Redis connection") };
                for e in events {
                    let payload = serde_json::to_string(e)?;
                    let sent: Result<Result<usize, redis::RedisError>, _> = tokio::time::timeout(
                        Duration::from_secs(2),
                        redis::AsyncCommands::publish(c, CHANNEL, payload),
                    )
                    .await;
                    match sent {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => {
                            *conn = None;
                            return Err(err.into());
                        }
                        Err(_) => {
                            *conn = None;
                            anyhow::bail!("redis publish timed out");
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Runs forever: waits for the relay lock, then relays until its connection fails.
pub async fn run(settings: RelaySettings, bus: Bus, wake: std::sync::Arc<Notify>) {
    let mut sink = match &settings.redis_url {
        None => Sink::Local(bus),
        Some(url) => match redis::Client::open(url.as_str()) {
            Ok(client) => Sink::Redis { client: Box::new(client), conn: None },
            Err(e) => {
                tracing::error!(error = %e, "REDIS_URL is not usable; events stay in this process");
                Sink::Local(bus)
            }
        },
    };
    loop {
        if let Err(e) = hold_and_relay(&settings, &mut sink, &wake).await {
            tracing::warn!(error = %e, "outbox relay stopped; retrying");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn hold_and_relay(settings: &RelaySettings, sink: &mut Sink, wake: &Notify) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(&settings.database_url).await?;
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    loop {
        let got: Locked = diesel::sql_query(format!("SELECT pg_try_advisory_lock({RELAY_LOCK}) AS locked"))
            .get_result(&mut conn)
            .await?;
        if got.locked {
            break;
        }
        // Another instance relays; check again later in case it goes away.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tracing::info!("this instance relays the outbox");
    // Committed events on any instance notify this channel (a trigger on `events`).
    diesel::sql_query("LISTEN kontor_outbox").execute(&mut conn).await?;
    let mut backoff = Duration::from_millis(100);
    let mut last_prune = std::time::Instant::now() - Duration::from_secs(3600);
    // The counter ticker: counters move with no write when a deadline passes or a user's day
    // ends. It looks again whenever counters changed (a new deadline may come first).
    let mut last_tick = counters::last_tick(&mut conn).await.map_err(DomainError::into_anyhow)?;
    let mut next_tick = chrono::Utc::now();
    let mut recheck = true;
    loop {
        if last_prune.elapsed() > Duration::from_secs(3600) {
            prune(&mut conn, chrono::Utc::now() - settings.retention).await?;
            crate::notifications::store::prune(&mut conn, chrono::Utc::now() - settings.notification_retention)
                .await
                .map_err(DomainError::into_anyhow)?;
            last_prune = std::time::Instant::now();
        }
        let now = chrono::Utc::now();
        if recheck || now >= next_tick {
            let (users, next) = counters::passed(&mut conn, last_tick, now).await.map_err(DomainError::into_anyhow)?;
            // The deadline notifications and the tick that moves the counters, together.
            conn.transaction(async |conn| {
                crate::notifications::sources::deadlines_reached(conn, last_tick, now).await?;
                counters::record_tick(conn, users, now).await
            })
            .await
            .map_err(DomainError::into_anyhow)?;
            (last_tick, next_tick, recheck) = (now, next, false);
        }
        let pending = stamp(&mut conn).await?;
        if pending.is_empty() {
            use futures_util::StreamExt;
            // Notifications that arrive between two waits are buffered by the connection.
            let mut notified = std::pin::pin!(conn.notifications_stream());
            tokio::select! {
                n = notified.next() => {
                    if let Some(Err(e)) = n {
                        return Err(e.into());
                    }
                }
                _ = wake.notified() => {}
                _ = tokio::time::sleep(settings.poll.min(until(next_tick))) => {}
            }
            continue;
        }
        match sink.publish(&pending).await {
            Ok(()) => {
                backoff = Duration::from_millis(100);
                recheck |= pending.iter().any(|e| e.action == EventAction::Counters);
                let upto = pending.last().map(|e| e.seq).unwrap_or(0);
                let mut q =
                    Sql::new("UPDATE events SET published_at = now() WHERE published_at IS NULL AND published_seq <= ");
                q.bind(Bind::Int8(upto));
                q.execute(&mut conn).await?;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "publishing events failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// How long until `t` (a little after, so that `t` has passed on waking).
fn until(t: chrono::DateTime<chrono::Utc>) -> Duration {
    (t - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(2)
}

/// Stamps the next batch of committed events and returns every stamped event not yet
/// published, oldest first. Numbers continue from the high-water mark, which moves in the
/// same statement: both change together or not at all, so numbering stays gapless, and
/// pruning (which never touches the mark) cannot make it restart.
async fn stamp(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<Event>> {
    conn.batch_execute(&format!(
        "WITH base AS ({HIGH_WATER_SQL}), \
         next AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM events \
                  WHERE published_seq IS NULL ORDER BY id LIMIT {BATCH}), \
         stamped AS (UPDATE events e SET published_seq = base.seq + next.n FROM base, next \
                     WHERE e.id = next.id RETURNING e.published_seq) \
         UPDATE event_high_water SET seq = top.seq \
         FROM (SELECT max(published_seq) AS seq FROM stamped) top WHERE top.seq IS NOT NULL"
    ))
    .await?;
    let mut q = Sql::new(format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE published_at IS NULL AND published_seq IS NOT NULL ORDER BY published_seq LIMIT "
    ));
    q.bind(Bind::Int8(BATCH));
    Ok(q.load(conn).await?)
}

/// Deletes published events created before `cutoff` (the relay passes now minus the
/// retention period). The high-water mark stays, so numbering continues after the newest
/// event ever stamped even when nothing is left. Returns how many were deleted.
pub async fn prune(conn: &mut AsyncPgConnection, cutoff: chrono::DateTime<chrono::Utc>) -> anyhow::Result<usize> {
    let mut q = Sql::new("DELETE FROM events WHERE published_at IS NOT NULL AND created_at < ");
    q.bind(Bind::Ts(cutoff));
    let n = q.execute(conn).await?;
    if n > 0 {
        tracing::info!(events = n, "pruned old outbox events");
    }
    Ok(n)
}

/// Each instance's one Redis subscription: forwards events to the local bus, and
/// resubscribes after a drop (the bus fills what was missed from PostgreSQL).
pub async fn listen(redis_url: String, bus: Bus) {
    use futures_util::StreamExt;
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let client = redis::Client::open(redis_url.as_str())?;
            let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await??;
            pubsub.subscribe(CHANNEL).await?;
            anyhow::Ok(pubsub)
        };
        match attempt.await {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                tracing::info!("subscribed to Redis events");
                let mut stream = pubsub.into_on_message();
                while let Some(msg) = stream.next().await {
                    match serde_json::from_slice::<Event>(msg.get_payload_bytes()) {
                        Ok(event) => bus.offer(event),
                        Err(e) => tracing::warn!(error = %e, "unreadable event on Redis"),
                    }
                }
                tracing::warn!("Redis subscription dropped; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

//! The event path: the outbox relay stamps committed events with a gapless delivery order
//! (`published_seq`, continuing from a stored high-water mark so it never goes backwards)
//! and publishes them; every instance feeds them, in that order, to its
//! GraphQL subscriptions through one tokio broadcast. Redis only carries events between
//! instances: an instance that misses a message (Redis down, reconnecting) notices the gap
//! and reads the missing events from PostgreSQL, so nothing committed is lost.

pub mod access;
pub mod bus;
pub mod facts;
pub mod relay;
pub mod rounds;
pub mod subscriptions;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz};
use serde::{Deserialize, Serialize};

pub use bus::Bus;

/// The Redis channel events travel on.
pub const CHANNEL: &str = "kontor:events";

/// A published event, as subscribers see it.
#[derive(Clone, Debug, Serialize, Deserialize, QueryableByName, PartialEq)]
pub struct Event {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub element_type: String,
    #[diesel(sql_type = BigInt)]
    pub element_id: i64,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Array<Text>)]
    pub changed: Vec<String>,
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub actor_id: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// Why a subscription ended before its client unsubscribed. Nothing is skipped silently:
/// the client gets one of these as the stream's last error (`extensions.code`, and
/// `extensions.after`, the `after:` to resubscribe with) and can carry on from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// The subscriber fell `bus::SUBSCRIBER_BUFFER` events behind (it reads too slowly).
    /// Every event up to `after` was delivered or was not for it.
    Lagged { after: i64 },
    /// Events the subscription still owed were pruned (older than the retention period):
    /// the client must reload what it shows; events after `after` are still there.
    Pruned { after: i64 },
    /// Events, or what decides who may read them, could not be read (the database); every
    /// event up to `after` was delivered or was not for the subscriber.
    Unavailable { after: i64 },
}

impl Interrupted {
    pub fn code(self) -> &'static str {
        match self {
            Interrupted::Lagged { .. } => "SUBSCRIBER_TOO_SLOW",
            Interrupted::Pruned { .. } => "EVENTS_PRUNED",
            Interrupted::Unavailable { .. } => "EVENTS_UNAVAILABLE",
        }
    }

    /// The `after:` to resubscribe with.
    pub fn after(self) -> i64 {
        match self {
            Interrupted::Lagged { after } | Interrupted::Pruned { after } | Interrupted::Unavailable { after } => after,
        }
    }

    pub fn message(self) -> String {
        let after = self.after();
        match self {
            Interrupted::Lagged { .. } => format!("subscriber too slow; resubscribe with after: \"{after}\""),
            Interrupted::Pruned { .. } => format!(
                "events this subscription still owed are no longer retained; reload, then resubscribe with after: \"{after}\""
            ),
            Interrupted::Unavailable { .. } => {
                format!("events are unavailable right now; resubscribe with after: \"{after}\"")
            }
        }
    }
}

/// The newest `published_seq` ever stamped, as `seq`: the relay's high-water mark
/// (migration `event_high_water`), which pruning cannot lower. `max(published_seq)` covers
/// events stamped by an instance that predates the mark (a rolling upgrade).
pub const HIGH_WATER_SQL: &str = "SELECT greatest((SELECT seq FROM event_high_water), \
     (SELECT coalesce(max(published_seq), 0) FROM events)) AS seq";

/// Columns of `events` as an `Event`, for `SELECT … FROM events`.
pub const EVENT_COLUMNS: &str =
    "published_seq AS seq, element_type, element_id, action, changed, payload, actor_id, created_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interruption_names_where_to_resume() {
        for (why, code) in [
            (Interrupted::Lagged { after: 41 }, "SUBSCRIBER_TOO_SLOW"),
            (Interrupted::Pruned { after: 41 }, "EVENTS_PRUNED"),
            (Interrupted::Unavailable { after: 41 }, "EVENTS_UNAVAILABLE"),
        ] {
            assert_eq!(why.code(), code);
            assert_eq!(why.after(), 41);
            assert!(why.message().contains("after: \"41\""), "{}", why.message());
        }
    }
}

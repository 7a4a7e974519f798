//! The event path: the outbox relay stamps committed events with a gapless delivery order
//! (`published_seq`) and publishes them; every instance feeds them, in that order, to its
//! GraphQL subscriptions through one tokio broadcast. Redis only carries events between
//! instances: an instance that misses a message (Redis down, reconnecting) notices the gap
//! and reads the missing events from PostgreSQL, so nothing committed is lost.

pub mod access;
pub mod bus;
pub mod relay;

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

/// Columns of `events` as an `Event`, for `SELECT … FROM events`.
pub const EVENT_COLUMNS: &str =
    "published_seq AS seq, element_type, element_id, action, changed, payload, actor_id, created_at";

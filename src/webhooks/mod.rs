//! Outgoing webhooks to the Standard Webhooks specification, delivered from the outbox: at
//! least once, in order per element and endpoint, signed, retried on a schedule, and only
//! about what the endpoint's creator may read. `rules` holds the pure rules, `body` what a
//! message says, `send` the HTTP side, `fanout` turns events into deliveries, `deliver` is
//! the worker every instance runs, `store` the SQL and `api` the GraphQL surface.

pub mod api;
pub mod body;
pub mod deliver;
pub mod fanout;
pub mod rules;
pub mod send;
pub mod store;

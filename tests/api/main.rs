//! Kontor's integration tests, one module per capability, in one binary so CI links once.
//! Each test starts its own server on a free port with its own database cloned from a
//! migrated template (`common`), and talks to it over real HTTP and WebSocket connections.
//! `tests/panics.rs` stays a binary of its own: it installs a process-wide tracing
//! subscriber and panic hook that would see every other test's output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::too_many_lines)]

mod activities;
mod bad_input;
mod browser;
mod calls;
mod cli;
mod common;
mod custom_fields;
mod deal_lifecycle;
mod elements;
mod error_hygiene;
mod events;
mod first_run;
mod forms;
mod hostile;
mod http_protocol;
mod imports;
mod lead_lifecycle;
mod limits;
mod lists;
mod mail;
mod merge;
mod notifications;
mod pages_browser;
mod permissions;
mod prepared_statements;
mod requisites;
mod rights;
mod rights_matrix;
mod schema_drift;
mod search;
mod settings;
mod statements;
mod subscriptions;
mod webhooks;
mod websocket;
mod widget_browser;

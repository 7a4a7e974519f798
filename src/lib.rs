//! Kontor: a CRM server with a GraphQL API.
//!
//! Shared layers: `http` (transport), `api` (what every GraphQL slice shares), `kernel`
//! (what every capability shares), `db` (PostgreSQL). Capabilities, each with its rules,
//! its SQL and its GraphQL surface: `crm` (leads, contacts, companies, deals and what they
//! share), `activity`, `settings`, `org`, and `events` (real-time delivery).

pub mod activity;
pub mod api;
pub mod app;
pub mod config;
pub mod crm;
pub mod db;
pub mod events;
pub mod http;
pub mod import;
pub mod intake;
pub mod kernel;
pub mod notifications;
pub mod org;
pub mod search;
pub mod settings;
pub mod webhooks;

//! Kontor: a CRM server with a GraphQL API.

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;

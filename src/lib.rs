//! Kontor: a CRM server with a GraphQL API.

pub mod db;
pub mod domain;
pub mod graphql;

//! Contacts: their rules on every write and their GraphQL surface.

pub mod api;
pub mod rules;

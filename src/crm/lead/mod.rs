//! Leads: their rules on every write, status moves, junk and conversion, and their GraphQL surface.

pub mod api;
pub mod convert;
pub mod lifecycle;
pub mod lifecycle_api;
pub mod rules;

//! Deals: their rules on every write, moving, closing and reopening, the funnel, and their
//! GraphQL surface.

pub mod api;
pub mod lifecycle;
pub mod lifecycle_api;
pub mod rules;

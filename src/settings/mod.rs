//! Status lists, pipelines and stages, with their GraphQL surface.

pub mod api;
pub mod rules;

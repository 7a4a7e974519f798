//! Users, departments, API tokens, roles and their permissions, with their GraphQL surface.

pub mod api;
pub mod auth;
pub mod rules;
pub mod user_api;

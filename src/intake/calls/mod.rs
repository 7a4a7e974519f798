//! Calls reported by a telephone system: registration and finishing (`rules`), GraphQL and
//! the screen-pop subscription (`api`).

pub mod api;
pub mod rules;

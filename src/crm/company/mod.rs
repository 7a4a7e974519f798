//! Companies: their rules on every write, requisites and bank accounts, our own company, and
//! their GraphQL surface.

pub mod api;
pub mod requisites;
pub mod requisites_api;
pub mod rules;

//! The search box: one query across leads, contacts, companies and deals by name, title,
//! e-mail or phone, forgiving accents, case and misspellings, ranked, and only over what the
//! caller may read. `rules` decides what a query looks for (pure), `store` runs one
//! statement per element type over generated columns and indexes PostgreSQL keeps current
//! in every writing transaction, `api` is the GraphQL field.

pub mod api;
pub mod rules;
pub mod store;

//! Web forms: definitions (`rules`, `store`, GraphQL in `api`), the public endpoints and the
//! widget (`http`), the pages they serve (`page`), and what a submission does (`submit`).

pub mod api;
pub mod http;
pub mod page;
pub mod rules;
pub mod store;
pub mod submit;

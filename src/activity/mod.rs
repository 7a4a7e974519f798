//! Activities (calls, meetings, tasks, e-mails, comments bound to elements) and the activity
//! counters, with their GraphQL surface.

pub mod api;
pub mod counters;
pub mod rules;

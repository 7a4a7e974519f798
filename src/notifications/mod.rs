//! Notifications: a per-user feed ("you were assigned a deal", "this call was missed", "a
//! deadline was reached") written in the transaction of the change that causes it, never to
//! the user who caused it and only about elements the recipient may read, pushed live by
//! `notificationAdded` and counted in `Counters.unreadNotifications`. `rules` holds the pure
//! rules (kinds, mentions), `store` the SQL, `sources` what each cause writes, `api` the
//! GraphQL surface.

pub mod api;
pub mod rules;
pub mod sources;
pub mod store;

//! PostgreSQL access: the pool, the generated table macros, the dynamic SQL builder, start-up
//! (database creation, migrations) and the statement counter behind `/metrics`.

pub mod local;
pub mod pool;
pub mod schema;
pub mod seed;
pub mod setup;
pub mod sql;

pub use pool::{Conn, Pool, StatementCounter};

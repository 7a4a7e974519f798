//! The deadpool pool of diesel-async connections. Every connection counts the statements it
//! runs (exposed on `/metrics`, asserted by the statement-count test) and carries a
//! `statement_timeout`, so a runaway query cannot hold a connection forever. A connection
//! that has prepared `MAX_PREPARED_PER_CONNECTION` statements is retired, which bounds what
//! its PostgreSQL backend holds.

use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

pub type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
pub type Conn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// Counts SQL statements started on the pool's connections (`kontor_sql_statements_total`).
pub type StatementCounter = prometheus_client::metrics::counter::Counter;

/// How many statements one pooled connection may prepare before it is retired (closed at
/// its next checkout and replaced by a fresh one). diesel keeps every statement it prepares
/// for the life of the connection, and PostgreSQL keeps its parse tree and plans in the
/// backend; list queries are prepared per SQL shape (filter fields and operators, nesting,
/// orderings), so a client sending ever new filter shapes would otherwise grow every
/// backend's memory without limit. Kontor's own statements number a few hundred shapes, so
/// ordinary traffic does not churn connections. A request that starts on a connection below
/// the limit finishes on it, so a backend holds at most this many plus one request's.
pub const MAX_PREPARED_PER_CONNECTION: usize = 500;

struct CountingInstrumentation {
    statements: StatementCounter,
    /// Statements this connection has prepared (and diesel has cached).
    prepared: usize,
}

impl Instrumentation for CountingInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                self.statements.inc();
                // `RUST_LOG=kontor::sql=debug` prints every statement, to see which one a request adds.
                tracing::debug!(target: "kontor::sql", "{query}");
            }
            InstrumentationEvent::CacheQuery { .. } => self.prepared += 1,
            _ => {}
        }
    }
}

/// Whether a connection has prepared its share of statements (`MAX_PREPARED_PER_CONNECTION`).
fn worn_out(conn: &mut AsyncPgConnection) -> bool {
    conn.instrumentation()
        .downcast_ref::<CountingInstrumentation>()
        .is_some_and(|i| i.prepared >= MAX_PREPARED_PER_CONNECTION)
}

#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_size: usize,
    pub wait_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_size: 16, wait_timeout: Duration::from_secs(10), statement_timeout: Duration::from_secs(30) }
    }
}

pub fn build(database_url: &str, settings: &PoolSettings, counter: StatementCounter) -> anyhow::Result<Pool> {
    let statement_timeout_ms = settings.statement_timeout.as_millis();
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    // Connections are only checked for an open transaction on checkout; a `SELECT 1` per
    // checkout would double the statements of small requests.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let counter = counter.clone();
        async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(&format!(
                "SET statement_timeout = {statement_timeout_ms}; SET TIME ZONE 'UTC'; SET jit = off"
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            conn.set_instrumentation(CountingInstrumentation { statements: counter, prepared: 0 });
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::new_with_config(database_url, config);
    let pool = Pool::builder(manager)
        .max_size(settings.max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(Duration::from_secs(10)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        // Checked on checkout, before the connection is handed out; a retired one is closed
        // (its statements go with its backend) and the pool takes or opens another.
        .pre_recycle(diesel_async::pooled_connection::deadpool::Hook::sync_fn(|conn, _| {
            if worn_out(conn) {
                tracing::debug!(
                    limit = MAX_PREPARED_PER_CONNECTION,
                    "retiring a connection that prepared its share of statements"
                );
                return Err(deadpool::managed::HookError::Message("prepared-statement limit reached".into()));
            }
            Ok(())
        }))
        .build()?;
    Ok(pool)
}

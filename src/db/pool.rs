//! The deadpool pool of diesel-async connections. Every connection counts the statements it
//! runs (exposed on `/metrics`, asserted by the statement-count test) and carries a
//! `statement_timeout`, so a runaway query cannot hold a connection forever.

use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

pub type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
pub type Conn = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// Counts SQL statements started on the pool's connections (`kontor_sql_statements_total`).
pub type StatementCounter = prometheus_client::metrics::counter::Counter;

struct CountingInstrumentation(StatementCounter);

impl Instrumentation for CountingInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            self.0.inc();
            // `RUST_LOG=kontor::sql=debug` prints every statement, to see which one a request adds.
            tracing::debug!(target: "kontor::sql", "{query}");
        }
    }
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
            conn.set_instrumentation(CountingInstrumentation(counter));
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
        .build()?;
    Ok(pool)
}

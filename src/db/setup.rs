//! Start-up: create the database if missing and run the embedded migrations. Both are safe
//! when several servers start at once.

use diesel::RunQueryDsl as _;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory lock key that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x6b6f_6e74_6f72;

/// The URL with its password replaced, safe to print.
pub fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn database_name(url: &str) -> Option<(String, String)> {
    let mut u = url::Url::parse(url).ok()?;
    let name = u.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        return None;
    }
    u.set_path("/postgres");
    Some((name, u.to_string()))
}

/// Connects once to check reachability, creating the database when it does not exist.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    match AsyncPgConnection::establish(url).await {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("does not exist") => {
            let (name, admin_url) = database_name(url)
                .ok_or_else(|| anyhow::anyhow!("cannot tell the database name from {}", mask_password(url)))?;
            let mut admin = AsyncPgConnection::establish(&admin_url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL at {}: {e}", mask_password(&admin_url)))?;
            let quoted = name.replace('"', "\"\"");
            match admin.batch_execute(&format!("CREATE DATABASE \"{quoted}\"")).await {
                Ok(()) => {
                    tracing::info!(database = %name, "created database");
                    Ok(())
                }
                // Another server created it first.
                Err(e) if e.to_string().contains("already exists") => Ok(()),
                Err(e) => Err(anyhow::anyhow!("cannot create database {name}: {e}")),
            }
        }
        Err(e) => Err(anyhow::anyhow!("cannot reach PostgreSQL at {}: {e}", mask_password(url))),
    }
}

/// Runs pending migrations under an advisory lock; returns how many ran.
pub async fn migrate(url: &str) -> anyhow::Result<usize> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn: AsyncConnectionWrapper<AsyncPgConnection> = diesel::Connection::establish(&url)
            .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", mask_password(&url)))?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
        let result = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
        result
    })
    .await?
}

/// Database creation, migrations and default settings: what `serve` and `migrate` do.
pub async fn prepare(url: &str) -> anyhow::Result<()> {
    ensure_database(url).await?;
    let ran = migrate(url).await?;
    if ran > 0 {
        tracing::info!(migrations = ran, "database migrated");
    }
    let mut conn = AsyncPgConnection::establish(url).await?;
    crate::settings::rules::ensure_defaults(&mut conn).await.map_err(|e| anyhow::anyhow!("seeding defaults: {e:?}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(mask_password("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(mask_password("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn finds_database_name() {
        let (name, admin) = database_name("postgres://u@h:5432/kontor?sslmode=disable").unwrap();
        assert_eq!(name, "kontor");
        assert_eq!(admin, "postgres://u@h:5432/postgres?sslmode=disable");
    }
}

//! Wiring: configuration → database → pool → schema → router → listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, ApiState};
use crate::config::Global;
use crate::db::{StatementCounter, pool, setup};
use crate::events;
use crate::http::{self, AppState, HttpSettings};
use crate::org::auth;

/// Logs every panic with where it happened, through the same log as everything else. The
/// request or WebSocket operation it happened in is answered with an internal error
/// (`http::catch_panic`); the log is where the cause is found.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
        tracing::error!(target: "kontor::panic", %thread, %location, "panicked at {location}: {message}");
    }));
}

/// Prepares the database and builds the application state.
pub async fn build(global: &Global) -> anyhow::Result<AppState> {
    setup::prepare(global.database_url()).await?;
    let statements = StatementCounter::default();
    let settings = pool::PoolSettings { max_size: global.db_pool_size, ..Default::default() };
    let pool = pool::build(global.database_url(), &settings, statements.clone())?;
    let phone_region = global.phone_region()?;
    // The bus has its own small pool: its background reads must not compete with requests
    // or show up in the request statement counter.
    let event_pool = pool::build(
        global.database_url(),
        &pool::PoolSettings { max_size: 4, ..Default::default() },
        StatementCounter::default(),
    )?;
    let bus = events::Bus::start(event_pool, Duration::from_secs(1)).await?;
    let wake = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(events::relay::run(
        events::relay::RelaySettings {
            database_url: global.database_url().to_owned(),
            redis_url: global.redis_url.clone(),
            poll: Duration::from_secs(1),
            retention: chrono::Duration::days(global.event_retention_days.max(1)),
            notification_retention: chrono::Duration::days(global.notification_retention_days.max(1)),
        },
        bus.clone(),
        wake.clone(),
    ));
    if let Some(url) = &global.redis_url {
        tokio::spawn(events::relay::listen(url.clone(), bus.clone()));
    }
    {
        // An import whose instance stopped left its job RUNNING; a batch touches the job at
        // least every few seconds, so ten silent minutes mean it is gone.
        let mut conn = pool.get().await?;
        let abandoned = crate::import::job::fail_abandoned(&mut conn, 600).await.map_err(|e| e.into_anyhow())?;
        if abandoned > 0 {
            tracing::warn!(abandoned, "import jobs left running by a stopped server are marked FAILED");
        }
    }
    let webhooks = crate::webhooks::send::Sender::new(crate::webhooks::send::Settings {
        allow_private: global.webhook_allow_private,
        timeout: Duration::from_secs(global.webhook_timeout_secs.max(1)),
    })?;
    let webhook_pool = pool::build(
        global.database_url(),
        &pool::PoolSettings { max_size: 4, ..Default::default() },
        StatementCounter::default(),
    )?;
    tokio::spawn(crate::webhooks::deliver::run(
        webhook_pool,
        webhooks.clone(),
        bus.clone(),
        chrono::Duration::days(global.event_retention_days.max(1)),
    ));
    let public_url = global.public_url();
    let schema = api::build_schema(ApiState { pool: pool.clone(), phone_region, public_url, webhooks }, bus.clone());
    Ok(AppState {
        schema,
        pool,
        bus,
        rechecks: events::access::Rechecks::default(),
        statements,
        wake,
        settings: Arc::new(HttpSettings {
            body_limit: global.body_limit,
            upload_limit: global.upload_limit,
            request_timeout: Duration::from_secs(global.request_timeout_secs),
            cors_origins: global.cors_origins.clone(),
            dataloader_delay: Duration::from_micros(global.dataloader_delay_us),
            phone_region,
            forms: crate::intake::forms::http::Limits::new(global.form_rate_per_ip, global.form_rate_per_form),
            mail_attachment_limit: global.mail_attachment_limit,
        }),
    })
}

/// On a fresh installation, creates the first admin and prints its token once.
async fn announce_first_admin(state: &AppState, addr: SocketAddr) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    if let Some((admin, token)) =
        auth::bootstrap_admin(&mut conn).await.map_err(crate::kernel::DomainError::into_anyhow)?
    {
        println!("Created the first administrator {} with this API token (shown only once):", admin.email);
        println!("  {token}");
        println!("GraphiQL: http://{addr}/  (send the header  Authorization: Bearer <token>)");
        println!("Dashboard: http://{addr}/dashboard  (sign in with the token)");
    }
    Ok(())
}

/// Binds and serves until the process is interrupted.
pub async fn serve(global: &Global) -> anyhow::Result<()> {
    let state = build(global).await?;
    let listener = TcpListener::bind(global.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", global.listen))?;
    let addr = listener.local_addr()?;
    announce_first_admin(&state, addr).await?;
    tracing::info!(%addr, "Kontor listening; GraphiQL at http://{addr}/");
    axum::serve(listener, http::router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Serves on an already bound listener in the background (tests, benchmarks).
pub fn spawn(listener: TcpListener, state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, http::router(state).into_make_service_with_connect_info::<SocketAddr>()).await;
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

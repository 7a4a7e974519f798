//! HTTP: the pages (GraphiQL, dashboard, notification widget), GraphQL over HTTP (GET and POST, both response media types), the
//! WebSocket endpoint (graphql-transport-ws and legacy graphql-ws), health and metrics.

mod graphql;
mod imports;
pub(crate) mod pages;
mod ws_guard;

pub use ws_guard::{CONNECTION_INIT_TIMEOUT, MAX_SUBSCRIPTIONS};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::api::AppSchema;
use crate::db::{Pool, StatementCounter};

#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub body_limit: usize,
    /// Largest multipart request (a file upload); other bodies stay within `body_limit`.
    pub upload_limit: usize,
    pub request_timeout: Duration,
    /// Allowed CORS origins; `*` allows any.
    pub cors_origins: Vec<String>,
    pub dataloader_delay: Duration,
    /// For filters on phone numbers outside GraphQL (exports) and web form answers.
    pub phone_region: phonenumber::country::Id,
    /// Rate limits of the public web form endpoints.
    pub forms: crate::intake::forms::http::Limits,
    /// Largest inbound e-mail attachment stored with its bytes; larger ones keep name and size.
    pub mail_attachment_limit: usize,
}

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub pool: Pool,
    /// This instance's events; WebSocket connections watch it for access changes.
    pub bus: crate::events::Bus,
    pub rechecks: crate::events::access::Rechecks,
    pub statements: StatementCounter,
    /// Wakes the outbox relay after a mutation commits.
    pub wake: Arc<tokio::sync::Notify>,
    pub settings: Arc<HttpSettings>,
}

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/imports/{id}/errors.csv", get(imports::errors_csv))
        .route("/export/{file}", get(imports::export_csv))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(pages::routes())
        // A message with attachments is larger than the 2 MB an extractor takes by default.
        .route(
            "/mail/inbound",
            axum::routing::post(crate::intake::mail::http::inbound)
                .layer(axum::extract::DefaultBodyLimit::max(settings.upload_limit)),
        )
        .layer(cors(&settings.cors_origins))
        // Web forms decide cross-origin access per form, so they join after the CORS layer.
        .merge(crate::intake::forms::http::routes())
        .layer(RequestBodyLimitLayer::new(settings.body_limit.max(settings.upload_limit)))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(catch_panic))
        .with_state(state)
}

/// Ends a request that panicked with a 500 and a GraphQL error body, instead of a connection
/// closed without an answer. Resolvers run inside the handler's future, so their panics are
/// caught here too; the panic hook (`app::install_panic_hook`) has logged where it happened.
pub async fn catch_panic(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("a request panicked; answered 500");
            let body = serde_json::json!({
                "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL_SERVER_ERROR" } }]
            });
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Says ready or not and nothing more: the cause (which may name hosts, users or database
/// internals) goes to the log, not to whoever can reach the endpoint.
async fn readyz(State(state): State<AppState>) -> Response {
    use diesel_async::RunQueryDsl;
    let check = async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
        Err(_) => {
            tracing::warn!("not ready: the database check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut registry = Registry::default();
    registry.register("kontor_sql_statements", "SQL statements started", state.statements.clone());
    let status = state.pool.status();
    let size: Gauge = Gauge::default();
    size.set(status.size as i64);
    registry.register("kontor_db_pool_connections", "Open database connections", size);
    let available: Gauge = Gauge::default();
    available.set(status.available as i64);
    registry.register("kontor_db_pool_available", "Idle database connections", available);
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

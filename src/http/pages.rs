//! The pages a person opens, every byte embedded in the binary so they work on a network
//! without internet access: GraphiQL at `/` (vendored release files under `assets/graphiql`,
//! refreshed by `assets/graphiql/update.sh`), the live sales dashboard at `/dashboard` and
//! the embeddable notification widget at `/embed/notifications.js`. The dashboard and the
//! widget use only the public GraphQL API, through one small client (`assets/client.js`).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
pub(crate) const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Kontor's own files change with the binary: browsers ask again each time (they are small).
const REVALIDATE: &str = "no-cache";
/// Vendored release files change only when `update.sh` runs and the binary is rebuilt.
const VENDORED: &str = "public, max-age=86400";

const CLIENT_JS: &str = include_str!("../../assets/client.js");

/// The widget is one script with no dependency: the shared client and the widget in one
/// closure, so neither adds a global to the host page.
const NOTIFICATIONS_JS: &str = concat!(
    "(function () {\n",
    include_str!("../../assets/client.js"),
    "\n",
    include_str!("../../assets/notifications.js"),
    "\n})();\n"
);

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { file(HTML, REVALIDATE, include_bytes!("../../assets/graphiql.html")) }))
        .route("/assets/graphiql/{file}", get(graphiql_asset))
        .route("/dashboard", get(dashboard))
        .route("/dashboard/", get(dashboard))
        .route("/dashboard/{file}", get(dashboard_asset))
        .route("/embed/notifications.js", get(|| async { file(JS, REVALIDATE, NOTIFICATIONS_JS.as_bytes()) }))
}

/// One embedded file with its type; `nosniff` so a browser never reads it as anything else.
pub fn file(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn graphiql_asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "graphiql.min.js" => file(JS, VENDORED, include_bytes!("../../assets/graphiql/graphiql.min.js")),
        "graphiql.min.css" => file(CSS, VENDORED, include_bytes!("../../assets/graphiql/graphiql.min.css")),
        "react.production.min.js" => {
            file(JS, VENDORED, include_bytes!("../../assets/graphiql/react.production.min.js"))
        }
        "react-dom.production.min.js" => {
            file(JS, VENDORED, include_bytes!("../../assets/graphiql/react-dom.production.min.js"))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The page keeps an API token in the browser's storage, so it allows nothing but its own
/// scripts, styles and API: an injected script or a redirected form has nowhere to go.
const DASHBOARD_CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

async fn dashboard() -> Response {
    let mut page = file(HTML, REVALIDATE, include_bytes!("../../assets/dashboard/index.html"));
    let headers = page.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(DASHBOARD_CSP));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    page
}

async fn dashboard_asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "dashboard.js" => file(JS, REVALIDATE, include_bytes!("../../assets/dashboard/dashboard.js")),
        "dashboard.css" => file(CSS, REVALIDATE, include_bytes!("../../assets/dashboard/dashboard.css")),
        "client.js" => file(JS, REVALIDATE, CLIENT_JS.as_bytes()),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

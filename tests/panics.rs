//! A panic while serving a request ends that request with a 500 and a GraphQL error body,
//! is logged with where it happened, and leaves the server running. No production path
//! is known to panic, so this drives the same layer (`kontor::http::catch_panic`) on a small
//! router: a handler that panics, and a GraphQL resolver that panics inside the handler.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

struct Query;

/// Panics; a plain function so the resolver does not look unreachable to the compiler.
fn explode() -> i32 {
    panic!("a resolver panicked on purpose")
}

#[Object]
impl Query {
    async fn fine(&self) -> i32 {
        1
    }

    async fn boom(&self) -> i32 {
        tokio::task::yield_now().await;
        explode()
    }
}

fn handler_explodes() -> &'static str {
    panic!("a handler panicked on purpose")
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_becomes_a_500_with_a_graphql_error_and_the_server_goes_on() {
    let log = Capture(Arc::default());
    let writer = log.clone();
    tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).init();
    kontor::app::install_panic_hook();

    let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
    let app = Router::new()
        .route(
            "/graphql",
            post(move |body: String| {
                let schema = schema.clone();
                async move { axum::Json(schema.execute(body).await) }
            }),
        )
        .route(
            "/handler",
            get(|| async {
                tokio::task::yield_now().await;
                handler_explodes()
            }),
        )
        .layer(axum::middleware::from_fn(kontor::http::catch_panic));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let expected =
        json!({ "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL_SERVER_ERROR" } }] });
    for _ in 0..3 {
        let resp =
            client.get(format!("http://{addr}/handler")).send().await.expect("an answer, not a dropped connection");
        assert_eq!(resp.status(), 500);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        assert_eq!(resp.json::<Value>().await.unwrap(), expected);

        let resp = client.post(format!("http://{addr}/graphql")).body("{ fine boom }").send().await.expect("an answer");
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.json::<Value>().await.unwrap(), expected);

        let resp = client.post(format!("http://{addr}/graphql")).body("{ fine }").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({ "data": { "fine": 1 } }));
    }
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("panicked at tests/panics.rs:"), "{log}");
    assert!(log.contains("a resolver panicked on purpose") && log.contains("a handler panicked on purpose"), "{log}");
}

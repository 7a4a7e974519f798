//! The WebSocket endpoint speaks graphql-transport-ws and the legacy graphql-ws protocol,
//! with the token in the `connection_init` payload.

use crate::common;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &TestServer, protocol: &str) -> Ws {
    let mut req = format!("ws://{}/graphql", s.addr).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), protocol);
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Next JSON message, skipping keep-alives; None when the server closed.
async fn recv(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg =
            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.expect("a message in time")?;
        match msg.ok()? {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ka" || v["type"] == "ping" {
                    continue;
                }
                return Some(v);
            }
            Message::Close(frame) => return Some(json!({ "type": "close", "code": frame.map(|f| u16::from(f.code)) })),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn graphql_transport_ws_runs_operations_after_auth() {
    let s = TestServer::start().await;
    let mut ws = connect(&s, "graphql-transport-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", s.token) } }))
        .await;
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "connection_ack");
    send(&mut ws, json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ me { email } }" } })).await;
    let next = recv(&mut ws).await.unwrap();
    assert_eq!(next["type"], "next");
    assert_eq!(next["payload"]["data"]["me"]["email"], "admin@test.local");
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "complete");
}

#[tokio::test]
async fn legacy_graphql_ws_runs_operations_after_auth() {
    let s = TestServer::start().await;
    let mut ws = connect(&s, "graphql-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", s.token) } }))
        .await;
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "connection_ack");
    send(&mut ws, json!({ "id": "7", "type": "start", "payload": { "query": "mutation { createCompany(input: { title: \"Via WS\" }) { title } }" } })).await;
    let data = recv(&mut ws).await.unwrap();
    assert_eq!(data["type"], "data");
    assert_eq!(data["payload"]["data"]["createCompany"]["title"], "Via WS");
}

#[tokio::test]
async fn a_bad_token_is_refused() {
    let s = TestServer::start().await;
    let mut ws = connect(&s, "graphql-transport-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": "Bearer kontor_nope" } })).await;
    let msg = recv(&mut ws).await.expect("a close frame");
    assert_eq!(msg["type"], "close");
    assert_eq!(msg["code"], 4401, "{msg}");

    let mut ws = connect(&s, "graphql-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    let msg = recv(&mut ws).await.unwrap();
    assert_eq!(msg["type"], "connection_error", "{msg}");
}

async fn init(ws: &mut Ws, token: &str) {
    send(ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(recv(ws).await.unwrap()["type"], "connection_ack");
}

#[tokio::test]
async fn a_message_over_the_body_limit_closes_the_socket_with_1009() {
    let limit = 64 * 1024;
    let s = TestServer::start_with(|g| g.body_limit = limit).await;
    let mut ws = connect(&s, "graphql-transport-ws").await;
    init(&mut ws, &s.token).await;
    // Under the limit: an ordinary, if long, operation.
    let query = format!("{{ me {{ email }} }} # {}", "x".repeat(limit - 200));
    send(&mut ws, json!({ "id": "1", "type": "subscribe", "payload": { "query": query } })).await;
    let next = recv(&mut ws).await.unwrap();
    assert_eq!(next["payload"]["data"]["me"]["email"], "admin@test.local", "{next}");
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "complete");
    // Over it: the socket closes with "message too big".
    let query = format!("{{ me {{ email }} }} # {}", "x".repeat(limit));
    send(&mut ws, json!({ "id": "2", "type": "subscribe", "payload": { "query": query } })).await;
    let msg = recv(&mut ws).await.expect("a close frame");
    assert_eq!(msg, json!({ "type": "close", "code": 1009 }));
}

const CHANGES: &str = "subscription { elementChanged { eventId elementId } }";

fn subscribe(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } })
}

/// The ids of the next `n` `next` messages.
async fn next_ids(ws: &mut Ws, n: usize) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < n {
        let msg = recv(ws).await.unwrap();
        assert_eq!(msg["type"], "next", "{msg}");
        ids.insert(msg["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn a_connection_runs_at_most_100_subscriptions() {
    let max = kontor::http::MAX_SUBSCRIPTIONS;
    let s = TestServer::start().await;
    let mut ws = connect(&s, "graphql-transport-ws").await;
    init(&mut ws, &s.token).await;
    // Subscriptions that fail validation end at once and hold no slot.
    for i in 0..max {
        send(&mut ws, subscribe(&format!("bad{i}"), "subscription { nope }")).await;
        let msg = recv(&mut ws).await.unwrap();
        assert!(msg["payload"]["errors"].is_array(), "{msg}");
        assert_eq!(recv(&mut ws).await.unwrap()["type"], "complete");
    }
    for i in 0..max {
        send(&mut ws, subscribe(&format!("s{i}"), CHANGES)).await;
    }
    send(&mut ws, subscribe("over", CHANGES)).await;
    let msg = recv(&mut ws).await.unwrap();
    assert_eq!(msg["type"], "error", "{msg}");
    assert_eq!(msg["id"], "over");
    assert_eq!(msg["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS", "{msg}");
    // Queries still run beside them, and the others go on.
    send(&mut ws, subscribe("q", "{ me { email } }")).await;
    assert_eq!(recv(&mut ws).await.unwrap()["id"], "q");
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "complete");
    s.ok("mutation { createCompany(input: { title: \"First\" }) { id } }", json!({})).await;
    let ids = next_ids(&mut ws, max).await;
    assert_eq!(ids, (0..max).map(|i| format!("s{i}")).collect());
    // A stopped subscription frees its slot.
    send(&mut ws, json!({ "id": "s0", "type": "complete" })).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({ "id": "s0", "type": "complete" }));
    send(&mut ws, subscribe("s100", CHANGES)).await;
    // Messages are handled in order: a refusal of s100 would come before this answer.
    send(&mut ws, subscribe("q2", "{ me { email } }")).await;
    let msg = recv(&mut ws).await.unwrap();
    assert_eq!((msg["id"].as_str(), msg["type"].as_str()), (Some("q2"), Some("next")), "{msg}");
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "complete");
    s.ok("mutation { createCompany(input: { title: \"Second\" }) { id } }", json!({})).await;
    let ids = next_ids(&mut ws, max).await;
    assert_eq!(ids, (1..=max).map(|i| format!("s{i}")).collect());
}

#[tokio::test]
async fn connection_init_must_come_in_time() {
    let s = TestServer::start().await;
    let mut silent = connect(&s, "graphql-transport-ws").await;
    let mut legacy = connect(&s, "graphql-ws").await;
    let mut ready = connect(&s, "graphql-transport-ws").await;
    init(&mut ready, &s.token).await;
    let wait = kontor::http::CONNECTION_INIT_TIMEOUT + std::time::Duration::from_secs(30);
    for ws in [&mut silent, &mut legacy] {
        let frame = tokio::time::timeout(wait, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    other => panic!("the socket ended without a close frame: {other:?}"),
                }
            }
        })
        .await
        .expect("the server closes a silent socket");
        assert_eq!(frame, Some(4408));
    }
    // The initialised socket goes on.
    send(&mut ready, subscribe("1", "{ me { email } }")).await;
    let next = recv(&mut ready).await.unwrap();
    assert_eq!(next["payload"]["data"]["me"]["email"], "admin@test.local", "{next}");
}

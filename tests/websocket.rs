//! The WebSocket endpoint speaks graphql-transport-ws and the legacy graphql-ws protocol,
//! with the token in the `connection_init` payload.

mod common;

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

//! GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): status codes follow the
//! media type the client accepts, so `application/graphql-response+json` clients get 4xx
//! for requests that never ran, while legacy `application/json` clients get 200.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Request, ServerError};
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use super::{AppState, ws_guard};
use crate::api::current_rights::Session;
use crate::api::loaders::{RequestLoader, request_loader};
use crate::api::{cost, guard};
use crate::events::access;
use crate::kernel::{Actor, DomainError};
use crate::org::auth;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponse,
    Json,
}

impl MediaType {
    fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response media type from `Accept`; None when the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Some(MediaType::GraphqlResponse)
    } else if types.iter().any(|t| *t == JSON || *t == "*/*" || *t == "application/*") {
        Some(MediaType::Json)
    } else {
        None
    }
}

fn error_body(message: &str, code: &str) -> Json {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

fn reply(status: StatusCode, media: MediaType, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, media.content_type())], bytes).into_response()
}

/// A request that never ran (malformed body or parameters, a document that does not parse or
/// breaks a limit): 400 for graphql-response+json, 200 with `errors` for application/json,
/// as the GraphQL-over-HTTP spec asks.
fn request_error(media: MediaType, errors: &[ServerError]) -> Response {
    reply(request_error_status(media), media, &json!({ "errors": errors }))
}

fn request_error_status(media: MediaType) -> StatusCode {
    if media == MediaType::GraphqlResponse { StatusCode::BAD_REQUEST } else { StatusCode::OK }
}

fn bad_request(media: MediaType, message: &str) -> Response {
    reply(request_error_status(media), media, &error_body(message, "BAD_REQUEST"))
}

/// The GraphQL request in a POST body, each parameter checked for its type.
fn graphql_request(value: Json) -> Result<Request, String> {
    let Json::Object(mut body) = value else {
        return Err("the body must be a JSON object with a `query`".into());
    };
    let query = match body.remove("query") {
        Some(Json::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("`query` is required".into()),
    };
    let mut request = Request::new(query);
    match body.remove("operationName") {
        None | Some(Json::Null) => {}
        Some(Json::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    }
    match body.remove("variables") {
        None | Some(Json::Null) => {}
        Some(v @ Json::Object(_)) => request = request.variables(variables(v)?),
        Some(_) => return Err("`variables` must be a JSON object".into()),
    }
    // Kontor reads no request extensions, but a malformed map is still a malformed request.
    match body.remove("extensions") {
        None | Some(Json::Null | Json::Object(_)) => {}
        Some(_) => return Err("`extensions` must be a JSON object".into()),
    }
    Ok(request)
}

fn variables(v: Json) -> Result<async_graphql::Variables, String> {
    if guard::json_too_deep(&v, guard::MAX_VARIABLE_DEPTH) {
        return Err(guard::variables_error().message);
    }
    Ok(async_graphql::Variables::from_json(v))
}

pub(super) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Actor, DomainError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| DomainError::Unauthenticated("send `Authorization: Bearer <token>`".into()))?;
    let mut conn = state.pool.get().await?;
    auth::actor_for_token(&mut conn, token).await
}

fn unauthenticated(media: MediaType, e: DomainError) -> Response {
    e.log_internal("authentication failed");
    let code = e.code();
    let status = if code == "UNAUTHENTICATED" { StatusCode::UNAUTHORIZED } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut resp = reply(status, media, &error_body(&e.message(), code));
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    resp
}

fn loader(state: &AppState, actor: &Actor, cache: bool) -> RequestLoader {
    request_loader(state.pool.clone(), actor.clone(), state.settings.dataloader_delay, cache)
}

/// Per-connection data of a WebSocket (per-request data of HTTP goes on the request). The
/// loader outlives single operations here, so it must not cache.
fn connection_data(state: &AppState, actor: Actor) -> Data {
    let mut data = Data::default();
    data.insert(loader(state, &actor, false));
    data.insert(actor);
    data
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    media: MediaType,
    mut request: Request,
    is_get: bool,
) -> Response {
    // Before authentication: the text check is what keeps an anonymous document from
    // overflowing the parser's stack.
    let doc = match guard::check_request(&request) {
        Ok(doc) => doc,
        Err(e) => return request_error(media, &[e]),
    };
    let is_mutation = guard::operation_type(&doc, request.operation_name.as_deref()) == Some(OperationType::Mutation);
    if is_mutation && is_get {
        let mut resp =
            reply(StatusCode::METHOD_NOT_ALLOWED, media, &error_body("mutations need POST", "METHOD_NOT_ALLOWED"));
        resp.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return resp;
    }
    let actor = match authenticate(state, headers).await {
        Ok(a) => a,
        Err(e) => return unauthenticated(media, e),
    };
    request.set_parsed_query(doc);
    // Mutation fields run one after another and change rows, so a cache would answer a later
    // field with what an earlier one read; queries cache (prefetching relies on it).
    let request = request.data(loader(state, &actor, !is_mutation)).data(actor);
    let mut response = state.schema.execute(request).await;
    cost::explain_limits(&mut response);
    if is_mutation {
        state.wake.notify_one();
    }
    // Errors without a path happened before execution (validation, limits): the request
    // never ran, which graphql-response+json reports as 400 and without `data`.
    let never_ran = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status =
        if never_ran && media == MediaType::GraphqlResponse { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    // Serialised straight from the response so fields keep the order the query asked for.
    let bytes = if never_ran {
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    let bytes = bytes.unwrap_or_else(|_| {
        serde_json::to_vec(&error_body("serialisation failed", "INTERNAL_SERVER_ERROR")).unwrap_or_default()
    });
    (status, [(header::CONTENT_TYPE, media.content_type())], bytes).into_response()
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let Some(media) = negotiate(&headers) else {
        return (StatusCode::NOT_ACCEPTABLE, "accept application/graphql-response+json or application/json")
            .into_response();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().map(str::trim).unwrap_or("");
    if essence.eq_ignore_ascii_case("multipart/form-data") {
        return multipart(&state, &headers, media, content_type, body).await;
    }
    if essence != JSON {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            &error_body(
                "send the request as application/json (or multipart/form-data with a file)",
                "UNSUPPORTED_MEDIA_TYPE",
            ),
        );
    }
    let body: Bytes = match axum::body::to_bytes(body, state.settings.body_limit).await {
        Ok(b) => b,
        Err(_) => return too_large(media, state.settings.body_limit),
    };
    let value: Json = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(media, &format!("the body is not valid JSON: {e}")),
    };
    let request = match graphql_request(value) {
        Ok(r) => r,
        Err(message) => return bad_request(media, &message),
    };
    execute(&state, &headers, media, request, false).await
}

fn too_large(media: MediaType, limit: usize) -> Response {
    reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        media,
        &error_body(&format!("the request body is larger than {limit} bytes"), "PAYLOAD_TOO_LARGE"),
    )
}

/// A GraphQL multipart request (a file upload, as Apollo and urql upload clients send it).
/// The caller is authenticated before the body is read, so an anonymous client cannot make
/// the server take in a large file.
async fn multipart(
    state: &AppState,
    headers: &HeaderMap,
    media: MediaType,
    content_type: &str,
    body: axum::body::Body,
) -> Response {
    if let Err(e) = authenticate(state, headers).await {
        return unauthenticated(media, e);
    }
    let limit = state.settings.upload_limit;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(media, limit);
    }
    use futures_util::TryStreamExt;
    let reader = body.into_data_stream().map_err(std::io::Error::other).into_async_read();
    let options = async_graphql::http::MultipartOptions::default().max_file_size(limit).max_num_files(1);
    match async_graphql::http::receive_body(Some(content_type), reader, options).await {
        Ok(request) => execute(state, headers, media, request, false).await,
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => too_large(media, limit),
        Err(e) => bad_request(media, &format!("the multipart request is malformed: {e}")),
    }
}

pub async fn get(State(state): State<AppState>, parts: Parts) -> Response {
    let mut parts = parts;
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket(state, &mut parts).await;
    }
    let headers = parts.headers.clone();
    let Some(media) = negotiate(&headers) else {
        return (StatusCode::NOT_ACCEPTABLE, "accept application/graphql-response+json or application/json")
            .into_response();
    };
    let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri) else {
        return bad_request(media, "malformed query string");
    };
    let Some(query) = params.get("query") else {
        return bad_request(media, "`query` parameter is required");
    };
    let mut request = Request::new(query.clone());
    if let Some(name) = params.get("operationName").filter(|n| !n.is_empty()) {
        request = request.operation_name(name.clone());
    }
    if let Some(vars) = params.get("variables").filter(|v| !v.is_empty()) {
        match serde_json::from_str::<Json>(vars) {
            Ok(v @ Json::Object(_)) => match variables(v) {
                Ok(v) => request = request.variables(v),
                Err(message) => return bad_request(media, &message),
            },
            _ => return bad_request(media, "`variables` must be a JSON object"),
        }
    }
    execute(&state, &headers, media, request, true).await
}

/// Prefix of connection_init failures that mean "no valid token"; graphql-transport-ws
/// clients get close code 4401 for them.
const UNAUTHORIZED: &str = "Unauthorized";
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(20);
/// Outgoing messages buffered per socket; a client that reads slower than this stalls its
/// subscriptions, which then end with a "too slow" error instead of growing memory.
const SOCKET_BUFFER: usize = 256;

/// The one writer of a socket: sends what the connection queues and a keepalive ping every
/// `KEEPALIVE`, until it has sent a close frame or the client is gone; then says so.
async fn write_socket(
    mut socket_tx: futures_util::stream::SplitSink<axum::extract::ws::WebSocket, axum::extract::ws::Message>,
    mut rx: tokio::sync::mpsc::Receiver<axum::extract::ws::Message>,
    closed_tx: tokio::sync::watch::Sender<bool>,
) {
    use axum::extract::ws::Message;
    use futures_util::SinkExt;
    let mut ping = tokio::time::interval(KEEPALIVE);
    ping.tick().await;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => break },
            _ = ping.tick() => Message::Ping(Vec::new().into()),
        };
        let closing = matches!(msg, Message::Close(_));
        if socket_tx.send(msg).await.is_err() || closing {
            break;
        }
    }
    closed_tx.send_replace(true);
}

async fn websocket(state: AppState, parts: &mut Parts) -> Response {
    use async_graphql::http::WsMessage;
    use axum::extract::ws::{CloseFrame, Message};
    use futures_util::StreamExt;

    let Some(protocol) = ws_guard::protocol(&parts.headers) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let executor = ws_guard::ConnectionExecutor::new(state.schema.clone());
    let message_limit = state.settings.body_limit;
    // Small socket buffers: most sockets sit idle, and the 128 KiB defaults dominated the
    // memory of an idle subscription (docs/benchmarks.md). A message may be as large as an
    // HTTP body, no larger.
    let upgrade = upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(message_limit)
        .max_frame_size(message_limit);
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        let (socket_tx, socket_rx) = socket.split();
        // One writer owns the socket; GraphQL messages and keepalive pings both go through it.
        let (tx, rx) = tokio::sync::mpsc::channel::<Message>(SOCKET_BUFFER);
        // Set when the writer is done (it sent a close frame, or the client is gone): the
        // reading side stops then too, so the connection ends.
        let (closed_tx, closed_rx) = tokio::sync::watch::channel(false);
        let writer = tokio::spawn(write_socket(socket_tx, rx, closed_tx));
        // Weak: the access watcher must not keep a finished connection's writer alive.
        let closer = tx.downgrade();
        let (init_seen, init_deadline) = ws_guard::init_deadline(tx.downgrade());
        let incoming = ws_guard::client_messages(socket_rx, tx.downgrade(), closed_rx, protocol, message_limit);
        // Set once the connection is authenticated; ends it when access changes.
        let watcher: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>> = Arc::default();
        let watcher_slot = watcher.clone();
        let messages = async_graphql::http::WebSocket::from_message_stream(executor, incoming, protocol)
            .on_connection_init(move |payload| async move {
                let _ = init_seen.send(());
                let token = payload
                    .get("Authorization")
                    .or_else(|| payload.get("authorization"))
                    .and_then(Json::as_str)
                    .map(|v| v.trim_start_matches("Bearer ").trim_start_matches("bearer ").to_owned())
                    .ok_or_else(|| {
                        async_graphql::Error::new(format!(
                            "{UNAUTHORIZED}: connection_init needs {{\"Authorization\": \"Bearer <token>\"}}"
                        ))
                    })?;
                let (watcher, gate) = access::Watcher::new(&state.bus);
                let mut conn = state.pool.get().await.map_err(|e| async_graphql::Error::from(DomainError::from(e)))?;
                let actor = auth::actor_for_token(&mut conn, &token).await.map_err(|e| {
                    e.log_internal("authentication failed");
                    async_graphql::Error::new(format!("{UNAUTHORIZED}: {}", e.message()))
                })?;
                drop(conn);
                let session = Session {
                    token: token.clone(),
                    pool: state.pool.clone(),
                    loader_delay: state.settings.dataloader_delay,
                };
                let watch = watcher.run(state.pool.clone(), state.rechecks.clone(), token, actor.clone());
                let handle = tokio::spawn(async move {
                    let (code, reason) = watch.await;
                    if let Some(tx) = closer.upgrade() {
                        let _ = tx.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    }
                });
                *watcher_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
                let mut data = connection_data(&state, actor);
                data.insert(gate);
                data.insert(session);
                Ok(data)
            })
            .map(|msg| match msg {
                WsMessage::Text(text) => Message::Text(text.into()),
                // A failed init means a missing or bad token: say so with 4401.
                WsMessage::Close(1002, reason) if reason.starts_with(UNAUTHORIZED) => {
                    Message::Close(Some(ws_guard::close_frame(4401, &reason)))
                }
                WsMessage::Close(code, reason) => Message::Close(Some(ws_guard::close_frame(code, &reason))),
            });
        {
            futures_util::pin_mut!(messages);
            while let Some(msg) = messages.next().await {
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
        }
        drop(tx);
        init_deadline.abort();
        if let Some(handle) = watcher.lock().unwrap_or_else(|e| e.into_inner()).take() {
            handle.abort();
        }
        let _ = writer.await;
    })
}

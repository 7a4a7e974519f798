//! Limits of one WebSocket connection, enforced between the socket and async-graphql's
//! protocol handler: message size, connection_init deadline, active subscriptions, and a
//! panic in one operation ending only that operation.

use std::any::TypeId;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::{ClientMessage, WebSocketProtocols};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Request, Response, ServerError};
use axum::extract::ws::{CloseFrame, Message};
use futures_util::{FutureExt, Stream, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::api::current_rights::{self, Session};
use crate::api::{cost, guard};

/// Subscriptions one connection may have running at once. Each holds a stream on the event
/// bus and a slot in the connection's polling; a client that needs more opens another
/// connection. Queries and mutations do not count: they finish on their own.
pub const MAX_SUBSCRIPTIONS: usize = 100;

/// How long a new socket may stay silent before `connection_init`; idle unauthenticated
/// sockets would otherwise be free to hold.
pub const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// graphql-transport-ws: "Connection initialisation timeout".
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// RFC 6455: a message over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// RFC 6455: a text message that is not UTF-8.
pub const CLOSE_NOT_UTF8: u16 = 1007;
/// RFC 6455: anything else the socket could not read.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// The error code a subscribe over the limit gets.
pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";

/// One taken subscription slot; dropping the last clone frees it.
struct SlotGuard(Arc<AtomicUsize>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Rides in a subscription's request data to [`ConnectionExecutor`], which keeps it for as
/// long as the operation's stream lives (completed, stopped or connection gone: freed).
#[derive(Clone)]
struct Slot(#[allow(dead_code)] Arc<SlotGuard>);

/// The JSON of an error a caught panic turns into.
fn internal_error() -> Response {
    let mut e = ServerError::new("internal error", None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "INTERNAL_SERVER_ERROR");
    e.extensions = Some(ext);
    Response::from_errors(vec![e])
}

/// The executor of a connection's operations: a panic inside one operation ends that
/// operation with an INTERNAL_SERVER_ERROR, and the connection and its other operations
/// carry on (the panic hook logs where it happened).
#[derive(Clone)]
pub struct ConnectionExecutor<E> {
    inner: E,
}

impl<E> ConnectionExecutor<E> {
    pub fn new(inner: E) -> Self {
        ConnectionExecutor { inner }
    }
}

impl<E: Executor> Executor for ConnectionExecutor<E> {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        let inner = self.inner.clone();
        async move { AssertUnwindSafe(inner.execute(request)).catch_unwind().await.unwrap_or_else(|_| internal_error()) }
    }

    /// Every operation of the connection: the request checks every transport runs
    /// (`guard::check_request`), then the caller's current rights (`current_rights`), then
    /// the schema, with its limit errors explained.
    fn execute_stream(&self, mut request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let slot = request.data.get(&TypeId::of::<Slot>()).and_then(|d| d.downcast_ref::<Slot>()).cloned();
        match guard::check_request(&request) {
            Ok(doc) => request.set_parsed_query(doc),
            Err(e) => return Box::pin(futures_util::stream::once(async move { Response::from_errors(vec![e]) })),
        }
        let session = session_data
            .as_ref()
            .and_then(|d| d.get(&TypeId::of::<Session>()))
            .and_then(|d| d.downcast_ref::<Session>())
            .cloned();
        let inner = self.inner.clone();
        let run = async move {
            let request = match session {
                Some(session) => match current_rights::refresh(&session, request).await {
                    Ok(r) => r,
                    Err(e) => return futures_util::stream::once(async move { Response::from_errors(vec![e]) }).boxed(),
                },
                None => request,
            };
            inner.execute_stream(request, session_data)
        };
        let responses = run.flatten_stream().map(|mut r| {
            cost::explain_limits(&mut r);
            r
        });
        Box::pin(Guarded { inner: Some(responses.boxed()), _slot: slot })
    }
}

struct Guarded {
    inner: Option<BoxStream<'static, Response>>,
    _slot: Option<Slot>,
}

impl Stream for Guarded {
    type Item = Response;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                self.inner = None;
                Poll::Ready(Some(internal_error()))
            }
        }
    }
}

/// A close frame's reason may carry 123 bytes (a control frame's payload is at most 125,
/// two of them the code); a longer one makes the frame unsendable, and the client sees a
/// broken connection instead of the code. async-graphql puts whole parser errors there.
pub fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame { code, reason: reason[..end].into() }
}

/// The socket's protocol from `Sec-WebSocket-Protocol`, as async-graphql names it.
pub fn protocol(headers: &axum::http::HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}

/// Closes the socket with `code` unless the client sends `connection_init` in time; send on
/// (or drop) the returned sender when it does.
pub fn init_deadline(
    out: mpsc::WeakSender<Message>,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (seen, wait) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        if tokio::time::timeout(CONNECTION_INIT_TIMEOUT, wait).await.is_err()
            && let Some(out) = out.upgrade()
        {
            let frame = close_frame(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout");
            let _ = out.send(Message::Close(Some(frame))).await;
        }
    });
    (seen, task)
}

/// The close frame for a socket that could not be read.
fn read_error(e: axum::Error, limit: usize) -> CloseFrame {
    use tungstenite::Error as E;
    let (code, reason) = match e.into_inner().downcast::<E>().map(|e| *e) {
        Ok(E::Capacity(_)) => (CLOSE_TOO_BIG, format!("message too big (at most {limit} bytes)")),
        Ok(E::Utf8(_)) => (CLOSE_NOT_UTF8, "text message is not UTF-8".to_owned()),
        _ => (CLOSE_PROTOCOL_ERROR, "unreadable message".to_owned()),
    };
    close_frame(code, &reason)
}

/// Whether a subscribe starts a subscription (rather than a query or mutation). Parsing
/// waits for the text check, like everywhere else; the parsed document goes on the request
/// so it is not parsed twice.
fn is_subscription(request: &mut Request) -> bool {
    if guard::check_text(&request.query).is_err() {
        return false;
    }
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let ty = guard::operation_type(&doc, request.operation_name.as_deref());
    request.set_parsed_query(doc);
    ty == Some(OperationType::Subscription)
}

fn too_many(protocol: WebSocketProtocols, id: &str) -> Message {
    let error = json!({
        "message": format!("too many active subscriptions on this connection (at most {MAX_SUBSCRIPTIONS}); complete one first"),
        "extensions": { "code": TOO_MANY_SUBSCRIPTIONS },
    });
    // graphql-transport-ws sends a list of errors, the legacy protocol one error.
    let payload = match protocol {
        WebSocketProtocols::GraphQLWS => json!([error]),
        WebSocketProtocols::SubscriptionsTransportWS => error,
    };
    Message::Text(json!({ "id": id, "type": "error", "payload": payload }).to_string().into())
}

struct Incoming<S> {
    socket: S,
    out: mpsc::WeakSender<Message>,
    closed: watch::Receiver<bool>,
    protocol: WebSocketProtocols,
    active: Arc<AtomicUsize>,
    limit: usize,
}

/// The client's messages as async-graphql reads them. The stream ends when the writer has
/// closed the socket (so a silent client cannot keep it half open), and an unreadable
/// message closes it with the code that says why. A subscribe over [`MAX_SUBSCRIPTIONS`] is
/// answered here with an `error` for its id and never reaches async-graphql.
pub fn client_messages<S>(
    socket: S,
    out: mpsc::WeakSender<Message>,
    closed: watch::Receiver<bool>,
    protocol: WebSocketProtocols,
    message_limit: usize,
) -> impl Stream<Item = serde_json::Result<ClientMessage>> + Send
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin + Send + 'static,
{
    let state = Incoming { socket, out, closed, protocol, active: Arc::default(), limit: message_limit };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            let next = tokio::select! {
                m = st.socket.next() => m,
                _ = st.closed.wait_for(|c| *c) => None,
            };
            let bytes = match next? {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => m.into_data(),
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => {
                    let frame = read_error(e, st.limit);
                    if let Some(out) = st.out.upgrade() {
                        let _ = out.send(Message::Close(Some(frame))).await;
                    }
                    return None;
                }
            };
            let mut msg = ClientMessage::from_bytes(&bytes);
            if let Ok(ClientMessage::Start { id, payload }) = &mut msg
                && is_subscription(payload)
            {
                if st.active.load(Ordering::SeqCst) >= MAX_SUBSCRIPTIONS {
                    if let Some(out) = st.out.upgrade() {
                        let _ = out.send(too_many(st.protocol, id)).await;
                    }
                    continue;
                }
                st.active.fetch_add(1, Ordering::SeqCst);
                payload.data.insert(Slot(Arc::new(SlotGuard(st.active.clone()))));
            }
            return Some((msg, st));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, Object, Schema, Subscription};

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

    struct Sub;

    #[Subscription]
    impl Sub {
        async fn ticks(&self) -> impl Stream<Item = i32> {
            futures_util::stream::iter([1, 2]).chain(futures_util::stream::once(async { panic!("a stream panicked") }))
        }
    }

    fn executor() -> ConnectionExecutor<Schema<Query, EmptyMutation, Sub>> {
        ConnectionExecutor::new(Schema::new(Query, EmptyMutation, Sub))
    }

    fn code(r: &Response) -> String {
        r.errors[0].extensions.as_ref().and_then(|e| e.get("code")).map(|c| c.to_string()).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_panicking_operation_ends_with_an_internal_error() {
        let ex = executor();
        let out: Vec<Response> = ex.execute_stream(Request::new("{ boom }"), None).collect().await;
        assert_eq!(out.len(), 1);
        assert_eq!(code(&out[0]), "\"INTERNAL_SERVER_ERROR\"");
        let r = ex.execute(Request::new("{ boom }")).await;
        assert_eq!(code(&r), "\"INTERNAL_SERVER_ERROR\"");
        // The executor is still usable.
        let out: Vec<Response> = ex.execute_stream(Request::new("{ fine }"), None).collect().await;
        assert!(out[0].errors.is_empty(), "{:?}", out[0].errors);
    }

    #[tokio::test]
    async fn a_panicking_subscription_delivers_what_came_before() {
        let out: Vec<Response> =
            executor().execute_stream(Request::new("subscription { ticks }"), None).collect().await;
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].errors.is_empty());
        assert!(out[1].errors.is_empty());
        assert_eq!(code(&out[2]), "\"INTERNAL_SERVER_ERROR\"");
    }

    #[test]
    fn close_reasons_fit_in_a_control_frame() {
        let long = "ä".repeat(100);
        let frame = close_frame(1002, &long);
        assert!(frame.reason.len() <= 123);
        assert!(long.starts_with(frame.reason.as_str()));
        assert_eq!(close_frame(4408, "short").reason.as_str(), "short");
    }

    #[test]
    fn subscriptions_are_told_apart_from_queries() {
        let mut r = Request::new("query A { fine } subscription B { ticks }").operation_name("B");
        assert!(is_subscription(&mut r));
        let mut r = Request::new("query A { fine } subscription B { ticks }").operation_name("A");
        assert!(!is_subscription(&mut r));
        let mut r = Request::new(format!("subscription {{ ticks(x: {}) }}", "[".repeat(5000)));
        assert!(!is_subscription(&mut r), "refused by the text check, not parsed");
    }
}

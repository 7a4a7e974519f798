//! Hostile input: documents and variables built to crash, exhaust or confuse the server,
//! over HTTP (with and without a token) and over WebSocket. Whatever comes in, the answer is
//! a 4xx or a 200 with errors (never a 5xx or a dropped connection), no panic happens, and
//! the server answers normally afterwards. The crash of issue 10 is also sent to the real
//! binary, which must still be running after it.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const GQL_RESPONSE: &str = "application/graphql-response+json";

/// Close codes the server documents for sockets it cannot go on reading: 1002 (a message
/// that is not a protocol message), 1007 (text that is not UTF-8), 1009 (over the size
/// limit).
const DOCUMENTED_CLOSE_CODES: [u16; 3] = [1002, 1007, 1009];

fn list(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

fn object(n: usize) -> String {
    format!("{}1{}", "{a: ".repeat(n), "}".repeat(n))
}

fn nested_json(n: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..n {
        v = json!([v]);
    }
    v
}

/// Documents that nest deeply where a bracket-counting guard does not look. 3,000 levels
/// killed the process before the lexical guard (between 1,000 and 8,000 the recursive
/// parser overflows the stack).
fn deep_documents() -> Vec<String> {
    let mut docs = Vec::new();
    for n in [3_000, 6_000] {
        for value in [list(n), object(n)] {
            // The document of issue 10: a block string with an odd number of quotes.
            docs.push(format!("{{ __typename(x: \"\"\" \" \"\"\", y: {value}) }}"));
            // An escaped triple quote inside the block string.
            docs.push(format!("{{ __typename(x: \"\"\" \\\"\"\" \" \"\"\", y: {value}) }}"));
            // A quote in a comment, a hash in a string, a block string over lines.
            docs.push(format!("# \" [ {{ (\n{{ __typename(y: {value}) }}"));
            docs.push(format!("{{ __typename(x: \"#\", y: {value}) }}"));
            docs.push(format!("{{ __typename(x: \"\"\"\n\"\n\"\"\", y: {value}) }}"));
            // A default value: parsed as a constant, through another recursive path.
            docs.push(format!("query($v: JSON = {value}) {{ __typename }}"));
            // Plain, with the BOM in front.
            docs.push(format!("\u{feff}{{ __typename(y: {value}) }}"));
        }
    }
    docs
}

fn fragment_chain(n: usize) -> String {
    let mut q = String::from("{ ...F0 }");
    for i in 0..n {
        q.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    q + &format!(" fragment F{n} on Query {{ __typename }}")
}

/// Each fragment spreads the next twice. 17 levels stay harmless even to an unguarded
/// server (2^17 selections), but are far over the inlining limit.
fn fragment_bomb(levels: usize) -> String {
    let mut q = String::from("{ ...F0 }");
    for i in 0..levels {
        q.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
    }
    q + &format!(" fragment F{levels} on Query {{ __typename }}")
}

/// GraphQL requests (query and variables) a hostile client might send.
fn hostile_requests(body_limit: usize) -> Vec<Value> {
    let mut out: Vec<Value> = deep_documents().into_iter().map(|q| json!({ "query": q })).collect();
    let q = |query: &str, variables: Value| json!({ "query": query, "variables": variables });
    // Just over and under the nesting limit.
    out.push(q(&format!("{{ __typename(y: {}) }}", list(46)), json!({})));
    out.push(q(&format!("{{ __typename(y: {}) }}", list(47)), json!({})));
    // Strings near the body limit, in the document and in a variable.
    let big = "x".repeat(body_limit - 1_000);
    out.push(q(&format!("{{ lead(id: \"{big}\") {{ id }} }}"), json!({})));
    out.push(q(&format!("{{ lead(id: \"\"\"{big}\"\"\") {{ id }} }}"), json!({})));
    out.push(q("query($id: ID!) { lead(id: $id) { id } }", json!({ "id": big })));
    out.push(q("query($t: String) { leads(filter: { title: { contains: $t } }) { totalCount } }", json!({ "t": big })));
    // Thousands of aliases.
    let aliases = (0..5_000).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ");
    out.push(q(&format!("{{ {aliases} }}"), json!({})));
    let aliases = (0..3_000).map(|i| format!("a{i}: me {{ id email }}")).collect::<Vec<_>>().join(" ");
    out.push(q(&format!("{{ {aliases} }}"), json!({})));
    let same = "me { id } ".repeat(20_000);
    out.push(q(&format!("{{ {same} }}"), json!({})));
    let directives = "@skip(if: false) ".repeat(5_000);
    out.push(q(&format!("{{ __typename {directives} }}"), json!({})));
    // Fragments: cycles, long chains, exponential expansion.
    out.push(q("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", json!({})));
    out.push(q("{ ...A } fragment A on Query { me { ...B } } fragment B on User { ...B }", json!({})));
    out.push(q("{ ...A } fragment A on Query { ...A }", json!({})));
    out.push(q(&fragment_chain(5_000), json!({})));
    out.push(q(&fragment_bomb(17), json!({})));
    // Huge `in` lists.
    for n in [20_000, 70_000] {
        let ids: Vec<String> = (0..n).map(|i| format!("lead:{i}")).collect();
        out.push(q("query($ids: [ID!]) { leads(filter: { id: { in: $ids } }) { totalCount } }", json!({ "ids": ids })));
    }
    let titles: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
    out.push(q(
        "query($t: [String!]) { companies(filter: { title: { in: $t } }) { totalCount } }",
        json!({ "t": titles }),
    ));
    // Malformed cursors.
    for cursor in ["", "x", "!!!", "=====", "bGVhZDox", "eyJrIjpbMV19", "W10=", "bnVsbA==", "%00", "\u{0}"] {
        out.push(q("query($c: String) { leads(first: 1, after: $c) { totalCount } }", json!({ "c": cursor })));
        out.push(q("query($c: String) { deals(last: 1, before: $c) { totalCount } }", json!({ "c": cursor })));
    }
    out.push(q("query($c: String) { leads(after: $c) { totalCount } }", json!({ "c": "A".repeat(100_000) })));
    // Malformed ids.
    for id in [
        "",
        ":",
        "lead:",
        "lead:-1",
        "lead:0",
        "lead:99999999999999999999",
        "lead:9223372036854775807",
        "lead:-9223372036854775808",
        "lead:1e5",
        "lead:0x10",
        "lead: 1",
        "LEAD:1",
        "deal:1",
        "lead:1:2",
        "lead:١",
        "lead:\u{0}",
        "😀:1",
    ] {
        out.push(q("query($id: ID!) { lead(id: $id) { id } node(id: $id) { id } }", json!({ "id": id })));
        out.push(q("mutation($id: ID!) { updateLead(id: $id, input: { title: \"x\" }) { id } }", json!({ "id": id })));
    }
    // Negative, enormous and odd numbers.
    for page in ["-1", "0", "-2147483648", "2147483647", "99999999999999999999", "1e400", "1.5", "\"10\""] {
        out.push(q(&format!("{{ leads(first: {page}) {{ totalCount }} }}"), json!({})));
        out.push(q(&format!("{{ deals(last: {page}) {{ totalCount }} }}"), json!({})));
    }
    for n in [json!(-1), json!(1e300), json!(i64::MAX), json!(u64::MAX), json!(-0.0), json!("5")] {
        out.push(q("query($n: Int) { leads(first: $n) { totalCount } }", json!({ "n": n })));
    }
    for amount in [
        json!("1e400"),
        json!("79228162514264337593543950336"),
        json!("79228162514264337593543950335"),
        json!("-79228162514264337593543950335"),
        json!("0.0000000000000000000000000001"),
        json!("NaN"),
        json!("Infinity"),
        json!("-0"),
        json!(""),
        json!(1e300),
        json!(u64::MAX),
        json!(true),
    ] {
        out.push(q(
            "query($a: Decimal) { leads(filter: { opportunity: { gt: $a } }) { totalCount } }",
            json!({ "a": amount }),
        ));
        out.push(q(
            "mutation($a: Decimal) { createLead(input: { title: \"Money\", opportunity: $a, currency: \"EUR\" }) { id opportunity } }",
            json!({ "a": amount }),
        ));
    }
    out.push(q("{ leads(filter: { opportunity: { gt: 1e400 } }) { totalCount } }", json!({})));
    // Deep variables, within and beyond the JSON parser's own limit.
    for n in [31, 33, 127, 126] {
        out.push(q("query($v: JSON) { __typename }", json!({ "v": nested_json(n) })));
    }
    let mut filter = json!({ "title": { "eq": "x" } });
    for _ in 0..100 {
        filter = json!({ "not": filter });
    }
    out.push(q("query($f: LeadFilter) { leads(filter: $f) { totalCount } }", json!({ "f": filter })));
    // Strings PostgreSQL cannot store, and huge names.
    out.push(q("mutation($t: String!) { createLead(input: { title: $t }) { id } }", json!({ "t": "a\u{0}b" })));
    out.push(json!({ "query": "query Q { __typename }", "operationName": "Q".repeat(500_000) }));
    out.push(json!({ "query": "{ __typename }", "variables": { "x": "y" }, "extensions": { "persistedQuery": { "sha256Hash": "00" } } }));
    out.push(q("query($a: Int, $a: Int) { __typename }", json!({ "a": 1 })));
    out.push(q("{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }", json!({})));
    out.push(q("subscription { elementChanged { eventId } }", json!({})));
    // Product rows whose arithmetic would overflow a Decimal (this once panicked the request).
    out.push(q("mutation { createLead(input: { title: \"Rows\" }) { id } }", json!({})));
    for (price, quantity) in [
        ("79228162514264337593543950335", "2"),
        ("39614081257132168796771975168", "3"),
        ("1", "79228162514264337593543950335"),
        ("0.0000000000000000000000000001", "0.0000000000000000000000000001"),
    ] {
        out.push(q(
            "mutation($p: Decimal!, $n: Decimal!) { setProductRows(owner: { type: LEAD, id: \"lead:1\" }, \
             rows: [{ name: \"Screw\", unitPrice: $p, quantity: $n, taxRate: \"19\" }]) { id lineGross } }",
            json!({ "p": price, "n": quantity }),
        ));
    }
    out
}

/// Bodies that are not GraphQL requests at all.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let json = "application/json";
    vec![
        (json, b"{\"query\": \"\xff\xfe{ __typename }\"}".to_vec()),
        (json, b"\xef\xbb\xbf{\"query\": \"{ __typename }\"}".to_vec()),
        (json, b"{\"query\": \"{ __typename }\", \"variables\": {\"x\": \"\\ud800\"}}".to_vec()),
        (json, b"\x00\x00\x00".to_vec()),
        (json, b"".to_vec()),
        (json, b"[]".to_vec()),
        (json, b"[{\"query\": \"{ __typename }\"}]".to_vec()),
        (json, b"\"{ __typename }\"".to_vec()),
        (json, b"42".to_vec()),
        (json, b"null".to_vec()),
        (json, b"true".to_vec()),
        (json, b"{\"query\": null}".to_vec()),
        (json, b"{\"query\": \"{ __typename }\", \"query\": 1}".to_vec()),
        (json, format!("{{\"query\": \"{{ __typename }}\", \"variables\": {}}}", "[".repeat(200_000)).into_bytes()),
        (json, format!("{{\"query\": {}}}", "{\"a\":".repeat(10_000)).into_bytes()),
        ("text/plain", b"{ __typename }".to_vec()),
        ("application/graphql", b"{ __typename }".to_vec()),
        ("application/x-www-form-urlencoded", b"query=%7B__typename%7D".to_vec()),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--".to_vec()),
        ("application/json; charset=latin1", b"{\"query\": \"{ __typename }\"}".to_vec()),
        ("", b"{\"query\": \"{ __typename }\"}".to_vec()),
        ("application/jsonx", b"{\"query\": \"{ __typename }\"}".to_vec()),
    ]
}

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in this test process (the in-process server's included), then lets
/// the default hook print it.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

fn short(text: &str) -> &str {
    &text[..text.char_indices().nth(300).map_or(text.len(), |(i, _)| i)]
}

/// Status and body of a POST; a dropped connection fails the test.
async fn post_raw(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    accept: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = client.post(url).header("Accept", accept).body(body);
    if !content_type.is_empty() {
        req = req.header("Content-Type", content_type);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("an answer, not a dropped connection");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a complete body");
    (status, text)
}

/// A 4xx, or a 200 whose body is a GraphQL response.
fn assert_clean(status: u16, text: &str, what: &str) {
    assert!((200..500).contains(&status), "{status} for {what}: {}", short(text));
    if status == 200 {
        let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON for {what}: {}", short(text)));
        assert!(body.get("data").is_some() || body.get("errors").is_some(), "{what}: {}", short(text));
    }
}

async fn still_answers(client: &reqwest::Client, url: &str, token: &str) {
    let resp = client.post(url).bearer_auth(token).json(&json!({ "query": "{ me { email } }" })).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "admin@test.local", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_http_requests_get_clean_answers() {
    count_panics();
    let s = TestServer::start().await;
    let url = s.url("/graphql");
    let limit = s.state.settings.body_limit;
    for request in hostile_requests(limit) {
        let body = request.to_string().into_bytes();
        let what = short(&request.to_string()).to_owned();
        for token in [Some(s.token.as_str()), None] {
            for accept in ["application/json", GQL_RESPONSE] {
                let (status, text) = post_raw(&s.client, &url, token, accept, "application/json", body.clone()).await;
                assert_clean(status, &text, &what);
                if token.is_none() && status == 200 {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert!(v.get("data").is_none(), "nothing runs without a token: {what}");
                }
            }
        }
    }
    for (content_type, body) in hostile_bodies() {
        let what = format!("{content_type}: {}", String::from_utf8_lossy(&body[..body.len().min(100)]));
        for token in [Some(s.token.as_str()), None] {
            for accept in ["application/json", GQL_RESPONSE] {
                let (status, text) = post_raw(&s.client, &url, token, accept, content_type, body.clone()).await;
                assert_clean(status, &text, &what);
            }
        }
    }
    // The same documents by GET, where the URL carries them.
    for doc in deep_documents().into_iter().take(4) {
        for token in [Some(s.token.as_str()), None] {
            let mut req = s.client.get(&url).query(&[("query", doc.as_str())]);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.expect("an answer");
            let status = resp.status().as_u16();
            assert_clean(status, &resp.text().await.unwrap(), "GET");
        }
    }
    still_answers(&s.client, &url, &s.token).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened while serving (see the output)");
}

async fn ws_connect(addr: std::net::SocketAddr) -> Ws {
    let mut req = format!("ws://{addr}/graphql").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    tokio_tungstenite::connect_async(req).await.expect("a WebSocket").0
}

async fn ws_init(addr: std::net::SocketAddr, token: &str) -> Ws {
    let mut ws = ws_connect(addr).await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await["type"], "connection_ack");
    ws
}

/// The next protocol message; a close frame comes as `{"type": "close", "code": ...}` and a
/// connection dropped without one fails the test.
async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a message in time")
            .expect("a close frame before the end of the stream")
            .expect("a readable message, not a dropped connection");
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "ping" && v["type"] != "pong" {
                    return v;
                }
            }
            Message::Close(frame) => return json!({ "type": "close", "code": frame.map(|f| u16::from(f.code)) }),
            _ => {}
        }
    }
}

/// Runs one operation and returns its messages up to `complete` (or `error`).
async fn ws_operation(ws: &mut Ws, id: &str, payload: Value) -> Vec<Value> {
    let msg = json!({ "id": id, "type": "subscribe", "payload": payload });
    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
    let mut out = Vec::new();
    loop {
        let m = ws_next(ws).await;
        assert_ne!(m["type"], "close", "the socket closed on operation {id}: {m}");
        let done = m["id"] == id && (m["type"] == "complete" || m["type"] == "error");
        out.push(m);
        if done {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_websocket_operations_get_clean_answers() {
    count_panics();
    let s = TestServer::start().await;
    let mut ws = ws_init(s.addr, &s.token).await;
    let limit = s.state.settings.body_limit;
    for (i, request) in hostile_requests(limit).into_iter().enumerate() {
        // A WebSocket message may be as large as an HTTP body, its envelope included, and
        // may nest as deep as the JSON parser allows (it nests one level deeper than the
        // HTTP body); messages beyond either are tried below, on their own sockets.
        if request.to_string().len() + 100 > limit || json_depth(&request) + 1 > 128 {
            continue;
        }
        let is_subscription = request["query"].as_str().is_some_and(|q| q.starts_with("subscription"));
        let id = format!("op{i}");
        if is_subscription {
            let msg = json!({ "id": id, "type": "subscribe", "payload": request });
            ws.send(Message::Text(msg.to_string().into())).await.unwrap();
            ws.send(Message::Text(json!({ "id": id, "type": "complete" }).to_string().into())).await.unwrap();
            continue;
        }
        let messages = ws_operation(&mut ws, &id, request.clone()).await;
        for m in &messages {
            assert!(["next", "error", "complete"].contains(&m["type"].as_str().unwrap_or("")), "{m}");
        }
    }
    let answer = ws_operation(&mut ws, "last", json!({ "query": "{ me { email } }" })).await;
    let next = answer.iter().find(|m| m["id"] == "last" && m["type"] == "next").expect("an answer");
    assert_eq!(next["payload"]["data"]["me"]["email"], "admin@test.local");

    // Messages that are not protocol messages end the socket with a documented code.
    let mut oversize = br#"{"type":"subscribe","id":"1","payload":{"query":""#.to_vec();
    oversize.extend(std::iter::repeat_n(b'x', limit + 10));
    oversize.extend(br#""}}"#);
    let hostile_messages: Vec<Message> = vec![
        Message::Text("{ not json".into()),
        Message::Text("[]".into()),
        Message::Text(r#"{"type":"subscribe"}"#.into()),
        Message::Text(r#"{"type":"subscribe","id":"1","payload":{"query":42}}"#.into()),
        Message::Text(r#"{"type":"launch","id":"1"}"#.into()),
        Message::Text(format!("{{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{{\"query\":\"{{ __typename }}\",\"variables\":{{\"v\":{}}}}}}}", "[".repeat(5_000)).into()),
        Message::Binary(b"\xff\xfe\xfd".to_vec().into()),
        Message::Binary(oversize.into()),
    ];
    for msg in hostile_messages {
        let mut ws = ws_init(s.addr, &s.token).await;
        let what = format!("{msg:?}").chars().take(120).collect::<String>();
        ws.send(msg).await.unwrap();
        let m = ws_next(&mut ws).await;
        assert_eq!(m["type"], "close", "{what}: {m}");
        let code = m["code"].as_u64().unwrap_or(0) as u16;
        assert!(DOCUMENTED_CLOSE_CODES.contains(&code), "close code {code} for {what}");
    }
    let mut ws = ws_init(s.addr, &s.token).await;
    let answer = ws_operation(&mut ws, "after", json!({ "query": "{ me { email } }" })).await;
    assert!(answer.iter().any(|m| m["type"] == "next"), "{answer:?}");
    still_answers(&s.client, &s.url("/graphql"), &s.token).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened while serving (see the output)");
}

/// The real binary on its own database and port; killed and its database dropped at the end.
struct Binary {
    child: std::process::Child,
    port: u16,
    token: String,
    stderr: Arc<Mutex<String>>,
    database: String,
}

impl Binary {
    fn start() -> Binary {
        let database = format!("kontor_hostile_{}_{}", std::process::id(), rand_suffix());
        let mut url = url::Url::parse(&common::admin_url()).unwrap();
        url.set_path(&format!("/{database}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kontor"))
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .args(["serve", "--database-url", url.as_str(), "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // The first admin's token is the second line; the server listens by then.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let token = lines.nth(1).and_then(Result::ok).map(|l| l.trim().to_owned()).unwrap_or_default();
        assert!(token.starts_with("kontor_"), "no token printed: {}", stderr.lock().unwrap());
        std::thread::spawn(move || for _ in lines {});
        Binary { child, port, token, stderr, database }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.port)
    }

    fn assert_alive(&mut self, after: &str) {
        let status = self.child.try_wait().unwrap();
        assert!(status.is_none(), "the server died ({status:?}) after {after}: {}", self.stderr.lock().unwrap());
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let name = self.database.clone();
        let _ = std::thread::spawn(move || {
            use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&common::admin_url()).await {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

fn rand_suffix() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..8).map(|_| char::from(b'a' + r.random_range(0..26u8))).collect()
}

#[tokio::test]
async fn the_crash_document_does_not_kill_the_process() {
    let mut server = Binary::start();
    let client = reqwest::Client::new();
    let url = server.url();
    for doc in deep_documents() {
        let what = format!("{}…", &doc[..40.min(doc.len())]);
        // Without a token, as in the report: the document is refused before authentication.
        for accept in ["application/json", GQL_RESPONSE] {
            let body = json!({ "query": doc }).to_string().into_bytes();
            match tokio::time::timeout(
                Duration::from_secs(30),
                post_raw(&client, &url, None, accept, "application/json", body),
            )
            .await
            {
                Ok((status, text)) => {
                    assert_clean(status, &text, &what);
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert!(v["errors"].is_array(), "{}", short(&text));
                }
                Err(_) => panic!("no answer to {what}"),
            }
        }
        // By GET where the URL can hold it (an `http::Uri` stops at 64 KiB).
        let get = reqwest::Url::parse_with_params(&url, [("query", doc.as_str())]).unwrap();
        if get.as_str().len() < 60_000 {
            let resp = client.get(get).send().await.expect("an answer to GET");
            let status = resp.status().as_u16();
            assert_clean(status, &resp.text().await.unwrap(), &what);
        }
        server.assert_alive(&what);
    }
    // Over WebSocket, where the document reaches the schema without the HTTP handler.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let mut ws = ws_init(addr, &server.token).await;
    for (i, doc) in deep_documents().into_iter().enumerate() {
        let messages = ws_operation(&mut ws, &format!("d{i}"), json!({ "query": doc })).await;
        assert!(messages.iter().any(|m| m["payload"]["errors"].is_array() || m["type"] == "error"), "{messages:?}");
        server.assert_alive("a deep document over WebSocket");
    }
    let variables = json!({ "query": "query($v: JSON) { __typename }", "variables": { "v": nested_json(120) } });
    let messages = ws_operation(&mut ws, "vars", variables).await;
    assert!(messages.iter().any(|m| m["payload"]["errors"].is_array()), "{messages:?}");
    server.assert_alive("deep variables over WebSocket");

    still_answers_token(&client, &url, &server.token).await;
    server.assert_alive("a normal request");
    let log = server.stderr.lock().unwrap().clone();
    assert!(!log.contains("panicked") && !log.contains("overflow"), "{log}");
}

async fn still_answers_token(client: &reqwest::Client, url: &str, token: &str) {
    let resp =
        client.post(url).bearer_auth(token).json(&json!({ "query": "{ me { isAdmin } }" })).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["me"]["isAdmin"], true, "{body}");
}

#[tokio::test]
async fn text_holding_nul_is_bad_user_input_and_writes_nothing() {
    let s = TestServer::start().await;
    let create = "mutation($t: String!) { createLead(input: { title: $t }) { id } }";
    let body = s.gql(create, json!({ "t": "a\u{0}b" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "t", "{body}");
    for literal in ["a\\u0000b", "a\u{0}b"] {
        let body =
            s.gql(&format!("mutation {{ createLead(input: {{ title: \"{literal}\" }}) {{ id }} }}"), json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    }
    let body = s.gql("mutation($v: JSON) { __typename }", json!({ "v": { "k\u{0}": 1 } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    // An escaped backslash before `u0000` is ordinary text.
    s.ok("mutation { createLead(input: { title: \"a\\\\u0000b\" }) { id } }", json!({})).await;
    let count = s.ok("{ leads { totalCount nodes { title } } }", json!({})).await;
    assert_eq!(count["leads"]["totalCount"], 1);
    assert_eq!(count["leads"]["nodes"][0]["title"], "a\\u0000b");
}

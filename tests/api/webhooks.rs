//! Outgoing webhooks against a real local receiver: signatures checked with the Standard
//! Webhooks library (not the sender's code), bodies, filters, retries, order, rotation,
//! redelivery, disabling, rights, two instances, and refused addresses.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::common::TestServer;

/// One message the receiver got.
#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    raw: Vec<u8>,
    body: Value,
}

impl Got {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
    fn element(&self) -> String {
        self.body["data"]["id"].as_str().unwrap().to_owned()
    }
    fn seq(&self) -> i64 {
        self.body["data"]["eventId"].as_str().unwrap().parse().unwrap()
    }
}

/// How the receiver answers a message it has seen `n` times before (0 the first time):
/// a status, a `Retry-After`, and a delay before answering.
type Plan = dyn Fn(&Got, usize) -> (StatusCode, Option<&'static str>, Duration) + Send + Sync;
/// What the receiver's handler shares: the messages so far and the plan.
type Shared = (Arc<Mutex<Vec<Got>>>, Arc<Plan>);

#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(
        plan: impl Fn(&Got, usize) -> (StatusCode, Option<&'static str>, Duration) + Send + Sync + 'static,
    ) -> Receiver {
        Self::start_on(0, plan).await
    }

    /// A receiver on `port` (0: any free one).
    async fn start_on(
        port: u16,
        plan: impl Fn(&Got, usize) -> (StatusCode, Option<&'static str>, Duration) + Send + Sync + 'static,
    ) -> Receiver {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let plan: Arc<Plan> = Arc::new(plan);
        let state = (got.clone(), plan);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                |axum::extract::State((got, plan)): axum::extract::State<Shared>,
                 headers: HeaderMap,
                 raw: axum::body::Bytes| async move {
                    let g =
                        Got { headers, raw: raw.to_vec(), body: serde_json::from_slice(&raw).unwrap_or(Value::Null) };
                    let seen = {
                        let mut all = got.lock().unwrap();
                        let seen = all.iter().filter(|o| o.id() == g.id()).count();
                        all.push(g.clone());
                        seen
                    };
                    let (status, retry_after, delay) = plan(&g, seen);
                    tokio::time::sleep(delay).await;
                    let mut h = HeaderMap::new();
                    if let Some(r) = retry_after {
                        h.insert("retry-after", r.parse().unwrap());
                    }
                    (status, h, "receiver says so")
                },
            ),
        );
        let app = app.with_state(state);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, got }
    }

    async fn ok() -> Receiver {
        Receiver::start(|_, _| (StatusCode::OK, None, Duration::ZERO)).await
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` messages arrived (or fails after `wait`).
    async fn wait_for(&self, n: usize, wait: Duration) -> Vec<Got> {
        let start = Instant::now();
        loop {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            assert!(
                start.elapsed() < wait,
                "got {} of {n} messages: {:?}",
                all.len(),
                all.iter().map(|g| &g.body).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn create_hook(s: &TestServer, url: &str, events: Value, payload: &str) -> (Value, String) {
    let d = s
        .ok(
            "mutation($url: String!, $e: [String!]!, $p: WebhookPayload) {
               createWebhook(input: { url: $url, events: $e, payload: $p, name: \"CRM sync\" }) { webhook { id active } secret }
             }",
            json!({ "url": url, "e": events, "p": payload }),
        )
        .await;
    (d["createWebhook"]["webhook"]["id"].clone(), d["createWebhook"]["secret"].as_str().unwrap().to_owned())
}

async fn create_lead(s: &TestServer, title: &str) -> Value {
    s.ok("mutation($t: String!) { createLead(input: { title: $t, lastName: \"Berg\" }) { id } }", json!({ "t": title }))
        .await["createLead"]["id"]
        .clone()
}

async fn deliveries(s: &TestServer, hook: &Value) -> Vec<Value> {
    s.ok(
        "query($id: ID!) { webhookDeliveries(webhookId: $id) { id eventId eventType messageId status attempts lastStatusCode lastError lastDurationMs nextAttemptAt createdAt deliveredAt } }",
        json!({ "id": hook }),
    )
    .await["webhookDeliveries"]
        .as_array()
        .unwrap()
        .clone()
}

fn verify(secret: &str, g: &Got) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    wh.verify(&g.raw, &g.headers).unwrap_or_else(|e| panic!("signature does not verify: {e:?} {:?}", g.headers));
}

#[tokio::test]
async fn signed_full_bodies_verify_with_the_specification_library() {
    let s = TestServer::start().await;
    let r = Receiver::ok().await;
    let (hook, secret) = create_hook(&s, &r.url, json!(["lead.*"]), "FULL").await;
    assert!(secret.starts_with("whsec_"));
    let lead = create_lead(&s, "Fair contact").await;
    s.ok("mutation($id: ID!) { updateLead(id: $id, input: { title: \"Trade fair\" }) { id } }", json!({ "id": lead }))
        .await;
    let got = r.wait_for(2, Duration::from_secs(10)).await;
    for g in &got {
        verify(&secret, g);
        assert_eq!(g.headers["content-type"], "application/json");
        assert!(g.headers["webhook-signature"].to_str().unwrap().starts_with("v1,"));
    }
    let created = &got[0].body;
    assert_eq!(created["type"], "lead.created");
    assert!(created["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["data"]["id"], lead);
    assert_eq!(created["data"]["element"]["title"], "Fair contact");
    assert_eq!(created["data"]["element"]["id"], lead);
    assert!(created["data"]["element"]["assignedToId"].as_str().unwrap().starts_with("user:"));
    let updated = &got[1].body;
    assert_eq!(updated["type"], "lead.updated");
    assert_eq!(updated["data"]["changedFields"], json!(["title"]));
    assert_eq!(updated["data"]["previousValues"]["title"], "Fair contact");
    assert_eq!(updated["data"]["element"]["title"], "Trade fair");
    assert!(got[0].seq() < got[1].seq());
    // Tampering breaks the signature.
    let mut forged = got[1].clone();
    forged.raw = forged.raw.iter().map(|b| if *b == b'T' { b'X' } else { *b }).collect();
    assert!(standardwebhooks::Webhook::new(&secret).unwrap().verify(&forged.raw, &forged.headers).is_err());
    // The records say what happened.
    let d = deliveries(&s, &hook).await;
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|x| x["status"] == "SUCCEEDED" && x["attempts"] == 1 && x["lastStatusCode"] == 200));
    assert_eq!(d[0]["eventType"], "lead.updated", "newest first");
    assert_eq!(d[0]["messageId"].as_str().unwrap(), got[1].id());
    assert!(d[0]["nextAttemptAt"].is_null() && d[0]["deliveredAt"].is_string());
    let only_failed = s
        .ok("query($id: ID!) { webhookDeliveries(webhookId: $id, status: FAILED) { id } }", json!({ "id": hook }))
        .await;
    assert_eq!(only_failed["webhookDeliveries"], json!([]));
}

#[tokio::test]
async fn thin_bodies_and_event_type_filters() {
    let s = TestServer::start().await;
    let deals = Receiver::ok().await;
    let leads = Receiver::ok().await;
    let (_, deal_secret) = create_hook(&s, &deals.url, json!(["deal.*"]), "THIN").await;
    create_hook(&s, &leads.url, json!(["lead.created"]), "FULL").await;
    let lead = create_lead(&s, "Only created").await;
    s.ok("mutation($id: ID!) { updateLead(id: $id, input: { title: \"x\" }) { id } }", json!({ "id": lead })).await;
    let deal =
        s.ok("mutation { createDeal(input: { title: \"Thin\" }) { id } }", json!({})).await["createDeal"]["id"].clone();
    let d = deals.wait_for(1, Duration::from_secs(10)).await;
    let l = leads.wait_for(1, Duration::from_secs(10)).await;
    // Whatever else would come has had time to.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(deals.all().len(), 1, "{:?}", deals.all().iter().map(|g| &g.body).collect::<Vec<_>>());
    assert_eq!(leads.all().len(), 1);
    verify(&deal_secret, &d[0]);
    assert_eq!(d[0].body["type"], "deal.created");
    let data = d[0].body["data"].as_object().unwrap();
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    assert_eq!(keys, ["changedFields", "eventId", "id"]);
    assert_eq!(data["id"], deal);
    assert_eq!(l[0].body["type"], "lead.created");
    assert_eq!(l[0].body["data"]["id"], lead);
}

#[tokio::test]
async fn failures_are_retried_with_the_same_message_id() {
    let s = TestServer::start_with(|g| g.webhook_timeout_secs = 1).await;
    // The first attempt times out (the next comes about 5 s later), the second fails with
    // 500 asking to come back in a second, the third succeeds.
    let r = Receiver::start(|_, seen| match seen {
        0 => (StatusCode::OK, None, Duration::from_secs(3)),
        1 => (StatusCode::INTERNAL_SERVER_ERROR, Some("1"), Duration::ZERO),
        _ => (StatusCode::OK, None, Duration::ZERO),
    })
    .await;
    let (hook, secret) = create_hook(&s, &r.url, json!(["*"]), "FULL").await;
    create_lead(&s, "Retry me").await;
    let first = r.wait_for(1, Duration::from_secs(10)).await;
    // The timeout is recorded once the sender gives up on the attempt.
    let mut retrying = deliveries(&s, &hook).await;
    for _ in 0..40 {
        if retrying[0]["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        retrying = deliveries(&s, &hook).await;
    }
    assert_eq!(retrying[0]["status"], "RETRYING", "{retrying:?}");
    assert!(retrying[0]["lastError"].as_str().unwrap().contains("no answer within"), "{retrying:?}");
    let next: chrono::DateTime<chrono::Utc> = retrying[0]["nextAttemptAt"].as_str().unwrap().parse().unwrap();
    let wait = (next - chrono::Utc::now()).num_milliseconds();
    assert!((3_000..=5_600).contains(&wait), "about 5 s after the first failure: {wait} ms");
    let got = r.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(first[0].id(), got[2].id());
    assert!(got.iter().all(|g| g.id() == got[0].id()), "one message, three attempts");
    for g in &got {
        verify(&secret, g);
    }
    let done = deliveries(&s, &hook).await;
    assert_eq!(done[0]["status"], "SUCCEEDED");
    assert_eq!(done[0]["attempts"], 3);
}

#[tokio::test]
async fn an_endpoint_that_comes_back_is_caught_up_without_new_writes() {
    let s = TestServer::start().await;
    // Nothing listens on the endpoint's port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (hook, _) = create_hook(&s, &format!("http://127.0.0.1:{port}/hook"), json!(["lead.created"]), "THIN").await;
    for title in ["Sent during the outage", "Also during the outage"] {
        create_lead(&s, title).await;
    }
    // Both fail twice (at once, then ~5 s later); their own backoff would wait 5 min next.
    let start = Instant::now();
    loop {
        let d = deliveries(&s, &hook).await;
        if d.len() == 2 && d.iter().all(|d| d["attempts"].as_i64() >= Some(2)) {
            let next: chrono::DateTime<chrono::Utc> = d[0]["nextAttemptAt"].as_str().unwrap().parse().unwrap();
            assert!(d.iter().all(|d| d["status"] == "RETRYING" && d["lastStatusCode"].is_null()), "{d:?}");
            assert!(next > chrono::Utc::now(), "{d:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "two failed attempts each: {d:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The endpoint is back; nothing new is written, and both arrive within seconds.
    let r = Receiver::start_on(port, |_, _| (StatusCode::OK, None, Duration::ZERO)).await;
    let got = r.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 2, "each once");
    let done = deliveries(&s, &hook).await;
    assert!(done.iter().all(|d| d["status"] == "SUCCEEDED"), "{done:?}");
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_other_4xx_are_not_retried() {
    let s = TestServer::start().await;
    let gone = Receiver::start(|_, _| (StatusCode::GONE, None, Duration::ZERO)).await;
    let bad = Receiver::start(|_, _| (StatusCode::BAD_REQUEST, None, Duration::ZERO)).await;
    let (hook, _) = create_hook(&s, &gone.url, json!(["lead.*"]), "FULL").await;
    let (bad_hook, _) = create_hook(&s, &bad.url, json!(["lead.*"]), "FULL").await;
    create_lead(&s, "Gone").await;
    gone.wait_for(1, Duration::from_secs(10)).await;
    bad.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let h =
        s.ok("query($id: ID!) { webhook(id: $id) { active disabledAt disabledReason } }", json!({ "id": hook })).await;
    assert_eq!(h["webhook"]["active"], false);
    assert!(h["webhook"]["disabledAt"].is_string());
    assert!(h["webhook"]["disabledReason"].as_str().unwrap().contains("410"));
    create_lead(&s, "After").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gone.all().len(), 1, "a disabled endpoint gets nothing more");
    assert_eq!(bad.all().len(), 2, "a 400 is not retried, later events still go");
    let d = deliveries(&s, &bad_hook).await;
    assert!(d.iter().all(|x| x["status"] == "FAILED" && x["attempts"] == 1 && x["lastStatusCode"] == 400), "{d:?}");
    assert!(d[0]["lastError"].as_str().unwrap().contains("receiver says so"));
    // Switching it on again starts afresh.
    s.ok(
        "mutation($id: ID!, $url: String!) { updateWebhook(id: $id, input: { url: $url, events: [\"lead.*\"], active: true }) { active disabledAt } }",
        json!({ "id": hook, "url": gone.url }),
    )
    .await;
    create_lead(&s, "Again").await;
    gone.wait_for(2, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn an_elements_events_arrive_in_order_while_one_is_retried() {
    let s = TestServer::start().await;
    // The first message about the first lead fails once; everything else succeeds.
    let first_lead: Arc<Mutex<Option<String>>> = Arc::default();
    let held = first_lead.clone();
    let r = Receiver::start(move |g, seen| {
        let mut first = held.lock().unwrap();
        let element = g.element();
        let is_first = first.get_or_insert_with(|| element.clone()) == &element;
        if is_first && seen == 0 && g.body["type"] == "lead.created" {
            (StatusCode::SERVICE_UNAVAILABLE, Some("2"), Duration::ZERO)
        } else {
            (StatusCode::OK, None, Duration::ZERO)
        }
    })
    .await;
    create_hook(&s, &r.url, json!(["lead.*"]), "THIN").await;
    let a = create_lead(&s, "A").await;
    for t in ["A1", "A2", "A3"] {
        s.ok(
            "mutation($id: ID!, $t: String!) { updateLead(id: $id, input: { title: $t }) { id } }",
            json!({ "id": a, "t": t }),
        )
        .await;
    }
    let b = create_lead(&s, "B").await;
    // A: failed created, then created, 3 updates; B: created.
    let got = r.wait_for(6, Duration::from_secs(15)).await;
    let of_a: Vec<&Got> = got.iter().filter(|g| g.element() == a.as_str().unwrap()).collect();
    let seqs: Vec<i64> = of_a.iter().map(|g| g.seq()).collect();
    assert_eq!(seqs[0], seqs[1], "the retried message came first: {seqs:?}");
    assert!(seqs[1..].windows(2).all(|w| w[0] < w[1]), "in event order: {seqs:?}");
    assert_eq!(of_a.len(), 5);
    let b_at = got.iter().position(|g| g.element() == b.as_str().unwrap()).unwrap();
    let a_retry_at = got.iter().rposition(|g| g.seq() == seqs[0]).unwrap();
    assert!(b_at < a_retry_at, "another element is not held up by A's retry");
}

#[tokio::test]
async fn two_instances_deliver_each_event_once() {
    let s = TestServer::start().await;
    let _other = s.sibling(|g| g.webhook_allow_private = true).await;
    let r = Receiver::start(|_, _| (StatusCode::OK, None, Duration::from_millis(20))).await;
    create_hook(&s, &r.url, json!(["lead.created"]), "THIN").await;
    for i in 0..40 {
        create_lead(&s, &format!("Lead {i}")).await;
    }
    r.wait_for(40, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = r.all();
    let ids: HashSet<String> = got.iter().map(Got::id).collect();
    assert_eq!(got.len(), 40, "each event once");
    assert_eq!(ids.len(), 40);
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_for_a_day() {
    let s = TestServer::start().await;
    let r = Receiver::ok().await;
    let (hook, old) = create_hook(&s, &r.url, json!(["lead.created"]), "FULL").await;
    let d = s
        .ok(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { previousSecretExpiresAt } } }",
            json!({ "id": hook }),
        )
        .await;
    let new = d["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until: chrono::DateTime<chrono::Utc> =
        d["rotateWebhookSecret"]["webhook"]["previousSecretExpiresAt"].as_str().unwrap().parse().unwrap();
    assert!((until - chrono::Utc::now()).num_hours() >= 23);
    create_lead(&s, "Rotated").await;
    let got = r.wait_for(1, Duration::from_secs(10)).await;
    let sigs = got[0].headers["webhook-signature"].to_str().unwrap().to_owned();
    assert_eq!(sigs.split(' ').count(), 2, "{sigs}");
    verify(&old, &got[0]);
    verify(&new, &got[0]);
    // The secret is never shown again.
    let listed = s.gql("{ webhooks { id secret } }", json!({})).await;
    assert!(listed["errors"].is_array(), "no secret field on Webhook");
}

#[tokio::test]
async fn a_webhook_sees_only_what_its_creator_may_read() {
    let s = TestServer::start().await;
    let me = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let rep_token = s.token_for("rep@test.local", false).await;
    let rep = s.gql_as(&rep_token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    // The rep reads only their own leads and may change settings.
    let role = s
        .ok("mutation { createRole(name: \"Ops\", canManageSettings: true) { id } }", json!({}))
        .await["createRole"]["id"]
        .clone();
    s.ok(
        "mutation($r: ID!) { setRolePermissions(roleId: $r, permissions: [{ elementType: LEAD, action: READ, level: OWN }]) { id } }",
        json!({ "r": role }),
    )
    .await;
    s.ok(
        "mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { id } }",
        json!({ "u": rep, "r": [role] }),
    )
    .await;
    let r = Receiver::ok().await;
    let d = s
        .gql_as(
            &rep_token,
            "mutation($url: String!) { createWebhook(input: { url: $url, events: [\"*\"] }) { webhook { id createdBy { id } } } }",
            json!({ "url": r.url }),
        )
        .await;
    assert_eq!(d["data"]["createWebhook"]["webhook"]["createdBy"]["id"], rep, "{d}");
    let theirs = s
        .ok(
            "mutation($u: ID!) { createLead(input: { title: \"Theirs\", assignedToId: $u }) { id } }",
            json!({ "u": rep }),
        )
        .await["createLead"]["id"]
        .clone();
    let mine = s
        .ok("mutation($u: ID!) { createLead(input: { title: \"Mine\", assignedToId: $u }) { id } }", json!({ "u": me }))
        .await["createLead"]["id"]
        .clone();
    s.ok("mutation { createContact(input: { lastName: \"Hidden\" }) { id } }", json!({})).await;
    let got = r.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = r.all();
    assert_eq!(all.len(), 1, "{:?}", all.iter().map(|g| &g.body).collect::<Vec<_>>());
    assert_eq!(got[0].body["data"]["id"], theirs);
    assert_ne!(got[0].body["data"]["id"], mine);
}

#[tokio::test]
async fn redelivery_and_test_messages() {
    let s = TestServer::start().await;
    let r = Receiver::ok().await;
    let (hook, secret) = create_hook(&s, &r.url, json!(["lead.created"]), "FULL").await;
    create_lead(&s, "Again please").await;
    let first = r.wait_for(1, Duration::from_secs(10)).await;
    let d = deliveries(&s, &hook).await;
    let again = s
        .ok("mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id status } }", json!({ "id": d[0]["id"] }))
        .await;
    assert_eq!(again["redeliverWebhook"]["status"], "PENDING");
    let got = r.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].id(), first[0].id(), "the same webhook-id");
    assert_eq!(got[1].body, first[0].body);
    verify(&secret, &got[1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = deliveries(&s, &hook).await;
    assert_eq!(d[0]["attempts"], 2);
    assert_eq!(d[0]["status"], "SUCCEEDED");
    // A test message goes out at once and says how it went.
    let t = s
        .ok(
            "mutation($id: ID!) { testWebhook(id: $id) { eventId eventType status attempts lastStatusCode } }",
            json!({ "id": hook }),
        )
        .await;
    assert_eq!(
        t["testWebhook"],
        json!({ "eventId": null, "eventType": "webhook.test", "status": "SUCCEEDED", "attempts": 1, "lastStatusCode": 200 })
    );
    let got = r.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got[2].body["type"], "webhook.test");
    verify(&secret, &got[2]);
    let code = s.err_code("mutation { redeliverWebhook(deliveryId: \"delivery:999999\") { id } }", json!({})).await;
    assert_eq!(code, "NOT_FOUND");
    let gone = s.ok("mutation($id: ID!) { deleteWebhook(id: $id) }", json!({ "id": hook })).await;
    assert_eq!(gone["deleteWebhook"], hook);
    assert_eq!(s.ok("{ webhooks { id } }", json!({})).await["webhooks"], json!([]));
}

#[tokio::test]
async fn private_addresses_and_bad_input_are_refused() {
    let s = TestServer::start_with(|g| g.webhook_allow_private = false).await;
    let create =
        "mutation($url: String!, $e: [String!]!) { createWebhook(input: { url: $url, events: $e }) { secret } }";
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ] {
        let body = s.gql(create, json!({ "url": url, "e": ["*"] })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{url}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("KONTOR_WEBHOOK_ALLOW_PRIVATE"), "{body}");
    }
    for (url, events) in [
        ("ftp://example.com/x", json!(["*"])),
        ("https://hooks.example.com/x", json!([])),
        ("https://hooks.example.com/x", json!(["lead.exploded"])),
        ("https://hooks.example.com/x", json!(["contact.converted"])),
    ] {
        assert_eq!(s.err_code(create, json!({ "url": url, "e": events })).await, "BAD_USER_INPUT", "{url} {events}");
    }
    assert_eq!(s.ok("{ webhooks { id } }", json!({})).await["webhooks"], json!([]), "nothing was written");
    // A public address is accepted; nobody without the settings right may see or change it.
    let ok =
        s.ok(create, json!({ "url": "https://hooks.example.com/kontor", "e": ["deal.*", "lead.converted"] })).await;
    assert!(ok["createWebhook"]["secret"].as_str().unwrap().starts_with("whsec_"));
    let token = s.token_for("nobody@test.local", false).await;
    let body = s.gql_as(&token, "{ webhooks { id } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let unknown = HashMap::from([("id", "webhook:424242")]);
    assert_eq!(
        s.err_code("mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", json!(unknown)).await,
        "NOT_FOUND"
    );
}

//! Notifications: each kind from its source, mentions, tags that collapse, read marking, the
//! unread count in `countersChanged`, `notificationAdded`, and that nobody is told of their
//! own doing or of what they may not read.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, next_within, subscribe};

const FEED: &str = "query($u: Boolean) { notifications(first: 20, unreadOnly: $u) { totalCount unreadCount
    edges { cursor node { id kind title body tag readAt actor { email } element { __typename ... on Lead { id title } ... on Deal { id title } } } }
    pageInfo { hasNextPage endCursor } } }";

/// A second user with a token; their id.
async fn rep(s: &TestServer, email: &str) -> (String, Value) {
    let token = s.token_for(email, false).await;
    let id = s.gql_as(&token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    (token, id)
}

async fn feed(s: &TestServer, token: &str, unread_only: bool) -> Value {
    let body = s.gql_as(token, FEED, json!({ "u": unread_only })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["notifications"].clone()
}

fn nodes(feed: &Value) -> Vec<Value> {
    feed["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

async fn unread(s: &TestServer, token: &str) -> i64 {
    s.gql_as(token, "{ counters { unreadNotifications } }", json!({})).await["data"]["counters"]["unreadNotifications"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn assignments_and_mentions_notify_others_and_collapse_by_tag() {
    let s = TestServer::start().await;
    let me = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let (token, rep_id) = rep(&s, "rep@test.local").await;
    let lead = s
        .ok(
            "mutation($u: ID!) { createLead(input: { title: \"Fleet renewal\", assignedToId: $u }) { id } }",
            json!({ "u": rep_id }),
        )
        .await["createLead"]["id"]
        .clone();
    // My own lead tells me nothing.
    s.ok("mutation { createLead(input: { title: \"Mine\" }) { id } }", json!({})).await;
    assert_eq!(feed(&s, &s.token, false).await["totalCount"], 0);
    let f = feed(&s, &token, false).await;
    let n = nodes(&f);
    assert_eq!(n.len(), 1, "{f}");
    assert_eq!(n[0]["kind"], "ASSIGNED");
    assert_eq!(n[0]["title"], "Lead assigned to you: Fleet renewal");
    assert_eq!(n[0]["actor"]["email"], "admin@test.local");
    assert_eq!(n[0]["element"]["id"], lead);
    // Changing something else tells nothing; assigning away and back replaces the notice.
    let update = "mutation($id: ID!, $u: ID!) { updateLead(id: $id, input: { assignedToId: $u }) { id } }";
    s.ok("mutation($id: ID!) { updateLead(id: $id, input: { comments: \"x\" }) { id } }", json!({ "id": lead })).await;
    s.ok(update, json!({ "id": lead, "u": me })).await;
    s.ok(update, json!({ "id": lead, "u": rep_id })).await;
    let f = feed(&s, &token, false).await;
    assert_eq!(f["totalCount"], 1, "one unread notice per tag: {f}");
    assert_ne!(nodes(&f)[0]["id"], n[0]["id"], "the newer one replaced it");
    // A mention.
    let text = format!("Please call them, @[Rep]({}) — and @[Me]({})", rep_id.as_str().unwrap(), me.as_str().unwrap());
    s.ok(
        "mutation($id: ID!, $t: String!) { addComment(element: { type: LEAD, id: $id }, text: $t) { id } }",
        json!({ "id": lead, "t": text }),
    )
    .await;
    let f = feed(&s, &token, false).await;
    let n = nodes(&f);
    assert_eq!(n[0]["kind"], "MENTIONED", "{f}");
    assert_eq!(n[0]["body"], "Please call them, @Rep — and @Me");
    assert_eq!(feed(&s, &s.token, false).await["totalCount"], 0, "mentioning oneself tells nothing");
    assert_eq!(unread(&s, &token).await, 2);
    // Reading.
    let mark = "mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }";
    let one = n[0]["id"].clone();
    assert_eq!(s.gql_as(&token, mark, json!({ "ids": [one] })).await["data"]["markNotificationsRead"], 1);
    assert_eq!(s.gql_as(&token, mark, json!({ "ids": [one] })).await["data"]["markNotificationsRead"], 0);
    // Another user's notification is not theirs to mark, nor to learn of.
    assert_eq!(s.gql(mark, json!({ "all": true })).await["data"]["markNotificationsRead"], 0);
    let theirs = s.gql(mark, json!({ "ids": [n[1]["id"]] })).await;
    assert_eq!(theirs["errors"][0]["extensions"]["code"], "NOT_FOUND", "{theirs}");
    assert_eq!(unread(&s, &token).await, 1);
    assert_eq!(feed(&s, &token, true).await["totalCount"], 1);
    assert_eq!(s.gql_as(&token, mark, json!({ "all": true })).await["data"]["markNotificationsRead"], 1);
    assert_eq!(unread(&s, &token).await, 0);
    let f = feed(&s, &token, false).await;
    assert!(nodes(&f).iter().all(|n| n["readAt"].is_string()));
    let bad = s.gql_as(&token, mark, json!({})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn nobody_hears_of_what_they_may_not_read() {
    let s = TestServer::start().await;
    let me = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let (token, rep_id) = rep(&s, "own@test.local").await;
    s.give_read_role(&rep_id, "Own only", "OWN").await;
    let hidden = s
        .ok(
            "mutation($u: ID!) { createLead(input: { title: \"Hidden\", assignedToId: $u }) { id } }",
            json!({ "u": me }),
        )
        .await["createLead"]["id"]
        .clone();
    let text = format!("FYI @[Own]({})", rep_id.as_str().unwrap());
    s.ok(
        "mutation($id: ID!, $t: String!) { addComment(element: { type: LEAD, id: $id }, text: $t) { id } }",
        json!({ "id": hidden, "t": text }),
    )
    .await;
    assert_eq!(feed(&s, &token, false).await["totalCount"], 0, "a lead they cannot read");
    // A deal of theirs won by someone else.
    let deal = s
        .ok(
            "mutation($u: ID!) { createDeal(input: { title: \"Big one\", assignedToId: $u }) { id } }",
            json!({ "u": rep_id }),
        )
        .await["createDeal"]["id"]
        .clone();
    s.ok("mutation($id: ID!) { closeDeal(id: $id, won: true) { id } }", json!({ "id": deal })).await;
    let n = nodes(&feed(&s, &token, false).await);
    assert_eq!(n[0]["kind"], "DEAL_WON", "{n:?}");
    assert_eq!(n[0]["title"], "Deal won: Big one");
    assert_eq!(n[1]["kind"], "ASSIGNED", "{n:?}");
    assert_eq!(n.len(), 2, "nothing about the hidden lead: {n:?}");
}

#[tokio::test]
async fn lost_deals_calls_forms_and_webhooks_notify() {
    let s = TestServer::start().await;
    let (token, rep_id) = rep(&s, "rep@test.local").await;
    let deal = s
        .ok(
            "mutation($u: ID!) { createDeal(input: { title: \"Slipped\", assignedToId: $u }) { id } }",
            json!({ "u": rep_id }),
        )
        .await["createDeal"]["id"]
        .clone();
    s.ok("mutation($id: ID!) { closeDeal(id: $id, won: false, lostReason: \"Price\") { id } }", json!({ "id": deal }))
        .await;
    let n = nodes(&feed(&s, &token, true).await);
    assert_eq!((n[0]["kind"].as_str(), n[0]["body"].as_str()), (Some("DEAL_LOST"), Some("Price")), "{n:?}");
    // A missed call for the rep.
    s.ok(
        "mutation($u: ID!) { registerCall(input: { externalCallId: \"c-1\", direction: INCOMING, phone: \"+49 30 555 0101\", userId: $u }) { call { id } } }",
        json!({ "u": rep_id }),
    )
    .await;
    s.ok("mutation { finishCall(input: { externalCallId: \"c-1\", status: MISSED }) { id } }", json!({})).await;
    let n = nodes(&feed(&s, &token, true).await);
    assert_eq!(n[0]["kind"], "CALL_MISSED", "{n:?}");
    assert!(n[0]["title"].as_str().unwrap().contains("+49 30 555 0101"));
    assert_eq!(n[0]["element"]["__typename"], "Lead", "the caller's new lead");
    // A web form whose leads go to the rep: one notice, not an assignment besides.
    let f = s
        .ok(
            "mutation($u: ID!) { createWebForm(input: { name: \"Demo request\", assignedToId: $u, fields: [{ key: \"name\", label: \"Name\", type: STRING, target: \"lastName\" }] }) { key } }",
            json!({ "u": rep_id }),
        )
        .await;
    let key = f["createWebForm"]["key"].as_str().unwrap().to_owned();
    let resp = s
        .client
        .post(s.url(&format!("/forms/{key}/submit")))
        .json(&json!({ "fields": { "name": "Olsen" } }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let n = nodes(&feed(&s, &token, true).await);
    assert_eq!(n[0]["kind"], "FORM_SUBMITTED", "{n:?}");
    assert_eq!(n[0]["title"], "New lead from “Demo request”: Olsen");
    assert_eq!(n.iter().filter(|x| x["element"]["id"] == n[0]["element"]["id"]).count(), 1, "{n:?}");
    // A webhook of the admin's that the receiver ends with 410.
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { axum::http::StatusCode::GONE }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    s.ok(
        "mutation($url: String!) { createWebhook(input: { url: $url, events: [\"*\"], name: \"ERP\" }) { secret } }",
        json!({ "url": url }),
    )
    .await;
    s.ok("mutation { createLead(input: { title: \"Trigger\" }) { id } }", json!({})).await;
    let mut found = Vec::new();
    for _ in 0..100 {
        found = nodes(&feed(&s, &s.token, true).await);
        if found.iter().any(|n| n["kind"] == "WEBHOOK_DISABLED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let w = found.iter().find(|n| n["kind"] == "WEBHOOK_DISABLED").expect("webhook notice");
    assert_eq!(w["title"], "Webhook disabled: ERP");
    assert!(w["body"].as_str().unwrap().contains("410"));
}

#[tokio::test]
async fn deadlines_and_imports_notify_when_they_happen() {
    let s = TestServer::start().await;
    let (token, rep_id) = rep(&s, "rep@test.local").await;
    let lead = s
        .ok(
            "mutation($u: ID!) { createLead(input: { title: \"Due soon\", assignedToId: $u }) { id } }",
            json!({ "u": rep_id }),
        )
        .await["createLead"]["id"]
        .clone();
    let deadline = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    s.ok(
        "mutation($id: ID!, $u: ID!, $d: DateTime!) { createActivity(input: { type: \"CALL\", subject: \"Call back\", owner: { type: LEAD, id: $id }, responsibleId: $u, deadline: $d }) { id } }",
        json!({ "id": lead, "u": rep_id, "d": deadline }),
    )
    .await;
    let mut n = Vec::new();
    for _ in 0..60 {
        n = nodes(&feed(&s, &token, true).await);
        if n.iter().any(|x| x["kind"] == "DEADLINE_REACHED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = n.iter().find(|x| x["kind"] == "DEADLINE_REACHED").unwrap_or_else(|| panic!("{n:?}"));
    assert_eq!(d["title"], "Deadline reached: Call back");
    assert_eq!(d["element"]["id"], lead);
    assert!(d["actor"].is_null());
    // An import tells the one who started it when it ends.
    let start = "mutation($file: Upload!, $input: ImportInput!) { startImport(file: $file, input: $input) { id } }";
    let operations = json!({ "query": start, "variables": { "file": null, "input": { "elementType": "LEAD" } } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", reqwest::multipart::Part::bytes(b"lastName\nBerg\nKurz\n".to_vec()).file_name("people.csv"));
    let resp = s.client.post(s.url("/graphql")).bearer_auth(&s.token).multipart(form).send().await.unwrap();
    let started: Value = resp.json().await.unwrap();
    assert!(started.get("errors").is_none(), "{started}");
    let mut n = Vec::new();
    for _ in 0..100 {
        n = nodes(&feed(&s, &s.token, true).await);
        if !n.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(n[0]["kind"], "IMPORT_FINISHED", "{n:?}");
    assert_eq!(n[0]["title"], "Import people.csv done");
    assert_eq!(n[0]["body"], "2 created, 0 updated, 0 skipped, 0 failed");
}

#[tokio::test]
async fn notifications_arrive_live_with_the_unread_count() {
    let s = TestServer::start().await;
    let (token, rep_id) = rep(&s, "live@test.local").await;
    let mut added = subscribe(
        s.addr,
        &token,
        "subscription { notificationAdded { kind title element { __typename } } }",
        json!({}),
    )
    .await;
    let mut counters =
        subscribe(s.addr, &token, "subscription { countersChanged { unreadNotifications } }", json!({})).await;
    // The current counters come first.
    let first = next_within(&mut counters, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first["payload"]["data"]["countersChanged"]["unreadNotifications"], 0, "{first}");
    s.ok(
        "mutation($u: ID!) { createLead(input: { title: \"Live\", assignedToId: $u }) { id } }",
        json!({ "u": rep_id }),
    )
    .await;
    let msg = next_within(&mut added, Duration::from_secs(5)).await.expect("notificationAdded");
    assert_eq!(msg["payload"]["data"]["notificationAdded"]["kind"], "ASSIGNED", "{msg}");
    assert_eq!(msg["payload"]["data"]["notificationAdded"]["element"]["__typename"], "Lead");
    let mut last = Value::Null;
    while let Some(m) = next_within(&mut counters, Duration::from_secs(3)).await {
        last = m["payload"]["data"]["countersChanged"]["unreadNotifications"].clone();
        if last == 1 {
            break;
        }
    }
    assert_eq!(last, 1);
    // Someone else's notification does not reach this subscriber.
    let other = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let (_, x) = rep(&s, "x@test.local").await;
    s.ok(
        "mutation($u: ID!) { createLead(input: { title: \"Not yours\", assignedToId: $u }) { id } }",
        json!({ "u": x }),
    )
    .await;
    assert!(next_within(&mut added, Duration::from_millis(800)).await.is_none());
    let _ = other;
}

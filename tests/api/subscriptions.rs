//! Subscriptions over WebSocket: element changes and history entries as they happen,
//! resuming with `after`, across two instances through Redis, and through a Redis restart.

use crate::common;

use std::time::Duration;

use common::{PrivateRedis, TestServer, Ws, next_within, subscribe};
use serde_json::{Value, json};

async fn next(ws: &mut Ws) -> Option<Value> {
    next_within(ws, Duration::from_secs(10)).await
}

/// The payloads of the next `n` `next` messages.
async fn take(ws: &mut Ws, n: usize, field: &str) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let msg = next(ws).await.unwrap_or_else(|| panic!("only {} of {n} events arrived", out.len()));
        assert_eq!(msg["type"], "next", "{msg}");
        assert!(msg["payload"].get("errors").is_none(), "{msg}");
        out.push(msg["payload"]["data"][field].clone());
    }
    out
}

const CHANGES: &str = "subscription($after: String, $types: [ElementType!]) { elementChanged(after: $after, types: $types) {
    eventId elementType elementId action changedFields element { ... on Lead { title } ... on Deal { title stage { code } } } } }";

async fn lead(s: &TestServer, title: &str) -> String {
    let d = s.ok("mutation($t: String!) { createLead(input: { title: $t }) { id } }", json!({ "t": title })).await;
    d["createLead"]["id"].as_str().unwrap().to_owned()
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["eventId"].as_str().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn element_changes_arrive_live_with_the_element() {
    let s = TestServer::start().await;
    let mut ws = subscribe(s.addr, &s.token, CHANGES, json!({})).await;
    let id = lead(&s, "Live one").await;
    s.ok("mutation($id: ID!) { updateLead(id: $id, input: { title: \"Renamed\" }) { id } }", json!({ "id": id })).await;
    let events = take(&mut ws, 2, "elementChanged").await;
    assert_eq!(events[0]["action"], "CREATED");
    assert_eq!(events[0]["elementId"], id.as_str());
    assert_eq!(events[0]["element"]["title"], "Live one");
    assert_eq!(events[1]["action"], "UPDATED");
    assert_eq!(events[1]["changedFields"], json!(["title"]));
    assert_eq!(events[1]["element"]["title"], "Renamed");
    let s2 = seqs(&events);
    assert!(s2[0] < s2[1]);

    // `types` filters: a deal subscriber does not see leads.
    let mut deals = subscribe(s.addr, &s.token, CHANGES, json!({ "types": ["DEAL"] })).await;
    lead(&s, "Not for deals").await;
    s.ok("mutation { createDeal(input: { title: \"Big\" }) { id } }", json!({})).await;
    let got = take(&mut deals, 1, "elementChanged").await;
    assert_eq!(got[0]["elementType"], "DEAL");
    assert_eq!(got[0]["element"]["stage"]["code"], "NEW");
}

#[tokio::test]
async fn after_replays_then_continues_without_gap_or_duplicate() {
    let s = TestServer::start().await;
    let mut first = subscribe(s.addr, &s.token, CHANGES, json!({})).await;
    for i in 0..3 {
        lead(&s, &format!("Lead {i}")).await;
    }
    let seen = take(&mut first, 3, "elementChanged").await;
    let resume_from = seen[0]["eventId"].as_str().unwrap().to_owned();
    drop(first);

    // Written while nobody listens.
    for i in 3..5 {
        lead(&s, &format!("Lead {i}")).await;
    }
    let mut again = subscribe(s.addr, &s.token, CHANGES, json!({ "after": resume_from })).await;
    let replayed = take(&mut again, 4, "elementChanged").await;
    let titles: Vec<&str> = replayed.iter().map(|e| e["element"]["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Lead 1", "Lead 2", "Lead 3", "Lead 4"]);
    lead(&s, "Lead 5").await;
    let live = take(&mut again, 1, "elementChanged").await;
    assert_eq!(live[0]["element"]["title"], "Lead 5");
    let mut all = seqs(&replayed);
    all.extend(seqs(&live));
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "in order and without duplicates");
}

#[tokio::test]
async fn timeline_of_one_element_and_unknown_elements() {
    let s = TestServer::start().await;
    let id = lead(&s, "Watched").await;
    let other = lead(&s, "Other").await;
    let q = "subscription($el: ElementRef) { timelineAdded(element: $el) { eventId entry { kind text elementId author { email } } } }";
    let mut ws = subscribe(s.addr, &s.token, q, json!({ "el": { "type": "LEAD", "id": id } })).await;
    s.ok(
        "mutation($id: ID!) { addComment(element: { type: LEAD, id: $id }, text: \"noise\") { id } }",
        json!({ "id": other }),
    )
    .await;
    s.ok(
        "mutation($id: ID!) { addComment(element: { type: LEAD, id: $id }, text: \"called back\") { id } }",
        json!({ "id": id }),
    )
    .await;
    let got = take(&mut ws, 1, "timelineAdded").await;
    assert_eq!(got[0]["entry"]["kind"], "COMMENT");
    assert_eq!(got[0]["entry"]["text"], "called back");
    assert_eq!(got[0]["entry"]["elementId"], id.as_str());
    assert_eq!(got[0]["entry"]["author"]["email"], "admin@test.local");

    let mut bad = subscribe(s.addr, &s.token, q, json!({ "el": { "type": "LEAD", "id": "lead:999999" } })).await;
    let msg = next(&mut bad).await.unwrap();
    // The subscription field fails at once, as a field error.
    assert_eq!(msg["type"], "next", "{msg}");
    assert_eq!(msg["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn two_instances_share_events_through_redis() {
    let redis = PrivateRedis::start().await;
    let url = redis.url();
    let a = TestServer::start_with(|g| g.redis_url = Some(url.clone())).await;
    let b = a.sibling(|g| g.redis_url = Some(url.clone())).await;
    let mut on_b = subscribe(b.addr, &a.token, CHANGES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = lead(&a, "Written on A").await;
    let got = take(&mut on_b, 1, "elementChanged").await;
    assert_eq!(got[0]["elementId"], id.as_str());
    assert_eq!(got[0]["element"]["title"], "Written on A");
}

#[tokio::test]
async fn events_written_while_redis_is_down_arrive_in_order() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let a = TestServer::start_with(|g| g.redis_url = Some(url.clone())).await;
    let b = a.sibling(|g| g.redis_url = Some(url.clone())).await;
    let mut on_b = subscribe(b.addr, &a.token, CHANGES, json!({ "types": ["LEAD"] })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    lead(&a, "before").await;
    let first = take(&mut on_b, 1, "elementChanged").await;

    redis.stop();
    // Mutations keep working without Redis.
    for i in 0..5 {
        lead(&a, &format!("during {i}")).await;
    }
    redis.restart().await;
    lead(&a, "after").await;

    let rest = take(&mut on_b, 6, "elementChanged").await;
    let titles: Vec<&str> = rest.iter().map(|e| e["element"]["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["during 0", "during 1", "during 2", "during 3", "during 4", "after"]);
    let mut all = seqs(&first);
    all.extend(seqs(&rest));
    assert!(all.windows(2).all(|w| w[0] < w[1]), "in order: {all:?}");

    // A subscriber resuming across the gap gets the same events.
    let mut resumed =
        subscribe(b.addr, &a.token, CHANGES, json!({ "types": ["LEAD"], "after": first[0]["eventId"] })).await;
    let replay = take(&mut resumed, 6, "elementChanged").await;
    assert_eq!(seqs(&replay), seqs(&rest));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn one_ticker_moves_counters_on_every_instance() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let redis = PrivateRedis::start().await;
    let url = redis.url();
    let a = TestServer::start_with(|g| g.redis_url = Some(url.clone())).await;
    let b = a.sibling(|g| g.redis_url = Some(url.clone())).await;
    let me = a.ok("{ me { id } }", json!({})).await["me"]["id"].as_str().unwrap().to_owned();
    let deal = a
        .ok("mutation($u: ID!) { createDeal(input: { title: \"Due\", assignedToId: $u }) { id } }", json!({ "u": me }))
        .await["createDeal"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = chrono::Utc::now() + chrono::Duration::seconds(2);
    a.ok(
        "mutation($d: ID!, $t: DateTime!) { createActivity(input: { type: \"CALL\", subject: \"due\", deadline: $t, owner: { type: DEAL, id: $d } }) { id } }",
        json!({ "d": deal, "t": deadline.to_rfc3339() }),
    )
    .await;

    let q = "subscription { countersChanged { deals { overdue pending } } }";
    let mut on_a = subscribe(a.addr, &a.token, q, json!({})).await;
    let mut on_b = subscribe(b.addr, &a.token, q, json!({})).await;
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(take(ws, 1, "countersChanged").await[0]["deals"], json!({ "overdue": 0, "pending": 1 }));
    }
    // No write: the deadline passes, and both instances push the new figures.
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(take(ws, 1, "countersChanged").await[0]["deals"], json!({ "overdue": 1, "pending": 0 }));
    }
    // One runner wrote the tick for that deadline, not one per instance or subscription; its
    // transaction also holds the deadline's notification, whose COUNTERS event moves the
    // unread count.
    let mut conn = AsyncPgConnection::establish(&a.db.url).await.unwrap();
    let notices: Count = diesel::sql_query("SELECT count(*) AS n FROM notifications WHERE kind = 'DEADLINE_REACHED'")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(notices.n, 1);
    let ticks: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM events WHERE action = 'COUNTERS' AND actor_id IS NULL AND created_at >= $1",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(deadline)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(ticks.n, 1 + notices.n);
    assert!(next_within(&mut on_b, Duration::from_millis(1500)).await.is_none(), "nothing else changed");
}

//! Activities, counters and countersChanged.

use crate::common;

use std::time::Duration;

use chrono::{Timelike, Utc};
use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ACTIVITY_FIELDS: &str = "id version type subject direction priority deadline completed completedAt
    responsible { email } owner { type id } bindings { type id }";

async fn create(s: &TestServer, token: &str, input: Value) -> Value {
    let q = format!("mutation($in: ActivityInput!) {{ createActivity(input: $in) {{ {ACTIVITY_FIELDS} }} }}");
    let body = s.gql_as(token, &q, json!({ "in": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createActivity"].clone()
}

async fn element(s: &TestServer, mutation: &str, input: Value) -> String {
    let q = format!("mutation($in: {}Input!) {{ {mutation}(input: $in) {{ id }} }}", &mutation[6..]);
    let d = s.ok(&q, json!({ "in": input })).await;
    d[mutation]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn activities_are_bound_recorded_completed_and_listed() {
    let s = TestServer::start().await;
    let deal = element(&s, "createDeal", json!({ "title": "Rollout" })).await;
    let contact = element(&s, "createContact", json!({ "lastName": "Lind" })).await;
    let deadline = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let a = create(
        &s,
        &s.token,
        json!({ "type": "call", "subject": "Kick-off call", "direction": "OUTGOING", "deadline": deadline,
                "owner": { "type": "DEAL", "id": deal }, "bindings": [{ "type": "CONTACT", "id": contact }] }),
    )
    .await;
    assert_eq!(a["type"], "CALL");
    assert_eq!(a["priority"], "MEDIUM");
    assert_eq!(a["responsible"]["email"], "admin@test.local");
    assert_eq!(a["owner"], json!({ "type": "DEAL", "id": deal }));
    assert_eq!(a["bindings"].as_array().unwrap().len(), 2);
    let id = a["id"].as_str().unwrap().to_owned();

    // Both bound elements list it and have the history entry.
    let q = "query($d: ID!, $c: ID!) {
        deal(id: $d) { activities { totalCount nodes { id } } timeline { nodes { kind text } } }
        contact(id: $c) { activities { totalCount nodes { id subject } } timeline { nodes { kind } } } }";
    let d = s.ok(q, json!({ "d": deal, "c": contact })).await;
    assert_eq!(d["deal"]["activities"]["nodes"][0]["id"], id.as_str());
    assert_eq!(d["contact"]["activities"]["totalCount"], 1);
    assert_eq!(d["deal"]["timeline"]["nodes"][0]["kind"], "ACTIVITY_ADDED");
    assert!(d["deal"]["timeline"]["nodes"][0]["text"].as_str().unwrap().contains("Kick-off call"));
    assert_eq!(d["contact"]["timeline"]["nodes"][0]["kind"], "ACTIVITY_ADDED");

    let done =
        s.ok("mutation($id: ID!) { completeActivity(id: $id) { completed completedAt } }", json!({ "id": id })).await;
    assert_eq!(done["completeActivity"]["completed"], true);
    assert!(done["completeActivity"]["completedAt"].is_string());
    let d = s.ok(q, json!({ "d": deal, "c": contact })).await;
    assert_eq!(d["contact"]["timeline"]["nodes"][0]["kind"], "ACTIVITY_COMPLETED");
    let open =
        s.ok("mutation($id: ID!) { reopenActivity(id: $id) { completed completedAt } }", json!({ "id": id })).await;
    assert_eq!(open["reopenActivity"], json!({ "completed": false, "completedAt": null }));

    // Top-level list with filters.
    create(
        &s,
        &s.token,
        json!({ "type": "TODO", "subject": "Send deck", "owner": { "type": "CONTACT", "id": contact } }),
    )
    .await;
    let lists = s
        .ok(
            "query($c: ID!) {
               calls: activities(filter: { type: { eq: \"CALL\" } }) { totalCount }
               onContact: activities(filter: { element: { type: CONTACT, id: $c } }) { totalCount }
               open: activities(filter: { completed: { eq: false }, deadline: { isNull: false } }) { totalCount } }",
            json!({ "c": contact }),
        )
        .await;
    assert_eq!(
        lists,
        json!({ "calls": { "totalCount": 1 }, "onContact": { "totalCount": 2 }, "open": { "totalCount": 1 } })
    );

    let updated = s
        .ok(
            "mutation($id: ID!) { updateActivity(id: $id, expectedVersion: 3, input: { subject: \"Kick-off\", priority: \"HIGH\" }) { subject priority version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(updated["updateActivity"], json!({ "subject": "Kick-off", "priority": "HIGH", "version": 4 }));
    let stale = s
        .err_code(
            "mutation($id: ID!) { updateActivity(id: $id, expectedVersion: 1, input: { subject: \"x\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(stale, "CONFLICT");
    let gone = s.ok("mutation($id: ID!) { deleteActivity(id: $id) }", json!({ "id": id })).await;
    assert_eq!(gone["deleteActivity"], id.as_str());
    assert_eq!(s.err_code("query($id: ID!) { activity(id: $id) { id } }", json!({ "id": id })).await, "NOT_FOUND");
}

#[tokio::test]
async fn bad_activities_are_refused() {
    let s = TestServer::start().await;
    let deal = element(&s, "createDeal", json!({ "title": "Rollout" })).await;
    let before = s.ok("{ activities { totalCount } history { totalCount } }", json!({})).await;
    let owner = json!({ "type": "DEAL", "id": deal });
    for (input, field) in [
        (json!({ "type": "PARTY", "subject": "x", "owner": owner }), "type"),
        (json!({ "subject": "x", "owner": owner }), "type"),
        (json!({ "type": "CALL", "subject": " ", "owner": owner }), "subject"),
        (json!({ "type": "CALL", "subject": "x" }), "owner"),
        (json!({ "type": "CALL", "subject": "x", "owner": { "type": "DEAL", "id": "deal:999999" } }), "owner"),
        (json!({ "type": "CALL", "subject": "x", "owner": owner, "direction": "SIDEWAYS" }), "direction"),
        (json!({ "type": "CALL", "subject": "x", "owner": owner, "responsibleId": "user:999999" }), "responsibleId"),
        (
            json!({ "type": "CALL", "subject": "x", "owner": owner, "startAt": "2026-01-02T10:00:00Z", "endAt": "2026-01-02T09:00:00Z" }),
            "endAt",
        ),
        (
            json!({ "type": "CALL", "subject": "x", "owner": owner, "bindings": [{ "type": "LEAD", "id": "lead:999999" }] }),
            "bindings[0]",
        ),
    ] {
        let body =
            s.gql("mutation($in: ActivityInput!) { createActivity(input: $in) { id } }", json!({ "in": input })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}: {body}");
    }
    let after = s.ok("{ activities { totalCount } history { totalCount } }", json!({})).await;
    assert_eq!(before, after, "nothing written");
    assert_eq!(
        s.err_code("mutation { completeActivity(id: \"activity:999999\") { id } }", json!({})).await,
        "NOT_FOUND"
    );
}

/// A time zone in which it is around noon now, so "today" has room on both sides.
fn noon_zone() -> String {
    let hour = Utc::now().hour() as i32;
    let offset = (12 - hour).rem_euclid(24);
    let offset = if offset > 12 { offset - 24 } else { offset };
    // Etc/GMT-N is UTC+N.
    if offset >= 0 { format!("Etc/GMT-{offset}") } else { format!("Etc/GMT+{}", -offset) }
}

async fn rep(s: &TestServer) -> (String, String) {
    let token = s.token_for("rep@test.local", false).await;
    let me = s.gql_as(&token, "{ me { id } }", json!({})).await;
    let id = me["data"]["me"]["id"].as_str().unwrap().to_owned();
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    diesel::sql_query("UPDATE users SET time_zone = $1 WHERE email = 'rep@test.local'")
        .bind::<diesel::sql_types::Text, _>(noon_zone())
        .execute(&mut conn)
        .await
        .unwrap();
    (token, id)
}

const COUNTERS: &str = "total { overdue pending idle incoming total } leads { overdue pending idle incoming total }
    deals { overdue pending idle incoming total } contacts { overdue pending idle incoming total }
    companies { overdue pending idle incoming total } dealsByPipeline { pipeline { isDefault } counters { pending total } }";

fn set(overdue: i64, pending: i64, idle: i64, incoming: i64, total: i64) -> Value {
    json!({ "overdue": overdue, "pending": pending, "idle": idle, "incoming": incoming, "total": total })
}

#[tokio::test]
async fn counters_classify_elements_for_the_user() {
    let s = TestServer::start().await;
    let (token, me) = rep(&s).await;
    let now = Utc::now();
    let lead = element(&s, "createLead", json!({ "title": "Overdue", "assignedToId": me })).await;
    create(
        &s,
        &token,
        json!({ "type": "CALL", "subject": "late", "deadline": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "owner": { "type": "LEAD", "id": lead } }),
    )
    .await;
    let deal = element(&s, "createDeal", json!({ "title": "Pending", "assignedToId": me })).await;
    create(
        &s,
        &token,
        json!({ "type": "MEETING", "subject": "soon", "deadline": (now + chrono::Duration::hours(2)).to_rfc3339(),
        "owner": { "type": "DEAL", "id": deal } }),
    )
    .await;
    element(&s, "createContact", json!({ "lastName": "Idle", "assignedToId": me })).await;
    let company = element(&s, "createCompany", json!({ "title": "Calls us", "assignedToId": me })).await;
    create(
        &s,
        &token,
        json!({ "type": "CALL", "subject": "missed call", "direction": "INCOMING",
        "deadline": (now + chrono::Duration::days(3)).to_rfc3339(), "owner": { "type": "COMPANY", "id": company } }),
    )
    .await;
    // Not in progress: a won deal with an overdue activity does not count.
    let won = element(&s, "createDeal", json!({ "title": "Won", "assignedToId": me })).await;
    create(
        &s,
        &token,
        json!({ "type": "TASK", "subject": "old", "deadline": (now - chrono::Duration::days(1)).to_rfc3339(),
        "owner": { "type": "DEAL", "id": won } }),
    )
    .await;
    s.ok("mutation($id: ID!) { closeDeal(id: $id, won: true) { id } }", json!({ "id": won })).await;
    // Someone else's activity does not count for me, and my company is never counted.
    create(
        &s,
        &s.token,
        json!({ "type": "CALL", "subject": "admin's", "deadline": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "owner": { "type": "CONTACT", "id": element(&s, "createContact", json!({ "lastName": "Other" })).await } }),
    )
    .await;
    element(&s, "createCompany", json!({ "title": "Us", "isMyCompany": true, "assignedToId": me })).await;

    let body = s.gql_as(&token, &format!("{{ counters {{ userId {COUNTERS} }} }}"), json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let c = &body["data"]["counters"];
    assert_eq!(c["userId"], me.as_str());
    assert_eq!(c["leads"], set(1, 0, 0, 0, 1));
    assert_eq!(c["deals"], set(0, 1, 0, 0, 1));
    assert_eq!(c["contacts"], set(0, 0, 1, 0, 0));
    assert_eq!(c["companies"], set(0, 0, 0, 1, 1));
    assert_eq!(c["total"], set(1, 1, 1, 1, 3));
    assert_eq!(
        c["dealsByPipeline"],
        json!([{ "pipeline": { "isDefault": true }, "counters": { "pending": 1, "total": 1 } }])
    );

    // Another user's counters: admins only.
    let admin_view = s.ok("query($u: ID!) { counters(userId: $u) { total { total } } }", json!({ "u": me })).await;
    assert_eq!(admin_view["counters"]["total"]["total"], 3);
    let other = s.gql_as(&token, "{ counters(userId: \"user:1\") { userId } }", json!({})).await;
    assert_eq!(other["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

async fn next_counters(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let msg =
            tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("counters in time").unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "next" {
                assert!(v["payload"].get("errors").is_none(), "{v}");
                return v["payload"]["data"]["countersChanged"].clone();
            }
        }
    }
}

#[tokio::test]
async fn counters_change_when_a_deadline_passes_without_any_write() {
    let s = TestServer::start().await;
    let (token, me) = rep(&s).await;
    let deal = element(&s, "createDeal", json!({ "title": "Deadline soon", "assignedToId": me })).await;
    let a = create(&s, &token, json!({ "type": "CALL", "subject": "call back", "deadline": (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339(),
        "owner": { "type": "DEAL", "id": deal } })).await;

    let mut req = format!("ws://{}/graphql", s.addr).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { countersChanged { deals { overdue pending idle total } } }" } });
    ws.send(Message::Text(sub.to_string().into())).await.unwrap();

    let first = next_counters(&mut ws).await;
    assert_eq!(first["deals"], json!({ "overdue": 0, "pending": 1, "idle": 0, "total": 1 }), "sent at once");
    // Nobody writes: the deadline passes.
    let passed = next_counters(&mut ws).await;
    assert_eq!(passed["deals"], json!({ "overdue": 1, "pending": 0, "idle": 0, "total": 1 }));
    // A write that affects the counters.
    s.gql_as(&token, "mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": a["id"] })).await;
    let done = next_counters(&mut ws).await;
    assert_eq!(done["deals"], json!({ "overdue": 0, "pending": 0, "idle": 1, "total": 0 }));
}

#[tokio::test]
async fn conversion_binds_and_completes_the_leads_open_activities() {
    let s = TestServer::start().await;
    for complete in [true, false] {
        let lead = element(&s, "createLead", json!({ "firstName": "Ann", "lastName": "Lee" })).await;
        let a = create(
            &s,
            &s.token,
            json!({ "type": "CALL", "subject": "qualify", "owner": { "type": "LEAD", "id": lead } }),
        )
        .await;
        let done = s
            .ok(
                "mutation($id: ID!, $c: Boolean!) { convertLead(input: { leadId: $id, contact: { create: true }, completeActivities: $c }) { contact { id } } }",
                json!({ "id": lead, "c": complete }),
            )
            .await;
        let contact = done["convertLead"]["contact"]["id"].as_str().unwrap().to_owned();
        let after = s
            .ok("query($id: ID!) { activity(id: $id) { completed bindings { type id } } }", json!({ "id": a["id"] }))
            .await;
        assert_eq!(after["activity"]["completed"], complete);
        assert!(
            after["activity"]["bindings"].as_array().unwrap().contains(&json!({ "type": "CONTACT", "id": contact }))
        );
    }
}

//! Incoming calls reported by a telephone system: idempotent registration, known and unknown
//! callers, answered and missed calls, the counters and the screen pop over the WebSocket.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, next_within, subscribe};

const REGISTER: &str = "mutation($i: RegisterCallInput!) { registerCall(input: $i) {
    call { id externalCallId direction phone status user { email } activity { id type direction completed deadline } }
    matches { __typename ... on Contact { id lastName } ... on Lead { id title } ... on Company { id title } }
    createdLead { id title source { code } phones { value } } } }";

const FINISH: &str = "mutation($i: FinishCallInput!) { finishCall(input: $i) {
    id status durationSeconds recordingUrl activity { completed deadline subject } } }";

async fn register(s: &TestServer, token: &str, input: Value) -> Value {
    let body = s.gql_as(token, REGISTER, json!({ "i": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["registerCall"].clone()
}

async fn incoming(s: &TestServer, token: &str) -> i64 {
    let c = s.gql_as(token, "{ counters { leads { incoming } contacts { incoming } } }", json!({})).await;
    let c = &c["data"]["counters"];
    c["leads"]["incoming"].as_i64().unwrap() + c["contacts"]["incoming"].as_i64().unwrap()
}

#[tokio::test]
async fn an_unknown_caller_becomes_a_lead_and_the_same_call_registers_once() {
    let s = TestServer::start().await;
    let first = register(
        &s,
        &s.token,
        json!({ "externalCallId": "pbx-1001", "direction": "INCOMING", "phone": "+49 30 5550100", "lineNumber": "030 555000" }),
    )
    .await;
    let lead = &first["createdLead"];
    assert_eq!(lead["source"]["code"], "CALL");
    assert_eq!(lead["phones"][0]["value"], "+49 30 5550100");
    assert_eq!(first["matches"][0]["id"], lead["id"]);
    let activity = &first["call"]["activity"];
    assert_eq!((activity["type"].as_str(), activity["direction"].as_str()), (Some("CALL"), Some("INCOMING")));
    assert_eq!(activity["completed"], false);
    assert_eq!(first["call"]["user"]["email"], "admin@test.local");
    assert_eq!(incoming(&s, &s.token).await, 1);

    // The telephone system retries: the same call, no second lead or activity.
    let again = register(
        &s,
        &s.token,
        json!({ "externalCallId": "pbx-1001", "direction": "INCOMING", "phone": "+49 30 5550100" }),
    )
    .await;
    assert_eq!(again["call"]["id"], first["call"]["id"]);
    assert_eq!(again["createdLead"]["id"], lead["id"]);
    let leads = s.ok("{ leads(first: 10) { totalCount } }", json!({})).await;
    assert_eq!(leads["leads"]["totalCount"], 1);
    assert_eq!(incoming(&s, &s.token).await, 1);

    // Without createLead an unknown caller stays unknown.
    let anon = register(
        &s,
        &s.token,
        json!({ "externalCallId": "pbx-1002", "direction": "INCOMING", "phone": "+49 40 1110000", "createLead": false }),
    )
    .await;
    assert!(anon["createdLead"].is_null() && anon["matches"].as_array().unwrap().is_empty(), "{anon}");

    // Bad input is refused with the field named.
    let body = s
        .gql(REGISTER, json!({ "i": { "externalCallId": "pbx-1003", "direction": "INCOMING", "phone": "call me" } }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "phone");
    let body = s
        .gql(REGISTER, json!({ "i": { "externalCallId": " ", "direction": "INCOMING", "phone": "+49 30 5550100" } }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn a_known_caller_reaches_the_contacts_owner_and_a_missed_call_stays_open() {
    let s = TestServer::start().await;
    let rep = s.token_for("rep@test.local", false).await;
    let rep_id = s.gql_as(&rep, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let c = s
        .ok(
            "mutation($u: ID!) { createContact(input: { lastName: \"Berg\", assignedToId: $u, phones: [{ value: \"030 5550199\" }] }) { id } }",
            json!({ "u": rep_id }),
        )
        .await;
    let contact = c["createContact"]["id"].clone();
    // The registration may come in the PBX's own notation of the number.
    let r = register(
        &s,
        &s.token,
        json!({ "externalCallId": "pbx-2001", "direction": "INCOMING", "phone": "004930 555 0199" }),
    )
    .await;
    assert!(r["createdLead"].is_null());
    assert_eq!(r["matches"][0]["id"], contact);
    assert_eq!(r["call"]["user"]["email"], "rep@test.local", "the contact's owner takes the call");
    assert_eq!(incoming(&s, &rep).await, 1);

    let answered = s
        .ok(
            FINISH,
            json!({ "i": { "externalCallId": "pbx-2001", "status": "ANSWERED", "durationSeconds": 95,
                           "recordingUrl": "https://pbx.example/rec/2001.mp3" } }),
        )
        .await;
    let call = &answered["finishCall"];
    assert_eq!((call["status"].as_str(), call["durationSeconds"].as_i64()), (Some("ANSWERED"), Some(95)));
    assert_eq!(call["recordingUrl"], "https://pbx.example/rec/2001.mp3");
    assert_eq!(call["activity"]["completed"], true);
    assert_eq!(incoming(&s, &rep).await, 0, "an answered call leaves the counters");

    register(&s, &s.token, json!({ "externalCallId": "pbx-2002", "direction": "INCOMING", "phone": "+49 30 5550199" }))
        .await;
    assert_eq!(incoming(&s, &rep).await, 1);
    let missed = s.ok(FINISH, json!({ "i": { "externalCallId": "pbx-2002", "status": "MISSED" } })).await;
    let call = &missed["finishCall"];
    assert_eq!(call["status"], "MISSED");
    assert_eq!(call["activity"]["completed"], false);
    let deadline: chrono::DateTime<chrono::Utc> = call["activity"]["deadline"].as_str().unwrap().parse().unwrap();
    assert!(deadline > chrono::Utc::now() && deadline < chrono::Utc::now() + chrono::Duration::hours(1));
    assert!(call["activity"]["subject"].as_str().unwrap().contains("Call back"));
    assert_eq!(incoming(&s, &rep).await, 1, "a missed call waits to be returned");
    // Finishing again changes nothing.
    let again = s.ok(FINISH, json!({ "i": { "externalCallId": "pbx-2002", "status": "ANSWERED" } })).await;
    assert_eq!(again["finishCall"]["status"], "MISSED");

    let body = s.gql(FINISH, json!({ "i": { "externalCallId": "pbx-9999", "status": "ANSWERED" } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    let body = s
        .gql(FINISH, json!({ "i": { "externalCallId": "pbx-2001", "status": "ANSWERED", "durationSeconds": -1 } }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn an_incoming_call_pops_up_for_its_user() {
    let s = TestServer::start().await;
    let rep = s.token_for("rep@test.local", false).await;
    let rep_id = s.gql_as(&rep, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let q = "subscription { incomingCall { call { externalCallId phone user { email } } } }";
    let mut rep_ws = subscribe(s.addr, &rep, q, json!({})).await;
    // Someone else's calls are for an administrator.
    let admin_id = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let mut spy = subscribe(
        s.addr,
        &rep,
        "subscription($u: ID) { incomingCall(userId: $u) { call { id } } }",
        json!({ "u": admin_id }),
    )
    .await;
    let refused = next_within(&mut spy, Duration::from_secs(10)).await.expect("an answer");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");

    // A call for the admin does not pop up for the rep; the rep's does.
    register(&s, &s.token, json!({ "externalCallId": "pbx-3000", "direction": "INCOMING", "phone": "+49 30 5550300" }))
        .await;
    register(
        &s,
        &s.token,
        json!({ "externalCallId": "pbx-3001", "direction": "INCOMING", "phone": "+49 30 5550301", "userId": rep_id }),
    )
    .await;
    let pop = next_within(&mut rep_ws, Duration::from_secs(20)).await.expect("a screen pop");
    let call = &pop["payload"]["data"]["incomingCall"]["call"];
    assert_eq!(
        (call["externalCallId"].as_str(), call["user"]["email"].as_str()),
        (Some("pbx-3001"), Some("rep@test.local"))
    );
    assert!(next_within(&mut rep_ws, Duration::from_millis(500)).await.is_none());
}

//! Incoming e-mail (see src/intake/mail): `POST /mail/inbound` and `kontor mail ingest`.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/mail/{name}.eml", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `plain.eml` under another Message-ID: the message `reply.eml` answers.
fn first_message() -> Vec<u8> {
    String::from_utf8(fixture("plain"))
        .unwrap()
        .replace("<3f1c2a9e-7b4d-4c1e-9a53-2d8f6e0b1c77@example.com>", "<first-message@example.com>")
        .into_bytes()
}

async fn post_raw(s: &TestServer, body: Vec<u8>, content_type: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s.client.post(s.url("/mail/inbound")).header("content-type", content_type).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Posts a message that must be accepted and returns the answer.
async fn post(s: &TestServer, body: Vec<u8>) -> Value {
    let (status, answer) = post_raw(s, body, "message/rfc822", Some(&s.token)).await;
    assert_eq!(status, 202, "{answer}");
    answer
}

const LEAD: &str = "query($id: ID!) { lead(id: $id) { title firstName lastName source { code } emails { value }
    activities { nodes { type direction completed subject description responsible { email } owner { type id } } } } }";

async fn lead(s: &TestServer, id: &Value) -> Value {
    s.ok(LEAD, json!({ "id": id })).await["lead"].clone()
}

async fn lead_count(s: &TestServer) -> i64 {
    s.ok("{ leads { totalCount } }", json!({})).await["leads"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn an_unknown_sender_becomes_a_lead_with_an_incoming_email() {
    let s = TestServer::start().await;
    let done = post(&s, fixture("plain")).await;
    assert_eq!(done["duplicate"], false);
    assert!(done["createdLeadId"].is_i64(), "{done}");
    assert_eq!(done["elements"][0]["type"], "LEAD");
    let l = lead(&s, &done["elements"][0]["id"]).await;
    assert_eq!(l["title"], "Anfrage zu Ihrem Angebot");
    assert_eq!((l["firstName"].as_str(), l["lastName"].as_str()), (Some("Anna"), Some("Schmidt")));
    assert_eq!(l["source"]["code"], "EMAIL");
    assert_eq!(l["emails"][0]["value"], "anna.schmidt@example.com");
    let a = &l["activities"]["nodes"][0];
    assert_eq!((a["type"].as_str(), a["direction"].as_str()), (Some("EMAIL"), Some("INCOMING")));
    assert_eq!(a["completed"], false);
    assert_eq!(a["subject"], "Anfrage zu Ihrem Angebot");
    assert_eq!(a["responsible"]["email"], "admin@test.local");
    let d = a["description"].as_str().unwrap();
    assert!(d.starts_with("From: Anna Schmidt <anna.schmidt@example.com>\n"), "{d}");
    assert!(d.contains("Cc: Jörg Becker <joerg.becker@example.com>"), "{d}");
    assert!(d.contains("\n\nSehr geehrte Damen und Herren,"), "{d}");
    let c = s.ok("{ counters { leads { incoming } } }", json!({})).await;
    assert_eq!(c["counters"]["leads"]["incoming"], 1);
}

#[tokio::test]
async fn a_known_sender_gets_the_activity_and_no_lead() {
    let s = TestServer::start().await;
    let q = "mutation($in: ContactInput!) { createContact(input: $in) { id } }";
    let input = json!({ "lastName": "Schmidt", "emails": [{ "value": "Anna.Schmidt@Example.com" }] });
    let contact = s.ok(q, json!({ "in": input })).await["createContact"]["id"].clone();
    let done = post(&s, fixture("plain")).await;
    assert_eq!(done["createdLeadId"], Value::Null);
    assert_eq!(done["elements"], json!([{ "type": "CONTACT", "id": contact }]));
    assert_eq!(lead_count(&s).await, 0);
    let q = "query($id: ID!) { contact(id: $id) { activities { nodes { id type direction owner { type id } } } } }";
    let c = s.ok(q, json!({ "id": contact })).await;
    let a = &c["contact"]["activities"]["nodes"][0];
    assert_eq!((a["type"].as_str(), a["direction"].as_str()), (Some("EMAIL"), Some("INCOMING")));
    assert_eq!(a["id"].as_str().unwrap(), format!("activity:{}", done["activityId"]));
}

#[tokio::test]
async fn a_reply_lands_where_the_message_it_answers_did() {
    let s = TestServer::start().await;
    let first = post(&s, first_message()).await;
    let reply = post(&s, fixture("reply")).await;
    assert_eq!(reply["elements"], first["elements"]);
    assert_eq!(reply["createdLeadId"], Value::Null);
    assert!(reply["activityId"].is_i64());
    assert_eq!(lead_count(&s).await, 1);
    let l = lead(&s, &first["elements"][0]["id"]).await;
    assert_eq!(l["activities"]["nodes"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn automatic_mail_from_strangers_creates_nothing() {
    let s = TestServer::start().await;
    for name in ["out_of_office", "mailing_list"] {
        let done = post(&s, fixture(name)).await;
        assert_eq!(done["createdLeadId"], Value::Null, "{name}: {done}");
        assert_eq!(done["activityId"], Value::Null, "{name}: {done}");
        assert_eq!(done["elements"], json!([]), "{name}");
    }
    assert_eq!(lead_count(&s).await, 0);
    let n = s.ok("{ activities { totalCount } }", json!({})).await;
    assert_eq!(n["activities"]["totalCount"], 0);
}

#[derive(QueryableByName, Debug)]
struct AttachmentRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = BigInt)]
    stored: i64,
}

async fn attachments(db_url: &str, message: i64) -> Vec<AttachmentRow> {
    let mut conn = AsyncPgConnection::establish(db_url).await.unwrap();
    diesel::sql_query(
        "SELECT name, size, coalesce(length(data), -1)::bigint AS stored FROM mail_attachments \
         WHERE message_id = $1 ORDER BY id",
    )
    .bind::<BigInt, _>(message)
    .load(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn attachments_are_listed_and_stored_up_to_the_limit() {
    let s = TestServer::start().await;
    let done = post(&s, fixture("attachments")).await;
    let rows = attachments(&s.db.url, done["messageId"].as_i64().unwrap()).await;
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Angebot_2024-117.pdf", "Lageplan_Büro.png"]);
    assert!(rows.iter().all(|r| r.size > 0 && r.stored == r.size), "{rows:?}");
    let l = lead(&s, &done["elements"][0]["id"]).await;
    let d = l["activities"]["nodes"][0]["description"].as_str().unwrap().to_owned();
    for r in &rows {
        assert!(d.contains(&format!("{} ({} bytes)", r.name, r.size)), "{d}");
    }

    // Above the limit only the name and size stay.
    let s = TestServer::start_with(|g| g.mail_attachment_limit = 10).await;
    let done = post(&s, fixture("attachments")).await;
    let rows = attachments(&s.db.url, done["messageId"].as_i64().unwrap()).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.size > 10 && r.stored == -1), "{rows:?}");
}

#[tokio::test]
async fn encoded_headers_keep_their_umlauts() {
    let s = TestServer::start().await;
    let done = post(&s, fixture("latin1")).await;
    let l = lead(&s, &done["elements"][0]["id"]).await;
    assert_eq!(l["title"], "Rückfrage zur Rechnung Nr. 4711");
    assert_eq!((l["firstName"].as_str(), l["lastName"].as_str()), (Some("Jürgen"), Some("Müller")));
    assert!(l["activities"]["nodes"][0]["description"].as_str().unwrap().contains("Übergrößenzuschlag"));

    let done = post(&s, fixture("utf8_headers")).await;
    let l = lead(&s, &done["elements"][0]["id"]).await;
    assert_eq!(l["title"], "Rückruf erbeten: Änderung der Lieferadresse für Auftrag 2024-0815");
    assert_eq!((l["firstName"].as_str(), l["lastName"].as_str()), (Some("Özlem"), Some("Yılmaz-Weiß")));
}

#[tokio::test]
async fn a_retried_message_is_stored_once() {
    let s = TestServer::start().await;
    let first = post(&s, fixture("plain")).await;
    let again = post(&s, fixture("plain")).await;
    assert_eq!(again["duplicate"], true);
    for key in ["messageId", "activityId", "createdLeadId", "elements"] {
        assert_eq!(again[key], first[key], "{key}");
    }
    assert_eq!(lead_count(&s).await, 1);
}

#[tokio::test]
async fn html_only_mail_reads_as_text() {
    let s = TestServer::start().await;
    let done = post(&s, fixture("html_only")).await;
    let l = lead(&s, &done["elements"][0]["id"]).await;
    let d = l["activities"]["nodes"][0]["description"].as_str().unwrap().to_owned();
    assert!(d.contains("vielen Dank für Ihre Bestellung & Ihr Vertrauen."), "{d}");
    assert!(!d.contains("<p>") && !d.contains("<div") && !d.contains("font-family"), "{d}");
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let s = TestServer::start().await;
    let (status, body) = post_raw(&s, fixture("malformed"), "message/rfc822", Some(&s.token)).await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("not an e-mail message"), "{body}");
    let (status, body) = post_raw(&s, fixture("plain"), "message/rfc822", None).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    let (status, _) = post_raw(&s, fixture("plain"), "message/rfc822", Some("kontor_nonsense")).await;
    assert_eq!(status, 401);
    let (status, body) = post_raw(&s, fixture("plain"), "text/plain", Some(&s.token)).await;
    assert_eq!(status, 415);
    assert!(body["error"].is_string());
    assert_eq!(lead_count(&s).await, 0);
}

#[tokio::test]
async fn a_user_who_may_not_add_leads_is_forbidden() {
    let s = TestServer::start().await;
    let token = s.token_for("reader@test.local", false).await;
    let me = s.gql_as(&token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    s.give_read_role(&me, "Readers", "ALL").await;
    let (status, body) = post_raw(&s, fixture("plain"), "message/rfc822", Some(&token)).await;
    assert_eq!(status, 403, "{body}");
}

fn ingest_cli(database_url: &str, input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kontor"))
        .args(["mail", "ingest"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_cli_answers_with_sysexits() {
    let s = TestServer::start().await;
    let out = ingest_cli(&s.db.url, &fixture("plain"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(done["createdLeadId"].is_i64(), "{done}");
    assert_eq!(lead_count(&s).await, 1);

    let out = ingest_cli(&s.db.url, &fixture("malformed"));
    assert_eq!(out.status.code(), Some(65), "{}", String::from_utf8_lossy(&out.stderr));

    let out = ingest_cli("postgres://127.0.0.1:1/nothing", &fixture("plain"));
    assert_eq!(out.status.code(), Some(75), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_flooding_sender_makes_no_further_leads() {
    let s = TestServer::start().await;
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    diesel::sql_query(
        "INSERT INTO mail_messages (from_email, subject, automatic) \
         SELECT 'anna.schmidt@example.com', 'loop', false FROM generate_series(1, 21)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let done = post(&s, fixture("plain")).await;
    assert_eq!(done["createdLeadId"], Value::Null, "{done}");
    assert_eq!(done["activityId"], Value::Null, "{done}");
    assert_eq!(lead_count(&s).await, 0);
}

//! Web forms: definitions over GraphQL, and the public endpoints a website, the hosted page
//! and the widget use, over real HTTP without a token.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestServer;

const CREATE: &str = "mutation($i: WebFormInput!) { createWebForm(input: $i) { id key url embedCode active \
     fields { key label type required target items } submissionCount } }";

fn contact_form() -> Value {
    json!({
        "name": "Contact us",
        "fields": [
            { "key": "name", "label": "Your name", "type": "STRING", "required": true, "target": "lastName" },
            { "key": "email", "label": "E-mail", "type": "EMAIL", "required": true, "target": "email" },
            { "key": "phone", "label": "Phone", "type": "PHONE", "target": "phone" },
            { "key": "topic", "label": "Topic", "type": "LIST", "target": "comments", "items": ["Sales", "Support"] },
        ],
        "consentText": "I agree that Kontor GmbH stores my data to answer me.",
        "allowedOrigins": ["http://shop.example"],
        "successMessage": "Thanks, we call you today.",
    })
}

/// Creates a form as the admin; its id and public key.
async fn create(s: &TestServer, input: Value) -> (Value, String) {
    let d = s.ok(CREATE, json!({ "i": input })).await;
    let f = &d["createWebForm"];
    (f["id"].clone(), f["key"].as_str().unwrap().to_owned())
}

async fn post_json(s: &TestServer, key: &str, path: &str, body: Value, origin: Option<&str>) -> reqwest::Response {
    let mut req = s.client.post(s.url(&format!("/forms/{key}/{path}"))).json(&body);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    req.send().await.unwrap()
}

fn answers(email: &str) -> Value {
    json!({
        "fields": { "name": "Anna Berg", "email": email, "phone": "+49 30 1234567", "topic": "Sales" },
        "consent": true,
        "pageUrl": "https://shop.example/pricing?utm_source=newsletter",
        "referrer": "https://mail.example/inbox",
        "utm": { "source": "newsletter", "medium": "email", "campaign": "spring" },
    })
}

async fn leads(s: &TestServer) -> Vec<Value> {
    let q = "{ leads(first: 50) { nodes { id title lastName comments utmSource utmMedium utmCampaign \
             source { code } assignedTo { email } contact { id } emails { value } \
             timeline { nodes { kind text } } } } }";
    s.ok(q, json!({})).await["leads"]["nodes"].as_array().unwrap().clone()
}

async fn submissions(s: &TestServer, form: &Value, status: Option<&str>) -> Vec<Value> {
    let q = "query($f: ID!, $s: SubmissionStatus) { webFormSubmissions(formId: $f, status: $s) { id kind status \
             reason fields utm pageUrl consentHash consentAt lead { id } } }";
    s.ok(q, json!({ "f": form, "s": status })).await["webFormSubmissions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_form_is_defined_with_its_page_and_embed_code() {
    let s = TestServer::start().await;
    let d = s.ok(CREATE, json!({ "i": contact_form() })).await;
    let f = &d["createWebForm"];
    let key = f["key"].as_str().unwrap();
    assert!(key.len() >= 20, "{key}");
    assert!(f["url"].as_str().unwrap().ends_with(&format!("/forms/{key}")), "{f}");
    let embed = f["embedCode"].as_str().unwrap();
    assert!(embed.contains("/widget.js") && embed.contains(&format!("data-kontor-form=\"{key}\"")), "{embed}");
    assert_eq!(f["fields"][3]["items"], json!(["Sales", "Support"]));
    assert_eq!(f["fields"][0]["type"], "STRING");

    let page = s.client.get(s.url(&format!("/forms/{key}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for part in ["Your name", "name=\"_hp\"", "name=\"_ts\"", "name=\"consent\"", "Sales", "method=\"post\""] {
        assert!(html.contains(part), "the page lacks {part}");
    }
    let widget = s.client.get(s.url("/widget.js")).send().await.unwrap();
    assert_eq!(widget.status(), StatusCode::OK);
    assert!(widget.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert!(widget.text().await.unwrap().contains("data-kontor-form"));

    let listed = s.ok("{ webForms { id name } }", json!({})).await;
    assert_eq!(listed["webForms"][0]["name"], "Contact us");

    // Bad definitions are refused and nothing is stored.
    let mut unknown = contact_form();
    unknown["fields"][0]["target"] = json!("statusId");
    assert_eq!(s.err_code(CREATE, json!({ "i": unknown })).await, "BAD_USER_INPUT");
    let mut no_items = contact_form();
    no_items["fields"][3]["items"] = json!([]);
    assert_eq!(s.err_code(CREATE, json!({ "i": no_items })).await, "BAD_USER_INPUT");
    let mut bad_origin = contact_form();
    bad_origin["allowedOrigins"] = json!(["shop.example"]);
    assert_eq!(s.err_code(CREATE, json!({ "i": bad_origin })).await, "BAD_USER_INPUT");
    assert_eq!(s.ok("{ webForms { id } }", json!({})).await["webForms"].as_array().unwrap().len(), 1);

    // Forms are settings.
    let user = s.token_for("rep@test.local", false).await;
    let body = s.gql_as(&user, CREATE, json!({ "i": contact_form() })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let body = s.gql_as(&user, "{ webForms { id } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");

    // Updating keeps the key; deleting closes the addresses.
    let id = f["id"].clone();
    let mut changed = contact_form();
    changed["name"] = json!("Write to us");
    let q = "mutation($id: ID!, $i: WebFormInput!) { updateWebForm(id: $id, input: $i) { key name } }";
    let u = s.ok(q, json!({ "id": id, "i": changed })).await;
    assert_eq!(
        (u["updateWebForm"]["key"].as_str(), u["updateWebForm"]["name"].as_str()),
        (Some(key), Some("Write to us"))
    );
    s.ok("mutation($id: ID!) { deleteWebForm(id: $id) }", json!({ "id": id })).await;
    let gone = s.client.get(s.url(&format!("/forms/{key}"))).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let gone = post_json(&s, key, "submit", answers("a@b.de"), None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_submission_creates_a_lead_with_campaign_page_and_consent() {
    let s = TestServer::start().await;
    let (form, key) = create(&s, contact_form()).await;
    let resp = post_json(&s, &key, "submit", answers("anna@berg.de"), Some("http://shop.example")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], "http://shop.example");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "ok": true, "message": "Thanks, we call you today.", "redirectUrl": null }));

    let all = leads(&s).await;
    assert_eq!(all.len(), 1);
    let lead = &all[0];
    assert_eq!(lead["lastName"], "Anna Berg");
    assert_eq!(lead["comments"], "Sales");
    assert_eq!(lead["emails"][0]["value"], "anna@berg.de");
    assert_eq!((lead["utmSource"].as_str(), lead["utmMedium"].as_str()), (Some("newsletter"), Some("email")));
    assert_eq!(lead["utmCampaign"], "spring");
    assert_eq!(lead["source"]["code"], "WEB");
    assert_eq!(lead["assignedTo"]["email"], "admin@test.local");
    let text = lead["timeline"]["nodes"][0]["text"].as_str().unwrap();
    assert!(text.contains("Contact us") && text.contains("page https://shop.example/pricing"), "{text}");
    assert!(text.contains("referrer https://mail.example/inbox") && text.contains("utm_source=newsletter"), "{text}");
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(contact_form()["consentText"].as_str().unwrap().as_bytes()))
    };
    assert!(text.contains(&format!("consent sha256:{hash}")), "{text}");

    let subs = submissions(&s, &form, None).await;
    assert_eq!(subs.len(), 1);
    assert_eq!((subs[0]["status"].as_str(), subs[0]["kind"].as_str()), (Some("ACCEPTED"), Some("FORM")));
    assert_eq!(subs[0]["consentHash"], hash);
    assert!(subs[0]["consentAt"].is_string());
    assert_eq!(subs[0]["lead"]["id"], lead["id"]);
    assert_eq!(subs[0]["utm"]["campaign"], "spring");
    let count = s.ok("query($id: ID!) { webForm(id: $id) { submissionCount } }", json!({ "id": form })).await;
    assert_eq!(count["webForm"]["submissionCount"], 1);
}

#[tokio::test]
async fn wrong_answers_are_field_errors_as_json_and_on_the_page() {
    let s = TestServer::start().await;
    let (form, key) = create(&s, contact_form()).await;
    let bad = json!({ "fields": { "email": "not-an-address", "topic": "Other" }, "consent": false });
    let resp = post_json(&s, &key, "submit", bad, None).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ok"], false);
    let keys: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["name", "email", "topic", "consent"], "{body}");

    // The hosted page's own post (no JavaScript): the page again, with the errors and what was typed.
    let resp = s
        .client
        .post(s.url(&format!("/forms/{key}/submit")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=&email=kaputt&topic=Sales&_hp=&_ts=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("kaputt"), "{html}");
    assert!(html.contains("Your name is required"), "{html}");

    // A good HTML post answers with a page, the campaign taken from the page's address.
    let resp = s
        .client
        .post(s.url(&format!("/forms/{key}/submit")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Referer", format!("{}?utm_source=flyer", s.url(&format!("/forms/{key}"))))
        .body("name=Bernd+Kurz&email=bernd%40kurz.de&topic=Support&consent=true&_hp=&_ts=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("Thanks, we call you today."));
    let all = leads(&s).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["utmSource"], "flyer");

    let rejected = submissions(&s, &form, Some("REJECTED")).await;
    assert_eq!(rejected.len(), 2);
    assert!(rejected[1]["reason"].as_str().unwrap().contains("email"), "{rejected:?}");
}

#[tokio::test]
async fn programs_are_quarantined_but_answered_like_people() {
    let s = TestServer::start().await;
    let (form, key) = create(&s, contact_form()).await;
    let mut honeypot = answers("bot@spam.example");
    honeypot["_hp"] = json!("http://cheap-pills.example");
    let resp = post_json(&s, &key, "submit", honeypot, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["ok"], true);
    let mut fast = answers("fast@spam.example");
    fast["_ts"] = json!(chrono::Utc::now().timestamp_millis());
    let resp = post_json(&s, &key, "submit", fast, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(leads(&s).await.is_empty());
    let spam = submissions(&s, &form, Some("SPAM")).await;
    let reasons: Vec<&str> = spam.iter().map(|x| x["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["sent too fast", "honeypot filled"]);
    assert_eq!(spam[1]["fields"]["email"], "bot@spam.example");
}

#[tokio::test]
async fn a_retried_submission_creates_one_lead() {
    let s = TestServer::start().await;
    let (_, key) = create(&s, contact_form()).await;
    for _ in 0..3 {
        let resp = s
            .client
            .post(s.url(&format!("/forms/{key}/submit")))
            .header("Idempotency-Key", "attempt-7f3a")
            .json(&answers("anna@berg.de"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert_eq!(leads(&s).await.len(), 1);
}

#[tokio::test]
async fn too_many_submissions_are_told_when_to_come_back() {
    let s = TestServer::start_with(|g| g.form_rate_per_ip = 2).await;
    let (_, key) = create(&s, contact_form()).await;
    for i in 0..2 {
        let resp = post_json(&s, &key, "submit", answers(&format!("p{i}@example.de")), None).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = post_json(&s, &key, "submit", answers("p3@example.de"), Some("http://shop.example")).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(resp.headers()["access-control-expose-headers"], "Retry-After");
    assert_eq!(leads(&s).await.len(), 2);
}

#[tokio::test]
async fn only_allowed_websites_may_send_from_the_browser() {
    let s = TestServer::start().await;
    let (_, key) = create(&s, contact_form()).await;
    let preflight = |origin: &'static str| {
        s.client
            .request(reqwest::Method::OPTIONS, s.url(&format!("/forms/{key}/submit")))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type, idempotency-key")
            .send()
    };
    let ok = preflight("http://shop.example").await.unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://shop.example");
    assert!(ok.headers()["access-control-allow-headers"].to_str().unwrap().contains("Idempotency-Key"));
    let evil = preflight("http://evil.example").await.unwrap();
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    // A simple cross-site post skips the preflight; the server refuses it all the same.
    let resp = post_json(&s, &key, "submit", answers("x@evil.example"), Some("http://evil.example")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let config = s
        .client
        .get(s.url(&format!("/forms/{key}/config")))
        .header("Origin", "http://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(config.headers()["access-control-allow-origin"], "http://shop.example");
    let config: Value = config.json().await.unwrap();
    assert_eq!(config["fields"][1]["type"], "EMAIL");
    assert_eq!(config["callback"], true);
    // The hosted page posts from the server's own origin.
    let own = format!("http://{}", s.addr);
    let resp = s
        .client
        .post(s.url(&format!("/forms/{key}/submit")))
        .header("Origin", own)
        .json(&answers("own@page.de"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(leads(&s).await.len(), 1);
}

#[tokio::test]
async fn a_known_sender_makes_a_repeat_lead() {
    let s = TestServer::start().await;
    let c = s
        .ok(
            "mutation { createContact(input: { lastName: \"Berg\", emails: [{ value: \"anna@berg.de\" }] }) { id } }",
            json!({}),
        )
        .await;
    let (_, key) = create(&s, contact_form()).await;
    let resp = post_json(&s, &key, "submit", answers("Anna@Berg.de"), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let all = leads(&s).await;
    assert_eq!(all[0]["contact"]["id"], c["createContact"]["id"]);
}

#[tokio::test]
async fn call_me_back_creates_a_lead_and_an_incoming_call_for_the_assignee() {
    let s = TestServer::start().await;
    let rep = s.token_for("rep@test.local", false).await;
    let me = s.gql_as(&rep, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let mut input = contact_form();
    input["assignedToId"] = me.clone();
    let (form, key) = create(&s, input).await;
    let body = json!({ "name": "Clara Lang", "phone": "030 7654321", "pageUrl": "https://shop.example/", "_hp": "" });
    let resp = post_json(&s, &key, "callback", body, Some("http://shop.example")).await;
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    let q = "{ leads(first: 5) { nodes { lastName source { code } assignedTo { id } phones { value } \
             activities(first: 5) { edges { node { type direction completed deadline subject responsible { id } } } } } } }";
    let d = s.ok(q, json!({})).await;
    let lead = &d["leads"]["nodes"][0];
    assert_eq!(lead["lastName"], "Clara Lang");
    assert_eq!(lead["source"]["code"], "CALL");
    assert_eq!(lead["assignedTo"]["id"], me);
    let call = &lead["activities"]["edges"][0]["node"];
    assert_eq!((call["type"].as_str(), call["direction"].as_str()), (Some("CALL"), Some("INCOMING")), "{call}");
    assert_eq!(call["completed"], false);
    assert_eq!(call["responsible"]["id"], me);
    let deadline: chrono::DateTime<chrono::Utc> = call["deadline"].as_str().unwrap().parse().unwrap();
    assert!(deadline > chrono::Utc::now() && deadline < chrono::Utc::now() + chrono::Duration::minutes(10));
    // It shows in the assignee's counters at once, as incoming.
    let counters = s.gql_as(&rep, "{ counters { leads { incoming } } }", json!({})).await;
    assert_eq!(counters["data"]["counters"]["leads"]["incoming"], 1, "{counters}");
    let subs = submissions(&s, &form, None).await;
    assert_eq!(subs[0]["kind"], "CALLBACK");
    // A call-back without a phone number is a field error.
    let resp = post_json(&s, &key, "callback", json!({ "name": "Nobody" }), None).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.json::<Value>().await.unwrap()["errors"][0]["key"], "phone");
}

//! Bad input on purpose: every broken rule gets its error code and the input field it names,
//! and a failed mutation writes nothing (no element, history entry, event, communication or
//! link). Also: unknown ids, stale versions, missing tokens and hostile requests.

use crate::common;

use common::TestServer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

const ACCEPTS: [&str; 2] = ["application/json", "application/graphql-response+json"];
const JSON: &str = "application/json";

#[derive(diesel::QueryableByName)]
struct RowCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    events: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    comms: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    links: i64,
}

/// Everything a write would leave behind, counted.
async fn snapshot(s: &TestServer) -> Value {
    let mut counts = s
        .ok("{ leads { totalCount } contacts { totalCount } companies { totalCount } deals { totalCount } history { totalCount } }", json!({}))
        .await;
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let rows: RowCounts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM communications) AS comms, \
         (SELECT count(*) FROM contact_companies) + (SELECT count(*) FROM deal_contacts) AS links",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    counts["rows"] = json!({ "events": rows.events, "communications": rows.comms, "links": rows.links });
    counts
}

async fn status_id(s: &TestServer, list: &str, code: &str) -> String {
    let data = s.ok(&format!("{{ statusItems(list: {list}) {{ id code }} }}"), json!({})).await;
    let items = data["statusItems"].as_array().expect("status items");
    let item = items.iter().find(|i| i["code"] == code).unwrap_or_else(|| panic!("no {list} item {code}"));
    item["id"].as_str().unwrap().to_owned()
}

/// `base` with the keys of `extra` set.
fn with(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in extra.as_object().expect("an object") {
        out[k.as_str()] = v.clone();
    }
    out
}

fn create_doc(kind: &str) -> String {
    format!("mutation($in: {kind}Input!) {{ create{kind}(input: $in) {{ id }} }}")
}

async fn create(s: &TestServer, kind: &str, input: Value) -> String {
    let data = s.ok(&create_doc(kind), json!({ "in": input })).await;
    data[format!("create{kind}").as_str()]["id"].as_str().unwrap().to_owned()
}

async fn fetch(s: &TestServer, kind: &str, id: &str, fields: &str) -> Value {
    let data = s.ok(&format!("query($id: ID!) {{ {kind}(id: $id) {{ {fields} }} }}"), json!({ "id": id })).await;
    data[kind].clone()
}

/// Sends a document that must fail with BAD_USER_INPUT on `field` and write nothing.
async fn rejects(s: &TestServer, doc: &str, vars: Value, field: &str) {
    let before = snapshot(s).await;
    let body = s.gql(doc, vars.clone()).await;
    let ext = &body["errors"][0]["extensions"];
    assert_eq!(ext["code"], "BAD_USER_INPUT", "{vars} -> {body}");
    assert_eq!(ext["field"], field, "{vars} -> {body}");
    assert_eq!(snapshot(s).await, before, "{vars} wrote something");
}

async fn rejects_create(s: &TestServer, kind: &str, input: Value, field: &str) {
    rejects(s, &create_doc(kind), json!({ "in": input }), field).await;
}

async fn rejects_update(s: &TestServer, kind: &str, id: &str, input: Value, field: &str) {
    let doc = format!("mutation($id: ID!, $in: {kind}Input!) {{ update{kind}(id: $id, input: $in) {{ id }} }}");
    rejects(s, &doc, json!({ "id": id, "in": input }), field).await;
}

#[tokio::test]
async fn lead_create_rejects_each_bad_value_and_writes_nothing() {
    let s = TestServer::start().await;
    let source = status_id(&s, "SOURCE", "CALL").await;
    let new = status_id(&s, "STATUS", "NEW").await;
    let base = json!({ "firstName": "Anna", "lastName": "Berg" });
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "emails": [{ "value": "not-an-email" }] }), "emails[0].value"),
        (json!({ "emails": [{ "value": "anna@" }] }), "emails[0].value"),
        (json!({ "emails": [{ "value": "ok@example.com" }, { "value": "nope" }] }), "emails[1].value"),
        (json!({ "emails": [{ "value": "ok@example.com", "valueType": "MOBILE" }] }), "emails[0].valueType"),
        (json!({ "phones": [{ "value": "12" }] }), "phones[0].value"),
        (json!({ "phones": [{ "value": "call me" }] }), "phones[0].value"),
        (json!({ "phones": [{ "value": "030 1234567", "valueType": "BANANA" }] }), "phones[0].valueType"),
        (json!({ "webs": [{ "value": "not a url" }] }), "webs[0].value"),
        (json!({ "webs": [{ "value": "ftp://x.y" }] }), "webs[0].value"),
        (json!({ "ims": [{ "value": "   " }] }), "ims[0].value"),
        (json!({ "currency": "EURO" }), "currency"),
        (json!({ "currency": "XYZ" }), "currency"),
        (json!({ "opportunity": "-1" }), "opportunity"),
        (json!({ "opportunity": "1.005" }), "opportunity"),
        (json!({ "opportunity": "1000000000000000000000" }), "opportunity"),
        (json!({ "statusId": "status:999999" }), "statusId"),
        (json!({ "statusId": source }), "statusId"),
        (json!({ "statusId": "deal:3" }), "statusId"),
        (json!({ "sourceId": new }), "sourceId"),
        (json!({ "assignedToId": "user:999999" }), "assignedToId"),
        (json!({ "assignedToId": "lead:1" }), "assignedToId"),
        (json!({ "honorific": "HNR_XX_9" }), "honorific"),
        (json!({ "contactId": "contact:999999" }), "contactId"),
        (json!({ "companyId": "deal:1" }), "companyId"),
    ];
    for (extra, field) in cases {
        rejects_create(&s, "Lead", with(&base, extra), field).await;
    }
    // Without the broken field the same input is fine, so each case failed for its own reason.
    create(&s, "Lead", base).await;
}

#[tokio::test]
async fn contact_and_company_create_reject_bad_values_and_write_nothing() {
    let s = TestServer::start().await;
    let source = status_id(&s, "SOURCE", "WEB").await;
    let co = create(&s, "Company", json!({ "title": "Acme" })).await;
    let base = json!({ "lastName": "Lind" });
    let contact_cases: Vec<(Value, &str)> = vec![
        (json!({ "lastName": null }), "lastName"),
        (json!({ "firstName": "  ", "lastName": "" }), "lastName"),
        (json!({ "lastName": null, "middleName": "Maria" }), "lastName"),
        (json!({ "companyIds": ["company:999999"] }), "companyIds"),
        (json!({ "companyIds": [co, "company:999999"] }), "companyIds"),
        (json!({ "companyIds": ["contact:1"] }), "companyIds"),
        (json!({ "honorific": "HNR_XX_9" }), "honorific"),
        (json!({ "typeId": source }), "typeId"),
        (json!({ "sourceId": "status:999999" }), "sourceId"),
        (json!({ "assignedToId": "user:999999" }), "assignedToId"),
        (json!({ "emails": [{ "value": "x" }] }), "emails[0].value"),
        (json!({ "phones": [{ "value": "12" }] }), "phones[0].value"),
        (json!({ "webs": [{ "value": "ftp://x.y" }] }), "webs[0].value"),
        (json!({ "photoUrl": "not a url" }), "photoUrl"),
    ];
    for (extra, field) in contact_cases {
        rejects_create(&s, "Contact", with(&base, extra), field).await;
    }
    create(&s, "Contact", with(&base, json!({ "companyIds": [co] }))).await;

    let base = json!({ "title": "Globex" });
    let company_cases: Vec<(Value, &str)> = vec![
        (json!({}), "title"),
        (json!({ "title": "   " }), "title"),
        (json!({ "currency": "EURO" }), "currency"),
        (json!({ "revenue": "-1" }), "revenue"),
        (json!({ "revenue": "1.005" }), "revenue"),
        (json!({ "revenue": "1000000000000000000000" }), "revenue"),
        (json!({ "typeId": "status:999999" }), "typeId"),
        (json!({ "industryId": source }), "industryId"),
        (json!({ "employeesId": "pipeline:1" }), "employeesId"),
        (json!({ "assignedToId": "user:999999" }), "assignedToId"),
        (json!({ "phones": [{ "value": "call me" }] }), "phones[0].value"),
        (json!({ "webs": [{ "value": "not a url" }] }), "webs[0].value"),
        (json!({ "webs": [{ "value": "globex.example", "valueType": "BANANA" }] }), "webs[0].valueType"),
        (json!({ "emails": [{ "value": "@example.com" }] }), "emails[0].value"),
    ];
    for (extra, field) in company_cases {
        // `{}` must lose the title too, so it replaces the base instead of extending it.
        let input = if extra.as_object().is_some_and(|o| o.is_empty()) { extra } else { with(&base, extra) };
        rejects_create(&s, "Company", input, field).await;
    }
    create(&s, "Company", base).await;
}

#[tokio::test]
async fn deal_create_rejects_bad_values_and_writes_nothing() {
    let s = TestServer::start().await;
    let source = status_id(&s, "SOURCE", "CALL").await;
    let contact = create(&s, "Contact", json!({ "lastName": "Lind" })).await;
    let base = json!({ "title": "Big deal" });
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "title": " " }), "title"),
        (json!({ "stageId": "stage:999999" }), "stageId"),
        (json!({ "stageId": "status:1" }), "stageId"),
        (json!({ "pipelineId": "pipeline:999999" }), "pipelineId"),
        (json!({ "contactIds": ["contact:999999"] }), "contactIds"),
        (json!({ "contactIds": [contact, "contact:999999"] }), "contactIds"),
        (json!({ "contactIds": ["company:1"] }), "contactIds"),
        (json!({ "companyId": "company:999999" }), "companyId"),
        (json!({ "beginDate": "2024-02-01", "closeDate": "2024-01-31" }), "closeDate"),
        (json!({ "closeDate": "2000-01-01" }), "closeDate"),
        (json!({ "probability": 101 }), "probability"),
        (json!({ "probability": -1 }), "probability"),
        (json!({ "opportunity": "-1" }), "opportunity"),
        (json!({ "opportunity": "1.005" }), "opportunity"),
        (json!({ "currency": "EURO" }), "currency"),
        (json!({ "typeId": source }), "typeId"),
        (json!({ "sourceId": "status:999999" }), "sourceId"),
        (json!({ "assignedToId": "user:999999" }), "assignedToId"),
    ];
    rejects_create(&s, "Deal", json!({}), "title").await;
    for (extra, field) in cases {
        rejects_create(&s, "Deal", with(&base, extra), field).await;
    }
    create(&s, "Deal", with(&base, json!({ "contactIds": [contact] }))).await;
}

#[tokio::test]
async fn malformed_decimals_fail_input_coercion_and_write_nothing() {
    let s = TestServer::start().await;
    let before = snapshot(&s).await;
    for (kind, field) in [("Lead", "opportunity"), ("Company", "revenue"), ("Deal", "opportunity")] {
        for bad in ["abc", "1e30", "", "1.2.3", "NaN"] {
            let mut input = json!({ "title": "X" });
            input[field] = json!(bad);
            let body = s.gql(&create_doc(kind), json!({ "in": input })).await;
            assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{kind} {field}={bad:?}: {body}");
        }
    }
    for literal in ["\"abc\"", "true", "[1]", "{ x: 1 }"] {
        let body =
            s.gql(&format!("mutation {{ createLead(input: {{ opportunity: {literal} }}) {{ id }} }}"), json!({})).await;
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{literal}: {body}");
    }
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn a_failed_lead_update_changes_nothing() {
    let s = TestServer::start().await;
    let source = status_id(&s, "SOURCE", "CALL").await;
    let lead = create(&s, "Lead", json!({ "title": "Original", "opportunity": "10", "currency": "EUR", "emails": [{ "value": "a@example.com" }] })).await;
    let fields = "version title opportunity currency statusId assignedToId honorific companyId emails { value } phones { value } webs { value }";
    let original = fetch(&s, "lead", &lead, fields).await;
    assert_eq!(original["version"], 1);
    let title = json!({ "title": "Changed" });
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "emails": [{ "value": "not-an-email" }] }), "emails[0].value"),
        (json!({ "emails": [{ "value": "b@example.com" }, { "value": "nope" }] }), "emails[1].value"),
        (json!({ "phones": [{ "value": "call me" }] }), "phones[0].value"),
        (json!({ "phones": [{ "value": "030 1234567", "valueType": "BANANA" }] }), "phones[0].valueType"),
        (json!({ "webs": [{ "value": "ftp://x.y" }] }), "webs[0].value"),
        (json!({ "opportunity": "1.005" }), "opportunity"),
        (json!({ "opportunity": "-1" }), "opportunity"),
        (json!({ "currency": "XYZ" }), "currency"),
        (json!({ "statusId": source }), "statusId"),
        (json!({ "statusId": "status:999999" }), "statusId"),
        (json!({ "statusId": "deal:1" }), "statusId"),
        (json!({ "assignedToId": "user:999999" }), "assignedToId"),
        (json!({ "honorific": "NOPE" }), "honorific"),
        (json!({ "companyId": "company:999999" }), "companyId"),
    ];
    for (extra, field) in cases {
        rejects_update(&s, "Lead", &lead, with(&title, extra), field).await;
        assert_eq!(fetch(&s, "lead", &lead, fields).await, original, "lead changed after a failed update of {field}");
    }
    // The valid half alone goes through.
    let ok = s
        .ok(
            "mutation($id: ID!) { updateLead(id: $id, input: { title: \"Changed\" }) { title version } }",
            json!({ "id": lead }),
        )
        .await;
    assert_eq!(ok["updateLead"], json!({ "title": "Changed", "version": 2 }));
}

#[tokio::test]
async fn failed_updates_of_contacts_companies_and_deals_change_nothing() {
    let s = TestServer::start().await;
    let source = status_id(&s, "SOURCE", "CALL").await;
    let co = create(&s, "Company", json!({ "title": "Acme" })).await;
    let contact = create(&s, "Contact", json!({ "firstName": "Bo", "lastName": "Lind", "companyIds": [co] })).await;
    let deal = create(&s, "Deal", json!({ "title": "Deal", "contactIds": [contact] })).await;
    // (element type, id, fields to read back, the state before, bad inputs with their field)
    type Suite<'a> = (&'a str, &'a str, &'a str, Value, Vec<(Value, &'a str)>);
    let suites: Vec<Suite<'_>> = vec![
        (
            "Contact",
            contact.as_str(),
            "version firstName lastName position photoUrl companyIds emails { value }",
            json!({ "position": "CEO" }),
            vec![
                (json!({ "firstName": null, "lastName": null }), "lastName"),
                (json!({ "firstName": "", "lastName": "  " }), "lastName"),
                (json!({ "companyIds": ["company:999999"] }), "companyIds"),
                (json!({ "companyIds": [co, "company:999999"] }), "companyIds"),
                (json!({ "emails": [{ "value": "x@" }] }), "emails[0].value"),
                (json!({ "typeId": source }), "typeId"),
                (json!({ "photoUrl": "ftp://x.y" }), "photoUrl"),
            ],
        ),
        (
            "Company",
            co.as_str(),
            "version title revenue currency industryId webs { value }",
            json!({ "title": "New name" }),
            vec![
                (json!({ "title": "  " }), "title"),
                (json!({ "title": "" }), "title"),
                (json!({ "revenue": "-5" }), "revenue"),
                (json!({ "currency": "EURO" }), "currency"),
                (json!({ "webs": [{ "value": "not a url" }] }), "webs[0].value"),
                (json!({ "industryId": source }), "industryId"),
            ],
        ),
        (
            "Deal",
            deal.as_str(),
            "version title probability stageId pipelineId closeDate opportunity companyId contactIds",
            json!({ "title": "Renamed" }),
            vec![
                (json!({ "title": "" }), "title"),
                (json!({ "probability": 101 }), "probability"),
                (json!({ "probability": -1 }), "probability"),
                (json!({ "closeDate": "2000-01-01" }), "closeDate"),
                (json!({ "stageId": "stage:999999" }), "stageId"),
                (json!({ "pipelineId": "pipeline:999999" }), "pipelineId"),
                (json!({ "contactIds": ["contact:999999"] }), "contactIds"),
                (json!({ "opportunity": "1.005" }), "opportunity"),
                (json!({ "companyId": "company:999999" }), "companyId"),
            ],
        ),
    ];
    for (kind, id, fields, valid, cases) in suites {
        let lower = kind.to_lowercase();
        let original = fetch(&s, &lower, id, fields).await;
        assert_eq!(original["version"], 1);
        for (extra, field) in cases {
            rejects_update(&s, kind, id, with(&valid, extra), field).await;
            assert_eq!(
                fetch(&s, &lower, id, fields).await,
                original,
                "{kind} changed after a failed update of {field}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let s = TestServer::start().await;
    let lead = create(&s, "Lead", json!({ "title": "Kept" })).await;
    let n = lead.trim_start_matches("lead:").to_owned();
    let update_lead = "mutation($id: ID!) { updateLead(id: $id, input: { title: \"x\" }) { id } }";
    let delete_lead = "mutation($id: ID!) { deleteLead(id: $id) }";
    let get_lead = "query($id: ID!) { lead(id: $id) { id } }";
    let cases: Vec<(&str, String)> = vec![
        (update_lead, "lead:999999".into()),
        (update_lead, format!("deal:{n}")),
        (update_lead, "garbage".into()),
        (update_lead, "0".into()),
        ("mutation($id: ID!) { updateContact(id: $id, input: { lastName: \"x\" }) { id } }", "contact:999999".into()),
        ("mutation($id: ID!) { updateCompany(id: $id, input: { title: \"x\" }) { id } }", "company:999999".into()),
        ("mutation($id: ID!) { updateDeal(id: $id, input: { title: \"x\" }) { id } }", "deal:999999".into()),
        (delete_lead, "lead:999999".into()),
        (delete_lead, format!("contact:{n}")),
        (delete_lead, "garbage".into()),
        ("mutation($id: ID!) { deleteContact(id: $id) }", "contact:999999".into()),
        ("mutation($id: ID!) { deleteCompany(id: $id) }", "company:999999".into()),
        ("mutation($id: ID!) { deleteDeal(id: $id) }", format!("lead:{n}")),
        (get_lead, "garbage".into()),
        (get_lead, "lead:999999".into()),
        (get_lead, format!("deal:{n}")),
        (get_lead, "-1".into()),
        (get_lead, "".into()),
        ("query($id: ID!) { contact(id: $id) { id } }", "garbage".into()),
        ("query($id: ID!) { company(id: $id) { id } }", format!("lead:{n}")),
        ("query($id: ID!) { deal(id: $id) { id } }", "deal:999999".into()),
        ("query($id: ID!) { node(id: $id) { id } }", "garbage".into()),
    ];
    let before = snapshot(&s).await;
    for (doc, id) in cases {
        assert_eq!(s.err_code(doc, json!({ "id": id })).await, "NOT_FOUND", "{doc} with {id:?}");
    }
    assert_eq!(snapshot(&s).await, before);
    assert_eq!(fetch(&s, "lead", &lead, "title version").await, json!({ "title": "Kept", "version": 1 }));
}

#[tokio::test]
async fn comments_need_text_and_an_existing_element() {
    let s = TestServer::start().await;
    let lead = create(&s, "Lead", json!({ "title": "Quiet" })).await;
    let doc = "mutation($el: ElementRef!, $text: String!) { addComment(element: $el, text: $text) { id } }";
    for text in ["", "   ", "\n\t"] {
        rejects(&s, doc, json!({ "el": { "type": "LEAD", "id": lead }, "text": text }), "text").await;
    }
    let before = snapshot(&s).await;
    for el in [
        json!({ "type": "LEAD", "id": "lead:999999" }),
        json!({ "type": "DEAL", "id": lead }),
        json!({ "type": "CONTACT", "id": "garbage" }),
    ] {
        assert_eq!(s.err_code(doc, json!({ "el": el, "text": "hello" })).await, "NOT_FOUND", "{el}");
    }
    assert_eq!(snapshot(&s).await, before);
    assert_eq!(fetch(&s, "lead", &lead, "timeline { totalCount }").await["timeline"]["totalCount"], 1);
}

#[tokio::test]
async fn stale_expected_versions_conflict_and_write_nothing() {
    let s = TestServer::start().await;
    let lead = create(&s, "Lead", json!({ "title": "v1" })).await;
    let doc = "mutation($id: ID!, $v: Int, $in: LeadInput!) { updateLead(id: $id, expectedVersion: $v, input: $in) { version } }";
    let ok = s.ok(doc, json!({ "id": lead, "v": 1, "in": { "title": "v2" } })).await;
    assert_eq!(ok["updateLead"]["version"], 2);
    let before = snapshot(&s).await;
    for v in [1, 0, 3, -1] {
        let body = s
            .gql(
                doc,
                json!({ "id": lead, "v": v, "in": { "title": "stale", "emails": [{ "value": "x@example.com" }] } }),
            )
            .await;
        let ext = &body["errors"][0]["extensions"];
        assert_eq!(ext["code"], "CONFLICT", "{body}");
        assert_eq!(ext["currentVersion"], 2, "{body}");
    }
    assert_eq!(snapshot(&s).await, before);
    assert_eq!(
        fetch(&s, "lead", &lead, "title version emails { value }").await,
        json!({ "title": "v2", "version": 2, "emails": [] })
    );

    for (kind, input, change) in [
        ("Contact", json!({ "lastName": "Lind" }), json!({ "lastName": "Other" })),
        ("Company", json!({ "title": "Acme" }), json!({ "title": "Other" })),
        ("Deal", json!({ "title": "Deal" }), json!({ "title": "Other" })),
    ] {
        let id = create(&s, kind, input).await;
        let before = snapshot(&s).await;
        let doc = format!(
            "mutation($id: ID!, $in: {kind}Input!) {{ update{kind}(id: $id, expectedVersion: 2, input: $in) {{ id }} }}"
        );
        let body = s.gql(&doc, json!({ "id": id, "in": change })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{kind}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["currentVersion"], 1, "{kind}: {body}");
        assert_eq!(snapshot(&s).await, before);
        assert_eq!(fetch(&s, &kind.to_lowercase(), &id, "version").await["version"], 1);
    }
}

#[tokio::test]
async fn each_mutation_of_a_document_commits_on_its_own() {
    let s = TestServer::start().await;
    let before = snapshot(&s).await;
    let body = s
        .gql(
            "mutation { a: createLead(input: { title: \"First\" }) { id }
               b: createLead(input: { title: \"Second\", emails: [{ value: \"not-an-email\" }] }) { id } }",
            json!({}),
        )
        .await;
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("expected errors: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["b"]), "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(errors[0]["extensions"]["field"], "emails[0].value");
    let after = snapshot(&s).await;
    let grew = |path: &[&str]| {
        let get = |v: &Value| path.iter().fold(v.clone(), |v, k| v[*k].clone()).as_i64().unwrap();
        get(&after) - get(&before)
    };
    assert_eq!(grew(&["leads", "totalCount"]), 1);
    assert_eq!(grew(&["history", "totalCount"]), 1);
    // The lead's CREATED event, its history entry's TIMELINE event and a COUNTERS event (the
    // new lead is its creator's, idle).
    assert_eq!(grew(&["rows", "events"]), 3);
    assert_eq!(grew(&["rows", "communications"]), 0);
    let titles = s
        .ok("{ first: leads(filter: { title: { eq: \"First\" } }) { totalCount } second: leads(filter: { title: { eq: \"Second\" } }) { totalCount } }", json!({}))
        .await;
    assert_eq!(titles, json!({ "first": { "totalCount": 1 }, "second": { "totalCount": 0 } }));
}

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthenticated() {
    let s = TestServer::start().await;
    let before = snapshot(&s).await;
    let mut tampered = s.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let no_prefix = s.token.trim_start_matches("kontor_").to_owned();
    let auths: Vec<Option<String>> = vec![
        None,
        Some("Bearer kontor_deadbeef".into()),
        Some(format!("Bearer {no_prefix}")),
        Some("Bearer deadbeef".into()),
        Some(format!("Bearer {tampered}")),
        Some(format!("Bearer kontor_{}", "a".repeat(300))),
        Some("Basic dXNlcjpwYXNz".into()),
        Some(s.token.clone()),
        Some(format!("Token {}", s.token)),
    ];
    for auth in &auths {
        for accept in ACCEPTS {
            for doc in ["{ me { id } }", "mutation { createLead(input: { title: \"Sneaky\" }) { id } }"] {
                let mut req = s.client.post(s.url("/graphql")).header(ACCEPT, accept).json(&json!({ "query": doc }));
                if let Some(a) = auth {
                    req = req.header(AUTHORIZATION, a.as_str());
                }
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), reqwest::StatusCode::UNAUTHORIZED, "{auth:?} {accept} {doc}");
                assert_eq!(resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"));
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{auth:?}: {body}");
                assert!(body["data"].is_null(), "{body}");
            }
        }
    }
    assert_eq!(snapshot(&s).await, before);
    // The same request with the real token works, so the rejections were about the token.
    let resp = s
        .client
        .post(s.url("/graphql"))
        .bearer_auth(&s.token)
        .json(&json!({ "query": "{ me { email } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "admin@test.local");
}

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn query(q: &str) -> Vec<u8> {
    body(json!({ "query": q }))
}

/// `levels` times companies → contacts → companies, far past the depth limit.
fn deep_selection(levels: usize) -> String {
    format!(
        "{{ companies {{ nodes {{ {} id {} }} }} }}",
        "contacts { nodes { companies { ".repeat(levels),
        "} } } ".repeat(levels)
    )
}

async fn post(
    s: &TestServer,
    accept: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> reqwest::Result<(reqwest::StatusCode, String)> {
    let resp = s
        .client
        .post(s.url("/graphql"))
        .bearer_auth(&s.token)
        .header(ACCEPT, accept)
        .header(CONTENT_TYPE, content_type)
        .body(bytes)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.text().await?))
}

#[tokio::test]
async fn hostile_requests_never_get_a_5xx() {
    let s = TestServer::start().await;
    let lead_doc = create_doc("Lead");
    let mut not_literal = "{ title: { eq: \"x\" } }".to_owned();
    let mut not_json = json!({ "title": { "eq": "x" } });
    for _ in 0..50 {
        not_literal = format!("{{ not: {not_literal} }}");
        not_json = json!({ "not": not_json });
    }
    let wide = format!("{{ {} }}", (0..3000).map(|i| format!("a{i}: me {{ id }}")).collect::<Vec<_>>().join(" "));
    let first_var = "query($n: Int) { leads(first: $n) { totalCount } }";
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("invalid JSON", JSON, b"{\"query\": ".to_vec()),
        ("JSON array", JSON, b"[]".to_vec()),
        ("batch", JSON, body(json!([{ "query": "{ me { id } }" }]))),
        ("JSON string", JSON, b"\"{ me { id } }\"".to_vec()),
        ("JSON null", JSON, b"null".to_vec()),
        ("empty body", JSON, Vec::new()),
        ("query as number", JSON, body(json!({ "query": 42 }))),
        ("query as object", JSON, body(json!({ "query": { "a": 1 } }))),
        ("no query", JSON, body(json!({ "variables": {} }))),
        ("empty query", JSON, query("")),
        ("variables as string", JSON, body(json!({ "query": "{ me { id } }", "variables": "x" }))),
        ("variables as array", JSON, body(json!({ "query": "{ me { id } }", "variables": [1, 2] }))),
        ("operationName as number", JSON, body(json!({ "query": "{ me { id } }", "operationName": 5 }))),
        ("unknown operation", JSON, body(json!({ "query": "query A { me { id } }", "operationName": "B" }))),
        ("two anonymous operations", JSON, query("{ me { id } } { me { email } }")),
        ("subscription", JSON, query("subscription { me { id } }")),
        ("unknown field", JSON, query("{ nope }")),
        ("unknown nested field", JSON, query("{ leads { nodes { nope } } }")),
        ("unknown input field", JSON, query("mutation { createLead(input: { nope: 1 }) { id } }")),
        ("variable of the wrong type", JSON, body(json!({ "query": first_var, "variables": { "n": "ten" } }))),
        (
            "missing required variable",
            JSON,
            body(json!({ "query": "query($n: Int!) { leads(first: $n) { totalCount } }", "variables": {} })),
        ),
        ("input object as a string", JSON, body(json!({ "query": lead_doc, "variables": { "in": "lead" } }))),
        (
            "wrong types inside input",
            JSON,
            body(json!({ "query": lead_doc, "variables": { "in": { "phones": { "value": 5 }, "opened": "yes" } } })),
        ),
        (
            "number out of range",
            JSON,
            format!("{{\"query\":\"{first_var}\",\"variables\":{{\"n\":1e400}}}}").into_bytes(),
        ),
        ("Int overflow literal", JSON, query("{ leads(first: 2147483648) { totalCount } }")),
        ("negative first", JSON, query("{ leads(first: -1) { totalCount } }")),
        ("huge first", JSON, query("{ leads(first: 1000000) { totalCount } }")),
        ("garbage cursor", JSON, query("{ leads(after: \"!!!\") { totalCount } }")),
        ("deep selection", JSON, query(&deep_selection(5))),
        ("very deep selection", JSON, query(&deep_selection(30))),
        ("wide selection", JSON, query(&wide)),
        ("fragment cycle", JSON, query("{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }")),
        ("50 nested not, inline", JSON, query(&format!("{{ leads(filter: {not_literal}) {{ totalCount }} }}"))),
        (
            "50 nested not, variables",
            JSON,
            body(
                json!({ "query": "query($f: LeadFilter) { leads(filter: $f) { totalCount } }", "variables": { "f": not_json } }),
            ),
        ),
        (
            "null byte in a filter",
            JSON,
            body(
                json!({ "query": "query($t: String) { leads(filter: { title: { contains: $t } }) { totalCount } }", "variables": { "t": "a\u{0}b" } }),
            ),
        ),
        (
            "null byte in an id",
            JSON,
            body(json!({ "query": "query($id: ID!) { lead(id: $id) { id } }", "variables": { "id": "lead:1\u{0}" } })),
        ),
        ("null byte in the document", JSON, query("{ me\u{0} { id } }")),
        ("raw null byte", JSON, b"{\"query\":\"{ me { id } }\"}\0".to_vec()),
        ("invalid UTF-8", JSON, vec![0xff, 0xfe, 0xfd]),
        (
            "900 kB filter string",
            JSON,
            body(
                json!({ "query": "query($t: String) { leads(filter: { title: { contains: $t } }) { totalCount } }", "variables": { "t": "x".repeat(900_000) } }),
            ),
        ),
        ("wrong content type", "text/plain", query("{ me { id } }")),
    ];
    for (label, content_type, bytes) in &cases {
        for accept in ACCEPTS {
            let (status, text) = post(&s, accept, content_type, bytes.clone())
                .await
                .unwrap_or_else(|e| panic!("{label} ({accept}): {e}"));
            assert!(status.as_u16() < 500, "{label} ({accept}): {status} {text}");
        }
    }
    let big = body(json!({ "query": "{ me { id } }", "padding": "x".repeat(2 * 1024 * 1024) }));
    for accept in ACCEPTS {
        match post(&s, accept, JSON, big.clone()).await {
            Ok((status, text)) => assert!(status.as_u16() < 500, "2 MB body ({accept}): {status} {text}"),
            // The server may refuse and close before the client has sent all of it; no 5xx either.
            Err(e) => eprintln!("2 MB body ({accept}): connection closed while sending: {e}"),
        }
    }
    let endpoint = s.url("/graphql");
    let gets = vec![
        endpoint.clone(),
        format!("{endpoint}?query=%ZZ&variables=%"),
        url::Url::parse_with_params(&endpoint, &[("query", "mutation { deleteLead(id: \"lead:1\") }")])
            .unwrap()
            .to_string(),
        url::Url::parse_with_params(&endpoint, &[("query", "{ me { id } }"), ("variables", "[1]")])
            .unwrap()
            .to_string(),
        url::Url::parse_with_params(&endpoint, &[("query", "{ leads(first: -5) { totalCount } }")])
            .unwrap()
            .to_string(),
    ];
    for u in &gets {
        for accept in ACCEPTS {
            let resp = s.client.get(u.as_str()).bearer_auth(&s.token).header(ACCEPT, accept).send().await.unwrap();
            assert!(resp.status().as_u16() < 500, "GET {u} ({accept}): {}", resp.status());
        }
    }
    // Still up and unharmed.
    let health = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    assert_eq!(s.ok("{ me { email } leads { totalCount } }", json!({})).await["leads"]["totalCount"], 0);
}

//! The lead lifecycle over HTTP: conversion into contact, company and deal (every
//! combination, repeat leads, bad input, concurrency), junk and reopen, duplicate search
//! and merging duplicates.

use crate::common;

use common::TestServer;
use futures_util::future::join_all;
use serde_json::{Value, json};

const CONVERT: &str = "mutation($in: ConvertLeadInput!) { convertLead(input: $in) {
    lead { id status { code semantics } convertedAt convertedContact { id } convertedCompany { id } convertedDeal { id }
           contactId companyId timeline { nodes { kind text } } }
    contact { id firstName lastName position sourceId originLeadId companyIds phones { normalized valueType } emails { normalized } }
    company { id title address originLeadId phones { normalized } contacts { totalCount } }
    deal { id title opportunity currency companyId contactIds originLeadId stage { code } pipeline { isDefault } } } }";

const SET_STATUS: &str =
    "mutation($id: ID!, $st: ID!) { setLeadStatus(id: $id, statusId: $st) { status { code semantics } } }";

const LEAD_STATE: &str = "query($id: ID!) { lead(id: $id) { version status { code } convertedAt } }";

const DUPS: &str = "query($p: [String!]!, $e: [String!]!, $n: [String!]!, $t: [String!]!) {
    findDuplicates(phones: $p, emails: $e, names: $n, companyTitles: $t) {
      elementType id element { __typename } matches { criterion value } } }";

const MERGE_CONTACTS: &str = "mutation($keep: ID!, $ids: [ID!]!) { mergeContacts(keepId: $keep, mergeIds: $ids) {
    id firstName lastName position phones { normalized } deals { totalCount } timeline { nodes { kind text } } } }";

const MERGE_COMPANIES: &str = "mutation($keep: ID!, $ids: [ID!]!) { mergeCompanies(keepId: $keep, mergeIds: $ids) {
    id title address contacts { nodes { id } } deals { nodes { id } } timeline { nodes { kind text } } } }";

const MERGE_LEADS: &str = "mutation($keep: ID!, $ids: [ID!]!) { mergeLeads(keepId: $keep, mergeIds: $ids) {
    id lastName productRows { name unitPrice } timeline { nodes { kind text } } } }";

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// Creates a Lead, Contact, Company or Deal and returns its id.
async fn create(s: &TestServer, kind: &str, input: Value) -> String {
    let q = format!("mutation($in: {kind}Input!) {{ create{kind}(input: $in) {{ id }} }}");
    let data = s.ok(&q, json!({ "in": input })).await;
    id_of(&data[format!("create{kind}").as_str()])
}

async fn status_item(s: &TestServer, list: &str, code: &str) -> String {
    let data = s.ok("query($l: StatusListKind!) { statusItems(list: $l) { id code } }", json!({ "l": list })).await;
    data["statusItems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == code)
        .map(id_of)
        .unwrap_or_else(|| panic!("no {list} item {code}"))
}

/// Sorted normalised values of a communication list.
fn normalized(list: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        list.as_array().unwrap().iter().map(|c| c["normalized"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

/// (kind, text) of a timeline connection's nodes, newest first.
fn entries(timeline: &Value) -> Vec<(String, String)> {
    timeline["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline nodes in {timeline}"))
        .iter()
        .map(|n| (n["kind"].as_str().unwrap().to_owned(), n["text"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// (contacts, companies, deals).
async fn totals(s: &TestServer) -> (i64, i64, i64) {
    let d = s.ok("{ contacts { totalCount } companies { totalCount } deals { totalCount } }", json!({})).await;
    let n = |k: &str| d[k]["totalCount"].as_i64().unwrap();
    (n("contacts"), n("companies"), n("deals"))
}

/// Everything a failed write must leave untouched.
async fn snapshot(s: &TestServer) -> Value {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut v = s
        .ok(
            "{ leads { totalCount } contacts { totalCount } companies { totalCount } deals { totalCount } history { totalCount } }",
            json!({}),
        )
        .await;
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    for table in ["events", "lead_conversions", "communications", "contact_companies", "deal_contacts", "product_rows"]
    {
        let r: N = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result(&mut conn).await.unwrap();
        v[table] = json!(r.n);
    }
    v
}

#[tokio::test]
async fn convert_into_new_contact_company_and_deal() {
    let s = TestServer::start().await;
    let web = status_item(&s, "SOURCE", "WEB").await;
    let lead = create(
        &s,
        "Lead",
        json!({ "firstName": "Anna", "lastName": "Berg", "position": "Buyer", "companyTitle": "Acme GmbH",
                "opportunity": "1500.00", "currency": "EUR", "sourceId": web,
                "phones": [{ "value": "030 1234567", "valueType": "WORK" }],
                "emails": [{ "value": "Anna.Berg@Acme.example" }] }),
    )
    .await;
    let data = s
        .ok(
            CONVERT,
            json!({ "in": { "leadId": lead, "contact": { "create": true }, "company": { "create": true }, "deal": {} } }),
        )
        .await;
    let r = &data["convertLead"];
    let (contact, company, deal) = (&r["contact"], &r["company"], &r["deal"]);
    let (contact_id, company_id, deal_id) = (id_of(contact), id_of(company), id_of(deal));

    assert_eq!(contact["firstName"], "Anna");
    assert_eq!(contact["lastName"], "Berg");
    assert_eq!(contact["position"], "Buyer");
    assert_eq!(contact["sourceId"], web.as_str());
    assert_eq!(contact["originLeadId"], lead.as_str());
    assert_eq!(normalized(&contact["phones"]), ["+49301234567"]);
    assert_eq!(contact["phones"][0]["valueType"], "WORK");
    assert_eq!(normalized(&contact["emails"]), ["anna.berg@acme.example"]);
    assert_eq!(contact["companyIds"], json!([company_id]), "the new contact works for the new company");

    assert_eq!(company["title"], "Acme GmbH");
    assert_eq!(company["originLeadId"], lead.as_str());
    assert_eq!(company["contacts"]["totalCount"], 1);

    assert_eq!(deal["title"], "Anna Berg", "the deal title defaults to the lead's title");
    assert_eq!(deal["opportunity"], "1500.00");
    assert_eq!(deal["currency"], "EUR");
    assert_eq!(deal["companyId"], company_id.as_str());
    assert_eq!(deal["contactIds"], json!([contact_id]));
    assert_eq!(deal["stage"]["code"], "NEW");
    assert_eq!(deal["pipeline"]["isDefault"], true);
    assert_eq!(deal["originLeadId"], lead.as_str());

    let l = &r["lead"];
    assert_eq!(l["status"]["code"], "CONVERTED");
    assert_eq!(l["status"]["semantics"], "SUCCESS");
    assert!(l["convertedAt"].is_string(), "convertedAt is set: {l}");
    assert_eq!(l["convertedContact"]["id"], contact_id.as_str());
    assert_eq!(l["convertedCompany"]["id"], company_id.as_str());
    assert_eq!(l["convertedDeal"]["id"], deal_id.as_str());
    assert_eq!(l["contactId"], contact_id.as_str());
    assert_eq!(l["companyId"], company_id.as_str());

    // Read back in a fresh request.
    let fresh = s
        .ok(
            "query($id: ID!, $c: ID!) {
               lead(id: $id) { status { code } convertedAt convertedContact { id } convertedCompany { id } convertedDeal { id }
                               timeline { nodes { kind text } } }
               contact(id: $c) { companyIds timeline { nodes { kind text } } } }",
            json!({ "id": lead, "c": contact_id }),
        )
        .await;
    let fl = &fresh["lead"];
    assert_eq!(fl["status"]["code"], "CONVERTED");
    assert!(fl["convertedAt"].is_string());
    assert_eq!(fl["convertedContact"]["id"], contact_id.as_str());
    assert_eq!(fl["convertedCompany"]["id"], company_id.as_str());
    assert_eq!(fl["convertedDeal"]["id"], deal_id.as_str());
    let lead_history = entries(&fl["timeline"]);
    assert_eq!(lead_history[0].0, "CONVERTED", "{lead_history:?}");
    for id in [&contact_id, &company_id, &deal_id] {
        assert!(lead_history[0].1.contains(id.as_str()), "{id} named in {:?}", lead_history[0]);
    }
    assert_eq!(fresh["contact"]["companyIds"], json!([company_id]));
    let contact_history = entries(&fresh["contact"]["timeline"]);
    assert!(
        contact_history.iter().any(|(k, t)| k == "CREATED" && t.contains(lead.as_str())),
        "the contact's CREATED entry names the lead: {contact_history:?}"
    );
    assert_eq!(totals(&s).await, (1, 1, 1));
}

#[tokio::test]
async fn convert_into_deal_only_existing_contact_and_existing_company() {
    let s = TestServer::start().await;

    // (b) Only a deal.
    let lead_b = create(
        &s,
        "Lead",
        json!({ "firstName": "Bea", "lastName": "Deal", "companyTitle": "Bea Corp", "opportunity": "99.00", "currency": "EUR" }),
    )
    .await;
    let data = s.ok(CONVERT, json!({ "in": { "leadId": lead_b, "deal": { "title": "Only the deal" } } })).await;
    let r = &data["convertLead"];
    assert!(r["contact"].is_null() && r["company"].is_null(), "{r}");
    assert_eq!(r["deal"]["title"], "Only the deal");
    assert_eq!(r["deal"]["opportunity"], "99.00");
    assert!(r["deal"]["companyId"].is_null());
    assert_eq!(r["deal"]["contactIds"], json!([]));
    assert_eq!(r["lead"]["status"]["code"], "CONVERTED");
    assert!(r["lead"]["convertedContact"].is_null() && r["lead"]["convertedCompany"].is_null());
    assert_eq!(r["lead"]["convertedDeal"]["id"], id_of(&r["deal"]).as_str());
    assert_eq!(totals(&s).await, (0, 0, 1));

    // (c) An existing contact plus a new company: only the contact's empty fields are filled.
    let existing = create(&s, "Contact", json!({ "lastName": "Keller" })).await;
    let lead_c = create(
        &s,
        "Lead",
        json!({ "firstName": "Jonas", "lastName": "Kellermann", "companyTitle": "Keller Bau",
                "phones": [{ "value": "030 3456789" }] }),
    )
    .await;
    let data = s
        .ok(
            CONVERT,
            json!({ "in": { "leadId": lead_c, "contact": { "existingId": existing }, "company": { "create": true } } }),
        )
        .await;
    let r = &data["convertLead"];
    assert_eq!(id_of(&r["contact"]), existing);
    assert_eq!(r["contact"]["firstName"], "Jonas", "an empty first name is filled");
    assert_eq!(r["contact"]["lastName"], "Keller", "a present last name is kept");
    assert_eq!(normalized(&r["contact"]["phones"]), ["+49303456789"]);
    let new_company = id_of(&r["company"]);
    assert_eq!(r["company"]["title"], "Keller Bau");
    assert!(r["deal"].is_null());
    assert_eq!(r["lead"]["convertedContact"]["id"], existing.as_str());
    assert_eq!(r["lead"]["convertedCompany"]["id"], new_company.as_str());
    let c = s
        .ok(
            "query($id: ID!) { contact(id: $id) { firstName lastName companyIds phones { normalized } } }",
            json!({ "id": existing }),
        )
        .await;
    assert_eq!(c["contact"]["firstName"], "Jonas");
    assert_eq!(c["contact"]["lastName"], "Keller");
    assert_eq!(normalized(&c["contact"]["phones"]), ["+49303456789"]);
    assert!(
        c["contact"]["companyIds"].as_array().unwrap().iter().any(|id| *id == new_company.as_str()),
        "the existing contact is linked to the new company: {c}"
    );
    assert_eq!(totals(&s).await, (1, 1, 1));

    // (d) An existing company and no contact.
    let delta = create(&s, "Company", json!({ "title": "Delta AG" })).await;
    let lead_d = create(
        &s,
        "Lead",
        json!({ "lastName": "Dorn", "address": "Hauptstr. 1", "phones": [{ "value": "030 4567890" }] }),
    )
    .await;
    let data = s.ok(CONVERT, json!({ "in": { "leadId": lead_d, "company": { "existingId": delta } } })).await;
    let r = &data["convertLead"];
    assert!(r["contact"].is_null() && r["deal"].is_null(), "{r}");
    assert_eq!(id_of(&r["company"]), delta);
    assert_eq!(r["company"]["title"], "Delta AG");
    assert_eq!(r["company"]["address"], "Hauptstr. 1", "an empty address is filled");
    assert_eq!(normalized(&r["company"]["phones"]), ["+49304567890"]);
    assert_eq!(r["lead"]["status"]["code"], "CONVERTED");
    assert_eq!(r["lead"]["convertedCompany"]["id"], delta.as_str());
    assert_eq!(r["lead"]["companyId"], delta.as_str());
    assert!(r["lead"]["convertedContact"].is_null() && r["lead"]["convertedDeal"].is_null());
    assert_eq!(totals(&s).await, (1, 2, 1));
}

#[tokio::test]
async fn repeat_lead_converts_into_a_deal_for_the_known_customer() {
    let s = TestServer::start().await;
    let company = create(&s, "Company", json!({ "title": "Repeat GmbH" })).await;
    let contact =
        create(&s, "Contact", json!({ "firstName": "Rolf", "lastName": "Wieder", "companyIds": [company] })).await;
    let created = s
        .ok(
            "mutation($in: LeadInput!) { createLead(input: $in) { id isReturnCustomer } }",
            json!({ "in": { "title": "Second order", "contactId": contact, "companyId": company,
                            "opportunity": "300.00", "currency": "EUR" } }),
        )
        .await;
    assert_eq!(created["createLead"]["isReturnCustomer"], true);
    let lead = id_of(&created["createLead"]);

    let before = totals(&s).await;
    let data = s.ok(CONVERT, json!({ "in": { "leadId": lead, "deal": {} } })).await;
    let r = &data["convertLead"];
    assert_eq!(id_of(&r["contact"]), contact);
    assert_eq!(id_of(&r["company"]), company);
    assert_eq!(r["contact"]["companyIds"], json!([company]), "no duplicate link");
    let deal = &r["deal"];
    assert_eq!(deal["title"], "Second order");
    assert_eq!(deal["opportunity"], "300.00");
    assert_eq!(deal["companyId"], company.as_str());
    assert_eq!(deal["contactIds"], json!([contact]));
    assert_eq!(r["lead"]["convertedContact"]["id"], contact.as_str());
    assert_eq!(r["lead"]["convertedCompany"]["id"], company.as_str());
    let after = totals(&s).await;
    assert_eq!((after.0, after.1), (before.0, before.1), "no new contact or company");
    assert_eq!(after.2, before.2 + 1);
}

#[tokio::test]
async fn bad_conversions_write_nothing() {
    let s = TestServer::start().await;
    let lead = create(
        &s,
        "Lead",
        json!({ "firstName": "Nora", "lastName": "Bad", "companyTitle": "Bad Input GmbH",
                "phones": [{ "value": "030 6789012" }], "emails": [{ "value": "nora@bad.example" }] }),
    )
    .await;
    let no_title = create(&s, "Lead", json!({ "lastName": "Solo" })).await;
    let contact = create(&s, "Contact", json!({ "lastName": "Existing" })).await;

    let before = snapshot(&s).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no target at all", json!({ "leadId": lead }), "BAD_USER_INPUT"),
        (
            "contact with create and existingId",
            json!({ "leadId": lead, "contact": { "create": true, "existingId": contact } }),
            "BAD_USER_INPUT",
        ),
        ("contact with neither", json!({ "leadId": lead, "contact": {} }), "BAD_USER_INPUT"),
        (
            "unknown existing contact",
            json!({ "leadId": lead, "company": { "create": true }, "contact": { "existingId": "contact:999999" }, "deal": {} }),
            "BAD_USER_INPUT",
        ),
        (
            "company from a lead without company title",
            json!({ "leadId": no_title, "contact": { "create": true }, "company": { "create": true } }),
            "BAD_USER_INPUT",
        ),
        (
            "unknown pipeline",
            json!({ "leadId": lead, "contact": { "create": true }, "company": { "create": true },
                    "deal": { "pipelineId": "pipeline:999999" } }),
            "BAD_USER_INPUT",
        ),
        ("unknown lead", json!({ "leadId": "lead:999999", "deal": {} }), "NOT_FOUND"),
    ];
    for (what, input, code) in cases {
        assert_eq!(s.err_code(CONVERT, json!({ "in": input })).await, code, "{what}");
        assert_eq!(snapshot(&s).await, before, "{what} wrote something");
    }
    let state = s.ok(LEAD_STATE, json!({ "id": lead })).await;
    assert_eq!(state["lead"]["version"], 1);
    assert_eq!(state["lead"]["status"]["code"], "NEW");
    assert!(state["lead"]["convertedAt"].is_null());

    // Converted and junk leads cannot be converted.
    s.ok(CONVERT, json!({ "in": { "leadId": lead, "deal": {} } })).await;
    let junk = create(&s, "Lead", json!({ "lastName": "Junky", "companyTitle": "Junk Ltd" })).await;
    s.ok("mutation($id: ID!) { junkLead(id: $id) { id } }", json!({ "id": junk })).await;
    let before = snapshot(&s).await;
    let again = json!({ "in": { "leadId": lead, "contact": { "create": true }, "deal": {} } });
    assert_eq!(s.err_code(CONVERT, again).await, "CONFLICT");
    let junked = json!({ "in": { "leadId": junk, "company": { "create": true }, "deal": {} } });
    assert_eq!(s.err_code(CONVERT, junked).await, "CONFLICT");
    assert_eq!(snapshot(&s).await, before, "refused conversions wrote something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conversions_convert_exactly_once() {
    let s = TestServer::start().await;
    let lead = create(
        &s,
        "Lead",
        json!({ "firstName": "Rita", "lastName": "Race", "companyTitle": "Race Ltd", "phones": [{ "value": "030 5678901" }] }),
    )
    .await;
    let input =
        json!({ "in": { "leadId": lead, "contact": { "create": true }, "company": { "create": true }, "deal": {} } });
    let bodies: Vec<Value> = join_all((0..20).map(|_| s.gql(CONVERT, input.clone()))).await;

    let winners: Vec<&Value> = bodies.iter().filter(|b| b.get("errors").is_none()).collect();
    assert_eq!(winners.len(), 1, "exactly one conversion wins: {bodies:?}");
    let codes: Vec<String> = bodies
        .iter()
        .filter(|b| b.get("errors").is_some())
        .map(|b| b["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned())
        .collect();
    assert_eq!(codes.len(), 19);
    assert!(codes.iter().all(|c| c == "CONFLICT"), "{codes:?}");

    let w = &winners[0]["data"]["convertLead"];
    assert_eq!(totals(&s).await, (1, 1, 1), "one contact, one company, one deal");
    let fresh = s
        .ok(
            "query($id: ID!) { lead(id: $id) { convertedContact { id } convertedCompany { id } convertedDeal { id }
               timeline { nodes { kind text } } } }",
            json!({ "id": lead }),
        )
        .await;
    assert_eq!(fresh["lead"]["convertedContact"]["id"], id_of(&w["contact"]).as_str());
    assert_eq!(fresh["lead"]["convertedCompany"]["id"], id_of(&w["company"]).as_str());
    assert_eq!(fresh["lead"]["convertedDeal"]["id"], id_of(&w["deal"]).as_str());
    let converted = entries(&fresh["lead"]["timeline"]).into_iter().filter(|(k, _)| k == "CONVERTED").count();
    assert_eq!(converted, 1);
    assert_eq!(snapshot(&s).await["lead_conversions"], 1);
}

#[tokio::test]
async fn junk_reopen_and_status_rules() {
    let s = TestServer::start().await;
    let lead = create(&s, "Lead", json!({ "lastName": "Spam" })).await;
    let new = status_item(&s, "STATUS", "NEW").await;
    let in_process = status_item(&s, "STATUS", "IN_PROCESS").await;
    let converted = status_item(&s, "STATUS", "CONVERTED").await;

    let junked = s
        .ok(
            "mutation($id: ID!) { junkLead(id: $id, reason: \"Spam caller\") {
               status { code semantics } timeline { nodes { kind text } } } }",
            json!({ "id": lead }),
        )
        .await;
    let j = &junked["junkLead"];
    assert_eq!(j["status"]["code"], "JUNK");
    assert_eq!(j["status"]["semantics"], "FAILURE");
    let history = entries(&j["timeline"]);
    assert_eq!(history[0].0, "JUNKED", "{history:?}");
    assert!(history[0].1.contains("Spam caller"), "{history:?}");

    let reopened = s.ok(SET_STATUS, json!({ "id": lead, "st": in_process })).await;
    assert_eq!(reopened["setLeadStatus"]["status"]["code"], "IN_PROCESS");
    assert_eq!(reopened["setLeadStatus"]["status"]["semantics"], "PROCESS");

    assert_eq!(s.err_code(SET_STATUS, json!({ "id": lead, "st": converted })).await, "BAD_USER_INPUT");
    let junk_into_process = "mutation($id: ID!, $st: ID!) { junkLead(id: $id, statusId: $st) { id } }";
    assert_eq!(s.err_code(junk_into_process, json!({ "id": lead, "st": new })).await, "BAD_USER_INPUT");
    let state = s.ok(LEAD_STATE, json!({ "id": lead })).await;
    assert_eq!(state["lead"]["status"]["code"], "IN_PROCESS");

    // A reopened lead converts; a converted one keeps its status.
    s.ok(CONVERT, json!({ "in": { "leadId": lead, "deal": {} } })).await;
    assert_eq!(s.err_code(SET_STATUS, json!({ "id": lead, "st": in_process })).await, "CONFLICT");
    assert_eq!(s.err_code("mutation($id: ID!) { junkLead(id: $id) { id } }", json!({ "id": lead })).await, "CONFLICT");
    let state = s.ok(LEAD_STATE, json!({ "id": lead })).await;
    assert_eq!(state["lead"]["status"]["code"], "CONVERTED");
}

#[tokio::test]
async fn find_duplicates_and_reject_on_create() {
    let s = TestServer::start().await;
    let lead = create(
        &s,
        "Lead",
        json!({ "firstName": "Erika", "lastName": "Mustermann", "companyTitle": "Globex AG",
                "phones": [{ "value": "030 2345678" }], "emails": [{ "value": "Erika.M@Example.org" }] }),
    )
    .await;
    let contact = create(
        &s,
        "Contact",
        json!({ "firstName": "erika", "lastName": "MUSTERMANN",
                "phones": [{ "value": "+49 30 2345678" }], "emails": [{ "value": "erika.m@example.ORG" }] }),
    )
    .await;
    let company =
        create(&s, "Company", json!({ "title": "Globex AG", "phones": [{ "value": "+49 (30) 2345678" }] })).await;
    let other = create(
        &s,
        "Contact",
        json!({ "firstName": "Otto", "lastName": "Normal", "phones": [{ "value": "030 9876543" }] }),
    )
    .await;

    let found = s
        .ok(
            DUPS,
            json!({ "p": ["030/2345678"], "e": ["ERIKA.M@example.org"], "n": ["Erika  Mustermann"], "t": ["globex ag"] }),
        )
        .await;
    let found = &found["findDuplicates"];
    let list = found.as_array().unwrap();
    assert_eq!(list.len(), 3, "lead, contact and company, nothing else: {found}");
    assert!(!list.iter().any(|m| m["id"] == other.as_str()));
    let criteria = |id: &str| -> Vec<String> {
        let m = list.iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("{id} not in {found}"));
        let mut c: Vec<String> =
            m["matches"].as_array().unwrap().iter().map(|r| r["criterion"].as_str().unwrap().to_owned()).collect();
        c.sort();
        c.dedup();
        c
    };
    assert_eq!(criteria(lead.as_str()), ["COMPANY_TITLE", "EMAIL", "NAME", "PHONE"]);
    assert_eq!(criteria(contact.as_str()), ["EMAIL", "NAME", "PHONE"]);
    assert_eq!(criteria(company.as_str()), ["COMPANY_TITLE", "PHONE"]);
    for m in list {
        let (et, tn) = match m["id"].as_str().unwrap() {
            id if id == lead => ("LEAD", "Lead"),
            id if id == contact => ("CONTACT", "Contact"),
            _ => ("COMPANY", "Company"),
        };
        assert_eq!(m["elementType"], et);
        assert_eq!(m["element"]["__typename"], tn);
        for r in m["matches"].as_array().unwrap() {
            let want = match r["criterion"].as_str().unwrap() {
                "PHONE" => "+49302345678",
                "EMAIL" => "erika.m@example.org",
                "NAME" => "erika mustermann",
                _ => "globex ag",
            };
            assert_eq!(r["value"], want, "{m}");
        }
    }

    // No cap on the number of values: the match is the 30th phone.
    let mut phones: Vec<String> = (0..29).map(|i| format!("030 87654{i:02}")).collect();
    phones.push("+49 30 9876543".into());
    let many = s.ok(DUPS, json!({ "p": phones, "e": [], "n": [], "t": [] })).await;
    let many = many["findDuplicates"].as_array().unwrap().clone();
    assert_eq!(many.len(), 1, "{many:?}");
    assert_eq!(many[0]["id"], other.as_str());
    assert_eq!(many[0]["matches"], json!([{ "criterion": "PHONE", "value": "+49309876543" }]));

    let bad = json!({ "p": ["030 2345678", "not a phone"], "e": [], "n": [], "t": [] });
    assert_eq!(s.err_code(DUPS, bad).await, "BAD_USER_INPUT");

    // onDuplicate: REJECT refuses with the matches and writes nothing; ALLOW creates.
    let create_contact =
        "mutation($in: ContactInput!, $on: OnDuplicate!) { createContact(input: $in, onDuplicate: $on) { id } }";
    let input = json!({ "lastName": "Someone", "emails": [{ "value": "ERIKA.M@EXAMPLE.ORG" }] });
    let before = snapshot(&s).await;
    let body = s.gql(create_contact, json!({ "in": input, "on": "REJECT" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    let dups = body["errors"][0]["extensions"]["duplicates"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert!(dups.iter().any(|d| d["type"] == "CONTACT" && d["id"] == contact.as_str()), "{body}");
    assert!(dups.iter().any(|d| d["type"] == "LEAD" && d["id"] == lead.as_str()), "{body}");
    assert_eq!(snapshot(&s).await, before, "a rejected create wrote something");
    let allowed = s.ok(create_contact, json!({ "in": input, "on": "ALLOW" })).await;
    assert!(allowed["createContact"]["id"].as_str().unwrap().starts_with("contact:"));
    assert_eq!(totals(&s).await.0, 3);
}

#[tokio::test]
async fn merge_contacts_moves_everything_to_the_kept_one() {
    let s = TestServer::start().await;
    let keep = create(
        &s,
        "Contact",
        json!({ "firstName": "Karl", "lastName": "Klein", "phones": [{ "value": "030 4445551" }] }),
    )
    .await;
    let a = create(
        &s,
        "Contact",
        json!({ "firstName": "Karl-Heinz", "lastName": "Klein", "position": "Buyer", "phones": [{ "value": "030 4445552" }] }),
    )
    .await;
    let b = create(
        &s,
        "Contact",
        json!({ "lastName": "Kleiner", "position": "Manager",
                "phones": [{ "value": "+49 30 4445552" }, { "value": "030 4445553" }] }),
    )
    .await;
    let d1 = create(&s, "Deal", json!({ "title": "D1", "contactIds": [a] })).await;
    let d2 = create(&s, "Deal", json!({ "title": "D2", "contactIds": [b, keep] })).await;
    let d3 = create(&s, "Deal", json!({ "title": "D3", "contactIds": [b] })).await;
    let lead_of_b = create(&s, "Lead", json!({ "lastName": "Lead of B", "contactId": b })).await;
    s.ok(
        "mutation($id: ID!) { addComment(element: { type: CONTACT, id: $id }, text: \"note on a\") { id } }",
        json!({ "id": a }),
    )
    .await;

    let before = snapshot(&s).await;
    assert_eq!(s.err_code(MERGE_CONTACTS, json!({ "keep": keep, "ids": [keep] })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(MERGE_CONTACTS, json!({ "keep": keep, "ids": [a, "contact:999999"] })).await, "NOT_FOUND");
    assert_eq!(snapshot(&s).await, before, "refused merges wrote something");

    let merged = s.ok(MERGE_CONTACTS, json!({ "keep": keep, "ids": [a, b] })).await;
    let m = &merged["mergeContacts"];
    assert_eq!(id_of(m), keep);
    assert_eq!(m["firstName"], "Karl", "own values stay");
    assert_eq!(m["lastName"], "Klein");
    assert_eq!(m["position"], "Buyer", "the first non-empty value of the others");
    assert_eq!(normalized(&m["phones"]), ["+49304445551", "+49304445552", "+49304445553"]);
    assert_eq!(m["deals"]["totalCount"], 3);
    let history = entries(&m["timeline"]);
    assert_eq!(history[0].0, "MERGED", "{history:?}");
    assert!(history[0].1.contains(a.as_str()) && history[0].1.contains(b.as_str()), "{history:?}");
    assert_eq!(history.iter().filter(|(k, _)| k == "CREATED").count(), 3, "{history:?}");
    assert!(history.iter().any(|(k, t)| k == "COMMENT" && t == "note on a"), "{history:?}");

    let after = s
        .ok(
            "query($d1: ID!, $d2: ID!, $d3: ID!, $l: ID!) {
               d1: deal(id: $d1) { contactIds } d2: deal(id: $d2) { contactIds } d3: deal(id: $d3) { contactIds }
               lead(id: $l) { contactId } }",
            json!({ "d1": d1, "d2": d2, "d3": d3, "l": lead_of_b }),
        )
        .await;
    assert_eq!(after["d1"]["contactIds"], json!([keep]));
    assert_eq!(after["d2"]["contactIds"], json!([keep]), "listed once");
    assert_eq!(after["d3"]["contactIds"], json!([keep]));
    assert_eq!(after["lead"]["contactId"], keep.as_str());
    for gone in [&a, &b] {
        assert_eq!(s.err_code("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": gone })).await, "NOT_FOUND");
    }
    assert_eq!(totals(&s).await, (1, 0, 3));
}

#[tokio::test]
async fn merge_companies_and_leads() {
    let s = TestServer::start().await;
    let keep = create(&s, "Company", json!({ "title": "Keep Co" })).await;
    let other = create(&s, "Company", json!({ "title": "Other Co", "address": "Ring 5" })).await;
    let person = create(&s, "Contact", json!({ "lastName": "Worker", "companyIds": [other] })).await;
    let deal = create(&s, "Deal", json!({ "title": "Co deal", "companyId": other })).await;

    let before = snapshot(&s).await;
    assert_eq!(s.err_code(MERGE_COMPANIES, json!({ "keep": keep, "ids": [keep] })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(MERGE_COMPANIES, json!({ "keep": keep, "ids": ["company:999999"] })).await, "NOT_FOUND");
    assert_eq!(snapshot(&s).await, before, "refused merges wrote something");

    let merged = s.ok(MERGE_COMPANIES, json!({ "keep": keep, "ids": [other] })).await;
    let m = &merged["mergeCompanies"];
    assert_eq!(m["title"], "Keep Co");
    assert_eq!(m["address"], "Ring 5");
    assert_eq!(m["contacts"]["nodes"], json!([{ "id": person }]));
    assert_eq!(m["deals"]["nodes"], json!([{ "id": deal }]));
    assert_eq!(entries(&m["timeline"])[0].0, "MERGED");
    let after = s
        .ok(
            "query($d: ID!, $c: ID!) { deal(id: $d) { companyId } contact(id: $c) { companyIds } }",
            json!({ "d": deal, "c": person }),
        )
        .await;
    assert_eq!(after["deal"]["companyId"], keep.as_str());
    assert_eq!(after["contact"]["companyIds"], json!([keep]));
    assert_eq!(s.err_code("query($id: ID!) { company(id: $id) { id } }", json!({ "id": other })).await, "NOT_FOUND");

    // Leads: product rows move to the kept lead.
    let lead_keep = create(&s, "Lead", json!({ "lastName": "Keep" })).await;
    let lead_gone = create(&s, "Lead", json!({ "lastName": "Merge" })).await;
    let rows = s
        .ok(
            "mutation($id: ID!) { setProductRows(owner: { type: LEAD, id: $id },
               rows: [{ name: \"X\", unitPrice: \"10.00\", quantity: \"1\" }]) { id name } }",
            json!({ "id": lead_gone }),
        )
        .await;
    assert_eq!(rows["setProductRows"].as_array().unwrap().len(), 1);

    let before = snapshot(&s).await;
    assert_eq!(s.err_code(MERGE_LEADS, json!({ "keep": lead_keep, "ids": [lead_keep] })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(MERGE_LEADS, json!({ "keep": lead_keep, "ids": ["lead:999999"] })).await, "NOT_FOUND");
    assert_eq!(snapshot(&s).await, before, "refused merges wrote something");

    let merged = s.ok(MERGE_LEADS, json!({ "keep": lead_keep, "ids": [lead_gone] })).await;
    let m = &merged["mergeLeads"];
    assert_eq!(m["lastName"], "Keep");
    assert_eq!(m["productRows"], json!([{ "name": "X", "unitPrice": "10.00" }]));
    assert_eq!(entries(&m["timeline"])[0].0, "MERGED");
    assert_eq!(s.err_code("query($id: ID!) { lead(id: $id) { id } }", json!({ "id": lead_gone })).await, "NOT_FOUND");
    let fresh = s.ok("query($id: ID!) { lead(id: $id) { productRows { name } } }", json!({ "id": lead_keep })).await;
    assert_eq!(fresh["lead"]["productRows"], json!([{ "name": "X" }]));
}

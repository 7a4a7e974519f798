//! Lists over HTTP: typed filters with and/or/not, communication and link filters, keyset
//! pagination that stays stable under ties and NULLs, total counts, page limits and nested
//! connections.

use crate::common;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};

async fn create(s: &TestServer, mutation: &str, input_type: &str, input: Value) -> String {
    let q = format!("mutation($in: {input_type}!) {{ {mutation}(input: $in) {{ id }} }}");
    let d = s.ok(&q, json!({ "in": input })).await;
    d[mutation]["id"].as_str().unwrap_or_else(|| panic!("no id from {mutation}: {d}")).to_owned()
}

async fn lead(s: &TestServer, input: Value) -> String {
    create(s, "createLead", "LeadInput", input).await
}

async fn contact(s: &TestServer, input: Value) -> String {
    create(s, "createContact", "ContactInput", input).await
}

async fn company(s: &TestServer, input: Value) -> String {
    create(s, "createCompany", "CompanyInput", input).await
}

async fn deal(s: &TestServer, input: Value) -> String {
    create(s, "createDeal", "DealInput", input).await
}

/// The ids of a `nodes` list, in order.
fn ids(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {nodes}"))
        .iter()
        .map(|n| n["id"].as_str().expect("node id").to_owned())
        .collect()
}

/// Ids of a filtered top-level list in default order (id ascending); checks totalCount too.
async fn list(s: &TestServer, field: &str, filter_type: &str, filter: Value) -> Vec<String> {
    let q = format!("query($f: {filter_type}) {{ {field}(filter: $f, first: 500) {{ totalCount nodes {{ id }} }} }}");
    let d = s.ok(&q, json!({ "f": filter.clone() })).await;
    let got = ids(&d[field]["nodes"]);
    assert_eq!(d[field]["totalCount"], json!(got.len()), "totalCount of {field} with {filter}");
    got
}

async fn leads(s: &TestServer, filter: Value) -> Vec<String> {
    list(s, "leads", "LeadFilter", filter).await
}

async fn contacts(s: &TestServer, filter: Value) -> Vec<String> {
    list(s, "contacts", "ContactFilter", filter).await
}

async fn companies(s: &TestServer, filter: Value) -> Vec<String> {
    list(s, "companies", "CompanyFilter", filter).await
}

async fn deals(s: &TestServer, filter: Value) -> Vec<String> {
    list(s, "deals", "DealFilter", filter).await
}

/// A lead's createdAt as stored (read back, not the create mutation's echo).
async fn created_at(s: &TestServer, id: &str) -> String {
    let d = s.ok("query($id: ID!) { lead(id: $id) { createdAt } }", json!({ "id": id })).await;
    d["lead"]["createdAt"].as_str().expect("createdAt").to_owned()
}

#[tokio::test]
async fn string_operators_on_leads() {
    let s = TestServer::start().await;
    let a = lead(&s, json!({ "title": "Alpha Deal", "position": "CEO", "companyTitle": "Acme" })).await;
    let b = lead(&s, json!({ "title": "alphabet soup", "companyTitle": "50% Off_Store" })).await;
    let c = lead(&s, json!({ "title": "Beta", "position": "cto" })).await;
    let d = lead(&s, json!({ "title": "Gamma", "companyTitle": "500 Off Store" })).await;

    assert_eq!(leads(&s, json!({ "title": { "eq": "Beta" } })).await, [c.as_str()]);
    assert!(leads(&s, json!({ "title": { "eq": "beta" } })).await.is_empty(), "eq is exact");
    // neq keeps rows whose field is null.
    assert_eq!(leads(&s, json!({ "position": { "neq": "CEO" } })).await, [b.as_str(), c.as_str(), d.as_str()]);
    assert_eq!(leads(&s, json!({ "position": { "neq": "CEO", "isNull": false } })).await, [c.as_str()]);
    assert_eq!(
        leads(&s, json!({ "title": { "in": ["Beta", "Alpha Deal", "missing"] } })).await,
        [a.as_str(), c.as_str()]
    );

    assert_eq!(leads(&s, json!({ "title": { "contains": "ALPHA" } })).await, [a.as_str(), b.as_str()]);
    assert_eq!(leads(&s, json!({ "title": { "contains": "deal" } })).await, [a.as_str()]);
    // `%` and `_` are literal characters, not LIKE wildcards ("500 Off Store" must not match).
    assert_eq!(leads(&s, json!({ "companyTitle": { "contains": "50%" } })).await, [b.as_str()]);
    assert_eq!(leads(&s, json!({ "companyTitle": { "contains": "f_s" } })).await, [b.as_str()]);
    assert_eq!(leads(&s, json!({ "companyTitle": { "contains": "%" } })).await, [b.as_str()]);
    assert_eq!(leads(&s, json!({ "companyTitle": { "startsWith": "50%" } })).await, [b.as_str()]);

    assert_eq!(leads(&s, json!({ "title": { "startsWith": "ALP" } })).await, [a.as_str(), b.as_str()]);
    assert!(leads(&s, json!({ "title": { "startsWith": "deal" } })).await.is_empty());
    assert_eq!(leads(&s, json!({ "title": { "startsWith": "alpha", "contains": "soup" } })).await, [b.as_str()]);

    assert_eq!(leads(&s, json!({ "position": { "isNull": true } })).await, [b.as_str(), d.as_str()]);
    assert_eq!(leads(&s, json!({ "position": { "isNull": false } })).await, [a.as_str(), c.as_str()]);
    assert_eq!(leads(&s, json!({ "companyTitle": { "isNull": true } })).await, [c.as_str()]);
}

#[tokio::test]
async fn empty_in_list_matches_nothing() {
    let s = TestServer::start().await;
    lead(&s, json!({ "title": "One", "opportunity": "10" })).await;
    assert!(leads(&s, json!({ "title": { "in": [] } })).await.is_empty());
    assert!(leads(&s, json!({ "opportunity": { "in": [] } })).await.is_empty());
    assert!(leads(&s, json!({ "id": { "in": [] } })).await.is_empty());
}

#[tokio::test]
async fn numeric_and_date_operators() {
    let s = TestServer::start().await;
    let l1 = lead(&s, json!({ "title": "L1", "opportunity": "100" })).await;
    let l2 = lead(&s, json!({ "title": "L2", "opportunity": "250.50" })).await;
    let l3 = lead(&s, json!({ "title": "L3" })).await;
    let l4 = lead(&s, json!({ "title": "L4", "opportunity": "1000" })).await;
    let l5 = lead(&s, json!({ "title": "L5", "opportunity": "100.00" })).await;
    let opp = |f: Value| json!({ "opportunity": f });

    assert_eq!(leads(&s, opp(json!({ "eq": "100" }))).await, [l1.as_str(), l5.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "neq": "100" }))).await, [l2.as_str(), l3.as_str(), l4.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "gt": "100" }))).await, [l2.as_str(), l4.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "gte": "100" }))).await, [l1.as_str(), l2.as_str(), l4.as_str(), l5.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "lt": "250.50" }))).await, [l1.as_str(), l5.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "lte": "250.5" }))).await, [l1.as_str(), l2.as_str(), l5.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "gt": "100", "lt": "1000" }))).await, [l2.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "in": ["100", "1000"] }))).await, [l1.as_str(), l4.as_str(), l5.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "isNull": true }))).await, [l3.as_str()]);
    assert_eq!(leads(&s, opp(json!({ "isNull": false }))).await, [l1.as_str(), l2.as_str(), l4.as_str(), l5.as_str()]);

    // Deal dates (DateFilter) and probabilities (IntFilter).
    let d1 = deal(&s, json!({ "title": "D1", "beginDate": "2024-01-10", "probability": 20 })).await;
    let d2 = deal(&s, json!({ "title": "D2", "beginDate": "2024-02-15", "probability": 60 })).await;
    let d3 = deal(&s, json!({ "title": "D3", "beginDate": "2024-03-20", "probability": 90 })).await;
    assert_eq!(
        deals(&s, json!({ "beginDate": { "gte": "2024-02-01", "lte": "2024-03-20" } })).await,
        [d2.as_str(), d3.as_str()]
    );
    assert_eq!(deals(&s, json!({ "beginDate": { "gt": "2024-01-10", "lt": "2024-03-20" } })).await, [d2.as_str()]);
    assert_eq!(deals(&s, json!({ "beginDate": { "lt": "2024-02-15" } })).await, [d1.as_str()]);
    assert_eq!(deals(&s, json!({ "beginDate": { "eq": "2024-02-15" } })).await, [d2.as_str()]);
    assert_eq!(
        deals(&s, json!({ "beginDate": { "in": ["2024-01-10", "2024-03-20"] } })).await,
        [d1.as_str(), d3.as_str()]
    );
    assert_eq!(deals(&s, json!({ "probability": { "gte": 60 } })).await, [d2.as_str(), d3.as_str()]);
    assert_eq!(deals(&s, json!({ "probability": { "in": [20, 90] } })).await, [d1.as_str(), d3.as_str()]);

    // createdAt with DateTimeFilter, using timestamps as stored.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let e1 = lead(&s, json!({ "title": "E1" })).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let e2 = lead(&s, json!({ "title": "E2" })).await;
    let t1 = created_at(&s, &e1).await;
    let t2 = created_at(&s, &e2).await;
    assert_eq!(leads(&s, json!({ "createdAt": { "gte": t1 } })).await, [e1.as_str(), e2.as_str()]);
    assert_eq!(leads(&s, json!({ "createdAt": { "gt": t1 } })).await, [e2.as_str()]);
    assert_eq!(leads(&s, json!({ "createdAt": { "gte": t2 } })).await, [e2.as_str()]);
    assert_eq!(leads(&s, json!({ "createdAt": { "eq": t1 } })).await, [e1.as_str()]);
    assert_eq!(
        leads(&s, json!({ "createdAt": { "lt": t2 } })).await,
        [l1.as_str(), l2.as_str(), l3.as_str(), l4.as_str(), l5.as_str(), e1.as_str()]
    );
}

#[tokio::test]
async fn and_or_not_nest() {
    let s = TestServer::start().await;
    let n1 = lead(&s, json!({ "title": "Apple", "position": "CEO", "opportunity": "100", "companyTitle": "x" })).await;
    let n2 = lead(&s, json!({ "title": "Avocado", "opportunity": "900" })).await;
    let n3 = lead(&s, json!({ "title": "Banana", "position": "CTO", "opportunity": "600", "companyTitle": "y" })).await;
    let n4 = lead(&s, json!({ "title": "Cherry" })).await;

    let or = json!({ "or": [{ "title": { "eq": "Apple" } }, { "title": { "eq": "Cherry" } }] });
    assert_eq!(leads(&s, or).await, [n1.as_str(), n4.as_str()]);
    let and = json!({ "and": [{ "title": { "startsWith": "a" } }, { "opportunity": { "gt": "500" } }] });
    assert_eq!(leads(&s, and).await, [n2.as_str()]);
    // Sibling fields and `or` combine with AND.
    let mixed = json!({ "position": { "isNull": false }, "or": [{ "title": { "eq": "Apple" } }, { "title": { "eq": "Cherry" } }] });
    assert_eq!(leads(&s, mixed).await, [n1.as_str()]);

    // `not` keeps rows whose field is null.
    assert_eq!(
        leads(&s, json!({ "not": { "companyTitle": { "eq": "x" } } })).await,
        [n2.as_str(), n3.as_str(), n4.as_str()]
    );
    assert_eq!(
        leads(&s, json!({ "not": { "title": { "eq": "Apple" } } })).await,
        [n2.as_str(), n3.as_str(), n4.as_str()]
    );
    assert_eq!(leads(&s, json!({ "not": { "opportunity": { "gt": "500" } } })).await, [n1.as_str(), n4.as_str()]);
    assert_eq!(leads(&s, json!({ "not": { "position": { "isNull": true } } })).await, [n1.as_str(), n3.as_str()]);
    assert_eq!(leads(&s, json!({ "not": { "not": { "title": { "eq": "Banana" } } } })).await, [n3.as_str()]);

    let deep = json!({ "or": [
        { "and": [{ "title": { "startsWith": "a" } }, { "not": { "position": { "isNull": true } } }] },
        { "and": [{ "opportunity": { "gte": "600" } }, { "not": { "title": { "contains": "avo" } } }] },
    ] });
    assert_eq!(leads(&s, deep).await, [n1.as_str(), n3.as_str()]);
    let deeper = json!({ "not": { "or": [{ "opportunity": { "isNull": true } }, { "and": [{ "opportunity": { "lt": "700" } }, { "position": { "eq": "CEO" } }] }] } });
    assert_eq!(leads(&s, deeper).await, [n2.as_str(), n3.as_str()]);
}

#[tokio::test]
async fn phone_and_email_filters() {
    let s = TestServer::start().await;
    let l1 = lead(&s, json!({ "title": "L1", "phones": [{ "value": "+49 30 1234567" }], "emails": [{ "value": "Anna@Example.com" }] })).await;
    let l2 = lead(&s, json!({ "title": "L2", "phones": [{ "value": "030/1234567" }] })).await;
    let l3 = lead(&s, json!({ "title": "L3", "phones": [{ "value": "+1 415 555 2671" }], "emails": [{ "value": "bob@example.com" }] })).await;
    let l4 = lead(&s, json!({ "title": "L4", "emails": [{ "value": "carl@example.com" }] })).await;

    let berlin = [l1.as_str(), l2.as_str()];
    assert_eq!(leads(&s, json!({ "phone": { "eq": "030 1234567" } })).await, berlin);
    assert_eq!(leads(&s, json!({ "phone": { "eq": "+49301234567" } })).await, berlin);
    assert_eq!(
        leads(&s, json!({ "phone": { "in": ["+1 (415) 555-2671", "030 1234567"] } })).await,
        [l1.as_str(), l2.as_str(), l3.as_str()]
    );
    assert_eq!(leads(&s, json!({ "phone": { "contains": "123 45" } })).await, berlin);
    assert_eq!(leads(&s, json!({ "phone": { "isNull": true } })).await, [l4.as_str()]);
    assert_eq!(leads(&s, json!({ "phone": { "isNull": false } })).await, [l1.as_str(), l2.as_str(), l3.as_str()]);
    assert_eq!(leads(&s, json!({ "email": { "eq": "ANNA@EXAMPLE.COM" } })).await, [l1.as_str()]);
    assert_eq!(leads(&s, json!({ "email": { "contains": "EXAMPLE" } })).await, [l1.as_str(), l3.as_str(), l4.as_str()]);
    assert_eq!(leads(&s, json!({ "email": { "isNull": true } })).await, [l2.as_str()]);

    let q = "query($f: LeadFilter) { leads(filter: $f) { nodes { id } } }";
    assert_eq!(s.err_code(q, json!({ "f": { "phone": { "eq": "call me" } } })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(q, json!({ "f": { "email": { "eq": "not an email" } } })).await, "BAD_USER_INPUT");

    // Contacts and companies match the same way, each on its own communications.
    let k1 = contact(&s, json!({ "firstName": "K1" })).await;
    contact(&s, json!({ "firstName": "K2", "phones": [{ "value": "+1 415 555 2671" }] })).await;
    let k3 = contact(&s, json!({ "firstName": "K3" })).await;
    let k4 = contact(
        &s,
        json!({ "firstName": "K4", "phones": [{ "value": "030 1234567" }], "emails": [{ "value": "K4@Example.COM" }] }),
    )
    .await;
    assert_eq!(contacts(&s, json!({ "phone": { "eq": "+49 (30) 1234567" } })).await, [k4.as_str()]);
    assert_eq!(contacts(&s, json!({ "email": { "eq": "k4@example.com" } })).await, [k4.as_str()]);
    assert_eq!(contacts(&s, json!({ "phone": { "isNull": true } })).await, [k1.as_str(), k3.as_str()]);

    let c1 = company(&s, json!({ "title": "Acme", "phones": [{ "value": "+49301234567" }], "emails": [{ "value": "INFO@ACME.EXAMPLE" }] })).await;
    let c2 = company(&s, json!({ "title": "Other" })).await;
    assert_eq!(companies(&s, json!({ "phone": { "eq": "030/1234567" } })).await, [c1.as_str()]);
    assert_eq!(companies(&s, json!({ "email": { "eq": "info@acme.example" } })).await, [c1.as_str()]);
    assert_eq!(companies(&s, json!({ "phone": { "isNull": true } })).await, [c2.as_str()]);
}

#[tokio::test]
async fn link_filters() {
    let s = TestServer::start().await;
    let co1 = company(&s, json!({ "title": "Co1" })).await;
    let co2 = company(&s, json!({ "title": "Co2" })).await;
    let c1 = contact(&s, json!({ "firstName": "C1", "companyIds": [co1] })).await;
    let c2 = contact(&s, json!({ "firstName": "C2" })).await;
    let c3 = contact(&s, json!({ "firstName": "C3", "companyIds": [co2, co1] })).await;
    let d1 = deal(&s, json!({ "title": "D1", "contactIds": [c1] })).await;
    let d2 = deal(&s, json!({ "title": "D2", "contactIds": [c2, c1] })).await;
    let d3 = deal(&s, json!({ "title": "D3", "contactIds": [c2] })).await;
    let d4 = deal(&s, json!({ "title": "D4" })).await;

    assert_eq!(deals(&s, json!({ "contactIds": { "eq": c1 } })).await, [d1.as_str(), d2.as_str()]);
    assert_eq!(deals(&s, json!({ "contactIds": { "in": [c2] } })).await, [d2.as_str(), d3.as_str()]);
    assert_eq!(deals(&s, json!({ "contactIds": { "isNull": true } })).await, [d4.as_str()]);
    assert_eq!(deals(&s, json!({ "contactIds": { "isNull": false } })).await, [d1.as_str(), d2.as_str(), d3.as_str()]);
    assert_eq!(deals(&s, json!({ "not": { "contactIds": { "eq": c1 } } })).await, [d3.as_str(), d4.as_str()]);
    assert!(deals(&s, json!({ "contactIds": { "eq": c3 } })).await.is_empty());

    assert_eq!(contacts(&s, json!({ "companyIds": { "isNull": true } })).await, [c2.as_str()]);
    assert_eq!(contacts(&s, json!({ "companyIds": { "isNull": false } })).await, [c1.as_str(), c3.as_str()]);
    assert_eq!(contacts(&s, json!({ "companyIds": { "eq": co1 } })).await, [c1.as_str(), c3.as_str()]);
    assert_eq!(contacts(&s, json!({ "companyIds": { "eq": co2 } })).await, [c3.as_str()]);
}

const PAGE_Q: &str = "query($o: [LeadOrder!], $first: Int, $after: String, $last: Int, $before: String) {
    leads(orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
        totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

/// Pages forward five at a time until hasNextPage is false.
async fn walk_forward(s: &TestServer, order: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for page in 0.. {
        assert!(page < 20, "forward paging does not end");
        let d = s.ok(PAGE_Q, json!({ "o": order, "first": 5, "after": after })).await;
        let info = &d["leads"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], page > 0, "hasPreviousPage on forward page {page} of {order}");
        let nodes = ids(&d["leads"]["nodes"]);
        let more = info["hasNextPage"].as_bool().expect("hasNextPage");
        if more {
            assert_eq!(nodes.len(), 5, "a page before the last is full");
        }
        out.extend(nodes);
        if !more {
            break;
        }
        after = Some(info["endCursor"].as_str().expect("endCursor").to_owned());
    }
    out
}

/// Pages backward five at a time from the end until hasPreviousPage is false.
async fn walk_backward(s: &TestServer, order: &Value) -> Vec<String> {
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        assert!(pages.len() < 20, "backward paging does not end");
        let d = s.ok(PAGE_Q, json!({ "o": order, "last": 5, "before": before })).await;
        let info = &d["leads"]["pageInfo"];
        assert_eq!(info["hasNextPage"], !pages.is_empty(), "hasNextPage on backward page {} of {order}", pages.len());
        let nodes = ids(&d["leads"]["nodes"]);
        let more = info["hasPreviousPage"].as_bool().expect("hasPreviousPage");
        if more {
            assert_eq!(nodes.len(), 5, "a backward page before the first is full");
        }
        pages.push(nodes);
        if !more {
            break;
        }
        before = Some(info["startCursor"].as_str().expect("startCursor").to_owned());
    }
    pages.into_iter().rev().flatten().collect()
}

/// DESC puts NULLs first; ASC (its reverse) puts them last.
fn desc_nulls_first(a: Option<i64>, b: Option<i64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(&x),
    }
}

/// A lead of the pagination test: id, opportunity, title.
type Row = (String, Option<i64>, String);

/// Ids of `rows` stably sorted by `cmp`; creation order (= id ascending) breaks ties.
fn sorted_ids(rows: &[Row], cmp: impl Fn(&Row, &Row) -> Ordering) -> Vec<String> {
    let mut v: Vec<&Row> = rows.iter().collect();
    v.sort_by(|a, b| cmp(a, b));
    v.into_iter().map(|r| r.0.clone()).collect()
}

#[tokio::test]
async fn keyset_pagination_is_stable_under_ties_and_nulls() {
    let s = TestServer::start().await;
    // (id, opportunity, title); ids grow with creation, so a stable sort of this list by the
    // ordering keys gives the id tie-breaker.
    let mut rows: Vec<Row> = Vec::new();
    for i in 0..23 {
        let opp = match i % 5 {
            0 => None,
            1 | 2 => Some(100),
            3 => Some(250),
            _ => Some(40),
        };
        let title = format!("T{}", i % 3);
        let opp_text: Option<String> = opp.map(|o| o.to_string());
        let id = lead(&s, json!({ "title": &title, "opportunity": opp_text })).await;
        rows.push((id, opp, title));
    }
    let all: HashSet<String> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(all.len(), 23);

    let cases = [
        (
            json!([{ "field": "OPPORTUNITY", "direction": "DESC" }]),
            sorted_ids(&rows, |a: &Row, b: &Row| desc_nulls_first(a.1, b.1)),
        ),
        (
            json!([{ "field": "OPPORTUNITY", "direction": "ASC" }]),
            sorted_ids(&rows, |a: &Row, b: &Row| desc_nulls_first(b.1, a.1)),
        ),
        (
            json!([{ "field": "TITLE", "direction": "ASC" }, { "field": "OPPORTUNITY", "direction": "DESC" }]),
            sorted_ids(&rows, |a: &Row, b: &Row| a.2.cmp(&b.2).then(desc_nulls_first(a.1, b.1))),
        ),
        (
            json!([{ "field": "TITLE", "direction": "DESC" }, { "field": "OPPORTUNITY", "direction": "ASC" }]),
            sorted_ids(&rows, |a: &Row, b: &Row| b.2.cmp(&a.2).then(desc_nulls_first(b.1, a.1))),
        ),
    ];

    for (order, expected) in &cases {
        let single = s.ok(PAGE_Q, json!({ "o": order, "first": 100 })).await;
        assert_eq!(single["leads"]["pageInfo"]["hasNextPage"], false);
        assert_eq!(single["leads"]["totalCount"], 23);
        let single = ids(&single["leads"]["nodes"]);
        assert_eq!(&single, expected, "single page in order {order}");

        let forward = walk_forward(&s, order).await;
        let unique: HashSet<&String> = forward.iter().collect();
        assert_eq!(forward.len(), 23, "forward pages of {order} return every lead once");
        assert_eq!(unique.len(), 23, "forward pages of {order} repeat no lead");
        assert_eq!(&forward, expected, "forward pages of {order}");

        let backward = walk_backward(&s, order).await;
        assert_eq!(&backward, expected, "backward pages of {order}");
    }
}

#[tokio::test]
async fn total_count_and_page_limits() {
    let s = TestServer::start().await;
    let mut keep = Vec::new();
    for i in 0..7 {
        let company_title = if i % 3 == 2 { "Drop" } else { "Keep" };
        let id = lead(&s, json!({ "title": format!("L{i}"), "companyTitle": company_title })).await;
        if i % 3 != 2 {
            keep.push(id);
        }
    }
    assert_eq!(keep.len(), 5);
    let q = "query($first: Int, $last: Int, $after: String, $before: String) {
        leads(filter: { companyTitle: { eq: \"Keep\" } }, first: $first, last: $last, after: $after, before: $before) {
            totalCount nodes { id } pageInfo { hasNextPage endCursor } } }";

    let d = s.ok(q, json!({ "first": 2 })).await;
    assert_eq!(d["leads"]["totalCount"], 5);
    assert_eq!(ids(&d["leads"]["nodes"]), &keep[..2]);
    assert_eq!(d["leads"]["pageInfo"]["hasNextPage"], true);
    let cursor = d["leads"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let d = s.ok(q, json!({ "first": 2, "after": cursor })).await;
    assert_eq!(d["leads"]["totalCount"], 5, "totalCount ignores the cursor");
    assert_eq!(ids(&d["leads"]["nodes"]), &keep[2..4]);
    let d = s.ok(q, json!({ "last": 2 })).await;
    assert_eq!(d["leads"]["totalCount"], 5);
    assert_eq!(ids(&d["leads"]["nodes"]), &keep[3..]);
    let d = s.ok(q, json!({ "first": 0 })).await;
    assert_eq!(d["leads"]["nodes"], json!([]));
    assert_eq!(d["leads"]["totalCount"], 5);
    let d = s.ok(q, json!({ "first": 500 })).await;
    assert_eq!(ids(&d["leads"]["nodes"]), keep);

    assert_eq!(s.err_code(q, json!({ "first": 501 })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(q, json!({ "last": 501 })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(q, json!({ "first": -1 })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(q, json!({ "first": 2, "last": 2 })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(q, json!({ "first": 2, "after": "garbage" })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(q, json!({ "last": 2, "before": "!!not a cursor!!" })).await, "BAD_USER_INPUT");
    // A cursor of another ordering does not fit this one.
    let other = s
        .ok(
            "{ leads(orderBy: [{ field: OPPORTUNITY, direction: DESC }], first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let foreign = other["leads"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    assert_eq!(s.err_code(q, json!({ "first": 2, "after": foreign })).await, "BAD_USER_INPUT");
}

#[tokio::test]
async fn nested_connections_page_per_parent() {
    let s = TestServer::start().await;
    let a = company(&s, json!({ "title": "A" })).await;
    let b = company(&s, json!({ "title": "B" })).await;
    let c = company(&s, json!({ "title": "C" })).await;
    // Interleave so that a mix-up between parents would show.
    let mut a_contacts = Vec::new();
    let mut b_contacts = Vec::new();
    for i in 0..7 {
        a_contacts.push(contact(&s, json!({ "firstName": format!("A{i}"), "companyIds": [a] })).await);
        if i < 2 {
            b_contacts.push(contact(&s, json!({ "firstName": format!("B{i}"), "companyIds": [b] })).await);
        }
    }

    let q = "query($id: ID!, $after: String) { company(id: $id) { contacts(first: 3, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } nodes { id } } } }";
    let mut after: Option<String> = None;
    for (i, expect_next) in [true, true, false].into_iter().enumerate() {
        let d = s.ok(q, json!({ "id": a, "after": after })).await;
        let conn = &d["company"]["contacts"];
        assert_eq!(conn["totalCount"], 7);
        assert_eq!(conn["pageInfo"]["hasNextPage"], expect_next, "page {i}");
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], i > 0, "page {i}");
        assert_eq!(ids(&conn["nodes"]), &a_contacts[i * 3..(i * 3 + 3).min(7)], "page {i}");
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(s.err_code(q, json!({ "id": a, "after": "garbage" })).await, "BAD_USER_INPUT");

    // Deals: one of A's is closed.
    let d1 = deal(&s, json!({ "title": "D1", "companyId": a })).await;
    let d2 = deal(&s, json!({ "title": "D2", "companyId": a })).await;
    let d3 = deal(&s, json!({ "title": "D3", "companyId": a })).await;
    let d4 = deal(&s, json!({ "title": "D4", "companyId": b })).await;
    let pipelines = s.ok("{ pipelines { isDefault stages { id semantics } } }", json!({})).await;
    let default =
        pipelines["pipelines"].as_array().unwrap().iter().find(|p| p["isDefault"] == true).expect("a default pipeline");
    let won =
        default["stages"].as_array().unwrap().iter().find(|st| st["semantics"] == "SUCCESS").expect("a SUCCESS stage")
            ["id"]
            .clone();
    let closed = s
        .ok(
            "mutation($id: ID!, $st: ID!) { updateDeal(id: $id, input: { stageId: $st }) { closed } }",
            json!({ "id": d2, "st": won }),
        )
        .await;
    assert_eq!(closed["updateDeal"]["closed"], true);

    let d = s
        .ok(
            "query($id: ID!) { company(id: $id) {
                open: deals(filter: { closed: { eq: false } }) { totalCount nodes { id } }
                won: deals(filter: { closed: { eq: true } }) { totalCount nodes { id } } } }",
            json!({ "id": a }),
        )
        .await;
    assert_eq!(d["company"]["open"]["totalCount"], 2);
    assert_eq!(ids(&d["company"]["open"]["nodes"]), [d1.as_str(), d3.as_str()]);
    assert_eq!(d["company"]["won"]["totalCount"], 1);
    assert_eq!(ids(&d["company"]["won"]["nodes"]), [d2.as_str()]);

    // Many parents in one list: each gets its own page and count.
    let d = s
        .ok(
            "query($ids: [ID!]) { companies(filter: { id: { in: $ids } }) { nodes { id
                contacts(first: 2) { totalCount pageInfo { hasNextPage } nodes { id } }
                deals(filter: { closed: { eq: false } }) { totalCount nodes { id } } } } }",
            json!({ "ids": [a, b, c] }),
        )
        .await;
    let nodes = d["companies"]["nodes"].as_array().unwrap();
    assert_eq!(ids(&d["companies"]["nodes"]), [a.as_str(), b.as_str(), c.as_str()]);
    assert_eq!(nodes[0]["contacts"]["totalCount"], 7);
    assert_eq!(ids(&nodes[0]["contacts"]["nodes"]), &a_contacts[..2]);
    assert_eq!(nodes[0]["contacts"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(nodes[1]["contacts"]["totalCount"], 2);
    assert_eq!(ids(&nodes[1]["contacts"]["nodes"]), b_contacts);
    assert_eq!(nodes[1]["contacts"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(nodes[2]["contacts"]["totalCount"], 0);
    assert_eq!(nodes[2]["contacts"]["nodes"], json!([]));
    assert_eq!(nodes[0]["deals"]["totalCount"], 2);
    assert_eq!(ids(&nodes[0]["deals"]["nodes"]), [d1.as_str(), d3.as_str()]);
    assert_eq!(nodes[1]["deals"]["totalCount"], 1);
    assert_eq!(ids(&nodes[1]["deals"]["nodes"]), [d4.as_str()]);
    assert_eq!(nodes[2]["deals"]["totalCount"], 0);
}

#[tokio::test]
async fn history_filter_and_timeline_order() {
    let s = TestServer::start().await;
    let l1 = lead(&s, json!({ "title": "L1" })).await;
    let l2 = lead(&s, json!({ "title": "L2" })).await;
    let c1 = contact(&s, json!({ "firstName": "C1" })).await;
    s.ok(
        "mutation($id: ID!) { updateLead(id: $id, input: { title: \"L1 changed\" }) { version } }",
        json!({ "id": l1 }),
    )
    .await;
    s.ok(
        "mutation($id: ID!) { updateContact(id: $id, input: { firstName: \"C1 changed\" }) { version } }",
        json!({ "id": c1 }),
    )
    .await;
    s.ok(
        "mutation($id: ID!) { updateLead(id: $id, input: { title: \"L2 changed\" }) { version } }",
        json!({ "id": l2 }),
    )
    .await;
    s.ok(
        "mutation($id: ID!) { addComment(element: { type: LEAD, id: $id }, text: \"hello\") { kind } }",
        json!({ "id": l1 }),
    )
    .await;

    let d = s
        .ok(
            "{ history(filter: { kind: { eq: UPDATED }, elementType: { eq: LEAD } }) { totalCount nodes { kind elementType elementId } } }",
            json!({}),
        )
        .await;
    assert_eq!(d["history"]["totalCount"], 2);
    let nodes = d["history"]["nodes"].as_array().unwrap();
    assert!(nodes.iter().all(|n| n["kind"] == "UPDATED" && n["elementType"] == "LEAD"), "only lead updates: {d}");
    let elements: Vec<&str> = nodes.iter().map(|n| n["elementId"].as_str().unwrap()).collect();
    assert_eq!(elements, [l2.as_str(), l1.as_str()], "newest first");

    let d = s
        .ok(
            "{ history(filter: { kind: { in: [CREATED, COMMENT] }, elementType: { eq: LEAD } }) { nodes { kind elementId } } }",
            json!({}),
        )
        .await;
    let got: Vec<(String, String)> = d["history"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["kind"].as_str().unwrap().to_owned(), n["elementId"].as_str().unwrap().to_owned()))
        .collect();
    let want = [("COMMENT", &l1), ("CREATED", &l2), ("CREATED", &l1)].map(|(k, id)| (k.to_owned(), id.clone()));
    assert_eq!(got, want);

    let d = s.ok("{ history(filter: { elementType: { eq: CONTACT } }) { nodes { kind } } }", json!({})).await;
    assert_eq!(d["history"]["nodes"], json!([{ "kind": "UPDATED" }, { "kind": "CREATED" }]));

    // An element's timeline is newest first, and pages the same way.
    let d = s.ok("query($id: ID!) { lead(id: $id) { timeline { nodes { kind at } } } }", json!({ "id": l1 })).await;
    let entries = d["lead"]["timeline"]["nodes"].as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["COMMENT", "UPDATED", "CREATED"]);
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> =
        entries.iter().map(|e| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "timeline newest first: {times:?}");

    let q = "query($id: ID!, $after: String) { timeline(element: { type: LEAD, id: $id }, first: 2, after: $after) {
        nodes { kind } pageInfo { hasNextPage endCursor } } }";
    let p1 = s.ok(q, json!({ "id": l1 })).await;
    assert_eq!(p1["timeline"]["nodes"], json!([{ "kind": "COMMENT" }, { "kind": "UPDATED" }]));
    assert_eq!(p1["timeline"]["pageInfo"]["hasNextPage"], true);
    let p2 = s.ok(q, json!({ "id": l1, "after": p1["timeline"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(p2["timeline"]["nodes"], json!([{ "kind": "CREATED" }]));
    assert_eq!(p2["timeline"]["pageInfo"]["hasNextPage"], false);
}

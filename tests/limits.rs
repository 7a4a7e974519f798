//! Cost limits over HTTP: order keys, cursors that belong to their order, query cost that
//! counts page sizes, bounded input lists, and money figures that are range-checked instead
//! of overflowing. Each refusal is a GraphQL error with a code (and the field it names), and
//! a refused write leaves nothing behind.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestServer;
use serde_json::{Value, json};

/// The first error's code and field, for a request that must fail.
async fn failure(s: &TestServer, query: &str, vars: Value) -> (String, String) {
    let body = s.gql(query, vars).await;
    let e = &body["errors"][0]["extensions"];
    assert!(e["code"].is_string(), "expected an error: {body}");
    (e["code"].as_str().unwrap_or_default().to_owned(), e["field"].as_str().unwrap_or_default().to_owned())
}

async fn rejects(s: &TestServer, query: &str, vars: Value, field: &str) {
    let (code, got) = failure(s, query, vars).await;
    assert_eq!((code.as_str(), got.as_str()), ("BAD_USER_INPUT", field), "{query}");
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

async fn create(s: &TestServer, kind: &str, input: Value) -> String {
    let d = s.ok(&format!("mutation($in: {kind}Input!) {{ create{kind}(input: $in) {{ id }} }}"), json!({ "in": input })).await;
    id_of(&d[format!("create{kind}")])
}

fn order(entries: usize, key: Value) -> Value {
    Value::Array(vec![key; entries])
}

#[tokio::test]
async fn order_by_takes_at_most_five_distinct_keys_on_every_list() {
    let s = TestServer::start().await;
    let me = s.ok("{ me { id name } }", json!({})).await;
    let name = me["me"]["name"].clone();
    let user_no: i64 = me["me"]["id"].as_str().unwrap().trim_start_matches("user:").parse().unwrap();

    // The defect: 3,000 keys with a cursor of that order (the old cursor format: the key
    // values and the id) took 16 s of CPU and 780 MB.
    let mut values = vec![name; 3_000];
    values.push(json!(user_no));
    let cursor = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&values).unwrap());
    let users = "query($o: [UserOrder!], $after: String) { users(orderBy: $o, after: $after) { nodes { id } } }";
    rejects(&s, users, json!({ "o": order(3_000, json!({ "field": "NAME" })), "after": cursor }), "orderBy").await;
    rejects(&s, users, json!({ "o": order(3_000, json!({ "field": "NAME" })) }), "orderBy").await;

    let six = |fields: &[&str]| Value::Array(fields.iter().map(|f| json!({ "field": f })).collect());
    let twice = |f: &str| json!([{ "field": f }, { "field": f, "direction": "DESC" }]);
    rejects(&s, users, json!({ "o": six(&["NAME", "EMAIL", "CREATED_AT", "ID", "NAME", "EMAIL"]) }), "orderBy").await;
    rejects(&s, users, json!({ "o": twice("NAME") }), "orderBy").await;
    s.ok(users, json!({ "o": six(&["NAME", "EMAIL", "CREATED_AT", "ID"]) })).await;

    // Every list, top-level and nested, custom field keys included.
    s.ok(
        "mutation { createCustomField(elementType: LEAD, input: { code: \"UF_SEATS\", type: INTEGER }) { id } }",
        json!({}),
    )
    .await;
    let company = create(&s, "Company", json!({ "title": "Acme" })).await;
    let lists = [
        ("query($o: [LeadOrder!]) { leads(orderBy: $o) { totalCount } }", "TITLE", 6, "LAST_NAME"),
        ("query($o: [ContactOrder!]) { contacts(orderBy: $o) { totalCount } }", "LAST_NAME", 6, "FIRST_NAME"),
        ("query($o: [CompanyOrder!]) { companies(orderBy: $o) { totalCount } }", "TITLE", 6, "REVENUE"),
        ("query($o: [DealOrder!]) { deals(orderBy: $o) { totalCount } }", "TITLE", 6, "OPPORTUNITY"),
        ("query($o: [ProductOrder!]) { products(orderBy: $o) { totalCount } }", "NAME", 6, "PRICE"),
        ("query($o: [ActivityOrder!]) { activities(orderBy: $o) { nodes { id } } }", "DEADLINE", 6, "START_AT"),
    ];
    for (query, field, n, other) in lists {
        rejects(&s, query, json!({ "o": order(n, json!({ "field": field })) }), "orderBy").await;
        rejects(&s, query, json!({ "o": twice(field) }), "orderBy").await;
        s.ok(query, json!({ "o": [{ "field": field }, { "field": other }] })).await;
    }
    let nested = [
        "query($id: ID!, $o: [ContactOrder!]) { company(id: $id) { contacts(orderBy: $o) { totalCount } } }",
        "query($id: ID!, $o: [DealOrder!]) { company(id: $id) { deals(orderBy: $o) { totalCount } } }",
        "query($id: ID!, $o: [LeadOrder!]) { company(id: $id) { leads(orderBy: $o) { totalCount } } }",
        "query($id: ID!, $o: [ActivityOrder!]) { company(id: $id) { activities(orderBy: $o) { nodes { id } } } }",
    ];
    for query in nested {
        rejects(&s, query, json!({ "id": company, "o": order(2, json!({ "field": "ID" })) }), "orderBy").await;
        rejects(&s, query, json!({ "id": company, "o": order(3_000, json!({ "field": "ID" })) }), "orderBy").await;
    }
    let leads = "query($o: [LeadOrder!]) { leads(orderBy: $o) { totalCount } }";
    let custom = json!({ "customField": "UF_SEATS" });
    rejects(&s, leads, json!({ "o": [custom, custom] }), "orderBy").await;
    rejects(&s, leads, json!({ "o": order(3_000, custom.clone()) }), "orderBy").await;
    s.ok(leads, json!({ "o": [custom, { "field": "TITLE" }] })).await;
}

#[tokio::test]
async fn a_cursor_fits_only_its_own_list_and_order() {
    let s = TestServer::start().await;
    for email in ["b@test.local", "c@test.local", "d@test.local"] {
        s.token_for(email, false).await;
    }
    let q = "query($o: [UserOrder!], $after: String) { users(orderBy: $o, first: 1, after: $after) {
        nodes { id } pageInfo { endCursor } } }";
    let by_name = json!([{ "field": "NAME" }]);
    let page = s.ok(q, json!({ "o": by_name })).await;
    let cursor = page["users"]["pageInfo"]["endCursor"].clone();
    // Its own order continues after it.
    let next = s.ok(q, json!({ "o": by_name, "after": cursor })).await;
    assert_ne!(next["users"]["nodes"][0]["id"], page["users"]["nodes"][0]["id"]);
    // Same number and types of values, but another column, direction or list.
    rejects(&s, q, json!({ "o": [{ "field": "EMAIL" }], "after": cursor }), "after").await;
    rejects(&s, q, json!({ "o": [{ "field": "NAME", "direction": "DESC" }], "after": cursor }), "after").await;
    let users = s.ok("{ users(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let leads = "query($after: String) { leads(after: $after) { totalCount } }";
    rejects(&s, leads, json!({ "after": users["users"]["pageInfo"]["endCursor"] }), "after").await;
    let before = "query($before: String) { users(last: 1, before: $before) { totalCount } }";
    rejects(&s, before, json!({ "before": users["users"]["pageInfo"]["endCursor"].as_str().unwrap().repeat(2) }), "before")
        .await;
}

const NESTED_500: &str = "{ companies(first: 500) { edges { node { deals(first: 500) { edges { node {
    timeline(first: 500) { edges { node { id } } } } } } } } } }";

#[tokio::test]
async fn query_cost_counts_page_sizes_before_anything_runs() {
    let s = TestServer::start().await;
    let refused = |body: &Value| {
        let e = &body["errors"][0];
        assert_eq!(e["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
        assert_eq!(e["extensions"]["maxCost"], 50_000, "{body}");
        assert!(e["extensions"]["cost"].as_i64().unwrap_or_default() > 50_000, "{body}");
        assert!(body["data"].is_null(), "nothing ran: {body}");
    };
    refused(&s.gql(NESTED_500, json!({})).await);
    // Page sizes from variables count the same.
    let vars = "query($n: Int) { companies(first: $n) { nodes { deals(first: $n) { nodes {
        timeline(first: $n) { nodes { id } } } } } } }";
    refused(&s.gql(vars, json!({ "n": 500 })).await);
    s.ok(vars, json!({ "n": 5 })).await;
    // Hostile page sizes neither overflow the arithmetic nor pass as small.
    let huge = "{ companies(first: 500) { nodes { deals(first: 2147483647) { nodes { timeline(last: 2147483647) { nodes { id } } } } } } }";
    refused(&s.gql(huge, json!({})).await);
    let aliases = (0..500).map(|i| format!("a{i}: leads {{ totalCount }}")).collect::<Vec<_>>().join(" ");
    refused(&s.gql(&format!("{{ {aliases} }}"), json!({})).await);
    let negative = "{ companies(first: -1) { nodes { deals(first: -2147483648) { nodes { id } } } } }";
    assert_eq!(failure(&s, negative, json!({})).await, ("BAD_USER_INPUT".to_owned(), "first".to_owned()));
    assert_eq!(
        failure(&s, "{ leads(first: 2147483647) { totalCount } }", json!({})).await,
        ("BAD_USER_INPUT".to_owned(), "first".to_owned())
    );

    // Realistic queries pass: the README's, a dashboard, an export page, default pages.
    let readme = "{ deals(first: 10, orderBy: [{field: CREATED_AT, direction: DESC}], filter: {closed: {eq: false}}) {
        totalCount edges { cursor node { id title opportunity currency stage { name semantics } company { title }
        contacts { fullName } assignedTo { name } } } pageInfo { hasNextPage endCursor } } }";
    let dashboard = "{ deals(first: 100) { edges { node { title stage { name } company { title } contacts { fullName }
        assignedTo { name } activities(first: 10) { edges { node { subject deadline } } } } } } }";
    let export = "{ leads(first: 500) { nodes { id title firstName lastName companyTitle opportunity currency
        comments createdAt updatedAt status { name } assignedTo { name } phones { value } emails { value } } } }";
    let defaults = "{ companies { nodes { title contacts { nodes { fullName } } deals { nodes { title } } } } }";
    let timelines = "{ deals(first: 50) { nodes { title timeline(first: 20) { nodes { kind at author { name } } } } } }";
    for q in [readme, dashboard, export, defaults, timelines] {
        s.ok(q, json!({})).await;
    }
    // A declared page variable that is not sent means null, not an error.
    let optional = "query($first: Int, $last: Int) { leads(first: $first, last: $last) { totalCount } }";
    s.ok(optional, json!({ "first": 5 })).await;
    s.ok(optional, json!({})).await;
}

//! Cost limits over HTTP: order keys, cursors that belong to their order, query cost that
//! counts page sizes, bounded input lists, and money figures that are range-checked instead
//! of overflowing. Each refusal is a GraphQL error with a code (and the field it names), and
//! a refused write leaves nothing behind.

use crate::common;

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
    let d = s
        .ok(&format!("mutation($in: {kind}Input!) {{ create{kind}(input: $in) {{ id }} }}"), json!({ "in": input }))
        .await;
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
    rejects(
        &s,
        before,
        json!({ "before": users["users"]["pageInfo"]["endCursor"].as_str().unwrap().repeat(2) }),
        "before",
    )
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
        assert!(body["data"].is_null(), "nothing ran: {body}");
    };
    refused(&s.gql(NESTED_500, json!({})).await);
    // The same refusal over a WebSocket.
    let mut ws = common::subscribe(s.addr, &s.token, NESTED_500, json!({})).await;
    let msg = common::next_within(&mut ws, std::time::Duration::from_secs(10)).await.expect("an answer");
    assert_eq!(msg["payload"]["errors"][0]["extensions"]["maxCost"], 50_000, "{msg}");
    assert!(msg["payload"]["data"].is_null(), "nothing ran: {msg}");
    // The depth limit says what it is too.
    let deep = "{ deals(first: 1) { nodes { company { deals(first: 1) { nodes { company { deals(first: 1) { nodes {
        company { deals(first: 1) { nodes { company { id } } } } } } } } } } } } }";
    let body = s.gql(deep, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["maxDepth"], 12, "{body}");
    // Page sizes from variables count the same.
    let vars = "query($n: Int) { companies(first: $n) { nodes { deals(first: $n) { nodes {
        timeline(first: $n) { nodes { id } } } } } } }";
    refused(&s.gql(vars, json!({ "n": 500 })).await);
    s.ok(vars, json!({ "n": 5 })).await;
    // Hostile page sizes neither overflow the arithmetic nor pass as small.
    let huge = "{ companies(first: 500) { nodes { deals(first: 2147483647) { nodes { timeline(first: 2147483647) { nodes { id } } } } } } }";
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
    let timelines =
        "{ deals(first: 50) { nodes { title timeline(first: 20) { nodes { kind at author { name } } } } } }";
    for q in [readme, dashboard, export, defaults, timelines] {
        s.ok(q, json!({})).await;
    }
    // A declared page variable that is not sent means null, not an error.
    let optional = "query($first: Int, $last: Int) { leads(first: $first, last: $last) { totalCount } }";
    s.ok(optional, json!({ "first": 5 })).await;
    s.ok(optional, json!({})).await;
}

#[tokio::test]
async fn filters_are_bounded_in_size_and_depth() {
    let s = TestServer::start().await;
    let q = "query($f: LeadFilter) { leads(filter: $f) { totalCount } }";
    let ids = |n: usize| Value::Array((1..=n).map(|i| json!(format!("lead:{i}"))).collect());
    s.ok(q, json!({ "f": { "id": { "in": ids(1_000) } } })).await;
    rejects(&s, q, json!({ "f": { "id": { "in": ids(1_001) } } }), "in").await;
    let phones = Value::Array((0..1_001).map(|i| json!(format!("+49 30 {:07}", 1_000_000 + i))).collect());
    rejects(&s, q, json!({ "f": { "phone": { "in": phones } } }), "in").await;
    let titles = Value::Array((0..5_000).map(|i| json!(format!("t{i}"))).collect());
    rejects(&s, q, json!({ "f": { "title": { "in": titles } } }), "in").await;
    let many = Value::Array((0..101).map(|i| json!(i)).collect());
    rejects(&s, q, json!({ "f": { "customField": { "code": "UF_SEATS", "in": many } } }), "customField.in").await;

    // Ten levels of filter objects pass, eleven do not; through `not`, `and` and `or`.
    let nest = |levels: usize, key: &str| {
        let mut f = json!({ "title": { "eq": "x" } });
        for _ in 1..levels {
            f = if key == "not" { json!({ "not": f }) } else { json!({ key: [f] }) };
        }
        f
    };
    for key in ["not", "and", "or"] {
        s.ok(q, json!({ "f": nest(10, key) })).await;
        rejects(&s, q, json!({ "f": nest(11, key) }), "filter").await;
    }
    // About a hundred conditions pass; thousands do not.
    let alternatives =
        |n: usize| json!({ "or": (0..n).map(|i| json!({ "title": { "eq": format!("t{i}") } })).collect::<Vec<_>>() });
    s.ok(q, json!({ "f": alternatives(90) })).await;
    rejects(&s, q, json!({ "f": alternatives(3_000) }), "filter").await;
    // Nested lists and the timeline filter go through the same checks.
    let company = create(&s, "Company", json!({ "title": "Acme" })).await;
    let nested = "query($id: ID!, $f: DealFilter) { company(id: $id) { deals(filter: $f) { totalCount } } }";
    rejects(&s, nested, json!({ "id": company, "f": { "id": { "in": ids(1_001) } } }), "in").await;
    let history = "query($f: TimelineFilter) { history(filter: $f) { totalCount } }";
    rejects(&s, history, json!({ "f": { "elementId": { "in": ids(1_001) } } }), "in").await;
}

#[tokio::test]
async fn input_lists_are_bounded_and_oversized_writes_leave_nothing() {
    let s = TestServer::start().await;
    let history = "{ history { totalCount } leads { totalCount } contacts { totalCount } deals { totalCount } }";
    let before = s.ok(history, json!({})).await;

    let phones =
        |n: usize| Value::Array((0..n).map(|i| json!({ "value": format!("+49 30 {:07}", 1_000_000 + i) })).collect());
    let lead = "mutation($in: LeadInput!) { createLead(input: $in) { id } }";
    rejects(&s, lead, json!({ "in": { "title": "Many phones", "phones": phones(51) } }), "phones").await;
    let contact_ids = Value::Array((1..=501).map(|i| json!(format!("contact:{i}"))).collect());
    let deal = "mutation($in: DealInput!) { createDeal(input: $in) { id } }";
    rejects(&s, deal, json!({ "in": { "title": "Many contacts", "contactIds": contact_ids } }), "contactIds").await;
    let company_ids = Value::Array((1..=501).map(|i| json!(format!("company:{i}"))).collect());
    let contact = "mutation($in: ContactInput!) { createContact(input: $in) { id } }";
    rejects(&s, contact, json!({ "in": { "lastName": "Linked", "companyIds": company_ids } }), "companyIds").await;
    assert_eq!(s.ok(history, json!({})).await, before, "nothing written");

    let lead_id = create(&s, "Lead", json!({ "title": "Kept" })).await;
    let others = Value::Array((1..=51).map(|i| json!(format!("lead:{}", 1_000 + i))).collect());
    let merge = "mutation($keep: ID!, $ids: [ID!]!) { mergeLeads(keepId: $keep, mergeIds: $ids) { id } }";
    rejects(&s, merge, json!({ "keep": lead_id, "ids": others }), "mergeIds").await;

    let dupes = "query($p: [String!]!) { findDuplicates(phones: $p) { id } }";
    let numbers = |n: usize| Value::Array((0..n).map(|i| json!(format!("+49 30 {:07}", 1_000_000 + i))).collect());
    s.ok(dupes, json!({ "p": numbers(100) })).await;
    rejects(&s, dupes, json!({ "p": numbers(101) }), "phones").await;
    let names = "query($n: [String!]!) { findDuplicates(names: $n) { id } }";
    rejects(&s, names, json!({ "n": Value::Array(vec![json!("Anna"); 101]) }), "names").await;

    let me = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let roles = Value::Array((1..=101).map(|i| json!(format!("role:{i}"))).collect());
    let assign = "mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { id } }";
    rejects(&s, assign, json!({ "u": me, "r": roles }), "roleIds").await;

    let items = Value::Array((0..1_001).map(|i| json!(format!("item {i}"))).collect());
    let field = "mutation($in: CustomFieldInput!) { createCustomField(elementType: DEAL, input: $in) { id } }";
    rejects(&s, field, json!({ "in": { "code": "UF_BIG", "type": "ENUMERATION", "items": items } }), "items").await;
    let fields = s.ok("{ customFields(elementType: DEAL) { id } }", json!({})).await;
    assert_eq!(fields["customFields"], json!([]), "no field was created");

    let owner = json!({ "type": "LEAD", "id": lead_id });
    let bindings = Value::Array(vec![owner.clone(); 51]);
    let activity = "mutation($in: ActivityInput!) { createActivity(input: $in) { id } }";
    rejects(
        &s,
        activity,
        json!({ "in": { "type": "CALL", "subject": "Bound", "owner": owner, "bindings": bindings } }),
        "bindings",
    )
    .await;
}

const SET_ROWS: &str = "mutation($owner: ElementRef!, $rows: [ProductRowInput!]!) {
    setProductRows(owner: $owner, rows: $rows) { unitPrice quantity discountAmount lineNet lineTax lineGross } }";
const DEAL_ROWS: &str = "query($id: ID!) { deal(id: $id) { version opportunity productRows { name unitPrice lineGross }
    totals { net tax gross } } }";

#[tokio::test]
async fn product_rows_are_range_checked_and_nothing_is_written() {
    let s = TestServer::start().await;
    let deal = create(&s, "Deal", json!({ "title": "Screws", "currency": "EUR" })).await;
    let owner = json!({ "type": "DEAL", "id": deal });
    s.ok(SET_ROWS, json!({ "owner": owner, "rows": [{ "name": "Kept", "unitPrice": "10.00" }] })).await;
    let before = s.ok(DEAL_ROWS, json!({ "id": deal })).await;
    let history = "{ history { totalCount } }";
    let entries = s.ok(history, json!({})).await;

    // The defect: Decimal's largest value × 2 panicked the request (no response at all).
    let row = |price: &str, qty: &str| json!({ "name": "Huge", "unitPrice": price, "quantity": qty });
    let cases = [
        (json!([row("79228162514264337593543950335", "2")]), "rows[0].unitPrice"),
        (
            json!([row("1", "1"), row("79228162514264337593543950335", "79228162514264337593543950335")]),
            "rows[1].unitPrice",
        ),
        (json!([row("1000000000000000000", "1")]), "rows[0].unitPrice"),
        (json!([row("0.12345", "1")]), "rows[0].unitPrice"),
        (json!([row("1", "1000000000000")]), "rows[0].quantity"),
        (json!([row("1", "0.00001")]), "rows[0].quantity"),
        // Each figure in range, the line or the list beyond what an amount column holds.
        (json!([row("999999999999999999", "2")]), "rows[0].quantity"),
        (json!([row("999999999999999999", "999999999999")]), "rows[0].quantity"),
        (json!([row("999999999999999999", "1"), row("999999999999999999", "1")]), "rows"),
        (json!([{ "name": "Tax", "unitPrice": "999999999999999999", "taxRate": "19" }]), "rows[0].quantity"),
        (json!([{ "name": "Rate", "unitPrice": "1", "taxRate": "19.125" }]), "rows[0].taxRate"),
        (json!([{ "name": "Off", "unitPrice": "1", "discountPercent": "0.00001" }]), "rows[0].discountPercent"),
        (json!([{ "name": "Off", "unitPrice": "1", "discountAmount": "0.00001" }]), "rows[0].discountAmount"),
        (Value::Array(vec![row("1", "1"); 1_001]), "rows"),
    ];
    for (rows, field) in cases {
        rejects(&s, SET_ROWS, json!({ "owner": owner, "rows": rows }), field).await;
    }
    assert_eq!(s.ok(DEAL_ROWS, json!({ "id": deal })).await, before, "rows, opportunity and version unchanged");
    assert_eq!(s.ok(history, json!({})).await, entries, "no history entry");

    // Four places in unit prices and discounts; lines still round to cents.
    let set = s
        .ok(
            SET_ROWS,
            json!({ "owner": owner, "rows": [
                { "name": "Screw", "unitPrice": "0.1234", "quantity": "1000" },
                { "name": "Nut", "unitPrice": "0.1234", "quantity": "3", "taxRate": "19" },
                { "name": "Washer", "unitPrice": "0.1234", "quantity": "10", "discountAmount": "0.0234" },
                { "name": "Bolt", "unitPrice": "2", "quantity": "1.5" },
            ] }),
        )
        .await;
    let lines: Vec<(Value, Value, Value)> = set["setProductRows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["unitPrice"].clone(), r["lineNet"].clone(), r["lineGross"].clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (json!("0.1234"), json!("123.40"), json!("123.40")),
            (json!("0.1234"), json!("0.37"), json!("0.44")),
            (json!("0.1234"), json!("1.00"), json!("1.00")),
            (json!("2.00"), json!("3.00"), json!("3.00")),
        ]
    );
    assert_eq!(set["setProductRows"][2]["discountAmount"], "0.0234");
    let after = s.ok(DEAL_ROWS, json!({ "id": deal })).await;
    assert_eq!(after["deal"]["totals"]["gross"], "127.84");
    assert_eq!(after["deal"]["opportunity"], "127.84");
    // The largest line that fits is accepted.
    let max = s.ok(SET_ROWS, json!({ "owner": owner, "rows": [row("999999999999999999", "1")] })).await;
    assert_eq!(max["setProductRows"][0]["lineGross"], "999999999999999999.00");
}

#[tokio::test]
async fn every_money_and_number_input_is_range_checked() {
    let s = TestServer::start().await;
    let huge = "79228162514264337593543950335";
    let product = "mutation($in: ProductInput!) { createProduct(input: $in) { id price } }";
    let p = s.ok(product, json!({ "in": { "name": "Screw", "price": "0.1234", "currency": "EUR" } })).await;
    assert_eq!(p["createProduct"]["price"], "0.1234");
    let p = s.ok(product, json!({ "in": { "name": "Chair", "price": "100", "currency": "EUR" } })).await;
    assert_eq!(p["createProduct"]["price"], "100.00");
    rejects(&s, product, json!({ "in": { "name": "X", "price": huge, "currency": "EUR" } }), "price").await;
    rejects(&s, product, json!({ "in": { "name": "X", "price": "0.00001", "currency": "EUR" } }), "price").await;
    rejects(
        &s,
        product,
        json!({ "in": { "name": "X", "price": "1", "currency": "EUR", "taxRate": "101" } }),
        "taxRate",
    )
    .await;
    rejects(
        &s,
        product,
        json!({ "in": { "name": "X", "price": "1", "currency": "EUR", "taxRate": "7.125" } }),
        "taxRate",
    )
    .await;

    let deal = "mutation($in: DealInput!) { createDeal(input: $in) { id } }";
    rejects(&s, deal, json!({ "in": { "title": "D", "opportunity": huge, "currency": "EUR" } }), "opportunity").await;
    rejects(&s, deal, json!({ "in": { "title": "D", "probability": 2147483647 } }), "probability").await;
    rejects(&s, deal, json!({ "in": { "title": "D", "probability": -2147483648 } }), "probability").await;
    let lead = "mutation($in: LeadInput!) { createLead(input: $in) { id } }";
    rejects(&s, lead, json!({ "in": { "title": "L", "opportunity": huge, "currency": "EUR" } }), "opportunity").await;
    let company = "mutation($in: CompanyInput!) { createCompany(input: $in) { id } }";
    rejects(&s, company, json!({ "in": { "title": "C", "revenue": huge, "currency": "EUR" } }), "revenue").await;

    let field = "mutation($code: String!, $t: CustomFieldType!) {
        createCustomField(elementType: DEAL, input: { code: $code, type: $t }) { id } }";
    for (code, t) in [("UF_BUDGET", "MONEY"), ("UF_SEATS", "INTEGER"), ("UF_RATIO", "DOUBLE")] {
        s.ok(field, json!({ "code": code, "t": t })).await;
    }
    let set = |code: &str, value: Value| json!({ "in": { "title": "D", "customFields": [{ "code": code, "value": value }] } });
    rejects(&s, deal, set("UF_BUDGET", json!({ "amount": huge, "currency": "EUR" })), "customFields.UF_BUDGET").await;
    rejects(&s, deal, set("UF_SEATS", json!(9_007_199_254_740_992_i64)), "customFields.UF_SEATS").await;
    rejects(&s, deal, set("UF_SEATS", json!(i64::MIN)), "customFields.UF_SEATS").await;
    rejects(&s, deal, set("UF_RATIO", json!(1e300)), "customFields.UF_RATIO").await;
    s.ok(deal, set("UF_SEATS", json!(9_007_199_254_740_991_i64))).await;
    let deals = s.ok("{ deals { totalCount } }", json!({})).await;
    assert_eq!(deals["deals"]["totalCount"], 1, "only the valid deal was written");
}

#[tokio::test]
async fn long_text_is_bad_input_not_an_index_failure() {
    let s = TestServer::start().await;
    // Incompressible, and over PostgreSQL's index row limit: once an internal error.
    let random: String = (0..6_000u32).map(|i| char::from(b'a' + ((i * 7919 + i / 3) % 26) as u8)).collect();
    let cases = [
        ("mutation($t: String!) { createLead(input: { title: $t }) { id } }", "title"),
        ("mutation($t: String!) { createCompany(input: { title: $t }) { id } }", "title"),
        ("mutation($t: String!) { createContact(input: { lastName: $t }) { id } }", "lastName"),
        (
            "mutation($t: String!) { createLead(input: { title: \"Web\", webs: [{ value: $t }] }) { id } }",
            "webs[0].value",
        ),
    ];
    for (query, field) in cases {
        let body = s.gql(query, json!({ "t": format!("https://x.example/{random}") })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{query}: {body}");
    }
    let counts = s.ok("{ leads { totalCount } companies { totalCount } contacts { totalCount } }", json!({})).await;
    assert_eq!(
        counts,
        json!({ "leads": { "totalCount": 0 }, "companies": { "totalCount": 0 }, "contacts": { "totalCount": 0 } })
    );
    // Comments are long text.
    let long = "Notes. ".repeat(2_000);
    let body = s
        .gql(
            "mutation($c: String!) { createLead(input: { title: \"Long notes\", comments: $c }) { id } }",
            json!({ "c": long }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

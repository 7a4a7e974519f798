//! Custom fields: definitions, typed values on every element, validation naming the field,
//! filtering, history, and conversion copying matching fields.

use crate::common;

use common::TestServer;
use serde_json::{Value, json};

fn code(v: &Value) -> Value {
    v["errors"][0]["extensions"]["code"].clone()
}

async fn field(s: &TestServer, element: &str, input: Value) -> Value {
    s.ok(
        "mutation($t: ElementType!, $in: CustomFieldInput!) { createCustomField(elementType: $t, input: $in) { id code type multiple mandatory items default } }",
        json!({ "t": element, "in": input }),
    )
    .await["createCustomField"]
        .clone()
}

#[tokio::test]
async fn custom_values_round_trip_validate_filter_and_show_in_history() {
    let s = TestServer::start().await;
    field(&s, "DEAL", json!({ "code": "UF_BUDGET", "label": "Budget", "type": "MONEY" })).await;
    field(&s, "DEAL", json!({ "code": "UF_TIER", "label": "Tier", "type": "ENUMERATION", "items": ["gold", "silver"], "default": "silver" })).await;
    field(&s, "DEAL", json!({ "code": "UF_SEATS", "label": "Seats", "type": "INTEGER", "mandatory": true })).await;
    field(&s, "DEAL", json!({ "code": "UF_TAGS", "label": "Tags", "type": "STRING", "multiple": true })).await;
    field(&s, "DEAL", json!({ "code": "UF_DUE", "label": "Due", "type": "DATETIME" })).await;
    let defs = s.ok("{ customFields(elementType: DEAL) { code } }", json!({})).await;
    assert_eq!(defs["customFields"].as_array().unwrap().len(), 5);

    let create = "mutation($in: DealInput!) { createDeal(input: $in) { id customFields { code value } tier: customField(code: \"UF_TIER\") } }";
    // Mandatory, type and enumeration checks name the field; nothing is written.
    let missing = s.gql(create, json!({ "in": { "title": "A" } })).await;
    assert_eq!(code(&missing), "BAD_USER_INPUT", "{missing}");
    assert_eq!(missing["errors"][0]["extensions"]["field"], "customFields.UF_SEATS");
    for (value, code_name) in [
        (json!({ "code": "UF_SEATS", "value": "ten" }), "customFields.UF_SEATS"),
        (json!({ "code": "UF_TIER", "value": "bronze" }), "customFields.UF_TIER"),
        (json!({ "code": "UF_TAGS", "value": "not a list" }), "customFields.UF_TAGS"),
        (json!({ "code": "UF_BUDGET", "value": { "amount": "1", "currency": "ZZZ" } }), "customFields.UF_BUDGET"),
        (json!({ "code": "UF_NOPE", "value": 1 }), "customFields[1].code"),
    ] {
        let input = json!({ "title": "A", "customFields": [{ "code": "UF_SEATS", "value": 3 }, value] });
        let r = s.gql(create, json!({ "in": input })).await;
        assert_eq!(code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], code_name, "{r}");
    }
    assert_eq!(s.ok("{ deals { totalCount } }", json!({})).await["deals"]["totalCount"], 0);

    let d = s
        .ok(
            create,
            json!({ "in": { "title": "Big", "customFields": [
                { "code": "UF_SEATS", "value": 40 },
                { "code": "UF_BUDGET", "value": { "amount": "12000.50", "currency": "eur" } },
                { "code": "UF_TAGS", "value": ["fast", "vip"] },
                { "code": "UF_DUE", "value": "2026-12-01T10:00:00+01:00" } ] } }),
        )
        .await;
    let big = d["createDeal"]["id"].as_str().unwrap().to_owned();
    assert_eq!(d["createDeal"]["tier"], "silver", "the default fills in");
    assert_eq!(
        d["createDeal"]["customFields"],
        json!([
            { "code": "UF_BUDGET", "value": { "amount": 12000.5, "currency": "EUR" } },
            { "code": "UF_DUE", "value": "2026-12-01T09:00:00.000000Z" },
            { "code": "UF_SEATS", "value": 40 },
            { "code": "UF_TAGS", "value": ["fast", "vip"] },
            { "code": "UF_TIER", "value": "silver" },
        ])
    );
    s.ok(create, json!({ "in": { "title": "Small", "customFields": [{ "code": "UF_SEATS", "value": 2 }, { "code": "UF_TIER", "value": "gold" }] } }))
        .await;

    // Filters.
    let titles = |v: &Value| -> Vec<String> {
        v["deals"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let q = "query($f: DealFilter) { deals(filter: $f) { edges { node { title } } } }";
    for (filter, want) in [
        (json!({ "customField": { "code": "UF_SEATS", "gt": 10 } }), vec!["Big"]),
        (json!({ "customField": { "code": "UF_TIER", "eq": "gold" } }), vec!["Small"]),
        (json!({ "customField": { "code": "UF_TAGS", "eq": "vip" } }), vec!["Big"]),
        (json!({ "customField": { "code": "UF_DUE", "lt": "2026-12-01T11:00:00+01:00" } }), vec!["Big"]),
        (json!({ "customField": { "code": "UF_DUE", "isNull": true } }), vec!["Small"]),
        (json!({ "not": { "customField": { "code": "UF_TIER", "in": ["gold"] } } }), vec!["Big"]),
        (json!({ "customField": { "code": "UF_SEATS", "in": [2, 40] } }), vec!["Big", "Small"]),
        (json!({ "customField": { "code": "UF_SEATS", "neq": 40 } }), vec!["Small"]),
        (json!({ "customField": { "code": "UF_SEATS", "gte": 40.0 } }), vec!["Big"]),
        // Ranges compare values of the operand's JSON type only.
        (json!({ "customField": { "code": "UF_SEATS", "gt": "1" } }), vec![]),
        // A list value matches when one of its values does, for ranges too.
        (json!({ "customField": { "code": "UF_TAGS", "gt": "u" } }), vec!["Big"]),
        (json!({ "customField": { "code": "UF_TAGS", "lt": "a" } }), vec![]),
        (json!({ "customField": { "code": "UF_TAGS", "in": ["slow", "fast"] } }), vec!["Big"]),
        // An amount matches as a whole, not by one of its parts.
        (
            json!({ "customField": { "code": "UF_BUDGET", "eq": { "amount": 12000.5, "currency": "EUR" } } }),
            vec!["Big"],
        ),
        (json!({ "customField": { "code": "UF_BUDGET", "eq": { "currency": "EUR" } } }), vec![]),
        (json!({ "customField": { "code": "UF_BUDGET", "gt": { "amount": 100, "currency": "EUR" } } }), vec!["Big"]),
    ] {
        let mut got = titles(&s.ok(q, json!({ "f": filter })).await);
        got.sort();
        assert_eq!(got, want, "{filter}");
    }
    let bad = s.gql(q, json!({ "f": { "customField": { "code": "budget'--", "eq": 1 } } })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    let bad = s.gql(q, json!({ "f": { "customField": { "code": "UF_TAGS", "eq": ["vip"] } } })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "customField.eq", "{bad}");

    // New enumeration items must keep the default, or change it too.
    let defs = s.ok("{ customFields(elementType: DEAL) { id code } }", json!({})).await;
    let tier = defs["customFields"].as_array().unwrap().iter().find(|d| d["code"] == "UF_TIER").unwrap()["id"].clone();
    let upd = "mutation($id: ID!, $in: CustomFieldInput!) { updateCustomField(id: $id, input: $in) { items default } }";
    let r = s.gql(upd, json!({ "id": tier, "in": { "items": ["gold", "bronze"] } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "items", "{r}");
    let r = s.ok(upd, json!({ "id": tier, "in": { "items": ["gold", "bronze"], "default": "gold" } })).await;
    assert_eq!(r["updateCustomField"], json!({ "items": ["gold", "bronze"], "default": "gold" }));
    s.ok(upd, json!({ "id": tier, "in": { "items": ["gold", "silver"], "default": "silver" } })).await;

    // Changes show in history like built-in fields; null clears; mandatory stays.
    s.ok(
        "mutation($id: ID!) { updateDeal(id: $id, input: { customFields: [{ code: \"UF_SEATS\", value: 45 }, { code: \"UF_DUE\", value: null }] }) { id } }",
        json!({ "id": big }),
    )
    .await;
    let h = s.ok("query($id: ID!) { deal(id: $id) { timeline(first: 1) { edges { node { changes { field oldValue newValue } } } } } }", json!({ "id": big })).await;
    assert_eq!(
        h["deal"]["timeline"]["edges"][0]["node"]["changes"],
        json!([
            { "field": "UF_DUE", "oldValue": "2026-12-01T09:00:00.000000Z", "newValue": null },
            { "field": "UF_SEATS", "oldValue": "40", "newValue": "45" },
        ])
    );
    let r = s.gql("mutation($id: ID!) { updateDeal(id: $id, input: { customFields: [{ code: \"UF_SEATS\", value: null }] }) { id } }", json!({ "id": big })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "customFields.UF_SEATS");
}

#[tokio::test]
async fn links_and_employees_must_exist_and_conversion_copies_matching_fields() {
    let s = TestServer::start().await;
    field(&s, "LEAD", json!({ "code": "UF_OWNER", "type": "EMPLOYEE" })).await;
    field(&s, "LEAD", json!({ "code": "UF_REFERRER", "type": "ELEMENT_LINK" })).await;
    field(&s, "LEAD", json!({ "code": "UF_BUDGET", "type": "INTEGER" })).await;
    field(&s, "DEAL", json!({ "code": "UF_BUDGET", "type": "INTEGER" })).await;
    field(&s, "DEAL", json!({ "code": "UF_OWNER", "type": "STRING" })).await;
    let create =
        "mutation($v: [CustomFieldValueInput!]) { createLead(input: { title: \"L\", customFields: $v }) { id } }";
    let r = s.gql(create, json!({ "v": [{ "code": "UF_OWNER", "value": "user:999" }] })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "customFields.UF_OWNER", "{r}");
    let r = s.gql(create, json!({ "v": [{ "code": "UF_REFERRER", "value": "contact:999" }] })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "customFields.UF_REFERRER", "{r}");
    let me = s.ok("{ me { id } }", json!({})).await["me"]["id"].clone();
    let contact =
        s.ok("mutation { createContact(input: { lastName: \"Ref\" }) { id } }", json!({})).await["createContact"]["id"]
            .clone();
    let lead = s
        .ok(create, json!({ "v": [
            { "code": "UF_OWNER", "value": me }, { "code": "UF_REFERRER", "value": contact }, { "code": "UF_BUDGET", "value": 900 } ] }))
        .await["createLead"]["id"]
        .clone();
    let converted = s
        .ok(
            "mutation($id: ID!) { convertLead(input: { leadId: $id, deal: {} }) { deal { customFields { code value } } } }",
            json!({ "id": lead }),
        )
        .await;
    // Same code and type: copied. UF_OWNER is an EMPLOYEE on leads but text on deals: not copied.
    assert_eq!(converted["convertLead"]["deal"]["customFields"], json!([{ "code": "UF_BUDGET", "value": 900 }]));

    // Definitions: codes are unique per type, types fixed, deleting removes values.
    let dup = s
        .gql("mutation { createCustomField(elementType: LEAD, input: { code: \"UF_BUDGET\" }) { id } }", json!({}))
        .await;
    assert_eq!(code(&dup), "BAD_USER_INPUT");
    let bad_code =
        s.gql("mutation { createCustomField(elementType: LEAD, input: { code: \"budget\" }) { id } }", json!({})).await;
    assert_eq!(bad_code["errors"][0]["extensions"]["field"], "code");
    let defs = s.ok("{ customFields(elementType: LEAD) { id code } }", json!({})).await;
    let budget =
        defs["customFields"].as_array().unwrap().iter().find(|d| d["code"] == "UF_BUDGET").unwrap()["id"].clone();
    let retype = s
        .gql(
            "mutation($id: ID!) { updateCustomField(id: $id, input: { type: STRING }) { id } }",
            json!({ "id": budget }),
        )
        .await;
    assert_eq!(code(&retype), "BAD_USER_INPUT");
    s.ok("mutation($id: ID!) { deleteCustomField(id: $id) }", json!({ "id": budget })).await;
    let after =
        s.ok("query($id: ID!) { lead(id: $id) { customField(code: \"UF_BUDGET\") } }", json!({ "id": lead })).await;
    assert_eq!(after["lead"]["customField"], Value::Null);

    let rep = s.token_for("rep@example.com", false).await;
    let r = s
        .gql_as(&rep, "mutation { createCustomField(elementType: LEAD, input: { code: \"UF_X\" }) { id } }", json!({}))
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
}

#[tokio::test]
async fn lists_sort_by_custom_fields_with_cursors() {
    let s = TestServer::start().await;
    field(&s, "LEAD", json!({ "code": "UF_SCORE", "type": "INTEGER" })).await;
    for (title, score) in [("c", json!(30)), ("a", json!(10)), ("none", Value::Null), ("b", json!(20))] {
        s.ok(
            "mutation($t: String!, $v: JSON) { createLead(input: { title: $t, customFields: [{ code: \"UF_SCORE\", value: $v }] }) { id } }",
            json!({ "t": title, "v": score }),
        )
        .await;
    }
    let q = "query($o: [LeadOrder!], $after: String) { leads(orderBy: $o, first: 2, after: $after) { edges { node { title } } pageInfo { hasNextPage endCursor } } }";
    let titles = |v: &Value| -> Vec<String> {
        v["leads"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let order = json!([{ "customField": "UF_SCORE", "direction": "DESC" }]);
    let p1 = s.ok(q, json!({ "o": order })).await;
    // DESC puts leads without a score first, as for built-in fields.
    assert_eq!(titles(&p1), ["none", "c"]);
    let p2 = s.ok(q, json!({ "o": order, "after": p1["leads"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(titles(&p2), ["b", "a"]);
    let asc = s.ok(q, json!({ "o": [{ "customField": "UF_SCORE" }] })).await;
    assert_eq!(titles(&asc), ["a", "b"]);
    let both = s.gql(q, json!({ "o": [{ "customField": "UF_SCORE", "field": "TITLE" }] })).await;
    assert_eq!(code(&both), "BAD_USER_INPUT");
    let bad = s.gql(q, json!({ "o": [{ "customField": "score" }] })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
}

/// One line of EXPLAIN output.
struct PlanLine(String);

impl diesel::deserialize::QueryableByName<diesel::pg::Pg> for PlanLine {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, diesel::pg::Pg>) -> diesel::deserialize::Result<Self> {
        Ok(PlanLine(diesel::row::NamedRow::get::<diesel::sql_types::Text, String>(row, "QUERY PLAN")?))
    }
}

/// Every custom-field filter that can use an index does: equality and `in` through the GIN
/// index on `custom` (single and multiple fields), ranges and isNull of single fields through
/// the field's own expression index. (A range over a multiple field reads every list.) Sequential scans are disabled so the plan shows what is possible, not
/// what is cheapest on a near-empty table.
#[tokio::test]
async fn custom_field_filters_use_indexes() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    use kontor::db::sql::Sql;
    use kontor::kernel::list::{Cond, CustomOp, compile};

    let s = TestServer::start().await;
    field(&s, "DEAL", json!({ "code": "UF_SEATS", "label": "Seats", "type": "INTEGER" })).await;
    field(&s, "DEAL", json!({ "code": "UF_TAGS", "label": "Tags", "type": "STRING", "multiple": true })).await;
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    conn.batch_execute("SET enable_seqscan = off").await.unwrap();
    for (code, op, index) in [
        ("UF_SEATS", CustomOp::Eq(json!(5)), "deals_custom_gin"),
        ("UF_TAGS", CustomOp::Eq(json!("vip")), "deals_custom_gin"),
        ("UF_SEATS", CustomOp::In(vec![json!(1), json!(2)]), "deals_custom_gin"),
        ("UF_SEATS", CustomOp::Gt(json!(5)), "deals_uf_seats_idx"),
        ("UF_SEATS", CustomOp::Lte(json!(5)), "deals_uf_seats_idx"),
        ("UF_SEATS", CustomOp::IsNull(false), "deals_uf_seats_idx"),
    ] {
        let cond = Cond::Custom { code: code.into(), op: op.clone() };
        let mut sql = Sql::new("EXPLAIN SELECT t.id FROM deals t WHERE ");
        sql.append(&compile(cond).unwrap());
        let plan: Vec<String> = sql.load::<PlanLine>(&mut conn).await.unwrap().into_iter().map(|l| l.0).collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains(&format!("Index Scan on {index}")) || plan.contains(&format!("Index Scan using {index}")),
            "{code} {op:?}:\n{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{code} {op:?}:\n{plan}");
    }
}

#[tokio::test]
async fn unknown_codes_in_filters_and_sorts_are_bad_input_naming_the_code() {
    let s = TestServer::start().await;
    field(&s, "DEAL", json!({ "code": "UF_SEATS", "label": "Seats", "type": "INTEGER" })).await;
    let company = s.ok("mutation { createCompany(input: { title: \"Co\" }) { id } }", json!({})).await;
    let company = company["createCompany"]["id"].clone();
    s.ok("mutation($c: ID!) { createDeal(input: { title: \"D\", companyId: $c }) { id } }", json!({ "c": company }))
        .await;

    // A known code answers, even with no match.
    let known =
        s.ok("{ deals(filter: { customField: { code: \"UF_SEATS\", eq: 99 } }) { totalCount } }", json!({})).await;
    assert_eq!(known["deals"]["totalCount"], 0);
    s.ok("{ deals(orderBy: [{ customField: \"UF_SEATS\" }]) { totalCount } }", json!({})).await;

    for (query, field_name, code_name) in [
        (
            "{ deals(filter: { customField: { code: \"UF_SEATZ\", eq: 3 } }) { totalCount } }",
            "customField.code",
            "UF_SEATZ",
        ),
        (
            "{ deals(filter: { or: [{ title: { eq: \"D\" } }, { not: { customField: { code: \"UF_GONE\", isNull: true } } }] }) { totalCount } }",
            "customField.code",
            "UF_GONE",
        ),
        ("{ deals(orderBy: [{ customField: \"UF_SEATZ\" }]) { totalCount } }", "orderBy", "UF_SEATZ"),
        // Deals have UF_SEATS; leads do not.
        (
            "{ leads(filter: { customField: { code: \"UF_SEATS\", gt: 1 } }) { totalCount } }",
            "customField.code",
            "UF_SEATS",
        ),
        (
            "{ companies { nodes { deals(filter: { customField: { code: \"UF_SEATZ\", eq: 3 } }) { totalCount } } } }",
            "customField.code",
            "UF_SEATZ",
        ),
        (
            "{ companies { nodes { deals(orderBy: [{ customField: \"UF_NOPE\" }]) { totalCount } } } }",
            "orderBy",
            "UF_NOPE",
        ),
    ] {
        let r = s.gql(query, json!({})).await;
        assert_eq!(code(&r), "BAD_USER_INPUT", "{query}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field_name, "{query}: {r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().contains(code_name), "{query}: {r}");
    }
}

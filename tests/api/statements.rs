//! The number of SQL statements a query runs depends on its shape, not on how many rows it
//! returns: nested relations load through DataLoaders, one statement per relation.

use crate::common;

use common::TestServer;
use serde_json::json;

const NESTED: &str = "query($n: Int!) { deals(first: $n, orderBy: [{ field: ID }]) { totalCount nodes {
    id title contacts { id fullName companies { title } } company { id title }
    stage { name semantics } assignedTo { name email }
    timeline(first: 3) { nodes { kind } } } } }";

async fn statements_for(s: &TestServer, n: usize) -> (u64, usize) {
    statements_as(s, &s.token, n).await
}

async fn statements_as(s: &TestServer, token: &str, n: usize) -> (u64, usize) {
    let before = s.statements();
    let data = s.gql_as(token, NESTED, json!({ "n": n })).await;
    assert!(data.get("errors").is_none(), "{data}");
    let data = &data["data"];
    let after = s.statements();
    (after - before, data["deals"]["nodes"].as_array().unwrap().len())
}

#[tokio::test]
async fn nested_deals_query_runs_the_same_statements_for_5_and_50_rows() {
    // Test servers run without a batching window: lists prefetch their rows' relations, so
    // batching does not depend on timing.
    let s = TestServer::start().await;
    let users: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            let t = s.token_for(&format!("rep{i}@test.local"), false).await;
            let me = s.gql_as(&t, "{ me { id } }", json!({})).await;
            v.push(me["data"]["me"]["id"].as_str().unwrap().to_owned());
        }
        v
    };
    let mut companies = Vec::new();
    for i in 0..10 {
        let d = s
            .ok(
                "mutation($t: String!) { createCompany(input: { title: $t }) { id } }",
                json!({ "t": format!("Company {i}") }),
            )
            .await;
        companies.push(d["createCompany"]["id"].as_str().unwrap().to_owned());
    }
    let mut contacts = Vec::new();
    for i in 0..20 {
        let d = s
            .ok(
                "mutation($n: String!, $co: ID!) { createContact(input: { lastName: $n, companyIds: [$co] }) { id } }",
                json!({ "n": format!("Person {i}"), "co": companies[i % companies.len()] }),
            )
            .await;
        contacts.push(d["createContact"]["id"].as_str().unwrap().to_owned());
    }
    for i in 0..50 {
        s.ok(
            "mutation($in: DealInput!) { createDeal(input: $in) { id } }",
            json!({ "in": {
                "title": format!("Deal {i}"),
                "companyId": companies[i % companies.len()],
                "contactIds": [contacts[i % contacts.len()], contacts[(i * 7 + 3) % contacts.len()]],
                "assignedToId": users[i % users.len()],
            } }),
        )
        .await;
    }

    // Warm up: pool connections exist and the token's last use is recorded.
    statements_for(&s, 50).await;
    statements_for(&s, 5).await;

    let (small, rows_small) = statements_for(&s, 5).await;
    let (large, rows_large) = statements_for(&s, 50).await;
    assert_eq!(rows_small, 5);
    assert_eq!(rows_large, 50);
    assert_eq!(small, large, "5 rows ran {small} statements, 50 rows ran {large}");
    // auth + list + count + contacts + companies + company + stage + user + timeline
    assert!((5..=10).contains(&large), "the nested query ran {large} statements");

    // A user whose role reads only their department runs the same statements: the rights
    // come with the token, the predicate is part of each statement, and relations to hidden
    // elements (here the companies of other departments) are not asked for again.
    let dept = s.ok("mutation { createDepartment(input: { name: \"Sales\" }) { id } }", json!({})).await
        ["createDepartment"]["id"]
        .clone();
    for u in &users[..2] {
        s.ok(
            "mutation($u: ID!, $d: ID) { updateUser(id: $u, input: { departmentId: $d }) { id } }",
            json!({ "u": u, "d": dept }),
        )
        .await;
    }
    for c in &companies[..5] {
        s.ok(
            "mutation($c: ID!, $u: ID) { updateCompany(id: $c, input: { assignedToId: $u }) { id } }",
            json!({ "c": c, "u": users[1] }),
        )
        .await;
    }
    s.give_read_role(&json!(users[0]), "Department", "DEPARTMENT").await;
    let rep = s.token_for("rep0@test.local", false).await;
    let seen = s.gql_as(&rep, NESTED, json!({ "n": 10 })).await;
    let companies_seen: Vec<bool> =
        seen["data"]["deals"]["nodes"].as_array().unwrap().iter().map(|d| d["company"].is_object()).collect();
    assert!(companies_seen.contains(&true) && companies_seen.contains(&false), "{seen}");
    // The list and one batch of companies, for the admin and for the user who sees only some.
    let companies_of_deals = "query($n: Int!) { deals(first: $n) { nodes { id company { id title } } } }";
    let mut counts = Vec::new();
    for token in [&s.token, &rep] {
        let before = s.statements();
        let r = s.gql_as(token, companies_of_deals, json!({ "n": 10 })).await;
        assert!(r.get("errors").is_none(), "{r}");
        counts.push(s.statements() - before);
    }
    assert_eq!(counts[0], 3, "auth, deals, companies: {counts:?}");
    assert_eq!(counts[1], counts[0], "a DEPARTMENT-level user who cannot see some companies: {counts:?}");
    let (restricted, _) = statements_as(&s, &rep, 10).await;
    assert!(restricted <= small, "a DEPARTMENT-level user ran {restricted} statements, an admin {small}");
}

const ORG: &str = "{ departments { name users { email roles { name permissions { action level } } }
    children { name users { email roles { name } } children { name } } } }";

/// The org chart loads per level, not per department or user.
#[tokio::test]
async fn org_chart_runs_the_same_statements_for_small_and_large_trees() {
    let s = TestServer::start().await;
    let mut made = 0;
    let mut grow = async |s: &TestServer, tops: usize| {
        for _ in 0..tops {
            made += 1;
            let top = s
                .ok(
                    "mutation($n: String!) { createDepartment(input: { name: $n }) { id } }",
                    json!({ "n": format!("Top {made}") }),
                )
                .await["createDepartment"]["id"]
                .clone();
            for c in 0..2 {
                let child = s
                    .ok(
                        "mutation($n: String!, $p: ID) { createDepartment(input: { name: $n, parentId: $p }) { id } }",
                        json!({ "n": format!("Child {made}.{c}"), "p": top }),
                    )
                    .await["createDepartment"]["id"]
                    .clone();
                for (u, dept) in [(0, &top), (1, &child)] {
                    s.ok(
                        "mutation($e: String!, $d: ID) { createUser(input: { email: $e, departmentId: $d }) { id } }",
                        json!({ "e": format!("u{made}.{c}.{u}@test.local"), "d": dept }),
                    )
                    .await;
                }
            }
        }
    };
    // The most of five runs: the org chart has no list prefetch, so the roles of the top
    // level's users and of the children's users load in one batch only when both branches'
    // users happen to arrive together, which depends on the process (its hash seeds).
    let count = async |s: &TestServer| {
        s.ok(ORG, json!({})).await;
        let mut most = (0, 0);
        for _ in 0..5 {
            let before = s.statements();
            let data = s.ok(ORG, json!({})).await;
            most = most.max((s.statements() - before, data["departments"].as_array().unwrap().len()));
        }
        most
    };
    grow(&s, 1).await;
    let (small, tops_small) = count(&s).await;
    grow(&s, 4).await;
    let (large, tops_large) = count(&s).await;
    assert_eq!((tops_small, tops_large), (1, 5));
    // Per level, not per department: five times the departments may differ from one by the
    // one roles batch that two branches sometimes share (see `count`), never by more.
    assert!(small.abs_diff(large) <= 1, "1 top department ran {small} statements, 5 ran {large}");
}

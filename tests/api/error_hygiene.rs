//! Errors clients see speak domain words: a write that runs into a unique constraint says
//! what conflicts, never the constraint, the SQL or PostgreSQL's text.

use crate::common;

use common::TestServer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::join_all;
use serde_json::{Value, json};

/// Words of PostgreSQL's messages and of SQL that must never reach a client.
const DATABASE_WORDS: &[&str] = &[
    "constraint",
    "duplicate key",
    "violates",
    "relation",
    "pg_",
    "_key",
    "_idx",
    "sql",
    "select ",
    "insert ",
    "detail:",
];

/// Names of every constraint and index of the schema.
async fn schema_names(s: &TestServer) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let rows: Vec<Name> = diesel::sql_query(
        "SELECT conname::text AS name FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.name).collect()
}

fn assert_clean(body: &Value, names: &[String], what: &str) {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{what}: expected an error: {body}"));
    for e in errors {
        let message = e["message"].as_str().unwrap().to_lowercase();
        let code = e["extensions"]["code"].as_str().unwrap_or_default();
        assert!(code == "CONFLICT" || code == "BAD_USER_INPUT", "{what}: {e}");
        for w in DATABASE_WORDS {
            assert!(!message.contains(w), "{what}: `{w}` in {e}");
        }
        for n in names {
            assert!(!message.contains(&n.to_lowercase()), "{what}: constraint `{n}` in {e}");
        }
    }
}

#[tokio::test]
async fn unique_violations_say_what_conflicts_in_domain_words() {
    let s = TestServer::start().await;
    let names = schema_names(&s).await;
    assert!(names.iter().any(|n| n == "users_email_key"), "{names:?}");

    let user = "mutation($e: String!) { createUser(input: { email: $e, name: \"Dup\" }) { id } }";
    s.ok(user, json!({ "e": "dup@example.com" })).await;
    let r = s.gql(user, json!({ "e": "Dup@Example.com" })).await;
    assert_clean(&r, &names, "user e-mail");
    assert_eq!(r["errors"][0]["extensions"]["code"], "CONFLICT");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("e-mail"), "{r}");

    let role = "mutation { createRole(name: \"Sales\") { id } }";
    s.ok(role, json!({})).await;
    let r = s.gql(role, json!({})).await;
    assert_clean(&r, &names, "role name");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("role"), "{r}");

    let product =
        "mutation { createProduct(input: { name: \"Screw\", sku: \"S-1\", price: \"1\", currency: \"EUR\" }) { id } }";
    s.ok(product, json!({})).await;
    assert_clean(&s.gql(product, json!({})).await, &names, "product SKU");

    let field = "mutation { createCustomField(elementType: LEAD, input: { code: \"UF_X\", label: \"X\" }) { id } }";
    s.ok(field, json!({})).await;
    assert_clean(&s.gql(field, json!({})).await, &names, "custom field code");

    let item = "mutation { createStatusItem(list: SOURCE, input: { code: \"FAIR\", name: \"Fair\" }) { id } }";
    s.ok(item, json!({})).await;
    assert_clean(&s.gql(item, json!({})).await, &names, "status code");

    // Racing writers pass the domain's check together; the unique index stops all but one,
    // and the losers still read a domain message.
    let mine = "mutation($t: String!) { createCompany(input: { title: $t, isMyCompany: true }) { id } }";
    let bodies = join_all((0..8).map(|i| s.gql(mine, json!({ "t": format!("Us {i}") })))).await;
    let won = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(won, 1, "{bodies:?}");
    for b in bodies.iter().filter(|b| b.get("errors").is_some()) {
        assert_clean(b, &names, "our own company");
    }
}

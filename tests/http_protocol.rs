//! GraphQL over HTTP: methods, media types, status codes, limits and the side endpoints.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

const GQL_RESPONSE: &str = "application/graphql-response+json";

async fn post(s: &TestServer, accept: &str, body: String) -> (StatusCode, String, Value) {
    let resp = s
        .client
        .post(s.url("/graphql"))
        .bearer_auth(&s.token)
        .header("Accept", accept)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = resp.text().await.unwrap();
    (status, ct, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn post_answers_in_the_accepted_media_type() {
    let s = TestServer::start().await;
    let (status, ct, body) = post(&s, GQL_RESPONSE, json!({ "query": "{ me { email } }" }).to_string()).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with(GQL_RESPONSE), "{ct}");
    assert_eq!(body["data"]["me"]["email"], "admin@test.local");

    let (status, ct, _) = post(&s, "application/json", json!({ "query": "{ me { email } }" }).to_string()).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");

    let (status, _, _) = post(&s, "text/html", json!({ "query": "{ me { email } }" }).to_string()).await;
    assert_eq!(status, 406);
}

#[tokio::test]
async fn request_errors_are_4xx_for_graphql_response_json_and_200_for_json() {
    let s = TestServer::start().await;
    for (body, expect_gql, expect_json) in [
        ("{not json".to_owned(), 400, 400),
        (json!([{ "query": "{ me { id } }" }]).to_string(), 400, 400),
        (json!({ "query": 42 }).to_string(), 400, 400),
        (json!({ "variables": {} }).to_string(), 400, 400),
        (json!({ "query": "{ me { id " }).to_string(), 400, 400),
        (json!({ "query": "{ nope }" }).to_string(), 400, 200),
        (
            json!({ "query": "query($x: Int!) { leads(first: $x) { totalCount } }", "variables": { "x": "ten" } })
                .to_string(),
            400,
            200,
        ),
    ] {
        let (status, _, resp) = post(&s, GQL_RESPONSE, body.clone()).await;
        assert_eq!(status, expect_gql, "graphql-response+json for {body}: {resp}");
        assert!(resp["errors"].is_array(), "{resp}");
        assert!(resp.get("data").is_none(), "a request error carries no data: {resp}");
        let (status, _, _) = post(&s, "application/json", body.clone()).await;
        assert_eq!(status, expect_json, "application/json for {body}");
    }
    // A field error is not a request error: 200 with data and errors.
    let (status, _, resp) =
        post(&s, GQL_RESPONSE, json!({ "query": "{ lead(id: \"lead:999\") { id } }" }).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(resp["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert!(resp.get("data").is_some());
}

#[tokio::test]
async fn content_type_must_be_json() {
    let s = TestServer::start().await;
    let resp = s
        .client
        .post(s.url("/graphql"))
        .bearer_auth(&s.token)
        .header("Content-Type", "text/plain")
        .body("{ me { id } }")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let s = TestServer::start().await;
    let resp = s
        .client
        .get(s.url("/graphql"))
        .query(&[
            ("query", "query Me($x: Int) { me { email } leads(first: $x) { totalCount } }"),
            ("variables", "{\"x\": 1}"),
            ("operationName", "Me"),
        ])
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "admin@test.local");

    let resp = s
        .client
        .get(s.url("/graphql"))
        .query(&[("query", "mutation { createCompany(input: { title: \"x\" }) { id } }")])
        .bearer_auth(&s.token)
        .header("Accept", GQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let count = s.ok("{ companies { totalCount } }", json!({})).await;
    assert_eq!(count["companies"]["totalCount"], 0, "the GET mutation wrote nothing");

    let resp = s.client.get(s.url("/graphql")).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(resp.status(), 400, "GET without a query");
}

#[tokio::test]
async fn every_operation_needs_a_valid_token() {
    let s = TestServer::start().await;
    for auth in [None, Some("Bearer nope"), Some("Bearer kontor_0000"), Some("Basic YWRtaW46YWRtaW4=")] {
        let mut req = s.client.post(s.url("/graphql")).json(&json!({ "query": "{ __typename }" }));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    // GraphiQL and health endpoints need none.
    let page = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
    assert_eq!(s.client.get(s.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(s.client.get(s.url("/readyz")).send().await.unwrap().status(), 200);
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kontor_sql_statements_total"), "{metrics}");
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let s = TestServer::start().await;
    #[derive(diesel::QueryableByName)]
    struct Hit {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let hit: Hit = diesel::sql_query(
        "SELECT count(*) AS n FROM api_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind::<diesel::sql_types::Text, _>(&s.token[7..])
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(hit.n, 0);
}

#[tokio::test]
async fn abusive_documents_are_rejected_before_they_run() {
    let s = TestServer::start().await;
    let deep = format!("{{ deals {{ nodes {}id{} }} }}", "{ company { deals { nodes ".repeat(8), " } } }".repeat(8));
    let (status, _, body) = post(&s, GQL_RESPONSE, json!({ "query": deep }).to_string()).await;
    assert_eq!(status, 400, "too deep: {}", &body.to_string()[..200.min(body.to_string().len())]);
    // Each `leads` counts its default page of 100 rows: 3,000 of them cost 330,000.
    let fields = (0..3000).map(|i| format!("a{i}: leads {{ totalCount }}")).collect::<Vec<_>>().join(" ");
    let (status, _, body) = post(&s, GQL_RESPONSE, json!({ "query": format!("{{ {fields} }}") }).to_string()).await;
    assert_eq!(status, 400, "too complex: {}", &body.to_string()[..200.min(body.to_string().len())]);
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, _, _) =
        post(&s, GQL_RESPONSE, json!({ "query": "{ me { id } }", "variables": { "x": big } }).to_string()).await;
    assert_eq!(status, 413);
    let code = s.err_code("{ leads(first: 501) { totalCount } }", json!({})).await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = s.err_code("{ leads(last: 1000) { totalCount } }", json!({})).await;
    assert_eq!(code, "BAD_USER_INPUT");
}

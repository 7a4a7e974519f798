//! GraphQL over HTTP: methods, media types, status codes, limits and the side endpoints.

use crate::common;

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
        ("{not json".to_owned(), 400, 200),
        (json!([{ "query": "{ me { id } }" }]).to_string(), 400, 200),
        (json!({ "query": 42 }).to_string(), 400, 200),
        (json!({ "variables": {} }).to_string(), 400, 200),
        (json!({ "query": "{ me { id " }).to_string(), 400, 200),
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
        let (status, _, resp) = post(&s, "application/json", body.clone()).await;
        assert_eq!(status, expect_json, "application/json for {body}");
        assert!(resp["errors"].is_array(), "{resp}");
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
    assert_eq!(resp.status(), 200, "GET without a query, application/json");
    assert!(resp.json::<Value>().await.unwrap()["errors"].is_array());
    let resp =
        s.client.get(s.url("/graphql")).bearer_auth(&s.token).header("Accept", GQL_RESPONSE).send().await.unwrap();
    assert_eq!(resp.status(), 400, "GET without a query, graphql-response+json");
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

/// One request of the graphql-http audit suite (graphql/graphql-http, `src/audits/server.ts`),
/// sent with the admin's token: the suite's requests carry none, and Kontor answers every
/// unauthenticated operation with 401.
struct Audit {
    id: &'static str,
    get: Option<Vec<(&'static str, String)>>,
    accept: Option<&'static str>,
    content_type: Option<&'static str>,
    body: Option<String>,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl Answer {
    fn has_errors(&self) -> bool {
        self.body.get("errors").is_some()
    }
}

async fn audit(s: &TestServer, a: &Audit) -> Answer {
    let mut req = match &a.get {
        Some(params) => s.client.get(s.url("/graphql")).query(params),
        None => s.client.post(s.url("/graphql")),
    };
    req = req.bearer_auth(&s.token);
    if let Some(accept) = a.accept {
        req = req.header("Accept", accept);
    }
    if let Some(ct) = a.content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(body) = &a.body {
        req = req.body(body.clone());
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{}: {e}", a.id));
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = resp.bytes().await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| panic!("{}: the body is not UTF-8", a.id));
    Answer { status, content_type, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

fn post_json(id: &'static str, accept: Option<&'static str>, body: Value) -> Audit {
    Audit { id, get: None, accept, content_type: Some("application/json"), body: Some(body.to_string()) }
}

const JSON: Option<&str> = Some("application/json");
const GQL: Option<&str> = Some(GQL_RESPONSE);

#[tokio::test]
async fn the_graphql_http_audit_passes() {
    let s = TestServer::start().await;
    let typename = json!({ "query": "{ __typename }" });
    let ok = |a: &Answer, id: &str| assert_eq!(a.status, 200, "{id}: {a:?}");
    let ok_clean = |a: &Answer, id: &str| {
        assert_eq!(a.status, 200, "{id}: {a:?}");
        assert!(!a.has_errors(), "{id}: {a:?}");
    };
    let bad = |a: &Answer, id: &str| assert_eq!(a.status, 400, "{id}: {a:?}");
    let bad_no_data = |a: &Answer, id: &str| {
        assert_eq!(a.status, 400, "{id}: {a:?}");
        assert!(a.body.get("data").is_none(), "{id}: {a:?}");
    };
    let ok_errors = |a: &Answer, id: &str| {
        assert_eq!(a.status, 200, "{id}: {a:?}");
        assert!(a.has_errors(), "{id}: {a:?}");
    };

    // Media types.
    let a = audit(&s, &post_json("22EB", GQL, typename.clone())).await;
    ok(&a, "22EB");
    assert!(a.content_type.contains(GQL_RESPONSE), "22EB: {a:?}");
    for (id, accept) in [("4655", JSON), ("47DE", Some("*/*"))] {
        let a = audit(&s, &post_json(id, accept, typename.clone())).await;
        ok(&a, id);
        assert!(a.content_type.contains("application/json"), "{id}: {a:?}");
    }
    let get = |id, params: Vec<(&'static str, String)>, accept| Audit {
        id,
        get: Some(params),
        accept,
        content_type: None,
        body: None,
    };
    let a = audit(&s, &get("80D8", vec![("query", "{ __typename }".into())], None)).await;
    ok(&a, "80D8");
    assert!(a.content_type.contains("application/json"), "80D8: {a:?}");
    for id in ["82A3", "78D5", "2C94", "03D4"] {
        ok(&audit(&s, &post_json(id, None, typename.clone())).await, id);
    }
    let utf8 =
        Audit { content_type: Some("application/json; charset=utf-8"), ..post_json("BF61", None, typename.clone()) };
    ok(&audit(&s, &utf8).await, "BF61");

    // GET.
    ok(&audit(&s, &get("5A70", vec![("query", "{ __typename }".into())], None)).await, "5A70");
    let a = audit(&s, &get("9C48", vec![("query", "mutation { __typename }".into())], GQL)).await;
    assert!((400..500).contains(&a.status), "9C48: {a:?}");
    let by_type = "query Type($name: String!) { __type(name: $name) { name } }";
    let vars = json!({ "name": "sometype" }).to_string();
    let params = vec![("query", by_type.to_owned()), ("variables", vars)];
    ok(&audit(&s, &get("D6D5", params.clone(), GQL)).await, "D6D5");
    ok_clean(&audit(&s, &get("6A70", params, JSON)).await, "6A70");

    // POST without a content type or a body.
    let a = audit(&s, &Audit { id: "9ABE", get: None, accept: None, content_type: None, body: None }).await;
    assert!((400..500).contains(&a.status), "9ABE: {a:?}");
    let a = audit(&s, &Audit { id: "7267", get: None, accept: None, content_type: JSON, body: None }).await;
    if a.content_type.contains("application/json") {
        assert!(a.has_errors(), "7267: {a:?}");
    } else {
        assert_eq!(a.status, 400, "7267: {a:?}");
    }

    // Request parameters.
    bad(&audit(&s, &post_json("6610", GQL, json!({ "notquery": "{ __typename }" }))).await, "6610");
    ok_errors(&audit(&s, &post_json("3715", JSON, json!({ "notquery": "{ __typename }" }))).await, "3715");
    let invalid = [json!({ "obj": "ect" }), json!(0), json!(false), json!(["array"])];
    for v in &invalid {
        bad(&audit(&s, &post_json("4F5x", GQL, json!({ "query": v }))).await, "4F5x");
        ok_errors(&audit(&s, &post_json("9FEx", JSON, json!({ "query": v }))).await, "9FEx");
        let body = json!({ "operationName": v, "query": "{ __typename }" });
        bad(&audit(&s, &post_json("E3Ex", GQL, body.clone())).await, "E3Ex");
        ok_errors(&audit(&s, &post_json("FB9x", JSON, body)).await, "FB9x");
    }
    ok(&audit(&s, &post_json("34A2", GQL, typename.clone())).await, "34A2");
    ok_clean(&audit(&s, &post_json("13EE", JSON, typename.clone())).await, "13EE");
    let named = json!({ "operationName": "Query", "query": "query Query { __typename }" });
    ok(&audit(&s, &post_json("8161", GQL, named.clone())).await, "8161");
    ok_clean(&audit(&s, &post_json("B8B3", JSON, named)).await, "B8B3");
    for parameter in ["variables", "operationName", "extensions"] {
        let body = json!({ "query": "{ __typename }", parameter: null });
        ok_clean(&audit(&s, &post_json("94Bx", GQL, body.clone())).await, "94Bx");
        ok_clean(&audit(&s, &post_json("022x", JSON, body)).await, "022x");
    }
    for v in [json!("string"), json!(0), json!(false), json!(["array"])] {
        for (parameter, gql_id, json_id) in [("variables", "69Bx", "F05x"), ("extensions", "904x", "368x")] {
            let body = json!({ "query": "{ __typename }", parameter: v });
            bad(&audit(&s, &post_json(gql_id, GQL, body.clone())).await, gql_id);
            ok_errors(&audit(&s, &post_json(json_id, JSON, body)).await, json_id);
        }
    }
    let with_vars = json!({ "query": by_type, "variables": { "name": "sometype" } });
    ok(&audit(&s, &post_json("2EA1", GQL, with_vars.clone())).await, "2EA1");
    ok_clean(&audit(&s, &post_json("28B9", JSON, with_vars)).await, "28B9");
    let with_ext = json!({ "query": "{ __typename }", "extensions": { "some": "value" } });
    ok(&audit(&s, &post_json("428F", GQL, with_ext.clone())).await, "428F");
    ok_clean(&audit(&s, &post_json("1B7A", JSON, with_ext)).await, "1B7A");

    // Failures: 200 for application/json, 400 without data for graphql-response+json.
    let not_json =
        |id, accept| Audit { id, get: None, accept, content_type: JSON, body: Some("{ \"not a JSON".into()) };
    ok(&audit(&s, &not_json("D477", JSON)).await, "D477");
    bad(&audit(&s, &not_json("2163", GQL)).await, "2163");
    let typo = json!({ "qeury": "{ __typename }" });
    ok(&audit(&s, &post_json("F5AF", JSON, typo.clone())).await, "F5AF");
    bad_no_data(&audit(&s, &post_json("17C5", GQL, typo)).await, "17C5");
    let unparsable = json!({ "query": "{" });
    ok(&audit(&s, &post_json("572B", JSON, unparsable.clone())).await, "572B");
    bad_no_data(&audit(&s, &post_json("556A", GQL, unparsable)).await, "556A");
    for query in ["{ 8f31403dfe404bccbb0e835f2629c6a7 }", "{ f8f31403dfe404bccbb0e835f2629c6a7 }"] {
        ok(&audit(&s, &post_json("FDE2", JSON, json!({ "query": query }))).await, "FDE2");
        bad_no_data(&audit(&s, &post_json("74FF", GQL, json!({ "query": query }))).await, "74FF");
    }
}

#[tokio::test]
async fn limits_on_the_document_are_request_errors() {
    let s = TestServer::start().await;
    let deep = format!("{{ __typename(x: {}1{}) }}", "[".repeat(60), "]".repeat(60));
    let hidden = format!("{{ __typename(x: \"\"\" \" \"\"\", y: {}1{}) }}", "[".repeat(60), "]".repeat(60));
    let mut vars = json!(1);
    for _ in 0..40 {
        vars = json!([vars]);
    }
    for body in [
        json!({ "query": deep }),
        json!({ "query": hidden }),
        json!({ "query": "query($v: JSON) { __typename }", "variables": { "v": vars } }),
        json!({ "query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }" }),
    ] {
        let (status, _, resp) = post(&s, GQL_RESPONSE, body.to_string()).await;
        assert_eq!(status, 400, "{resp}");
        assert!(resp.get("data").is_none(), "{resp}");
        let (status, _, resp) = post(&s, "application/json", body.to_string()).await;
        assert_eq!(status, 200, "{resp}");
        let code = resp["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"].contains(&code.as_str()),
            "{resp}"
        );
    }
}

#[tokio::test]
async fn readyz_says_not_ready_without_the_database_error() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let s = TestServer::start().await;
    let resp = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ready");
    let mut admin = AsyncPgConnection::establish(&common::admin_url()).await.unwrap();
    admin.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", s.db.name)).await.unwrap();
    let resp = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert_eq!(body, "not ready", "the cause belongs in the log, not in the answer");
    assert!(!body.contains(&s.db.name));
}

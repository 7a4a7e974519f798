//! Status lists and pipelines changed through GraphQL: the semantic order rule after every
//! change, system items, items and stages still in use, the default pipeline.

use crate::common;

use common::TestServer;
use serde_json::{Value, json};

fn code(v: &Value) -> Value {
    v["errors"][0]["extensions"]["code"].clone()
}

async fn statuses(s: &TestServer) -> Vec<(String, String, String)> {
    let d = s.ok("{ statusItems(list: STATUS) { id code semantics } }", json!({})).await;
    d["statusItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().into(),
                i["code"].as_str().unwrap().into(),
                i["semantics"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn codes(items: &[(String, String, String)]) -> Vec<&str> {
    items.iter().map(|i| i.1.as_str()).collect()
}

#[tokio::test]
async fn status_lists_keep_the_semantic_order() {
    let s = TestServer::start().await;
    // A new PROCESS status lands among the PROCESS items, a FAILURE one after SUCCESS.
    let made = s
        .ok("mutation { createStatusItem(list: STATUS, input: { name: \"Waiting for payment\", color: \"#aabbcc\" }) { code semantics color isSystem } }", json!({}))
        .await;
    assert_eq!(
        made["createStatusItem"],
        json!({ "code": "WAITING_FOR_PAYMENT", "semantics": "PROCESS", "color": "#AABBCC", "isSystem": false })
    );
    s.ok(
        "mutation { createStatusItem(list: STATUS, input: { name: \"Spam\", semantics: FAILURE, sort: 1 }) { id } }",
        json!({}),
    )
    .await;
    let items = statuses(&s).await;
    assert_eq!(codes(&items), ["NEW", "IN_PROCESS", "PROCESSED", "WAITING_FOR_PAYMENT", "CONVERTED", "SPAM", "JUNK"]);

    // A second SUCCESS item is refused; so is giving up the only one.
    let second = s
        .gql(
            "mutation { createStatusItem(list: STATUS, input: { name: \"Won too\", semantics: SUCCESS }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&second), "BAD_USER_INPUT", "{second}");
    assert_eq!(second["errors"][0]["extensions"]["field"], "semantics");
    let converted = &items[4].0;
    let demote = s
        .gql(
            "mutation($id: ID!) { updateStatusItem(id: $id, input: { semantics: PROCESS }) { id } }",
            json!({ "id": converted }),
        )
        .await;
    assert_eq!(code(&demote), "BAD_USER_INPUT", "{demote}");
    // Dropdowns without semantics take PROCESS items only.
    let src = s
        .gql(
            "mutation { createStatusItem(list: SOURCE, input: { name: \"Fair\", semantics: FAILURE }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&src), "BAD_USER_INPUT");

    // Reordering: any order within the groups, never across them.
    let mut ids: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
    ids.swap(0, 3);
    let r = s
        .ok(
            "mutation($ids: [ID!]!) { reorderStatusItems(list: STATUS, ids: $ids) { code sort } }",
            json!({ "ids": ids }),
        )
        .await;
    let got: Vec<&str> =
        r["reorderStatusItems"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
    assert_eq!(got, ["WAITING_FOR_PAYMENT", "IN_PROCESS", "PROCESSED", "NEW", "CONVERTED", "SPAM", "JUNK"]);
    let mut wrong = ids.clone();
    wrong.swap(0, 4);
    let r = s
        .gql("mutation($ids: [ID!]!) { reorderStatusItems(list: STATUS, ids: $ids) { code } }", json!({ "ids": wrong }))
        .await;
    assert_eq!(code(&r), "BAD_USER_INPUT", "SUCCESS first: {r}");
    let r = s
        .gql(
            "mutation($ids: [ID!]!) { reorderStatusItems(list: STATUS, ids: $ids) { code } }",
            json!({ "ids": &ids[1..] }),
        )
        .await;
    assert_eq!(code(&r), "BAD_USER_INPUT", "an item left out: {r}");

    // System items stay; items in use stay, with the count.
    let junk = &items[6].0;
    assert_eq!(
        code(&s.gql("mutation($id: ID!) { deleteStatusItem(id: $id) }", json!({ "id": junk })).await),
        "CONFLICT"
    );
    let waiting = &items[3].0;
    s.ok("mutation($st: ID!) { createLead(input: { title: \"x\", statusId: $st }) { id } }", json!({ "st": waiting }))
        .await;
    let used = s.gql("mutation($id: ID!) { deleteStatusItem(id: $id) }", json!({ "id": waiting })).await;
    assert_eq!(code(&used), "CONFLICT", "{used}");
    assert_eq!(used["errors"][0]["extensions"]["usedBy"], 1);
    let spam = &items[5].0;
    s.ok("mutation($id: ID!) { deleteStatusItem(id: $id) }", json!({ "id": spam })).await;
    assert_eq!(
        codes(&statuses(&s).await),
        ["WAITING_FOR_PAYMENT", "IN_PROCESS", "PROCESSED", "NEW", "CONVERTED", "JUNK"]
    );
}

#[tokio::test]
async fn pipelines_and_stages_keep_exactly_one_success_stage() {
    let s = TestServer::start().await;
    let p = s
        .ok(
            "mutation { createPipeline(name: \"Partners\") { id isDefault stages { id code semantics probability } } }",
            json!({}),
        )
        .await;
    let pipeline = p["createPipeline"]["id"].clone();
    assert_eq!(p["createPipeline"]["isDefault"], false);
    let stage_codes: Vec<&str> =
        p["createPipeline"]["stages"].as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert_eq!(
        stage_codes,
        ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE", "APOLOGY"]
    );
    let stages = p["createPipeline"]["stages"].as_array().unwrap().clone();
    let won = stages[5]["id"].clone();

    let added = s
        .ok("mutation($p: ID!) { createStage(pipelineId: $p, input: { name: \"Negotiation\", probability: 70, sort: 35 }) { code probability } }", json!({ "p": pipeline }))
        .await;
    assert_eq!(added["createStage"], json!({ "code": "NEGOTIATION", "probability": 70 }));
    let list = s.ok("query($p: ID!) { pipeline(id: $p) { stages { code } } }", json!({ "p": pipeline })).await;
    let got: Vec<&str> =
        list["pipeline"]["stages"].as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap()).collect();
    assert_eq!(
        got,
        [
            "NEW",
            "PREPARATION",
            "PREPAYMENT_INVOICE",
            "NEGOTIATION",
            "EXECUTING",
            "FINAL_INVOICE",
            "WON",
            "LOSE",
            "APOLOGY"
        ]
    );

    // The SUCCESS stage cannot be deleted, duplicated or demoted.
    assert_eq!(code(&s.gql("mutation($id: ID!) { deleteStage(id: $id) }", json!({ "id": won })).await), "CONFLICT");
    let dup = s
        .gql(
            "mutation($p: ID!) { createStage(pipelineId: $p, input: { name: \"Won 2\", semantics: SUCCESS }) { id } }",
            json!({ "p": pipeline }),
        )
        .await;
    assert_eq!(code(&dup), "BAD_USER_INPUT");
    let demote = s
        .gql("mutation($id: ID!) { updateStage(id: $id, input: { semantics: FAILURE }) { id } }", json!({ "id": won }))
        .await;
    assert_eq!(code(&demote), "BAD_USER_INPUT");
    let bad = s
        .gql("mutation($id: ID!) { updateStage(id: $id, input: { probability: 101 }) { id } }", json!({ "id": won }))
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "probability");

    // A stage or pipeline with deals stays; the default pipeline stays.
    let first = stages[0]["id"].clone();
    s.ok("mutation($p: ID!) { createDeal(input: { title: \"d\", pipelineId: $p }) { id } }", json!({ "p": pipeline }))
        .await;
    let r = s.gql("mutation($id: ID!) { deleteStage(id: $id) }", json!({ "id": first })).await;
    assert_eq!(code(&r), "CONFLICT");
    assert_eq!(r["errors"][0]["extensions"]["usedBy"], 1);
    assert_eq!(
        code(&s.gql("mutation($id: ID!) { deletePipeline(id: $id) }", json!({ "id": pipeline })).await),
        "CONFLICT"
    );
    let default = s.ok("{ pipelines { id isDefault } }", json!({})).await["pipelines"][0]["id"].clone();
    assert_eq!(
        code(&s.gql("mutation($id: ID!) { deletePipeline(id: $id) }", json!({ "id": default })).await),
        "CONFLICT"
    );
    // An empty stage goes, but not the last FAILURE stage: lost deals close into it.
    let lose = stages[6]["id"].clone();
    s.ok("mutation($id: ID!) { deleteStage(id: $id) }", json!({ "id": lose })).await;
    let apology = stages[7]["id"].clone();
    let r = s.gql("mutation($id: ID!) { deleteStage(id: $id) }", json!({ "id": apology })).await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
    let r = s
        .gql(
            "mutation($id: ID!) { updateStage(id: $id, input: { semantics: PROCESS }) { id } }",
            json!({ "id": apology }),
        )
        .await;
    assert_eq!(code(&r), "BAD_USER_INPUT", "{r}");
    // A stage that holds deals keeps its kind: its deals are open or closed by it.
    let r = s
        .gql(
            "mutation($id: ID!) { updateStage(id: $id, input: { semantics: FAILURE }) { id } }",
            json!({ "id": first }),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
    assert_eq!(r["errors"][0]["extensions"]["usedBy"], 1);

    // Another default.
    s.ok("mutation($id: ID!) { setDefaultPipeline(id: $id) { isDefault } }", json!({ "id": pipeline })).await;
    let all = s.ok("{ pipelines { id isDefault } }", json!({})).await;
    assert_eq!(all["pipelines"][0]["id"], pipeline, "the default comes first");
    assert_eq!(all["pipelines"].as_array().unwrap().iter().filter(|p| p["isDefault"] == true).count(), 1);

    // Reordering stages follows the same rule.
    let now = s.ok("query($p: ID!) { pipeline(id: $p) { stages { id } } }", json!({ "p": pipeline })).await;
    let mut ids: Vec<Value> = now["pipeline"]["stages"].as_array().unwrap().iter().map(|x| x["id"].clone()).collect();
    ids.swap(0, 1);
    s.ok(
        "mutation($p: ID!, $ids: [ID!]!) { reorderStages(pipelineId: $p, ids: $ids) { id } }",
        json!({ "p": pipeline, "ids": ids }),
    )
    .await;
    let last = ids.len() - 1;
    ids.swap(0, last);
    let r = s
        .gql(
            "mutation($p: ID!, $ids: [ID!]!) { reorderStages(pipelineId: $p, ids: $ids) { id } }",
            json!({ "p": pipeline, "ids": ids }),
        )
        .await;
    assert_eq!(code(&r), "BAD_USER_INPUT");
}

#[tokio::test]
async fn settings_mutations_need_the_settings_right() {
    let s = TestServer::start().await;
    let rep = s.token_for("rep@example.com", false).await;
    for m in [
        "mutation { createStatusItem(list: SOURCE, input: { name: \"x\" }) { id } }",
        "mutation { createPipeline(name: \"x\") { id } }",
    ] {
        assert_eq!(code(&s.gql_as(&rep, m, json!({})).await), "FORBIDDEN", "{m}");
    }
}

//! Create, read, update and delete of every element type over HTTP, with defaults, history,
//! optimistic concurrency and the outbox.

use crate::common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn lead_lifecycle_with_defaults_history_and_versions() {
    let s = TestServer::start().await;
    let created = s
        .ok(
            "mutation($in: LeadInput!) { createLead(input: $in) { id version title status { code semantics } assignedTo { email }
               opportunity currency phones { value valueType normalized } emails { value normalized } opened } }",
            json!({ "in": { "firstName": "Anna", "lastName": "Berg", "companyTitle": "Acme",
                    "opportunity": "1200.50", "currency": "eur",
                    "phones": [{ "value": "030 1234567", "valueType": "MOBILE" }],
                    "emails": [{ "value": "Anna.Berg@Example.com" }] } }),
        )
        .await;
    let lead = &created["createLead"];
    assert_eq!(lead["version"], 1);
    assert_eq!(lead["title"], "Anna Berg", "title defaults to the name");
    assert_eq!(lead["status"]["code"], "NEW");
    assert_eq!(lead["status"]["semantics"], "PROCESS");
    assert_eq!(lead["assignedTo"]["email"], "admin@test.local");
    assert_eq!(lead["opportunity"], "1200.50");
    assert_eq!(lead["currency"], "EUR");
    assert_eq!(lead["phones"][0]["normalized"], "+49301234567");
    assert_eq!(lead["phones"][0]["valueType"], "MOBILE");
    assert_eq!(lead["emails"][0]["normalized"], "anna.berg@example.com");
    let id = lead["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("lead:"));

    let statuses = s.ok("{ statusItems(list: STATUS) { id code } }", json!({})).await;
    let in_process =
        statuses["statusItems"].as_array().unwrap().iter().find(|i| i["code"] == "IN_PROCESS").unwrap()["id"].clone();

    let updated = s
        .ok(
            "mutation($id: ID!, $status: ID!) { updateLead(id: $id, expectedVersion: 1,
               input: { title: \"Big order\", statusId: $status, comments: null, emails: [] }) {
               version title status { code } emails { value }
               timeline { nodes { kind author { email } changes { field oldValue newValue } } } } }",
            json!({ "id": id, "status": in_process }),
        )
        .await;
    let u = &updated["updateLead"];
    assert_eq!(u["version"], 2);
    assert_eq!(u["status"]["code"], "IN_PROCESS");
    assert_eq!(u["emails"], json!([]));
    let entries = u["timeline"]["nodes"].as_array().unwrap();
    assert_eq!(entries[0]["kind"], "UPDATED", "newest first");
    assert_eq!(entries[1]["kind"], "CREATED");
    assert_eq!(entries[0]["author"]["email"], "admin@test.local");
    let changes = entries[0]["changes"].as_array().unwrap();
    let title = changes.iter().find(|c| c["field"] == "title").expect("title change recorded");
    assert_eq!(title["oldValue"], "Anna Berg");
    assert_eq!(title["newValue"], "Big order");
    let emails = changes.iter().find(|c| c["field"] == "emails").expect("email change recorded");
    assert_eq!(emails["newValue"], json!(null));

    // A stale version is a conflict and changes nothing.
    let stale = s
        .gql(
            "mutation($id: ID!) { updateLead(id: $id, expectedVersion: 1, input: { title: \"x\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(stale["errors"][0]["extensions"]["code"], "CONFLICT");
    assert_eq!(stale["errors"][0]["extensions"]["currentVersion"], 2);
    let still = s.ok("query($id: ID!) { lead(id: $id) { title version } }", json!({ "id": id })).await;
    assert_eq!(still["lead"]["title"], "Big order");

    // An update that changes nothing writes nothing.
    let same = s
        .ok(
            "mutation($id: ID!) { updateLead(id: $id, input: { title: \"Big order\" }) { version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(same["updateLead"]["version"], 2);

    let comment = s
        .ok(
            "mutation($id: ID!) { addComment(element: { type: LEAD, id: $id }, text: \"Called, wants a quote\") { kind text elementType elementId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(comment["addComment"]["kind"], "COMMENT");
    assert_eq!(comment["addComment"]["elementId"], id.as_str());

    let deleted = s.ok("mutation($id: ID!) { deleteLead(id: $id) }", json!({ "id": id })).await;
    assert_eq!(deleted["deleteLead"], id.as_str());
    assert_eq!(s.err_code("query($id: ID!) { lead(id: $id) { id } }", json!({ "id": id })).await, "NOT_FOUND");
    assert_eq!(s.err_code("mutation($id: ID!) { deleteLead(id: $id) }", json!({ "id": id })).await, "NOT_FOUND");

    // History outlives the element.
    let history = s
        .ok(
            "query($id: ID!) { history(filter: { elementType: { eq: LEAD }, elementId: { eq: $id } }) { totalCount nodes { kind } } }",
            json!({ "id": id }),
        )
        .await;
    let kinds: Vec<&str> =
        history["history"]["nodes"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["DELETED", "COMMENT", "UPDATED", "CREATED"]);

    // Every write appended its event to the outbox, in order.
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Ev {
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
    }
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let events: Vec<Ev> = diesel::sql_query("SELECT action FROM events WHERE element_type = 'LEAD' ORDER BY id")
        .load(&mut conn)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).filter(|a| *a != "TIMELINE").collect();
    assert_eq!(actions, ["CREATED", "UPDATED", "DELETED"]);
    // Each of the four history entries has its TIMELINE event too.
    assert_eq!(events.iter().filter(|e| e.action == "TIMELINE").count(), 4);
}

#[tokio::test]
async fn contacts_companies_and_deals_link_up() {
    let s = TestServer::start().await;
    let co = s
        .ok(
            "mutation { createCompany(input: { title: \"Acme GmbH\", revenue: \"1000000\", currency: \"EUR\", vatId: \"DE123\",
               webs: [{ value: \"acme.example\" }] }) { id title revenue vatId webs { value normalized } version } }",
            json!({}),
        )
        .await;
    let company_id = co["createCompany"]["id"].as_str().unwrap().to_owned();
    assert_eq!(co["createCompany"]["webs"][0]["normalized"], "https://acme.example");
    let c1 = s
        .ok(
            "mutation($co: ID!) { createContact(input: { firstName: \"Bo\", lastName: \"Lind\", companyIds: [$co] }) { id fullName companyIds companies { title } } }",
            json!({ "co": company_id }),
        )
        .await;
    let contact_id = c1["createContact"]["id"].as_str().unwrap().to_owned();
    assert_eq!(c1["createContact"]["companyIds"], json!([company_id]));
    assert_eq!(c1["createContact"]["companies"][0]["title"], "Acme GmbH");

    let deal = s
        .ok(
            "mutation($co: ID!, $c: ID!) { createDeal(input: { title: \"Big deal\", companyId: $co, contactIds: [$c], opportunity: \"5000\", currency: \"EUR\" }) {
               id title closed probability beginDate stage { code semantics } pipeline { name isDefault } contactIds contacts { fullName } company { title } } }",
            json!({ "co": company_id, "c": contact_id }),
        )
        .await;
    let d = &deal["createDeal"];
    assert_eq!(d["stage"]["code"], "NEW", "a deal starts at the default pipeline's first stage");
    assert_eq!(d["pipeline"]["isDefault"], true);
    assert_eq!(d["closed"], false);
    assert_eq!(d["probability"], 10);
    assert_eq!(d["contacts"][0]["fullName"], "Bo Lind");
    assert_eq!(d["company"]["title"], "Acme GmbH");
    let deal_id = d["id"].as_str().unwrap().to_owned();

    // Nested connections from the other side.
    let nested = s
        .ok(
            "query($co: ID!, $c: ID!) { company(id: $co) { contacts { totalCount nodes { id } } deals { totalCount nodes { id } } }
               contact(id: $c) { deals(first: 5) { totalCount edges { node { id } } } } }",
            json!({ "co": company_id, "c": contact_id }),
        )
        .await;
    assert_eq!(nested["company"]["contacts"]["totalCount"], 1);
    assert_eq!(nested["company"]["deals"]["nodes"][0]["id"], deal_id.as_str());
    assert_eq!(nested["contact"]["deals"]["edges"][0]["node"]["id"], deal_id.as_str());

    // Moving to the WON stage closes the deal with today's date.
    let pipelines = s.ok("{ pipelines { id isDefault stages { id code semantics probability } } }", json!({})).await;
    let stages = pipelines["pipelines"][0]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 8);
    let won = stages.iter().find(|st| st["semantics"] == "SUCCESS").unwrap();
    let closed = s
        .ok(
            "mutation($id: ID!, $st: ID!) { updateDeal(id: $id, input: { stageId: $st }) { closed closeDate probability stage { code } } }",
            json!({ "id": deal_id, "st": won["id"] }),
        )
        .await;
    assert_eq!(closed["updateDeal"]["closed"], true);
    assert_eq!(closed["updateDeal"]["closeDate"], chrono::Utc::now().date_naive().to_string());
    assert_eq!(closed["updateDeal"]["probability"], 100);

    // Deleting the contact unlinks it from the deal.
    s.ok("mutation($c: ID!) { deleteContact(id: $c) }", json!({ "c": contact_id })).await;
    let after =
        s.ok("query($id: ID!) { deal(id: $id) { contacts { id } contactIds } }", json!({ "id": deal_id })).await;
    assert_eq!(after["deal"]["contacts"], json!([]));

    // node() resolves every kind of id.
    let node = s.ok("query($id: ID!) { node(id: $id) { id ... on Deal { title } } }", json!({ "id": deal_id })).await;
    assert_eq!(node["node"]["title"], "Big deal");
    let me = s.ok("{ me { id email isAdmin } }", json!({})).await;
    let me_node =
        s.ok("query($id: ID!) { node(id: $id) { ... on User { email } } }", json!({ "id": me["me"]["id"] })).await;
    assert_eq!(me_node["node"]["email"], "admin@test.local");
}

#[tokio::test]
async fn only_one_company_is_my_company() {
    let s = TestServer::start().await;
    s.ok("mutation { createCompany(input: { title: \"Us\", isMyCompany: true }) { id } }", json!({})).await;
    let code = s
        .err_code("mutation { createCompany(input: { title: \"Also us\", isMyCompany: true }) { id } }", json!({}))
        .await;
    assert_eq!(code, "CONFLICT");
    let count = s.ok("{ companies(filter: { isMyCompany: { eq: true } }) { totalCount } }", json!({})).await;
    assert_eq!(count["companies"]["totalCount"], 1);
}

/// Mutation fields run in order, and each sees what the ones before it wrote, relations
/// included (no cached row from an earlier field).
#[tokio::test]
async fn later_mutation_fields_see_earlier_changes() {
    let s = TestServer::start().await;
    let company = s.ok("mutation { createCompany(input: { title: \"Old name\" }) { id } }", json!({})).await
        ["createCompany"]["id"]
        .clone();
    let deal =
        s.ok("mutation { createDeal(input: { title: \"D\" }) { id } }", json!({})).await["createDeal"]["id"].clone();
    let r = s
        .ok(
            "mutation($d: ID!, $c: ID!) {
               first: updateDeal(id: $d, input: { companyId: $c }) { company { title } }
               rename: updateCompany(id: $c, input: { title: \"New name\" }) { title }
               last: updateDeal(id: $d, input: { title: \"D2\" }) { company { title } }
             }",
            json!({ "d": deal, "c": company }),
        )
        .await;
    assert_eq!(r["first"]["company"]["title"], "Old name");
    assert_eq!(r["last"]["company"]["title"], "New name", "{r}");
}

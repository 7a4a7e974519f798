//! Company details: our own company and client companies' requisites, IBAN and BIC checks.

use crate::common;

use common::TestServer;
use serde_json::{Value, json};

fn code(v: &Value) -> Value {
    v["errors"][0]["extensions"]["code"].clone()
}

const UPDATE_MINE: &str = "mutation($in: MyCompanyInput!) { updateMyCompany(input: $in) {
    id title isMyCompany requisites { legalName vatId registrationAddress bankAccounts { bankName iban bic } } } }";

#[tokio::test]
async fn our_company_and_client_requisites() {
    let s = TestServer::start().await;
    assert_eq!(s.ok("{ myCompany { id } }", json!({})).await["myCompany"], Value::Null);
    let r = s.gql(UPDATE_MINE, json!({ "in": { "requisites": { "legalName": "Kontor GmbH" } } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "title", "the first time needs a name: {r}");

    let account = json!({ "bankName": "Deutsche Bank", "iban": "de44 5001 0517 5407 3249 31", "bic": "deutdeff" });
    let mine = s
        .ok(UPDATE_MINE, json!({ "in": { "title": "Kontor", "requisites": {
            "legalName": "Kontor GmbH", "vatId": "DE123456789", "registrationAddress": "Berlin", "bankAccounts": [account] } } }))
        .await;
    assert_eq!(mine["updateMyCompany"]["isMyCompany"], true);
    assert_eq!(
        mine["updateMyCompany"]["requisites"]["bankAccounts"],
        json!([{ "bankName": "Deutsche Bank", "iban": "DE44500105175407324931", "bic": "DEUTDEFF" }])
    );
    let again = s.ok("{ myCompany { title requisites { legalName } } }", json!({})).await;
    assert_eq!(again["myCompany"], json!({ "title": "Kontor", "requisites": { "legalName": "Kontor GmbH" } }));

    // A company's own bank fields get the same checks.
    let c = "mutation($in: CompanyInput!) { createCompany(input: $in) { iban bic } }";
    let r = s.gql(c, json!({ "in": { "title": "Client", "iban": "DE44 5001 0517 5407 3249 32" } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "iban", "{r}");
    let r = s.gql(c, json!({ "in": { "title": "Client", "bic": "DEUT" } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "bic", "{r}");
    let ok =
        s.ok(c, json!({ "in": { "title": "Client", "iban": "de44 5001 0517 5407 3249 31", "bic": "deutdeff" } })).await;
    assert_eq!(ok["createCompany"], json!({ "iban": "DE44500105175407324931", "bic": "DEUTDEFF" }));

    // Bad bank details name the field and change nothing.
    for (acc, field) in [
        (json!({ "iban": "DE44 5001 0517 5407 3249 32" }), "bankAccounts[0].iban"),
        (json!({ "iban": "DE44500105175407324931", "bic": "DEUT" }), "bankAccounts[0].bic"),
    ] {
        let r = s
            .gql(UPDATE_MINE, json!({ "in": { "requisites": { "legalName": "Changed", "bankAccounts": [acc] } } }))
            .await;
        assert_eq!(code(&r), "BAD_USER_INPUT", "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field);
    }
    let same = s.ok("{ myCompany { requisites { legalName } } }", json!({})).await;
    assert_eq!(same["myCompany"]["requisites"]["legalName"], "Kontor GmbH");

    // A client company's requisites, in its history.
    let client =
        s.ok("mutation { createCompany(input: { title: \"Client\" }) { id } }", json!({})).await["createCompany"]["id"]
            .clone();
    let set = s
        .ok(
            "mutation($id: ID!) { setCompanyRequisites(companyId: $id, input: { vatId: \"FR40303265045\", taxId: \"303265045\" }) { version requisites { vatId taxId } timeline(first: 1) { edges { node { changes { field newValue } } } } } }",
            json!({ "id": client }),
        )
        .await;
    assert_eq!(set["setCompanyRequisites"]["requisites"], json!({ "vatId": "FR40303265045", "taxId": "303265045" }));
    assert_eq!(set["setCompanyRequisites"]["version"], 2, "requisites are part of the company's version");
    assert_eq!(
        set["setCompanyRequisites"]["timeline"]["edges"][0]["node"]["changes"],
        json!([{ "field": "requisites.vatId", "newValue": "FR40303265045" }, { "field": "requisites.taxId", "newValue": "303265045" }])
    );
    let missing = s
        .gql(
            "mutation { setCompanyRequisites(companyId: \"company:9999\", input: { vatId: \"x\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND");

    // Our own company's details are a setting.
    let rep = s.token_for("rep@example.com", false).await;
    let r = s.gql_as(&rep, UPDATE_MINE, json!({ "in": { "title": "Mine now" } })).await;
    assert_eq!(code(&r), "FORBIDDEN");
}

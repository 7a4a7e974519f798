//! Nothing is lost when duplicates are merged or an element is deleted: activities and their
//! bindings, company requisites and bank accounts, lead conversion records, custom field
//! values and product rows end up where README "Merging and deleting" says.

use crate::common;

use common::TestServer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

async fn create(s: &TestServer, kind: &str, input: Value) -> String {
    let q = format!("mutation($in: {kind}Input!) {{ create{kind}(input: $in) {{ id }} }}");
    id_of(&s.ok(&q, json!({ "in": input })).await[format!("create{kind}").as_str()])
}

/// Creates an activity owned by `owner` and bound to `bindings` too; returns its id.
async fn activity(s: &TestServer, subject: &str, owner: (&str, &str), bindings: &[(&str, &str)]) -> String {
    let r = |(t, id): (&str, &str)| json!({ "type": t, "id": id });
    let input = json!({
        "type": "CALL", "subject": subject, "deadline": "2030-01-01T10:00:00Z",
        "owner": r(owner), "bindings": bindings.iter().copied().map(r).collect::<Vec<_>>(),
    });
    id_of(
        &s.ok("mutation($in: ActivityInput!) { createActivity(input: $in) { id } }", json!({ "in": input })).await["createActivity"],
    )
}

/// (owner, sorted bindings) of an activity, as "TYPE id".
async fn placement(s: &TestServer, id: &str) -> (String, Vec<String>) {
    let d = s
        .ok("query($id: ID!) { activity(id: $id) { owner { type id } bindings { type id } } }", json!({ "id": id }))
        .await;
    let show = |b: &Value| format!("{} {}", b["type"].as_str().unwrap(), b["id"].as_str().unwrap());
    let a = &d["activity"];
    assert!(!a.is_null(), "activity {id} is gone");
    let mut bindings: Vec<String> = a["bindings"].as_array().unwrap().iter().map(show).collect();
    bindings.sort();
    (show(&a["owner"]), bindings)
}

async fn count(s: &TestServer, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let r: N = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    r.n
}

fn num(id: &str) -> i64 {
    id.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn merging_moves_activities_and_bindings_once() {
    let s = TestServer::start().await;
    let keep = create(&s, "Contact", json!({ "lastName": "Keep" })).await;
    let a = create(&s, "Contact", json!({ "lastName": "A" })).await;
    let b = create(&s, "Contact", json!({ "lastName": "B" })).await;
    let company = create(&s, "Company", json!({ "title": "Co" })).await;
    let deal = create(&s, "Deal", json!({ "title": "Deal" })).await;
    let owned_by_a = activity(&s, "owned by a", ("CONTACT", &a), &[("COMPANY", &company)]).await;
    let bound_to_all = activity(&s, "bound to all", ("CONTACT", &keep), &[("CONTACT", &a), ("CONTACT", &b)]).await;
    let bound_to_b = activity(&s, "bound to b", ("DEAL", &deal), &[("CONTACT", &b)]).await;

    let m = s
        .ok(
            "mutation($keep: ID!, $ids: [ID!]!) { mergeContacts(keepId: $keep, mergeIds: $ids) {
               activities { totalCount nodes { id } } } }",
            json!({ "keep": keep, "ids": [a, b] }),
        )
        .await;
    assert_eq!(m["mergeContacts"]["activities"]["totalCount"], 3, "{m}");

    assert_eq!(
        placement(&s, &owned_by_a).await,
        (format!("CONTACT {keep}"), vec![format!("COMPANY {company}"), format!("CONTACT {keep}")])
    );
    assert_eq!(placement(&s, &bound_to_all).await, (format!("CONTACT {keep}"), vec![format!("CONTACT {keep}")]));
    assert_eq!(
        placement(&s, &bound_to_b).await,
        (format!("DEAL {deal}"), vec![format!("CONTACT {keep}"), format!("DEAL {deal}")])
    );
    let gone = format!("{}, {}", num(&a), num(&b));
    assert_eq!(
        count(
            &s,
            &format!("SELECT count(*) AS n FROM activities WHERE owner_type = 'CONTACT' AND owner_id IN ({gone})")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &s,
            &format!(
                "SELECT count(*) AS n FROM activity_bindings WHERE element_type = 'CONTACT' AND element_id IN ({gone})"
            )
        )
        .await,
        0
    );
    // Counters follow: the merged contacts count for nobody, the kept one has the deadlines.
    assert_eq!(
        count(
            &s,
            &format!(
                "SELECT count(*) AS n FROM counter_items WHERE element_type = 'CONTACT' AND element_id IN ({gone})"
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &s,
            &format!(
                "SELECT count(*) AS n FROM counter_items WHERE element_type = 'CONTACT' AND element_id = {} AND earliest IS NOT NULL",
                num(&keep)
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn merging_companies_fills_requisites_custom_values_and_keeps_bank_accounts() {
    let s = TestServer::start().await;
    for (code, ty) in [("UF_NOTE", "STRING"), ("UF_SIZE", "INTEGER"), ("UF_TIER", "STRING")] {
        s.ok(
            "mutation($in: CustomFieldInput!) { createCustomField(elementType: COMPANY, input: $in) { id } }",
            json!({ "in": { "code": code, "label": code, "type": ty } }),
        )
        .await;
    }
    let keep =
        create(&s, "Company", json!({ "title": "Keep", "customFields": [{ "code": "UF_NOTE", "value": "mine" }] }))
            .await;
    let a = create(
        &s,
        "Company",
        json!({ "title": "A", "customFields": [{ "code": "UF_NOTE", "value": "a" }, { "code": "UF_SIZE", "value": 5 }] }),
    )
    .await;
    let b = create(
        &s,
        "Company",
        json!({ "title": "B", "customFields": [{ "code": "UF_SIZE", "value": 7 }, { "code": "UF_TIER", "value": "gold" }] }),
    )
    .await;
    let set = "mutation($id: ID!, $in: RequisitesInput!) { setCompanyRequisites(companyId: $id, input: $in) { id } }";
    s.ok(set, json!({ "id": keep, "in": { "legalName": "Keep GmbH", "bankAccounts": [{ "iban": "DE89370400440532013000" }] } }))
        .await;
    s.ok(
        set,
        json!({ "id": a, "in": { "legalName": "A AG", "vatId": "DE123456789",
                "bankAccounts": [{ "iban": "DE44500105175407324931", "bankName": "A Bank" }] } }),
    )
    .await;
    s.ok(
        set,
        json!({ "id": b, "in": { "vatId": "DE999999999", "taxId": "12/345/67890",
                "bankAccounts": [{ "iban": "DE44 5001 0517 5407 3249 31" }, { "iban": "GB82WEST12345698765432" }] } }),
    )
    .await;

    let m = s
        .ok(
            "mutation($keep: ID!, $ids: [ID!]!) { mergeCompanies(keepId: $keep, mergeIds: $ids) {
               requisites { legalName vatId taxId registrationNumber bankAccounts { iban bankName } }
               customFields { code value } timeline { nodes { kind changes { field } } } } }",
            json!({ "keep": keep, "ids": [a, b] }),
        )
        .await;
    let m = &m["mergeCompanies"];
    assert_eq!(
        m["requisites"],
        json!({ "legalName": "Keep GmbH", "vatId": "DE123456789", "taxId": "12/345/67890", "registrationNumber": null,
                "bankAccounts": [
                    { "iban": "DE89370400440532013000", "bankName": null },
                    { "iban": "DE44500105175407324931", "bankName": "A Bank" },
                    { "iban": "GB82WEST12345698765432", "bankName": null } ] }),
        "{m}"
    );
    let mut custom: Vec<(String, Value)> = m["customFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap().to_owned(), c["value"].clone()))
        .collect();
    custom.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        custom,
        vec![("UF_NOTE".into(), json!("mine")), ("UF_SIZE".into(), json!(5)), ("UF_TIER".into(), json!("gold"))],
        "the kept value wins, empty codes take the first merged value"
    );
    let merged_changes: Vec<String> = m["timeline"]["nodes"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(m["timeline"]["nodes"][0]["kind"], "MERGED");
    for f in ["requisites.vatId", "requisites.bankAccounts", "UF_SIZE"] {
        assert!(merged_changes.iter().any(|c| c == f), "{f} missing from {merged_changes:?}");
    }
    assert_eq!(count(&s, "SELECT count(*) AS n FROM requisites").await, 1);
}

#[tokio::test]
async fn merging_keeps_lead_conversion_records() {
    let s = TestServer::start().await;
    let convert =
        "mutation($id: ID!) { convertLead(input: { leadId: $id, contact: { create: true } }) { contact { id } } }";
    let keep = create(&s, "Lead", json!({ "lastName": "Keep" })).await;
    let first = create(&s, "Lead", json!({ "lastName": "First" })).await;
    let second = create(&s, "Lead", json!({ "lastName": "Second" })).await;
    let c1 = id_of(&s.ok(convert, json!({ "id": first })).await["convertLead"]["contact"]);
    let c2 = id_of(&s.ok(convert, json!({ "id": second })).await["convertLead"]["contact"]);

    let m = s
        .ok(
            "mutation($keep: ID!, $ids: [ID!]!) { mergeLeads(keepId: $keep, mergeIds: $ids) {
               status { semantics } convertedAt convertedContact { id } timeline { nodes { kind changes { field newValue } } } } }",
            json!({ "keep": keep, "ids": [first, second] }),
        )
        .await;
    let m = &m["mergeLeads"];
    assert_eq!(m["status"]["semantics"], "SUCCESS", "{m}");
    assert!(!m["convertedAt"].is_null(), "{m}");
    assert_eq!(m["convertedContact"]["id"], c1.as_str(), "the first merged conversion");
    let changes = m["timeline"]["nodes"][0]["changes"].as_array().unwrap();
    let second_conversion = changes
        .iter()
        .find(|c| c["field"] == format!("mergedConversion.{second}").as_str())
        .unwrap_or_else(|| panic!("no record of {second}'s conversion in {changes:?}"));
    assert!(second_conversion["newValue"].as_str().unwrap().contains(&c2), "{second_conversion}");
    let origins = s
        .ok(
            "query($a: ID!, $b: ID!) { a: contact(id: $a) { originLeadId } b: contact(id: $b) { originLeadId } }",
            json!({ "a": c1, "b": c2 }),
        )
        .await;
    assert_eq!(origins, json!({ "a": { "originLeadId": keep }, "b": { "originLeadId": keep } }));
    assert_eq!(
        count(&s, &format!("SELECT count(*) AS n FROM lead_conversions WHERE lead_id = {}", num(&keep))).await,
        1
    );

    // A merged contact's conversion points at the kept contact, and its origin carries over.
    let lead = create(&s, "Lead", json!({ "lastName": "Third" })).await;
    let converted = id_of(&s.ok(convert, json!({ "id": lead })).await["convertLead"]["contact"]);
    let kept_contact = create(&s, "Contact", json!({ "lastName": "Kept" })).await;
    let m = s
        .ok(
            "mutation($keep: ID!, $ids: [ID!]!) { mergeContacts(keepId: $keep, mergeIds: $ids) { originLeadId } }",
            json!({ "keep": kept_contact, "ids": [converted] }),
        )
        .await;
    assert_eq!(m["mergeContacts"]["originLeadId"], lead.as_str());
    let l = s.ok("query($id: ID!) { lead(id: $id) { convertedContact { id } } }", json!({ "id": lead })).await;
    assert_eq!(l["lead"]["convertedContact"]["id"], kept_contact.as_str());
}

#[tokio::test]
async fn deleting_an_element_takes_its_activities_and_product_rows_along() {
    let s = TestServer::start().await;
    let product = id_of(
        &s.ok(
            "mutation { createProduct(input: { name: \"Screw\", price: \"1.00\", currency: \"EUR\" }) { id } }",
            json!({}),
        )
        .await["createProduct"],
    );
    let lead = create(&s, "Lead", json!({ "lastName": "Gone" })).await;
    let deal = create(&s, "Deal", json!({ "title": "Gone too" })).await;
    let contact = create(&s, "Contact", json!({ "lastName": "Stays" })).await;
    for (t, id) in [("LEAD", &lead), ("DEAL", &deal)] {
        s.ok(
            "mutation($o: ElementRef!, $p: ID!) { setProductRows(owner: $o, rows: [{ productId: $p, quantity: \"2\" }]) { id } }",
            json!({ "o": { "type": t, "id": id }, "p": product }),
        )
        .await;
    }
    let only_lead = activity(&s, "only the lead", ("LEAD", &lead), &[]).await;
    let shared = activity(&s, "shared", ("LEAD", &lead), &[("CONTACT", &contact)]).await;
    let contacts_own = activity(&s, "the contact's", ("CONTACT", &contact), &[("LEAD", &lead)]).await;

    s.ok("mutation($id: ID!) { deleteLead(id: $id) }", json!({ "id": lead })).await;
    let gone = s.gql("query($id: ID!) { activity(id: $id) { id } }", json!({ "id": only_lead })).await;
    assert_eq!(gone["errors"][0]["extensions"]["code"], "NOT_FOUND", "{gone}");
    assert_eq!(placement(&s, &shared).await, (format!("CONTACT {contact}"), vec![format!("CONTACT {contact}")]));
    assert_eq!(placement(&s, &contacts_own).await, (format!("CONTACT {contact}"), vec![format!("CONTACT {contact}")]));
    let c = s
        .ok(
            "query($id: ID!) { contact(id: $id) { activities { totalCount } timeline { nodes { kind text } } } }",
            json!({ "id": contact }),
        )
        .await;
    assert_eq!(c["contact"]["activities"]["totalCount"], 2);
    assert_eq!(c["contact"]["timeline"]["nodes"][0]["kind"], "ACTIVITY_MOVED", "{c}");
    let l = num(&lead);
    assert_eq!(
        count(&s, &format!("SELECT count(*) AS n FROM product_rows WHERE owner_type = 'LEAD' AND owner_id = {l}"))
            .await,
        0
    );
    assert_eq!(
        count(
            &s,
            &format!("SELECT count(*) AS n FROM activity_bindings WHERE element_type = 'LEAD' AND element_id = {l}")
        )
        .await,
        0
    );
    // The lead's own DELETED entry says what went with it (administrators read it).
    let deleted = count(
        &s,
        &format!(
            "SELECT count(*) AS n FROM timeline_entries WHERE element_type = 'LEAD' AND element_id = {l} AND kind = 'DELETED' \
             AND changes @> '[{{\"field\": \"activities\"}}]' AND changes @> '[{{\"field\": \"productRows\"}}]'"
        ),
    )
    .await;
    assert_eq!(deleted, 1);

    // With the deal gone too, no row uses the product: deleting it deletes it.
    s.ok("mutation($id: ID!) { deleteDeal(id: $id) }", json!({ "id": deal })).await;
    assert_eq!(count(&s, "SELECT count(*) AS n FROM product_rows").await, 0);
    s.ok("mutation($id: ID!) { deleteProduct(id: $id) }", json!({ "id": product })).await;
    let p = s.gql("query($id: ID!) { product(id: $id) { id active } }", json!({ "id": product })).await;
    assert_eq!(p["errors"][0]["extensions"]["code"], "NOT_FOUND", "the product was kept: {p}");
}

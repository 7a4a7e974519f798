//! Deal lifecycle over HTTP: product rows and their maths, the catalogue, bad rows, stage
//! moves with closing and reopening, and the funnel and lead conversion figures, all against
//! hand-computed expectations.

use crate::common;

use std::collections::HashMap;

use common::TestServer;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

const SET_ROWS: &str = "mutation($owner: ElementRef!, $rows: [ProductRowInput!]!) {
    setProductRows(owner: $owner, rows: $rows) {
      id productId name unitPrice quantity discountPercent discountAmount taxRate taxIncluded unit sort
      lineNet lineTax lineGross } }";

const DEAL_ROWS: &str = "query($id: ID!) { deal(id: $id) { version currency opportunity isManualOpportunity
    productRows { id productId product { name active } name unitPrice quantity discountPercent discountAmount
      taxRate taxIncluded unit sort lineNet lineTax lineGross }
    totals { net tax gross } } }";

const LEAD_ROWS: &str = "query($id: ID!) { lead(id: $id) { currency opportunity
    productRows { name productId unitPrice lineNet lineTax lineGross } totals { net tax gross } } }";

/// The deal fields the stage tests look at; `$STATE` in a document stands for them.
const DEAL_STATE: &str = "id version stage { code semantics } isWon isClosed closed closeDate probability lostReason";

fn doc(template: &str) -> String {
    template.replace("$STATE", DEAL_STATE)
}

fn deal_ref(id: &str) -> Value {
    json!({ "type": "DEAL", "id": id })
}

fn lead_ref(id: &str) -> Value {
    json!({ "type": "LEAD", "id": id })
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

async fn create_deal(s: &TestServer, input: Value) -> String {
    let d = s.ok("mutation($in: DealInput!) { createDeal(input: $in) { id } }", json!({ "in": input })).await;
    id_of(&d["createDeal"])
}

async fn create_product(s: &TestServer, input: Value) -> String {
    let p = s.ok("mutation($in: ProductInput!) { createProduct(input: $in) { id } }", json!({ "in": input })).await;
    id_of(&p["createProduct"])
}

/// The default pipeline's id and its stage ids by code.
async fn default_stages(s: &TestServer) -> (String, HashMap<String, String>) {
    let data = s.ok("{ pipelines { id isDefault stages { id code semantics } } }", json!({})).await;
    let pipeline = data["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["isDefault"] == true)
        .expect("a default pipeline")
        .clone();
    let stages = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| (st["code"].as_str().unwrap().to_owned(), id_of(st)))
        .collect();
    (id_of(&pipeline), stages)
}

/// A failing request's code and `extensions.field` (empty when absent).
async fn failure(s: &TestServer, query: &str, vars: Value) -> (String, String) {
    let body = s.gql(query, vars).await;
    let ext = &body["errors"][0]["extensions"];
    let code = ext["code"].as_str().unwrap_or_else(|| panic!("expected an error: {body}")).to_owned();
    (code, ext["field"].as_str().unwrap_or("").to_owned())
}

/// Rows in `product_rows` and events in the outbox: what any write leaves behind.
async fn written(s: &TestServer) -> (i64, i64) {
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n_rows: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n_events: i64,
    }
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    let c: Counts = diesel::sql_query(
        "SELECT (SELECT count(*) FROM product_rows) AS n_rows, (SELECT count(*) FROM events) AS n_events",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    (c.n_rows, c.n_events)
}

fn names(rows: &Value) -> Vec<String> {
    rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

fn totals(v: &Value) -> (String, String, String) {
    let t = &v["totals"];
    (
        t["net"].as_str().unwrap().to_owned(),
        t["tax"].as_str().unwrap().to_owned(),
        t["gross"].as_str().unwrap().to_owned(),
    )
}

fn triple(net: &str, tax: &str, gross: &str) -> (String, String, String) {
    (net.to_owned(), tax.to_owned(), gross.to_owned())
}

fn assert_rate(v: &Value, expected: f64, what: &str) {
    let r = v.as_f64().unwrap_or_else(|| panic!("{what}: no rate in {v}"));
    assert!((r - expected).abs() < 1e-9, "{what}: rate {r}, expected {expected}");
}

#[tokio::test]
async fn product_row_maths_over_http() {
    let s = TestServer::start().await;
    let deal = create_deal(&s, json!({ "title": "Rows", "currency": "EUR" })).await;

    // (row, net, tax, gross), computed by hand.
    let cases: [(Value, &str, &str, &str); 5] = [
        // 3 × 100.00 = 300.00, 10 % off = 270.00; 19 % on top = 51.30.
        (
            json!({ "name": "Discounted", "unitPrice": "100.00", "quantity": "3", "discountPercent": "10", "taxRate": "19" }),
            "270.00",
            "51.30",
            "321.30",
        ),
        // (119.00 − 11.90) × 2 = 214.20 gross; / 1.19 = 180.00 net.
        (
            json!({ "name": "Gross price", "unitPrice": "119.00", "quantity": "2", "discountAmount": "11.90",
                    "taxRate": "19", "taxIncluded": true }),
            "180.00",
            "34.20",
            "214.20",
        ),
        // 0.25 × 0.5 = 0.125 → 0.13, half away from zero.
        (json!({ "name": "Half cent", "unitPrice": "0.25", "quantity": "0.5" }), "0.13", "0.00", "0.13"),
        // 10.00 / 1.07 = 9.3457… → 9.35; the tax is the rest.
        (
            json!({ "name": "Included", "unitPrice": "10.00", "quantity": "1", "taxRate": "7", "taxIncluded": true }),
            "9.35",
            "0.65",
            "10.00",
        ),
        // 2.5 × 3.99 = 9.975 → 9.98; 20 % = 1.996 → 2.00.
        (
            json!({ "name": "By weight", "unitPrice": "3.99", "quantity": "2.5", "taxRate": "20", "unit": "kg" }),
            "9.98",
            "2.00",
            "11.98",
        ),
    ];
    let input: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();
    let set = s.ok(SET_ROWS, json!({ "owner": deal_ref(&deal), "rows": input })).await;
    let returned = set["setProductRows"].as_array().unwrap().clone();
    assert_eq!(returned.len(), cases.len());
    let read = s.ok(DEAL_ROWS, json!({ "id": deal })).await;
    let d = &read["deal"];
    let stored = d["productRows"].as_array().unwrap().clone();
    assert_eq!(stored.len(), cases.len());
    for (i, (row_in, net, tax, gross)) in cases.iter().enumerate() {
        for (label, row) in [("returned", &returned[i]), ("stored", &stored[i])] {
            assert_eq!(row["name"], row_in["name"], "{label} row {i} keeps its place");
            assert_eq!(
                (row["lineNet"].as_str(), row["lineTax"].as_str(), row["lineGross"].as_str()),
                (Some(*net), Some(*tax), Some(*gross)),
                "{label} row {i} ({})",
                row_in["name"]
            );
        }
    }
    assert_eq!(stored[1]["discountAmount"], "11.90");
    assert_eq!(stored[1]["taxIncluded"], true);
    assert_eq!(stored[4]["quantity"], "2.5");
    assert_eq!(stored[4]["unit"], "kg");
    assert_eq!(stored[0]["productId"], Value::Null, "free rows name no product");

    // Totals are the sums of the rounded lines.
    assert_eq!(totals(d), triple("469.46", "88.15", "557.61"));
    assert_eq!(d["opportunity"], "557.61", "the opportunity follows the gross total");
    assert_eq!(d["opportunity"], d["totals"]["gross"]);
    assert_eq!(d["currency"], "EUR");
    assert_eq!(d["isManualOpportunity"], false);

    // A manual opportunity stays put when the rows change.
    let manual = s
        .ok(
            "mutation($id: ID!) { updateDeal(id: $id, input: { isManualOpportunity: true }) { isManualOpportunity opportunity } }",
            json!({ "id": deal }),
        )
        .await;
    assert_eq!(manual["updateDeal"]["isManualOpportunity"], true);
    assert_eq!(manual["updateDeal"]["opportunity"], "557.61");
    let half = json!({ "name": "Half cent", "unitPrice": "0.25", "quantity": "0.5" });
    s.ok(SET_ROWS, json!({ "owner": deal_ref(&deal), "rows": [half.clone(), half] })).await;
    let read = s.ok(DEAL_ROWS, json!({ "id": deal })).await;
    let d = &read["deal"];
    assert_eq!(d["productRows"].as_array().unwrap().len(), 2, "the list was replaced");
    // Two rounded lines of 0.13 make 0.26, not round(0.25).
    assert_eq!(totals(d), triple("0.26", "0.00", "0.26"));
    assert_eq!(d["opportunity"], "557.61", "a manual opportunity does not follow the rows");

    // Back to automatic: the opportunity follows the rows again.
    let auto = s
        .ok(
            "mutation($id: ID!) { updateDeal(id: $id, input: { isManualOpportunity: false }) { opportunity } }",
            json!({ "id": deal }),
        )
        .await;
    assert_eq!(auto["updateDeal"]["opportunity"], "0.26");
}

#[tokio::test]
async fn rows_from_the_catalogue_and_product_deletion() {
    let s = TestServer::start().await;
    let created = s
        .ok(
            "mutation { createProduct(input: { name: \"Consulting\", sku: \"CONS-1\", price: \"50.00\", currency: \"eur\",
               taxRate: \"19\", unit: \"h\" }) { id name sku price currency taxIncluded unit active version } }",
            json!({}),
        )
        .await;
    let p = &created["createProduct"];
    assert_eq!(p["price"], "50.00");
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["unit"], "h");
    assert_eq!(p["active"], true);
    assert_eq!(p["taxIncluded"], false);
    let product = id_of(p);
    assert!(product.starts_with("product:"));

    // Only productId and quantity: everything else comes from the catalogue.
    let eur = create_deal(&s, json!({ "title": "EUR deal", "currency": "EUR" })).await;
    let set =
        s.ok(SET_ROWS, json!({ "owner": deal_ref(&eur), "rows": [{ "productId": product, "quantity": "2" }] })).await;
    let row = &set["setProductRows"][0];
    assert_eq!(row["productId"], product.as_str());
    assert_eq!(row["name"], "Consulting");
    assert_eq!(row["unitPrice"], "50.00");
    assert_eq!(row["taxRate"].as_str().unwrap().parse::<f64>().unwrap(), 19.0);
    assert_eq!(row["taxIncluded"], false);
    assert_eq!(row["unit"], "h");
    assert_eq!(
        (row["lineNet"].as_str(), row["lineTax"].as_str(), row["lineGross"].as_str()),
        (Some("100.00"), Some("19.00"), Some("119.00"))
    );
    let read = s.ok(DEAL_ROWS, json!({ "id": eur })).await;
    assert_eq!(read["deal"]["productRows"][0]["product"]["name"], "Consulting");
    assert_eq!(read["deal"]["opportunity"], "119.00");

    // A USD deal cannot take an EUR product, and the failed call writes nothing.
    let usd = create_deal(&s, json!({ "title": "USD deal", "currency": "USD" })).await;
    s.ok(SET_ROWS, json!({ "owner": deal_ref(&usd), "rows": [{ "name": "Setup", "unitPrice": "10.00" }] })).await;
    let before = s.ok(DEAL_ROWS, json!({ "id": usd })).await;
    let counts = written(&s).await;
    let (code, field) =
        failure(&s, SET_ROWS, json!({ "owner": deal_ref(&usd), "rows": [{ "productId": product, "quantity": "1" }] }))
            .await;
    assert_eq!((code.as_str(), field.as_str()), ("BAD_USER_INPUT", "rows[0].productId"));
    let after = s.ok(DEAL_ROWS, json!({ "id": usd })).await;
    assert_eq!(after, before, "a currency mismatch changes nothing");
    assert_eq!(names(&after["deal"]["productRows"]), ["Setup"]);
    assert_eq!(after["deal"]["currency"], "USD");
    assert_eq!(written(&s).await, counts);

    // Rows on a lead: the lead takes the product's currency and gets totals.
    let lead = s.ok("mutation { createLead(input: { title: \"Lead with rows\" }) { id } }", json!({})).await;
    let lead = id_of(&lead["createLead"]);
    s.ok(
        SET_ROWS,
        json!({ "owner": lead_ref(&lead), "rows": [
            { "productId": product, "quantity": "1" },
            { "name": "Travel", "unitPrice": "20.00" }
        ] }),
    )
    .await;
    let l = s.ok(LEAD_ROWS, json!({ "id": lead })).await;
    assert_eq!(names(&l["lead"]["productRows"]), ["Consulting", "Travel"]);
    assert_eq!(totals(&l["lead"]), triple("70.00", "9.50", "79.50"));
    assert_eq!(l["lead"]["opportunity"], "79.50");
    assert_eq!(l["lead"]["currency"], "EUR");

    // An empty list clears the rows.
    let cleared = s.ok(SET_ROWS, json!({ "owner": lead_ref(&lead), "rows": [] })).await;
    assert_eq!(cleared["setProductRows"], json!([]));
    let l = s.ok(LEAD_ROWS, json!({ "id": lead })).await;
    assert_eq!(l["lead"]["productRows"], json!([]));
    assert_eq!(totals(&l["lead"]), triple("0.00", "0.00", "0.00"));

    // A product the EUR deal still uses is deactivated, not deleted.
    let del = s.ok("mutation($id: ID!) { deleteProduct(id: $id) }", json!({ "id": product })).await;
    assert_eq!(del["deleteProduct"], product.as_str());
    let still = s.ok("query($id: ID!) { product(id: $id) { id name active } }", json!({ "id": product })).await;
    assert_eq!(still["product"]["active"], false);
    assert_eq!(still["product"]["name"], "Consulting");
    let inactive = s.ok("{ products(filter: { active: { eq: false } }) { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(inactive["products"]["totalCount"], 1);
    assert_eq!(inactive["products"]["nodes"][0]["id"], product.as_str());
    let read = s.ok(DEAL_ROWS, json!({ "id": eur })).await;
    assert_eq!(read["deal"]["productRows"][0]["product"]["active"], false, "existing rows keep the product");
    assert_eq!(read["deal"]["productRows"][0]["lineGross"], "119.00");

    // A deactivated product cannot be added to a list.
    let other = create_deal(&s, json!({ "title": "Another EUR deal", "currency": "EUR" })).await;
    let (code, field) =
        failure(&s, SET_ROWS, json!({ "owner": deal_ref(&other), "rows": [{ "productId": product }] })).await;
    assert_eq!((code.as_str(), field.as_str()), ("BAD_USER_INPUT", "rows[0].productId"));
    let read = s.ok(DEAL_ROWS, json!({ "id": other })).await;
    assert_eq!(read["deal"]["productRows"], json!([]));

    // An unused product is really deleted.
    let unused = create_product(&s, json!({ "name": "Unused", "price": "5.00", "currency": "EUR" })).await;
    let del = s.ok("mutation($id: ID!) { deleteProduct(id: $id) }", json!({ "id": unused })).await;
    assert_eq!(del["deleteProduct"], unused.as_str());
    assert_eq!(s.err_code("query($id: ID!) { product(id: $id) { id } }", json!({ "id": unused })).await, "NOT_FOUND");
    let all = s.ok("{ products { totalCount } }", json!({})).await;
    assert_eq!(all["products"]["totalCount"], 1, "only the deactivated product is left");
}

#[tokio::test]
async fn bad_rows_and_bad_products_write_nothing() {
    let s = TestServer::start().await;
    let deal = create_deal(&s, json!({ "title": "Guarded", "currency": "EUR" })).await;
    s.ok(SET_ROWS, json!({ "owner": deal_ref(&deal), "rows": [{ "name": "Kept", "unitPrice": "10.00" }] })).await;
    let before = s.ok(DEAL_ROWS, json!({ "id": deal })).await;
    let counts = written(&s).await;
    let good = json!({ "name": "Fine", "unitPrice": "1.00", "quantity": "1" });

    let cases: Vec<(&str, Value, &str)> = vec![
        ("negative quantity", json!([{ "name": "A", "unitPrice": "10.00", "quantity": "-1" }]), "rows[0].quantity"),
        (
            "zero quantity",
            json!([good.clone(), { "name": "A", "unitPrice": "10.00", "quantity": "0" }]),
            "rows[1].quantity",
        ),
        (
            "discount above the unit price",
            json!([{ "name": "A", "unitPrice": "10.00", "discountAmount": "10.01" }]),
            "rows[0].discountAmount",
        ),
        (
            "discount of 101 %",
            json!([{ "name": "A", "unitPrice": "10.00", "discountPercent": "101" }]),
            "rows[0].discountPercent",
        ),
        ("free row without a name", json!([{ "unitPrice": "10.00", "quantity": "2" }]), "rows[0].name"),
        ("unknown product", json!([{ "productId": "product:999999", "quantity": "1" }]), "rows[0].productId"),
    ];
    for (what, rows, expected) in cases {
        let (code, field) = failure(&s, SET_ROWS, json!({ "owner": deal_ref(&deal), "rows": rows })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{what}");
        assert_eq!(field, expected, "{what}");
    }
    // Both kinds of discount at once.
    let (code, field) = failure(
        &s,
        SET_ROWS,
        json!({ "owner": deal_ref(&deal),
                "rows": [{ "name": "A", "unitPrice": "10.00", "discountPercent": "5", "discountAmount": "1.00" }] }),
    )
    .await;
    assert_eq!(code, "BAD_USER_INPUT", "two discounts");
    assert!(field == "rows[0].discountPercent" || field == "rows[0].discountAmount", "two discounts: field {field}");

    // Contacts have no product rows; an unknown deal is not found.
    let contact =
        s.ok("mutation { createContact(input: { firstName: \"Ada\", lastName: \"Row\" }) { id } }", json!({})).await;
    let contact = id_of(&contact["createContact"]);
    let counts_with_contact = written(&s).await;
    let (code, field) =
        failure(&s, SET_ROWS, json!({ "owner": { "type": "CONTACT", "id": contact }, "rows": [good.clone()] })).await;
    assert_eq!((code.as_str(), field.as_str()), ("BAD_USER_INPUT", "owner"));
    assert_eq!(written(&s).await, counts_with_contact, "a contact owner writes nothing");
    let (code, _) = failure(&s, SET_ROWS, json!({ "owner": deal_ref("deal:999999"), "rows": [good] })).await;
    assert_eq!(code, "NOT_FOUND");

    let after = s.ok(DEAL_ROWS, json!({ "id": deal })).await;
    assert_eq!(after, before, "failed calls leave the rows, totals, opportunity and version alone");
    assert_eq!(names(&after["deal"]["productRows"]), ["Kept"]);
    assert_eq!(after["deal"]["opportunity"], "10.00");
    let (rows_now, events_now) = written(&s).await;
    assert_eq!(rows_now, counts.0, "no product row written");
    assert_eq!(events_now, counts_with_contact.1, "no event besides the contact's creation");

    // Products: currency required and valid, price not negative, SKU unique.
    let create = "mutation($in: ProductInput!) { createProduct(input: $in) { id } }";
    let bad_products = [
        ("no currency", json!({ "name": "P", "price": "1.00" }), "currency"),
        ("bad currency", json!({ "name": "P", "price": "1.00", "currency": "EURO" }), "currency"),
        ("negative price", json!({ "name": "P", "price": "-1.00", "currency": "EUR" }), "price"),
    ];
    for (what, input, expected) in bad_products {
        let (code, field) = failure(&s, create, json!({ "in": input })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{what}");
        assert_eq!(field, expected, "{what}");
    }
    create_product(&s, json!({ "name": "Widget", "sku": "W-1", "price": "2.00", "currency": "EUR" })).await;
    let code = s
        .err_code(create, json!({ "in": { "name": "Other widget", "sku": "W-1", "price": "3.00", "currency": "EUR" } }))
        .await;
    assert_eq!(code, "CONFLICT");
    let products = s.ok("{ products { totalCount nodes { name } } }", json!({})).await;
    assert_eq!(products["products"]["totalCount"], 1, "no bad product was stored");
    assert_eq!(products["products"]["nodes"][0]["name"], "Widget");
}

#[tokio::test]
async fn stage_moves_close_and_reopen() {
    let s = TestServer::start().await;
    let (_pipeline, st) = default_stages(&s).await;
    let deal = create_deal(&s, json!({ "title": "Moving", "beginDate": "2025-12-01" })).await;
    let move_doc =
        doc("mutation($id: ID!, $st: ID!, $p: ID) { moveDeal(id: $id, stageId: $st, pipelineId: $p) { $STATE } }");
    let close_doc = doc("mutation($id: ID!, $won: Boolean!, $st: ID, $reason: String, $date: NaiveDate) {
           closeDeal(id: $id, won: $won, stageId: $st, lostReason: $reason, closeDate: $date) { $STATE } }");
    let reopen_doc = doc("mutation($id: ID!, $st: ID) { reopenDeal(id: $id, stageId: $st) { $STATE } }");
    let state_doc = doc("query($id: ID!) { deal(id: $id) { $STATE } }");
    let history_doc =
        "query($id: ID!) { deal(id: $id) { stageHistory { from { code } to { code } at by { email } } } }";
    let moves = |v: &Value| -> Vec<(Option<String>, String)> {
        v["deal"]["stageHistory"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["from"]["code"].as_str().map(str::to_owned), m["to"]["code"].as_str().unwrap().to_owned()))
            .collect()
    };
    let mv = |from: Option<&str>, to: &str| (from.map(str::to_owned), to.to_owned());

    for code in ["PREPARATION", "EXECUTING"] {
        let m = s.ok(&move_doc, json!({ "id": deal, "st": st[code] })).await;
        assert_eq!(m["moveDeal"]["stage"]["code"], code);
        assert_eq!(m["moveDeal"]["isClosed"], false);
    }
    let h = s.ok(history_doc, json!({ "id": deal })).await;
    assert_eq!(moves(&h), [mv(None, "NEW"), mv(Some("NEW"), "PREPARATION"), mv(Some("PREPARATION"), "EXECUTING")]);
    for m in h["deal"]["stageHistory"].as_array().unwrap() {
        assert_eq!(m["by"]["email"], "admin@test.local");
        assert!(m["at"].is_string());
    }

    // Stages of no pipeline, or of another pipeline than asked for.
    assert_eq!(s.err_code(&move_doc, json!({ "id": deal, "st": "stage:999999" })).await, "BAD_USER_INPUT");
    assert_eq!(
        s.err_code(&move_doc, json!({ "id": deal, "st": st["FINAL_INVOICE"], "p": "pipeline:999999" })).await,
        "BAD_USER_INPUT"
    );
    // Rules that need an open deal.
    assert_eq!(s.err_code(&close_doc, json!({ "id": deal, "won": true, "st": st["LOSE"] })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(&close_doc, json!({ "id": deal, "won": false, "st": st["WON"] })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(&close_doc, json!({ "id": deal, "won": true, "reason": "price" })).await, "BAD_USER_INPUT");
    assert_eq!(s.err_code(&reopen_doc, json!({ "id": deal })).await, "CONFLICT");
    let open = s.ok(&state_doc, json!({ "id": deal })).await;
    assert_eq!(open["deal"]["stage"]["code"], "EXECUTING", "failed calls change nothing");
    assert_eq!(open["deal"]["isClosed"], false);
    let version = open["deal"]["version"].clone();

    // Won.
    let won = s.ok(&close_doc, json!({ "id": deal, "won": true })).await;
    let w = &won["closeDeal"];
    assert_eq!(w["stage"]["code"], "WON");
    assert_eq!(w["stage"]["semantics"], "SUCCESS");
    assert_eq!(w["isWon"], true);
    assert_eq!(w["isClosed"], true);
    assert_eq!(w["closed"], true);
    assert_eq!(w["closeDate"], today().as_str());
    assert_eq!(w["probability"], 100);
    assert_eq!(w["lostReason"], Value::Null);
    let won_version = w["version"].clone();
    assert_ne!(won_version, version);

    // A closed deal neither moves nor closes again, nor reopens into a FAILURE stage.
    assert_eq!(s.err_code(&move_doc, json!({ "id": deal, "st": st["PREPARATION"] })).await, "CONFLICT");
    assert_eq!(s.err_code(&close_doc, json!({ "id": deal, "won": false })).await, "CONFLICT");
    assert_eq!(s.err_code(&close_doc, json!({ "id": deal, "won": true })).await, "CONFLICT");
    assert_eq!(s.err_code(&reopen_doc, json!({ "id": deal, "st": st["APOLOGY"] })).await, "BAD_USER_INPUT");
    let still = s.ok(&state_doc, json!({ "id": deal })).await;
    assert_eq!(still["deal"]["stage"]["code"], "WON");
    assert_eq!(still["deal"]["version"], won_version);

    // Reopened at the first stage.
    let reopened = s.ok(&reopen_doc, json!({ "id": deal })).await;
    let r = &reopened["reopenDeal"];
    assert_eq!(r["isClosed"], false);
    assert_eq!(r["isWon"], false);
    assert_eq!(r["stage"]["code"], "NEW");
    assert_eq!(r["closeDate"], Value::Null);
    assert_eq!(r["probability"], 10);

    // Lost, with a reason and a date; the stage defaults to the first FAILURE stage.
    let lost = s.ok(&close_doc, json!({ "id": deal, "won": false, "reason": "price", "date": "2026-01-15" })).await;
    let l = &lost["closeDeal"];
    assert_eq!(l["stage"]["code"], "LOSE");
    assert_eq!(l["stage"]["semantics"], "FAILURE");
    assert_eq!(l["lostReason"], "price");
    assert_eq!(l["closeDate"], "2026-01-15");
    assert_eq!(l["isWon"], false);
    assert_eq!(l["isClosed"], true);
    assert_eq!(l["probability"], 0);

    let h = s.ok(history_doc, json!({ "id": deal })).await;
    assert_eq!(
        moves(&h),
        [
            mv(None, "NEW"),
            mv(Some("NEW"), "PREPARATION"),
            mv(Some("PREPARATION"), "EXECUTING"),
            mv(Some("EXECUTING"), "WON"),
            mv(Some("WON"), "NEW"),
            mv(Some("NEW"), "LOSE"),
        ]
    );
    let t = s
        .ok("query($id: ID!) { deal(id: $id) { timeline(first: 100) { nodes { kind } } } }", json!({ "id": deal }))
        .await;
    let kinds: Vec<&str> =
        t["deal"]["timeline"]["nodes"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("CLOSED"), 2, "won and lost: {kinds:?}");
    assert_eq!(count("REOPENED"), 1, "{kinds:?}");
    assert_eq!(count("STAGE_CHANGED"), 2, "{kinds:?}");
    assert_eq!(kinds[0], "CLOSED", "newest first: {kinds:?}");
    assert_eq!(kinds[1], "REOPENED", "{kinds:?}");

    // moveDeal into the WON stage closes the deal too.
    let other = create_deal(&s, json!({ "title": "Straight to won" })).await;
    let m = s.ok(&move_doc, json!({ "id": other, "st": st["WON"] })).await;
    let m = &m["moveDeal"];
    assert_eq!(m["stage"]["code"], "WON");
    assert_eq!(m["isClosed"], true);
    assert_eq!(m["isWon"], true);
    assert_eq!(m["closeDate"], today().as_str());
    assert_eq!(m["probability"], 100);
    assert_eq!(s.err_code(&close_doc, json!({ "id": other, "won": true })).await, "CONFLICT");
}

type Figures = (i64, Vec<(String, String)>);

fn figures(v: &Value) -> Figures {
    let mut amounts: Vec<(String, String)> = v["amounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no amounts in {v}"))
        .iter()
        .map(|a| (a["currency"].as_str().unwrap().to_owned(), a["amount"].as_str().unwrap().to_owned()))
        .collect();
    amounts.sort();
    (v["count"].as_i64().unwrap(), amounts)
}

fn fig(count: i64, amounts: &[(&str, &str)]) -> Figures {
    (count, amounts.iter().map(|(c, a)| ((*c).to_owned(), (*a).to_owned())).collect())
}

#[tokio::test]
async fn deal_funnel_counts_by_stage_and_currency() {
    let s = TestServer::start().await;
    let (pipeline, st) = default_stages(&s).await;
    let close = "mutation($id: ID!, $won: Boolean!) { closeDeal(id: $id, won: $won) { id } }";
    let mv = "mutation($id: ID!, $st: ID!) { moveDeal(id: $id, stageId: $st) { id } }";
    // (opportunity, currency, where it ends up)
    let plan = [
        ("1000", "EUR", "PREPARATION"),
        ("300.00", "EUR", "PREPARATION"),
        ("250.50", "EUR", "WON"),
        ("200", "USD", "WON"),
        ("700.00", "USD", "LOSE"),
        ("100", "USD", "NEW"),
    ];
    for (i, (amount, currency, target)) in plan.iter().enumerate() {
        let id =
            create_deal(&s, json!({ "title": format!("Funnel {i}"), "opportunity": amount, "currency": currency }))
                .await;
        match *target {
            "PREPARATION" => {
                s.ok(mv, json!({ "id": id, "st": st["PREPARATION"] })).await;
            }
            "WON" => {
                s.ok(close, json!({ "id": id, "won": true })).await;
            }
            "LOSE" => {
                s.ok(close, json!({ "id": id, "won": false })).await;
            }
            _ => {}
        }
    }

    let query = "query($p: ID!, $from: NaiveDate, $to: NaiveDate) { dealFunnel(pipelineId: $p, from: $from, to: $to) {
        stages { stage { code } count amounts { currency amount } }
        won { count amounts { currency amount } } lost { count amounts { currency amount } } winRate } }";
    let f = s.ok(query, json!({ "p": pipeline })).await;
    let f = &f["dealFunnel"];
    let per_stage: Vec<(String, Figures)> = f["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["stage"]["code"].as_str().unwrap().to_owned(), figures(x)))
        .collect();
    let codes: Vec<&str> = per_stage.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE", "APOLOGY"],
        "every stage of the pipeline, in order"
    );
    let expected: HashMap<&str, Figures> = HashMap::from([
        ("NEW", fig(1, &[("USD", "100.00")])),
        ("PREPARATION", fig(2, &[("EUR", "1300.00")])),
        ("PREPAYMENT_INVOICE", fig(0, &[])),
        ("EXECUTING", fig(0, &[])),
        ("FINAL_INVOICE", fig(0, &[])),
        ("WON", fig(2, &[("EUR", "250.50"), ("USD", "200.00")])),
        ("LOSE", fig(1, &[("USD", "700.00")])),
        ("APOLOGY", fig(0, &[])),
    ]);
    for (code, got) in &per_stage {
        assert_eq!(got, &expected[code.as_str()], "stage {code}");
    }
    assert_eq!(figures(&f["won"]), fig(2, &[("EUR", "250.50"), ("USD", "200.00")]));
    assert_eq!(figures(&f["lost"]), fig(1, &[("USD", "700.00")]));
    assert_rate(&f["winRate"], 2.0 / 3.0, "win rate");

    // An open-ended window holds everything; one in the future or the past holds nothing.
    let t = s.ok(query, json!({ "p": pipeline, "to": "2999-12-31" })).await;
    assert_eq!(figures(&t["dealFunnel"]["won"]).0, 2);
    let future = s.ok(query, json!({ "p": pipeline, "from": "2999-01-01" })).await;
    let fut = &future["dealFunnel"];
    for x in fut["stages"].as_array().unwrap() {
        assert_eq!(figures(x), fig(0, &[]), "stage {} in the future", x["stage"]["code"]);
    }
    assert_eq!(figures(&fut["won"]), fig(0, &[]));
    assert_eq!(figures(&fut["lost"]), fig(0, &[]));
    assert_eq!(fut["winRate"], Value::Null, "no closed deal, no win rate");
    let past = s.ok(query, json!({ "p": pipeline, "to": "2000-01-01" })).await;
    assert_eq!(figures(&past["dealFunnel"]["won"]).0, 0);

    assert_eq!(
        s.err_code("{ dealFunnel(pipelineId: \"pipeline:999999\") { winRate } }", json!({})).await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn lead_conversion_by_source_and_assignee() {
    let s = TestServer::start().await;
    let rep_token = s.token_for("rep@test.local", false).await;
    let me = s.gql_as(&rep_token, "{ me { id } }", json!({})).await;
    let rep = me["data"]["me"]["id"].as_str().unwrap_or_else(|| panic!("no user id: {me}")).to_owned();
    let sources = s.ok("{ statusItems(list: SOURCE) { id code } }", json!({})).await;
    let source = |code: &str| -> String {
        let items = sources["statusItems"].as_array().unwrap();
        id_of(items.iter().find(|i| i["code"] == code).unwrap_or_else(|| panic!("no source {code}")))
    };
    let (call, web) = (source("CALL"), source("WEB"));

    // (title, source, assignee: None = the admin who creates it)
    let plan = [
        ("L1", &call, None),
        ("L2", &call, None),
        ("L3", &call, Some(&rep)),
        ("L4", &web, Some(&rep)),
        ("L5", &web, Some(&rep)),
    ];
    let mut leads = HashMap::new();
    for (title, src, assignee) in plan {
        let mut input = json!({ "title": title, "sourceId": src });
        if let Some(a) = assignee {
            input["assignedToId"] = json!(a);
        }
        let l = s.ok("mutation($in: LeadInput!) { createLead(input: $in) { id } }", json!({ "in": input })).await;
        leads.insert(title, id_of(&l["createLead"]));
    }
    let converted = s
        .ok(
            "mutation($id: ID!) { convertLead(input: { leadId: $id, deal: {} }) { lead { status { code } } deal { id title } } }",
            json!({ "id": leads["L1"] }),
        )
        .await;
    assert_eq!(converted["convertLead"]["lead"]["status"]["code"], "CONVERTED");
    assert_eq!(converted["convertLead"]["deal"]["title"], "L1");
    let junked =
        s.ok("mutation($id: ID!) { junkLead(id: $id) { status { code } } }", json!({ "id": leads["L3"] })).await;
    assert_eq!(junked["junkLead"]["status"]["code"], "JUNK");

    let query = "query($by: LeadConversionGroupBy!, $from: NaiveDate) { leadConversion(groupBy: $by, from: $from) {
        source { code } assignee { email } created converted junked conversionRate } }";

    // By source: CALL 3 created, 1 converted, 1 junked; WEB 2 created, none converted or junked.
    let by_source = s.ok(query, json!({ "by": "SOURCE" })).await;
    let groups = by_source["leadConversion"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let group = |code: &str| {
        groups.iter().find(|g| g["source"]["code"] == code).unwrap_or_else(|| panic!("no group {code}: {groups:?}"))
    };
    let call_g = group("CALL");
    assert_eq!((&call_g["created"], &call_g["converted"], &call_g["junked"]), (&json!(3), &json!(1), &json!(1)));
    assert_rate(&call_g["conversionRate"], 1.0 / 3.0, "CALL");
    assert_eq!(call_g["assignee"], Value::Null);
    let web_g = group("WEB");
    assert_eq!((&web_g["created"], &web_g["converted"], &web_g["junked"]), (&json!(2), &json!(0), &json!(0)));
    assert_rate(&web_g["conversionRate"], 0.0, "WEB");

    // By assignee: the admin 2 created, 1 converted; the rep 3 created, 1 junked.
    let by_user = s.ok(query, json!({ "by": "ASSIGNEE" })).await;
    let groups = by_user["leadConversion"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let group = |email: &str| {
        groups
            .iter()
            .find(|g| g["assignee"]["email"] == email)
            .unwrap_or_else(|| panic!("no group {email}: {groups:?}"))
    };
    let admin_g = group("admin@test.local");
    assert_eq!((&admin_g["created"], &admin_g["converted"], &admin_g["junked"]), (&json!(2), &json!(1), &json!(0)));
    assert_rate(&admin_g["conversionRate"], 0.5, "admin");
    assert_eq!(admin_g["source"], Value::Null);
    let rep_g = group("rep@test.local");
    assert_eq!((&rep_g["created"], &rep_g["converted"], &rep_g["junked"]), (&json!(3), &json!(0), &json!(1)));
    assert_rate(&rep_g["conversionRate"], 0.0, "rep");

    // Nothing was created in the future.
    let future = s.ok(query, json!({ "by": "SOURCE", "from": "2999-01-01" })).await;
    let created: i64 =
        future["leadConversion"].as_array().unwrap().iter().map(|g| g["created"].as_i64().unwrap()).sum();
    assert_eq!(created, 0);
}

#[tokio::test]
async fn a_deal_moves_into_another_pipeline() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let s = TestServer::start().await;
    // Pipelines are created through settings (a later capability); make one directly.
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let p: Id =
        diesel::sql_query("INSERT INTO pipelines (name, is_default, sort) VALUES ('Partners', false, 20) RETURNING id")
            .get_result(&mut conn)
            .await
            .unwrap();
    kontor::settings::rules::create_default_stages(&mut conn, p.id).await.unwrap();
    let second = format!("pipeline:{}", p.id);

    let data = s.ok("{ pipelines { id isDefault stages { id code } } }", json!({})).await;
    let pipelines = data["pipelines"].as_array().unwrap().clone();
    let other = pipelines.iter().find(|p| p["id"] == second.as_str()).expect("second pipeline listed");
    let prep = other["stages"].as_array().unwrap().iter().find(|st| st["code"] == "PREPARATION").unwrap()["id"].clone();

    let deal = s.ok("mutation { createDeal(input: { title: \"Moves\" }) { id pipelineId } }", json!({})).await;
    let id = deal["createDeal"]["id"].as_str().unwrap().to_owned();
    assert_ne!(deal["createDeal"]["pipelineId"], second.as_str());

    // A stage of another pipeline needs that pipeline named.
    let code = s
        .err_code(
            "mutation($id: ID!, $st: ID!) { moveDeal(id: $id, stageId: $st) { id } }",
            json!({ "id": id, "st": prep }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");

    let moved = s
        .ok(
            "mutation($id: ID!, $st: ID!, $p: ID!) { moveDeal(id: $id, stageId: $st, pipelineId: $p) {
               pipelineId stage { id code } closed stageHistory { from { code } to { id code } } } }",
            json!({ "id": id, "st": prep, "p": second }),
        )
        .await;
    let m = &moved["moveDeal"];
    assert_eq!(m["pipelineId"], second.as_str());
    assert_eq!(m["stage"]["id"], prep);
    assert_eq!(m["closed"], false);
    let history = m["stageHistory"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["from"]["code"], "NEW");
    assert_eq!(history[1]["to"]["id"], prep);
}

//! Rights on every write path: conversion, activities, the product catalogue, product rows,
//! merges, comments, my company, lifecycle steps, and operations over an open WebSocket. Each
//! refused write is checked to have written nothing.

use crate::common;

use std::time::Duration;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// Role lines: the same `level` for each action on each element type.
fn lines(types: &[&str], actions: &[(&str, &str)]) -> Value {
    let mut out = Vec::new();
    for t in types {
        for (action, level) in actions {
            out.push(json!({ "elementType": t, "action": action, "level": level }));
        }
    }
    Value::Array(out)
}

const ALL_TYPES: [&str; 4] = ["LEAD", "CONTACT", "COMPANY", "DEAL"];

struct W {
    s: TestServer,
    admin: String,
}

struct User {
    id: String,
    token: String,
    role: Option<String>,
}

impl W {
    async fn new() -> W {
        let s = TestServer::start().await;
        let admin = s.ok("{ me { id } }", json!({})).await["me"]["id"].as_str().unwrap().to_owned();
        W { s, admin }
    }

    /// A user with one role of `lines` (and the settings right if asked), or with no role
    /// at all when `lines` is null and `settings` false.
    async fn user(&self, email: &str, settings: bool, lines: Value) -> User {
        let role = if lines.is_null() && !settings {
            None
        } else {
            let r = self
                .s
                .ok(
                    "mutation($n: String!, $s: Boolean) { createRole(name: $n, canManageSettings: $s) { id } }",
                    json!({ "n": format!("role of {email}"), "s": settings }),
                )
                .await["createRole"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let lines = if lines.is_null() { json!([]) } else { lines };
            self.s
                .ok(
                    "mutation($r: ID!, $p: [PermissionInput!]!) { setRolePermissions(roleId: $r, permissions: $p) { id } }",
                    json!({ "r": r, "p": lines }),
                )
                .await;
            Some(r)
        };
        let roles: Vec<&String> = role.iter().collect();
        let id = self
            .s
            .ok(
                "mutation($e: String!, $r: [ID!]) { createUser(input: { email: $e, roleIds: $r }) { id } }",
                json!({ "e": email, "r": roles }),
            )
            .await["createUser"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = self
            .s
            .ok("mutation($u: ID!) { createApiToken(userId: $u, name: \"t\") { token } }", json!({ "u": id }))
            .await["createApiToken"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        User { id, token, role }
    }

    /// Runs a create mutation as the admin and returns the new id at `field`.
    async fn create(&self, query: &str, variables: Value) -> String {
        let d = self.s.ok(query, variables).await;
        let (_, v) = d.as_object().unwrap().iter().next().unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    async fn lead(&self, title: &str, assignee: &str) -> String {
        self.create(
            "mutation($t: String!, $u: ID!) { createLead(input: { title: $t, firstName: \"Eva\", lastName: \"Kern\", companyTitle: \"Kern GmbH\", assignedToId: $u }) { id } }",
            json!({ "t": title, "u": assignee }),
        )
        .await
    }

    async fn deal(&self, title: &str, assignee: &str) -> String {
        self.create(
            "mutation($t: String!, $u: ID!) { createDeal(input: { title: $t, assignedToId: $u }) { id } }",
            json!({ "t": title, "u": assignee }),
        )
        .await
    }

    async fn contact(&self, name: &str, assignee: &str) -> String {
        self.create(
            "mutation($t: String!, $u: ID!) { createContact(input: { lastName: $t, assignedToId: $u }) { id } }",
            json!({ "t": name, "u": assignee }),
        )
        .await
    }

    async fn company(&self, title: &str, assignee: &str) -> String {
        self.create(
            "mutation($t: String!, $u: ID!) { createCompany(input: { title: $t, assignedToId: $u }) { id } }",
            json!({ "t": title, "u": assignee }),
        )
        .await
    }

    async fn as_user(&self, u: &User, query: &str, variables: Value) -> Value {
        self.s.gql_as(&u.token, query, variables).await
    }

    /// What the admin sees of `query`, to compare before and after a refused write.
    async fn seen(&self, query: &str, variables: Value) -> Value {
        self.s.ok(query, variables).await
    }
}

#[tokio::test]
async fn converting_a_lead_needs_write_on_it_add_for_what_it_creates_and_write_on_what_it_fills() {
    let w = W::new().await;
    // LEAD WRITE = OWN, everything else it may need.
    let own_writer = w
        .user(
            "own@example.com",
            false,
            json!([
                { "elementType": "LEAD", "action": "READ", "level": "ALL" },
                { "elementType": "LEAD", "action": "WRITE", "level": "OWN" },
                { "elementType": "CONTACT", "action": "READ", "level": "ALL" },
                { "elementType": "CONTACT", "action": "ADD", "level": "ALL" },
                { "elementType": "COMPANY", "action": "READ", "level": "ALL" },
                { "elementType": "COMPANY", "action": "ADD", "level": "ALL" },
                { "elementType": "DEAL", "action": "READ", "level": "ALL" },
                { "elementType": "DEAL", "action": "ADD", "level": "ALL" },
            ]),
        )
        .await;
    let colleagues = w.lead("Colleague's lead", &w.admin).await;
    let convert = "mutation($l: ID!) { convertLead(input: { leadId: $l, contact: { create: true }, company: { create: true }, deal: {} }) { lead { id } } }";
    let state = "query($l: ID!) { lead(id: $l) { version status { code } } contacts { totalCount } companies { totalCount } deals { totalCount } }";
    let before = w.seen(state, json!({ "l": colleagues })).await;
    let r = w.as_user(&own_writer, convert, json!({ "l": colleagues })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(state, json!({ "l": colleagues })).await, before, "nothing was written");
    assert_eq!(before["lead"]["status"]["code"], "NEW");

    // Their own lead converts.
    let mine = w.lead("My lead", &own_writer.id).await;
    let r = w.as_user(&own_writer, convert, json!({ "l": mine })).await;
    assert!(r.get("errors").is_none(), "{r}");

    // ADD is judged on the row conversion would create: a deal assigned like the lead.
    let own_deals = w
        .user(
            "deals@example.com",
            false,
            json!([
                { "elementType": "LEAD", "action": "READ", "level": "ALL" },
                { "elementType": "LEAD", "action": "WRITE", "level": "ALL" },
                { "elementType": "CONTACT", "action": "READ", "level": "ALL" },
                { "elementType": "DEAL", "action": "READ", "level": "ALL" },
                { "elementType": "DEAL", "action": "ADD", "level": "OWN" },
            ]),
        )
        .await;
    let deal_only = "mutation($l: ID!) { convertLead(input: { leadId: $l, deal: {} }) { deal { id } } }";
    let before = w.seen(state, json!({ "l": colleagues })).await;
    let r = w.as_user(&own_deals, deal_only, json!({ "l": colleagues })).await;
    assert_eq!(code(&r), "FORBIDDEN", "the deal would be the colleague's: {r}");
    assert_eq!(w.seen(state, json!({ "l": colleagues })).await, before);
    let theirs = w.lead("Their lead", &own_deals.id).await;
    let r = w.as_user(&own_deals, deal_only, json!({ "l": theirs })).await;
    assert!(r["data"]["convertLead"]["deal"]["id"].is_string(), "{r}");

    // An existing contact it would fill needs WRITE.
    let contact = w.contact("Kern", &w.admin).await;
    let another = w.lead("Another lead", &own_deals.id).await;
    let contact_state =
        "query($c: ID!, $l: ID!) { contact(id: $c) { version } lead(id: $l) { version status { code } } }";
    let vars = json!({ "c": contact, "l": another });
    let before = w.seen(contact_state, vars.clone()).await;
    let r = w
        .as_user(
            &own_deals,
            "mutation($l: ID!, $c: ID!) { convertLead(input: { leadId: $l, contact: { existingId: $c } }) { lead { id } } }",
            json!({ "l": another, "c": contact }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(contact_state, vars).await, before);

    // Completing the lead's open activities needs WRITE on every element they are bound to.
    let with_call = w.lead("With a call", &own_deals.id).await;
    let colleagues_deal = w.deal("Colleague's deal", &w.admin).await;
    let call = w
        .create(
            "mutation($l: ID!, $d: ID!) { createActivity(input: { type: \"CALL\", subject: \"Call\", owner: { type: LEAD, id: $l }, bindings: [{ type: DEAL, id: $d }] }) { id } }",
            json!({ "l": with_call, "d": colleagues_deal }),
        )
        .await;
    let call_state = "query($a: ID!, $l: ID!) { activity(id: $a) { version completed bindings { id } } lead(id: $l) { version } deals { totalCount } }";
    let vars = json!({ "a": call, "l": with_call });
    let before = w.seen(call_state, vars.clone()).await;
    let r = w.as_user(&own_deals, deal_only, json!({ "l": with_call })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(call_state, vars).await, before);
    let r = w
        .as_user(
            &own_deals,
            "mutation($l: ID!) { convertLead(input: { leadId: $l, deal: {}, completeActivities: false }) { deal { id } } }",
            json!({ "l": with_call }),
        )
        .await;
    assert!(r["data"]["convertLead"]["deal"]["id"].is_string(), "{r}");
}

#[tokio::test]
async fn activities_need_write_on_the_owner_and_every_binding() {
    let w = W::new().await;
    let reader = w.user("reader@example.com", false, lines(&ALL_TYPES, &[("READ", "ALL")])).await;
    let deal = w.deal("Colleague's deal", &w.admin).await;
    let create = "mutation($o: ID!, $b: [ElementRef!]) { createActivity(input: { type: \"CALL\", subject: \"Call\", owner: { type: DEAL, id: $o }, bindings: $b }) { id } }";
    let all = "{ activities { totalCount } }";
    let r = w.as_user(&reader, create, json!({ "o": deal })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(all, json!({})).await["activities"]["totalCount"], 0);

    let a = w.create(create, json!({ "o": deal })).await;
    let done = w.create(create, json!({ "o": deal })).await;
    w.s.ok("mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": done })).await;
    let state = "query($a: ID!, $d: ID!, $deal: ID!) { a: activity(id: $a) { version subject completed } d: activity(id: $d) { version completed } activities { totalCount } deal(id: $deal) { timeline { totalCount } } }";
    let vars = json!({ "a": a, "d": done, "deal": deal });
    let before = w.seen(state, vars.clone()).await;
    for (query, id) in [
        ("mutation($id: ID!) { updateActivity(id: $id, input: { subject: \"Mine now\" }) { id } }", &a),
        ("mutation($id: ID!) { completeActivity(id: $id) { id } }", &a),
        ("mutation($id: ID!) { reopenActivity(id: $id) { id } }", &done),
        ("mutation($id: ID!) { deleteActivity(id: $id) }", &a),
    ] {
        let r = w.as_user(&reader, query, json!({ "id": id })).await;
        assert_eq!(code(&r), "FORBIDDEN", "{query}: {r}");
    }
    assert_eq!(w.seen(state, vars.clone()).await, before, "nothing was written");
    // Seeing them needs only READ on the owner.
    let r = w.as_user(&reader, "query($id: ID!) { activity(id: $id) { subject } }", json!({ "id": a })).await;
    assert_eq!(r["data"]["activity"]["subject"], "Call", "{r}");

    // Bindings: WRITE on what an activity reaches and on what it leaves.
    let writer = w
        .user(
            "writer@example.com",
            false,
            json!([
                { "elementType": "DEAL", "action": "READ", "level": "ALL" },
                { "elementType": "DEAL", "action": "WRITE", "level": "OWN" },
            ]),
        )
        .await;
    let mine = w.deal("My deal", &writer.id).await;
    let theirs = json!([{ "type": "DEAL", "id": deal }]);
    let r = w.as_user(&writer, create, json!({ "o": mine, "b": theirs })).await;
    assert_eq!(code(&r), "FORBIDDEN", "binding a colleague's deal: {r}");
    let r = w.as_user(&writer, create, json!({ "o": mine })).await;
    let own = r["data"]["createActivity"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let rebind = "mutation($id: ID!, $b: [ElementRef!]) { updateActivity(id: $id, input: { bindings: $b }) { id } }";
    let r = w.as_user(&writer, rebind, json!({ "id": own, "b": theirs })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let shared = w.create(create, json!({ "o": mine, "b": theirs })).await;
    let bound = "query($id: ID!) { activity(id: $id) { version completed bindings { id } } }";
    let before = w.seen(bound, json!({ "id": shared })).await;
    let r = w.as_user(&writer, rebind, json!({ "id": shared, "b": [] })).await;
    assert_eq!(code(&r), "FORBIDDEN", "unbinding a colleague's deal: {r}");
    let r =
        w.as_user(&writer, "mutation($id: ID!) { completeActivity(id: $id) { id } }", json!({ "id": shared })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(bound, json!({ "id": shared })).await, before);
    assert_eq!(before["activity"]["bindings"].as_array().unwrap().len(), 2);
    let r = w
        .as_user(&writer, "mutation($id: ID!) { completeActivity(id: $id) { completed } }", json!({ "id": own }))
        .await;
    assert_eq!(r["data"]["completeActivity"]["completed"], true, "{r}");
}

#[tokio::test]
async fn the_product_catalogue_needs_the_settings_right_and_everyone_reads_it() {
    let w = W::new().await;
    let nobody = w.user("nobody@example.com", false, Value::Null).await;
    assert!(nobody.role.is_none());
    let product = w
        .create(
            "mutation { createProduct(input: { name: \"Screw\", price: \"1.00\", currency: \"EUR\" }) { id } }",
            json!({}),
        )
        .await;
    let state = "{ products { totalCount nodes { id version price active } } }";
    let before = w.seen(state, json!({})).await;
    for (query, vars) in [
        ("mutation($id: ID!) { updateProduct(id: $id, input: { price: \"0.01\" }) { id } }", json!({ "id": product })),
        ("mutation { createProduct(input: { name: \"Bolt\", price: \"2.00\", currency: \"EUR\" }) { id } }", json!({})),
        ("mutation($id: ID!) { deleteProduct(id: $id) }", json!({ "id": product })),
        // Validation comes after the right.
        ("mutation($id: ID!) { updateProduct(id: $id, input: { name: \"\" }) { id } }", json!({ "id": product })),
    ] {
        let r = w.as_user(&nobody, query, vars).await;
        assert_eq!(code(&r), "FORBIDDEN", "{query}: {r}");
    }
    assert_eq!(w.seen(state, json!({})).await, before, "nothing was written");
    let read = w.as_user(&nobody, state, json!({})).await;
    assert_eq!(read["data"], before, "everyone reads the catalogue");

    let manager = w.user("manager@example.com", true, Value::Null).await;
    let r = w
        .as_user(
            &manager,
            "mutation($id: ID!) { updateProduct(id: $id, input: { price: \"1.10\" }) { price } }",
            json!({ "id": product }),
        )
        .await;
    assert_eq!(r["data"]["updateProduct"]["price"], "1.10", "{r}");
}

#[tokio::test]
async fn product_rows_check_write_on_the_owner_before_the_rows() {
    let w = W::new().await;
    let reader = w.user("reader@example.com", false, lines(&["DEAL", "LEAD"], &[("READ", "ALL")])).await;
    let deal = w.deal("Colleague's deal", &w.admin).await;
    let set = "mutation($o: ID!, $rows: [ProductRowInput!]!) { setProductRows(owner: { type: DEAL, id: $o }, rows: $rows) { id } }";
    w.s.ok(set, json!({ "o": deal, "rows": [{ "name": "Consulting", "unitPrice": "100", "quantity": "2" }] })).await;
    let state = "query($d: ID!) { deal(id: $d) { version opportunity productRows { name unitPrice quantity } } }";
    let before = w.seen(state, json!({ "d": deal })).await;
    // Rows that would fail validation: the caller still only learns FORBIDDEN.
    let bad_rows = json!([{ "productId": "product:999999", "quantity": "-1" }]);
    let r = w.as_user(&reader, set, json!({ "o": deal, "rows": bad_rows })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let good_rows = json!([{ "name": "Cheap", "unitPrice": "0.01", "quantity": "1" }]);
    let r = w.as_user(&reader, set, json!({ "o": deal, "rows": good_rows })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(state, json!({ "d": deal })).await, before, "nothing was written");
    let lead = w.lead("Colleague's lead", &w.admin).await;
    let r = w
        .as_user(
            &reader,
            "mutation($o: ID!, $rows: [ProductRowInput!]!) { setProductRows(owner: { type: LEAD, id: $o }, rows: $rows) { id } }",
            json!({ "o": lead, "rows": bad_rows }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let own_reader = w.user("own@example.com", false, lines(&["DEAL"], &[("READ", "OWN")])).await;
    let r = w.as_user(&own_reader, set, json!({ "o": deal, "rows": good_rows })).await;
    assert_eq!(code(&r), "NOT_FOUND", "a deal the caller cannot read: {r}");
}

#[tokio::test]
async fn merges_need_write_on_the_kept_element_and_delete_on_each_merged_one() {
    let w = W::new().await;
    let u = w
        .user(
            "merger@example.com",
            false,
            json!([
                { "elementType": "CONTACT", "action": "READ", "level": "ALL" },
                { "elementType": "CONTACT", "action": "WRITE", "level": "OWN" },
                { "elementType": "CONTACT", "action": "DELETE", "level": "OWN" },
            ]),
        )
        .await;
    let theirs = w.contact("Colleague", &w.admin).await;
    let mine = w.contact("Mine", &u.id).await;
    let mine_too = w.contact("Mine too", &u.id).await;
    let merge = "mutation($k: ID!, $m: [ID!]!) { mergeContacts(keepId: $k, mergeIds: $m) { id } }";
    let state = "{ contacts { totalCount nodes { id version } } }";
    let before = w.seen(state, json!({})).await;
    let r = w.as_user(&u, merge, json!({ "k": theirs, "m": [mine] })).await;
    assert_eq!(code(&r), "FORBIDDEN", "no WRITE on the kept one: {r}");
    let r = w.as_user(&u, merge, json!({ "k": mine, "m": [theirs] })).await;
    assert_eq!(code(&r), "FORBIDDEN", "no DELETE on a merged one: {r}");
    let r = w.as_user(&u, merge, json!({ "k": mine, "m": [mine_too, theirs] })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(state, json!({})).await, before, "nothing was written");
    let r = w.as_user(&u, merge, json!({ "k": mine, "m": [mine_too] })).await;
    assert_eq!(r["data"]["mergeContacts"]["id"], mine.as_str(), "{r}");
}

#[tokio::test]
async fn comments_need_write_on_the_element() {
    let w = W::new().await;
    let reader = w.user("reader@example.com", false, lines(&["LEAD"], &[("READ", "ALL")])).await;
    let writer = w.user("writer@example.com", false, lines(&["LEAD"], &[("READ", "ALL"), ("WRITE", "ALL")])).await;
    let stranger = w.user("stranger@example.com", false, lines(&["LEAD"], &[("READ", "OWN"), ("WRITE", "OWN")])).await;
    let lead = w.lead("Colleague's lead", &w.admin).await;
    let comment = "mutation($id: ID!, $t: String!) { addComment(element: { type: LEAD, id: $id }, text: $t) { id } }";
    let state = "query($id: ID!) { timeline(element: { type: LEAD, id: $id }) { totalCount } }";
    let before = w.seen(state, json!({ "id": lead })).await;
    let r = w.as_user(&reader, comment, json!({ "id": lead, "t": "just looking" })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = w.as_user(&reader, comment, json!({ "id": lead, "t": "  " })).await;
    assert_eq!(code(&r), "FORBIDDEN", "the right before the text: {r}");
    let r = w.as_user(&stranger, comment, json!({ "id": lead, "t": "hello" })).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
    assert_eq!(w.seen(state, json!({ "id": lead })).await, before, "nothing was written");
    let r = w.as_user(&writer, comment, json!({ "id": lead, "t": "called back" })).await;
    assert!(r["data"]["addComment"]["id"].is_string(), "{r}");
    let after = w.seen(state, json!({ "id": lead })).await;
    assert_eq!(after["timeline"]["totalCount"], before["timeline"]["totalCount"].as_i64().unwrap() + 1);
}

#[tokio::test]
async fn my_company_needs_the_settings_right_through_every_write() {
    let w = W::new().await;
    let everything = lines(&ALL_TYPES, &[("READ", "ALL"), ("ADD", "ALL"), ("WRITE", "ALL"), ("DELETE", "ALL")]);
    let sales = w.user("sales@example.com", false, everything.clone()).await;
    let office = w.user("office@example.com", true, everything).await;
    let ours = w
        .s
        .ok("mutation { updateMyCompany(input: { title: \"Kontor GmbH\" }) { id } }", json!({}))
        .await["updateMyCompany"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = w.company("Client AG", &w.admin).await;
    let lead = w.lead("A lead", &sales.id).await;
    let state = "query($m: ID!, $c: ID!) { myCompany { id } m: company(id: $m) { version title isMyCompany requisites { legalName } } c: company(id: $c) { version isMyCompany } companies { totalCount } }";
    let vars = json!({ "m": ours, "c": client });
    let before = w.seen(state, vars.clone()).await;
    let tries = [
        ("mutation { createCompany(input: { title: \"Us too\", isMyCompany: true }) { id } }", json!({})),
        ("mutation($id: ID!) { updateCompany(id: $id, input: { title: \"Renamed\" }) { id } }", json!({ "id": ours })),
        ("mutation($id: ID!) { updateCompany(id: $id, input: { isMyCompany: false }) { id } }", json!({ "id": ours })),
        ("mutation($id: ID!) { updateCompany(id: $id, input: { isMyCompany: true }) { id } }", json!({ "id": client })),
        (
            "mutation($id: ID!) { setCompanyRequisites(companyId: $id, input: { legalName: \"Other GmbH\" }) { id } }",
            json!({ "id": ours }),
        ),
        ("mutation($id: ID!) { deleteCompany(id: $id) }", json!({ "id": ours })),
        (
            "mutation($k: ID!, $m: ID!) { mergeCompanies(keepId: $k, mergeIds: [$m]) { id } }",
            json!({ "k": ours, "m": client }),
        ),
        (
            "mutation($k: ID!, $m: ID!) { mergeCompanies(keepId: $k, mergeIds: [$m]) { id } }",
            json!({ "k": client, "m": ours }),
        ),
        (
            "mutation($l: ID!, $c: ID!) { convertLead(input: { leadId: $l, company: { existingId: $c } }) { lead { id } } }",
            json!({ "l": lead, "c": ours }),
        ),
        ("mutation { updateMyCompany(input: { title: \"Renamed\" }) { id } }", json!({})),
    ];
    for (query, v) in &tries {
        let r = w.as_user(&sales, query, v.clone()).await;
        assert_eq!(code(&r), "FORBIDDEN", "{query}: {r}");
    }
    assert_eq!(w.seen(state, vars.clone()).await, before, "nothing was written");
    assert_eq!(before["myCompany"]["id"], ours.as_str());

    // The settings right may.
    let r = w
        .as_user(
            &office,
            "mutation($id: ID!) { updateCompany(id: $id, input: { title: \"Kontor AG\" }) { title } }",
            json!({ "id": ours }),
        )
        .await;
    assert_eq!(r["data"]["updateCompany"]["title"], "Kontor AG", "{r}");
    let r = w
        .as_user(
            &office,
            "mutation($id: ID!) { setCompanyRequisites(companyId: $id, input: { legalName: \"Kontor AG\" }) { id } }",
            json!({ "id": ours }),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    // Other companies stay plain element writes.
    let r = w
        .as_user(
            &sales,
            "mutation($id: ID!) { updateCompany(id: $id, input: { title: \"Client GmbH\" }) { title } }",
            json!({ "id": client }),
        )
        .await;
    assert_eq!(r["data"]["updateCompany"]["title"], "Client GmbH", "{r}");
}

#[tokio::test]
async fn lifecycle_steps_check_write_before_anything_else() {
    let w = W::new().await;
    let reader = w.user("reader@example.com", false, lines(&["DEAL", "LEAD"], &[("READ", "ALL")])).await;
    let open = w.deal("Open deal", &w.admin).await;
    let closed = w.deal("Closed deal", &w.admin).await;
    w.s.ok("mutation($id: ID!) { closeDeal(id: $id, won: true) { id } }", json!({ "id": closed })).await;
    let lead = w.lead("A lead", &w.admin).await;
    let state = "query($o: ID!, $c: ID!, $l: ID!) { o: deal(id: $o) { version } c: deal(id: $c) { version } lead(id: $l) { version } }";
    let vars = json!({ "o": open, "c": closed, "l": lead });
    let before = w.seen(state, vars.clone()).await;
    // Each would fail validation or conflict for someone allowed to write; this caller only
    // learns FORBIDDEN.
    let tries = [
        ("mutation($id: ID!) { moveDeal(id: $id, stageId: \"stage:999999\") { id } }", &open),
        ("mutation($id: ID!) { closeDeal(id: $id, won: true) { id } }", &closed),
        ("mutation($id: ID!) { closeDeal(id: $id, won: true, lostReason: \"x\") { id } }", &open),
        ("mutation($id: ID!) { reopenDeal(id: $id) { id } }", &open),
        ("mutation($id: ID!) { reopenDeal(id: $id) { id } }", &closed),
        ("mutation($id: ID!) { updateDeal(id: $id, input: { title: \"x\" }, expectedVersion: 99) { id } }", &open),
        ("mutation($id: ID!) { setLeadStatus(id: $id, statusId: \"status:999999\") { id } }", &lead),
        ("mutation($id: ID!) { junkLead(id: $id, statusId: \"status:999999\") { id } }", &lead),
        ("mutation($id: ID!) { junkLead(id: $id) { id } }", &lead),
    ];
    for (query, id) in tries {
        let r = w.as_user(&reader, query, json!({ "id": id })).await;
        assert_eq!(code(&r), "FORBIDDEN", "{query}: {r}");
    }
    assert_eq!(w.seen(state, vars).await, before, "nothing was written");
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &TestServer, token: &str) -> Ws {
    let mut req = format!("ws://{}/graphql", s.addr).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an ack").unwrap().unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["type"], "connection_ack", "{v}");
            return ws;
        }
    }
}

/// What a query or mutation sent over the socket answers: its payload, or the close code
/// when the server ends the connection first.
async fn over_ws(ws: &mut Ws, id: &str, query: &str, variables: Value) -> Result<Value, u16> {
    let msg = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
    if ws.send(Message::Text(msg.to_string().into())).await.is_err() {
        return Err(0);
    }
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an answer");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == id && (v["type"] == "next" || v["type"] == "error") {
                    return Ok(v["payload"].clone());
                }
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code)).unwrap_or(0)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(0),
        }
    }
}

#[tokio::test]
async fn operations_over_an_open_websocket_use_the_callers_current_rights() {
    let w = W::new().await;
    let u = w.user("live@example.com", false, lines(&["DEAL"], &[("READ", "ALL"), ("WRITE", "ALL")])).await;
    let deal = w.deal("Live deal", &w.admin).await;
    let mut ws = connect(&w.s, &u.token).await;
    let rename = "mutation($id: ID!, $t: String!) { updateDeal(id: $id, input: { title: $t }) { title } }";
    let r = over_ws(&mut ws, "1", rename, json!({ "id": deal, "t": "Renamed live" })).await.unwrap();
    assert_eq!(r["data"]["updateDeal"]["title"], "Renamed live", "{r}");

    // Take WRITE away, then at once write over the same socket.
    let role = u.role.clone().unwrap();
    w.s.ok(
        "mutation($r: ID!, $p: [PermissionInput!]!) { setRolePermissions(roleId: $r, permissions: $p) { id } }",
        json!({ "r": role, "p": lines(&["DEAL"], &[("READ", "ALL")]) }),
    )
    .await;
    let state = "query($id: ID!) { deal(id: $id) { version title } }";
    let before = w.seen(state, json!({ "id": deal })).await;
    match over_ws(&mut ws, "2", rename, json!({ "id": deal, "t": "Too late" })).await {
        Ok(r) => assert_eq!(code(&r), "FORBIDDEN", "{r}"),
        // The server may close the socket for the access change first; that refuses too.
        Err(close) => assert_eq!(close, 4403),
    }
    assert_eq!(w.seen(state, json!({ "id": deal })).await, before, "nothing was written");

    // A fresh socket under the new rights: reads still work, writes do not; and once the
    // token is revoked, the next operation is refused before anything runs.
    let mut ws = connect(&w.s, &u.token).await;
    let r = over_ws(&mut ws, "3", state, json!({ "id": deal })).await.unwrap();
    assert_eq!(r["data"]["deal"]["title"], "Renamed live", "{r}");
    let token_id = w.s.ok("query($u: ID!) { apiTokens(userId: $u) { id } }", json!({ "u": u.id })).await["apiTokens"]
        [0]["id"]
        .clone();
    w.s.ok("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({ "id": token_id })).await;
    match over_ws(&mut ws, "4", state, json!({ "id": deal })).await {
        Ok(r) => assert_eq!(code(&r), "UNAUTHENTICATED", "{r}"),
        Err(close) => assert_eq!(close, 4401),
    }
}

#[tokio::test]
async fn tokens_and_administrators_check_rights_before_input() {
    let w = W::new().await;
    let nobody = w.user("nobody@example.com", false, Value::Null).await;
    let office = w.user("office@example.com", true, Value::Null).await;
    let other = w.user("other@example.com", false, Value::Null).await;
    let state = "{ users { nodes { id email name } } }";
    let before = w.seen(state, json!({})).await;
    let tokens = "query($u: ID!) { apiTokens(userId: $u) { id } }";
    let tokens_before = w.seen(tokens, json!({ "u": other.id })).await;
    // Someone else's token with a name that would not pass: the right comes first.
    let create = "mutation($u: ID!, $n: String!) { createApiToken(userId: $u, name: $n) { token } }";
    let r = w.as_user(&nobody, create, json!({ "u": other.id, "n": "" })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = w.as_user(&nobody, create, json!({ "u": nobody.id, "n": "" })).await;
    assert_eq!(code(&r), "BAD_USER_INPUT", "my own tokens are mine to manage: {r}");
    assert_eq!(w.seen(tokens, json!({ "u": other.id })).await, tokens_before);

    // The settings right changes users, but not an administrator.
    let update = "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: { email: $e }) { email } }";
    let r = w.as_user(&office, update, json!({ "id": w.admin, "e": "mine@example.com" })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(state, json!({})).await, before, "nothing was written");
    let r = w.as_user(&office, update, json!({ "id": other.id, "e": "other2@example.com" })).await;
    assert_eq!(r["data"]["updateUser"]["email"], "other2@example.com", "{r}");
}

#[tokio::test]
async fn deleting_an_element_needs_write_where_its_activities_go() {
    let w = W::new().await;
    // Deletes own leads; reads a colleague's deal but may not change it.
    let rep = w
        .user(
            "rep@example.com",
            false,
            json!([
                { "elementType": "LEAD", "action": "READ", "level": "OWN" },
                { "elementType": "LEAD", "action": "DELETE", "level": "OWN" },
                { "elementType": "DEAL", "action": "READ", "level": "ALL" },
            ]),
        )
        .await;
    let lead = w.lead("Rep's lead", &rep.id).await;
    let deal = w.deal("Colleague's deal", &w.admin).await;
    let create = "mutation($o: ID!, $b: [ElementRef!]) { createActivity(input: { type: \"CALL\", subject: \"Call\", owner: { type: LEAD, id: $o }, bindings: $b }) { id } }";
    let call = w.create(create, json!({ "o": lead, "b": [{ "type": "DEAL", "id": deal }] })).await;
    let state = "query($a: ID!, $d: ID!) { activity(id: $a) { version owner { type id } } deal(id: $d) { version timeline { totalCount } } leads { totalCount } }";
    let vars = json!({ "a": call, "d": deal });
    let before = w.seen(state, vars.clone()).await;
    // The call would pass to the deal: that changes the deal.
    let r = w.as_user(&rep, "mutation($id: ID!) { deleteLead(id: $id) }", json!({ "id": lead })).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert_eq!(w.seen(state, vars).await, before, "nothing was written");
    // Without an heir the activity goes with the lead, which needs nothing more.
    let alone = w.lead("Another lead", &rep.id).await;
    w.create(create, json!({ "o": alone })).await;
    let r = w.as_user(&rep, "mutation($id: ID!) { deleteLead(id: $id) }", json!({ "id": alone })).await;
    assert_eq!(r["data"]["deleteLead"], json!(alone), "{r}");
}

//! The search box over HTTP: names and titles by word prefixes (accents and case ignored,
//! German umlauts either way), misspellings, e-mails and phones whole or in part, company
//! titles, ranking, the `types` filter, the caller's rights and bad input.

use serde_json::{Value, json};

use crate::common::TestServer;

const SEARCH: &str = "query($q: String!, $types: [ElementType!], $first: Int) {
    search(query: $q, types: $types, first: $first) {
      elementType score matchedOn snippet
      element { __typename ... on Lead { id title } ... on Contact { id fullName } ... on Company { id title } ... on Deal { id title } }
    } }";

async fn search_as(s: &TestServer, token: &str, q: &str, types: Value) -> Vec<Value> {
    let body = s.gql_as(token, SEARCH, json!({ "q": q, "types": types })).await;
    assert!(body.get("errors").is_none(), "{q}: {body}");
    body["data"]["search"].as_array().unwrap().clone()
}

async fn search(s: &TestServer, q: &str) -> Vec<Value> {
    search_as(s, &s.token, q, Value::Null).await
}

/// The ids the hits name, in order.
fn ids(hits: &[Value]) -> Vec<String> {
    hits.iter().map(|h| h["element"]["id"].as_str().unwrap().to_owned()).collect()
}

/// The hit for element `id`, which must be there.
fn hit<'a>(hits: &'a [Value], id: &str, q: &str) -> &'a Value {
    hits.iter().find(|h| h["element"]["id"] == id).unwrap_or_else(|| panic!("{q} did not find {id}: {hits:?}"))
}

async fn create(s: &TestServer, mutation: &str, input: Value) -> String {
    let q = format!("mutation($in: {}Input!) {{ {mutation}(input: $in) {{ id }} }}", &mutation["create".len()..]);
    s.ok(&q, json!({ "in": input })).await[mutation]["id"].as_str().unwrap().to_owned()
}

async fn contact(s: &TestServer, input: Value) -> String {
    create(s, "createContact", input).await
}

#[tokio::test]
async fn names_are_found_by_the_start_of_their_words() {
    let s = TestServer::start().await;
    let anna = contact(&s, json!({ "firstName": "Anna", "lastName": "Müller" })).await;
    let bernd = contact(&s, json!({ "firstName": "Bernd", "lastName": "Annaberg" })).await;
    contact(&s, json!({ "firstName": "Clara", "lastName": "Schulz" })).await;

    let hits = search(&s, "anna mül").await;
    assert_eq!(ids(&hits), [anna.as_str()], "every word must start a word of the name");
    let h = &hits[0];
    assert_eq!((h["elementType"].as_str(), h["matchedOn"].as_str()), (Some("CONTACT"), Some("name")));
    assert_eq!(h["snippet"], "Anna Müller");
    assert_eq!(h["element"]["__typename"], "Contact");
    assert_eq!(h["element"]["fullName"], "Anna Müller");
    let score = h["score"].as_f64().unwrap();
    assert!((0.6..1.0).contains(&score), "a name hit scores below exact e-mails and phones: {score}");

    // A word that starts a name ranks above a word that starts inside another.
    let hits = search(&s, "Anna").await;
    assert_eq!(ids(&hits)[0], anna, "{hits:?}");
    assert!(ids(&hits).contains(&bernd), "Annaberg starts with anna: {hits:?}");
    assert!(search(&s, "nna").await.is_empty(), "prefixes of words, not the middle of them");
}

#[tokio::test]
async fn accents_and_case_do_not_matter_either_way() {
    let s = TestServer::start().await;
    let muller = contact(&s, json!({ "firstName": "Jörg", "lastName": "Müller" })).await;
    let zoe = create(&s, "createCompany", json!({ "title": "Café Zoë" })).await;
    let rene = contact(&s, json!({ "firstName": "Rene", "lastName": "Lefevre" })).await;

    for q in ["muller", "Müller", "MUELLER", "mueller", "MÜLLER", "jorg mul", "Joerg"] {
        let hits = search(&s, q).await;
        let h = hit(&hits, &muller, q);
        assert!(h["score"].as_f64().unwrap() >= 0.6, "{q} is a word prefix hit: {h}");
    }
    for q in ["cafe zoe", "CAFÉ", "Zoë"] {
        hit(&search(&s, q).await, &zoe, q);
    }
    // Accents in the query find a name stored without them.
    for q in ["René", "Lefèvre", "RENÉ LEFÈVRE"] {
        hit(&search(&s, q).await, &rene, q);
    }
}

#[tokio::test]
async fn misspellings_are_found_below_exact_words() {
    let s = TestServer::start().await;
    let muller = contact(&s, json!({ "firstName": "Anna", "lastName": "Müller" })).await;
    let schmidt = create(&s, "createCompany", json!({ "title": "Schmidt Logistik" })).await;
    contact(&s, json!({ "firstName": "Bernd", "lastName": "Weber" })).await;

    let hits = search(&s, "Mueler").await;
    assert_eq!(ids(&hits), [muller.as_str()], "{hits:?}");
    let score = hits[0]["score"].as_f64().unwrap();
    assert!(score < 0.6, "a misspelling ranks below every prefix hit: {score}");
    assert_eq!(hits[0]["matchedOn"], "name");

    hit(&search(&s, "Schmitd").await, &schmidt, "Schmitd");
    hit(&search(&s, "anna mueler").await, &muller, "anna mueler");
    assert!(search(&s, "Xylophon").await.is_empty());
}

#[tokio::test]
async fn e_mails_are_found_whole_or_in_part() {
    let s = TestServer::start().await;
    let anna = contact(&s, json!({ "lastName": "Berg", "emails": [{ "value": "Anna@Mueller.example" }] })).await;
    let lead = create(
        &s,
        "createLead",
        json!({ "title": "Anfrage", "emails": [{ "value": "joanna@mueller.example.org" }, { "value": "x@other.example" }] }),
    )
    .await;
    let company =
        create(&s, "createCompany", json!({ "title": "Nord", "emails": [{ "value": "info@nord.example" }] })).await;

    let hits = search(&s, "anna@mueller.example").await;
    assert_eq!(ids(&hits), [anna.as_str(), lead.as_str()], "the exact address first, then the one containing it");
    assert_eq!(hits[0]["score"], 1.0);
    assert_eq!(
        (hits[0]["matchedOn"].as_str(), hits[0]["snippet"].as_str()),
        (Some("email"), Some("Anna@Mueller.example"))
    );
    assert!(hits[1]["score"].as_f64().unwrap() < 1.0);
    assert_eq!(hits[1]["snippet"], "joanna@mueller.example.org");

    let hits = search(&s, "ANNA@").await;
    assert_eq!(ids(&hits), [anna.as_str(), lead.as_str()], "{hits:?}");
    assert!(hits.iter().all(|h| h["matchedOn"] == "email" && h["score"].as_f64().unwrap() < 0.6), "{hits:?}");
    let hits = search(&s, "@mueller.example").await;
    assert_eq!(ids(&hits), [anna.as_str(), lead.as_str()], "{hits:?}");
    assert_eq!(ids(&search(&s, "nna@muel").await), [anna.as_str(), lead.as_str()]);
    assert_eq!(ids(&search(&s, "@nord").await), [company.as_str()]);
    assert_eq!(ids(&search(&s, "@other.example").await), [lead.as_str()]);
    // LIKE wildcards in the query are plain characters.
    assert!(search(&s, "_nna@").await.is_empty());
    assert!(search(&s, "%@mueller").await.is_empty());
    assert!(search(&s, "anna@nord.example").await.is_empty());

    // A word of a text query also finds the e-mails that contain it, below names.
    let named = contact(&s, json!({ "firstName": "Mueller", "lastName": "Kurz" })).await;
    let hits = search(&s, "mueller").await;
    assert_eq!(ids(&hits)[0], named, "{hits:?}");
    let by_mail = hit(&hits, &anna, "mueller");
    assert_eq!(by_mail["matchedOn"], "email");
    assert!(by_mail["score"].as_f64().unwrap() < hits[0]["score"].as_f64().unwrap());
}

#[tokio::test]
async fn phones_are_found_in_any_notation_whole_or_from_four_digits() {
    let s = TestServer::start().await;
    let berlin = contact(&s, json!({ "lastName": "Berg", "phones": [{ "value": "030 12345678" }] })).await;
    let hamburg =
        create(&s, "createLead", json!({ "title": "Anfrage", "phones": [{ "value": "+49 40 3012345" }] })).await;
    let company =
        create(&s, "createCompany", json!({ "title": "Nord", "phones": [{ "value": "+1 212 555 0100" }] })).await;

    for q in ["+49 30 12345678", "0049 (30) 1234-5678", "030/12345678"] {
        let hits = search(&s, q).await;
        assert_eq!(ids(&hits)[0], berlin, "{q}: {hits:?}");
        assert_eq!(hits[0]["score"], 1.0, "{q} is the whole number");
        assert_eq!((hits[0]["matchedOn"].as_str(), hits[0]["snippet"].as_str()), (Some("phone"), Some("030 12345678")));
    }
    // Parts: bare digits anywhere; a national number also in the region's international form;
    // an international prefix only at the start.
    let hits = search(&s, "301234").await;
    assert_eq!(ids(&hits), [hamburg.as_str(), berlin.as_str()], "{hits:?}");
    assert!(hits.iter().all(|h| h["score"].as_f64().unwrap() < 0.6));
    // 030 1234… is Berlin's; Hamburg's +49 40 3012345 merely contains the digits 0301234.
    let hits = search(&s, "030 1234").await;
    assert_eq!(ids(&hits), [berlin.as_str(), hamburg.as_str()], "{hits:?}");
    assert_eq!(ids(&search(&s, "+49 30 12").await), [berlin.as_str()]);
    assert_eq!(ids(&search(&s, "0049 40 30").await), [hamburg.as_str()]);
    assert_eq!(ids(&search(&s, "555-0100").await), [company.as_str()]);
    assert!(search(&s, "+49 212 555").await.is_empty(), "the country is part of the number");
    assert!(search(&s, "9999").await.is_empty());
}

#[tokio::test]
async fn company_titles_find_companies_leads_and_deals() {
    let s = TestServer::start().await;
    let company = create(&s, "createCompany", json!({ "title": "Nordwind Logistik GmbH" })).await;
    let lead = create(
        &s,
        "createLead",
        json!({ "firstName": "Eva", "lastName": "Kern", "companyTitle": "Nordwind Logistik" }),
    )
    .await;
    let deal = create(&s, "createDeal", json!({ "title": "Rahmenvertrag Nordwind" })).await;
    create(&s, "createCompany", json!({ "title": "Südwind AG" })).await;

    let hits = search(&s, "nordwind").await;
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert_eq!(hit(&hits, &company, "nordwind")["matchedOn"], "title");
    assert_eq!(hit(&hits, &company, "nordwind")["snippet"], "Nordwind Logistik GmbH");
    assert_eq!(hit(&hits, &lead, "nordwind")["matchedOn"], "companyTitle");
    assert_eq!(hit(&hits, &lead, "nordwind")["snippet"], "Nordwind Logistik");
    assert_eq!(hit(&hits, &deal, "nordwind")["matchedOn"], "title");
    assert_eq!(hit(&hits, &deal, "nordwind")["element"]["__typename"], "Deal");
    // The lead's own name is its name, not its company.
    let hits = search(&s, "eva kern").await;
    assert_eq!((ids(&hits), hits[0]["matchedOn"].as_str()), (vec![lead.clone()], Some("name")));
}

#[tokio::test]
async fn exact_e_mails_and_phones_rank_above_everything_else() {
    let s = TestServer::start().await;
    let exact = contact(&s, json!({ "lastName": "Weiss", "emails": [{ "value": "berg@firma.example" }] })).await;
    let part = contact(&s, json!({ "lastName": "Kohl", "emails": [{ "value": "eberg@firma.example" }] })).await;
    let named =
        contact(&s, json!({ "firstName": "Berg", "lastName": "Berg", "emails": [{ "value": "b@x.example" }] })).await;

    let by_address = search(&s, "berg@firma.example").await;
    assert_eq!(ids(&by_address), [exact.as_str(), part.as_str()]);
    let by_name = search(&s, "Berg").await;
    let name_hit = hit(&by_name, &named, "Berg");
    assert_eq!(name_hit["matchedOn"], "name");
    assert!(
        by_address[0]["score"].as_f64().unwrap() > name_hit["score"].as_f64().unwrap(),
        "an exact e-mail scores above the best name hit: {by_address:?} {by_name:?}"
    );
    // In one list: the name hit comes first, the e-mails that contain the word after it.
    assert_eq!(ids(&by_name)[0], named, "{by_name:?}");
    assert!(ids(&by_name).contains(&exact) && ids(&by_name).contains(&part), "{by_name:?}");

    let first = s.gql(SEARCH, json!({ "q": "Berg", "first": 1 })).await;
    assert_eq!(first["data"]["search"].as_array().unwrap().len(), 1, "{first}");
}

#[tokio::test]
async fn types_limit_what_is_searched() {
    let s = TestServer::start().await;
    let lead = create(&s, "createLead", json!({ "title": "Orion Anfrage" })).await;
    let contact_id = contact(&s, json!({ "lastName": "Orion" })).await;
    let company = create(&s, "createCompany", json!({ "title": "Orion GmbH" })).await;
    let deal = create(&s, "createDeal", json!({ "title": "Orion Lizenz" })).await;

    let all = search(&s, "orion").await;
    assert_eq!(all.len(), 4, "{all:?}");
    let companies = search_as(&s, &s.token, "orion", json!(["COMPANY"])).await;
    assert_eq!(ids(&companies), [company.as_str()]);
    let some = search_as(&s, &s.token, "orion", json!(["DEAL", "LEAD"])).await;
    let mut found = ids(&some);
    found.sort();
    let mut want = vec![deal.clone(), lead.clone()];
    want.sort();
    assert_eq!(found, want);
    assert!(search_as(&s, &s.token, "orion", json!([])).await.is_empty());
    assert_eq!(ids(&search_as(&s, &s.token, "orion", json!(["CONTACT", "CONTACT"])).await), [contact_id]);
}

#[tokio::test]
async fn only_what_the_caller_may_read_is_found() {
    let s = TestServer::start().await;
    let token = s.token_for("rep@test.local", false).await;
    let me = s.gql_as(&token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    s.give_read_role(&me, "Own", "OWN").await;

    let phones = json!([{ "value": "030 5550100" }]);
    let emails = json!([{ "value": "team@orbit.example" }]);
    let mine =
        contact(&s, json!({ "lastName": "Orbit", "assignedToId": me, "phones": phones, "emails": emails })).await;
    let theirs = contact(&s, json!({ "lastName": "Orbit", "phones": phones, "emails": emails })).await;
    let my_deal = create(&s, "createDeal", json!({ "title": "Orbit Lizenz", "assignedToId": me })).await;
    create(&s, "createDeal", json!({ "title": "Orbit Wartung" })).await;
    create(&s, "createCompany", json!({ "title": "Orbit GmbH" })).await;

    assert_eq!(search(&s, "orbit").await.len(), 5, "the admin reads everything");
    for q in ["orbit", "Orbitt", "team@orbit.example", "@orbit", "030 5550100", "5550100"] {
        let hits = search_as(&s, &token, q, Value::Null).await;
        let found = ids(&hits);
        assert!(found.contains(&mine), "{q}: {hits:?}");
        assert!(!found.contains(&theirs), "{q} shows an element of someone else: {hits:?}");
        assert!(found.iter().all(|id| *id == mine || *id == my_deal), "{q}: {hits:?}");
    }

    // A role that reads only leads finds nothing else, whoever the elements belong to.
    let lead = create(&s, "createLead", json!({ "title": "Orbit Anfrage" })).await;
    let role =
        s.ok("mutation { createRole(name: \"Leads only\") { id } }", json!({})).await["createRole"]["id"].clone();
    s.ok(
        "mutation($r: ID!) { setRolePermissions(roleId: $r, permissions: [{ elementType: LEAD, action: READ, level: ALL }]) { id } }",
        json!({ "r": role }),
    )
    .await;
    s.ok(
        "mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { id } }",
        json!({ "u": me, "r": [role] }),
    )
    .await;
    assert_eq!(ids(&search_as(&s, &token, "orbit", Value::Null).await), [lead]);
    assert!(search_as(&s, &token, "team@orbit.example", Value::Null).await.is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_with_its_field() {
    let s = TestServer::start().await;
    for (vars, field) in [
        (json!({ "q": "" }), "query"),
        (json!({ "q": "   " }), "query"),
        (json!({ "q": "a".repeat(201) }), "query"),
        (json!({ "q": "anna", "first": 0 }), "first"),
        (json!({ "q": "anna", "first": -1 }), "first"),
    ] {
        let body = s.gql(SEARCH, vars.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{vars}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{vars}: {body}");
    }
    // Too many is not an error: it is the most there is.
    let body = s.gql(SEARCH, json!({ "q": "anna", "first": 1000 })).await;
    assert!(body.get("errors").is_none(), "{body}");
    // Query syntax of the database means nothing.
    for q in ["a & b | !c", "'; DROP TABLE leads; --", "(x):*", "%", "_", "\\"] {
        let body = s.gql(SEARCH, json!({ "q": q })).await;
        assert!(body.get("errors").is_none(), "{q}: {body}");
    }
    let body = s.gql_as("not-a-token", SEARCH, json!({ "q": "anna" })).await;
    assert!(body["errors"][0]["extensions"]["code"].is_string(), "{body}");
}

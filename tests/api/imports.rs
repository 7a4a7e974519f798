//! Importing CSV and XLSX files over the GraphQL multipart request convention.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, next_within, subscribe};

const START: &str = "mutation($file: Upload!, $input: ImportInput!) { startImport(file: $file, input: $input) { id status fileName dryRun } }";

const JOB: &str = "query($id: ID!) { importJob(id: $id) { id status dryRun fileName total processed created updated \
     skipped failed message unknownColumns errors { row column field message } } }";

/// Sends `startImport` as a multipart request with `bytes` as the file; the whole response.
async fn upload(s: &TestServer, token: &str, name: &str, bytes: Vec<u8>, input: Value) -> Value {
    let operations = json!({ "query": START, "variables": { "file": null, "input": input } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()));
    let resp = s.client.post(s.url("/graphql")).bearer_auth(token).multipart(form).send().await.unwrap();
    resp.json().await.unwrap()
}

/// Starts an import as the admin and waits for its end; the finished job.
async fn import(s: &TestServer, name: &str, bytes: &[u8], input: Value) -> Value {
    let started = upload(s, &s.token, name, bytes.to_vec(), input).await;
    assert!(started.get("errors").is_none(), "startImport failed: {started}");
    wait(s, &started["data"]["startImport"]["id"]).await
}

async fn wait(s: &TestServer, id: &Value) -> Value {
    for _ in 0..300 {
        let job = s.ok(JOB, json!({ "id": id })).await["importJob"].clone();
        if !matches!(job["status"].as_str(), Some("QUEUED" | "RUNNING")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import did not finish");
}

async fn leads(s: &TestServer) -> Vec<Value> {
    let q = "{ leads(first: 100, orderBy: [{field: ID, direction: ASC}]) { nodes { id firstName lastName position companyTitle \
             emails { value } phones { value valueType } status { code } timeline { nodes { kind text } } } } }";
    s.ok(q, json!({})).await["leads"]["nodes"].as_array().unwrap().clone()
}

#[tokio::test]
async fn csv_headers_map_by_name_and_bad_rows_are_reported() {
    let s = TestServer::start().await;
    let csv = "Vorname;Nachname;E-Mail;Telefon;Mobil;Firma;Status;Lieblingsfarbe\n\
               Anna;Berg;anna@berg.de;+49 30 1234567;+49 170 1234567;Berg GmbH;NEW;blau\n\
               Bernd;Kurz;not-an-email;;;;;rot\n\
               \"Clara, Dr.\";Lang;clara@lang.de;;;\"Lang; Söhne\";IN_PROCESS;grün\n";
    let job = import(&s, "leads.csv", csv.as_bytes(), json!({ "elementType": "LEAD" })).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert_eq!(
        (job["processed"].as_i64(), job["created"].as_i64(), job["failed"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(job["unknownColumns"], json!(["Lieblingsfarbe"]));
    let errors = job["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["row"], 3);
    assert_eq!(errors[0]["column"], "E-Mail", "{errors:?}");

    let all = leads(&s).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["firstName"], "Anna");
    assert_eq!(all[0]["companyTitle"], "Berg GmbH");
    assert_eq!(all[0]["emails"][0]["value"], "anna@berg.de");
    let phones: Vec<&str> =
        all[0]["phones"].as_array().unwrap().iter().map(|p| p["valueType"].as_str().unwrap()).collect();
    assert_eq!(phones, ["WORK", "MOBILE"]);
    assert_eq!(all[1]["firstName"], "Clara, Dr.");
    assert_eq!(all[1]["companyTitle"], "Lang; Söhne");
    assert_eq!(all[1]["status"]["code"], "IN_PROCESS");
    let kinds: Vec<&str> =
        all[0]["timeline"]["nodes"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["IMPORTED"]);
}

#[tokio::test]
async fn windows_1252_and_utf16_files_read_the_same() {
    let s = TestServer::start().await;
    let latin: Vec<u8> = b"firstName,lastName\nJ\xfcrgen,M\xfcller\n".to_vec();
    let job = import(&s, "latin.csv", &latin, json!({ "elementType": "LEAD" })).await;
    assert_eq!(job["created"], 1, "{job}");
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "firstName\tlastName\nÅsa\tØberg\n".encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let job = import(&s, "utf16.csv", &utf16, json!({ "elementType": "LEAD" })).await;
    assert_eq!(job["created"], 1, "{job}");
    let names: Vec<String> = leads(&s)
        .await
        .iter()
        .map(|l| format!("{} {}", l["firstName"].as_str().unwrap(), l["lastName"].as_str().unwrap()))
        .collect();
    assert_eq!(names, ["Jürgen Müller", "Åsa Øberg"]);
}

/// One existing lead (anna@berg.de, no position) and a file that matches it by e-mail and
/// brings one new lead; returns the existing lead after the import and the job.
async fn with_duplicate(mode: &str) -> (Value, Value, TestServer) {
    let s = TestServer::start().await;
    s.ok(
        "mutation { createLead(input: { firstName: \"Anna\", lastName: \"Berg\", emails: [{ value: \"anna@berg.de\" }] }) { id } }",
        json!({}),
    )
    .await;
    let csv = "firstName,lastName,position,email,phone\n\
               Anne,Bergmann,CEO,ANNA@berg.de,+49 30 999999\n\
               Nina,Neu,,nina@neu.de,\n";
    let job = import(&s, "dups.csv", csv.as_bytes(), json!({ "elementType": "LEAD", "duplicates": mode })).await;
    let anna = leads(&s).await.into_iter().next().unwrap();
    (anna, job, s)
}

#[tokio::test]
async fn skip_leaves_a_matching_lead_alone() {
    let (anna, job, _s) = with_duplicate("SKIP").await;
    assert_eq!(
        (job["created"].as_i64(), job["skipped"].as_i64(), job["updated"].as_i64()),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!((anna["lastName"].as_str(), anna["position"].as_str()), (Some("Berg"), None));
}

#[tokio::test]
async fn merge_fills_empty_fields_and_adds_communications() {
    let (anna, job, _s) = with_duplicate("MERGE").await;
    assert_eq!((job["created"].as_i64(), job["updated"].as_i64()), (Some(1), Some(1)), "{job}");
    assert_eq!(anna["lastName"], "Berg", "MERGE keeps what the lead has");
    assert_eq!(anna["position"], "CEO", "MERGE fills what the lead lacks");
    assert_eq!(anna["emails"].as_array().unwrap().len(), 1, "the same address is not added twice");
    assert_eq!(anna["phones"].as_array().unwrap().len(), 1, "the new phone is added");
}

#[tokio::test]
async fn replace_overwrites_the_fields_the_file_gives() {
    let (anna, job, _s) = with_duplicate("REPLACE").await;
    assert_eq!(job["updated"], 1, "{job}");
    assert_eq!((anna["firstName"].as_str(), anna["lastName"].as_str()), (Some("Anne"), Some("Bergmann")));
    let kinds: Vec<&str> =
        anna["timeline"]["nodes"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["IMPORTED", "CREATED"]);
}

#[tokio::test]
async fn allow_creates_a_second_lead() {
    let (_, job, s) = with_duplicate("ALLOW").await;
    assert_eq!(job["created"], 2, "{job}");
    assert_eq!(leads(&s).await.len(), 3);
}

#[tokio::test]
async fn rows_that_match_each_other_follow_the_mode() {
    let s = TestServer::start().await;
    let csv = "firstName,email\nA,same@x.de\nB,same@x.de\n";
    let job = import(&s, "twice.csv", csv.as_bytes(), json!({ "elementType": "LEAD", "duplicates": "SKIP" })).await;
    assert_eq!((job["created"].as_i64(), job["skipped"].as_i64()), (Some(1), Some(1)), "{job}");
}

#[tokio::test]
async fn a_dry_run_reports_and_writes_nothing() {
    let s = TestServer::start().await;
    let csv = "firstName,lastName,email\nA,One,a@x.de\nB,Two,bad\n";
    let job = import(&s, "dry.csv", csv.as_bytes(), json!({ "elementType": "LEAD", "dryRun": true })).await;
    assert_eq!(job["status"], "DONE");
    assert_eq!(job["dryRun"], true);
    assert_eq!((job["created"].as_i64(), job["failed"].as_i64()), (Some(1), Some(1)), "{job}");
    assert_eq!(job["errors"][0]["row"], 3);
    assert!(leads(&s).await.is_empty());
}

#[tokio::test]
async fn an_explicit_mapping_and_defaults() {
    let s = TestServer::start().await;
    let csv = "A|B|C\nBerg|Anna|x\n";
    let input = json!({
        "elementType": "CONTACT",
        "delimiter": "|",
        "mapping": [{ "column": "A", "field": "lastName" }, { "column": "B", "field": "firstName" }],
    });
    let job = import(&s, "contacts.csv", csv.as_bytes(), input).await;
    assert_eq!(job["created"], 1, "{job}");
    let c = s.ok("{ contacts(first: 5) { nodes { firstName lastName } } }", json!({})).await;
    assert_eq!(c["contacts"]["nodes"][0], json!({ "firstName": "Anna", "lastName": "Berg" }));

    let bad = upload(
        &s,
        &s.token,
        "c.csv",
        csv.as_bytes().to_vec(),
        json!({ "elementType": "CONTACT", "delimiter": "|", "mapping": [{ "column": "A", "field": "shoeSize" }] }),
    )
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
}

#[tokio::test]
async fn files_that_cannot_be_read_are_refused_at_the_start() {
    let s = TestServer::start().await;
    for (name, bytes) in [
        ("empty.csv", Vec::new()),
        ("image.png", vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2, 3]),
        ("dup.csv", b"email,Email\na@x.de,b@x.de\n".to_vec()),
    ] {
        let body = upload(&s, &s.token, name, bytes, json!({ "elementType": "LEAD" })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{name}: {body}");
    }
    let jobs = s.ok("{ importJobs { id } }", json!({})).await;
    assert_eq!(jobs["importJobs"], json!([]), "no job for a refused file");
}

#[tokio::test]
async fn import_needs_the_import_right() {
    let s = TestServer::start().await;
    let token = s.token_for("reader@test.local", false).await;
    let me = s.gql_as(&token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    s.give_read_role(&me, "Readers", "ALL").await;
    let body = upload(&s, &token, "x.csv", b"firstName\nA\n".to_vec(), json!({ "elementType": "LEAD" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let anonymous = s
        .client
        .post(s.url("/graphql"))
        .multipart(reqwest::multipart::Form::new().text("operations", "{}").text("map", "{}"))
        .send()
        .await
        .unwrap();
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn progress_arrives_over_the_websocket_until_the_end() {
    let s = TestServer::start().await;
    let mut csv = String::from("firstName,lastName\n");
    for i in 0..600 {
        csv.push_str(&format!("P{i},L{i}\n"));
    }
    let started = upload(&s, &s.token, "many.csv", csv.into_bytes(), json!({ "elementType": "LEAD" })).await;
    let id = started["data"]["startImport"]["id"].clone();
    let mut ws = subscribe(
        s.addr,
        &s.token,
        "subscription($id: ID!) { importProgress(id: $id) { status processed total } }",
        json!({ "id": id }),
    )
    .await;
    let mut last = Value::Null;
    while let Some(msg) = next_within(&mut ws, Duration::from_secs(30)).await {
        if msg["type"] == "complete" {
            break;
        }
        assert_eq!(msg["type"], "next", "{msg}");
        last = msg["payload"]["data"]["importProgress"].clone();
    }
    assert_eq!(last["status"], "DONE", "the final state arrives last: {last}");
    assert_eq!(last["processed"], 600);
}

#[tokio::test]
async fn the_errors_csv_gives_back_the_failed_rows() {
    let s = TestServer::start().await;
    let csv = "firstName,email\nGood,good@x.de\nBad,not-an-email\nRagged,a@x.de,extra\n";
    let job = import(&s, "e.csv", csv.as_bytes(), json!({ "elementType": "LEAD" })).await;
    assert_eq!(job["failed"], 2, "{job}");
    let url = s.url(&format!("/imports/{}/errors.csv", job["id"].as_str().unwrap()));
    let resp = s.client.get(&url).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "firstName,email,error");
    assert!(lines[1].starts_with("Bad,not-an-email,"), "{body}");
    assert!(lines[2].starts_with("Ragged,a@x.de,"), "{body}");
    assert_eq!(lines.len(), 3);
    let other = s.token_for("other@test.local", false).await;
    assert_eq!(s.client.get(&url).bearer_auth(&other).send().await.unwrap().status(), 404);
    assert_eq!(s.client.get(&url).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn rollback_deletes_what_was_created_and_restores_what_was_changed() {
    let (_, job, s) = with_duplicate("REPLACE").await;
    assert_eq!((job["created"].as_i64(), job["updated"].as_i64()), (Some(1), Some(1)), "{job}");
    let done = s.ok("mutation($id: ID!) { rollbackImport(id: $id) { status } }", json!({ "id": job["id"] })).await;
    assert_eq!(done["rollbackImport"]["status"], "ROLLED_BACK");
    let all = leads(&s).await;
    assert_eq!(all.len(), 1, "the created lead is gone");
    assert_eq!((all[0]["firstName"].as_str(), all[0]["lastName"].as_str()), (Some("Anna"), Some("Berg")));
    let kinds: Vec<&str> =
        all[0]["timeline"]["nodes"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["IMPORT_ROLLED_BACK", "IMPORTED", "CREATED"]);
    let again =
        s.err_code("mutation($id: ID!) { rollbackImport(id: $id) { status } }", json!({ "id": job["id"] })).await;
    assert_eq!(again, "CONFLICT");
}

#[tokio::test]
async fn xlsx_files_import_from_the_first_sheet() {
    let s = TestServer::start().await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, h) in ["First name", "Last name", "E-mail", "Amount"].iter().enumerate() {
        sheet.write_string(0, col as u16, *h).unwrap();
    }
    sheet.write_string(1, 0, "Xenia").unwrap();
    sheet.write_string(1, 1, "Excel").unwrap();
    sheet.write_string(1, 2, "xenia@excel.de").unwrap();
    sheet.write_number(1, 3, 1250.5).unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let job = import(&s, "leads.xlsx", &bytes, json!({ "elementType": "LEAD" })).await;
    assert_eq!(job["created"], 1, "{job}");
    let l = s.ok("{ leads(first: 1) { nodes { firstName lastName opportunity emails { value } } } }", json!({})).await;
    assert_eq!(l["leads"]["nodes"][0]["lastName"], "Excel");
    assert_eq!(l["leads"]["nodes"][0]["opportunity"], "1250.50");
}

#[tokio::test]
async fn cancel_stops_a_running_import() {
    let s = TestServer::start().await;
    let mut csv = String::from("firstName,lastName\n");
    for i in 0..20_000 {
        csv.push_str(&format!("P{i},L{i}\n"));
    }
    let started = upload(&s, &s.token, "big.csv", csv.into_bytes(), json!({ "elementType": "LEAD" })).await;
    let id = started["data"]["startImport"]["id"].clone();
    s.ok("mutation($id: ID!) { cancelImport(id: $id) { id } }", json!({ "id": id })).await;
    let job = wait(&s, &id).await;
    assert_eq!(job["status"], "CANCELLED", "{job}");
    assert!(job["processed"].as_i64().unwrap() < 20_000, "{job}");
}

async fn get_csv(s: &TestServer, token: &str, path: &str) -> (u16, String) {
    let resp = s.client.get(s.url(path)).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn export_streams_the_filtered_rows_with_escaped_formulas() {
    let s = TestServer::start().await;
    for (first, last, title) in [("Anna", "Berg", "=SUM(A1)"), ("Bea", "Berg", "ok"), ("Carl", "Other", "x")] {
        s.ok(
            "mutation($f: String, $l: String, $t: String) { createLead(input: { firstName: $f, lastName: $l, title: $t, phones: [{ value: \"+49 30 1234567\", valueType: \"MOBILE\" }] }) { id } }",
            json!({ "f": first, "l": last, "t": title }),
        )
        .await;
    }
    let filter = urlencode(&json!({ "lastName": { "eq": "Berg" } }).to_string());
    let (status, body) = get_csv(&s, &s.token, &format!("/export/leads.csv?filter={filter}")).await;
    assert_eq!(status, 200, "{body}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    for h in ["externalId", "firstName", "lastName", "title", "phone (mobile)", "email"] {
        assert!(header.contains(&h.to_owned()), "{h} in {header:?}");
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("title")], "'=SUM(A1)");
    assert!(rows[0][col("phone (mobile)")].starts_with("'+49"), "phones start with + and are escaped too");
    assert_eq!(&rows[1][col("firstName")], "Bea");

    let (bom_status, bom) = get_csv(&s, &s.token, "/export/contacts.csv?bom=1").await;
    assert_eq!(bom_status, 200);
    assert!(bom.starts_with('\u{feff}'));
    assert_eq!(get_csv(&s, &s.token, "/export/cats.csv").await.0, 404);
    assert_eq!(get_csv(&s, &s.token, "/export/leads.csv?filter=%7Bnope").await.0, 400);
    let reader_token = s.token_for("reader@test.local", false).await;
    let me = s.gql_as(&reader_token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    s.give_read_role(&me, "Readers", "ALL").await;
    assert_eq!(get_csv(&s, &reader_token, "/export/leads.csv").await.0, 403);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn export_then_import_into_an_empty_database_gives_the_same_elements() {
    let a = TestServer::start().await;
    a.ok(
        "mutation { createLead(input: { title: \"Fair\", firstName: \"Anna\", lastName: \"Berg\", companyTitle: \"Berg GmbH\", \
         opportunity: \"1200.50\", currency: \"EUR\", opened: false, comments: \"=cmd\", \
         phones: [{ value: \"+49 30 1234567\" }, { value: \"+49 170 7654321\", valueType: \"MOBILE\" }], \
         emails: [{ value: \"anna@berg.de\" }, { value: \"anna@home.de\", valueType: \"HOME\" }] }) { id } }",
        json!({}),
    )
    .await;
    a.ok(
        "mutation { createLead(input: { firstName: \"Bob\", lastName: \"Stone\", statusId: null }) { id } }",
        json!({}),
    )
    .await;
    let q = "{ leads(first: 10, orderBy: [{field: ID, direction: ASC}]) { nodes { title firstName lastName companyTitle opportunity currency opened comments \
             status { code } assignedTo { email } phones { value valueType } emails { value valueType } } } }";
    let before = a.ok(q, json!({})).await;
    let (_, csv) = get_csv(&a, &a.token, "/export/leads.csv").await;

    let b = TestServer::start().await;
    let job = import(&b, "leads.csv", csv.as_bytes(), json!({ "elementType": "LEAD", "duplicates": "ALLOW" })).await;
    assert_eq!((job["created"].as_i64(), job["failed"].as_i64()), (Some(2), Some(0)), "{job}");
    assert_eq!(job["unknownColumns"], json!([]), "every exported column is read back");
    let after = b.ok(q, json!({})).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn contacts_follow_each_duplicate_mode_from_an_xlsx_file() {
    let s = TestServer::start().await;
    s.ok(
        "mutation { createContact(input: { firstName: \"Otto\", lastName: \"Alt\", phones: [{ value: \"+49 30 111111\" }] }) { id } }",
        json!({}),
    )
    .await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (row, cells) in
        [["Vorname", "Nachname", "Position", "Telefon"], ["Otto", "Neu", "CTO", "+49 30 111111"]].iter().enumerate()
    {
        for (col, v) in cells.iter().enumerate() {
            sheet.write_string(row as u32, col as u16, *v).unwrap();
        }
    }
    let bytes = book.save_to_buffer().unwrap();
    let q = "{ contacts(first: 5, orderBy: [{field: ID, direction: ASC}]) { nodes { lastName position } } }";
    let expected = [
        ("SKIP", json!([{ "lastName": "Alt", "position": null }]), (0, 0, 1)),
        ("MERGE", json!([{ "lastName": "Alt", "position": "CTO" }]), (0, 1, 0)),
        ("REPLACE", json!([{ "lastName": "Neu", "position": "CTO" }]), (0, 1, 0)),
        (
            "ALLOW",
            json!([{ "lastName": "Neu", "position": "CTO" }, { "lastName": "Neu", "position": "CTO" }]),
            (1, 0, 0),
        ),
    ];
    for (mode, contacts, (created, updated, skipped)) in expected {
        let job = import(&s, "contacts.xlsx", &bytes, json!({ "elementType": "CONTACT", "duplicates": mode })).await;
        let counts =
            (job["created"].as_i64().unwrap(), job["updated"].as_i64().unwrap(), job["skipped"].as_i64().unwrap());
        assert_eq!(counts, (created, updated, skipped), "{mode}: {job}");
        assert_eq!(s.ok(q, json!({})).await["contacts"]["nodes"], contacts, "{mode}");
    }
}

/// A user whose one role has `lines` (element type LEAD), and their token.
async fn user_with(s: &TestServer, email: &str, lines: &[(&str, &str)]) -> (String, Value) {
    let token = s.token_for(email, false).await;
    let me = s.gql_as(&token, "{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let role = s.ok("mutation($n: String!) { createRole(name: $n) { id } }", json!({ "n": email })).await["createRole"]
        ["id"]
        .clone();
    let lines: Vec<Value> =
        lines.iter().map(|(a, l)| json!({ "elementType": "LEAD", "action": a, "level": l })).collect();
    s.ok(
        "mutation($r: ID!, $p: [PermissionInput!]!) { setRolePermissions(roleId: $r, permissions: $p) { id } }",
        json!({ "r": role, "p": lines }),
    )
    .await;
    s.ok(
        "mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { id } }",
        json!({ "u": me, "r": [role] }),
    )
    .await;
    (token, me)
}

#[tokio::test]
async fn import_needs_add_as_well_and_export_shows_only_what_the_user_reads() {
    let s = TestServer::start().await;
    let (no_add, _) = user_with(&s, "importer@test.local", &[("READ", "ALL"), ("IMPORT", "ALL")]).await;
    let body = upload(&s, &no_add, "x.csv", b"firstName\nA\n".to_vec(), json!({ "elementType": "LEAD" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let (both, _) = user_with(&s, "adder@test.local", &[("READ", "ALL"), ("IMPORT", "ALL"), ("ADD", "ALL")]).await;
    let body = upload(&s, &both, "x.csv", b"firstName\nA\n".to_vec(), json!({ "elementType": "LEAD" })).await;
    assert!(body.get("errors").is_none(), "{body}");

    let (own, me) = user_with(&s, "exporter@test.local", &[("READ", "OWN"), ("EXPORT", "ALL")]).await;
    for (name, assignee) in [("Mine", me.clone()), ("Theirs", Value::Null)] {
        s.ok(
            "mutation($n: String, $a: ID) { createLead(input: { firstName: $n, assignedToId: $a }) { id } }",
            json!({ "n": name, "a": assignee }),
        )
        .await;
    }
    let (status, csv) = get_csv(&s, &own, "/export/leads.csv").await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains("Mine") && !csv.contains("Theirs"), "{csv}");
}

#[tokio::test]
async fn import_options_and_uploads_are_bounded() {
    let s = TestServer::start_with(|g| g.upload_limit = 64 * 1024).await;
    let csv = b"firstName\nA\n".to_vec();
    let many: Vec<Value> = (0..501).map(|i| json!({ "column": format!("c{i}"), "field": "firstName" })).collect();
    for (input, field) in [
        (json!({ "elementType": "LEAD", "mapping": many }), "mapping"),
        (json!({ "elementType": "LEAD", "delimiter": "::" }), "delimiter"),
    ] {
        let body = upload(&s, &s.token, "x.csv", csv.clone(), input).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let big = format!("firstName\n{}", "A\n".repeat(64 * 1024)).into_bytes();
    let operations = json!({ "query": START, "variables": { "file": null, "input": { "elementType": "LEAD" } } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", reqwest::multipart::Part::bytes(big).file_name("big.csv"));
    let resp = s.client.post(s.url("/graphql")).bearer_auth(&s.token).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let jobs = s.ok("{ importJobs { id } }", json!({})).await;
    assert_eq!(jobs["importJobs"], json!([]), "nothing started");
}

#[tokio::test]
async fn a_dry_run_has_nothing_to_roll_back() {
    let s = TestServer::start().await;
    let job = import(&s, "dry.csv", b"firstName\nA\n", json!({ "elementType": "LEAD", "dryRun": true })).await;
    let code =
        s.err_code("mutation($id: ID!) { rollbackImport(id: $id) { status } }", json!({ "id": job["id"] })).await;
    assert_eq!(code, "CONFLICT");
    let other = s.token_for("other@test.local", false).await;
    let body =
        s.gql_as(&other, "mutation($id: ID!) { cancelImport(id: $id) { id } }", json!({ "id": job["id"] })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "another user's job: {body}");
}

/// Each element an import creates or changes is announced once, like any other write, in
/// order per element: a row that matches an earlier row of the file updates what that row
/// created, after it was created.
#[tokio::test]
async fn every_imported_element_gets_one_event_in_order() {
    let s = TestServer::start().await;
    let q = "subscription { elementChanged(types: [LEAD]) { action changedFields element { ... on Lead { firstName lastName } } } }";
    let mut ws = subscribe(s.addr, &s.token, q, json!({})).await;
    s.ok(
        "mutation { createLead(input: { firstName: \"Anna\", emails: [{ value: \"anna@berg.de\" }] }) { id } }",
        json!({}),
    )
    .await;
    // The lead's own event first, so that only the import's follow.
    let first = next_within(&mut ws, Duration::from_secs(20)).await.expect("the lead's event");
    assert_eq!(first["payload"]["data"]["elementChanged"]["action"], "CREATED", "{first}");
    let csv = "firstName,lastName,email,phone\n\
               Anna,Berg,anna@berg.de,\n\
               Bernd,Kurz,bernd@kurz.de,\n\
               Clara,Lang,clara@lang.de,\n\
               Bernd,,bernd@kurz.de,+49 30 1234567\n";
    let job = import(&s, "leads.csv", csv.as_bytes(), json!({ "elementType": "LEAD", "duplicates": "MERGE" })).await;
    assert_eq!((job["created"].as_i64(), job["updated"].as_i64()), (Some(2), Some(2)), "{job}");
    let mut events = Vec::new();
    while events.len() < 4 {
        let msg = next_within(&mut ws, Duration::from_secs(20)).await.expect("an event");
        assert!(msg["payload"].get("errors").is_none(), "{msg}");
        events.push(msg["payload"]["data"]["elementChanged"].clone());
    }
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["element"]["firstName"].as_str().unwrap().to_owned()))
        .collect();
    let mut sorted = seen.clone();
    sorted.sort();
    let pair = |a: &str, n: &str| (a.to_owned(), n.to_owned());
    assert_eq!(
        sorted,
        [pair("CREATED", "Bernd"), pair("CREATED", "Clara"), pair("UPDATED", "Anna"), pair("UPDATED", "Bernd")]
    );
    let bernd: Vec<&str> = seen.iter().filter(|(_, n)| n == "Bernd").map(|(a, _)| a.as_str()).collect();
    assert_eq!(bernd, ["CREATED", "UPDATED"]);
    let anna = events.iter().find(|e| e["element"]["firstName"] == "Anna").unwrap();
    assert_eq!(anna["element"]["lastName"], "Berg");
    assert_eq!(anna["changedFields"], json!(["lastName"]), "{anna}");
    let created = events.iter().find(|e| e["element"]["firstName"] == "Clara").unwrap();
    let fields: Vec<&str> = created["changedFields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(fields.contains(&"emails") && fields.contains(&"firstName"), "{created}");
    // Nothing more: one event per element and row.
    assert!(next_within(&mut ws, Duration::from_millis(500)).await.is_none());
}

/// A row the database refuses although the rules passed it (here a foreign key, as when a
/// referenced element is deleted during the import) fails alone: its batch goes again row
/// by row and the other rows land.
#[tokio::test]
async fn a_row_the_database_refuses_fails_alone() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let s = TestServer::start().await;
    let mut conn = AsyncPgConnection::establish(&s.db.url).await.unwrap();
    conn.batch_execute(
        "CREATE FUNCTION refuse_ghosts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.last_name = 'Ghost' THEN \
             RAISE EXCEPTION 'no such company' USING ERRCODE = 'foreign_key_violation', COLUMN = 'company_id'; \
           END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_ghosts BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION refuse_ghosts();",
    )
    .await
    .unwrap();
    let csv = "firstName,lastName,email\nAnna,Berg,anna@berg.de\nGerd,Ghost,gerd@ghost.de\nClara,Lang,clara@lang.de\n";
    let job = import(&s, "leads.csv", csv.as_bytes(), json!({ "elementType": "LEAD" })).await;
    assert_eq!(job["status"], "DONE", "{job}");
    assert_eq!((job["created"].as_i64(), job["failed"].as_i64()), (Some(2), Some(1)), "{job}");
    let error = &job["errors"][0];
    assert_eq!((error["row"].as_i64(), error["field"].as_str()), (Some(3), Some("companyId")), "{job}");
    let names: Vec<Value> = leads(&s).await.iter().map(|l| l["lastName"].clone()).collect();
    assert_eq!(names, [json!("Berg"), json!("Lang")]);
}

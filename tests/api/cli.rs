//! The `kontor` binary: schema export, token creation, start-up against a missing database
//! and a clear error when PostgreSQL cannot be reached.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kontor() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kontor"));
    c.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    c
}

#[test]
fn export_schema_prints_the_sdl() {
    let out = kontor().arg("export-schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), kontor::api::sdl());
}

#[test]
fn help_explains_the_configuration() {
    let out = kontor().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["serve", "migrate", "export-schema", "token", "seed", "DATABASE_URL", "KONTOR_LISTEN", "REDIS_URL"] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn unreachable_postgres_is_one_clear_line() {
    let out =
        kontor().args(["migrate", "--database-url", "postgres://kontor:s3cret@127.0.0.1:1/kontor"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let line = err.lines().find(|l| l.starts_with("error:")).expect("an error line");
    assert!(line.contains("cannot reach PostgreSQL at postgres://kontor:***@127.0.0.1:1/kontor"), "{line}");
    assert!(!err.contains("s3cret"), "the password leaked: {err}");
}

#[tokio::test]
async fn token_create_prints_only_a_working_token() {
    let db = common::TestDb::new().await;
    let out =
        kontor().args(["token", "create", "--user", "Rep@Example.com", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the token: {stdout}");
    let token = stdout.trim();
    assert!(token.starts_with("kontor_"));
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&db.url).await.unwrap();
    let actor: kontor::kernel::Actor = kontor::org::auth::actor_for_token(&mut conn, token).await.unwrap();
    assert_eq!(actor.email, "rep@example.com");
    assert!(!actor.is_admin);
}

#[tokio::test]
async fn serve_creates_the_database_and_prints_one_admin_token() {
    let name = format!("kontor_cli_{}", std::process::id());
    let mut url = url::Url::parse(&common::admin_url()).unwrap();
    url.set_path(&format!("/{name}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = kontor()
        .args(["serve", "--database-url", url.as_str(), "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let started = Instant::now();
    while printed.len() < 3 && started.elapsed() < Duration::from_secs(60) {
        match lines.next() {
            Some(Ok(l)) => printed.push(l),
            _ => break,
        }
    }
    let token = printed.get(1).map(|l| l.trim().to_owned()).unwrap_or_default();
    assert!(token.starts_with("kontor_"), "{printed:?}");
    assert!(printed.iter().any(|l| l.contains(&format!("http://127.0.0.1:{port}/"))), "{printed:?}");

    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": "{ me { isAdmin } pipelines { stages { code } } statusItems(list: STATUS) { code } }" }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["me"]["isAdmin"], true);
    assert_eq!(body["data"]["pipelines"][0]["stages"].as_array().unwrap().len(), 8);
    assert_eq!(body["data"]["statusItems"].as_array().unwrap().len(), 5);
    child.kill().unwrap();
    let _ = child.wait();

    // A second start finds users and prints no new token.
    let mut again = kontor()
        .args(["serve", "--database-url", url.as_str(), "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = again.kill();
    let out = again.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kontor_"), "a second admin token was printed");

    let mut admin: diesel_async::AsyncPgConnection =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&common::admin_url())
            .await
            .unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn import_and_export_from_the_command_line_match_the_job() {
    let s = crate::common::TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leads.csv");
    std::fs::write(&file, "Vorname,Nachname,E-Mail\nAnna,Berg,anna@berg.de\nBob,Stone,bad\nCora,Lang,cora@lang.de\n")
        .unwrap();
    let out = kontor()
        .args([
            "import",
            file.to_str().unwrap(),
            "--type",
            "lead",
            "--duplicates",
            "merge",
            "--database-url",
            &s.db.url,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(": DONE; 3 rows: 2 created, 0 updated, 0 skipped, 1 failed"), "{stdout}");
    assert!(stdout.contains("row 3:"), "the failed row is listed: {stdout}");
    let jobs = s.ok("{ importJobs { fileName created failed processed } }", serde_json::json!({})).await;
    assert_eq!(
        jobs["importJobs"][0],
        serde_json::json!({ "fileName": "leads.csv", "created": 2, "failed": 1, "processed": 3 })
    );

    let out = kontor()
        .args(["export", "--type", "lead", "--filter", r#"{"lastName": {"eq": "Lang"}}"#, "--database-url", &s.db.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains("Cora"), "{csv}");
    let me = s.ok("{ me { id } }", serde_json::json!({})).await["me"]["id"].clone();
    let tokens = s.ok("query($u: ID!) { apiTokens(userId: $u) { name } }", serde_json::json!({ "u": me })).await;
    assert_eq!(tokens["apiTokens"], serde_json::json!([{ "name": "test" }]), "the run's token is gone");
}

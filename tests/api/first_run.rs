//! First run without a prepared database: `kontor serve` with no DATABASE_URL runs a private
//! PostgreSQL cluster from the installed server binaries in its data folder, stops it when
//! it stops, and finds its data there on the next start.

use serde_json::json;

use crate::common::ServerProcess;

#[tokio::test]
async fn kontor_runs_its_own_postgres_and_keeps_the_data() {
    let folder = tempfile::tempdir().unwrap();
    // Run as root, the cluster belongs to the `postgres` user, which must reach the folder.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let data_dir = folder.path().join("pg");
    let data_arg = data_dir.to_str().unwrap().to_owned();
    let mut server = ServerProcess::start(&["--data-dir", &data_arg], &[]).await;
    assert!(data_dir.join("PG_VERSION").is_file(), "the cluster is created in the named folder");
    assert!(data_dir.join("postmaster.pid").is_file(), "and runs");
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "the database answers");

    // A fresh installation prints the first administrator's token once.
    let printed = server.stdout.lock().unwrap().clone();
    let token = printed
        .lines()
        .skip_while(|l| !l.contains("API token"))
        .nth(1)
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| panic!("no token printed: {printed}"));
    let created = server.ok(&token, "mutation { createLead(input: { title: \"Kept\" }) { id } }", json!({})).await;
    let id = created["createLead"]["id"].clone();

    let status = server.stop().await;
    assert!(status.success(), "kontor stops cleanly: {status}");
    assert!(!data_dir.join("postmaster.pid").exists(), "the private PostgreSQL stopped with it");

    server.restart().await;
    let lead = server.ok(&token, "query($id: ID!) { lead(id: $id) { title } }", json!({ "id": id })).await;
    assert_eq!(lead["lead"]["title"], "Kept", "the data is kept across restarts");
    assert_eq!(
        server.stdout.lock().unwrap().matches("API token").count(),
        1,
        "the second start finds its administrator and prints no new token"
    );
    server.stop().await;
    assert!(!data_dir.join("postmaster.pid").exists());
}

#[tokio::test]
async fn no_postgres_installed_says_what_to_install() {
    // Where the server binaries are not (here: a folder without them), a first run that needs
    // its own cluster stops at once with one message and a non-zero exit.
    let folder = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kontor"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(folder.path().join("pg"))
        .env_remove("DATABASE_URL")
        .env("KONTOR_PG_BINDIR", folder.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("apt-get install postgresql"), "{said}");
}

//! Test harness: every test gets its own database cloned from a migrated template and its
//! own server on a free port, talked to over real HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use kontor::config::Global;
use kontor::http::AppState;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The server's admin URL; tests create and drop databases through it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://127.0.0.1:5432/postgres".into())
}

fn url_for(db: &str) -> String {
    let mut u = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// The template's name depends on the migrations, so a changed schema gets a new template.
fn template_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut entries: Vec<_> = walk(std::path::Path::new(dir));
    entries.sort();
    for path in entries {
        path.hash(&mut h);
        std::fs::read(&path).unwrap_or_default().hash(&mut h);
    }
    format!("kontor_tmpl_{:x}", h.finish())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut admin = AsyncPgConnection::establish(&admin_url()).await.expect("PostgreSQL for tests");
            // Serialise template creation across test processes.
            admin.batch_execute("SELECT pg_advisory_lock(727274)").await.unwrap();
            let exists = exists(&mut admin, &name).await;
            if !exists {
                let building = format!("{name}_build");
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await;
                admin.batch_execute(&format!("CREATE DATABASE {building}")).await.unwrap();
                kontor::db::setup::prepare(&url_for(&building)).await.expect("migrate the template");
                admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await.unwrap();
            }
            admin.batch_execute("SELECT pg_advisory_unlock(727274)").await.unwrap();
            name
        })
        .await
        .clone()
}

async fn exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    use diesel::QueryableByName;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let r: N = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(conn)
        .await
        .unwrap();
    r.n > 0
}

/// A fresh database cloned from the template; dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let template = template().await;
        let name = format!("kontor_t_{}", rand_suffix());
        let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
        let mut tries = 0;
        loop {
            match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await {
                Ok(()) => break,
                // Another test is cloning the same template at this instant.
                Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        TestDb { url: url_for(&name), name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

fn rand_suffix() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..12).map(|_| char::from(b'a' + r.random_range(0..26u8))).collect()
}

pub fn global(database_url: &str) -> Global {
    Global {
        database_url: Some(database_url.to_owned()),
        data_dir: None,
        pg_bindir: None,
        redis_url: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        phone_region: "DE".into(),
        db_pool_size: 8,
        cors_origins: vec!["*".into()],
        request_timeout_secs: 30,
        body_limit: 1024 * 1024,
        upload_limit: 100 * 1024 * 1024,
        dataloader_delay_us: 0,
        event_retention_days: 7,
        public_url: None,
        form_rate_per_ip: 10,
        form_rate_per_form: 300,
        mail_attachment_limit: 10 * 1024 * 1024,
        webhook_allow_private: true,
        notification_retention_days: 30,
        webhook_timeout_secs: 15,
        log_format: "text".into(),
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub token: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with adjusted settings.
    pub async fn start_with(adjust: impl FnOnce(&mut Global)) -> TestServer {
        // Server-side errors show in the output of failing tests.
        // RUST_LOG overrides, e.g. `RUST_LOG=kontor::sql=debug` for every statement.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kontor=error"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        let db = TestDb::new().await;
        let mut settings = global(&db.url);
        adjust(&mut settings);
        let state = kontor::app::build(&settings).await.expect("build app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = kontor::app::spawn(listener, state.clone());
        let token = kontor::org::auth::cli_token(&db.url, "admin@test.local", true, "test").await.unwrap();
        TestServer { addr, state, token, client: reqwest::Client::new(), db, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A token for another (non-admin unless asked) user.
    pub async fn token_for(&self, email: &str, admin: bool) -> String {
        kontor::org::auth::cli_token(&self.db.url, email, admin, "test").await.unwrap()
    }

    /// Gives `user_id` (as its only role) a new role that reads every element type at `level`.
    pub async fn give_read_role(&self, user_id: &Value, name: &str, level: &str) {
        let role =
            self.ok("mutation($n: String!) { createRole(name: $n) { id } }", json!({ "n": name })).await["createRole"]
                ["id"]
                .clone();
        let lines: Vec<Value> = ["LEAD", "CONTACT", "COMPANY", "DEAL"]
            .iter()
            .map(|t| json!({ "elementType": t, "action": "READ", "level": level }))
            .collect();
        self.ok(
            "mutation($r: ID!, $p: [PermissionInput!]!) { setRolePermissions(roleId: $r, permissions: $p) { id } }",
            json!({ "r": role, "p": lines }),
        )
        .await;
        self.ok(
            "mutation($u: ID!, $r: [ID!]!) { assignRoles(userId: $u, roleIds: $r) { id } }",
            json!({ "u": user_id, "r": [role] }),
        )
        .await;
    }

    /// Sends a query as the admin and returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(&self.token, query, variables).await
    }

    pub async fn gql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let resp = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success() || resp.status().is_client_error(), "status {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Sends a query that must succeed and returns its `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Sends a query that must fail and returns the first error's `extensions.code`.
    pub async fn err_code(&self, query: &str, variables: Value) -> String {
        let body = self.gql(query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {body}"))
            .to_owned()
    }

    /// Another server process-alike on the same database (scale-out tests).
    pub async fn sibling(&self, adjust: impl FnOnce(&mut Global)) -> Instance {
        let mut settings = global(&self.db.url);
        adjust(&mut settings);
        let state = kontor::app::build(&settings).await.expect("build app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = kontor::app::spawn(listener, state.clone());
        Instance { addr, state, task }
    }

    pub fn statements(&self) -> u64 {
        self.state.statements.get()
    }
}

/// A second server on a TestServer's database.
pub struct Instance {
    pub addr: SocketAddr,
    pub state: AppState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A private Redis on a free port, for tests that stop and restart it.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = PrivateRedis { port, child: None };
        r.restart().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("private redis did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A graphql-transport-ws client socket.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a graphql-transport-ws socket to `addr`, authenticates with `token` and sends one
/// subscription (id "1").
pub async fn subscribe(addr: SocketAddr, token: &str, query: &str, variables: Value) -> Ws {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/graphql").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = next_within(&mut ws, Duration::from_secs(10)).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack");
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
    ws.send(Message::Text(sub.to_string().into())).await.unwrap();
    ws
}

/// The next protocol message (pings skipped), or None after `wait` without one.
pub async fn next_within(ws: &mut Ws, wait: Duration) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(wait, ws.next()).await.ok()??.ok()?;
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "ping" || v["type"] == "pong" {
                continue;
            }
            return Some(v);
        }
    }
}

/// The `kontor` binary as a process of its own, for tests that stop and start the server
/// itself (the in-process `TestServer` cannot drop its open WebSocket connections).
pub struct ServerProcess {
    pub port: u16,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    /// Everything the process printed on stdout so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServerProcess {
    /// Starts `kontor serve` on a free port with `args`, and `env` on top of an environment
    /// without DATABASE_URL, and waits until it answers `/healthz`.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut p = ServerProcess {
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            child: None,
            stdout: Default::default(),
        };
        p.restart().await;
        p
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub async fn restart(&mut self) {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kontor"));
        cmd.arg("serve")
            .args(&self.args)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .env_remove("DATABASE_URL")
            .env_remove("KONTOR_DATA_DIR")
            .env("RUST_LOG", "kontor=warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let out = self.stdout.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        self.child = Some(child);
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kontor serve ended at start ({status}); it printed: {}", self.stdout.lock().unwrap());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("kontor serve did not answer /healthz within a minute");
    }

    /// Sends a query as `token` that must succeed and returns its `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body: Value = reqwest::Client::new()
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Stops the server as an operator does (SIGTERM) and waits until the process ended.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the server runs");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("kontor stops within a minute")
            .unwrap()
    }
}

//! A private PostgreSQL cluster for a first run: with no `DATABASE_URL` and no server on
//! 127.0.0.1:5432 (or with `--data-dir`), Kontor creates a cluster of its own from the
//! installed server binaries (`initdb`, `postgres`), starts it on a Unix socket inside its data
//! folder, stops it when Kontor stops, and reuses it on the next start.
//!
//! The socket lives in the data folder, which only the cluster's owner may enter, and no TCP
//! port is opened: trust authentication then admits only this machine's owner of the folder
//! (and root), never the network.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::config::Global;

/// The database Kontor keeps in its cluster, and the cluster's superuser.
const DATABASE: &str = "kontor";
const SUPERUSER: &str = "kontor";
/// Only names the socket file (`.s.PGSQL.5432`): the cluster listens on no TCP port.
const SOCKET_PORT: u16 = 5432;
/// A Unix socket path longer than this does not fit `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 100;

const NOT_INSTALLED: &str = "No DATABASE_URL is set and no PostgreSQL server binaries (initdb, postgres) \
     were found to start a private cluster. Install PostgreSQL \
     (Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server \
     postgresql-contrib`; macOS: `brew install postgresql`) and start Kontor again, or set \
     DATABASE_URL to a server you have";

/// A cluster this process started or adopted; [`LocalCluster::stop`] stops it.
pub struct LocalCluster {
    bindir: PathBuf,
    data_dir: PathBuf,
    owner: Option<Owner>,
    child: Option<std::process::Child>,
}

/// PostgreSQL refuses to run as root, so root runs it as the `postgres` system user.
#[derive(Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

/// Decides where the database is: `DATABASE_URL` always wins; then `--data-dir` or, when no
/// server answers on 127.0.0.1:5432, a private cluster (started here); else that server.
/// Leaves the chosen URL in `global.database_url`.
pub async fn resolve(global: &mut Global) -> anyhow::Result<Option<LocalCluster>> {
    if global.database_url.is_some() {
        return Ok(None);
    }
    if global.data_dir.is_none() && default_server_answers().await {
        global.database_url = Some(crate::config::DEFAULT_DATABASE_URL.to_owned());
        return Ok(None);
    }
    let data_dir = match &global.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let bindir = match &global.pg_bindir {
        Some(dir) if has_server(dir) => dir.clone(),
        Some(dir) => bail!("{} does not hold initdb and postgres. {NOT_INSTALLED}", dir.display()),
        None => find_bindir().ok_or_else(|| anyhow!(NOT_INSTALLED))?,
    };
    let cluster = LocalCluster::start(bindir, &data_dir).await?;
    global.database_url = Some(cluster.url()?);
    Ok(Some(cluster))
}

async fn default_server_answers() -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(("127.0.0.1", 5432))).await,
        Ok(Ok(_))
    )
}

/// Root's cluster must be reachable by the `postgres` user, which cannot enter root's home.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from("/var/lib/kontor/postgres"));
    }
    dirs::data_dir()
        .map(|d| d.join("kontor").join("postgres"))
        .ok_or_else(|| anyhow!("cannot tell this user's data directory; pass --data-dir"))
}

/// The folder holding `initdb` and `postgres`: `pg_config --bindir`, then the usual places
/// (Debian's versioned folders newest first, the PGDG and source-build folders, Homebrew).
fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn find_bindir() -> Option<PathBuf> {
    if let Ok(out) = std::process::Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Some(dir);
        }
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    // (folder, prefix of the versioned entries): /usr/lib/postgresql/16/bin, /usr/pgsql-16/bin.
    for (parent, prefix) in [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")] {
        let Ok(entries) = std::fs::read_dir(parent) else { continue };
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let version = e.file_name().to_str()?.strip_prefix(prefix)?.parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        candidates.extend(versions.into_iter().map(|(_, p)| p));
    }
    candidates.extend(
        ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"].into_iter().map(PathBuf::from),
    );
    candidates.into_iter().find(|d| has_server(d))
}

impl LocalCluster {
    /// Creates the cluster if the folder holds none, then starts it (or adopts the one a
    /// stopped Kontor left running) and waits until it takes connections.
    pub async fn start(bindir: PathBuf, data_dir: &Path) -> anyhow::Result<LocalCluster> {
        let data_dir = std::path::absolute(data_dir)?;
        let socket = data_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            bail!(
                "the data folder {} is too long a path for PostgreSQL's socket; pass a shorter --data-dir",
                data_dir.display()
            );
        }
        let owner = owner()?;
        let mut cluster = LocalCluster { bindir, data_dir, owner, child: None };
        if !cluster.data_dir.join("PG_VERSION").is_file() {
            cluster.init().await?;
        }
        if cluster.connect("postgres").await.is_ok() {
            tracing::info!(data_dir = %cluster.data_dir.display(), "using the private PostgreSQL a previous run left running");
            return Ok(cluster);
        }
        cluster.launch()?;
        cluster.wait_ready().await?;
        tracing::info!(data_dir = %cluster.data_dir.display(), "private PostgreSQL started");
        Ok(cluster)
    }

    /// The URL of Kontor's database in this cluster (over the socket).
    pub fn url(&self) -> anyhow::Result<String> {
        self.url_of(DATABASE)
    }

    fn url_of(&self, database: &str) -> anyhow::Result<String> {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let dir = self.data_dir.to_str().ok_or_else(|| anyhow!("the data folder's path is not UTF-8"))?;
        let host = utf8_percent_encode(dir, NON_ALPHANUMERIC);
        Ok(format!("postgres://{SUPERUSER}@localhost/{database}?host={host}&port={SOCKET_PORT}"))
    }

    /// Whether this process started the server (rather than finding it running).
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    async fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create the data folder {}", self.data_dir.display()))?;
        self.hand_over(&self.data_dir)?;
        eprintln!("Creating a private PostgreSQL cluster in {}", self.data_dir.display());
        // C.UTF-8 keeps sorting byte-wise but lets lower()/upper() fold non-ASCII letters;
        // systems without that locale fall back to their own default.
        let mut last = String::new();
        for locale in [Some("C.UTF-8"), None] {
            let mut cmd = self.command("initdb");
            cmd.arg("-D").arg(&self.data_dir).args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-instructions"]);
            if let Some(l) = locale {
                cmd.arg(format!("--locale={l}"));
            }
            let out = tokio::task::spawn_blocking(move || cmd.output()).await?.context("cannot run initdb")?;
            if out.status.success() {
                return Ok(());
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        bail!("initdb failed for {}: {}", self.data_dir.display(), last.trim())
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let log_path = self.data_dir.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-k")
            .arg(&self.data_dir)
            .args(["-c", "listen_addresses=", "-p", &SOCKET_PORT.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: Ctrl-C in a terminal reaches Kontor, which stops the
            // server after the last request instead of under it.
            .process_group(0);
        self.child = Some(cmd.spawn().context("cannot start postgres")?);
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..300 {
            if self.connect("postgres").await.is_ok() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                bail!("PostgreSQL stopped at start ({status}); its log: {}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("PostgreSQL did not accept connections within 30 s; its log: {}", self.log_tail())
    }

    async fn connect(&self, database: &str) -> anyhow::Result<AsyncPgConnection> {
        Ok(AsyncPgConnection::establish(&self.url_of(database)?).await?)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Stops the cluster (fast shutdown: open sessions end, nothing committed is lost). Runs
    /// after the async runtime has ended, so it blocks.
    pub fn stop(mut self) {
        let stopped =
            self.command("pg_ctl").arg("stop").arg("-D").arg(&self.data_dir).args(["-m", "fast", "-w", "-s"]).status();
        if !matches!(stopped, Ok(s) if s.success()) {
            tracing::warn!(data_dir = %self.data_dir.display(), "pg_ctl could not stop the private PostgreSQL");
        }
        if let Some(child) = &mut self.child {
            let _ = child.wait();
        }
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(self.bindir.join(program));
        if let Some(o) = self.owner {
            cmd.uid(o.uid).gid(o.gid);
        }
        cmd
    }

    /// Gives a folder to the cluster's owner (only when running as root) and closes it to
    /// everyone else, as PostgreSQL requires.
    fn hand_over(&self, dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(o) = self.owner {
            nix::unistd::chown(dir, Some(o.uid.into()), Some(o.gid.into()))
                .with_context(|| format!("cannot give {} to the postgres user", dir.display()))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(())
    }
}

fn owner() -> anyhow::Result<Option<Owner>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name("postgres")?.ok_or_else(|| {
        anyhow!("PostgreSQL does not run as root and there is no `postgres` system user to run it as; run Kontor as an ordinary user")
    })?;
    Ok(Some(Owner { uid: user.uid.as_raw(), gid: user.gid.as_raw() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_points_at_the_socket_folder() {
        let cluster = LocalCluster {
            bindir: PathBuf::from("/usr/bin"),
            data_dir: PathBuf::from("/var/lib/kontor data/pg"),
            owner: None,
            child: None,
        };
        let url = cluster.url().unwrap();
        assert_eq!(url, "postgres://kontor@localhost/kontor?host=%2Fvar%2Flib%2Fkontor%20data%2Fpg&port=5432");
    }
}

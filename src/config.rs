//! Command line and environment configuration.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "kontor", version, about = "Kontor: an open-source CRM server with a GraphQL API", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// PostgreSQL URL; the database is created on first start if it does not exist. Without
    /// it: the server on 127.0.0.1:5432 if one answers, else a private cluster (`--data-dir`).
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Folder of the private PostgreSQL cluster Kontor runs when no DATABASE_URL is set
    /// (default: the user's data directory, e.g. ~/.local/share/kontor/postgres). Giving it
    /// asks for that cluster even when a server answers on 127.0.0.1:5432.
    #[arg(long, env = "KONTOR_DATA_DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Folder of PostgreSQL's server binaries for that cluster (default: `pg_config --bindir`,
    /// then the usual places).
    #[arg(long, env = "KONTOR_PG_BINDIR", global = true)]
    pub pg_bindir: Option<std::path::PathBuf>,
    /// Redis URL for event fan-out between instances; without it events stay in process.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Address the HTTP server listens on.
    #[arg(long, env = "KONTOR_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,
    /// Region (ISO 3166 alpha-2) used to read phone numbers written without a country code.
    #[arg(long, env = "KONTOR_PHONE_REGION", default_value = "US", global = true)]
    pub phone_region: String,
    /// Maximum database connections in the pool (default: 4 per CPU core, 4 to 32).
    #[arg(long, env = "KONTOR_DB_POOL_SIZE", default_value_t = default_pool_size(), global = true)]
    pub db_pool_size: usize,
    /// Origins allowed by CORS, comma-separated; `*` allows any.
    #[arg(long, env = "KONTOR_CORS_ORIGINS", value_delimiter = ',', default_value = "*", global = true)]
    pub cors_origins: Vec<String>,
    /// Seconds before a request is abandoned with 408.
    #[arg(long, env = "KONTOR_REQUEST_TIMEOUT_SECS", default_value_t = 30, global = true)]
    pub request_timeout_secs: u64,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "KONTOR_BODY_LIMIT", default_value_t = 1024 * 1024, global = true)]
    pub body_limit: usize,
    /// Largest accepted file upload (an import) in bytes.
    #[arg(long, env = "KONTOR_UPLOAD_LIMIT", default_value_t = 100 * 1024 * 1024, global = true)]
    pub upload_limit: usize,
    /// How long a DataLoader waits to collect keys, in microseconds. Lists prefetch their
    /// rows' relations in one batch each, so no window is needed by default.
    #[arg(long, env = "KONTOR_DATALOADER_DELAY_US", default_value_t = 0, global = true)]
    pub dataloader_delay_us: u64,
    /// Days published events stay replayable (`after:` on subscriptions) before pruning.
    #[arg(long, env = "KONTOR_EVENT_RETENTION_DAYS", default_value_t = 7, global = true)]
    pub event_retention_days: i64,
    /// The address people and websites reach this server at (web form links, the widget's
    /// embed code); default `http://` + the listen address.
    #[arg(long, env = "KONTOR_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Web form submissions one IP address may send per minute (all forms together).
    #[arg(long, env = "KONTOR_FORM_RATE_PER_IP", default_value_t = 10, global = true)]
    pub form_rate_per_ip: u32,
    /// Submissions one web form takes per minute (all senders together).
    #[arg(long, env = "KONTOR_FORM_RATE_PER_FORM", default_value_t = 300, global = true)]
    pub form_rate_per_form: u32,
    /// Largest e-mail attachment stored, in bytes; larger ones keep only name and size.
    #[arg(long, env = "KONTOR_MAIL_ATTACHMENT_LIMIT", default_value_t = 10 * 1024 * 1024, global = true)]
    pub mail_attachment_limit: usize,
    /// Days read notifications are kept before they are pruned (unread ones stay).
    #[arg(long, env = "KONTOR_NOTIFICATION_RETENTION_DAYS", default_value_t = 30, global = true)]
    pub notification_retention_days: i64,
    /// Allow webhooks to loopback and private network addresses (refused by default).
    #[arg(long, env = "KONTOR_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, global = true)]
    pub webhook_allow_private: bool,
    /// Seconds a webhook receiver has to answer before the attempt counts as failed.
    #[arg(long, env = "KONTOR_WEBHOOK_TIMEOUT_SECS", default_value_t = 15, global = true)]
    pub webhook_timeout_secs: u64,
    /// Log format: `text` or `json`. Levels come from RUST_LOG (default `info`).
    #[arg(long, env = "KONTOR_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default): creates and migrates the database, seeds defaults.
    Serve,
    /// Create the database if needed and run pending migrations, then exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Fill the database with demo data.
    Seed(SeedArgs),
    /// Import a CSV or XLSX file as the API's `startImport` does, with a progress bar.
    Import(ImportArgs),
    /// Write the elements of one type as CSV to stdout, as `GET /export/<type>.csv` does.
    Export(ExportArgs),
    /// Incoming e-mail.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// Store one message read from stdin (a mail server's pipe transport) as `POST /mail/inbound`
    /// does. Exit code 0 stored, 65 not an e-mail message, 75 try again later (the database).
    Ingest {
        /// Act as this user (default: the first administrator).
        #[arg(long = "as")]
        as_user: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV or XLSX file.
    pub file: std::path::PathBuf,
    /// lead, contact, company or deal.
    #[arg(long = "type")]
    pub element_type: String,
    /// skip, merge, replace or allow: what to do with a row that matches an element.
    #[arg(long, default_value = "skip")]
    pub duplicates: String,
    /// What makes a match: email, phone, name, company_title, external_id (comma-separated).
    #[arg(long = "match", default_value = "email,phone")]
    pub match_by: String,
    /// Report what would happen and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import as this user (default: the first administrator).
    #[arg(long = "as")]
    pub as_user: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// lead, contact, company or deal.
    #[arg(long = "type")]
    pub element_type: String,
    /// The list's filter argument as JSON, e.g. '{"lastName": {"eq": "Berg"}}'.
    #[arg(long)]
    pub filter: Option<String>,
    /// Export as this user (default: the first administrator).
    #[arg(long = "as")]
    pub as_user: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for a user (created if missing) and print only the token.
    Create {
        /// The user's e-mail.
        #[arg(long)]
        user: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// Realistic demo data (required; guards against seeding production by accident).
    #[arg(long)]
    pub demo: bool,
    /// Number of deals; leads, contacts, companies and users scale with it.
    #[arg(long, default_value_t = 200)]
    pub scale: u64,
}

/// More connections than this only queue inside PostgreSQL: a 2-core machine peaked at 8
/// (docs/benchmarks.md).
fn default_pool_size() -> usize {
    std::thread::available_parallelism().map_or(8, |n| n.get() * 4).clamp(4, 32)
}

/// Where the database is when nothing says otherwise and a server answers on 5432.
pub const DEFAULT_DATABASE_URL: &str = "postgres://localhost:5432/kontor";

impl Global {
    /// The database's URL (`db::local::resolve` fills it in when no DATABASE_URL was given).
    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)
    }

    pub fn phone_region(&self) -> anyhow::Result<phonenumber::country::Id> {
        self.phone_region
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| anyhow::anyhow!("KONTOR_PHONE_REGION `{}` is not a region code", self.phone_region))
    }

    /// The public address, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

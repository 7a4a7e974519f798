use std::process::ExitCode;

use clap::Parser;
use kontor::config::{Cli, Command, MailCommand, TokenCommand};
use kontor::db::setup;
use tracing_subscriber::EnvFilter;

// A GraphQL response is built from many small allocations; glibc malloc was a quarter of the
// server's CPU time under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the command. A private PostgreSQL cluster it must stop afterwards comes back with the
/// outcome, so `main` can stop it after every background task has ended.
async fn run(cli: Cli) -> (anyhow::Result<ExitCode>, Option<kontor::db::local::LocalCluster>) {
    let mut global = cli.global;
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    let cluster = match command {
        Command::ExportSchema => None,
        _ => match kontor::db::local::resolve(&mut global).await {
            Ok(c) => c,
            Err(e) => return (Err(e), None),
        },
    };
    let done = run_command(command, &global).await;
    // A one-off command leaves alone a private cluster that a running server uses; a server
    // stops the cluster it started or took over.
    (done, cluster.filter(|c| serving || c.started_here()))
}

async fn run_command(command: Command, global: &kontor::config::Global) -> anyhow::Result<ExitCode> {
    let done = match command {
        Command::Serve => kontor::app::serve(global).await,
        Command::Migrate => {
            setup::prepare(global.database_url()).await?;
            eprintln!("database {} is up to date", setup::mask_password(global.database_url()));
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", kontor::api::sdl());
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { user, admin, name } } => {
            setup::prepare(global.database_url()).await?;
            let token = kontor::org::auth::cli_token(global.database_url(), &user, admin, &name).await?;
            println!("{token}");
            Ok(())
        }
        Command::Seed(args) => {
            if !args.demo {
                anyhow::bail!("pass --demo to fill this database with demo data");
            }
            setup::prepare(global.database_url()).await?;
            kontor::db::seed::run(global.database_url(), args.scale).await
        }
        Command::Import(args) => kontor::import::cli::import(global, args).await,
        Command::Export(args) => kontor::import::cli::export(global, args).await,
        // A mail server's pipe transport acts on the exit code (sysexits), so this one picks its own.
        Command::Mail { command: MailCommand::Ingest { as_user } } => {
            return Ok(kontor::intake::mail::cli::ingest(global, as_user).await);
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global.log_format);
    kontor::app::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (done, cluster) = runtime.block_on(run(cli));
    // The relay, the webhook sender and the rest end with the runtime, before the private
    // database they talk to goes away under them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Some(cluster) = cluster {
        cluster.stop();
    }
    match done {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

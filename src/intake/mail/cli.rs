//! `kontor mail ingest`: one message on stdin, as a mail server's pipe transport delivers it
//! (Postfix `pipe`, an Exim transport, procmail). The transport reads the exit code, so the
//! codes follow sysexits.h: a message that can never be read bounces, a database that is down
//! makes the mail server keep the message and try again.

use std::io::Read;
use std::process::ExitCode;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::config::Global;
use crate::db::{StatementCounter, pool, setup};
use crate::intake::mail::{ingest, parse};
use crate::kernel::access::permissions::Action;
use crate::kernel::{Actor, DomainError, ElementType};

/// EX_DATAERR: not an e-mail message; retrying changes nothing.
const DATA_ERROR: u8 = 65;
/// EX_NOUSER: `--as` names no active user (or there is no administrator).
const NO_USER: u8 = 67;
/// EX_TEMPFAIL: the database is unreachable or failed; the mail server tries again later.
const TEMP_FAIL: u8 = 75;
/// EX_NOPERM: the acting user may not add leads.
const NO_PERMISSION: u8 = 77;
/// EX_CONFIG: the configuration is wrong (the phone region).
const CONFIG: u8 = 78;

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Why the run stopped, with the code the mail server sees.
struct Failure {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl std::fmt::Display) -> Failure {
    Failure { code, message: message.to_string() }
}

fn temp(e: impl std::fmt::Display) -> Failure {
    fail(TEMP_FAIL, format!("{e:#}"))
}

pub async fn ingest(global: &Global, as_user: Option<String>) -> ExitCode {
    match run(global, as_user.as_deref()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(global: &Global, as_user: Option<&str>) -> Result<(), Failure> {
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw).map_err(temp)?;
    // Parsed before the database is touched: a broken message bounces even while it is down.
    let mail = parse::parse(&raw).map_err(|e| fail(DATA_ERROR, e))?;
    let region = global.phone_region().map_err(|e| fail(CONFIG, e))?;
    setup::prepare(global.database_url()).await.map_err(temp)?;
    let pool = pool::build(
        global.database_url(),
        &pool::PoolSettings { max_size: 1, ..Default::default() },
        StatementCounter::default(),
    )
    .map_err(temp)?;
    let mut conn = pool.get().await.map_err(temp)?;
    let actor = act_as(&mut conn, as_user).await?;
    match ingest::ingest(&mut conn, &actor, &mail, global.mail_attachment_limit, region).await {
        Ok(done) => {
            println!("{}", serde_json::to_string(&done).map_err(temp)?);
            Ok(())
        }
        Err(e @ (DomainError::Internal(_) | DomainError::Conflict { .. })) => Err(temp(e.into_anyhow())),
        Err(e @ DomainError::Forbidden(_)) => Err(fail(NO_PERMISSION, e.message())),
        Err(e) => Err(fail(DATA_ERROR, e.message())),
    }
}

/// The user named by `--as`, else the first administrator, with their rights.
async fn act_as(conn: &mut AsyncPgConnection, email: Option<&str>) -> Result<Actor, Failure> {
    let found: Vec<UserId> = diesel::sql_query(
        "SELECT id FROM users WHERE active AND ($1::text IS NULL AND is_admin OR lower(email) = lower($1)) \
         ORDER BY id LIMIT 1",
    )
    .bind::<Nullable<Text>, _>(email)
    .load(conn)
    .await
    .map_err(temp)?;
    let Some(user) = found.into_iter().next() else {
        return Err(match email {
            Some(e) => fail(NO_USER, format!("no active user `{e}`")),
            None => fail(NO_USER, "no administrator: pass --as EMAIL"),
        });
    };
    let actor = crate::org::auth::actor_for_user(conn, user.id).await.map_err(|e| temp(e.into_anyhow()))?;
    actor.rights.check_may(ElementType::Lead, Action::Add).map_err(|e| fail(NO_PERMISSION, e.message()))?;
    Ok(actor)
}

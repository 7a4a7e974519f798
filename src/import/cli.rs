//! `kontor import` and `kontor export`: the same job and the same CSV as the API, from a
//! terminal, as a user of the database (a token is made for the run and deleted after).

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{ExportArgs, Global, ImportArgs};
use crate::db::{StatementCounter, pool, setup};
use crate::import::job::{self, DuplicateMode, MatchKey, Options};
use crate::import::lookups::Lookups;
use crate::import::mapping::CustomFieldInfo;
use crate::import::run::{self, Plan};
use crate::kernel::access::permissions::Action;
use crate::kernel::write::Ctx;
use crate::kernel::{Actor, DomainError, ElementType};

fn element_type(word: &str) -> anyhow::Result<ElementType> {
    ElementType::parse(&word.to_uppercase()).ok_or_else(|| anyhow::anyhow!("--type is lead, contact, company or deal"))
}

fn words<T: serde::de::DeserializeOwned>(list: &str, what: &str) -> anyhow::Result<Vec<T>> {
    list.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            serde_json::from_value(serde_json::Value::String(w.to_uppercase()))
                .map_err(|_| anyhow::anyhow!("`{w}` is not a {what}"))
        })
        .collect()
}

#[derive(QueryableByName)]
struct Email {
    #[diesel(sql_type = Text)]
    email: String,
}

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The acting user, with the rights a token of theirs would carry, and the token to delete.
async fn act_as(conn: &mut AsyncPgConnection, email: Option<&str>) -> anyhow::Result<(Actor, i64)> {
    let email = match email {
        Some(e) => e.to_owned(),
        None => {
            let found: Vec<Email> =
                diesel::sql_query("SELECT email FROM users WHERE is_admin AND active ORDER BY id LIMIT 1")
                    .load(conn)
                    .await?;
            found
                .into_iter()
                .next()
                .map(|e| e.email)
                .ok_or_else(|| anyhow::anyhow!("no administrator: pass --as EMAIL"))?
        }
    };
    let found: Vec<UserId> = diesel::sql_query("SELECT id FROM users WHERE lower(email) = lower($1) AND active")
        .bind::<Text, _>(&email)
        .load(conn)
        .await?;
    let user = found.into_iter().next().ok_or_else(|| anyhow::anyhow!("no active user `{email}`"))?;
    let (token, id) = crate::org::auth::create_token(conn, user.id, "kontor import/export")
        .await
        .map_err(DomainError::into_anyhow)?;
    let actor = crate::org::auth::actor_for_token(conn, &token).await.map_err(DomainError::into_anyhow)?;
    Ok((actor, id))
}

async fn drop_token(conn: &mut AsyncPgConnection, id: i64) -> anyhow::Result<()> {
    diesel::sql_query("DELETE FROM api_tokens WHERE id = $1").bind::<BigInt, _>(id).execute(conn).await?;
    Ok(())
}

/// Rows in a CSV file, roughly (lines after the header), for the progress bar's length.
fn estimate_rows(path: &std::path::Path) -> Option<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    Some(lines.saturating_sub(1))
}

pub async fn import(global: &Global, args: ImportArgs) -> anyhow::Result<()> {
    let element = element_type(&args.element_type)?;
    let duplicates: DuplicateMode =
        words(&args.duplicates, "duplicate mode (skip, merge, replace, allow)")?.pop().unwrap_or(DuplicateMode::Skip);
    let match_by: Vec<MatchKey> = words(&args.match_by, "match key (email, phone, name, company_title, external_id)")?;
    setup::prepare(global.database_url()).await?;
    let pool = pool::build(
        global.database_url(),
        &pool::PoolSettings { max_size: 4, ..Default::default() },
        StatementCounter::default(),
    )?;
    let mut conn = pool.get().await?;
    let (actor, token) = act_as(&mut conn, args.as_user.as_deref()).await?;
    let result = run_import(&pool, &mut conn, global, args, element, duplicates, match_by, actor).await;
    drop_token(&mut conn, token).await?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_import(
    pool: &crate::db::Pool,
    conn: &mut AsyncPgConnection,
    global: &Global,
    args: ImportArgs,
    element: ElementType,
    duplicates: DuplicateMode,
    match_by: Vec<MatchKey>,
    actor: Actor,
) -> anyhow::Result<()> {
    actor.rights.check_may(element, Action::Import).map_err(DomainError::into_anyhow)?;
    actor.rights.check_may(element, Action::Add).map_err(DomainError::into_anyhow)?;
    let options =
        Options { duplicates, match_by, mapping: None, defaults: Vec::new(), delimiter: None, encoding: None };
    let custom: Vec<CustomFieldInfo> = crate::crm::shared::custom_fields::definitions(conn, element)
        .await
        .map_err(DomainError::into_anyhow)?
        .into_iter()
        .map(|d| CustomFieldInfo { code: d.code, label: d.label })
        .collect();
    let (rows, mapping) = run::open(&args.file, element, &options, &custom).map_err(|m| anyhow::anyhow!(m))?;
    if !mapping.unknown.is_empty() {
        eprintln!("ignored columns: {}", mapping.unknown.join(", "));
    }
    let lookups = Lookups::load(conn).await.map_err(DomainError::into_anyhow)?;
    let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let created = job::insert(conn, element, args.dry_run, &name, &options, actor.user_id)
        .await
        .map_err(DomainError::into_anyhow)?;
    let ctx = Ctx { actor, phone_region: global.phone_region()? };
    let plan = Plan { job_id: created.id, element, dry_run: args.dry_run, options, mapping, lookups, ctx };
    let task = tokio::spawn(run::run(pool.clone(), plan, rows, None));
    let bar = ProgressBar::new(estimate_rows(&args.file).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let finished = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(j) = job::get(conn, created.id).await.map_err(DomainError::into_anyhow)? else {
            anyhow::bail!("the job disappeared");
        };
        let processed = u64::try_from(j.processed).unwrap_or(0);
        if processed > bar.length().unwrap_or(0) {
            bar.set_length(processed);
        }
        bar.set_position(processed);
        if j.is_finished() {
            break j;
        }
    };
    task.await?;
    bar.finish();
    let dry = if finished.dry_run { " (dry run: nothing written)" } else { "" };
    println!(
        "import {}: {}{dry}; {} rows: {} created, {} updated, {} skipped, {} failed",
        crate::kernel::ids::encode(crate::kernel::ids::IdKind::ImportJob, finished.id),
        finished.status,
        finished.processed,
        finished.created,
        finished.updated,
        finished.skipped,
        finished.failed
    );
    for e in job::errors(conn, finished.id, 0, 20).await.map_err(DomainError::into_anyhow)? {
        println!("  row {}: {}", e.row_number, e.message);
    }
    if let Some(m) = finished.message.filter(|_| finished.status != "DONE") {
        anyhow::bail!(m);
    }
    Ok(())
}

pub async fn export(global: &Global, args: ExportArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let element = element_type(&args.element_type)?;
    let filter = args
        .filter
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--filter is not JSON: {e}"))?;
    setup::prepare(global.database_url()).await?;
    let pool = pool::build(
        global.database_url(),
        &pool::PoolSettings { max_size: 2, ..Default::default() },
        StatementCounter::default(),
    )?;
    let mut conn = pool.get().await?;
    let (actor, token) = act_as(&mut conn, args.as_user.as_deref()).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let result =
        crate::import::export::export(&mut conn, &actor, element, filter, global.phone_region()?, &mut out).await;
    drop_token(&mut conn, token).await?;
    result.map_err(DomainError::into_anyhow)?;
    let bytes = out.into_inner().map_err(|e| anyhow::anyhow!(e.to_string()))?;
    std::io::stdout().write_all(&bytes)?;
    Ok(())
}

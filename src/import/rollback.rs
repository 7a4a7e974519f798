//! Undoing an import: what it created is deleted, what it changed gets its values from before
//! the job back, in one transaction, each through the write pipeline (so rights, history and
//! events hold as for any other write).

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::Value as Json;

use crate::import::job::{self, Job, Status, Verdict};
use crate::import::run::Importable;
use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::{Company, Contact, Deal, Lead};
use crate::kernel::write::{self as elements, Ctx, Op, Write};

/// Rolls back a finished job that wrote elements; the job ends ROLLED_BACK.
pub async fn rollback(conn: &mut AsyncPgConnection, ctx: &Ctx, j: &Job) -> DomainResult<()> {
    if !j.is_finished() {
        return Err(DomainError::conflict("the import is still running: cancel it first", Json::Null));
    }
    if j.dry_run {
        return Err(DomainError::conflict("a dry run wrote nothing to roll back", Json::Null));
    }
    if j.status_kind() == Status::RolledBack {
        return Err(DomainError::conflict("the import is rolled back already", Json::Null));
    }
    let element = j.element_kind()?;
    let ctx = ctx.clone();
    let (id, total) = (j.id, j.total);
    conn.transaction(async move |conn| {
        match element {
            ElementType::Lead => undo::<Lead>(conn, &ctx, id).await?,
            ElementType::Contact => undo::<Contact>(conn, &ctx, id).await?,
            ElementType::Company => undo::<Company>(conn, &ctx, id).await?,
            ElementType::Deal => undo::<Deal>(conn, &ctx, id).await?,
        }
        job::finish(conn, id, Status::RolledBack, total, Some("rolled back")).await
    })
    .await
}

async fn undo<T: Importable>(conn: &mut AsyncPgConnection, ctx: &Ctx, job_id: i64) -> DomainResult<()> {
    let text =
        format!("rollback of import {}", crate::kernel::ids::encode(crate::kernel::ids::IdKind::ImportJob, job_id));
    for change in job::changes(conn, job_id).await? {
        let gone = match Verdict::parse(&change.verdict) {
            Some(Verdict::Create) => elements::delete::<T>(conn, ctx, change.element_id).await.map(|_| ()),
            _ => {
                let Some(before) = change.before else { continue };
                let before: T = serde_json::from_value(before).map_err(anyhow::Error::from)?;
                let op = Op::new(HistoryKind::ImportRolledBack, EventAction::Updated, text.clone());
                let old: T = match elements::lock(conn, &ctx.actor, change.element_id).await {
                    Ok(old) => old,
                    Err(e) => {
                        skip_missing(e)?;
                        continue;
                    }
                };
                let write = Write::fields(move |row: &mut T| {
                    *row = before;
                    Ok(())
                });
                elements::update_locked(conn, ctx, old, write, op, Vec::new()).await.map(|_| ())
            }
        };
        if let Err(e) = gone {
            skip_missing(e)?;
        }
    }
    Ok(())
}

/// An element deleted since the import needs nothing more; anything else stops the rollback.
fn skip_missing(e: DomainError) -> DomainResult<()> {
    match e {
        DomainError::NotFound(_) => Ok(()),
        other => Err(other),
    }
}

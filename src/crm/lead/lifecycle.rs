//! The lead lifecycle: status moves, junk, the conversion records and the lead conversion
//! report. Conversion itself is in `convert`.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::lead_conversions;
use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::visibility::element_predicate;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::{Lead, LeadConversion};
use crate::kernel::write::{self as elements, Ctx, Op};
use crate::settings::rules as settings;

/// Moves a lead between statuses. The lead rules refuse SUCCESS (conversion only) and any
/// move away from CONVERTED; a junk lead is reopened by moving it to a PROCESS status.
pub async fn set_status(conn: &mut AsyncPgConnection, ctx: &Ctx, id: i64, status_id: i64) -> DomainResult<Lead> {
    elements::get_writable::<Lead>(conn, &ctx.actor, id).await?;
    let status = settings::check_status(conn, "STATUS", status_id, "statusId").await?;
    let op = Op::new(HistoryKind::StatusChanged, EventAction::Updated, format!("status {}", status.name));
    elements::change(conn, ctx, id, op, move |l: &mut Lead| {
        l.status_id = status_id;
        Ok(())
    })
    .await
}

/// Junks a lead: a FAILURE status (default JUNK) with the reason in history.
pub async fn junk(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    status_id: Option<i64>,
    reason: Option<String>,
) -> DomainResult<Lead> {
    elements::get_writable::<Lead>(conn, &ctx.actor, id).await?;
    let status = match status_id {
        Some(s) => settings::check_status(conn, "STATUS", s, "statusId").await?,
        None => settings::status_by_code(conn, "STATUS", "JUNK").await?,
    };
    if status.semantics != settings::FAILURE {
        return Err(DomainError::bad_input("statusId", "junk a lead into a FAILURE status"));
    }
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let text = match &reason {
        Some(r) => format!("junk ({}): {r}", status.name),
        None => format!("junk ({})", status.name),
    };
    let op = Op::new(HistoryKind::Junked, EventAction::Updated, text);
    elements::change(conn, ctx, id, op, move |l: &mut Lead| {
        l.status_id = status.id;
        l.status_description = reason;
        Ok(())
    })
    .await
}

pub async fn conversions_of(conn: &mut AsyncPgConnection, lead_ids: &[i64]) -> DomainResult<Vec<LeadConversion>> {
    Ok(lead_conversions::table
        .filter(lead_conversions::lead_id.eq_any(lead_ids))
        .select(LeadConversion::as_select())
        .load(conn)
        .await?)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Source,
    Assignee,
}

/// One group of the lead conversion report.
#[derive(Clone, Debug, PartialEq, diesel::QueryableByName)]
pub struct ConversionGroup {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub key: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub created: i64,
    #[diesel(sql_type = BigInt)]
    pub converted: i64,
    #[diesel(sql_type = BigInt)]
    pub junked: i64,
}

impl ConversionGroup {
    pub fn rate(&self) -> Option<f64> {
        (self.created > 0).then(|| self.converted as f64 / self.created as f64)
    }
}

/// Leads created between `from` and `to` (inclusive dates), grouped by source or assignee:
/// how many were created, converted and junked. One SQL statement.
pub async fn conversion_report(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    group_by: GroupBy,
) -> DomainResult<Vec<ConversionGroup>> {
    let key = match group_by {
        GroupBy::Source => "t.source_id",
        GroupBy::Assignee => "t.assigned_to_id",
    };
    let mut q = Sql::new(format!(
        "SELECT {key} AS key, count(*) AS created, \
         count(*) FILTER (WHERE s.semantics = 'SUCCESS') AS converted, \
         count(*) FILTER (WHERE s.semantics = 'FAILURE') AS junked \
         FROM leads t JOIN status_items s ON s.id = t.status_id WHERE TRUE"
    ));
    if let Some(f) = from {
        q.push(" AND t.created_at >= ").bind(Bind::Date(f)).push("::date");
    }
    if let Some(t) = to {
        q.push(" AND t.created_at < (").bind(Bind::Date(t)).push("::date + 1)");
    }
    q.push(" AND ").append(&element_predicate(actor, ElementType::Lead, "t"));
    q.push(format!(" GROUP BY {key} ORDER BY {key} NULLS LAST"));
    Ok(q.load(conn).await?)
}

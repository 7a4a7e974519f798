//! Deal stage moves, closing won or lost, reopening, and the pipeline funnel. Every move
//! goes through the deal's element rules (`crm/deal/rules.rs`), which keep `closed`,
//! `closeDate` and the stage history consistent.

use chrono::NaiveDate;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Numeric, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::visibility::element_predicate;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::{Deal, Stage};
use crate::kernel::write::{self as elements, Ctx, Op};
use crate::settings::rules as settings;

/// The deal a lifecycle step changes: WRITE on it is checked before the step looks at the
/// stage or anything else the client sent.
async fn current(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<Deal> {
    elements::get_writable::<Deal>(conn, actor, id).await
}

/// Moves a deal to a stage of its pipeline, or of `pipeline_id`. A final stage closes it.
pub async fn move_deal(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    stage_id: i64,
    pipeline_id: Option<i64>,
) -> DomainResult<Deal> {
    let deal = current(conn, &ctx.actor, id).await?;
    let stage = settings::stage(conn, stage_id, "stageId").await?;
    let pipeline = pipeline_id.unwrap_or(deal.pipeline_id);
    if stage.pipeline_id != pipeline {
        return Err(DomainError::bad_input("stageId", "`stageId` is not a stage of the target pipeline"));
    }
    let (kind, action) = if stage.semantics == settings::PROCESS {
        (HistoryKind::StageChanged, EventAction::StageChanged)
    } else {
        (HistoryKind::Closed, EventAction::Closed)
    };
    let op = Op::new(kind, action, format!("moved to {}", stage.name));
    elements::change(conn, ctx, id, op, move |d: &mut Deal| {
        d.pipeline_id = pipeline;
        d.stage_id = stage_id;
        Ok(())
    })
    .await
}

/// The stage a deal closes in: the given one (which must match the result) or the
/// pipeline's SUCCESS stage, or its first FAILURE stage.
async fn final_stage(
    conn: &mut AsyncPgConnection,
    pipeline_id: i64,
    won: bool,
    stage_id: Option<i64>,
) -> DomainResult<Stage> {
    let wanted = if won { settings::SUCCESS } else { settings::FAILURE };
    let stages = settings::stages_of(conn, &[pipeline_id]).await?.remove(&pipeline_id).unwrap_or_default();
    match stage_id {
        Some(sid) => {
            let stage = stages
                .into_iter()
                .find(|s| s.id == sid)
                .ok_or_else(|| DomainError::bad_input("stageId", "`stageId` is not a stage of the deal's pipeline"))?;
            if stage.semantics != wanted {
                return Err(DomainError::bad_input(
                    "stageId",
                    format!("closing {} needs a {wanted} stage", if won { "won" } else { "lost" }),
                ));
            }
            Ok(stage)
        }
        None => stages.into_iter().find(|s| s.semantics == wanted).ok_or_else(|| {
            DomainError::conflict(format!("the deal's pipeline has no {wanted} stage"), serde_json::Value::Null)
        }),
    }
}

pub async fn close_deal(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    won: bool,
    stage_id: Option<i64>,
    lost_reason: Option<String>,
    close_date: Option<NaiveDate>,
) -> DomainResult<Deal> {
    let deal = current(conn, &ctx.actor, id).await?;
    if deal.closed {
        return Err(DomainError::conflict("the deal is already closed; reopen it first", serde_json::Value::Null));
    }
    if won && lost_reason.as_deref().is_some_and(|r| !r.trim().is_empty()) {
        return Err(DomainError::bad_input("lostReason", "a won deal has no lost reason"));
    }
    let stage = final_stage(conn, deal.pipeline_id, won, stage_id).await?;
    let reason = lost_reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let text = match (&reason, won) {
        (_, true) => "won".to_owned(),
        (Some(r), false) => format!("lost: {r}"),
        (None, false) => "lost".to_owned(),
    };
    let op = Op::new(HistoryKind::Closed, EventAction::Closed, text);
    let ctx = ctx.clone();
    diesel_async::AsyncConnection::transaction(conn, async move |conn| {
        let closed = elements::change(conn, &ctx, id, op, move |d: &mut Deal| {
            d.stage_id = stage.id;
            d.lost_reason = reason;
            // None lets the deal rules stamp today.
            d.close_date = close_date;
            Ok(())
        })
        .await?;
        let r = elements::element_ref(&closed);
        let row = elements::snapshot(&closed)?;
        crate::notifications::sources::deal_closed(conn, ctx.actor.user_id, r, &row, won).await?;
        Ok(closed)
    })
    .await
}

/// Reopens a closed deal in a PROCESS stage (default: the pipeline's first stage).
pub async fn reopen_deal(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    stage_id: Option<i64>,
) -> DomainResult<Deal> {
    let deal = current(conn, &ctx.actor, id).await?;
    if !deal.closed {
        return Err(DomainError::conflict("the deal is not closed", serde_json::Value::Null));
    }
    let stage = match stage_id {
        Some(sid) => settings::stage(conn, sid, "stageId").await?,
        None => settings::first_stage(conn, deal.pipeline_id).await?,
    };
    if stage.pipeline_id != deal.pipeline_id || stage.semantics != settings::PROCESS {
        return Err(DomainError::bad_input("stageId", "reopen into a PROCESS stage of the deal's pipeline"));
    }
    let op = Op::new(HistoryKind::Reopened, EventAction::StageChanged, format!("reopened in {}", stage.name));
    elements::change(conn, ctx, id, op, move |d: &mut Deal| {
        // Clearing `closed` is what lets the deal leave its final stage.
        d.closed = false;
        d.stage_id = stage.id;
        d.close_date = None;
        d.lost_reason = None;
        Ok(())
    })
    .await
}

/// Every stage move of many deals, oldest first.
pub async fn stage_history(
    conn: &mut AsyncPgConnection,
    deal_ids: &[i64],
) -> DomainResult<std::collections::HashMap<i64, Vec<crate::kernel::models::StageMove>>> {
    use crate::db::schema::deal_stage_history as h;
    use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
    let rows: Vec<crate::kernel::models::StageMove> = h::table
        .filter(h::deal_id.eq_any(deal_ids))
        .order((h::deal_id, h::id))
        .select(crate::kernel::models::StageMove::as_select())
        .load(conn)
        .await?;
    let mut out: std::collections::HashMap<i64, Vec<crate::kernel::models::StageMove>> =
        std::collections::HashMap::new();
    for r in rows {
        out.entry(r.deal_id).or_default().push(r);
    }
    Ok(out)
}

/// Count and amounts per currency.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub count: i64,
    pub amounts: Vec<(String, Decimal)>,
}

#[derive(Clone, Debug)]
pub struct Funnel {
    pub stages: Vec<(Stage, Figures)>,
    pub won: Figures,
    pub lost: Figures,
}

impl Funnel {
    /// won / (won + lost); None before any deal is closed.
    pub fn win_rate(&self) -> Option<f64> {
        let closed = self.won.count + self.lost.count;
        (closed > 0).then(|| self.won.count as f64 / closed as f64)
    }
}

#[derive(QueryableByName)]
struct StageSum {
    #[diesel(sql_type = BigInt)]
    stage_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    amount: Option<Decimal>,
}

/// Deals of a pipeline created between `from` and `to` (inclusive dates, UTC), per stage,
/// with won and lost totals, computed in SQL.
pub async fn funnel(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    pipeline_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> DomainResult<Funnel> {
    settings::pipeline(conn, pipeline_id, "pipelineId").await?;
    let stages = settings::stages_of(conn, &[pipeline_id]).await?.remove(&pipeline_id).unwrap_or_default();
    let mut q = Sql::new(
        "SELECT t.stage_id, t.currency, count(*) AS count, sum(t.opportunity) AS amount FROM deals t WHERE t.pipeline_id = ",
    );
    q.bind(Bind::Int8(pipeline_id));
    if let Some(f) = from {
        q.push(" AND t.created_at >= ").bind(Bind::Date(f)).push("::date");
    }
    if let Some(t) = to {
        q.push(" AND t.created_at < (").bind(Bind::Date(t)).push("::date + 1)");
    }
    q.push(" AND ").append(&element_predicate(actor, ElementType::Deal, "t"));
    q.push(" GROUP BY t.stage_id, t.currency ORDER BY t.stage_id, t.currency");
    let sums: Vec<StageSum> = q.load(conn).await?;
    // Checked: the lost figures add up several stages' sums, which no input bound keeps
    // inside a Decimal on its own.
    let add = |fig: &mut Figures, s: &StageSum| -> DomainResult<()> {
        fig.count += s.count;
        if let (Some(c), Some(a)) = (&s.currency, s.amount) {
            match fig.amounts.iter_mut().find(|(cur, _)| cur == c) {
                Some((_, total)) => {
                    *total = total.checked_add(a).ok_or_else(|| anyhow::anyhow!("funnel total overflows a Decimal"))?;
                }
                None => fig.amounts.push((c.clone(), a)),
            }
        }
        Ok(())
    };
    let mut won = Figures::default();
    let mut lost = Figures::default();
    let mut per_stage = Vec::with_capacity(stages.len());
    for stage in stages {
        let mut fig = Figures::default();
        for s in sums.iter().filter(|s| s.stage_id == stage.id) {
            add(&mut fig, s)?;
            match stage.semantics.as_str() {
                settings::SUCCESS => add(&mut won, s)?,
                settings::FAILURE => add(&mut lost, s)?,
                _ => {}
            }
        }
        fig.amounts.sort();
        per_stage.push((stage, fig));
    }
    won.amounts.sort();
    lost.amounts.sort();
    Ok(Funnel { stages: per_stage, won, lost })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_rate_needs_closed_deals() {
        let f = |w, l| Funnel {
            stages: vec![],
            won: Figures { count: w, amounts: vec![] },
            lost: Figures { count: l, amounts: vec![] },
        };
        assert_eq!(f(0, 0).win_rate(), None);
        assert_eq!(f(1, 3).win_rate(), Some(0.25));
        assert_eq!(f(2, 0).win_rate(), Some(1.0));
    }
}

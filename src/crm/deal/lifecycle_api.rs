//! Deal stage moves, closing and reopening, and the pipeline funnel, in GraphQL.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::api::{GqlResult, actor, conn, lookup_id, write_ctx};
use crate::crm::deal::lifecycle as deals;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Deal, Stage};

#[derive(SimpleObject)]
pub struct Amount {
    pub currency: String,
    pub amount: Decimal,
}

#[derive(SimpleObject)]
pub struct FunnelFigures {
    pub count: i64,
    pub amounts: Vec<Amount>,
}

impl From<deals::Figures> for FunnelFigures {
    fn from(f: deals::Figures) -> Self {
        FunnelFigures {
            count: f.count,
            amounts: f.amounts.into_iter().map(|(currency, amount)| Amount { currency, amount }).collect(),
        }
    }
}

#[derive(SimpleObject)]
pub struct FunnelStage {
    pub stage: Stage,
    pub count: i64,
    pub amounts: Vec<Amount>,
}

#[derive(SimpleObject)]
pub struct DealFunnel {
    pub stages: Vec<FunnelStage>,
    pub won: FunnelFigures,
    pub lost: FunnelFigures,
    /// won / (won + lost); null before any deal is closed.
    pub win_rate: Option<f64>,
}

/// The pipeline funnel.
#[derive(Default)]
pub struct DealFunnelQuery;

#[Object]
impl DealFunnelQuery {
    /// Deals of a pipeline created between `from` and `to` (inclusive), per stage, with won
    /// and lost totals and the win rate.
    async fn deal_funnel(
        &self,
        ctx: &Context<'_>,
        pipeline_id: ID,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> GqlResult<DealFunnel> {
        let actor = actor(ctx)?;
        let pipeline = ids::decode(IdKind::Pipeline, &pipeline_id, "pipelineId")?;
        let mut c = conn(ctx).await?;
        let f = deals::funnel(&mut c, actor, pipeline, from, to).await?;
        let win_rate = f.win_rate();
        Ok(DealFunnel {
            stages: f
                .stages
                .into_iter()
                .map(|(stage, fig)| {
                    let fig = FunnelFigures::from(fig);
                    FunnelStage { stage, count: fig.count, amounts: fig.amounts }
                })
                .collect(),
            won: f.won.into(),
            lost: f.lost.into(),
            win_rate,
        })
    }
}

/// Deal stage moves, closing and reopening.
#[derive(Default)]
pub struct DealMutation;

#[Object]
impl DealMutation {
    /// Moves a deal to another stage of its pipeline, or to a stage of `pipelineId`.
    async fn move_deal(&self, ctx: &Context<'_>, id: ID, stage_id: ID, pipeline_id: Option<ID>) -> GqlResult<Deal> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Deal, &id)?;
        let stage = ids::decode(IdKind::Stage, &stage_id, "stageId")?;
        let pipeline = pipeline_id.map(|p| ids::decode(IdKind::Pipeline, &p, "pipelineId")).transpose()?;
        let mut c = conn(ctx).await?;
        Ok(deals::move_deal(&mut c, &wctx, n, stage, pipeline).await?)
    }

    /// Closes a deal won or lost; the stage defaults to the pipeline's SUCCESS stage or its
    /// first FAILURE stage, the close date to today.
    async fn close_deal(
        &self,
        ctx: &Context<'_>,
        id: ID,
        won: bool,
        stage_id: Option<ID>,
        lost_reason: Option<String>,
        close_date: Option<NaiveDate>,
    ) -> GqlResult<Deal> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Deal, &id)?;
        let stage = stage_id.map(|s| ids::decode(IdKind::Stage, &s, "stageId")).transpose()?;
        let mut c = conn(ctx).await?;
        Ok(deals::close_deal(&mut c, &wctx, n, won, stage, lost_reason, close_date).await?)
    }

    /// Reopens a closed deal in a PROCESS stage (default: the first).
    async fn reopen_deal(&self, ctx: &Context<'_>, id: ID, stage_id: Option<ID>) -> GqlResult<Deal> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Deal, &id)?;
        let stage = stage_id.map(|s| ids::decode(IdKind::Stage, &s, "stageId")).transpose()?;
        let mut c = conn(ctx).await?;
        Ok(deals::reopen_deal(&mut c, &wctx, n, stage).await?)
    }
}

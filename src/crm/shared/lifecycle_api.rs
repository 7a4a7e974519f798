//! Lead and deal lifecycle in GraphQL: conversion, junk and status moves, duplicates and
//! merge, products and product rows, stage moves and closing, dashboard figures.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Union};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::api::connection::top_level_list;
use crate::api::filters::list_args;
use crate::api::loaders::{ById, StatusId, UserId};
use crate::api::timeline::ElementRef;
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id, to_id, write_ctx};
use crate::crm::deal::lifecycle as deals;
use crate::crm::lead::convert::{self, Conversion, DealTarget, Target};
use crate::crm::lead::lifecycle::{self as leads, GroupBy};
use crate::crm::shared::duplicates::{self, Criterion, Probe};
use crate::crm::shared::merge;
use crate::crm::shared::products;
use crate::crm::shared::products_api::{ProductConnection, ProductFilter, ProductInput, ProductOrder, ProductRowInput};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Company, Contact, Deal, Lead, Product, ProductRow, Stage, StatusItem, User};
use crate::kernel::{DomainError, ElementType};

/// Create a new element from the lead, or use an existing one: exactly one of the two.
#[derive(InputObject, Clone)]
pub struct ConvertTarget {
    pub create: Option<bool>,
    pub existing_id: Option<ID>,
}

#[derive(InputObject, Clone)]
pub struct ConvertDealTarget {
    /// Defaults to the default pipeline; the deal starts at its first stage.
    pub pipeline_id: Option<ID>,
    /// Defaults to the lead's title.
    pub title: Option<String>,
}

#[derive(InputObject)]
pub struct ConvertLeadInput {
    pub lead_id: ID,
    pub contact: Option<ConvertTarget>,
    pub company: Option<ConvertTarget>,
    /// Present: create a deal.
    pub deal: Option<ConvertDealTarget>,
    /// Complete the lead's open activities (they are bound to the new elements either way).
    #[graphql(default = true)]
    pub complete_activities: bool,
}

fn target(t: Option<ConvertTarget>, kind: IdKind, field: &str) -> Result<Option<Target>, DomainError> {
    let Some(t) = t else { return Ok(None) };
    match (t.create.unwrap_or(false), t.existing_id) {
        (true, None) => Ok(Some(Target::Create)),
        (false, Some(id)) => Ok(Some(Target::Existing(ids::decode(kind, &id, &format!("{field}.existingId"))?))),
        (true, Some(_)) => {
            Err(DomainError::bad_input(field, format!("`{field}` takes either create or existingId, not both")))
        }
        (false, None) => Err(DomainError::bad_input(field, format!("`{field}` needs create: true or an existingId"))),
    }
}

#[derive(SimpleObject)]
pub struct ConvertLeadResult {
    pub lead: Lead,
    pub contact: Option<Contact>,
    pub company: Option<Company>,
    pub deal: Option<Deal>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum OnDuplicate {
    Allow,
    Reject,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DuplicateCriterion {
    Phone,
    Email,
    Name,
    CompanyTitle,
}

impl From<Criterion> for DuplicateCriterion {
    fn from(c: Criterion) -> Self {
        match c {
            Criterion::Phone => DuplicateCriterion::Phone,
            Criterion::Email => DuplicateCriterion::Email,
            Criterion::Name => DuplicateCriterion::Name,
            Criterion::CompanyTitle => DuplicateCriterion::CompanyTitle,
        }
    }
}

#[derive(SimpleObject)]
pub struct DuplicateReason {
    pub criterion: DuplicateCriterion,
    /// The normalised value that matched.
    pub value: String,
}

#[derive(Union)]
pub enum CrmElement {
    Lead(Lead),
    Contact(Contact),
    Company(Company),
}

#[derive(SimpleObject)]
pub struct DuplicateMatch {
    pub element_type: crate::api::timeline::ElementTypeGql,
    pub id: ID,
    pub element: Option<CrmElement>,
    pub matches: Vec<DuplicateReason>,
}

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

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum LeadConversionGroupBy {
    Source,
    Assignee,
}

pub struct LeadConversionGroup {
    group: leads::ConversionGroup,
    by: LeadConversionGroupBy,
}

#[Object]
impl LeadConversionGroup {
    /// The source (groupBy: SOURCE); null for leads without one.
    async fn source(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        match (self.by, self.group.key) {
            (LeadConversionGroupBy::Source, Some(id)) => loader(ctx).load_one(StatusId(id)).await.map_err(load_error),
            _ => Ok(None),
        }
    }
    /// The assignee (groupBy: ASSIGNEE); null for unassigned leads.
    async fn assignee(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match (self.by, self.group.key) {
            (LeadConversionGroupBy::Assignee, Some(id)) => loader(ctx).load_one(UserId(id)).await.map_err(load_error),
            _ => Ok(None),
        }
    }
    async fn created(&self) -> i64 {
        self.group.created
    }
    async fn converted(&self) -> i64 {
        self.group.converted
    }
    async fn junked(&self) -> i64 {
        self.group.junked
    }
    /// converted / created.
    async fn conversion_rate(&self) -> Option<f64> {
        self.group.rate()
    }
}

fn id_list(kind: IdKind, list: &[ID], field: &str) -> Result<Vec<i64>, DomainError> {
    list.iter().enumerate().map(|(i, id)| ids::decode(kind, id, &format!("{field}[{i}]"))).collect()
}

#[derive(Default)]
pub struct LifecycleQuery;

#[Object]
impl LifecycleQuery {
    async fn product(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Product>> {
        let n = lookup_id(IdKind::Product, &id)?;
        match loader(ctx).load_one(ById::<Product>::new(n)).await.map_err(load_error)?.flatten() {
            Some(p) => Ok(Some(p)),
            None => Err(DomainError::not_found(format!("product `{}`", id.as_str())).into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProductFilter>,
        order_by: Option<Vec<ProductOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<ProductConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, Product, ProductConnection, args)
    }

    /// Leads, contacts and companies that match any of the values: phones in E.164, e-mails
    /// in lower case, full names and company titles case-insensitively. At most 100 values
    /// per list.
    async fn find_duplicates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] phones: Vec<String>,
        #[graphql(default)] emails: Vec<String>,
        #[graphql(default)] names: Vec<String>,
        #[graphql(default)] company_titles: Vec<String>,
    ) -> GqlResult<Vec<DuplicateMatch>> {
        let actor = actor(ctx)?;
        let probe = Probe::from_raw(&phones, &emails, &names, &company_titles, crate::api::phone_region(ctx))?;
        let mut c = conn(ctx).await?;
        let found = duplicates::find(&mut c, actor, &probe).await?;
        drop(c);
        let l = loader(ctx);
        let mut out = Vec::with_capacity(found.len());
        for m in found {
            let id = m.element.id;
            let element = match m.element.element_type {
                ElementType::Lead => {
                    l.load_one(ById::<Lead>::new(id)).await.map_err(load_error)?.flatten().map(CrmElement::Lead)
                }
                ElementType::Contact => {
                    l.load_one(ById::<Contact>::new(id)).await.map_err(load_error)?.flatten().map(CrmElement::Contact)
                }
                ElementType::Company => {
                    l.load_one(ById::<Company>::new(id)).await.map_err(load_error)?.flatten().map(CrmElement::Company)
                }
                ElementType::Deal => None,
            };
            out.push(DuplicateMatch {
                element_type: m.element.element_type.into(),
                id: to_id(m.element.element_type.id_kind(), id),
                element,
                matches: m
                    .reasons
                    .into_iter()
                    .map(|(c, v)| DuplicateReason { criterion: c.into(), value: v })
                    .collect(),
            });
        }
        Ok(out)
    }

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

    /// Leads created between `from` and `to` (inclusive) per source or assignee: created,
    /// converted, junked and the conversion rate.
    async fn lead_conversion(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        group_by: LeadConversionGroupBy,
    ) -> GqlResult<Vec<LeadConversionGroup>> {
        let actor = actor(ctx)?;
        let by = match group_by {
            LeadConversionGroupBy::Source => GroupBy::Source,
            LeadConversionGroupBy::Assignee => GroupBy::Assignee,
        };
        let mut c = conn(ctx).await?;
        let groups = leads::conversion_report(&mut c, actor, from, to, by).await?;
        Ok(groups.into_iter().map(|group| LeadConversionGroup { group, by: group_by }).collect())
    }
}

#[derive(Default)]
pub struct LifecycleMutation;

#[Object]
impl LifecycleMutation {
    /// Converts a lead into a contact, company and/or deal in one transaction.
    async fn convert_lead(&self, ctx: &Context<'_>, input: ConvertLeadInput) -> GqlResult<ConvertLeadResult> {
        let wctx = write_ctx(ctx)?;
        let req = Conversion {
            lead_id: lookup_id(IdKind::Lead, &input.lead_id)?,
            contact: target(input.contact, IdKind::Contact, "contact")?,
            company: target(input.company, IdKind::Company, "company")?,
            deal: input
                .deal
                .map(|d| -> Result<DealTarget, DomainError> {
                    Ok(DealTarget {
                        pipeline_id: d
                            .pipeline_id
                            .map(|p| ids::decode(IdKind::Pipeline, &p, "deal.pipelineId"))
                            .transpose()?,
                        title: d.title,
                    })
                })
                .transpose()?,
            complete_activities: input.complete_activities,
        };
        let mut c = conn(ctx).await?;
        let done = convert::convert(&mut c, &wctx, req).await?;
        Ok(ConvertLeadResult { lead: done.lead, contact: done.contact, company: done.company, deal: done.deal })
    }

    /// Moves a lead to a FAILURE status (default JUNK) with the reason in history.
    async fn junk_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status_id: Option<ID>,
        reason: Option<String>,
    ) -> GqlResult<Lead> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Lead, &id)?;
        let status = status_id.map(|s| ids::decode(IdKind::StatusItem, &s, "statusId")).transpose()?;
        let mut c = conn(ctx).await?;
        Ok(leads::junk(&mut c, &wctx, n, status, reason).await?)
    }

    /// Moves a lead between PROCESS statuses, or reopens a junk lead; SUCCESS only through
    /// `convertLead`.
    async fn set_lead_status(&self, ctx: &Context<'_>, id: ID, status_id: ID) -> GqlResult<Lead> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Lead, &id)?;
        let status = ids::decode(IdKind::StatusItem, &status_id, "statusId")?;
        let mut c = conn(ctx).await?;
        Ok(leads::set_status(&mut c, &wctx, n, status).await?)
    }

    async fn merge_contacts(&self, ctx: &Context<'_>, keep_id: ID, merge_ids: Vec<ID>) -> GqlResult<Contact> {
        let wctx = write_ctx(ctx)?;
        let keep = lookup_id(IdKind::Contact, &keep_id)?;
        let others = id_list(IdKind::Contact, &merge_ids, "mergeIds")?;
        let mut c = conn(ctx).await?;
        Ok(merge::merge::<Contact>(&mut c, &wctx, keep, others).await?)
    }

    async fn merge_companies(&self, ctx: &Context<'_>, keep_id: ID, merge_ids: Vec<ID>) -> GqlResult<Company> {
        let wctx = write_ctx(ctx)?;
        let keep = lookup_id(IdKind::Company, &keep_id)?;
        let others = id_list(IdKind::Company, &merge_ids, "mergeIds")?;
        let mut c = conn(ctx).await?;
        Ok(merge::merge::<Company>(&mut c, &wctx, keep, others).await?)
    }

    async fn merge_leads(&self, ctx: &Context<'_>, keep_id: ID, merge_ids: Vec<ID>) -> GqlResult<Lead> {
        let wctx = write_ctx(ctx)?;
        let keep = lookup_id(IdKind::Lead, &keep_id)?;
        let others = id_list(IdKind::Lead, &merge_ids, "mergeIds")?;
        let mut c = conn(ctx).await?;
        Ok(merge::merge::<Lead>(&mut c, &wctx, keep, others).await?)
    }

    async fn create_product(&self, ctx: &Context<'_>, input: ProductInput) -> GqlResult<Product> {
        let wctx = write_ctx(ctx)?;
        let mut c = conn(ctx).await?;
        Ok(products::create(&mut c, &wctx, input.into()).await?)
    }

    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ProductInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Product> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Product, &id)?;
        let mut c = conn(ctx).await?;
        Ok(products::update(&mut c, &wctx, n, expected_version, input.into()).await?)
    }

    /// Deletes a product; one that rows still use is deactivated instead.
    async fn delete_product(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Product, &id)?;
        let mut c = conn(ctx).await?;
        Ok(to_id(IdKind::Product, products::delete(&mut c, &wctx, n).await?))
    }

    /// Replaces the whole product list of a lead or deal.
    async fn set_product_rows(
        &self,
        ctx: &Context<'_>,
        owner: ElementRef,
        rows: Vec<ProductRowInput>,
    ) -> GqlResult<Vec<ProductRow>> {
        let wctx = write_ctx(ctx)?;
        let r = owner.decode()?;
        let specs = rows.into_iter().enumerate().map(|(i, r)| r.into_spec(i)).collect::<Result<Vec<_>, _>>()?;
        let mut c = conn(ctx).await?;
        Ok(products::set_rows(&mut c, &wctx, r, specs).await?)
    }

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

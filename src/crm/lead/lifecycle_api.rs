//! Lead conversion, junk and status moves, and the lead conversion report, in GraphQL.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;

use crate::api::loaders::{StatusId, UserId};
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id, write_ctx};
use crate::crm::lead::convert::{self, Conversion, DealTarget, Target};
use crate::crm::lead::lifecycle::{self as leads, GroupBy};
use crate::kernel::DomainError;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Company, Contact, Deal, Lead, StatusItem, User};

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

/// The lead conversion report.
#[derive(Default)]
pub struct LeadReportQuery;

#[Object]
impl LeadReportQuery {
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

/// Lead conversion, junk and status moves.
#[derive(Default)]
pub struct LeadMutation;

#[Object]
impl LeadMutation {
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
}

//! Deal defaults and rules: pipeline and stage consistency, and the closed state that
//! follows the stage's semantics.

use diesel_async::AsyncPgConnection;

use crate::crm::lead::rules::check_money;
use crate::kernel::ElementType;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::{Company, Deal};
use crate::kernel::validate;
use crate::kernel::write::{Ctx, Element, LinkSpec, check_ref, stamped, today};
use crate::org::auth::check_user;
use crate::settings::rules as settings;

/// Whether a stage with these semantics closes a deal.
pub fn closes(semantics: &str) -> bool {
    semantics != settings::PROCESS
}

/// A deal's contacts; the first is its primary one.
pub const CONTACTS: LinkSpec =
    LinkSpec::new("deal_contacts", "deal_id", "contact_id", "contactIds", ElementType::Contact);

impl Element for Deal {
    const TYPE: ElementType = ElementType::Deal;
    const LINKS: Option<LinkSpec> =
        Some(LinkSpec::new("deal_contacts", "deal_id", "contact_id", "contactIds", ElementType::Contact));
    stamped!(Deal);

    async fn blank(conn: &mut AsyncPgConnection, ctx: &Ctx) -> DomainResult<Self> {
        let pipeline = settings::default_pipeline(conn).await?;
        Ok(Deal {
            pipeline_id: pipeline.id,
            // Resolved in `check` once the client's pipeline is known.
            stage_id: 0,
            begin_date: Some(today()),
            assigned_to_id: Some(ctx.actor.user_id),
            opened: true,
            custom: crate::crm::shared::custom_fields::empty(),
            ..Default::default()
        })
    }

    async fn check(conn: &mut AsyncPgConnection, ctx: &Ctx, row: &mut Self, old: Option<&Self>) -> DomainResult<()> {
        validate::required_text("title", Some(&row.title))?;
        row.title = row.title.trim().to_owned();
        let pipeline_changed = old.is_none_or(|o| o.pipeline_id != row.pipeline_id);
        if pipeline_changed {
            settings::pipeline(conn, row.pipeline_id, "pipelineId").await?;
        }
        let stage_given = row.stage_id != 0 && old.is_none_or(|o| o.stage_id != row.stage_id);
        if row.stage_id == 0 || (pipeline_changed && !stage_given) {
            row.stage_id = settings::first_stage(conn, row.pipeline_id).await?.id;
        }
        if let Some(o) = old.filter(|o| o.closed && o.stage_id != row.stage_id && row.closed) {
            // Only `reopenDeal` (which clears `closed` first) may take a deal out of a final stage.
            return Err(DomainError::conflict(
                format!(
                    "deal {} is closed; reopen it before moving it",
                    crate::kernel::ids::encode(crate::kernel::ids::IdKind::Deal, o.id)
                ),
                serde_json::Value::Null,
            ));
        }
        if old.is_none_or(|o| o.stage_id != row.stage_id) {
            let stage = settings::stage(conn, row.stage_id, "stageId").await?;
            if stage.pipeline_id != row.pipeline_id {
                return Err(DomainError::bad_input("stageId", "`stageId` is not a stage of the deal's pipeline"));
            }
            let probability_given = old.map_or(row.probability.is_some(), |o| o.probability != row.probability);
            if !probability_given {
                row.probability = Some(stage.probability);
            }
            row.closed = closes(&stage.semantics);
            if row.closed
                && old.is_none_or(|o| !o.closed)
                && row.close_date.is_none_or(|d| old.is_some_and(|o| o.close_date == Some(d)))
            {
                row.close_date = Some(today());
            }
        }
        if let Some(p) = row.probability {
            validate::probability("probability", p)?;
        }
        check_money("opportunity", &mut row.opportunity, &mut row.currency)?;
        if let Some(t) = row.type_id.filter(|t| old.is_none_or(|o| o.type_id != Some(*t))) {
            settings::check_status(conn, "DEAL_TYPE", t, "typeId").await?;
        }
        if let Some(s) = row.source_id.filter(|s| old.is_none_or(|o| o.source_id != Some(*s))) {
            settings::check_status(conn, "SOURCE", s, "sourceId").await?;
        }
        if let Some(user) = row.assigned_to_id.filter(|u| old.is_none_or(|o| o.assigned_to_id != Some(*u))) {
            check_user(conn, user, "assignedToId").await?;
        }
        if let Some(c) = row.company_id.filter(|c| old.is_none_or(|o| o.company_id != Some(*c))) {
            check_ref::<Company>(conn, &ctx.actor, c, "companyId").await?;
        }
        if !row.is_manual_opportunity && old.is_some_and(|o| o.is_manual_opportunity) {
            // Back to automatic: the amount follows the product rows again.
            if let Some(total) = crate::crm::shared::products::rows_total(conn, ElementType::Deal, row.id).await? {
                row.opportunity = Some(total);
            }
        }
        if let (Some(b), Some(c)) = (row.begin_date, row.close_date)
            && c < b
        {
            return Err(DomainError::bad_input("closeDate", "`closeDate` is before `beginDate`"));
        }
        Ok(())
    }

    async fn after_save(conn: &mut AsyncPgConnection, ctx: &Ctx, old: Option<&Self>, new: &Self) -> DomainResult<()> {
        if old.is_none_or(|o| o.stage_id != new.stage_id) {
            use crate::db::schema::deal_stage_history as h;
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            diesel::insert_into(h::table)
                .values((
                    h::deal_id.eq(new.id),
                    h::from_stage_id.eq(old.map(|o| o.stage_id)),
                    h::to_stage_id.eq(new.stage_id),
                    h::by_id.eq(ctx.actor.user_id),
                ))
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}

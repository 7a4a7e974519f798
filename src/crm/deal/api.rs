//! Deals in GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::api::common::{self, patch, patch_id, patch_text};
use crate::api::connection::connection;
use crate::api::element::element_object;
use crate::api::filters::{
    BooleanFilter, DateFilter, DateTimeFilter, DecimalFilter, IdFilter, IntFilter, LinkFilter, StringFilter,
    element_filter,
};
use crate::api::loaders::{DealContacts, PipelineId, StageHistory, StageId};
use crate::api::{GqlResult, load_error, loader, to_id};
use crate::kernel::ElementType;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Contact, Deal, Pipeline, Stage, StageMove, StatusItem, User};
use crate::kernel::write::Write;

element_filter! {
    DealFilter, DealOrder, DealOrderField, ElementType::Deal,
    filters {
        id: IdFilter => "id" as Deal,
        title: StringFilter => "title",
        pipeline_id: IdFilter => "pipeline_id" as Pipeline,
        stage_id: IdFilter => "stage_id" as Stage,
        probability: IntFilter => "probability",
        opportunity: DecimalFilter => "opportunity",
        currency: StringFilter => "currency",
        type_id: IdFilter => "type_id" as StatusItem,
        source_id: IdFilter => "source_id" as StatusItem,
        begin_date: DateFilter => "begin_date",
        close_date: DateFilter => "close_date",
        closed: BooleanFilter => "closed",
        company_id: IdFilter => "company_id" as Company,
        contact_ids: LinkFilter => "deal_contacts",
        origin_lead_id: IdFilter => "origin_lead_id" as Lead,
        comments: StringFilter => "comments",
        assigned_to_id: IdFilter => "assigned_to_id" as User,
        opened: BooleanFilter => "opened",
        created_at: DateTimeFilter => "created_at",
        updated_at: DateTimeFilter => "updated_at",
        created_by_id: IdFilter => "created_by_id" as User,
    }
    order {
        Id => "id": Int8,
        Title => "title": Text,
        StageId => "stage_id": Int8,
        Probability => "probability": Int4,
        Opportunity => "opportunity": Decimal,
        BeginDate => "begin_date": Date,
        CloseDate => "close_date": Date,
        AssignedToId => "assigned_to_id": Int8,
        CreatedAt => "created_at": DateTime,
        UpdatedAt => "updated_at": DateTime,
    }
    custom { custom_field }
}

connection!(DealConnection, DealEdge, Deal);

element_object! {
    Deal, Deal;
    version;
    fields {
    required_text title;
    required_id pipeline_id: Pipeline;
    async fn pipeline(&self, ctx: &Context<'_>) -> GqlResult<Option<Pipeline>> {
        loader(ctx).load_one(PipelineId(self.pipeline_id)).await.map_err(load_error)
    }
    required_id stage_id: Stage;
    async fn stage(&self, ctx: &Context<'_>) -> GqlResult<Option<Stage>> {
        loader(ctx).load_one(StageId(self.stage_id)).await.map_err(load_error)
    }
    /// Chance of winning in percent; follows the stage unless set.
    value probability: Option<i32>;
    value opportunity: Option<Decimal>;
    text currency;
    value is_manual_opportunity: bool;
    id type_id: StatusItem;
    #[graphql(name = "type")]
    async fn deal_type(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        common::status_of(ctx, self.type_id).await
    }
    status source_id => source;
    value begin_date: Option<NaiveDate>;
    value close_date: Option<NaiveDate>;
    /// The deal sits in a SUCCESS or FAILURE stage.
    value closed: bool;
    /// Same as `closed`.
    async fn is_closed(&self) -> bool {
        self.closed
    }
    /// The deal sits in its pipeline's SUCCESS stage.
    async fn is_won(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let stage = loader(ctx).load_one(StageId(self.stage_id)).await.map_err(load_error)?;
        Ok(stage.is_some_and(|s| s.semantics == crate::settings::rules::SUCCESS))
    }
    /// Why a lost deal was lost.
    text lost_reason;
    /// Every stage move, oldest first (the first one is the stage the deal started in).
    async fn stage_history(&self, ctx: &Context<'_>) -> GqlResult<Vec<StageMove>> {
        Ok(loader(ctx).load_one(StageHistory(self.id)).await.map_err(load_error)?.unwrap_or_default())
    }
    async fn product_rows(&self, ctx: &Context<'_>) -> GqlResult<Vec<crate::kernel::models::ProductRow>> {
        crate::crm::shared::products_api::rows_of(ctx, ElementType::Deal, self.id).await
    }
    async fn totals(&self, ctx: &Context<'_>) -> GqlResult<crate::crm::shared::products_api::Totals> {
        crate::crm::shared::products_api::totals_of(ctx, ElementType::Deal, self.id).await
    }
    element company_id: Company => company;
    /// Ids of the deal's contacts, the primary one first.
    async fn contact_ids(&self, ctx: &Context<'_>) -> GqlResult<Vec<ID>> {
        // From the same visibility-checked load as `contacts`, so both always agree.
        let contacts = loader(ctx).load_one(DealContacts(self.id)).await.map_err(load_error)?.unwrap_or_default();
        Ok(contacts.iter().map(|c| to_id(IdKind::Contact, c.id)).collect())
    }
    /// The deal's contacts, the primary one first.
    async fn contacts(&self, ctx: &Context<'_>) -> GqlResult<Vec<Contact>> {
        Ok(loader(ctx).load_one(DealContacts(self.id)).await.map_err(load_error)?.unwrap_or_default())
    }
    id origin_lead_id: Lead;
    text comments;
    user assigned_to_id => assigned_to;
    value opened: bool;
    }
    nested {
    }
    comms {  }
    tail {
    }
    activities
    /// Activities bound to this deal.
    ;
    timeline;
}

#[derive(InputObject)]
pub struct DealInput {
    /// Required on create.
    pub title: Option<String>,
    /// Defaults to the default pipeline.
    pub pipeline_id: Option<ID>,
    /// Defaults to the pipeline's first stage.
    pub stage_id: Option<ID>,
    pub probability: MaybeUndefined<i32>,
    pub opportunity: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub is_manual_opportunity: Option<bool>,
    pub type_id: MaybeUndefined<ID>,
    pub source_id: MaybeUndefined<ID>,
    /// Defaults to today.
    pub begin_date: MaybeUndefined<NaiveDate>,
    pub close_date: MaybeUndefined<NaiveDate>,
    pub company_id: MaybeUndefined<ID>,
    /// Replaces the deal's contacts; the first is the primary one.
    pub contact_ids: Option<Vec<ID>>,
    pub comments: MaybeUndefined<String>,
    pub assigned_to_id: MaybeUndefined<ID>,
    pub opened: Option<bool>,
    /// Custom field values to set (others stay as they are).
    pub custom_fields: Option<Vec<common::CustomFieldValueInput>>,
}

impl DealInput {
    pub fn into_write(self) -> crate::kernel::DomainResult<Write<Deal>> {
        let links = common::decode_ids(IdKind::Contact, self.contact_ids, "contactIds")?;
        Ok(Write {
            comms: Default::default(),
            links,
            reject_duplicates: false,
            custom: common::custom_values(self.custom_fields),
            apply: Box::new(move |d: &mut Deal| {
                if let Some(t) = self.title {
                    d.title = t;
                }
                if let Some(p) = self.pipeline_id {
                    d.pipeline_id = ids::decode(IdKind::Pipeline, &p, "pipelineId")?;
                }
                if let Some(s) = self.stage_id {
                    d.stage_id = ids::decode(IdKind::Stage, &s, "stageId")?;
                }
                patch(&mut d.probability, self.probability);
                patch(&mut d.opportunity, self.opportunity);
                patch_text(&mut d.currency, self.currency);
                if let Some(m) = self.is_manual_opportunity {
                    d.is_manual_opportunity = m;
                }
                patch_id(&mut d.type_id, self.type_id, IdKind::StatusItem, "typeId")?;
                patch_id(&mut d.source_id, self.source_id, IdKind::StatusItem, "sourceId")?;
                patch(&mut d.begin_date, self.begin_date);
                patch(&mut d.close_date, self.close_date);
                patch_id(&mut d.company_id, self.company_id, IdKind::Company, "companyId")?;
                patch_text(&mut d.comments, self.comments);
                patch_id(&mut d.assigned_to_id, self.assigned_to_id, IdKind::User, "assignedToId")?;
                if let Some(o) = self.opened {
                    d.opened = o;
                }
                Ok(())
            }),
        })
    }
}

async fn stage(ctx: &Context<'_>, id: Option<i64>) -> GqlResult<Option<Stage>> {
    match id {
        None => Ok(None),
        Some(id) => loader(ctx).load_one(StageId(id)).await.map_err(load_error),
    }
}

#[Object(name = "StageMove")]
impl StageMove {
    /// The stage before; null for the stage the deal was created in.
    async fn from(&self, ctx: &Context<'_>) -> GqlResult<Option<Stage>> {
        stage(ctx, self.from_stage_id).await
    }
    /// Null only once the stage has been deleted.
    async fn to(&self, ctx: &Context<'_>) -> GqlResult<Option<Stage>> {
        stage(ctx, self.to_stage_id).await
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    async fn by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        common::user_of(ctx, self.by_id).await
    }
}

//! Deals in GraphQL.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::api::common::{self};
use crate::api::connection::connection;
use crate::api::element::element_object;
use crate::api::filters::{
    BooleanFilter, DateFilter, DecimalFilter, IdFilter, IntFilter, LinkFilter, StringFilter, element_filter,
};
use crate::api::input::element_input;
use crate::api::loaders::{Linked, PipelineId, StageHistory, StageId};
use crate::api::{GqlResult, load_error, loader, to_id};
use crate::kernel::ids::IdKind;
use crate::kernel::models::{Contact, Deal, Pipeline, Stage, StageMove, StatusItem, User};

element_filter! {
    element DealFilter, DealOrder, DealOrderField, Deal;
    filters {
        title: StringFilter,
        pipeline_id: IdFilter as Pipeline,
        stage_id: IdFilter as Stage,
        probability: IntFilter,
        opportunity: DecimalFilter,
        currency: StringFilter,
        type_id: IdFilter as StatusItem,
        source_id: IdFilter as StatusItem,
        begin_date: DateFilter,
        close_date: DateFilter,
        closed: BooleanFilter,
        company_id: IdFilter as Company,
        contact_ids: LinkFilter => "deal_contacts",
        origin_lead_id: IdFilter as Lead,
        comments: StringFilter,
        assigned_to_id: IdFilter as User,
        opened: BooleanFilter,
    }
    order {
        Title => "title": Text,
        StageId => "stage_id": Int8,
        Probability => "probability": Int4,
        Opportunity => "opportunity": Decimal,
        BeginDate => "begin_date": Date,
        CloseDate => "close_date": Date,
        AssignedToId => "assigned_to_id": Int8,
    }
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
    products;
    element company_id: Company => company;
    /// Ids of the deal's contacts, the primary one first.
    async fn contact_ids(&self, ctx: &Context<'_>) -> GqlResult<Vec<ID>> {
        // From the same visibility-checked load as `contacts`, so both always agree.
        let contacts = loader(ctx).load_one(Linked::<Contact>::new((crate::crm::deal::rules::CONTACTS, self.id))).await.map_err(load_error)?.unwrap_or_default();
        Ok(contacts.iter().map(|c| to_id(IdKind::Contact, c.id)).collect())
    }
    /// The deal's contacts, the primary one first.
    async fn contacts(&self, ctx: &Context<'_>) -> GqlResult<Vec<Contact>> {
        Ok(loader(ctx).load_one(Linked::<Contact>::new((crate::crm::deal::rules::CONTACTS, self.id))).await.map_err(load_error)?.unwrap_or_default())
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

element_input! {
    DealInput => Deal {
        /// Required on create.
        required_text title;
        /// Defaults to the default pipeline.
        required_id pipeline_id: Pipeline;
        /// Defaults to the pipeline's first stage.
        required_id stage_id: Stage;
        value probability: i32;
        value opportunity: Decimal;
        text currency;
        flag is_manual_opportunity;
        id type_id: StatusItem;
        id source_id: StatusItem;
        /// Defaults to today.
        value begin_date: NaiveDate;
        value close_date: NaiveDate;
        id company_id: Company;
        /// Replaces the deal's contacts; the first is the primary one.
        links contact_ids: Contact;
        text comments;
        id assigned_to_id: User;
        flag opened;
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

//! Status lists and pipelines in GraphQL.

use async_graphql::{Context, Enum, ID, InputObject, Object};

use crate::api::loaders::PipelineStages;
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id, to_id};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Pipeline, Stage, StatusItem};
use crate::settings::rules::{self as settings, ItemInput};

/// The configurable dropdowns (Bitrix `crm.status` ENTITY_IDs).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum StatusListKind {
    /// Lead statuses.
    Status,
    Source,
    ContactType,
    CompanyType,
    Industry,
    Employees,
    DealType,
    Honorific,
}

impl StatusListKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusListKind::Status => "STATUS",
            StatusListKind::Source => "SOURCE",
            StatusListKind::ContactType => "CONTACT_TYPE",
            StatusListKind::CompanyType => "COMPANY_TYPE",
            StatusListKind::Industry => "INDUSTRY",
            StatusListKind::Employees => "EMPLOYEES",
            StatusListKind::DealType => "DEAL_TYPE",
            StatusListKind::Honorific => "HONORIFIC",
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Semantics {
    Process,
    Success,
    Failure,
}

fn semantics(s: &str) -> Semantics {
    match s {
        "SUCCESS" => Semantics::Success,
        "FAILURE" => Semantics::Failure,
        _ => Semantics::Process,
    }
}

#[Object(name = "StatusItem")]
impl StatusItem {
    pub async fn id(&self) -> ID {
        to_id(IdKind::StatusItem, self.id)
    }
    async fn list(&self) -> &str {
        &self.list_kind
    }
    async fn code(&self) -> &str {
        &self.code
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn sort(&self) -> i32 {
        self.sort
    }
    async fn semantics(&self) -> Semantics {
        semantics(&self.semantics)
    }
    async fn color(&self) -> Option<&str> {
        self.color.as_deref()
    }
    /// System items come with Kontor and cannot be deleted.
    async fn is_system(&self) -> bool {
        self.is_system
    }
}

#[Object(name = "Pipeline")]
impl Pipeline {
    pub async fn id(&self) -> ID {
        to_id(IdKind::Pipeline, self.id)
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn is_default(&self) -> bool {
        self.is_default
    }
    async fn sort(&self) -> i32 {
        self.sort
    }
    /// Stages in order: PROCESS ones, then the SUCCESS stage, then FAILURE ones.
    async fn stages(&self, ctx: &Context<'_>) -> GqlResult<Vec<Stage>> {
        Ok(loader(ctx).load_one(PipelineStages(self.id)).await.map_err(load_error)?.unwrap_or_default())
    }
}

#[Object(name = "Stage")]
impl Stage {
    pub async fn id(&self) -> ID {
        to_id(IdKind::Stage, self.id)
    }
    async fn pipeline_id(&self) -> ID {
        to_id(IdKind::Pipeline, self.pipeline_id)
    }
    async fn code(&self) -> &str {
        &self.code
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn sort(&self) -> i32 {
        self.sort
    }
    async fn semantics(&self) -> Semantics {
        semantics(&self.semantics)
    }
    /// Chance of winning a deal in this stage, in percent.
    async fn probability(&self) -> i32 {
        self.probability
    }
    async fn color(&self) -> Option<&str> {
        self.color.as_deref()
    }
}

impl Semantics {
    fn as_str(self) -> &'static str {
        match self {
            Semantics::Process => settings::PROCESS,
            Semantics::Success => settings::SUCCESS,
            Semantics::Failure => settings::FAILURE,
        }
    }
}

/// A status item to create (name required) or change.
#[derive(InputObject, Default)]
pub struct StatusItemInput {
    /// Letters, digits and underscores; derived from the name when omitted. Fixed once created.
    pub code: Option<String>,
    pub name: Option<String>,
    /// Position within its semantic group (lower first); the list is renumbered 10, 20, ...
    pub sort: Option<i32>,
    /// Lead statuses only: PROCESS or FAILURE (the one SUCCESS item exists already).
    pub semantics: Option<Semantics>,
    /// Hex colour such as #39A8EF.
    pub color: Option<String>,
}

/// A stage to create (name required) or change.
#[derive(InputObject, Default)]
pub struct StageInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub sort: Option<i32>,
    /// PROCESS or FAILURE (each pipeline has exactly one SUCCESS stage).
    pub semantics: Option<Semantics>,
    /// 0 to 100.
    pub probability: Option<i32>,
    pub color: Option<String>,
}

#[derive(InputObject, Default)]
pub struct PipelineInput {
    pub name: Option<String>,
    pub sort: Option<i32>,
}

fn item_input(
    code: Option<String>,
    name: Option<String>,
    sort: Option<i32>,
    semantics: Option<Semantics>,
    color: Option<String>,
    probability: Option<i32>,
) -> ItemInput {
    ItemInput { code, name, sort, semantics: semantics.map(|s| s.as_str().to_owned()), color, probability }
}

fn ids_of(kind: IdKind, list: &[ID]) -> GqlResult<Vec<i64>> {
    list.iter().enumerate().map(|(i, id)| Ok(ids::decode(kind, id, &format!("ids[{i}]"))?)).collect()
}

#[derive(Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    async fn create_status_item(
        &self,
        ctx: &Context<'_>,
        list: StatusListKind,
        input: StatusItemInput,
    ) -> GqlResult<StatusItem> {
        let me = actor(ctx)?;
        let i = item_input(input.code, input.name, input.sort, input.semantics, input.color, None);
        Ok(settings::create_status_item(&mut *conn(ctx).await?, me, list.as_str(), i).await?)
    }

    /// Changes a status item's name, colour, position or (PROCESS ↔ FAILURE) semantics.
    async fn update_status_item(&self, ctx: &Context<'_>, id: ID, input: StatusItemInput) -> GqlResult<StatusItem> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::StatusItem, &id)?;
        let i = item_input(input.code, input.name, input.sort, input.semantics, input.color, None);
        Ok(settings::update_status_item(&mut *conn(ctx).await?, me, id, i).await?)
    }

    /// Deletes an item no element uses; system items stay.
    async fn delete_status_item(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::StatusItem, &id)?;
        Ok(to_id(IdKind::StatusItem, settings::delete_status_item(&mut *conn(ctx).await?, me, id).await?))
    }

    /// Puts a list in the given order (every item once, PROCESS items, then SUCCESS, then FAILURE).
    async fn reorder_status_items(
        &self,
        ctx: &Context<'_>,
        list: StatusListKind,
        ids: Vec<ID>,
    ) -> GqlResult<Vec<StatusItem>> {
        let me = actor(ctx)?;
        let ids = ids_of(IdKind::StatusItem, &ids)?;
        Ok(settings::reorder_status_items(&mut *conn(ctx).await?, me, list.as_str(), ids).await?)
    }

    /// A new pipeline with the default stages.
    async fn create_pipeline(&self, ctx: &Context<'_>, name: String) -> GqlResult<Pipeline> {
        let me = actor(ctx)?;
        Ok(settings::create_pipeline(&mut *conn(ctx).await?, me, &name).await?)
    }

    async fn update_pipeline(&self, ctx: &Context<'_>, id: ID, input: PipelineInput) -> GqlResult<Pipeline> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Pipeline, &id)?;
        Ok(settings::update_pipeline(&mut *conn(ctx).await?, me, id, input.name.as_deref(), input.sort).await?)
    }

    /// Deletes a pipeline that is not the default and holds no deals.
    async fn delete_pipeline(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Pipeline, &id)?;
        Ok(to_id(IdKind::Pipeline, settings::delete_pipeline(&mut *conn(ctx).await?, me, id).await?))
    }

    async fn set_default_pipeline(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Pipeline> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Pipeline, &id)?;
        Ok(settings::set_default_pipeline(&mut *conn(ctx).await?, me, id).await?)
    }

    async fn create_stage(&self, ctx: &Context<'_>, pipeline_id: ID, input: StageInput) -> GqlResult<Stage> {
        let me = actor(ctx)?;
        let pipeline_id = lookup_id(IdKind::Pipeline, &pipeline_id)?;
        let i = item_input(input.code, input.name, input.sort, input.semantics, input.color, input.probability);
        Ok(settings::create_stage(&mut *conn(ctx).await?, me, pipeline_id, i).await?)
    }

    async fn update_stage(&self, ctx: &Context<'_>, id: ID, input: StageInput) -> GqlResult<Stage> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Stage, &id)?;
        let i = item_input(input.code, input.name, input.sort, input.semantics, input.color, input.probability);
        Ok(settings::update_stage(&mut *conn(ctx).await?, me, id, i).await?)
    }

    /// Deletes a stage that holds no deals (never the SUCCESS stage or the last PROCESS one).
    async fn delete_stage(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Stage, &id)?;
        Ok(to_id(IdKind::Stage, settings::delete_stage(&mut *conn(ctx).await?, me, id).await?))
    }

    async fn reorder_stages(&self, ctx: &Context<'_>, pipeline_id: ID, ids: Vec<ID>) -> GqlResult<Vec<Stage>> {
        let me = actor(ctx)?;
        let pipeline_id = lookup_id(IdKind::Pipeline, &pipeline_id)?;
        let ids = ids_of(IdKind::Stage, &ids)?;
        Ok(settings::reorder_stages(&mut *conn(ctx).await?, me, pipeline_id, ids).await?)
    }
}

#[derive(Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// One pipeline with its stages.
    async fn pipeline(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Pipeline> {
        actor(ctx)?;
        let id = lookup_id(IdKind::Pipeline, &id)?;
        let found = settings::pipelines_by_id(&mut *conn(ctx).await?, &[id]).await?.pop();
        Ok(found.ok_or_else(|| {
            crate::kernel::DomainError::not_found(format!("pipeline `{}`", ids::encode(IdKind::Pipeline, id)))
        })?)
    }
}

//! Status lists and pipelines in GraphQL.

use async_graphql::{Context, Enum, ID, Object};

use super::loaders::PipelineStages;
use super::{GqlResult, load_error, loader, to_id};
use crate::domain::ids::IdKind;
use crate::domain::models::{Pipeline, Stage, StatusItem};

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

//! The Relay `Node` interface: any object by its global id.

use async_graphql::{Context, ID, Interface};

use crate::api::loaders::{ById, PipelineId, StageId, StatusId, UserId};
use crate::api::{GqlResult, load_error, loader};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Company, Contact, Deal, Lead, Pipeline, Product, Stage, StatusItem, TimelineEntry, User};

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Lead(Lead),
    Contact(Contact),
    Company(Company),
    Deal(Deal),
    User(User),
    StatusItem(StatusItem),
    Pipeline(Pipeline),
    Stage(Stage),
    TimelineEntry(TimelineEntry),
    Product(Product),
}

pub async fn node(ctx: &Context<'_>, id: &ID) -> GqlResult<Option<Node>> {
    let Some((Some(kind), n)) = ids::parse_any(id) else {
        return Ok(None);
    };
    let l = loader(ctx);
    Ok(match kind {
        IdKind::Lead => l.load_one(ById::<Lead>::new(n)).await.map_err(load_error)?.flatten().map(Node::Lead),
        IdKind::Contact => l.load_one(ById::<Contact>::new(n)).await.map_err(load_error)?.flatten().map(Node::Contact),
        IdKind::Company => l.load_one(ById::<Company>::new(n)).await.map_err(load_error)?.flatten().map(Node::Company),
        IdKind::Deal => l.load_one(ById::<Deal>::new(n)).await.map_err(load_error)?.flatten().map(Node::Deal),
        IdKind::User => l.load_one(UserId(n)).await.map_err(load_error)?.map(Node::User),
        IdKind::StatusItem => l.load_one(StatusId(n)).await.map_err(load_error)?.map(Node::StatusItem),
        IdKind::Pipeline => l.load_one(PipelineId(n)).await.map_err(load_error)?.map(Node::Pipeline),
        IdKind::Stage => l.load_one(StageId(n)).await.map_err(load_error)?.map(Node::Stage),
        IdKind::TimelineEntry => {
            l.load_one(ById::<TimelineEntry>::new(n)).await.map_err(load_error)?.flatten().map(Node::TimelineEntry)
        }
        IdKind::Department
        | IdKind::ProductRow
        | IdKind::Activity
        | IdKind::Role
        | IdKind::ApiToken
        | IdKind::CustomField
        | IdKind::ImportJob
        | IdKind::WebForm
        | IdKind::WebFormSubmission
        | IdKind::Call
        | IdKind::MailMessage
        | IdKind::Webhook
        | IdKind::WebhookDelivery
        | IdKind::Notification => None,
        IdKind::Product => l.load_one(ById::<Product>::new(n)).await.map_err(load_error)?.flatten().map(Node::Product),
    })
}

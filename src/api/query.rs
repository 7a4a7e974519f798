//! Root queries.

use async_graphql::{Context, ID, Object};

use crate::api::connection::top_level_list;
use crate::api::filters::list_args;
use crate::api::loaders::{ById, PipelineStages, UserId};
use crate::api::node::Node;
use crate::api::timeline::{ElementRef, TimelineConnection, TimelineFilter};
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id};
use crate::crm::company::api::{CompanyConnection, CompanyFilter, CompanyOrder};
use crate::crm::contact::api::{ContactConnection, ContactFilter, ContactOrder};
use crate::crm::deal::api::{DealConnection, DealFilter, DealOrder};
use crate::crm::lead::api::{LeadConnection, LeadFilter, LeadOrder};
use crate::kernel::ids::IdKind;
use crate::kernel::models::{Company, Contact, Deal, Lead, Pipeline, StatusItem, User};
use crate::kernel::write as elements;
use crate::kernel::{DomainError, ElementType};
use crate::org::user_api::{UserConnection, UserFilter, UserOrder};
use crate::settings::api::StatusListKind;
use crate::settings::rules as settings;

#[derive(Default)]
pub struct Query;

async fn one<T: crate::kernel::list::Listable>(ctx: &Context<'_>, kind: IdKind, id: &ID) -> GqlResult<Option<T>> {
    let n = lookup_id(kind, id)?;
    match loader(ctx).load_one(ById::<T>::new(n)).await.map_err(load_error)?.flatten() {
        Some(row) => Ok(Some(row)),
        None => Err(DomainError::not_found(format!("{} `{}`", kind.prefix(), id.as_str())).into()),
    }
}

#[Object]
impl Query {
    /// The user the bearer token belongs to.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<User> {
        let me = actor(ctx)?.user_id;
        loader(ctx)
            .load_one(UserId(me))
            .await
            .map_err(load_error)?
            .ok_or_else(|| DomainError::Unauthenticated("the token's user is gone".into()).into())
    }

    /// Any object by its global id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Node>> {
        match crate::api::node::node(ctx, &id).await? {
            Some(n) => Ok(Some(n)),
            None => Err(DomainError::not_found(format!("`{}`", id.as_str())).into()),
        }
    }

    async fn lead(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Lead>> {
        one(ctx, IdKind::Lead, &id).await
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        filter: Option<LeadFilter>,
        order_by: Option<Vec<LeadOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<LeadConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, Lead, LeadConnection, args)
    }

    async fn contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Contact>> {
        one(ctx, IdKind::Contact, &id).await
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContactFilter>,
        order_by: Option<Vec<ContactOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<ContactConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, Contact, ContactConnection, args)
    }

    async fn company(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Company>> {
        one(ctx, IdKind::Company, &id).await
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        filter: Option<CompanyFilter>,
        order_by: Option<Vec<CompanyOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<CompanyConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, Company, CompanyConnection, args)
    }

    async fn deal(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Deal>> {
        one(ctx, IdKind::Deal, &id).await
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        filter: Option<DealFilter>,
        order_by: Option<Vec<DealOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<DealConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, Deal, DealConnection, args)
    }

    async fn user(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<User>> {
        let n = lookup_id(IdKind::User, &id)?;
        match loader(ctx).load_one(UserId(n)).await.map_err(load_error)? {
            Some(u) => Ok(Some(u)),
            None => Err(DomainError::not_found(format!("user `{}`", id.as_str())).into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        order_by: Option<Vec<UserOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<UserConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        top_level_list!(ctx, User, UserConnection, args)
    }

    /// The items of one status list, in sort order.
    async fn status_items(&self, ctx: &Context<'_>, list: StatusListKind) -> GqlResult<Vec<StatusItem>> {
        actor(ctx)?;
        let mut conn = conn(ctx).await?;
        Ok(settings::status_items(&mut conn, list.as_str()).await?)
    }

    /// Deal pipelines, the default one first.
    async fn pipelines(&self, ctx: &Context<'_>) -> GqlResult<Vec<Pipeline>> {
        actor(ctx)?;
        let mut conn = conn(ctx).await?;
        let pipelines = settings::pipelines(&mut conn).await?;
        if ctx.look_ahead().field("stages").exists() {
            // All pipelines' stages in one statement.
            loader(ctx).load_many(pipelines.iter().map(|p| PipelineStages(p.id))).await.map_err(load_error)?;
        }
        Ok(pipelines)
    }

    /// History of one element, newest first.
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        element: ElementRef,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TimelineFilter>,
    ) -> GqlResult<TimelineConnection> {
        let r = element.decode()?;
        let actor = actor(ctx)?;
        let mut c = conn(ctx).await?;
        match r.element_type {
            ElementType::Lead => drop(elements::get::<Lead>(&mut c, actor, r.id).await?),
            ElementType::Contact => drop(elements::get::<Contact>(&mut c, actor, r.id).await?),
            ElementType::Company => drop(elements::get::<Company>(&mut c, actor, r.id).await?),
            ElementType::Deal => drop(elements::get::<Deal>(&mut c, actor, r.id).await?),
        }
        drop(c);
        crate::api::timeline::timeline_of(ctx, r.element_type, r.id, first, after, filter).await
    }

    /// History across all elements (CRM > History), newest first.
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        filter: Option<TimelineFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<TimelineConnection> {
        crate::api::timeline::history(ctx, filter, first, after).await
    }
}

//! The GraphQL API: thin resolvers that translate between GraphQL and the domain.

pub mod common;
pub mod connection;
pub mod cost;
pub mod current_rights;
pub mod element;
pub mod filters;
pub mod guard;
pub mod input;
pub mod lexer;
pub mod loaders;
pub mod mutation;
pub mod node;
pub mod prefetch;
pub mod query;
pub mod timeline;

use async_graphql::{Context, ErrorExtensions, ID, MergedObject, Schema};

use crate::db::{Conn, Pool};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::write::Ctx;
use crate::kernel::{Actor, DomainError};

/// Root query: one object per capability, merged.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    query::Query,
    crate::crm::shared::products_api::ProductQuery,
    crate::crm::shared::duplicates_api::DuplicatesQuery,
    crate::crm::deal::lifecycle_api::DealFunnelQuery,
    crate::crm::lead::lifecycle_api::LeadReportQuery,
    crate::activity::api::ActivityQuery,
    crate::org::api::OrgQuery,
    crate::settings::api::SettingsQuery,
    crate::crm::shared::custom_fields_api::CustomFieldQuery,
    crate::crm::company::requisites_api::RequisitesQuery,
    crate::import::api::ImportQuery,
    crate::intake::forms::api::WebFormQuery,
    crate::intake::calls::api::CallQuery,
    crate::search::api::SearchQuery,
    crate::webhooks::api::WebhookQuery,
    crate::notifications::api::NotificationQuery,
);

/// Root mutation: one object per capability, merged.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    mutation::Mutation,
    crate::crm::lead::lifecycle_api::LeadMutation,
    crate::crm::shared::duplicates_api::MergeMutation,
    crate::crm::shared::products_api::ProductMutation,
    crate::crm::deal::lifecycle_api::DealMutation,
    crate::activity::api::ActivityMutation,
    crate::org::api::OrgMutation,
    crate::settings::api::SettingsMutation,
    crate::crm::shared::custom_fields_api::CustomFieldMutation,
    crate::crm::company::requisites_api::RequisitesMutation,
    crate::import::api::ImportMutation,
    crate::intake::forms::api::WebFormMutation,
    crate::intake::calls::api::CallMutation,
    crate::webhooks::api::WebhookMutation,
    crate::notifications::api::NotificationMutation,
);

/// Root subscription: one object per capability, merged.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(
    crate::events::subscriptions::EventSubscription,
    crate::import::api::ImportSubscription,
    crate::intake::calls::api::CallSubscription,
    crate::notifications::api::NotificationSubscription,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Limits that reject abusive documents before they run.
pub const MAX_DEPTH: usize = 12;

/// The most a query may cost (`cost.rs`): a field costs 1 plus its selections; a list
/// costs `cost::CONNECTION_COST` (10) plus its page size (`first`/`last`, default 100)
/// times its selections per row. Roughly, the number of values a query may read. Worked
/// examples:
/// - README's `deals(first: 10) { totalCount edges { cursor node { id title opportunity
///   currency stage { name semantics } company { title } contacts { fullName } assignedTo
///   { name } } } pageInfo { hasNextPage endCursor } }`: a row costs 20, so 10 + 10 × 20 =
///   210.
/// - A dashboard, `deals(first: 100) { edges { node { title stage { name } company { title }
///   contacts { fullName } assignedTo { name } activities(first: 10) { edges { node {
///   subject deadline } } } } } }`: activities 10 + 10 × 4 = 50, a deal row 61, in all
///   10 + 100 × 61 = 6,110.
/// - An export page, `leads(first: 500) { nodes { <20 fields> status { name } assignedTo {
///   name } } }`: 10 + 500 × 25 = 12,510.
/// - Nested lists left at the default page, `companies { nodes { title contacts { nodes {
///   fullName } } deals { nodes { title } } } }`: 10 + 100 × (2 + 210 + 210) = 42,210.
/// - Refused: `companies(first: 500) { edges { node { deals(first: 500) { edges { node {
///   timeline(first: 500) { edges { node { id } } } } } } } } }` would read up to 125
///   million entries: timeline 1,510, deals 10 + 500 × 1,512 = 756,010, companies
///   about 378 million.
pub const MAX_COMPLEXITY: usize = 50_000;

/// Process-wide state resolvers need, placed in the schema's data.
#[derive(Clone)]
pub struct ApiState {
    pub pool: Pool,
    pub phone_region: phonenumber::country::Id,
    /// Where people reach this server (web form links), without a trailing slash.
    pub public_url: String,
    /// Sends webhook test messages and wakes the delivery worker.
    pub webhooks: crate::webhooks::send::Sender,
}

pub fn build_schema(state: ApiState, bus: crate::events::Bus) -> AppSchema {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .data(state)
        .data(bus)
        .data(crate::events::subscriptions::SharedCounters::default())
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema without any state, for `export-schema` and the drift test.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default()).finish().sdl()
}

impl From<DomainError> for async_graphql::Error {
    fn from(e: DomainError) -> Self {
        to_gql(&e)
    }
}

/// Errors from DataLoaders arrive shared.
pub fn load_error(e: std::sync::Arc<DomainError>) -> async_graphql::Error {
    to_gql(&e)
}

fn to_gql(e: &DomainError) -> async_graphql::Error {
    {
        e.log_internal("internal error in a resolver");
        let message = e.message();
        let code = e.code();
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            match e {
                DomainError::BadInput { field, .. } => ext.set("field", field.as_str()),
                DomainError::Conflict { details: serde_json::Value::Object(map), .. } => {
                    for (k, v) in map {
                        if let Ok(v) = async_graphql::Value::from_json(v.clone()) {
                            ext.set(k.as_str(), v);
                        }
                    }
                }
                _ => {}
            }
        })
    }
}

pub type GqlResult<T> = Result<T, async_graphql::Error>;

/// Everything a resolver needs about the current request.
pub fn actor<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a Actor> {
    ctx.data_opt::<Actor>().ok_or_else(|| DomainError::Unauthenticated("missing bearer token".into()).into())
}

/// The deployment's region for phone numbers without a country code.
pub fn phone_region(ctx: &Context<'_>) -> phonenumber::country::Id {
    ctx.data::<ApiState>().map(|s| s.phone_region).unwrap_or(phonenumber::country::Id::US)
}

pub fn write_ctx(ctx: &Context<'_>) -> GqlResult<Ctx> {
    let state = ctx.data::<ApiState>()?;
    Ok(Ctx { actor: actor(ctx)?.clone(), phone_region: state.phone_region })
}

pub async fn conn(ctx: &Context<'_>) -> GqlResult<Conn> {
    let state = ctx.data::<ApiState>()?;
    Ok(state.pool.get().await.map_err(DomainError::from)?)
}

pub fn loader<'a>(ctx: &'a Context<'_>) -> &'a loaders::RequestLoader {
    ctx.data_unchecked::<loaders::RequestLoader>()
}

pub fn to_id(kind: IdKind, id: i64) -> ID {
    ID(ids::encode(kind, id))
}

pub fn opt_id(kind: IdKind, id: Option<i64>) -> Option<ID> {
    id.map(|i| to_id(kind, i))
}

/// Decodes the id of a lookup: a malformed id names nothing (NOT_FOUND).
pub fn lookup_id(kind: IdKind, id: &ID) -> Result<i64, DomainError> {
    ids::decode_lookup(kind, id)
}

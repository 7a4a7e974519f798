//! Activities and counters in GraphQL.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::activity::counters::{self, CounterSet, Counters};
use crate::activity::rules::{self as activities, ActivityPatch};
use crate::api::common;
use crate::api::connection::{connection, nested_list, top_level_list};
use crate::api::filters::{
    BooleanFilter, ColumnFilter, DateTimeFilter, FilterEnv, IdFilter, StringFilter, element_filter, list_args,
};
use crate::api::loaders::{ActivityBindings, ById, PipelineId};
use crate::api::timeline::ElementRef;
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id, to_id, write_ctx};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::list::{Cond, Relation};
use crate::kernel::models::{Activity, Pipeline, User};
use crate::kernel::{DomainError, DomainResult, ElementType};
use crate::org::auth;

impl ColumnFilter for ElementRef {
    fn conds(&self, _: &'static str, _: Option<IdKind>, _: FilterEnv) -> DomainResult<Vec<Cond>> {
        Ok(vec![Cond::Bound(self.decode()?)])
    }
}

element_filter! {
    ActivityFilter, ActivityOrder, ActivityOrderField, ElementType::Lead,
    filters {
        id: IdFilter => "id" as Activity,
        type_: StringFilter => "type",
        subject: StringFilter => "subject",
        direction: StringFilter => "direction",
        priority: StringFilter => "priority",
        responsible_id: IdFilter => "responsible_id" as User,
        completed: BooleanFilter => "completed",
        deadline: DateTimeFilter => "deadline",
        start_at: DateTimeFilter => "start_at",
        created_at: DateTimeFilter => "created_at",
        element: ElementRef => "element",
    }
    order {
        Id => "id": Int8,
        Deadline => "deadline": DateTime,
        StartAt => "start_at": DateTime,
        CreatedAt => "created_at": DateTime,
    }
}

connection!(ActivityConnection, ActivityEdge, Activity);

/// One element an activity belongs to.
#[derive(SimpleObject)]
pub struct Binding {
    #[graphql(name = "type")]
    pub element_type: crate::api::timeline::ElementTypeGql,
    pub id: ID,
}

/// What kind of activity it is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ActivityType", remote = "crate::activity::rules::ActivityType")]
pub enum ActivityTypeGql {
    Call,
    Meeting,
    Task,
    Email,
    Todo,
}

/// Whether the customer or we started it; INCOMING activities count in the counters'
/// `incoming`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ActivityDirection", remote = "crate::activity::rules::Direction")]
pub enum DirectionGql {
    Incoming,
    Outgoing,
}

/// How urgent it is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ActivityPriority", remote = "crate::activity::rules::Priority")]
pub enum PriorityGql {
    Low,
    Medium,
    High,
}

/// A stored word as its GraphQL enum; writes only store known words.
fn stored<W: crate::kernel::kinds::Words, G: From<W>>(word: &str) -> GqlResult<G> {
    W::from_word(word)
        .map(G::from)
        .ok_or_else(|| DomainError::from(anyhow::anyhow!("unknown stored word `{word}`")).into())
}

#[Object(name = "Activity")]
impl Activity {
    pub async fn id(&self) -> ID {
        to_id(IdKind::Activity, self.id)
    }
    async fn version(&self) -> i32 {
        self.version
    }
    #[graphql(name = "type")]
    async fn activity_type(&self) -> GqlResult<ActivityTypeGql> {
        stored::<activities::ActivityType, _>(&self.activity_type)
    }
    async fn subject(&self) -> &str {
        &self.subject
    }
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    async fn direction(&self) -> GqlResult<Option<DirectionGql>> {
        self.direction.as_deref().map(stored::<activities::Direction, _>).transpose()
    }
    async fn priority(&self) -> GqlResult<PriorityGql> {
        stored::<activities::Priority, _>(&self.priority)
    }
    async fn start_at(&self) -> Option<DateTime<Utc>> {
        self.start_at
    }
    async fn end_at(&self) -> Option<DateTime<Utc>> {
        self.end_at
    }
    async fn deadline(&self) -> Option<DateTime<Utc>> {
        self.deadline
    }
    async fn completed(&self) -> bool {
        self.completed
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }
    async fn responsible_id(&self) -> ID {
        to_id(IdKind::User, self.responsible_id)
    }
    async fn responsible(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        common::user_of(ctx, Some(self.responsible_id)).await
    }
    /// The element the activity was created on.
    async fn owner(&self) -> Option<Binding> {
        let et = ElementType::parse(&self.owner_type)?;
        Some(Binding { element_type: et.into(), id: to_id(et.id_kind(), self.owner_id) })
    }
    /// Every element the activity belongs to, the owner included.
    async fn bindings(&self, ctx: &Context<'_>) -> GqlResult<Vec<Binding>> {
        let refs = loader(ctx).load_one(ActivityBindings(self.id)).await.map_err(load_error)?.unwrap_or_default();
        Ok(refs
            .into_iter()
            .map(|r| Binding { element_type: r.element_type.into(), id: to_id(r.element_type.id_kind(), r.id) })
            .collect())
    }
    /// Communications used, as given (`[{value, valueType}]`).
    async fn communications(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.communications.clone())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

#[derive(InputObject)]
pub struct ActivityCommunicationInput {
    pub value: String,
    pub value_type: Option<String>,
}

#[derive(InputObject)]
pub struct ActivityInput {
    /// An `ActivityType` word (any case); required on create.
    #[graphql(name = "type")]
    pub activity_type: Option<String>,
    /// Required on create.
    pub subject: Option<String>,
    pub description: MaybeUndefined<String>,
    /// An `ActivityDirection` word (any case).
    pub direction: MaybeUndefined<String>,
    /// An `ActivityPriority` word (any case); MEDIUM by default.
    pub priority: Option<String>,
    pub start_at: MaybeUndefined<DateTime<Utc>>,
    pub end_at: MaybeUndefined<DateTime<Utc>>,
    pub deadline: MaybeUndefined<DateTime<Utc>>,
    /// Defaults to the acting user.
    pub responsible_id: Option<ID>,
    /// The element the activity belongs to; required on create.
    pub owner: Option<ElementRef>,
    /// Further elements it belongs to (replaces them on update).
    pub bindings: Option<Vec<ElementRef>>,
    pub communications: Option<Vec<ActivityCommunicationInput>>,
}

fn maybe<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(x) => Some(Some(x)),
    }
}

impl ActivityInput {
    fn into_patch(self) -> DomainResult<ActivityPatch> {
        use crate::kernel::limits::{MAX_BINDINGS, MAX_COMMUNICATIONS, check_len};
        check_len("bindings", self.bindings.as_ref().map_or(0, Vec::len), MAX_BINDINGS)?;
        check_len("communications", self.communications.as_ref().map_or(0, Vec::len), MAX_COMMUNICATIONS)?;
        Ok(ActivityPatch {
            activity_type: self.activity_type,
            subject: self.subject,
            description: maybe(self.description),
            direction: maybe(self.direction),
            priority: self.priority,
            start_at: maybe(self.start_at),
            end_at: maybe(self.end_at),
            deadline: maybe(self.deadline),
            responsible_id: self.responsible_id.map(|r| ids::decode(IdKind::User, &r, "responsibleId")).transpose()?,
            owner: self.owner.map(|o| o.decode()).transpose()?,
            bindings: self
                .bindings
                .map(|b| b.iter().map(ElementRef::decode).collect::<DomainResult<Vec<_>>>())
                .transpose()?,
            communications: self.communications.map(|c| {
                serde_json::Value::Array(
                    c.into_iter().map(|c| serde_json::json!({ "value": c.value, "valueType": c.value_type })).collect(),
                )
            }),
        })
    }
}

/// Activities bound to an element, as a nested connection.
pub fn relation(element: ElementType) -> Relation {
    let extra = crate::kernel::list::element_type_is!("r", element);
    Relation { join: "JOIN activity_bindings r ON r.activity_id = t.id", parent: "r.element_id", extra }
}

#[allow(clippy::too_many_arguments)]
pub async fn activities_of(
    ctx: &Context<'_>,
    element: ElementType,
    id: i64,
    filter: Option<ActivityFilter>,
    order_by: Option<Vec<ActivityOrder>>,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<ActivityConnection> {
    let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, None, None)?;
    nested_list!(ctx, Activity, ActivityConnection, args, relation(element), id)
}

#[derive(SimpleObject, Clone, Copy)]
#[graphql(name = "CounterSet")]
pub struct CounterSetGql {
    pub overdue: i64,
    pub pending: i64,
    pub idle: i64,
    pub incoming: i64,
    /// Distinct elements that are overdue, pending or incoming.
    pub total: i64,
}

impl From<CounterSet> for CounterSetGql {
    fn from(c: CounterSet) -> Self {
        CounterSetGql { overdue: c.overdue, pending: c.pending, idle: c.idle, incoming: c.incoming, total: c.total }
    }
}

pub struct PipelineCounters(i64, CounterSet);

#[Object(name = "PipelineCounters")]
impl PipelineCounters {
    async fn pipeline(&self, ctx: &Context<'_>) -> GqlResult<Option<Pipeline>> {
        loader(ctx).load_one(PipelineId(self.0)).await.map_err(load_error)
    }
    async fn counters(&self) -> CounterSetGql {
        self.1.into()
    }
}

pub struct CountersGql(pub Counters);

#[Object(name = "Counters")]
impl CountersGql {
    async fn user_id(&self) -> ID {
        to_id(IdKind::User, self.0.user_id)
    }
    async fn total(&self) -> CounterSetGql {
        self.0.total.into()
    }
    async fn leads(&self) -> CounterSetGql {
        self.0.leads.into()
    }
    async fn deals(&self) -> CounterSetGql {
        self.0.deals.into()
    }
    async fn contacts(&self) -> CounterSetGql {
        self.0.contacts.into()
    }
    async fn companies(&self) -> CounterSetGql {
        self.0.companies.into()
    }
    async fn deals_by_pipeline(&self) -> Vec<PipelineCounters> {
        self.0.deals_by_pipeline.iter().map(|(p, c)| PipelineCounters(*p, *c)).collect()
    }
    /// The user's unread notifications (`notifications(unreadOnly: true)`).
    async fn unread_notifications(&self) -> i64 {
        self.0.unread_notifications
    }
    async fn computed_at(&self) -> DateTime<Utc> {
        self.0.computed_at
    }
}

/// Whose counters: me, or anyone for an administrator (another user's are FORBIDDEN
/// otherwise).
pub async fn counter_user(ctx: &Context<'_>, user_id: Option<ID>) -> GqlResult<User> {
    let me = actor(ctx)?;
    let id = match user_id {
        None => me.user_id,
        Some(u) => lookup_id(IdKind::User, &u)?,
    };
    if id != me.user_id && !me.is_admin {
        return Err(DomainError::Forbidden("only administrators see other users' counters".into()).into());
    }
    let mut c = conn(ctx).await?;
    auth::users_by_id(&mut c, &[id])
        .await?
        .pop()
        .ok_or_else(|| DomainError::not_found(format!("user `{}`", ids::encode(IdKind::User, id))).into())
}

#[derive(Default)]
pub struct ActivityQuery;

#[Object]
impl ActivityQuery {
    async fn activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Activity>> {
        let n = lookup_id(IdKind::Activity, &id)?;
        match loader(ctx).load_one(ById::<Activity>::new(n)).await.map_err(load_error)?.flatten() {
            Some(a) => Ok(Some(a)),
            None => Err(DomainError::not_found(format!("activity `{}`", id.as_str())).into()),
        }
    }

    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        filter: Option<ActivityFilter>,
        order_by: Option<Vec<ActivityOrder>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<ActivityConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, None, None)?;
        top_level_list!(ctx, Activity, ActivityConnection, args)
    }

    /// How many elements need the user's attention (default: me).
    async fn counters(&self, ctx: &Context<'_>, user_id: Option<ID>) -> GqlResult<CountersGql> {
        let user = counter_user(ctx, user_id).await?;
        let mut c = conn(ctx).await?;
        Ok(CountersGql(counters::compute(&mut c, &user, &actor(ctx)?.rights, Utc::now()).await?))
    }
}

#[derive(Default)]
pub struct ActivityMutation;

#[Object]
impl ActivityMutation {
    async fn create_activity(&self, ctx: &Context<'_>, input: ActivityInput) -> GqlResult<Activity> {
        let wctx = write_ctx(ctx)?;
        let patch = input.into_patch()?;
        let mut c = conn(ctx).await?;
        Ok(activities::create(&mut c, &wctx, patch).await?)
    }

    async fn update_activity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ActivityInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Activity> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Activity, &id)?;
        let patch = input.into_patch()?;
        let mut c = conn(ctx).await?;
        Ok(activities::update(&mut c, &wctx, n, expected_version, patch).await?)
    }

    async fn complete_activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Activity> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Activity, &id)?;
        let mut c = conn(ctx).await?;
        Ok(activities::set_completed(&mut c, &wctx, n, true).await?)
    }

    async fn reopen_activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Activity> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Activity, &id)?;
        let mut c = conn(ctx).await?;
        Ok(activities::set_completed(&mut c, &wctx, n, false).await?)
    }

    async fn delete_activity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let wctx = write_ctx(ctx)?;
        let n = lookup_id(IdKind::Activity, &id)?;
        let mut c = conn(ctx).await?;
        Ok(to_id(IdKind::Activity, activities::delete(&mut c, &wctx, n).await?))
    }
}

//! Prefetching: a list knows all its rows, so it loads the relations its selection asks for
//! (and theirs, recursively) with one `load_many` per relation before the rows resolve. The
//! rows then find everything in the request's loader cache. This makes batching
//! deterministic: a time-window DataLoader splits batches when the machine is busy.

// The trait promises `Send` futures borrowing the context; spelled out, not `async fn`.
#![allow(clippy::manual_async_fn)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use async_graphql::{Context, Lookahead};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::future::try_join_all;

use crate::api::filters::{FilterInput, OrderInput, list_args};
use crate::api::loaders::{ById, Comms, Linked, Nested, NestedCount, PipelineId, StageId, StatusId, UserId};
use crate::api::loaders::{CompanyRequisites, ConversionOf, ProductRows, StageHistory};
use crate::api::timeline::{TimelineFilter, timeline_args, timeline_relation};
use crate::api::{GqlResult, load_error, loader};
use crate::crm::company::api::{COMPANY_CONTACTS, COMPANY_DEALS, COMPANY_LEADS};
use crate::crm::contact::api::{CONTACT_DEALS, CONTACT_LEADS, ContactFilter, ContactOrder};
use crate::crm::deal::api::{DealFilter, DealOrder};
use crate::crm::lead::api::{LeadFilter, LeadOrder};
use crate::kernel::ElementType;
use crate::kernel::list::{self as query, Listable, Plan, Relation};
use crate::kernel::models::{Company, Contact, Deal, Lead, TimelineEntry, User};

/// Rows without relations to load prefetch nothing.
pub trait Prefetch: Sized + Send + Sync {
    fn prefetch<'a>(
        _ctx: &'a Context<'_>,
        _look: Lookahead<'a>,
        _rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async { Ok(()) }
    }
}

type Job<'a> = BoxFuture<'a, GqlResult<()>>;

/// Loads what the rows reference (users, status items) for the fields that are selected:
/// `ids` pairs a field name with the id it would show.
fn referenced<'a, K>(
    ctx: &'a Context<'_>,
    look: &Lookahead<'a>,
    ids: impl Iterator<Item = (&'static str, Option<i64>)>,
    key: fn(i64) -> K,
) -> Option<Job<'a>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    crate::api::loaders::Loaders: async_graphql::dataloader::Loader<K, Error = crate::api::loaders::LoadError>,
{
    let wanted: HashSet<i64> = ids.filter(|(f, _)| look.field(f).exists()).filter_map(|(_, id)| id).collect();
    load(ctx, wanted.into_iter().map(key).collect())
}

/// Elements by id (a lead's contact, a deal's company), then their own relations.
fn elements<'a, T>(ctx: &'a Context<'_>, look: Lookahead<'a>, ids: HashSet<i64>) -> Option<Job<'a>>
where
    T: Prefetch + Listable,
{
    (look.exists() && !ids.is_empty()).then(|| {
        async move {
            let found = loader(ctx).load_many(ids.into_iter().map(ById::<T>::new)).await.map_err(load_error)?;
            let rows: Vec<T> = found.into_values().flatten().collect();
            T::prefetch(ctx, look, &rows).await
        }
        .boxed()
    })
}

/// Linked elements (a deal's contacts, a contact's companies) when `field` or the link's id
/// list is selected, then their own relations.
fn linked<'a, T>(
    ctx: &'a Context<'_>,
    look: &Lookahead<'a>,
    field: &str,
    link: crate::kernel::write::LinkSpec,
    owners: &[i64],
) -> Option<Job<'a>>
where
    T: Prefetch + Listable,
{
    let sub = look.field(field);
    let keys: Vec<Linked<T>> = owners.iter().map(|o| Linked::new((link, *o))).collect();
    (sub.exists() || look.field(link.field).exists()).then(|| {
        async move {
            let found = loader(ctx).load_many(keys).await.map_err(load_error)?;
            let all: Vec<T> = found.into_values().flatten().collect();
            T::prefetch(ctx, sub, &all).await
        }
        .boxed()
    })
}

async fn run(jobs: Vec<Option<Job<'_>>>) -> GqlResult<()> {
    try_join_all(jobs.into_iter().flatten()).await?;
    Ok(())
}

/// A `Prefetch` impl that runs the jobs `$jobs` builds from the context, the selection and
/// the rows.
macro_rules! prefetch {
    ($row:ty, |$ctx:ident, $look:ident, $rows:ident| $jobs:expr) => {
        impl Prefetch for $row {
            fn prefetch<'a>(
                ctx: &'a Context<'_>,
                look: Lookahead<'a>,
                rows: &'a [Self],
            ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
                async move {
                    let ($ctx, $look, $rows) = (ctx, &look, rows);
                    run($jobs).await
                }
            }
        }
    };
}

/// What every element list prefetches: its people (assignee, creator, last editor), its
/// history and activities, and its communications (deals have none).
fn element_jobs<'a>(
    ctx: &'a Context<'_>,
    look: &Lookahead<'a>,
    et: ElementType,
    ids: Vec<i64>,
    people: impl Iterator<Item = [Option<i64>; 3]>,
) -> Vec<Option<Job<'a>>> {
    use crate::activity::api::{ActivityFilter, ActivityOrder, relation};
    let people = people.flat_map(|[a, c, u]| [("assignedTo", a), ("createdBy", c), ("updatedBy", u)]);
    let mut jobs = vec![
        referenced(ctx, look, people, UserId),
        timeline(ctx, look.field("timeline"), et, ids.clone()),
        connection::<crate::kernel::models::Activity, ActivityFilter, ActivityOrder>(
            ctx,
            look.field("activities"),
            relation(et),
            ids.clone(),
        ),
    ];
    if et != ElementType::Deal {
        let comms = ids.iter().map(|id| Comms(et, *id)).collect();
        jobs.push(keyed(ctx, look, &["phones", "emails", "webs", "ims"], comms));
    }
    jobs
}

/// The `Prefetch` of an element type: `element_jobs` and the type's own relations, `$own`,
/// given the context, the selection, the rows and their ids.
macro_rules! element_prefetch {
    ($row:ident, |$ctx:ident, $look:ident, $rows:ident, $ids:ident| $own:expr) => {
        prefetch!($row, |$ctx, $look, $rows| {
            let $ids: Vec<i64> = $rows.iter().map(|r| r.id).collect();
            let people = $rows.iter().map(|r| [r.assigned_to_id, r.created_by_id, r.updated_by_id]);
            let mut jobs = element_jobs($ctx, $look, ElementType::$row, $ids.clone(), people);
            jobs.extend($own);
            jobs
        });
    };
}

element_prefetch!(Deal, |ctx, look, rows, ids| [
    linked::<Contact>(ctx, look, "contacts", crate::crm::deal::rules::CONTACTS, &ids),
    elements::<Company>(ctx, look.field("company"), rows.iter().filter_map(|d| d.company_id).collect()),
    keyed(ctx, look, &["stage", "isWon"], rows.iter().map(|d| StageId(d.stage_id)).collect()),
    keyed(ctx, look, &["pipeline"], rows.iter().map(|d| PipelineId(d.pipeline_id)).collect()),
    referenced(ctx, look, rows.iter().flat_map(|d| [("type", d.type_id), ("source", d.source_id)]), StatusId),
    keyed(ctx, look, &["productRows", "totals"], ids.iter().map(|id| ProductRows(ElementType::Deal, *id)).collect()),
    keyed(ctx, look, &["stageHistory"], ids.iter().map(|id| StageHistory(*id)).collect()),
]);

element_prefetch!(Contact, |ctx, look, rows, ids| [
    linked::<Company>(ctx, look, "companies", crate::crm::contact::rules::COMPANIES, &ids),
    referenced(ctx, look, rows.iter().flat_map(|c| [("type", c.type_id), ("source", c.source_id)]), StatusId),
    connection::<Deal, DealFilter, DealOrder>(ctx, look.field("deals"), CONTACT_DEALS, ids.clone()),
    connection::<Lead, LeadFilter, LeadOrder>(ctx, look.field("leads"), CONTACT_LEADS, ids),
]);

element_prefetch!(Company, |ctx, look, rows, ids| [
    referenced(
        ctx,
        look,
        rows.iter().flat_map(|c| [("type", c.type_id), ("industry", c.industry_id), ("employees", c.employees_id)]),
        StatusId,
    ),
    connection::<Contact, ContactFilter, ContactOrder>(ctx, look.field("contacts"), COMPANY_CONTACTS, ids.clone()),
    connection::<Deal, DealFilter, DealOrder>(ctx, look.field("deals"), COMPANY_DEALS, ids.clone()),
    connection::<Lead, LeadFilter, LeadOrder>(ctx, look.field("leads"), COMPANY_LEADS, ids.clone()),
    keyed(ctx, look, &["requisites"], ids.into_iter().map(CompanyRequisites).collect()),
]);

element_prefetch!(Lead, |ctx, look, rows, ids| [
    referenced(ctx, look, rows.iter().flat_map(|l| [("status", Some(l.status_id)), ("source", l.source_id)]), StatusId),
    elements::<Contact>(ctx, look.field("contact"), rows.iter().filter_map(|l| l.contact_id).collect()),
    elements::<Company>(ctx, look.field("company"), rows.iter().filter_map(|l| l.company_id).collect()),
    keyed(ctx, look, &["productRows", "totals"], ids.iter().map(|id| ProductRows(ElementType::Lead, *id)).collect()),
    keyed(
        ctx,
        look,
        &["convertedAt", "convertedContact", "convertedCompany", "convertedDeal"],
        ids.iter().map(|id| ConversionOf(*id)).collect(),
    ),
]);

prefetch!(TimelineEntry, |ctx, look, rows| vec![referenced(
    ctx,
    look,
    rows.iter().map(|e| ("author", e.author_id)),
    UserId
)]);

impl Prefetch for crate::kernel::models::Product {}

/// Loads keys for every row when any of `fields` is selected.
fn keyed<'a, K>(ctx: &'a Context<'_>, look: &Lookahead<'a>, fields: &[&str], keys: Vec<K>) -> Option<Job<'a>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    crate::api::loaders::Loaders: async_graphql::dataloader::Loader<K, Error = crate::api::loaders::LoadError>,
{
    if fields.iter().any(|f| look.field(f).exists()) { load(ctx, keys) } else { None }
}

/// Loads `keys` into the request's cache; nothing to do for none.
fn load<'a, K>(ctx: &'a Context<'_>, keys: Vec<K>) -> Option<Job<'a>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    crate::api::loaders::Loaders: async_graphql::dataloader::Loader<K, Error = crate::api::loaders::LoadError>,
{
    (!keys.is_empty()).then(|| {
        async move {
            loader(ctx).load_many(keys).await.map_err(load_error)?;
            Ok(())
        }
        .boxed()
    })
}

prefetch!(crate::kernel::models::Activity, |ctx, look, rows| vec![
    referenced(ctx, look, rows.iter().map(|a| ("responsible", Some(a.responsible_id))), UserId),
    keyed(ctx, look, &["bindings"], rows.iter().map(|a| crate::api::loaders::ActivityBindings(a.id)).collect()),
]);

impl Prefetch for User {}

/// Reads one argument of a selected field; None when absent or not of the expected type (the
/// field's resolver reports bad arguments, prefetching just skips them).
fn arg<T: async_graphql::InputType>(
    args: &[(async_graphql::Name, async_graphql::Value)],
    name: &str,
) -> Option<Option<T>> {
    match args.iter().find(|(n, _)| n.as_str() == name) {
        None => Some(None),
        Some((_, v)) => <Option<T> as async_graphql::InputType>::parse(Some(v.clone())).ok(),
    }
}

/// Loads the pages of a nested connection for all parents, its totals if selected, and the
/// relations of every row in them.
async fn nested_pages<'a, T: Prefetch + Listable>(
    ctx: &'a Context<'_>,
    sub: Lookahead<'a>,
    plan: Arc<Plan>,
    parents: &[i64],
) -> GqlResult<()> {
    let pages =
        loader(ctx).load_many(parents.iter().map(|p| Nested::<T>::new(plan.clone(), *p))).await.map_err(load_error)?;
    if sub.field("totalCount").exists() {
        loader(ctx).load_many(parents.iter().map(|p| NestedCount(plan.clone(), *p))).await.map_err(load_error)?;
    }
    let rows: Vec<T> = pages.into_values().flat_map(|p| p.rows).collect();
    T::prefetch(ctx, sub.field("nodes"), &rows).await?;
    T::prefetch(ctx, sub.field("edges").field("node"), &rows).await
}

/// Nested lists of every parent (an element connection, a timeline): each selection of the
/// field with its own arguments is planned by `plan_of` (None when the arguments are not
/// valid; the field's resolver reports them) and loaded for all parents at once.
fn nested<'a, T, P>(ctx: &'a Context<'_>, look: Lookahead<'a>, parents: Vec<i64>, plan_of: P) -> Option<Job<'a>>
where
    T: Prefetch + Listable,
    P: Fn(&[(async_graphql::Name, async_graphql::Value)], &crate::kernel::actor::Actor) -> Option<Arc<Plan>>
        + Send
        + 'a,
{
    (look.exists() && !parents.is_empty()).then(move || {
        async move {
            let actor = crate::api::actor(ctx)?;
            for field in look.selection_fields() {
                let Ok(args) = field.arguments() else { continue };
                let Some(plan) = plan_of(&args, actor) else { continue };
                nested_pages::<T>(ctx, Lookahead::from(field), plan, &parents).await?;
            }
            Ok(())
        }
        .boxed()
    })
}

/// A nested element connection (`company.deals`, `contact.leads`, ...).
fn connection<'a, T, F, O>(
    ctx: &'a Context<'_>,
    look: Lookahead<'a>,
    relation: Relation,
    parents: Vec<i64>,
) -> Option<Job<'a>>
where
    T: Prefetch + Listable,
    F: async_graphql::InputType + FilterInput,
    O: async_graphql::InputType + OrderInput,
{
    let region = crate::api::phone_region(ctx);
    nested::<T, _>(ctx, look, parents, move |args, actor| {
        let list = list_args(
            region,
            arg::<F>(args, "filter")?,
            arg::<Vec<O>>(args, "orderBy")?,
            arg::<i32>(args, "first")?,
            arg::<String>(args, "after")?,
            arg::<i32>(args, "last")?,
            arg::<String>(args, "before")?,
        )
        .ok()?;
        query::plan::<T>(actor, list, Some(relation)).ok()
    })
}

/// The nested `timeline` of elements.
fn timeline<'a>(ctx: &'a Context<'_>, look: Lookahead<'a>, element: ElementType, parents: Vec<i64>) -> Option<Job<'a>> {
    let region = crate::api::phone_region(ctx);
    nested::<TimelineEntry, _>(ctx, look, parents, move |args, actor| {
        let list = timeline_args(
            region,
            arg::<i32>(args, "first")?,
            arg::<String>(args, "after")?,
            arg::<TimelineFilter>(args, "filter")?,
        )
        .ok()?;
        query::plan::<TimelineEntry>(actor, list, Some(timeline_relation(element))).ok()
    })
}

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
use crate::api::loaders::{
    ById, Comms, ContactCompanies, DealContacts, Nested, NestedCount, PipelineId, StageId, StatusId, UserId,
};
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

pub trait Prefetch: Sized + Send + Sync {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a;
}

type Job<'a> = BoxFuture<'a, GqlResult<()>>;

fn users<'a>(
    ctx: &'a Context<'_>,
    look: &Lookahead<'a>,
    ids: impl Iterator<Item = (&'static str, Option<i64>)>,
) -> Option<Job<'a>> {
    let wanted: HashSet<i64> = ids.filter(|(f, _)| look.field(f).exists()).filter_map(|(_, id)| id).collect();
    (!wanted.is_empty()).then(|| {
        async move {
            loader(ctx).load_many(wanted.into_iter().map(UserId)).await.map_err(load_error)?;
            Ok(())
        }
        .boxed()
    })
}

fn statuses<'a>(
    ctx: &'a Context<'_>,
    look: &Lookahead<'a>,
    ids: impl Iterator<Item = (&'static str, Option<i64>)>,
) -> Option<Job<'a>> {
    let wanted: HashSet<i64> = ids.filter(|(f, _)| look.field(f).exists()).filter_map(|(_, id)| id).collect();
    (!wanted.is_empty()).then(|| {
        async move {
            loader(ctx).load_many(wanted.into_iter().map(StatusId)).await.map_err(load_error)?;
            Ok(())
        }
        .boxed()
    })
}

fn comms<'a>(ctx: &'a Context<'_>, look: &Lookahead<'a>, element: ElementType, ids: Vec<i64>) -> Option<Job<'a>> {
    let wanted = ["phones", "emails", "webs", "ims"].iter().any(|f| look.field(f).exists());
    (wanted && !ids.is_empty()).then(|| {
        async move {
            loader(ctx).load_many(ids.into_iter().map(|id| Comms(element, id))).await.map_err(load_error)?;
            Ok(())
        }
        .boxed()
    })
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

async fn run(jobs: Vec<Option<Job<'_>>>) -> GqlResult<()> {
    try_join_all(jobs.into_iter().flatten()).await?;
    Ok(())
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
    let mut jobs = vec![
        users(ctx, look, people.flat_map(|[a, c, u]| [("assignedTo", a), ("createdBy", c), ("updatedBy", u)])),
        timeline(ctx, look.field("timeline"), et, ids.clone()),
        connection::<crate::kernel::models::Activity, ActivityFilter, ActivityOrder>(
            ctx,
            look.field("activities"),
            relation(et),
            ids.clone(),
        ),
    ];
    if et != ElementType::Deal {
        jobs.push(comms(ctx, look, et, ids));
    }
    jobs
}

impl Prefetch for Deal {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async move {
            let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
            let contacts_look = look.field("contacts");
            let contacts = (contacts_look.exists() || look.field("contactIds").exists()).then(|| {
                async move {
                    let found =
                        loader(ctx).load_many(rows.iter().map(|d| DealContacts(d.id))).await.map_err(load_error)?;
                    let all: Vec<Contact> = found.into_values().flatten().collect();
                    Contact::prefetch(ctx, contacts_look, &all).await
                }
                .boxed()
            });
            let mut jobs = element_jobs(
                ctx,
                &look,
                ElementType::Deal,
                ids.clone(),
                rows.iter().map(|d| [d.assigned_to_id, d.created_by_id, d.updated_by_id]),
            );
            jobs.extend([
                contacts,
                elements::<Company>(ctx, look.field("company"), rows.iter().filter_map(|d| d.company_id).collect()),
                keyed(ctx, &look, &["stage", "isWon"], rows.iter().map(|d| StageId(d.stage_id)).collect()),
                keyed(ctx, &look, &["pipeline"], rows.iter().map(|d| PipelineId(d.pipeline_id)).collect()),
                statuses(ctx, &look, rows.iter().flat_map(|d| [("type", d.type_id), ("source", d.source_id)])),
                keyed(
                    ctx,
                    &look,
                    &["productRows", "totals"],
                    ids.iter().map(|id| ProductRows(ElementType::Deal, *id)).collect(),
                ),
                keyed(ctx, &look, &["stageHistory"], ids.iter().map(|id| StageHistory(*id)).collect()),
            ]);
            run(jobs).await
        }
    }
}

impl Prefetch for Contact {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async move {
            let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
            let companies_look = look.field("companies");
            let companies = (companies_look.exists() || look.field("companyIds").exists()).then(|| {
                async move {
                    let found =
                        loader(ctx).load_many(rows.iter().map(|c| ContactCompanies(c.id))).await.map_err(load_error)?;
                    let all: Vec<Company> = found.into_values().flatten().collect();
                    Company::prefetch(ctx, companies_look, &all).await
                }
                .boxed()
            });
            let mut jobs = element_jobs(
                ctx,
                &look,
                ElementType::Contact,
                ids.clone(),
                rows.iter().map(|c| [c.assigned_to_id, c.created_by_id, c.updated_by_id]),
            );
            jobs.extend([
                companies,
                statuses(ctx, &look, rows.iter().flat_map(|c| [("type", c.type_id), ("source", c.source_id)])),
                connection::<Deal, DealFilter, DealOrder>(ctx, look.field("deals"), CONTACT_DEALS, ids.clone()),
                connection::<Lead, LeadFilter, LeadOrder>(ctx, look.field("leads"), CONTACT_LEADS, ids),
            ]);
            run(jobs).await
        }
    }
}

impl Prefetch for Company {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async move {
            let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
            let mut jobs = element_jobs(
                ctx,
                &look,
                ElementType::Company,
                ids.clone(),
                rows.iter().map(|c| [c.assigned_to_id, c.created_by_id, c.updated_by_id]),
            );
            jobs.extend([
                statuses(
                    ctx,
                    &look,
                    rows.iter().flat_map(|c| {
                        [("type", c.type_id), ("industry", c.industry_id), ("employees", c.employees_id)]
                    }),
                ),
                connection::<Contact, ContactFilter, ContactOrder>(
                    ctx,
                    look.field("contacts"),
                    COMPANY_CONTACTS,
                    ids.clone(),
                ),
                connection::<Deal, DealFilter, DealOrder>(ctx, look.field("deals"), COMPANY_DEALS, ids.clone()),
                connection::<Lead, LeadFilter, LeadOrder>(ctx, look.field("leads"), COMPANY_LEADS, ids.clone()),
                look.field("requisites").exists().then(|| {
                    async move {
                        loader(ctx).load_many(ids.into_iter().map(CompanyRequisites)).await.map_err(load_error)?;
                        Ok(())
                    }
                    .boxed()
                }),
            ]);
            run(jobs).await
        }
    }
}

impl Prefetch for Lead {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async move {
            let ids: Vec<i64> = rows.iter().map(|l| l.id).collect();
            let mut jobs = element_jobs(
                ctx,
                &look,
                ElementType::Lead,
                ids.clone(),
                rows.iter().map(|l| [l.assigned_to_id, l.created_by_id, l.updated_by_id]),
            );
            jobs.extend([
                statuses(
                    ctx,
                    &look,
                    rows.iter().flat_map(|l| [("status", Some(l.status_id)), ("source", l.source_id)]),
                ),
                elements::<Contact>(ctx, look.field("contact"), rows.iter().filter_map(|l| l.contact_id).collect()),
                elements::<Company>(ctx, look.field("company"), rows.iter().filter_map(|l| l.company_id).collect()),
                keyed(
                    ctx,
                    &look,
                    &["productRows", "totals"],
                    ids.iter().map(|id| ProductRows(ElementType::Lead, *id)).collect(),
                ),
                keyed(
                    ctx,
                    &look,
                    &["convertedAt", "convertedContact", "convertedCompany", "convertedDeal"],
                    ids.iter().map(|id| ConversionOf(*id)).collect(),
                ),
            ]);
            run(jobs).await
        }
    }
}

impl Prefetch for TimelineEntry {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async move { run(vec![users(ctx, &look, rows.iter().map(|e| ("author", e.author_id)))]).await }
    }
}

impl Prefetch for crate::kernel::models::Product {
    fn prefetch<'a>(
        _: &'a Context<'_>,
        _: Lookahead<'a>,
        _: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async { Ok(()) }
    }
}

/// Loads keys for every row when any of `fields` is selected.
fn keyed<'a, K>(ctx: &'a Context<'_>, look: &Lookahead<'a>, fields: &[&str], keys: Vec<K>) -> Option<Job<'a>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    crate::api::loaders::Loaders: async_graphql::dataloader::Loader<K, Error = crate::api::loaders::LoadError>,
{
    (fields.iter().any(|f| look.field(f).exists()) && !keys.is_empty()).then(|| {
        async move {
            loader(ctx).load_many(keys).await.map_err(load_error)?;
            Ok(())
        }
        .boxed()
    })
}

impl Prefetch for crate::kernel::models::Activity {
    fn prefetch<'a>(
        ctx: &'a Context<'_>,
        look: Lookahead<'a>,
        rows: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async move {
            run(vec![
                users(ctx, &look, rows.iter().map(|a| ("responsible", Some(a.responsible_id)))),
                keyed(
                    ctx,
                    &look,
                    &["bindings"],
                    rows.iter().map(|a| crate::api::loaders::ActivityBindings(a.id)).collect(),
                ),
            ])
            .await
        }
    }
}

impl Prefetch for User {
    fn prefetch<'a>(
        _: &'a Context<'_>,
        _: Lookahead<'a>,
        _: &'a [Self],
    ) -> impl Future<Output = GqlResult<()>> + Send + 'a {
        async { Ok(()) }
    }
}

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
    (look.exists() && !parents.is_empty()).then(move || {
        async move {
            let actor = crate::api::actor(ctx)?;
            for field in look.selection_fields() {
                let Ok(args) = field.arguments() else { continue };
                let parsed = (|| {
                    Some((
                        arg::<F>(&args, "filter")?,
                        arg::<Vec<O>>(&args, "orderBy")?,
                        arg::<i32>(&args, "first")?,
                        arg::<String>(&args, "after")?,
                        arg::<i32>(&args, "last")?,
                        arg::<String>(&args, "before")?,
                    ))
                })();
                let Some((filter, order_by, first, after, last, before)) = parsed else { continue };
                let Ok(list) = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)
                else {
                    continue;
                };
                let Ok(plan) = query::plan::<T>(actor, list, Some(relation)) else { continue };
                nested_pages::<T>(ctx, Lookahead::from(field), plan, &parents).await?;
            }
            Ok(())
        }
        .boxed()
    })
}

/// The nested `timeline` of elements.
fn timeline<'a>(ctx: &'a Context<'_>, look: Lookahead<'a>, element: ElementType, parents: Vec<i64>) -> Option<Job<'a>> {
    (look.exists() && !parents.is_empty()).then(move || {
        async move {
            let actor = crate::api::actor(ctx)?;
            for field in look.selection_fields() {
                let Ok(args) = field.arguments() else { continue };
                let parsed = (|| {
                    Some((
                        arg::<i32>(&args, "first")?,
                        arg::<String>(&args, "after")?,
                        arg::<TimelineFilter>(&args, "filter")?,
                    ))
                })();
                let Some((first, after, filter)) = parsed else { continue };
                let Ok(list) = timeline_args(crate::api::phone_region(ctx), first, after, filter) else { continue };
                let Ok(plan) = query::plan::<TimelineEntry>(actor, list, Some(timeline_relation(element))) else {
                    continue;
                };
                nested_pages::<TimelineEntry>(ctx, Lookahead::from(field), plan, &parents).await?;
            }
            Ok(())
        }
        .boxed()
    })
}

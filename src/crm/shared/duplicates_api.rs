//! Duplicate search and merging leads, contacts and companies, in GraphQL.

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Union};

use crate::api::loaders::ById;
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id, to_id, write_ctx};
use crate::crm::shared::duplicates::{self, Criterion, Probe};
use crate::crm::shared::merge;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Company, Contact, Lead};
use crate::kernel::{DomainError, ElementType};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum OnDuplicate {
    Allow,
    Reject,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DuplicateCriterion {
    Phone,
    Email,
    Name,
    CompanyTitle,
}

impl From<Criterion> for DuplicateCriterion {
    fn from(c: Criterion) -> Self {
        match c {
            Criterion::Phone => DuplicateCriterion::Phone,
            Criterion::Email => DuplicateCriterion::Email,
            Criterion::Name => DuplicateCriterion::Name,
            Criterion::CompanyTitle => DuplicateCriterion::CompanyTitle,
        }
    }
}

#[derive(SimpleObject)]
pub struct DuplicateReason {
    pub criterion: DuplicateCriterion,
    /// The normalised value that matched.
    pub value: String,
}

#[derive(Union)]
pub enum CrmElement {
    Lead(Lead),
    Contact(Contact),
    Company(Company),
}

#[derive(SimpleObject)]
pub struct DuplicateMatch {
    pub element_type: crate::api::timeline::ElementTypeGql,
    pub id: ID,
    pub element: Option<CrmElement>,
    pub matches: Vec<DuplicateReason>,
}

fn id_list(kind: IdKind, list: &[ID], field: &str) -> Result<Vec<i64>, DomainError> {
    list.iter().enumerate().map(|(i, id)| ids::decode(kind, id, &format!("{field}[{i}]"))).collect()
}

/// Duplicate search.
#[derive(Default)]
pub struct DuplicatesQuery;

#[Object]
impl DuplicatesQuery {
    /// Leads, contacts and companies that match any of the values: phones in E.164, e-mails
    /// in lower case, full names and company titles case-insensitively. At most 100 values
    /// per list.
    async fn find_duplicates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] phones: Vec<String>,
        #[graphql(default)] emails: Vec<String>,
        #[graphql(default)] names: Vec<String>,
        #[graphql(default)] company_titles: Vec<String>,
    ) -> GqlResult<Vec<DuplicateMatch>> {
        let actor = actor(ctx)?;
        let probe = Probe::from_raw(&phones, &emails, &names, &company_titles, crate::api::phone_region(ctx))?;
        let mut c = conn(ctx).await?;
        let found = duplicates::find(&mut c, actor, &probe).await?;
        drop(c);
        let l = loader(ctx);
        let mut out = Vec::with_capacity(found.len());
        for m in found {
            let id = m.element.id;
            let element = match m.element.element_type {
                ElementType::Lead => {
                    l.load_one(ById::<Lead>::new(id)).await.map_err(load_error)?.flatten().map(CrmElement::Lead)
                }
                ElementType::Contact => {
                    l.load_one(ById::<Contact>::new(id)).await.map_err(load_error)?.flatten().map(CrmElement::Contact)
                }
                ElementType::Company => {
                    l.load_one(ById::<Company>::new(id)).await.map_err(load_error)?.flatten().map(CrmElement::Company)
                }
                ElementType::Deal => None,
            };
            out.push(DuplicateMatch {
                element_type: m.element.element_type.into(),
                id: to_id(m.element.element_type.id_kind(), id),
                element,
                matches: m
                    .reasons
                    .into_iter()
                    .map(|(c, v)| DuplicateReason { criterion: c.into(), value: v })
                    .collect(),
            });
        }
        Ok(out)
    }
}

/// Merging duplicates.
#[derive(Default)]
pub struct MergeMutation;

#[Object]
impl MergeMutation {
    async fn merge_contacts(&self, ctx: &Context<'_>, keep_id: ID, merge_ids: Vec<ID>) -> GqlResult<Contact> {
        let wctx = write_ctx(ctx)?;
        let keep = lookup_id(IdKind::Contact, &keep_id)?;
        let others = id_list(IdKind::Contact, &merge_ids, "mergeIds")?;
        let mut c = conn(ctx).await?;
        Ok(merge::merge::<Contact>(&mut c, &wctx, keep, others).await?)
    }

    async fn merge_companies(&self, ctx: &Context<'_>, keep_id: ID, merge_ids: Vec<ID>) -> GqlResult<Company> {
        let wctx = write_ctx(ctx)?;
        let keep = lookup_id(IdKind::Company, &keep_id)?;
        let others = id_list(IdKind::Company, &merge_ids, "mergeIds")?;
        let mut c = conn(ctx).await?;
        Ok(merge::merge::<Company>(&mut c, &wctx, keep, others).await?)
    }

    async fn merge_leads(&self, ctx: &Context<'_>, keep_id: ID, merge_ids: Vec<ID>) -> GqlResult<Lead> {
        let wctx = write_ctx(ctx)?;
        let keep = lookup_id(IdKind::Lead, &keep_id)?;
        let others = id_list(IdKind::Lead, &merge_ids, "mergeIds")?;
        let mut c = conn(ctx).await?;
        Ok(merge::merge::<Lead>(&mut c, &wctx, keep, others).await?)
    }
}

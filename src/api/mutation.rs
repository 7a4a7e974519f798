//! Root mutations. Each runs in one transaction in the domain; nothing is written when any
//! part fails.

use async_graphql::{Context, ID, Object};

use crate::api::timeline::ElementRef;
use crate::api::{GqlResult, conn, lookup_id, to_id, write_ctx};
use crate::crm::company::api::CompanyInput;
use crate::crm::contact::api::ContactInput;
use crate::crm::deal::api::DealInput;
use crate::crm::lead::api::LeadInput;
use crate::crm::shared::duplicates_api::OnDuplicate;
use crate::kernel::models::{Company, Contact, Deal, Lead, TimelineEntry};
use crate::kernel::write::{self as elements, Element};

#[derive(Default)]
pub struct Mutation;

async fn create<T: Element>(
    ctx: &Context<'_>,
    mut write: elements::Write<T>,
    on_duplicate: OnDuplicate,
) -> GqlResult<T> {
    let wctx = write_ctx(ctx)?;
    write.reject_duplicates = on_duplicate == OnDuplicate::Reject;
    let mut c = conn(ctx).await?;
    Ok(elements::create::<T>(&mut c, &wctx, write).await?)
}

async fn update<T: Element>(
    ctx: &Context<'_>,
    id: &ID,
    expected_version: Option<i32>,
    write: elements::Write<T>,
) -> GqlResult<T> {
    let wctx = write_ctx(ctx)?;
    let n = lookup_id(T::TYPE.id_kind(), id)?;
    let mut c = conn(ctx).await?;
    Ok(elements::update::<T>(&mut c, &wctx, n, expected_version, write).await?)
}

async fn delete<T: Element>(ctx: &Context<'_>, id: &ID) -> GqlResult<ID> {
    let wctx = write_ctx(ctx)?;
    let n = lookup_id(T::TYPE.id_kind(), id)?;
    let mut c = conn(ctx).await?;
    let deleted = elements::delete::<T>(&mut c, &wctx, n).await?;
    Ok(to_id(T::TYPE.id_kind(), deleted))
}

#[Object]
impl Mutation {
    /// Creates a lead; `onDuplicate: REJECT` refuses (CONFLICT, listing the matches in
    /// `extensions.duplicates`) when its phones, e-mails, name or company title exist.
    async fn create_lead(
        &self,
        ctx: &Context<'_>,
        input: LeadInput,
        #[graphql(default_with = "OnDuplicate::Allow")] on_duplicate: OnDuplicate,
    ) -> GqlResult<Lead> {
        create(ctx, input.into_write()?, on_duplicate).await
    }

    /// Changes only the fields given; `null` clears a field. With `expectedVersion`, a lead
    /// changed meanwhile is a CONFLICT instead of a lost update.
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: LeadInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Lead> {
        update(ctx, &id, expected_version, input.into_write()?).await
    }

    /// Deletes a lead and returns its id; its history stays readable through `history`.
    async fn delete_lead(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        delete::<Lead>(ctx, &id).await
    }

    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: ContactInput,
        #[graphql(default_with = "OnDuplicate::Allow")] on_duplicate: OnDuplicate,
    ) -> GqlResult<Contact> {
        create(ctx, input.into_write()?, on_duplicate).await
    }

    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ContactInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Contact> {
        update(ctx, &id, expected_version, input.into_write()?).await
    }

    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        delete::<Contact>(ctx, &id).await
    }

    async fn create_company(
        &self,
        ctx: &Context<'_>,
        input: CompanyInput,
        #[graphql(default_with = "OnDuplicate::Allow")] on_duplicate: OnDuplicate,
    ) -> GqlResult<Company> {
        create(ctx, input.into_write()?, on_duplicate).await
    }

    async fn update_company(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CompanyInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Company> {
        update(ctx, &id, expected_version, input.into_write()?).await
    }

    async fn delete_company(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        delete::<Company>(ctx, &id).await
    }

    async fn create_deal(&self, ctx: &Context<'_>, input: DealInput) -> GqlResult<Deal> {
        create(ctx, input.into_write()?, OnDuplicate::Allow).await
    }

    async fn update_deal(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: DealInput,
        expected_version: Option<i32>,
    ) -> GqlResult<Deal> {
        update(ctx, &id, expected_version, input.into_write()?).await
    }

    async fn delete_deal(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        delete::<Deal>(ctx, &id).await
    }

    /// Adds a comment to an element's timeline.
    async fn add_comment(&self, ctx: &Context<'_>, element: ElementRef, text: String) -> GqlResult<TimelineEntry> {
        let wctx = write_ctx(ctx)?;
        let r = element.decode()?;
        let mut c = conn(ctx).await?;
        Ok(elements::add_comment(&mut c, &wctx, r, text).await?)
    }
}

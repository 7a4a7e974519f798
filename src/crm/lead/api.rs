//! Leads in GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::api::common::{self, CommunicationInput, patch, patch_id, patch_text};
use crate::api::connection::connection;
use crate::api::element::{element_object, load_element};
use crate::api::filters::{
    BooleanFilter, CommunicationFilter, DateFilter, DateTimeFilter, DecimalFilter, IdFilter, StringFilter,
    element_filter,
};
use crate::api::{GqlResult, load_error, loader};
use crate::kernel::ElementType;
use crate::kernel::ids::IdKind;
use crate::kernel::models::{Company, Contact, Lead, StatusItem};
use crate::kernel::write::Write;

element_filter! {
    LeadFilter, LeadOrder, LeadOrderField, ElementType::Lead,
    filters {
        id: IdFilter => "id" as Lead,
        title: StringFilter => "title",
        honorific: StringFilter => "honorific",
        first_name: StringFilter => "first_name",
        middle_name: StringFilter => "middle_name",
        last_name: StringFilter => "last_name",
        birthdate: DateFilter => "birthdate",
        position: StringFilter => "position",
        company_title: StringFilter => "company_title",
        address: StringFilter => "address",
        source_id: IdFilter => "source_id" as StatusItem,
        status_id: IdFilter => "status_id" as StatusItem,
        opportunity: DecimalFilter => "opportunity",
        currency: StringFilter => "currency",
        comments: StringFilter => "comments",
        assigned_to_id: IdFilter => "assigned_to_id" as User,
        opened: BooleanFilter => "opened",
        contact_id: IdFilter => "contact_id" as Contact,
        company_id: IdFilter => "company_id" as Company,
        utm_source: StringFilter => "utm_source",
        utm_medium: StringFilter => "utm_medium",
        utm_campaign: StringFilter => "utm_campaign",
        created_at: DateTimeFilter => "created_at",
        updated_at: DateTimeFilter => "updated_at",
        created_by_id: IdFilter => "created_by_id" as User,
        phone: CommunicationFilter => "PHONE",
        email: CommunicationFilter => "EMAIL",
    }
    order {
        Id => "id": Int8,
        Title => "title": Text,
        LastName => "last_name": Text,
        CompanyTitle => "company_title": Text,
        StatusId => "status_id": Int8,
        Opportunity => "opportunity": Decimal,
        AssignedToId => "assigned_to_id": Int8,
        CreatedAt => "created_at": DateTime,
        UpdatedAt => "updated_at": DateTime,
    }
    custom { custom_field }
}

connection!(LeadConnection, LeadEdge, Lead);

element_object! {
    Lead, Lead;
    version
    /// Increases with every change; pass it as `expectedVersion` to update safely.
    ;
    fields {
    text title;
    /// A code of the HONORIFIC list.
    text honorific;
    text first_name;
    text middle_name;
    text last_name;
    value birthdate: Option<NaiveDate>;
    text position;
    text company_title;
    text address;
    status source_id => source;
    text source_description;
    required_id status_id: StatusItem;
    async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        common::status_of(ctx, Some(self.status_id)).await
    }
    text status_description;
    value opportunity: Option<Decimal>;
    text currency;
    text comments;
    user assigned_to_id => assigned_to;
    /// Visible to everyone (Bitrix "available to everyone").
    value opened: bool;
    element contact_id: Contact => contact;
    element company_id: Company => company;
    /// The lead points at a known contact or company (a repeat lead).
    async fn is_return_customer(&self) -> bool {
        self.contact_id.is_some() || self.company_id.is_some()
    }
    text utm_source;
    text utm_medium;
    text utm_campaign;
    text utm_content;
    text utm_term;
    }
    nested {
    }
    comms { Lead }
    tail {
    async fn product_rows(&self, ctx: &Context<'_>) -> GqlResult<Vec<crate::kernel::models::ProductRow>> {
        crate::crm::shared::products_api::rows_of(ctx, ElementType::Lead, self.id).await
    }
    async fn totals(&self, ctx: &Context<'_>) -> GqlResult<crate::crm::shared::products_api::Totals> {
        crate::crm::shared::products_api::totals_of(ctx, ElementType::Lead, self.id).await
    }
    /// When the lead was converted; null unless it was.
    async fn converted_at(&self, ctx: &Context<'_>) -> GqlResult<Option<DateTime<Utc>>> {
        Ok(conversion(ctx, self.id).await?.map(|c| c.converted_at))
    }
    /// The contact the lead was converted into.
    async fn converted_contact(&self, ctx: &Context<'_>) -> GqlResult<Option<Contact>> {
        load_element(ctx, conversion(ctx, self.id).await?.and_then(|c| c.contact_id)).await
    }
    /// The company the lead was converted into.
    async fn converted_company(&self, ctx: &Context<'_>) -> GqlResult<Option<Company>> {
        load_element(ctx, conversion(ctx, self.id).await?.and_then(|c| c.company_id)).await
    }
    /// The deal the lead was converted into.
    async fn converted_deal(&self, ctx: &Context<'_>) -> GqlResult<Option<crate::kernel::models::Deal>> {
        load_element(ctx, conversion(ctx, self.id).await?.and_then(|c| c.deal_id)).await
    }
    }
    activities
    /// Activities bound to this lead.
    ;
    timeline
    /// History of this lead, newest first.
    ;
}

#[derive(InputObject)]
pub struct LeadInput {
    pub title: MaybeUndefined<String>,
    /// A code of the HONORIFIC list.
    pub honorific: MaybeUndefined<String>,
    pub first_name: MaybeUndefined<String>,
    pub middle_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub birthdate: MaybeUndefined<NaiveDate>,
    pub position: MaybeUndefined<String>,
    pub company_title: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub source_id: MaybeUndefined<ID>,
    pub source_description: MaybeUndefined<String>,
    /// Defaults to NEW.
    pub status_id: Option<ID>,
    pub status_description: MaybeUndefined<String>,
    pub opportunity: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub comments: MaybeUndefined<String>,
    /// Defaults to the acting user.
    pub assigned_to_id: MaybeUndefined<ID>,
    pub opened: Option<bool>,
    pub contact_id: MaybeUndefined<ID>,
    pub company_id: MaybeUndefined<ID>,
    pub utm_source: MaybeUndefined<String>,
    pub utm_medium: MaybeUndefined<String>,
    pub utm_campaign: MaybeUndefined<String>,
    pub utm_content: MaybeUndefined<String>,
    pub utm_term: MaybeUndefined<String>,
    /// Replaces all phones when given.
    pub phones: Option<Vec<CommunicationInput>>,
    pub emails: Option<Vec<CommunicationInput>>,
    pub webs: Option<Vec<CommunicationInput>>,
    pub ims: Option<Vec<CommunicationInput>>,
    /// Custom field values to set (others stay as they are).
    pub custom_fields: Option<Vec<common::CustomFieldValueInput>>,
}

impl LeadInput {
    pub fn into_write(self) -> Write<Lead> {
        let comms = common::comm_set(self.phones, self.emails, self.webs, self.ims);
        Write {
            comms,
            links: None,
            reject_duplicates: false,
            custom: common::custom_values(self.custom_fields),
            apply: Box::new(move |l: &mut Lead| {
                patch_text(&mut l.title, self.title);
                patch_text(&mut l.honorific, self.honorific);
                patch_text(&mut l.first_name, self.first_name);
                patch_text(&mut l.middle_name, self.middle_name);
                patch_text(&mut l.last_name, self.last_name);
                patch(&mut l.birthdate, self.birthdate);
                patch_text(&mut l.position, self.position);
                patch_text(&mut l.company_title, self.company_title);
                patch_text(&mut l.address, self.address);
                patch_id(&mut l.source_id, self.source_id, IdKind::StatusItem, "sourceId")?;
                patch_text(&mut l.source_description, self.source_description);
                if let Some(s) = self.status_id {
                    l.status_id = crate::kernel::ids::decode(IdKind::StatusItem, &s, "statusId")?;
                }
                patch_text(&mut l.status_description, self.status_description);
                patch(&mut l.opportunity, self.opportunity);
                patch_text(&mut l.currency, self.currency);
                patch_text(&mut l.comments, self.comments);
                patch_id(&mut l.assigned_to_id, self.assigned_to_id, IdKind::User, "assignedToId")?;
                if let Some(o) = self.opened {
                    l.opened = o;
                }
                patch_id(&mut l.contact_id, self.contact_id, IdKind::Contact, "contactId")?;
                patch_id(&mut l.company_id, self.company_id, IdKind::Company, "companyId")?;
                patch_text(&mut l.utm_source, self.utm_source);
                patch_text(&mut l.utm_medium, self.utm_medium);
                patch_text(&mut l.utm_campaign, self.utm_campaign);
                patch_text(&mut l.utm_content, self.utm_content);
                patch_text(&mut l.utm_term, self.utm_term);
                Ok(())
            }),
        }
    }
}

async fn conversion(ctx: &Context<'_>, lead: i64) -> GqlResult<Option<crate::kernel::models::LeadConversion>> {
    loader(ctx).load_one(crate::api::loaders::ConversionOf(lead)).await.map_err(load_error).map(Option::flatten)
}

//! Leads in GraphQL.

use async_graphql::Context;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::api::common::{self};
use crate::api::connection::connection;
use crate::api::element::{element_object, load_element};
use crate::api::filters::{BooleanFilter, DateFilter, DecimalFilter, IdFilter, StringFilter, element_filter};
use crate::api::input::element_input;
use crate::api::{GqlResult, load_error, loader};
use crate::kernel::models::{Company, Contact, Lead, StatusItem};

element_filter! {
    element LeadFilter, LeadOrder, LeadOrderField, Lead;
    filters {
        title: StringFilter,
        honorific: StringFilter,
        first_name: StringFilter,
        middle_name: StringFilter,
        last_name: StringFilter,
        birthdate: DateFilter,
        position: StringFilter,
        company_title: StringFilter,
        address: StringFilter,
        source_id: IdFilter as StatusItem,
        status_id: IdFilter as StatusItem,
        opportunity: DecimalFilter,
        currency: StringFilter,
        comments: StringFilter,
        assigned_to_id: IdFilter as User,
        opened: BooleanFilter,
        contact_id: IdFilter as Contact,
        company_id: IdFilter as Company,
        utm_source: StringFilter,
        utm_medium: StringFilter,
        utm_campaign: StringFilter,
    }
    order {
        Title => "title": Text,
        LastName => "last_name": Text,
        CompanyTitle => "company_title": Text,
        StatusId => "status_id": Int8,
        Opportunity => "opportunity": Decimal,
        AssignedToId => "assigned_to_id": Int8,
    }
    communications;
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
    products;
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

element_input! {
    LeadInput => Lead {
        text title;
        /// A code of the HONORIFIC list.
        text honorific;
        text first_name;
        text middle_name;
        text last_name;
        value birthdate: NaiveDate;
        text position;
        text company_title;
        text address;
        id source_id: StatusItem;
        text source_description;
        /// Defaults to NEW.
        required_id status_id: StatusItem;
        text status_description;
        value opportunity: Decimal;
        text currency;
        text comments;
        /// Defaults to the acting user.
        id assigned_to_id: User;
        flag opened;
        id contact_id: Contact;
        id company_id: Company;
        text utm_source;
        text utm_medium;
        text utm_campaign;
        text utm_content;
        text utm_term;
        /// Replaces all phones when given.
        communications;
    }
}

async fn conversion(ctx: &Context<'_>, lead: i64) -> GqlResult<Option<crate::kernel::models::LeadConversion>> {
    loader(ctx).load_one(crate::api::loaders::ConversionOf(lead)).await.map_err(load_error).map(Option::flatten)
}

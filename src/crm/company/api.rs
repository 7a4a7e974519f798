//! Companies in GraphQL.

use async_graphql::Context;
use rust_decimal::Decimal;

use crate::api::GqlResult;
use crate::api::common::{self};
use crate::api::connection::connection;
use crate::api::element::element_object;
use crate::api::filters::{BooleanFilter, DecimalFilter, IdFilter, StringFilter, element_filter};
use crate::api::input::element_input;
use crate::crm::contact::api::{ContactConnection, ContactFilter, ContactOrder};
use crate::crm::deal::api::{DealConnection, DealFilter, DealOrder};
use crate::crm::lead::api::{LeadConnection, LeadFilter, LeadOrder};
use crate::kernel::list::Relation;
use crate::kernel::models::{Company, Contact, Deal, Lead, StatusItem};

element_filter! {
    element CompanyFilter, CompanyOrder, CompanyOrderField, Company;
    filters {
        title: StringFilter,
        type_id: IdFilter as StatusItem,
        industry_id: IdFilter as StatusItem,
        employees_id: IdFilter as StatusItem,
        revenue: DecimalFilter,
        currency: StringFilter,
        address: StringFilter,
        comments: StringFilter,
        assigned_to_id: IdFilter as User,
        opened: BooleanFilter,
        is_my_company: BooleanFilter,
        legal_name: StringFilter,
        vat_id: StringFilter,
        tax_id: StringFilter,
        origin_lead_id: IdFilter as Lead,
    }
    order {
        Title => "title": Text,
        Revenue => "revenue": Decimal,
        AssignedToId => "assigned_to_id": Int8,
    }
    communications;
}

connection!(CompanyConnection, CompanyEdge, Company);

pub const COMPANY_CONTACTS: Relation =
    Relation { join: "JOIN contact_companies r ON r.contact_id = t.id", parent: "r.company_id", extra: "" };
pub const COMPANY_DEALS: Relation = Relation { join: "", parent: "t.company_id", extra: "" };
pub const COMPANY_LEADS: Relation = Relation { join: "", parent: "t.company_id", extra: "" };

element_object! {
    Company, Company;
    version;
    fields {
    required_text title;
    id type_id: StatusItem;
    #[graphql(name = "type")]
    async fn company_type(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        common::status_of(ctx, self.type_id).await
    }
    status industry_id => industry;
    status employees_id => employees;
    value revenue: Option<Decimal>;
    text currency;
    text address;
    text comments;
    user assigned_to_id => assigned_to;
    value opened: bool;
    /// Our own company: its details appear on quotes and invoices.
    value is_my_company: bool;
    /// Legal details and bank accounts.
    async fn requisites(&self, ctx: &Context<'_>) -> GqlResult<Option<crate::crm::company::requisites::Requisites>> {
        crate::crm::company::requisites_api::of(ctx, self.id).await
    }
    text legal_name;
    text vat_id;
    text tax_id;
    text registration_address;
    text bank_name;
    text iban;
    text bic;
    id origin_lead_id: Lead;
    }
    nested {
        contacts: Contact, ContactFilter, ContactOrder, ContactConnection, COMPANY_CONTACTS;
        deals: Deal, DealFilter, DealOrder, DealConnection, COMPANY_DEALS;
        leads: Lead, LeadFilter, LeadOrder, LeadConnection, COMPANY_LEADS;
    }
    comms { Company }
    tail {
    }
    activities
    /// Activities bound to this company.
    ;
    timeline;
}

element_input! {
    CompanyInput => Company {
        /// Required on create.
        required_text title;
        id type_id: StatusItem;
        id industry_id: StatusItem;
        id employees_id: StatusItem;
        value revenue: Decimal;
        text currency;
        text address;
        text comments;
        id assigned_to_id: User;
        flag opened;
        flag is_my_company;
        text legal_name;
        text vat_id;
        text tax_id;
        text registration_address;
        text bank_name;
        text iban;
        text bic;
        communications;
    }
}

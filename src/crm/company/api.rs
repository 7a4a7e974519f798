//! Companies in GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined};
use rust_decimal::Decimal;

use crate::api::GqlResult;
use crate::api::common::{self, CommunicationInput, patch, patch_id, patch_text};
use crate::api::connection::connection;
use crate::api::element::element_object;
use crate::api::filters::{
    BooleanFilter, CommunicationFilter, DateTimeFilter, DecimalFilter, IdFilter, StringFilter, element_filter,
};
use crate::crm::contact::api::{ContactConnection, ContactFilter, ContactOrder};
use crate::crm::deal::api::{DealConnection, DealFilter, DealOrder};
use crate::crm::lead::api::{LeadConnection, LeadFilter, LeadOrder};
use crate::kernel::ElementType;
use crate::kernel::ids::IdKind;
use crate::kernel::list::Relation;
use crate::kernel::models::{Company, Contact, Deal, Lead, StatusItem};
use crate::kernel::write::Write;

element_filter! {
    CompanyFilter, CompanyOrder, CompanyOrderField, ElementType::Company,
    filters {
        id: IdFilter => "id" as Company,
        title: StringFilter => "title",
        type_id: IdFilter => "type_id" as StatusItem,
        industry_id: IdFilter => "industry_id" as StatusItem,
        employees_id: IdFilter => "employees_id" as StatusItem,
        revenue: DecimalFilter => "revenue",
        currency: StringFilter => "currency",
        address: StringFilter => "address",
        comments: StringFilter => "comments",
        assigned_to_id: IdFilter => "assigned_to_id" as User,
        opened: BooleanFilter => "opened",
        is_my_company: BooleanFilter => "is_my_company",
        legal_name: StringFilter => "legal_name",
        vat_id: StringFilter => "vat_id",
        tax_id: StringFilter => "tax_id",
        origin_lead_id: IdFilter => "origin_lead_id" as Lead,
        created_at: DateTimeFilter => "created_at",
        updated_at: DateTimeFilter => "updated_at",
        created_by_id: IdFilter => "created_by_id" as User,
        phone: CommunicationFilter => "PHONE",
        email: CommunicationFilter => "EMAIL",
    }
    order {
        Id => "id": Int8,
        Title => "title": Text,
        Revenue => "revenue": Decimal,
        AssignedToId => "assigned_to_id": Int8,
        CreatedAt => "created_at": DateTime,
        UpdatedAt => "updated_at": DateTime,
    }
    custom { custom_field }
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

#[derive(InputObject)]
pub struct CompanyInput {
    /// Required on create.
    pub title: Option<String>,
    pub type_id: MaybeUndefined<ID>,
    pub industry_id: MaybeUndefined<ID>,
    pub employees_id: MaybeUndefined<ID>,
    pub revenue: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub comments: MaybeUndefined<String>,
    pub assigned_to_id: MaybeUndefined<ID>,
    pub opened: Option<bool>,
    pub is_my_company: Option<bool>,
    pub legal_name: MaybeUndefined<String>,
    pub vat_id: MaybeUndefined<String>,
    pub tax_id: MaybeUndefined<String>,
    pub registration_address: MaybeUndefined<String>,
    pub bank_name: MaybeUndefined<String>,
    pub iban: MaybeUndefined<String>,
    pub bic: MaybeUndefined<String>,
    pub phones: Option<Vec<CommunicationInput>>,
    pub emails: Option<Vec<CommunicationInput>>,
    pub webs: Option<Vec<CommunicationInput>>,
    pub ims: Option<Vec<CommunicationInput>>,
    /// Custom field values to set (others stay as they are).
    pub custom_fields: Option<Vec<common::CustomFieldValueInput>>,
}

impl CompanyInput {
    pub fn into_write(self) -> Write<Company> {
        let comms = common::comm_set(self.phones, self.emails, self.webs, self.ims);
        Write {
            comms,
            links: None,
            reject_duplicates: false,
            custom: common::custom_values(self.custom_fields),
            apply: Box::new(move |c: &mut Company| {
                if let Some(t) = self.title {
                    c.title = t;
                }
                patch_id(&mut c.type_id, self.type_id, IdKind::StatusItem, "typeId")?;
                patch_id(&mut c.industry_id, self.industry_id, IdKind::StatusItem, "industryId")?;
                patch_id(&mut c.employees_id, self.employees_id, IdKind::StatusItem, "employeesId")?;
                patch(&mut c.revenue, self.revenue);
                patch_text(&mut c.currency, self.currency);
                patch_text(&mut c.address, self.address);
                patch_text(&mut c.comments, self.comments);
                patch_id(&mut c.assigned_to_id, self.assigned_to_id, IdKind::User, "assignedToId")?;
                if let Some(o) = self.opened {
                    c.opened = o;
                }
                if let Some(m) = self.is_my_company {
                    c.is_my_company = m;
                }
                patch_text(&mut c.legal_name, self.legal_name);
                patch_text(&mut c.vat_id, self.vat_id);
                patch_text(&mut c.tax_id, self.tax_id);
                patch_text(&mut c.registration_address, self.registration_address);
                patch_text(&mut c.bank_name, self.bank_name);
                patch_text(&mut c.iban, self.iban);
                patch_text(&mut c.bic, self.bic);
                Ok(())
            }),
        }
    }
}

//! Contacts in GraphQL.

use async_graphql::{Context, ID};
use chrono::NaiveDate;

use crate::api::common::{self};
use crate::api::connection::connection;
use crate::api::element::element_object;
use crate::api::filters::{BooleanFilter, DateFilter, IdFilter, LinkFilter, StringFilter, element_filter};
use crate::api::input::element_input;
use crate::api::loaders::Linked;
use crate::api::{GqlResult, load_error, loader, to_id};
use crate::crm::deal::api::{DealConnection, DealFilter, DealOrder};
use crate::crm::lead::api::{LeadConnection, LeadFilter, LeadOrder};
use crate::kernel::ids::IdKind;
use crate::kernel::list::Relation;
use crate::kernel::models::{Company, Contact, Deal, Lead, StatusItem};

element_filter! {
    element ContactFilter, ContactOrder, ContactOrderField, Contact;
    filters {
        honorific: StringFilter,
        first_name: StringFilter,
        middle_name: StringFilter,
        last_name: StringFilter,
        position: StringFilter,
        type_id: IdFilter as StatusItem,
        source_id: IdFilter as StatusItem,
        birthdate: DateFilter,
        address: StringFilter,
        comments: StringFilter,
        assigned_to_id: IdFilter as User,
        opened: BooleanFilter,
        origin_lead_id: IdFilter as Lead,
        company_ids: LinkFilter => "contact_companies",
    }
    order {
        FirstName => "first_name": Text,
        LastName => "last_name": Text,
        Position => "position": Text,
        Birthdate => "birthdate": Date,
        AssignedToId => "assigned_to_id": Int8,
    }
    communications;
}

connection!(ContactConnection, ContactEdge, Contact);

/// Deals linked to a contact.
pub const CONTACT_DEALS: Relation =
    Relation { join: "JOIN deal_contacts r ON r.deal_id = t.id", parent: "r.contact_id", extra: "" };
/// Leads that point at a contact.
pub const CONTACT_LEADS: Relation = Relation { join: "", parent: "t.contact_id", extra: "" };

element_object! {
    Contact, Contact;
    version;
    fields {
    text honorific;
    text first_name;
    text middle_name;
    text last_name;
    /// First and last name.
    async fn full_name(&self) -> String {
        [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
    text photo_url;
    text position;
    id type_id: StatusItem;
    #[graphql(name = "type")]
    async fn contact_type(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        common::status_of(ctx, self.type_id).await
    }
    status source_id => source;
    text source_description;
    value birthdate: Option<NaiveDate>;
    text address;
    text comments;
    user assigned_to_id => assigned_to;
    value opened: bool;
    id origin_lead_id: Lead;
    /// Ids of the contact's companies, the primary one first.
    async fn company_ids(&self, ctx: &Context<'_>) -> GqlResult<Vec<ID>> {
        let companies = loader(ctx).load_one(Linked::<Company>::new((crate::crm::contact::rules::COMPANIES, self.id))).await.map_err(load_error)?.unwrap_or_default();
        Ok(companies.iter().map(|c| to_id(IdKind::Company, c.id)).collect())
    }
    /// The contact's companies, the primary one first.
    async fn companies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Company>> {
        Ok(loader(ctx).load_one(Linked::<Company>::new((crate::crm::contact::rules::COMPANIES, self.id))).await.map_err(load_error)?.unwrap_or_default())
    }
    }
    nested {
        deals: Deal, DealFilter, DealOrder, DealConnection, CONTACT_DEALS;
        leads: Lead, LeadFilter, LeadOrder, LeadConnection, CONTACT_LEADS;
    }
    comms { Contact }
    tail {
    }
    activities
    /// Activities bound to this contact.
    ;
    timeline;
}

element_input! {
    ContactInput => Contact {
        text honorific;
        text first_name;
        text middle_name;
        text last_name;
        text photo_url;
        text position;
        id type_id: StatusItem;
        id source_id: StatusItem;
        text source_description;
        value birthdate: NaiveDate;
        text address;
        text comments;
        id assigned_to_id: User;
        flag opened;
        /// Replaces the contact's companies; the first is the primary one.
        links company_ids: Company;
        communications;
    }
}

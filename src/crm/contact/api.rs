//! Contacts in GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined};
use chrono::NaiveDate;

use crate::api::common::{self, CommunicationInput, patch, patch_id, patch_text};
use crate::api::connection::connection;
use crate::api::element::element_object;
use crate::api::filters::{
    BooleanFilter, CommunicationFilter, DateFilter, DateTimeFilter, IdFilter, LinkFilter, StringFilter, element_filter,
};
use crate::api::loaders::ContactCompanies;
use crate::api::{GqlResult, load_error, loader, to_id};
use crate::crm::deal::api::{DealConnection, DealFilter, DealOrder};
use crate::crm::lead::api::{LeadConnection, LeadFilter, LeadOrder};
use crate::kernel::ElementType;
use crate::kernel::ids::IdKind;
use crate::kernel::list::Relation;
use crate::kernel::models::{Company, Contact, Deal, Lead, StatusItem};
use crate::kernel::write::Write;

element_filter! {
    ContactFilter, ContactOrder, ContactOrderField, ElementType::Contact,
    filters {
        id: IdFilter => "id" as Contact,
        honorific: StringFilter => "honorific",
        first_name: StringFilter => "first_name",
        middle_name: StringFilter => "middle_name",
        last_name: StringFilter => "last_name",
        position: StringFilter => "position",
        type_id: IdFilter => "type_id" as StatusItem,
        source_id: IdFilter => "source_id" as StatusItem,
        birthdate: DateFilter => "birthdate",
        address: StringFilter => "address",
        comments: StringFilter => "comments",
        assigned_to_id: IdFilter => "assigned_to_id" as User,
        opened: BooleanFilter => "opened",
        origin_lead_id: IdFilter => "origin_lead_id" as Lead,
        company_ids: LinkFilter => "contact_companies",
        created_at: DateTimeFilter => "created_at",
        updated_at: DateTimeFilter => "updated_at",
        created_by_id: IdFilter => "created_by_id" as User,
        phone: CommunicationFilter => "PHONE",
        email: CommunicationFilter => "EMAIL",
    }
    order {
        Id => "id": Int8,
        FirstName => "first_name": Text,
        LastName => "last_name": Text,
        Position => "position": Text,
        Birthdate => "birthdate": Date,
        AssignedToId => "assigned_to_id": Int8,
        CreatedAt => "created_at": DateTime,
        UpdatedAt => "updated_at": DateTime,
    }
    custom { custom_field }
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
        let companies = loader(ctx).load_one(ContactCompanies(self.id)).await.map_err(load_error)?.unwrap_or_default();
        Ok(companies.iter().map(|c| to_id(IdKind::Company, c.id)).collect())
    }
    /// The contact's companies, the primary one first.
    async fn companies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Company>> {
        Ok(loader(ctx).load_one(ContactCompanies(self.id)).await.map_err(load_error)?.unwrap_or_default())
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

#[derive(InputObject)]
pub struct ContactInput {
    pub honorific: MaybeUndefined<String>,
    pub first_name: MaybeUndefined<String>,
    pub middle_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub photo_url: MaybeUndefined<String>,
    pub position: MaybeUndefined<String>,
    pub type_id: MaybeUndefined<ID>,
    pub source_id: MaybeUndefined<ID>,
    pub source_description: MaybeUndefined<String>,
    pub birthdate: MaybeUndefined<NaiveDate>,
    pub address: MaybeUndefined<String>,
    pub comments: MaybeUndefined<String>,
    pub assigned_to_id: MaybeUndefined<ID>,
    pub opened: Option<bool>,
    /// Replaces the contact's companies; the first is the primary one.
    pub company_ids: Option<Vec<ID>>,
    pub phones: Option<Vec<CommunicationInput>>,
    pub emails: Option<Vec<CommunicationInput>>,
    pub webs: Option<Vec<CommunicationInput>>,
    pub ims: Option<Vec<CommunicationInput>>,
    /// Custom field values to set (others stay as they are).
    pub custom_fields: Option<Vec<common::CustomFieldValueInput>>,
}

impl ContactInput {
    pub fn into_write(self) -> crate::kernel::DomainResult<Write<Contact>> {
        let comms = common::comm_set(self.phones, self.emails, self.webs, self.ims);
        let links = common::decode_ids(IdKind::Company, self.company_ids, "companyIds")?;
        Ok(Write {
            comms,
            links,
            reject_duplicates: false,
            custom: common::custom_values(self.custom_fields),
            apply: Box::new(move |c: &mut Contact| {
                patch_text(&mut c.honorific, self.honorific);
                patch_text(&mut c.first_name, self.first_name);
                patch_text(&mut c.middle_name, self.middle_name);
                patch_text(&mut c.last_name, self.last_name);
                patch_text(&mut c.photo_url, self.photo_url);
                patch_text(&mut c.position, self.position);
                patch_id(&mut c.type_id, self.type_id, IdKind::StatusItem, "typeId")?;
                patch_id(&mut c.source_id, self.source_id, IdKind::StatusItem, "sourceId")?;
                patch_text(&mut c.source_description, self.source_description);
                patch(&mut c.birthdate, self.birthdate);
                patch_text(&mut c.address, self.address);
                patch_text(&mut c.comments, self.comments);
                patch_id(&mut c.assigned_to_id, self.assigned_to_id, IdKind::User, "assignedToId")?;
                if let Some(o) = self.opened {
                    c.opened = o;
                }
                Ok(())
            }),
        })
    }
}

//! Contacts in GraphQL.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, NaiveDate, Utc};

use crate::api::common::{self, Communication, CommunicationInput, patch, patch_id, patch_text};
use crate::api::connection::{connection, nested_list};
use crate::api::filters::list_args;
use crate::api::filters::{
    BooleanFilter, CommunicationFilter, DateFilter, DateTimeFilter, IdFilter, LinkFilter, StringFilter, element_filter,
};
use crate::api::loaders::ContactCompanies;
use crate::api::timeline::{TimelineConnection, TimelineFilter, timeline_of};
use crate::api::{GqlResult, load_error, loader, opt_id, to_id};
use crate::crm::deal::api::{DealConnection, DealFilter, DealOrder};
use crate::crm::lead::api::{LeadConnection, LeadFilter, LeadOrder, leads_of};
use crate::crm::shared::communications::CommKind;
use crate::kernel::ElementType;
use crate::kernel::ids::IdKind;
use crate::kernel::list::Relation;
use crate::kernel::models::{Company, Contact, Deal, StatusItem, User};
use crate::kernel::write::Write;

element_filter! {
    ContactFilter, ContactOrder, ContactOrderField, crate::kernel::ElementType::Contact,
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

#[Object(name = "Contact")]
impl Contact {
    /// Custom field values, by code.
    async fn custom_fields(&self) -> Vec<common::CustomFieldValue> {
        common::custom_list(&self.custom)
    }
    /// One custom field's value (null when unset).
    async fn custom_field(&self, code: String) -> Option<async_graphql::Json<serde_json::Value>> {
        self.custom.get(code.trim()).cloned().map(async_graphql::Json)
    }
    pub async fn id(&self) -> ID {
        to_id(IdKind::Contact, self.id)
    }
    async fn version(&self) -> i32 {
        self.version
    }
    async fn honorific(&self) -> Option<&str> {
        self.honorific.as_deref()
    }
    async fn first_name(&self) -> Option<&str> {
        self.first_name.as_deref()
    }
    async fn middle_name(&self) -> Option<&str> {
        self.middle_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.last_name.as_deref()
    }
    /// First and last name.
    async fn full_name(&self) -> String {
        [self.first_name.as_deref(), self.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
    async fn photo_url(&self) -> Option<&str> {
        self.photo_url.as_deref()
    }
    async fn position(&self) -> Option<&str> {
        self.position.as_deref()
    }
    async fn type_id(&self) -> Option<ID> {
        opt_id(IdKind::StatusItem, self.type_id)
    }
    #[graphql(name = "type")]
    async fn contact_type(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        common::status_of(ctx, self.type_id).await
    }
    async fn source_id(&self) -> Option<ID> {
        opt_id(IdKind::StatusItem, self.source_id)
    }
    async fn source(&self, ctx: &Context<'_>) -> GqlResult<Option<StatusItem>> {
        common::status_of(ctx, self.source_id).await
    }
    async fn source_description(&self) -> Option<&str> {
        self.source_description.as_deref()
    }
    async fn birthdate(&self) -> Option<NaiveDate> {
        self.birthdate
    }
    async fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
    async fn comments(&self) -> Option<&str> {
        self.comments.as_deref()
    }
    async fn assigned_to_id(&self) -> Option<ID> {
        opt_id(IdKind::User, self.assigned_to_id)
    }
    async fn assigned_to(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        common::user_of(ctx, self.assigned_to_id).await
    }
    async fn opened(&self) -> bool {
        self.opened
    }
    async fn origin_lead_id(&self) -> Option<ID> {
        opt_id(IdKind::Lead, self.origin_lead_id)
    }
    /// Ids of the contact's companies, the primary one first.
    async fn company_ids(&self, ctx: &Context<'_>) -> GqlResult<Vec<ID>> {
        let companies = loader(ctx).load_one(ContactCompanies(self.id)).await.map_err(load_error)?.unwrap_or_default();
        Ok(companies.iter().map(|c| to_id(IdKind::Company, c.id)).collect())
    }
    /// The contact's companies, the primary one first.
    async fn companies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Company>> {
        Ok(loader(ctx).load_one(ContactCompanies(self.id)).await.map_err(load_error)?.unwrap_or_default())
    }
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        filter: Option<DealFilter>,
        order_by: Option<Vec<DealOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<DealConnection> {
        let args = list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?;
        nested_list!(ctx, Deal, DealConnection, args, CONTACT_DEALS, self.id)
    }
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        filter: Option<LeadFilter>,
        order_by: Option<Vec<LeadOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<LeadConnection> {
        leads_of(
            ctx,
            CONTACT_LEADS,
            self.id,
            list_args(crate::api::phone_region(ctx), filter, order_by, first, after, last, before)?,
        )
        .await
    }
    async fn phones(&self, ctx: &Context<'_>) -> GqlResult<Vec<Communication>> {
        common::comms_of(ctx, ElementType::Contact, self.id, CommKind::Phone).await
    }
    async fn emails(&self, ctx: &Context<'_>) -> GqlResult<Vec<Communication>> {
        common::comms_of(ctx, ElementType::Contact, self.id, CommKind::Email).await
    }
    async fn webs(&self, ctx: &Context<'_>) -> GqlResult<Vec<Communication>> {
        common::comms_of(ctx, ElementType::Contact, self.id, CommKind::Web).await
    }
    async fn ims(&self, ctx: &Context<'_>) -> GqlResult<Vec<Communication>> {
        common::comms_of(ctx, ElementType::Contact, self.id, CommKind::Im).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        common::user_of(ctx, self.created_by_id).await
    }
    async fn updated_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        common::user_of(ctx, self.updated_by_id).await
    }
    /// Activities bound to this contact.
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        filter: Option<crate::activity::api::ActivityFilter>,
        order_by: Option<Vec<crate::activity::api::ActivityOrder>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<crate::activity::api::ActivityConnection> {
        crate::activity::api::activities_of(ctx, ElementType::Contact, self.id, filter, order_by, first, after).await
    }
    #[graphql(complexity = "crate::api::cost::list(__ctx, __variables_definition, __field, child_complexity)")]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TimelineFilter>,
    ) -> GqlResult<TimelineConnection> {
        timeline_of(ctx, ElementType::Contact, self.id, first, after, filter).await
    }
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

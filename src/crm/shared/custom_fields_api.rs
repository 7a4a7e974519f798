//! Custom field definitions in GraphQL (values travel on the elements).

use async_graphql::{Context, Enum, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};

use crate::api::timeline::ElementTypeGql;
use crate::api::{GqlResult, actor, conn, lookup_id, to_id};
use crate::crm::shared::custom_fields::{self, DefInput, FieldDef};
use crate::kernel::ids::IdKind;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CustomFieldType {
    String,
    Integer,
    Double,
    Boolean,
    /// `2026-03-31`.
    Date,
    /// RFC 3339; stored in UTC.
    Datetime,
    /// One of `items`.
    Enumeration,
    /// `{"amount": "12.50", "currency": "EUR"}`.
    Money,
    Url,
    Address,
    /// A user id.
    Employee,
    /// An element id such as `deal:42`.
    ElementLink,
}

impl CustomFieldType {
    fn as_str(self) -> &'static str {
        match self {
            CustomFieldType::String => "STRING",
            CustomFieldType::Integer => "INTEGER",
            CustomFieldType::Double => "DOUBLE",
            CustomFieldType::Boolean => "BOOLEAN",
            CustomFieldType::Date => "DATE",
            CustomFieldType::Datetime => "DATETIME",
            CustomFieldType::Enumeration => "ENUMERATION",
            CustomFieldType::Money => "MONEY",
            CustomFieldType::Url => "URL",
            CustomFieldType::Address => "ADDRESS",
            CustomFieldType::Employee => "EMPLOYEE",
            CustomFieldType::ElementLink => "ELEMENT_LINK",
        }
    }

    fn parse(s: &str) -> CustomFieldType {
        [
            CustomFieldType::String,
            CustomFieldType::Integer,
            CustomFieldType::Double,
            CustomFieldType::Boolean,
            CustomFieldType::Date,
            CustomFieldType::Datetime,
            CustomFieldType::Enumeration,
            CustomFieldType::Money,
            CustomFieldType::Url,
            CustomFieldType::Address,
            CustomFieldType::Employee,
            CustomFieldType::ElementLink,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .unwrap_or(CustomFieldType::String)
    }
}

#[Object(name = "CustomField")]
impl FieldDef {
    async fn id(&self) -> ID {
        to_id(IdKind::CustomField, self.id)
    }
    async fn element_type(&self) -> Option<ElementTypeGql> {
        crate::kernel::ElementType::parse(&self.element_type).map(Into::into)
    }
    /// `UF_…`, unique per element type.
    async fn code(&self) -> &str {
        &self.code
    }
    async fn label(&self) -> &str {
        &self.label
    }
    #[graphql(name = "type")]
    async fn field_type(&self) -> CustomFieldType {
        CustomFieldType::parse(&self.field_type)
    }
    /// Values are lists.
    async fn multiple(&self) -> bool {
        self.multiple
    }
    async fn mandatory(&self) -> bool {
        self.mandatory
    }
    /// Set on new elements that do not give a value.
    async fn default(&self) -> Option<Json<serde_json::Value>> {
        self.default_value.clone().map(Json)
    }
    /// ENUMERATION: the allowed values, in order.
    async fn items(&self) -> &[String] {
        &self.items
    }
    async fn sort(&self) -> i32 {
        self.sort
    }
    async fn show_in_filter(&self) -> bool {
        self.show_in_filter
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

#[derive(InputObject, Default)]
pub struct CustomFieldInput {
    /// `UF_` and upper-case letters, digits or underscores; fixed once created.
    pub code: Option<String>,
    pub label: Option<String>,
    /// Fixed once created (default STRING).
    #[graphql(name = "type")]
    pub field_type: Option<CustomFieldType>,
    /// Fixed once created.
    pub multiple: Option<bool>,
    pub mandatory: Option<bool>,
    pub default: Option<Json<serde_json::Value>>,
    pub items: Option<Vec<String>>,
    pub sort: Option<i32>,
    pub show_in_filter: Option<bool>,
}

impl CustomFieldInput {
    fn into_domain(self) -> DefInput {
        DefInput {
            code: self.code.map(|c| c.trim().to_owned()),
            label: self.label,
            field_type: self.field_type.map(|t| t.as_str().to_owned()),
            multiple: self.multiple,
            mandatory: self.mandatory,
            default_value: self.default.map(|d| d.0),
            items: self.items,
            sort: self.sort,
            show_in_filter: self.show_in_filter,
        }
    }
}

#[derive(Default)]
pub struct CustomFieldQuery;

#[Object]
impl CustomFieldQuery {
    /// The custom fields of an element type, in sort order.
    async fn custom_fields(&self, ctx: &Context<'_>, element_type: ElementTypeGql) -> GqlResult<Vec<FieldDef>> {
        actor(ctx)?;
        Ok(custom_fields::definitions(&mut *conn(ctx).await?, element_type.into()).await?)
    }
}

#[derive(Default)]
pub struct CustomFieldMutation;

#[Object]
impl CustomFieldMutation {
    async fn create_custom_field(
        &self,
        ctx: &Context<'_>,
        element_type: ElementTypeGql,
        input: CustomFieldInput,
    ) -> GqlResult<FieldDef> {
        let me = actor(ctx)?;
        Ok(custom_fields::create(&mut *conn(ctx).await?, me, element_type.into(), input.into_domain()).await?)
    }

    /// Changes label, items, mandatory, default, sort or showInFilter.
    async fn update_custom_field(&self, ctx: &Context<'_>, id: ID, input: CustomFieldInput) -> GqlResult<FieldDef> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::CustomField, &id)?;
        Ok(custom_fields::update(&mut *conn(ctx).await?, me, id, input.into_domain()).await?)
    }

    /// Deletes the field and its values on every element.
    async fn delete_custom_field(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::CustomField, &id)?;
        Ok(to_id(IdKind::CustomField, custom_fields::delete(&mut *conn(ctx).await?, me, id).await?))
    }
}

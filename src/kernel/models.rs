//! Row types, one per table, shared by reads and writes. Field names equal column names so
//! a row's JSON form can feed cursors, history diffs and event payloads generically.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::db::schema::*;

#[derive(
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    AsChangeset,
    Identifiable,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
)]
#[diesel(table_name = leads, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct Lead {
    pub id: i64,
    pub title: Option<String>,
    pub honorific: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub position: Option<String>,
    pub company_title: Option<String>,
    pub address: Option<String>,
    pub source_id: Option<i64>,
    pub source_description: Option<String>,
    pub status_id: i64,
    pub status_description: Option<String>,
    pub opportunity: Option<Decimal>,
    pub currency: Option<String>,
    pub comments: Option<String>,
    pub assigned_to_id: Option<i64>,
    pub opened: bool,
    pub contact_id: Option<i64>,
    pub company_id: Option<i64>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_content: Option<String>,
    pub utm_term: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_id: Option<i64>,
    pub updated_by_id: Option<i64>,
    pub version: i32,
    /// Custom field values by code (`custom_fields`).
    #[serde(default = "crate::crm::shared::custom_fields::empty")]
    pub custom: serde_json::Value,
}

#[derive(
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    AsChangeset,
    Identifiable,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct Contact {
    pub id: i64,
    pub honorific: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub photo_url: Option<String>,
    pub position: Option<String>,
    pub type_id: Option<i64>,
    pub source_id: Option<i64>,
    pub source_description: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub address: Option<String>,
    pub comments: Option<String>,
    pub assigned_to_id: Option<i64>,
    pub opened: bool,
    pub origin_lead_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_id: Option<i64>,
    pub updated_by_id: Option<i64>,
    pub version: i32,
    /// Custom field values by code (`custom_fields`).
    #[serde(default = "crate::crm::shared::custom_fields::empty")]
    pub custom: serde_json::Value,
}

#[derive(
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    AsChangeset,
    Identifiable,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
)]
#[diesel(table_name = companies, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct Company {
    pub id: i64,
    pub title: String,
    pub type_id: Option<i64>,
    pub industry_id: Option<i64>,
    pub employees_id: Option<i64>,
    pub revenue: Option<Decimal>,
    pub currency: Option<String>,
    pub address: Option<String>,
    pub comments: Option<String>,
    pub assigned_to_id: Option<i64>,
    pub opened: bool,
    pub is_my_company: bool,
    pub legal_name: Option<String>,
    pub vat_id: Option<String>,
    pub tax_id: Option<String>,
    pub registration_address: Option<String>,
    pub bank_name: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub origin_lead_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_id: Option<i64>,
    pub updated_by_id: Option<i64>,
    pub version: i32,
    /// Custom field values by code (`custom_fields`).
    #[serde(default = "crate::crm::shared::custom_fields::empty")]
    pub custom: serde_json::Value,
}

#[derive(
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    AsChangeset,
    Identifiable,
    Serialize,
    Deserialize,
    Clone,
    Debug,
    Default,
)]
#[diesel(table_name = deals, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct Deal {
    pub id: i64,
    pub title: String,
    pub pipeline_id: i64,
    pub stage_id: i64,
    pub probability: Option<i32>,
    pub opportunity: Option<Decimal>,
    pub currency: Option<String>,
    pub is_manual_opportunity: bool,
    pub type_id: Option<i64>,
    pub source_id: Option<i64>,
    pub begin_date: Option<NaiveDate>,
    pub close_date: Option<NaiveDate>,
    pub closed: bool,
    pub company_id: Option<i64>,
    pub origin_lead_id: Option<i64>,
    pub comments: Option<String>,
    pub assigned_to_id: Option<i64>,
    pub opened: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_id: Option<i64>,
    pub updated_by_id: Option<i64>,
    pub version: i32,
    pub lost_reason: Option<String>,
    /// Custom field values by code (`custom_fields`).
    #[serde(default = "crate::crm::shared::custom_fields::empty")]
    pub custom: serde_json::Value,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub time_zone: String,
    pub department_id: Option<i64>,
    pub is_admin: bool,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = departments, check_for_backend(diesel::pg::Pg))]
pub struct Department {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = status_items, check_for_backend(diesel::pg::Pg))]
pub struct StatusItem {
    pub id: i64,
    pub list_kind: String,
    pub code: String,
    pub name: String,
    pub sort: i32,
    pub semantics: String,
    pub color: Option<String>,
    pub is_system: bool,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = pipelines, check_for_backend(diesel::pg::Pg))]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    pub is_default: bool,
    pub sort: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = stages, check_for_backend(diesel::pg::Pg))]
pub struct Stage {
    pub id: i64,
    pub pipeline_id: i64,
    pub code: String,
    pub name: String,
    pub sort: i32,
    pub semantics: String,
    pub probability: i32,
    pub color: Option<String>,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Deserialize, Clone, Debug)]
#[diesel(table_name = timeline_entries, check_for_backend(diesel::pg::Pg))]
pub struct TimelineEntry {
    pub id: i64,
    pub element_type: String,
    pub element_id: i64,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub author_id: Option<i64>,
    pub text: Option<String>,
    pub changes: serde_json::Value,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug, PartialEq)]
#[diesel(table_name = communications, check_for_backend(diesel::pg::Pg))]
pub struct Communication {
    pub id: i64,
    pub element_type: String,
    pub element_id: i64,
    pub kind: String,
    pub value_type: String,
    pub value: String,
    pub normalized: String,
    pub sort: i32,
}

#[derive(
    Queryable, QueryableByName, Selectable, Insertable, AsChangeset, Identifiable, Serialize, Deserialize, Clone, Debug,
)]
#[diesel(table_name = products, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub sku: Option<String>,
    pub description: Option<String>,
    pub price: Decimal,
    pub currency: String,
    pub tax_rate: Decimal,
    pub tax_included: bool,
    pub unit: String,
    pub active: bool,
    pub sort: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_id: Option<i64>,
    pub updated_by_id: Option<i64>,
    pub version: i32,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = product_rows, check_for_backend(diesel::pg::Pg))]
pub struct ProductRow {
    pub id: i64,
    pub owner_type: String,
    pub owner_id: i64,
    pub product_id: Option<i64>,
    pub name: String,
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub discount_percent: Option<Decimal>,
    pub discount_amount: Option<Decimal>,
    pub tax_rate: Decimal,
    pub tax_included: bool,
    pub unit: Option<String>,
    pub sort: i32,
    pub line_net: Decimal,
    pub line_tax: Decimal,
    pub line_gross: Decimal,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = lead_conversions, primary_key(lead_id), check_for_backend(diesel::pg::Pg))]
pub struct LeadConversion {
    pub lead_id: i64,
    pub converted_at: DateTime<Utc>,
    pub contact_id: Option<i64>,
    pub company_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub converted_by_id: Option<i64>,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Clone, Debug)]
#[diesel(table_name = deal_stage_history, check_for_backend(diesel::pg::Pg))]
pub struct StageMove {
    pub id: i64,
    pub deal_id: i64,
    pub from_stage_id: Option<i64>,
    /// None once the stage was deleted.
    pub to_stage_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub by_id: Option<i64>,
}

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Serialize, Deserialize, Clone, Debug)]
#[diesel(table_name = activities, check_for_backend(diesel::pg::Pg))]
pub struct Activity {
    pub id: i64,
    #[serde(rename = "type")]
    #[diesel(column_name = type_)]
    pub activity_type: String,
    pub subject: String,
    pub description: Option<String>,
    pub direction: Option<String>,
    pub priority: String,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub responsible_id: i64,
    pub owner_type: String,
    pub owner_id: i64,
    pub communications: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_id: Option<i64>,
    pub updated_by_id: Option<i64>,
    pub version: i32,
}

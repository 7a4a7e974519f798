//! Exporting elements as CSV, in the shape an import reads back: the header names are the
//! ones the import maps (`mapping::header_for`), references are written as words the import
//! resolves (status codes, e-mail addresses, stage codes, pipeline names), communications are
//! joined per type, custom fields go by code.

use std::collections::HashMap;

use async_graphql::{InputType, Value as GqlValue};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value as Json;

use crate::crm::shared::communications;
use crate::import::mapping::{self, CommKind, Target};
use crate::import::run::mapping_kind;
use crate::kernel::ElementType;
use crate::kernel::access::permissions::Action;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids;
use crate::kernel::list::{self as query, ListArgs, Listable, Page};
use crate::kernel::models::{Company, Contact, Deal, Lead};

/// Rows read per statement.
const PAGE: i32 = 500;

/// Leads, contacts, companies or deals as CSV: every row the actor may read that matches
/// `filter` (the JSON of the list's filter argument). Needs the EXPORT right.
pub async fn export(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    element: ElementType,
    filter: Option<Json>,
    region: phonenumber::country::Id,
    out: &mut csv::Writer<Vec<u8>>,
) -> DomainResult<()> {
    actor.rights.check_may(element, Action::Export)?;
    actor.rights.check_may(element, Action::Read)?;
    match element {
        ElementType::Lead => {
            let f = parse::<crate::crm::lead::api::LeadFilter>(filter)?;
            rows::<Lead>(conn, actor, element, f.map(|f| f.to_cond(region)).transpose()?, out).await
        }
        ElementType::Contact => {
            let f = parse::<crate::crm::contact::api::ContactFilter>(filter)?;
            rows::<Contact>(conn, actor, element, f.map(|f| f.to_cond(region)).transpose()?, out).await
        }
        ElementType::Company => {
            let f = parse::<crate::crm::company::api::CompanyFilter>(filter)?;
            rows::<Company>(conn, actor, element, f.map(|f| f.to_cond(region)).transpose()?, out).await
        }
        ElementType::Deal => {
            let f = parse::<crate::crm::deal::api::DealFilter>(filter)?;
            rows::<Deal>(conn, actor, element, f.map(|f| f.to_cond(region)).transpose()?, out).await
        }
    }
}

fn parse<F: InputType>(filter: Option<Json>) -> DomainResult<Option<F>> {
    let Some(json) = filter else { return Ok(None) };
    let value = GqlValue::from_json(json).map_err(|e| DomainError::bad_input("filter", e.to_string()))?;
    F::parse(Some(value))
        .map(Some)
        .map_err(|e| DomainError::bad_input("filter", e.into_server_error(Default::default()).message))
}

/// The columns of an export: the element's id, its fields, its communications by type and
/// its custom fields.
fn columns(element: ElementType, custom: &[String]) -> Vec<Target> {
    let kind = mapping_kind(element);
    let mut out = vec![Target::ExternalId];
    out.extend(mapping::field_names(kind).iter().map(|f| Target::Field(f)));
    if element != ElementType::Deal {
        for comm in CommKind::ALL {
            out.extend(comm.value_types().iter().map(|t| Target::Comm { kind: comm, value_type: t }));
        }
    }
    out.extend(custom.iter().map(|c| Target::Custom(c.clone())));
    out
}

async fn rows<T: Listable>(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    element: ElementType,
    filter: Option<query::Cond>,
    out: &mut csv::Writer<Vec<u8>>,
) -> DomainResult<()> {
    let custom: Vec<String> =
        crate::crm::shared::custom_fields::definitions(conn, element).await?.into_iter().map(|d| d.code).collect();
    let cols = columns(element, &custom);
    out.write_record(cols.iter().map(mapping::header_for)).map_err(anyhow::Error::from)?;
    let words = Words::load(conn).await?;
    let mut after = None;
    loop {
        let args = ListArgs { filter: filter.clone(), first: Some(PAGE), after: after.take(), ..Default::default() };
        let plan = query::plan::<T>(actor, args, None)?;
        let page: Page<T> = query::list(conn, &plan).await?;
        let ids: Vec<i64> = page.rows.iter().map(Listable::row_id).collect();
        let mut comms = communications::load(conn, element, &ids).await?;
        for row in &page.rows {
            let json = serde_json::to_value(row).map_err(anyhow::Error::from)?;
            let mine = comms.remove(&row.row_id()).unwrap_or_default();
            let cells = cols.iter().map(|c| cell(element, c, row.row_id(), &json, &mine, &words));
            out.write_record(cells.map(|c| escape(&c))).map_err(anyhow::Error::from)?;
        }
        if !page.has_next {
            return Ok(());
        }
        after = page.rows.last().map(|r| Page::<T>::cursor(&page.order, r));
    }
}

fn cell(
    element: ElementType,
    column: &Target,
    id: i64,
    row: &Json,
    comms: &[crate::kernel::models::Communication],
    words: &Words,
) -> String {
    match column {
        Target::ExternalId => ids::encode(element.id_kind(), id),
        Target::Field(field) => {
            let value = &row[snake_case(field)];
            match value {
                Json::Null => String::new(),
                Json::Number(n) => match words.word(field, n.as_i64()) {
                    Some(word) => word,
                    None => n.to_string(),
                },
                Json::String(s) => s.clone(),
                Json::Bool(b) => b.to_string(),
                other => other.to_string(),
            }
        }
        Target::Comm { kind, value_type } => {
            let kind = kind.as_str();
            let values: Vec<&str> = comms
                .iter()
                .filter(|c| c.kind == kind && c.value_type == *value_type)
                .map(|c| c.value.as_str())
                .collect();
            values.join(", ")
        }
        Target::Custom(code) => match row["custom"].get(code) {
            None | Some(Json::Null) => String::new(),
            Some(Json::String(s)) => s.clone(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            Some(other) => other.to_string(),
        },
    }
}

/// `assignedToId` → `assigned_to_id`: the row's JSON key of an API field.
fn snake_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A cell a spreadsheet would run as a formula gets a leading apostrophe (the import takes
/// it off again).
pub fn escape(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// The other way: a cell an export escaped.
pub fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    word: String,
}

/// References as words: status items and stages by code, users by e-mail, pipelines by name.
struct Words {
    by_id: HashMap<(&'static str, i64), String>,
}

impl Words {
    async fn load(conn: &mut AsyncPgConnection) -> DomainResult<Words> {
        let rows: Vec<Named> = diesel::sql_query(
            "SELECT 'STATUS' AS scope, id, code AS word FROM status_items \
             UNION ALL SELECT 'USER', id, email FROM users \
             UNION ALL SELECT 'PIPELINE', id, name FROM pipelines \
             UNION ALL SELECT 'STAGE', id, code FROM stages",
        )
        .load(conn)
        .await?;
        let mut by_id = HashMap::new();
        for r in rows {
            let scope = match r.scope.as_str() {
                "STATUS" => "STATUS",
                "USER" => "USER",
                "PIPELINE" => "PIPELINE",
                _ => "STAGE",
            };
            by_id.insert((scope, r.id), r.word);
        }
        Ok(Words { by_id })
    }

    fn word(&self, field: &str, id: Option<i64>) -> Option<String> {
        let scope = match field {
            "statusId" | "sourceId" | "typeId" | "industryId" | "employeesId" => "STATUS",
            "assignedToId" => "USER",
            "pipelineId" => "PIPELINE",
            "stageId" => "STAGE",
            _ => return None,
        };
        self.by_id.get(&(scope, id?)).cloned()
    }
}

//! CRM settings: status lists (Bitrix `crm.status`) and deal pipelines with their stages.
//! Seeding the defaults is idempotent and runs at every start.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::error::{DomainError, DomainResult};
use super::models::{Pipeline, Stage, StatusItem};
use crate::db::schema::{pipelines, stages, status_items};

pub const PROCESS: &str = "PROCESS";
pub const SUCCESS: &str = "SUCCESS";
pub const FAILURE: &str = "FAILURE";

/// The status lists; the string is the stored `list_kind`.
pub const LIST_KINDS: [&str; 8] =
    ["STATUS", "SOURCE", "CONTACT_TYPE", "COMPANY_TYPE", "INDUSTRY", "EMPLOYEES", "DEAL_TYPE", "HONORIFIC"];

type Item = (&'static str, &'static str, &'static str, &'static str);

fn default_items(list: &str) -> &'static [Item] {
    // (code, name, semantics, color)
    match list {
        "STATUS" => &[
            ("NEW", "New", PROCESS, "#39A8EF"),
            ("IN_PROCESS", "In progress", PROCESS, "#2FC6F6"),
            ("PROCESSED", "Processed", PROCESS, "#55D0E0"),
            ("CONVERTED", "Converted", SUCCESS, "#7BD500"),
            ("JUNK", "Junk", FAILURE, "#FF5752"),
        ],
        "SOURCE" => &[
            ("CALL", "Call", PROCESS, ""),
            ("EMAIL", "E-mail", PROCESS, ""),
            ("WEB", "Website", PROCESS, ""),
            ("ADVERTISING", "Advertising", PROCESS, ""),
            ("PARTNER", "Existing client", PROCESS, ""),
            ("RECOMMENDATION", "By recommendation", PROCESS, ""),
            ("TRADE_SHOW", "Show/exhibition", PROCESS, ""),
            ("WEBFORM", "CRM form", PROCESS, ""),
            ("CALLBACK", "Callback", PROCESS, ""),
            ("OTHER", "Other", PROCESS, ""),
        ],
        "CONTACT_TYPE" => &[
            ("CLIENT", "Clients", PROCESS, ""),
            ("SUPPLIER", "Suppliers", PROCESS, ""),
            ("PARTNER", "Partners", PROCESS, ""),
            ("OTHER", "Other", PROCESS, ""),
        ],
        "COMPANY_TYPE" => &[
            ("CUSTOMER", "Client", PROCESS, ""),
            ("SUPPLIER", "Supplier", PROCESS, ""),
            ("COMPETITOR", "Competitor", PROCESS, ""),
            ("PARTNER", "Partner", PROCESS, ""),
            ("OTHER", "Other", PROCESS, ""),
        ],
        "INDUSTRY" => &[
            ("IT", "Information Technology", PROCESS, ""),
            ("TELECOM", "Telecommunication", PROCESS, ""),
            ("MANUFACTURING", "Manufacturing", PROCESS, ""),
            ("BANKING", "Banking Services", PROCESS, ""),
            ("CONSULTING", "Consulting", PROCESS, ""),
            ("FINANCE", "Finance", PROCESS, ""),
            ("GOVERNMENT", "Government", PROCESS, ""),
            ("DELIVERY", "Delivery", PROCESS, ""),
            ("ENTERTAINMENT", "Entertainment", PROCESS, ""),
            ("NOTPROFIT", "Non-profit", PROCESS, ""),
            ("OTHER", "Other", PROCESS, ""),
        ],
        "EMPLOYEES" => &[
            ("EMPLOYEES_1", "fewer than 50", PROCESS, ""),
            ("EMPLOYEES_2", "50-250", PROCESS, ""),
            ("EMPLOYEES_3", "250-500", PROCESS, ""),
            ("EMPLOYEES_4", "over 500", PROCESS, ""),
        ],
        "DEAL_TYPE" => &[
            ("SALE", "Sales", PROCESS, ""),
            ("COMPLEX", "Complex sale", PROCESS, ""),
            ("GOODS", "Merchandise sale", PROCESS, ""),
            ("SERVICES", "Service sale", PROCESS, ""),
            ("SERVICE", "After-sales service", PROCESS, ""),
        ],
        "HONORIFIC" => &[
            ("HNR_EN_1", "Mr.", PROCESS, ""),
            ("HNR_EN_2", "Mrs.", PROCESS, ""),
            ("HNR_EN_3", "Ms.", PROCESS, ""),
            ("HNR_EN_4", "Dr.", PROCESS, ""),
        ],
        _ => &[],
    }
}

/// The stage shape every new pipeline starts with: (code, name, semantics, probability, color).
pub const DEFAULT_STAGES: [(&str, &str, &str, i32, &str); 8] = [
    ("NEW", "New", PROCESS, 10, "#39A8EF"),
    ("PREPARATION", "Preparing documents", PROCESS, 20, "#2FC6F6"),
    ("PREPAYMENT_INVOICE", "Invoice for prepayment", PROCESS, 40, "#55D0E0"),
    ("EXECUTING", "In progress", PROCESS, 60, "#47E4C2"),
    ("FINAL_INVOICE", "Final invoice", PROCESS, 80, "#FFA900"),
    ("WON", "Deal won", SUCCESS, 100, "#7BD500"),
    ("LOSE", "Deal lost", FAILURE, 0, "#FF5752"),
    ("APOLOGY", "Analyse failure", FAILURE, 0, "#FF5752"),
];

/// Seeds the default status lists and pipeline unless present. Safe to run concurrently.
pub async fn ensure_defaults(conn: &mut AsyncPgConnection) -> DomainResult<()> {
    let mut rows = Vec::new();
    for list in LIST_KINDS {
        for (i, (code, name, semantics, color)) in default_items(list).iter().enumerate() {
            rows.push((
                status_items::list_kind.eq(list),
                status_items::code.eq(*code),
                status_items::name.eq(*name),
                status_items::sort.eq((i as i32 + 1) * 10),
                status_items::semantics.eq(*semantics),
                status_items::color.eq((!color.is_empty()).then_some(*color)),
                status_items::is_system.eq(true),
            ));
        }
    }
    diesel::insert_into(status_items::table).values(rows).on_conflict_do_nothing().execute(conn).await?;

    let inserted: Option<i64> = diesel::insert_into(pipelines::table)
        .values((pipelines::name.eq("General"), pipelines::is_default.eq(true), pipelines::sort.eq(10)))
        .on_conflict_do_nothing()
        .returning(pipelines::id)
        .get_result(conn)
        .await
        .optional()?;
    if let Some(pipeline_id) = inserted {
        create_default_stages(conn, pipeline_id).await?;
    }
    Ok(())
}

pub async fn create_default_stages(conn: &mut AsyncPgConnection, pipeline_id: i64) -> DomainResult<()> {
    let rows: Vec<_> = DEFAULT_STAGES
        .iter()
        .enumerate()
        .map(|(i, (code, name, semantics, probability, color))| {
            (
                stages::pipeline_id.eq(pipeline_id),
                stages::code.eq(*code),
                stages::name.eq(*name),
                stages::sort.eq((i as i32 + 1) * 10),
                stages::semantics.eq(*semantics),
                stages::probability.eq(*probability),
                stages::color.eq(Some(*color)),
            )
        })
        .collect();
    diesel::insert_into(stages::table).values(rows).execute(conn).await?;
    Ok(())
}

pub async fn status_items(conn: &mut AsyncPgConnection, list: &str) -> DomainResult<Vec<StatusItem>> {
    Ok(status_items::table
        .filter(status_items::list_kind.eq(list))
        .order((status_items::sort, status_items::id))
        .select(StatusItem::as_select())
        .load(conn)
        .await?)
}

pub async fn status_items_by_id(conn: &mut AsyncPgConnection, ids: &[i64]) -> DomainResult<Vec<StatusItem>> {
    Ok(status_items::table.filter(status_items::id.eq_any(ids)).select(StatusItem::as_select()).load(conn).await?)
}

/// Checks that `id` is an item of `list`, reporting against `field`.
pub async fn check_status(conn: &mut AsyncPgConnection, list: &str, id: i64, field: &str) -> DomainResult<StatusItem> {
    status_items::table
        .filter(status_items::id.eq(id))
        .filter(status_items::list_kind.eq(list))
        .select(StatusItem::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::bad_input(field, format!("`{field}` is not an item of the {list} list")))
}

/// Checks that `code` is an item of `list` (fields that store a code, like `honorific`).
pub async fn check_status_code(conn: &mut AsyncPgConnection, list: &str, code: &str, field: &str) -> DomainResult<()> {
    let found: i64 = status_items::table
        .filter(status_items::list_kind.eq(list))
        .filter(status_items::code.eq(code))
        .count()
        .get_result(conn)
        .await?;
    if found == 0 {
        return Err(DomainError::bad_input(field, format!("`{code}` is not an item of the {list} list")));
    }
    Ok(())
}

pub async fn status_by_code(conn: &mut AsyncPgConnection, list: &str, code: &str) -> DomainResult<StatusItem> {
    status_items::table
        .filter(status_items::list_kind.eq(list))
        .filter(status_items::code.eq(code))
        .select(StatusItem::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("status {list}/{code} is missing")))
}

pub async fn pipelines(conn: &mut AsyncPgConnection) -> DomainResult<Vec<Pipeline>> {
    Ok(pipelines::table
        .order((pipelines::is_default.desc(), pipelines::sort, pipelines::id))
        .select(Pipeline::as_select())
        .load(conn)
        .await?)
}

pub async fn pipelines_by_id(conn: &mut AsyncPgConnection, ids: &[i64]) -> DomainResult<Vec<Pipeline>> {
    Ok(pipelines::table.filter(pipelines::id.eq_any(ids)).select(Pipeline::as_select()).load(conn).await?)
}

pub async fn default_pipeline(conn: &mut AsyncPgConnection) -> DomainResult<Pipeline> {
    pipelines::table
        .filter(pipelines::is_default.eq(true))
        .select(Pipeline::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("no default pipeline")))
}

pub async fn pipeline(conn: &mut AsyncPgConnection, id: i64, field: &str) -> DomainResult<Pipeline> {
    pipelines::table
        .find(id)
        .select(Pipeline::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::bad_input(field, format!("`{field}` names no pipeline")))
}

/// Stages of many pipelines, in pipeline order (sort, id).
pub async fn stages_of(conn: &mut AsyncPgConnection, pipeline_ids: &[i64]) -> DomainResult<HashMap<i64, Vec<Stage>>> {
    let rows: Vec<Stage> = stages::table
        .filter(stages::pipeline_id.eq_any(pipeline_ids))
        .order((stages::pipeline_id, stages::sort, stages::id))
        .select(Stage::as_select())
        .load(conn)
        .await?;
    let mut out: HashMap<i64, Vec<Stage>> = HashMap::new();
    for s in rows {
        out.entry(s.pipeline_id).or_default().push(s);
    }
    Ok(out)
}

pub async fn stages_by_id(conn: &mut AsyncPgConnection, ids: &[i64]) -> DomainResult<Vec<Stage>> {
    Ok(stages::table.filter(stages::id.eq_any(ids)).select(Stage::as_select()).load(conn).await?)
}

pub async fn stage(conn: &mut AsyncPgConnection, id: i64, field: &str) -> DomainResult<Stage> {
    stages::table
        .find(id)
        .select(Stage::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::bad_input(field, format!("`{field}` names no stage")))
}

pub async fn first_stage(conn: &mut AsyncPgConnection, pipeline_id: i64) -> DomainResult<Stage> {
    stages::table
        .filter(stages::pipeline_id.eq(pipeline_id))
        .order((stages::sort, stages::id))
        .select(Stage::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("pipeline {pipeline_id} has no stages")))
}

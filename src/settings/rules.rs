//! CRM settings: status lists (Bitrix `crm.status`) and deal pipelines with their stages.
//! Seeding the defaults is idempotent and runs at every start.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{pipelines, stages, status_items};
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::{Pipeline, Stage, StatusItem};
use crate::kernel::validate;

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
                status_items::sort.eq(crate::kernel::limits::position_sort(i)),
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
                stages::sort.eq(crate::kernel::limits::position_sort(i)),
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
    crate::kernel::memo::cached(|| format!("status:{list}:{id}"), async {
        status_items::table
            .filter(status_items::id.eq(id))
            .filter(status_items::list_kind.eq(list))
            .select(StatusItem::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| DomainError::bad_input(field, format!("`{field}` is not an item of the {list} list")))
    })
    .await
}

/// Checks that `code` is an item of `list` (fields that store a code, like `honorific`).
pub async fn check_status_code(conn: &mut AsyncPgConnection, list: &str, code: &str, field: &str) -> DomainResult<()> {
    crate::kernel::memo::cached(|| format!("status-code:{list}:{code}"), async {
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
    })
    .await
}

pub async fn status_by_code(conn: &mut AsyncPgConnection, list: &str, code: &str) -> DomainResult<StatusItem> {
    crate::kernel::memo::cached(|| format!("status-by-code:{list}:{code}"), async {
        status_items::table
            .filter(status_items::list_kind.eq(list))
            .filter(status_items::code.eq(code))
            .select(StatusItem::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("status {list}/{code} is missing")))
    })
    .await
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
    crate::kernel::memo::cached(|| "default-pipeline".to_owned(), async {
        pipelines::table
            .filter(pipelines::is_default.eq(true))
            .select(Pipeline::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("no default pipeline")))
    })
    .await
}

pub async fn pipeline(conn: &mut AsyncPgConnection, id: i64, field: &str) -> DomainResult<Pipeline> {
    crate::kernel::memo::cached(|| format!("pipeline:{id}"), async {
        pipelines::table
            .find(id)
            .select(Pipeline::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| DomainError::bad_input(field, format!("`{field}` names no pipeline")))
    })
    .await
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

/// A stage a deal moves into, share-locked so its semantics cannot change (`update_stage`)
/// before the deal is written.
pub async fn stage(conn: &mut AsyncPgConnection, id: i64, field: &str) -> DomainResult<Stage> {
    crate::kernel::memo::cached(|| format!("stage:{id}"), async {
        stages::table
            .find(id)
            .select(Stage::as_select())
            .for_share()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| DomainError::bad_input(field, format!("`{field}` names no stage")))
    })
    .await
}

pub async fn first_stage(conn: &mut AsyncPgConnection, pipeline_id: i64) -> DomainResult<Stage> {
    crate::kernel::memo::cached(|| format!("first-stage:{pipeline_id}"), async {
        stages::table
            .filter(stages::pipeline_id.eq(pipeline_id))
            .order((stages::sort, stages::id))
            .select(Stage::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("pipeline {pipeline_id} has no stages")))
    })
    .await
}

// ---- changing status lists and pipelines (settings right) --------------------------------

/// Lists whose items carry PROCESS / SUCCESS / FAILURE semantics (lead statuses); the other
/// lists are plain dropdowns whose items are all PROCESS.
fn has_semantics(list: &str) -> bool {
    list == "STATUS"
}

fn rank(semantics: &str) -> u8 {
    match semantics {
        PROCESS => 0,
        SUCCESS => 1,
        _ => 2,
    }
}

/// The semantic order rule of status lists and pipelines: every PROCESS item, then exactly one SUCCESS item,
/// then the FAILURE items. `semantics` is the list in its order.
pub fn check_semantic_order(semantics: &[&str]) -> Result<(), &'static str> {
    if semantics.windows(2).any(|w| rank(w[0]) > rank(w[1])) {
        return Err("the order must be PROCESS items, then the SUCCESS item, then FAILURE items");
    }
    if semantics.iter().filter(|s| **s == SUCCESS).count() != 1 {
        return Err("there must be exactly one SUCCESS item");
    }
    if !semantics.contains(&PROCESS) {
        return Err("there must be at least one PROCESS item");
    }
    Ok(())
}

/// A pipeline's stages after a change: the semantic order rule, and the last FAILURE stage
/// stays, because lost deals close into one. (A pipeline that had none before this rule may
/// still change; adding a FAILURE stage fixes it.)
pub fn check_stage_order(before: &[&str], after: &[&str]) -> Result<(), &'static str> {
    check_semantic_order(after)?;
    if before.contains(&FAILURE) && !after.contains(&FAILURE) {
        return Err("a pipeline keeps at least one FAILURE stage: lost deals close into it");
    }
    Ok(())
}

/// Puts items (id, semantics, sort) in rule order, keeping the relative order within each
/// group, and numbers them 10, 20, ...
pub fn renumber(items: &mut [(i64, String, i32)]) -> Vec<(i64, i32)> {
    items.sort_by_key(|(id, semantics, sort)| (rank(semantics), *sort, *id));
    items.iter().enumerate().map(|(i, (id, _, _))| (*id, crate::kernel::limits::position_sort(i))).collect()
}

/// A code from a name: `Waiting for payment` → `WAITING_FOR_PAYMENT`.
pub fn code_from(name: &str) -> String {
    let mut code = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c.to_ascii_uppercase());
        } else if !code.ends_with('_') && !code.is_empty() {
            code.push('_');
        }
    }
    let code = code.trim_end_matches('_').to_owned();
    if code.is_empty() { "ITEM".to_owned() } else { code }
}

fn check_color(color: Option<String>) -> DomainResult<Option<String>> {
    match color.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) if c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit()) => {
            Ok(Some(c.to_ascii_uppercase()))
        }
        Some(_) => Err(DomainError::bad_input("color", "`color` is a hex colour such as #39A8EF")),
    }
}

fn check_code(code: &str) -> DomainResult<String> {
    let c = code.trim().to_ascii_uppercase();
    if c.is_empty() || c.len() > 50 || !c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_') {
        return Err(DomainError::bad_input("code", "`code` is 1 to 50 letters, digits or underscores"));
    }
    Ok(c)
}

/// New or changed fields of a status item or stage.
#[derive(Clone, Debug, Default)]
pub struct ItemInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub sort: Option<i32>,
    pub semantics: Option<String>,
    pub color: Option<String>,
    pub probability: Option<i32>,
}

/// Semantics a new item may take, or an existing one change to: a list has exactly one
/// SUCCESS item, so SUCCESS is never added or taken away.
fn check_semantics_change(from: Option<&str>, to: &str, with_semantics: bool) -> DomainResult<()> {
    if !with_semantics && to != PROCESS {
        return Err(DomainError::bad_input("semantics", "items of this list are all PROCESS"));
    }
    if from == Some(to) {
        return Ok(());
    }
    if to == SUCCESS || from == Some(SUCCESS) {
        return Err(DomainError::bad_input(
            "semantics",
            "a list has exactly one SUCCESS item: rename the existing one instead",
        ));
    }
    Ok(())
}

fn semantics_of(raw: Option<&str>) -> DomainResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(s @ (PROCESS | SUCCESS | FAILURE)) => Ok(Some(s.to_owned())),
        Some(_) => Err(DomainError::bad_input("semantics", "`semantics` is PROCESS, SUCCESS or FAILURE")),
    }
}

async fn renumber_list(conn: &mut AsyncPgConnection, list: &str) -> DomainResult<()> {
    let items = status_items(conn, list).await?;
    let mut rows: Vec<(i64, String, i32)> = items.into_iter().map(|i| (i.id, i.semantics, i.sort)).collect();
    for (id, sort) in renumber(&mut rows) {
        diesel::update(status_items::table.find(id)).set(status_items::sort.eq(sort)).execute(conn).await?;
    }
    Ok(())
}

async fn renumber_stages(conn: &mut AsyncPgConnection, pipeline_id: i64) -> DomainResult<()> {
    let stages = stages_of(conn, &[pipeline_id]).await?.remove(&pipeline_id).unwrap_or_default();
    let mut rows: Vec<(i64, String, i32)> = stages.into_iter().map(|s| (s.id, s.semantics, s.sort)).collect();
    for (id, sort) in renumber(&mut rows) {
        diesel::update(stages::table.find(id)).set(stages::sort.eq(sort)).execute(conn).await?;
    }
    Ok(())
}

pub fn check_list(list: &str) -> DomainResult<()> {
    if LIST_KINDS.contains(&list) {
        Ok(())
    } else {
        Err(DomainError::bad_input("list", format!("`{list}` is not a status list")))
    }
}

fn unique_code(e: diesel::result::Error) -> DomainError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            DomainError::bad_input("code", "another item of this list already has this code")
        }
        other => other.into(),
    }
}

pub async fn create_status_item(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    list: &str,
    input: ItemInput,
) -> DomainResult<StatusItem> {
    actor.rights.check_settings()?;
    check_list(list)?;
    let name = validate::name("name", input.name.as_deref().unwrap_or_default())?;
    let code = match input.code.as_deref() {
        Some(c) => check_code(c)?,
        None => code_from(&name),
    };
    let semantics = semantics_of(input.semantics.as_deref())?.unwrap_or_else(|| PROCESS.to_owned());
    check_semantics_change(None, &semantics, has_semantics(list))?;
    let color = check_color(input.color)?;
    let list = list.to_owned();
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let id: i64 = diesel::insert_into(status_items::table)
            .values((
                status_items::list_kind.eq(&list),
                status_items::code.eq(code),
                status_items::name.eq(name),
                // Without a sort the item goes last in its group.
                status_items::sort.eq(input.sort.unwrap_or(i32::MAX)),
                status_items::semantics.eq(semantics),
                status_items::color.eq(color),
                status_items::is_system.eq(false),
            ))
            .returning(status_items::id)
            .get_result(conn)
            .await
            .map_err(unique_code)?;
        renumber_list(conn, &list).await?;
        Ok(status_items_by_id(conn, &[id]).await?.remove(0))
    })
    .await
}

pub async fn update_status_item(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    input: ItemInput,
) -> DomainResult<StatusItem> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let old = status_items_by_id(conn, &[id])
            .await?
            .pop()
            .ok_or_else(|| DomainError::not_found(format!("status item `status:{id}`")))?;
        let name = match input.name.as_deref() {
            Some(n) => validate::name("name", n)?,
            None => old.name.clone(),
        };
        let semantics = semantics_of(input.semantics.as_deref())?.unwrap_or_else(|| old.semantics.clone());
        check_semantics_change(Some(&old.semantics), &semantics, has_semantics(&old.list_kind))?;
        if old.is_system && semantics != old.semantics {
            return Err(DomainError::bad_input("semantics", "system items keep their semantics"));
        }
        let color = match input.color {
            Some(c) => check_color(Some(c))?,
            None => old.color.clone(),
        };
        if input.code.is_some() {
            return Err(DomainError::bad_input("code", "codes do not change: elements and integrations refer to them"));
        }
        diesel::update(status_items::table.find(id))
            .set((
                status_items::name.eq(name),
                status_items::semantics.eq(&semantics),
                status_items::color.eq(color),
                status_items::sort.eq(input.sort.unwrap_or(old.sort)),
            ))
            .execute(conn)
            .await?;
        renumber_list(conn, &old.list_kind).await?;
        Ok(status_items_by_id(conn, &[id]).await?.remove(0))
    })
    .await
}

/// How many elements use a status item, per list.
async fn status_usage(conn: &mut AsyncPgConnection, item: &StatusItem) -> DomainResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let uses: &[(&str, &str)] = match item.list_kind.as_str() {
        "STATUS" => &[("leads", "status_id")],
        "SOURCE" => &[("leads", "source_id"), ("contacts", "source_id"), ("deals", "source_id")],
        "CONTACT_TYPE" => &[("contacts", "type_id")],
        "COMPANY_TYPE" => &[("companies", "type_id")],
        "INDUSTRY" => &[("companies", "industry_id")],
        "EMPLOYEES" => &[("companies", "employees_id")],
        "DEAL_TYPE" => &[("deals", "type_id")],
        "HONORIFIC" => &[("leads", "honorific"), ("contacts", "honorific")],
        _ => &[],
    };
    let mut total = 0;
    for (table, column) in uses {
        let mut q = crate::db::sql::Sql::new(format!("SELECT count(*) AS n FROM {table} WHERE {column} = "));
        if *column == "honorific" {
            q.bind(crate::db::sql::Bind::Text(item.code.clone()));
        } else {
            q.bind(crate::db::sql::Bind::Int8(item.id));
        }
        let n: N = q.get_result(conn).await?;
        total += n.n;
    }
    Ok(total)
}

pub async fn delete_status_item(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<i64> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let item = status_items_by_id(conn, &[id])
            .await?
            .pop()
            .ok_or_else(|| DomainError::not_found(format!("status item `status:{id}`")))?;
        if item.is_system {
            return Err(DomainError::conflict(
                format!("`{}` is a system item and cannot be deleted", item.code),
                serde_json::Value::Null,
            ));
        }
        let used = status_usage(conn, &item).await?;
        if used > 0 {
            return Err(DomainError::conflict(
                format!("`{}` is used by {used} element(s); move them to another item first", item.code),
                serde_json::json!({ "usedBy": used }),
            ));
        }
        diesel::delete(status_items::table.find(id)).execute(conn).await?;
        renumber_list(conn, &item.list_kind).await?;
        Ok(id)
    })
    .await
}

/// Checks that `ids` name each of `current` exactly once.
fn check_permutation(ids: &[i64], current: &[i64]) -> DomainResult<()> {
    let mut a = ids.to_vec();
    let mut b = current.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    if a != b {
        return Err(DomainError::bad_input("ids", "name every item of the list exactly once"));
    }
    Ok(())
}

pub async fn reorder_status_items(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    list: &str,
    ids: Vec<i64>,
) -> DomainResult<Vec<StatusItem>> {
    actor.rights.check_settings()?;
    check_list(list)?;
    let list = list.to_owned();
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let items = status_items(conn, &list).await?;
        check_permutation(&ids, &items.iter().map(|i| i.id).collect::<Vec<_>>())?;
        let ordered: Vec<&str> =
            ids.iter().filter_map(|id| items.iter().find(|i| i.id == *id)).map(|i| i.semantics.as_str()).collect();
        if has_semantics(&list) {
            check_semantic_order(&ordered).map_err(|m| DomainError::bad_input("ids", m))?;
        }
        for (i, id) in ids.iter().enumerate() {
            diesel::update(status_items::table.find(*id))
                .set(status_items::sort.eq(crate::kernel::limits::position_sort(i)))
                .execute(conn)
                .await?;
        }
        status_items(conn, &list).await
    })
    .await
}

/// Settings changes take turns, so two concurrent changes cannot break the order rule.
async fn lock_settings(conn: &mut AsyncPgConnection) -> DomainResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(7068265710)").execute(conn).await?;
    Ok(())
}

pub async fn create_pipeline(conn: &mut AsyncPgConnection, actor: &Actor, name: &str) -> DomainResult<Pipeline> {
    actor.rights.check_settings()?;
    let name = validate::name("name", name)?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let max: Option<i32> = pipelines::table.select(diesel::dsl::max(pipelines::sort)).first(conn).await?;
        let p: Pipeline = diesel::insert_into(pipelines::table)
            .values((
                pipelines::name.eq(name),
                pipelines::is_default.eq(false),
                pipelines::sort.eq(max.unwrap_or(0) + 10),
            ))
            .returning(Pipeline::as_returning())
            .get_result(conn)
            .await?;
        create_default_stages(conn, p.id).await?;
        Ok(p)
    })
    .await
}

fn pipeline_not_found(id: i64) -> DomainError {
    DomainError::not_found(format!("pipeline `pipeline:{id}`"))
}

pub async fn update_pipeline(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    name: Option<&str>,
    sort: Option<i32>,
) -> DomainResult<Pipeline> {
    actor.rights.check_settings()?;
    let old = pipelines_by_id(conn, &[id]).await?.pop().ok_or_else(|| pipeline_not_found(id))?;
    let name = match name {
        Some(n) => validate::name("name", n)?,
        None => old.name,
    };
    Ok(diesel::update(pipelines::table.find(id))
        .set((
            pipelines::name.eq(name),
            pipelines::sort.eq(sort.unwrap_or(old.sort)),
            pipelines::updated_at.eq(chrono::Utc::now()),
        ))
        .returning(Pipeline::as_returning())
        .get_result(conn)
        .await?)
}

async fn deals_in(conn: &mut AsyncPgConnection, column: &str, id: i64) -> DomainResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut q = crate::db::sql::Sql::new(format!("SELECT count(*) AS n FROM deals WHERE {column} = "));
    q.bind(crate::db::sql::Bind::Int8(id));
    let n: N = q.get_result(conn).await?;
    Ok(n.n)
}

pub async fn delete_pipeline(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<i64> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let p = pipelines_by_id(conn, &[id]).await?.pop().ok_or_else(|| pipeline_not_found(id))?;
        if p.is_default {
            return Err(DomainError::conflict("the default pipeline cannot be deleted", serde_json::Value::Null));
        }
        let deals = deals_in(conn, "pipeline_id", id).await?;
        if deals > 0 {
            return Err(DomainError::conflict(
                format!("the pipeline holds {deals} deal(s); move them first"),
                serde_json::json!({ "usedBy": deals }),
            ));
        }
        diesel::delete(pipelines::table.find(id)).execute(conn).await?;
        Ok(id)
    })
    .await
}

pub async fn set_default_pipeline(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<Pipeline> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        pipelines_by_id(conn, &[id]).await?.pop().ok_or_else(|| pipeline_not_found(id))?;
        diesel::update(pipelines::table.filter(pipelines::is_default.eq(true)))
            .set(pipelines::is_default.eq(false))
            .execute(conn)
            .await?;
        Ok(diesel::update(pipelines::table.find(id))
            .set((pipelines::is_default.eq(true), pipelines::updated_at.eq(chrono::Utc::now())))
            .returning(Pipeline::as_returning())
            .get_result(conn)
            .await?)
    })
    .await
}

fn check_probability(p: Option<i32>) -> DomainResult<Option<i32>> {
    match p {
        Some(p) if !(0..=100).contains(&p) => Err(DomainError::bad_input("probability", "`probability` is 0 to 100")),
        other => Ok(other),
    }
}

fn stage_not_found(id: i64) -> DomainError {
    DomainError::not_found(format!("stage `stage:{id}`"))
}

pub async fn create_stage(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    pipeline_id: i64,
    input: ItemInput,
) -> DomainResult<Stage> {
    actor.rights.check_settings()?;
    let name = validate::name("name", input.name.as_deref().unwrap_or_default())?;
    let code = match input.code.as_deref() {
        Some(c) => check_code(c)?,
        None => code_from(&name),
    };
    let semantics = semantics_of(input.semantics.as_deref())?.unwrap_or_else(|| PROCESS.to_owned());
    check_semantics_change(None, &semantics, true)?;
    let color = check_color(input.color)?;
    let probability = check_probability(input.probability)?.unwrap_or(if semantics == FAILURE { 0 } else { 50 });
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        pipelines_by_id(conn, &[pipeline_id]).await?.pop().ok_or_else(|| pipeline_not_found(pipeline_id))?;
        let id: i64 = diesel::insert_into(stages::table)
            .values((
                stages::pipeline_id.eq(pipeline_id),
                stages::code.eq(code),
                stages::name.eq(name),
                stages::sort.eq(input.sort.unwrap_or(i32::MAX)),
                stages::semantics.eq(semantics),
                stages::probability.eq(probability),
                stages::color.eq(color),
            ))
            .returning(stages::id)
            .get_result(conn)
            .await
            .map_err(unique_code)?;
        renumber_stages(conn, pipeline_id).await?;
        Ok(stages_by_id(conn, &[id]).await?.remove(0))
    })
    .await
}

pub async fn update_stage(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    input: ItemInput,
) -> DomainResult<Stage> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        // Locked: deals moving into it wait, so the count below stays true (see `stage`).
        let old = stages::table
            .find(id)
            .select(Stage::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| stage_not_found(id))?;
        let before = stages_of(conn, &[old.pipeline_id]).await?.remove(&old.pipeline_id).unwrap_or_default();
        let name = match input.name.as_deref() {
            Some(n) => validate::name("name", n)?,
            None => old.name.clone(),
        };
        let semantics = semantics_of(input.semantics.as_deref())?.unwrap_or_else(|| old.semantics.clone());
        check_semantics_change(Some(&old.semantics), &semantics, true)?;
        if input.code.is_some() {
            return Err(DomainError::bad_input("code", "codes do not change: integrations refer to them"));
        }
        if semantics != old.semantics {
            // Its deals are open or closed by the stage's kind; they would be left in the wrong state.
            let deals = deals_in(conn, "stage_id", id).await?;
            if deals > 0 {
                return Err(DomainError::conflict(
                    format!("the stage holds {deals} deal(s); move them before changing its semantics"),
                    serde_json::json!({ "usedBy": deals }),
                ));
            }
        }
        let color = match input.color {
            Some(c) => check_color(Some(c))?,
            None => old.color.clone(),
        };
        let probability = check_probability(input.probability)?.unwrap_or(old.probability);
        diesel::update(stages::table.find(id))
            .set((
                stages::name.eq(name),
                stages::semantics.eq(&semantics),
                stages::color.eq(color),
                stages::probability.eq(probability),
                stages::sort.eq(input.sort.unwrap_or(old.sort)),
            ))
            .execute(conn)
            .await?;
        renumber_stages(conn, old.pipeline_id).await?;
        let stages = stages_of(conn, &[old.pipeline_id]).await?.remove(&old.pipeline_id).unwrap_or_default();
        let order: Vec<&str> = stages.iter().map(|s| s.semantics.as_str()).collect();
        let before: Vec<&str> = before.iter().map(|s| s.semantics.as_str()).collect();
        check_stage_order(&before, &order).map_err(|m| DomainError::bad_input("semantics", m))?;
        Ok(stages_by_id(conn, &[id]).await?.remove(0))
    })
    .await
}

pub async fn delete_stage(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<i64> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        let stage = stages_by_id(conn, &[id]).await?.pop().ok_or_else(|| stage_not_found(id))?;
        let deals = deals_in(conn, "stage_id", id).await?;
        if deals > 0 {
            return Err(DomainError::conflict(
                format!("the stage holds {deals} deal(s); move them first"),
                serde_json::json!({ "usedBy": deals }),
            ));
        }
        let all = stages_of(conn, &[stage.pipeline_id]).await?.remove(&stage.pipeline_id).unwrap_or_default();
        let before: Vec<&str> = all.iter().map(|s| s.semantics.as_str()).collect();
        let order: Vec<&str> = all.iter().filter(|s| s.id != id).map(|s| s.semantics.as_str()).collect();
        check_stage_order(&before, &order).map_err(|m| {
            DomainError::conflict(format!("deleting this stage would break the pipeline: {m}"), serde_json::Value::Null)
        })?;
        diesel::delete(stages::table.find(id)).execute(conn).await?;
        Ok(id)
    })
    .await
}

pub async fn reorder_stages(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    pipeline_id: i64,
    ids: Vec<i64>,
) -> DomainResult<Vec<Stage>> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        lock_settings(conn).await?;
        pipelines_by_id(conn, &[pipeline_id]).await?.pop().ok_or_else(|| pipeline_not_found(pipeline_id))?;
        let stages = stages_of(conn, &[pipeline_id]).await?.remove(&pipeline_id).unwrap_or_default();
        check_permutation(&ids, &stages.iter().map(|s| s.id).collect::<Vec<_>>())?;
        let ordered: Vec<&str> =
            ids.iter().filter_map(|id| stages.iter().find(|s| s.id == *id)).map(|s| s.semantics.as_str()).collect();
        check_semantic_order(&ordered).map_err(|m| DomainError::bad_input("ids", m))?;
        for (i, id) in ids.iter().enumerate() {
            diesel::update(stages::table.find(*id))
                .set(stages::sort.eq(crate::kernel::limits::position_sort(i)))
                .execute(conn)
                .await?;
        }
        Ok(stages_of(conn, &[pipeline_id]).await?.remove(&pipeline_id).unwrap_or_default())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_semantic_order_rule() {
        assert!(check_semantic_order(&[PROCESS, PROCESS, SUCCESS, FAILURE, FAILURE]).is_ok());
        assert!(check_semantic_order(&[PROCESS, SUCCESS]).is_ok());
        assert!(check_semantic_order(&[SUCCESS, PROCESS, FAILURE]).is_err(), "SUCCESS before PROCESS");
        assert!(check_semantic_order(&[PROCESS, FAILURE, SUCCESS]).is_err(), "FAILURE before SUCCESS");
        assert!(check_semantic_order(&[PROCESS, FAILURE]).is_err(), "no SUCCESS");
        assert!(check_semantic_order(&[PROCESS, SUCCESS, SUCCESS]).is_err(), "two SUCCESS");
        assert!(check_semantic_order(&[SUCCESS, FAILURE]).is_err(), "no PROCESS");
        let full = [PROCESS, SUCCESS, FAILURE];
        assert!(check_stage_order(&full, &full).is_ok());
        assert!(check_stage_order(&full, &[PROCESS, SUCCESS]).is_err(), "the last FAILURE stage stays");
        assert!(check_stage_order(&[PROCESS, SUCCESS], &[PROCESS, SUCCESS]).is_ok(), "older pipelines still change");
    }

    #[test]
    fn renumbering_groups_by_semantics_and_keeps_order_within() {
        let mut items = vec![
            (1, FAILURE.to_owned(), 10),
            (2, PROCESS.to_owned(), 30),
            (3, SUCCESS.to_owned(), 20),
            (4, PROCESS.to_owned(), 5),
            (5, PROCESS.to_owned(), i32::MAX),
        ];
        assert_eq!(renumber(&mut items), vec![(4, 10), (2, 20), (5, 30), (3, 40), (1, 50)]);
    }

    #[test]
    fn codes_from_names() {
        assert_eq!(code_from("Waiting for payment"), "WAITING_FOR_PAYMENT");
        assert_eq!(code_from("  B2B / Partner!  "), "B2B_PARTNER");
        assert_eq!(code_from("ßß"), "ITEM");
    }
}

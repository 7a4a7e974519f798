//! CSV files over HTTP: the failed rows of an import, ready to fix and import again, and
//! exports of leads, contacts, companies and deals.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::import::job;
use crate::kernel::DomainError;
use crate::kernel::ids::{self, IdKind};

/// `GET /imports/{id}/errors.csv`: the file's header plus an `error` column, then each failed
/// row as it was in the file with its message. The job's owner or an administrator only.
pub async fn errors_csv(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    match errors(&state, &id, &headers).await {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"import-{id}-errors.csv\"")),
            ],
            body,
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

async fn errors(state: &AppState, raw_id: &str, headers: &HeaderMap) -> Result<Vec<u8>, DomainError> {
    let actor = super::graphql::authenticate(state, headers).await?;
    let id = ids::decode_lookup(IdKind::ImportJob, raw_id.trim_start_matches("import:"))?;
    let mut conn = state.pool.get().await?;
    let found = job::get(&mut conn, id).await?;
    let Some(j) = found.filter(|j| j.visible_to(&actor)) else {
        return Err(DomainError::NotFound(format!("import `{raw_id}` not found")));
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = serde_json::from_value(j.headers.clone()).unwrap_or_default();
    header.push("error".into());
    out.write_record(&header).map_err(anyhow::Error::from)?;
    let mut after = 0;
    loop {
        let page = job::errors(&mut conn, id, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.row_number;
        for e in page {
            let mut cells: Vec<String> = serde_json::from_value(e.raw).unwrap_or_default();
            cells.resize(header.len() - 1, String::new());
            cells.push(format!("row {}: {}", e.row_number, e.message));
            out.write_record(&cells).map_err(anyhow::Error::from)?;
        }
    }
    Ok(out.into_inner().map_err(|e| anyhow::anyhow!(e.to_string()))?)
}

/// `GET /export/{leads|contacts|companies|deals}.csv?filter=<JSON>&bom=1`: every row the
/// caller may read that matches the filter (the list's filter argument, as JSON). Needs the
/// EXPORT right. `bom=1` starts the file with a UTF-8 byte order mark, which Excel needs to
/// read it as UTF-8.
pub async fn export_csv(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match export(&state, &file, &params, &headers).await {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            ],
            body,
        )
            .into_response(),
        Err(e) => failure(e),
    }
}

fn failure(e: DomainError) -> Response {
    let status = match e.code() {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    e.log_internal("csv file");
    (status, e.message()).into_response()
}

async fn export(
    state: &AppState,
    file: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Vec<u8>, DomainError> {
    let actor = super::graphql::authenticate(state, headers).await?;
    let element = match file {
        "leads.csv" => crate::kernel::ElementType::Lead,
        "contacts.csv" => crate::kernel::ElementType::Contact,
        "companies.csv" => crate::kernel::ElementType::Company,
        "deals.csv" => crate::kernel::ElementType::Deal,
        _ => return Err(DomainError::NotFound(format!("`/export/{file}`: leads, contacts, companies or deals.csv"))),
    };
    let filter = match params.get("filter").filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => Some(
            serde_json::from_str(f)
                .map_err(|e| DomainError::bad_input("filter", format!("the filter is not JSON: {e}")))?,
        ),
    };
    let region = state.settings.phone_region;
    let mut conn = state.pool.get().await?;
    let mut bytes = Vec::new();
    if params.get("bom").is_some_and(|b| b == "1" || b == "true") {
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut out = csv::Writer::from_writer(bytes);
    crate::import::export::export(&mut conn, &actor, element, filter, region, &mut out).await?;
    Ok(out.into_inner().map_err(|e| anyhow::anyhow!(e.to_string()))?)
}

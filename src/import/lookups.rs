//! What a file names by words (a status "In Arbeit", an assignee's e-mail, a stage) turned
//! into the ids the API takes; read once per job.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::kernel::ElementType;
use crate::kernel::error::DomainResult;
use crate::kernel::ids::{self, IdKind};

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Ids by (scope, lower-case word): status items by list and code or name, users by e-mail
/// or name, pipelines by name, stages by code or name.
pub struct Lookups {
    by_word: HashMap<(String, String), i64>,
}

const SQL: &str = "SELECT list_kind AS scope, lower(code) AS key, id FROM status_items \
     UNION ALL SELECT list_kind, lower(name), id FROM status_items \
     UNION ALL SELECT 'USER', lower(email), id FROM users WHERE active \
     UNION ALL SELECT 'USER', lower(name), id FROM users WHERE active \
     UNION ALL SELECT 'PIPELINE', lower(name), id FROM pipelines \
     UNION ALL SELECT 'STAGE', lower(code), id FROM stages \
     UNION ALL SELECT 'STAGE', lower(name), id FROM stages";

impl Lookups {
    pub async fn load(conn: &mut AsyncPgConnection) -> DomainResult<Lookups> {
        let rows: Vec<Named> = diesel::sql_query(SQL).load(conn).await?;
        let mut by_word = HashMap::new();
        for r in rows {
            // The first spelling wins (codes before names, as the query lists them).
            by_word.entry((r.scope, r.key)).or_insert(r.id);
        }
        Ok(Lookups { by_word })
    }

    /// The id a reference field's cell names, as the API's id text; Err with a message when
    /// it names nothing. Cells that already are ids pass through.
    pub fn resolve(&self, element: ElementType, field: &str, cell: &str) -> Result<String, String> {
        let Some((scope, kind, what)) = scope_of(element, field) else {
            return Ok(cell.to_owned());
        };
        if let Some((prefix, n)) = ids::parse_any(cell)
            && prefix.is_none_or(|p| p == kind)
        {
            return Ok(ids::encode(kind, n));
        }
        self.by_word
            .get(&(scope.to_owned(), cell.trim().to_lowercase()))
            .map(|id| ids::encode(kind, *id))
            .ok_or_else(|| format!("unknown {what} `{cell}`"))
    }
}

/// Which words a reference field takes: the lookup scope, its id kind and what to call it.
fn scope_of(element: ElementType, field: &str) -> Option<(&'static str, IdKind, &'static str)> {
    let status = |list| Some((list, IdKind::StatusItem, "status item"));
    match field {
        "statusId" => Some(("STATUS", IdKind::StatusItem, "status")),
        "sourceId" => Some(("SOURCE", IdKind::StatusItem, "source")),
        "industryId" => status("INDUSTRY"),
        "employeesId" => status("EMPLOYEES"),
        "typeId" => match element {
            ElementType::Contact => status("CONTACT_TYPE"),
            ElementType::Company => status("COMPANY_TYPE"),
            ElementType::Deal => status("DEAL_TYPE"),
            ElementType::Lead => None,
        },
        "assignedToId" => Some(("USER", IdKind::User, "user")),
        "pipelineId" => Some(("PIPELINE", IdKind::Pipeline, "pipeline")),
        "stageId" => Some(("STAGE", IdKind::Stage, "stage")),
        _ => None,
    }
}

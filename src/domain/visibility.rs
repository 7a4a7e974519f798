//! The one place that decides which elements an actor may read. Every read of elements
//! (single, list, totalCount, nested relation, search, duplicates, reports, history)
//! appends this predicate to its SQL, and every pushed event passes `can_read`; both come
//! from the actor's roles (`permissions`).

use super::ElementType;
use super::actor::Actor;
use super::permissions::{Action, Facts};
use crate::db::sql::Sql;

/// SQL predicate over the element table aliased `alias` that is true for the rows `actor`
/// may read.
pub fn element_predicate(actor: &Actor, element: ElementType, alias: &str) -> Sql {
    actor.rights.read_predicate(element, alias)
}

/// Predicate over timeline entries aliased `alias`: an entry is readable when its element is.
pub fn timeline_predicate(actor: &Actor, alias: &str) -> Sql {
    if actor.rights.admin {
        return Sql::new("TRUE");
    }
    let parts: Vec<Sql> = ElementType::ALL
        .into_iter()
        .map(|et| {
            let mut s = Sql::new(format!(
                "({alias}.element_type = '{e}' AND EXISTS (SELECT 1 FROM {table} o WHERE o.id = {alias}.element_id AND ",
                e = et.as_str(),
                table = et.table()
            ));
            s.append(&element_predicate(actor, et, "o")).push("))");
            s
        })
        .collect();
    let mut s = Sql::new("(");
    s.append(&Sql::join(&parts, " OR ", "FALSE")).push(")");
    s
}

/// The same decision as `element_predicate`, for an event about an element, made in memory
/// from the event's payload (subscriptions filter every event with it).
pub fn can_read(actor: &Actor, element: ElementType, payload: &serde_json::Value) -> bool {
    let row = payload.get("element").unwrap_or(&serde_json::Value::Null);
    actor.rights.allows(element, Action::Read, &Facts::of(row))
}

/// Whether `actor` may read one stored element (events whose payload is not the element,
/// like history entries, are checked this way). Roles that read everything need no query.
pub async fn can_read_stored(
    conn: &mut diesel_async::AsyncPgConnection,
    actor: &Actor,
    element: ElementType,
    id: i64,
) -> super::DomainResult<bool> {
    let predicate = element_predicate(actor, element, "t");
    if predicate == Sql::new("TRUE") {
        return Ok(true);
    }
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut q = Sql::new(format!("SELECT count(*) AS n FROM {} t WHERE t.id = ", element.table()));
    q.bind(crate::db::sql::Bind::Int8(id)).push(" AND ").append(&predicate);
    let found: Found = diesel_async::RunQueryDsl::get_result(q, conn).await?;
    Ok(found.n > 0)
}

//! Lead channels: web forms and the website widget (`forms`), calls reported by a telephone
//! system (`calls`), incoming e-mail (`mail`). Each turns what arrives from outside into leads
//! and activities through the same write pipeline as the API.

pub mod calls;
pub mod forms;
pub mod mail;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::kernel::{DomainResult, ElementRef};

#[derive(QueryableByName)]
struct Assignee {
    #[diesel(sql_type = Nullable<BigInt>)]
    assigned_to_id: Option<i64>,
}

/// Who is responsible for an element a channel matched (the matching applied the caller's
/// visibility already): a call or an e-mail goes to them.
pub(crate) async fn assignee_of(conn: &mut AsyncPgConnection, element: ElementRef) -> DomainResult<Option<i64>> {
    let rows: Vec<Assignee> =
        diesel::sql_query(format!("SELECT assigned_to_id FROM {} WHERE id = $1", element.element_type.table()))
            .bind::<BigInt, _>(element.id)
            .load(conn)
            .await?;
    Ok(rows.into_iter().next().and_then(|r| r.assigned_to_id))
}

//! Notifications in PostgreSQL (`notifications`). A notification is written in the
//! transaction of the change that causes it, together with its outbox event
//! (`notificationAdded`) and a COUNTERS event for its recipient (`unreadNotifications`).

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::rules::{self, Kind};
use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementRef;
use crate::kernel::access::permissions::Action;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::EventAction;
use crate::org::auth;

#[derive(QueryableByName, Clone, Debug, Serialize, Deserialize)]
pub struct NotificationRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub body: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub element_type: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub element_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub actor_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub tag: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub read_at: Option<DateTime<Utc>>,
}

/// A notification to write.
#[derive(Clone, Debug)]
pub struct New {
    pub user_id: i64,
    pub kind: Kind,
    pub title: String,
    pub body: Option<String>,
    /// What it is about; the recipient must be able to read it.
    pub element: Option<ElementRef>,
    /// Who caused it; `None` for what no user did (a deadline, a visitor, a finished job).
    pub actor_id: Option<i64>,
    /// An unread notification with the same tag is replaced.
    pub tag: Option<String>,
}

/// Whether the recipient may read the element now (inside the writing transaction, so
/// the element's state is the one being committed).
async fn may_read(conn: &mut AsyncPgConnection, user_id: i64, element: ElementRef) -> DomainResult<bool> {
    let recipient = match auth::actor_for_user(conn, user_id).await {
        Ok(a) => a,
        // A deactivated or unknown user is told nothing.
        Err(DomainError::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let et = element.element_type;
    let facts = crate::events::facts::of_elements(conn, et, vec![element.id]).await?;
    Ok(facts.iter().any(|(_, f)| recipient.rights.allows(et, Action::Read, f)))
}

/// Writes a notification unless its recipient caused it or may not read what it is about.
pub async fn notify(conn: &mut AsyncPgConnection, n: New) -> DomainResult<Option<NotificationRow>> {
    if !rules::tells(n.user_id, n.actor_id) {
        return Ok(None);
    }
    let readable = match n.element {
        Some(e) => may_read(conn, n.user_id, e).await?,
        None => auth::actor_for_user(conn, n.user_id).await.is_ok(),
    };
    if !readable {
        return Ok(None);
    }
    if let Some(tag) = &n.tag {
        let mut q = Sql::new("DELETE FROM notifications WHERE read_at IS NULL AND user_id = ");
        q.bind(Bind::Int8(n.user_id)).push(" AND tag = ").bind(Bind::Text(tag.clone()));
        q.execute(conn).await?;
    }
    let mut q = Sql::new(
        "INSERT INTO notifications (user_id, kind, title, body, element_type, element_id, actor_id, tag) VALUES (",
    );
    q.bind(Bind::Int8(n.user_id)).push(", ").bind(Bind::Text(n.kind.as_str().into())).push(", ");
    q.bind(Bind::Text(n.title)).push(", NULLIF(").bind(Bind::Text(n.body.unwrap_or_default())).push(", ''), NULLIF(");
    q.bind(Bind::Text(n.element.map(|e| e.element_type.as_str().to_owned()).unwrap_or_default()))
        .push(", ''), NULLIF(");
    q.bind(Bind::Int8(n.element.map_or(0, |e| e.id))).push(", 0), NULLIF(");
    q.bind(Bind::Int8(n.actor_id.unwrap_or(0))).push(", 0), NULLIF(");
    q.bind(Bind::Text(n.tag.unwrap_or_default())).push(", '')) RETURNING *");
    let mut rows: Vec<NotificationRow> = q.load(conn).await?;
    let row = rows.pop().ok_or_else(|| anyhow::anyhow!("insert returned no notification"))?;
    announce(conn, &row).await?;
    Ok(Some(row))
}

/// The outbox events of a new notification: its own, then its recipient's counters.
async fn announce(conn: &mut AsyncPgConnection, row: &NotificationRow) -> DomainResult<()> {
    let payload = serde_json::to_string(row).map_err(anyhow::Error::from)?;
    let mut q = Sql::new("INSERT INTO events (element_type, element_id, action, payload, actor_id) VALUES ('USER', ");
    q.bind(Bind::Int8(row.user_id)).push(", ").bind(Bind::Text(EventAction::Notification.as_str().into()));
    q.push(", ").bind(Bind::Jsonb(crate::db::sql::JsonText(payload))).push(", NULLIF(");
    q.bind(Bind::Int8(row.actor_id.unwrap_or(0))).push(", 0)), ('USER', 0, ");
    q.bind(Bind::Text(EventAction::Counters.as_str().into())).push(", jsonb_build_object('users', ARRAY[");
    q.bind(Bind::Int8(row.user_id)).push("]::bigint[]), NULL)");
    q.execute(conn).await?;
    Ok(())
}

/// A user's notifications, newest first; `after` is the id of the last one seen.
pub async fn page(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    unread_only: bool,
    after: Option<i64>,
    limit: i64,
) -> DomainResult<Vec<NotificationRow>> {
    let mut q = Sql::new("SELECT * FROM notifications WHERE user_id = ");
    q.bind(Bind::Int8(user_id));
    if unread_only {
        q.push(" AND read_at IS NULL");
    }
    if let Some(a) = after {
        q.push(" AND id < ").bind(Bind::Int8(a));
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(Bind::Int8(limit));
    Ok(q.load(conn).await?)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub async fn count(conn: &mut AsyncPgConnection, user_id: i64, unread_only: bool) -> DomainResult<i64> {
    let mut q = Sql::new("SELECT count(*) AS n FROM notifications WHERE user_id = ");
    q.bind(Bind::Int8(user_id));
    if unread_only {
        q.push(" AND read_at IS NULL");
    }
    let c: Count = q.get_result(conn).await?;
    Ok(c.n)
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Option<NotificationRow>> {
    let mut q = Sql::new("SELECT * FROM notifications WHERE id = ");
    q.bind(Bind::Int8(id));
    let mut rows: Vec<NotificationRow> = q.load(conn).await?;
    Ok(rows.pop())
}

/// Marks the user's notifications read (`ids`, or all); says how many changed (already read
/// ones do not count). An id that is not one of the user's is NOT_FOUND. The recipient's
/// counters move with it.
pub async fn mark_read(conn: &mut AsyncPgConnection, user_id: i64, ids: Option<Vec<i64>>) -> DomainResult<i64> {
    if let Some(ids) = &ids {
        // Another user's notification is not revealed, and none of the list is marked.
        let mut q = Sql::new("SELECT count(DISTINCT id) AS n FROM notifications WHERE user_id = ");
        q.bind(Bind::Int8(user_id)).push(" AND id = ANY(").bind(Bind::Int8s(ids.clone())).push(")");
        let mine: Count = q.get_result(conn).await?;
        let mut wanted = ids.clone();
        wanted.sort_unstable();
        wanted.dedup();
        if usize::try_from(mine.n).unwrap_or(0) != wanted.len() {
            return Err(DomainError::not_found("a notification in `ids`"));
        }
    }
    let mut q =
        Sql::new("WITH changed AS (UPDATE notifications SET read_at = now() WHERE read_at IS NULL AND user_id = ");
    q.bind(Bind::Int8(user_id));
    if let Some(ids) = ids {
        q.push(" AND id = ANY(").bind(Bind::Int8s(ids)).push(")");
    }
    q.push(
        " RETURNING 1), ev AS (INSERT INTO events (element_type, element_id, action, payload) \
         SELECT 'USER', 0, ",
    );
    q.bind(Bind::Text(EventAction::Counters.as_str().into())).push(", jsonb_build_object('users', ARRAY[");
    q.bind(Bind::Int8(user_id))
        .push("]::bigint[]) WHERE EXISTS (SELECT 1 FROM changed)) SELECT count(*) AS n FROM changed");
    let c: Count = q.get_result(conn).await?;
    Ok(c.n)
}

/// Deletes read notifications older than `before`.
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> DomainResult<usize> {
    let mut q = Sql::new("DELETE FROM notifications WHERE read_at IS NOT NULL AND read_at < ");
    q.bind(Bind::Ts(before));
    Ok(q.execute(conn).await?)
}

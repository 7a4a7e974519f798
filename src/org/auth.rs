//! Users and API tokens. A token is shown once; only its SHA-256 is stored, so a leaked
//! database does not leak working credentials.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::schema::{api_tokens, users};
use crate::db::sql::{Bind, Sql};
use crate::kernel::ElementType;
use crate::kernel::access::permissions::{Action, Grant, Level, Rights};
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::User;
use crate::kernel::validate;

const TOKEN_PREFIX: &str = "kontor_";

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Creates a token for `user_id` and returns it with its id; this is the only time the
/// token is visible.
pub async fn create_token(conn: &mut AsyncPgConnection, user_id: i64, name: &str) -> DomainResult<(String, i64)> {
    let token = new_token();
    let id = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(hash_token(&token)),
        ))
        .returning(api_tokens::id)
        .get_result(conn)
        .await?;
    Ok((token, id))
}

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = BigInt)]
    token_id: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<chrono::DateTime<Utc>>,
    #[diesel(embed)]
    user: User,
    #[diesel(sql_type = Bool)]
    settings: bool,
    #[diesel(sql_type = Jsonb)]
    grants: serde_json::Value,
    #[diesel(sql_type = Array<BigInt>)]
    department_users: Vec<i64>,
    #[diesel(sql_type = Array<BigInt>)]
    subtree_users: Vec<i64>,
}

// The token, its user and the user's rights (role lines, department and department tree
// members) in one statement, so permissions cost no extra round trip per request.
static TOKEN_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT t.id AS token_id, t.last_used_at, {USER_RIGHTS} \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = decode("
    )
});

/// A user acting without a token (a web form submits as the user who made it).
static USER_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT 0::bigint AS token_id, NULL::timestamptz AS last_used_at, {USER_RIGHTS} FROM users u WHERE u.active AND u.id = "
    )
});

const USER_RIGHTS: &str = "u.*,
    coalesce((SELECT bool_or(r.settings) FROM user_roles ur JOIN roles r ON r.id = ur.role_id
              WHERE ur.user_id = u.id), false) AS settings,
    coalesce((SELECT jsonb_agg(jsonb_build_array(rp.role_id, rp.element_type, rp.pipeline_id, rp.action, rp.level))
              FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
              WHERE ur.user_id = u.id), '[]') AS grants,
    coalesce((SELECT array_agg(x.id) FROM users x WHERE x.department_id = u.department_id), '{}') AS department_users,
    coalesce((WITH RECURSIVE tree AS (
                  SELECT u.department_id AS id
                  UNION SELECT d.id FROM departments d JOIN tree ON d.parent_id = tree.id)
              SELECT array_agg(x.id) FROM users x WHERE x.department_id IN (SELECT id FROM tree)), '{}') AS subtree_users";

fn grants(json: &serde_json::Value) -> Vec<Grant> {
    let lines = json.as_array().map(Vec::as_slice).unwrap_or_default();
    lines
        .iter()
        .filter_map(|l| {
            Some(Grant {
                role_id: l.get(0)?.as_i64()?,
                element_type: ElementType::parse(l.get(1)?.as_str()?)?,
                pipeline_id: l.get(2).and_then(serde_json::Value::as_i64),
                action: Action::parse(l.get(3)?.as_str()?)?,
                level: Level::parse(l.get(4)?.as_str()?)?,
            })
        })
        .collect()
}

/// Resolves a bearer token to the acting user and their rights. Unknown, revoked and
/// deactivated-user tokens are all the same UNAUTHENTICATED, so the answer reveals nothing.
pub async fn actor_for_token(conn: &mut AsyncPgConnection, token: &str) -> DomainResult<Actor> {
    let unauthenticated = || DomainError::Unauthenticated("invalid or revoked API token".into());
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Err(unauthenticated());
    }
    // Through `Sql`, whose prepared statement is cached: planning this statement costs more
    // than running it, and it runs on every request.
    let mut q = Sql::new(TOKEN_SQL.as_str());
    q.bind(Bind::Text(hex::encode(hash_token(token)))).push(", 'hex') AND t.revoked_at IS NULL AND u.active");
    let rows: Vec<TokenRow> = q.load(conn).await?;
    let row = rows.into_iter().next().ok_or_else(unauthenticated)?;
    // Recording every use would turn each read into a write; minute precision is enough.
    if row.last_used_at.is_none_or(|t| Utc::now() - t > Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(row.token_id))
            .set(api_tokens::last_used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
    }
    Ok(actor_of(row))
}

/// The active user `id` as an actor with their rights, or NOT_FOUND.
pub async fn actor_for_user(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Actor> {
    let mut q = Sql::new(USER_SQL.as_str());
    q.bind(Bind::Int8(id));
    let rows: Vec<TokenRow> = q.load(conn).await?;
    let row = rows.into_iter().next().ok_or_else(|| DomainError::not_found(format!("active user {id}")))?;
    Ok(actor_of(row))
}

fn actor_of(row: TokenRow) -> Actor {
    let user = row.user;
    let rights = Rights {
        user_id: user.id,
        admin: user.is_admin,
        settings: row.settings,
        grants: grants(&row.grants),
        department_users: row.department_users,
        subtree_users: row.subtree_users,
    };
    Actor {
        user_id: user.id,
        email: user.email,
        is_admin: user.is_admin,
        department_id: user.department_id,
        time_zone: user.time_zone,
        rights: rights.shared(),
    }
}

/// Finds the user with `email` or creates it; `admin` promotes an existing user too.
pub async fn ensure_user(conn: &mut AsyncPgConnection, email: &str, admin: bool) -> DomainResult<User> {
    let email = validate::email("email", email)?;
    let existing: Option<User> = users::table
        .filter(diesel::dsl::sql::<Bool>("lower(email) = ").bind::<diesel::sql_types::Text, _>(&email))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?;
    match existing {
        Some(u) if admin && !u.is_admin => Ok(diesel::update(users::table.find(u.id))
            .set((users::is_admin.eq(true), users::updated_at.eq(Utc::now())))
            .returning(User::as_returning())
            .get_result(conn)
            .await?),
        Some(u) => Ok(u),
        None => {
            let name = email.split('@').next().unwrap_or("user").to_owned();
            let user = diesel::insert_into(users::table)
                .values((users::email.eq(&email), users::name.eq(name), users::is_admin.eq(admin)))
                .returning(User::as_returning())
                .get_result(conn)
                .await?;
            crate::org::rules::give_default_roles(conn, user.id).await?;
            Ok(user)
        }
    }
}

/// On a fresh installation creates the first administrator and returns its token.
pub async fn bootstrap_admin(conn: &mut AsyncPgConnection) -> DomainResult<Option<(User, String)>> {
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        // Two servers starting at once must not both create an admin.
        diesel::sql_query("LOCK TABLE users IN EXCLUSIVE MODE").execute(conn).await?;
        let count: i64 = users::table.count().get_result(conn).await?;
        if count > 0 {
            return Ok(None);
        }
        let admin = ensure_user(conn, "admin@kontor.local", true).await?;
        let admin = diesel::update(users::table.find(admin.id))
            .set(users::name.eq("Administrator"))
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        let (token, _) = create_token(conn, admin.id, "bootstrap").await?;
        Ok(Some((admin, token)))
    })
    .await
}

pub async fn users_by_id(conn: &mut AsyncPgConnection, ids: &[i64]) -> DomainResult<Vec<User>> {
    Ok(users::table.filter(users::id.eq_any(ids)).select(User::as_select()).load(conn).await?)
}

/// Checks that `id` is an active user, reporting against `field`.
pub async fn check_user(conn: &mut AsyncPgConnection, id: i64, field: &str) -> DomainResult<()> {
    crate::kernel::memo::cached(|| format!("user:{id}"), async {
        let n: i64 =
            users::table.filter(users::id.eq(id)).filter(users::active.eq(true)).count().get_result(conn).await?;
        if n == 0 {
            return Err(DomainError::bad_input(field, format!("`{field}` names no active user")));
        }
        Ok(())
    })
    .await
}

/// `kontor token create`: ensures the user and returns a new token for it.
pub async fn cli_token(database_url: &str, email: &str, admin: bool, name: &str) -> anyhow::Result<String> {
    use diesel_async::AsyncConnection;
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let user = ensure_user(&mut conn, email, admin).await.map_err(DomainError::into_anyhow)?;
    let (token, _) = create_token(&mut conn, user.id, name).await.map_err(DomainError::into_anyhow)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(&a).len(), 32);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}

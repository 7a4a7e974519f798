//! The organisation: users, departments, API tokens and roles. Changing any of it needs the
//! settings right, except a user's own tokens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::{Action, Level};
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::models::{Department, User};
use crate::kernel::{ElementType, ids, validate};
use crate::org::auth;

#[derive(QueryableByName, Clone, Debug)]
pub struct Role {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Bool)]
    pub settings: bool,
    #[diesel(sql_type = Bool)]
    pub is_default: bool,
}

#[derive(QueryableByName, Clone, Debug)]
pub struct PermissionLine {
    #[diesel(sql_type = BigInt)]
    pub role_id: i64,
    #[diesel(sql_type = Text)]
    pub element_type: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub pipeline_id: Option<i64>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub level: String,
}

/// One permission to set on a role.
#[derive(Clone, Debug)]
pub struct NewLine {
    pub element_type: ElementType,
    pub pipeline_id: Option<i64>,
    pub action: Action,
    pub level: Level,
}

#[derive(QueryableByName, Clone, Debug)]
pub struct ApiToken {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub revoked_at: Option<DateTime<Utc>>,
}

fn not_found(kind: ids::IdKind, id: i64) -> DomainError {
    DomainError::not_found(format!("`{}`", ids::encode(kind, id)))
}

// ---- roles -------------------------------------------------------------------------------

pub async fn roles(conn: &mut AsyncPgConnection) -> DomainResult<Vec<Role>> {
    Ok(Sql::new("SELECT id, name, settings, is_default FROM roles ORDER BY id").load(conn).await?)
}

pub async fn role(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Role> {
    let mut q = Sql::new("SELECT id, name, settings, is_default FROM roles WHERE id = ");
    q.bind(Bind::Int8(id));
    let rows: Vec<Role> = q.load(conn).await?;
    rows.into_iter().next().ok_or_else(|| not_found(ids::IdKind::Role, id))
}

pub async fn role_lines(conn: &mut AsyncPgConnection, role_ids: &[i64]) -> DomainResult<Vec<PermissionLine>> {
    let mut q =
        Sql::new("SELECT role_id, element_type, pipeline_id, action, level FROM role_permissions WHERE role_id = ANY(");
    q.bind(Bind::Int8s(role_ids.to_vec())).push(") ORDER BY role_id, element_type, pipeline_id NULLS FIRST, action");
    Ok(q.load(conn).await?)
}

/// The roles of each of `user_ids`, as (user id, role).
pub async fn roles_of(conn: &mut AsyncPgConnection, user_ids: &[i64]) -> DomainResult<Vec<(i64, Role)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        user_id: i64,
        #[diesel(embed)]
        role: Role,
    }
    let mut q = Sql::new(
        "SELECT ur.user_id, r.id, r.name, r.settings, r.is_default FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         WHERE ur.user_id = ANY(",
    );
    q.bind(Bind::Int8s(user_ids.to_vec())).push(") ORDER BY ur.user_id, r.id");
    let rows: Vec<Row> = q.load(conn).await?;
    Ok(rows.into_iter().map(|r| (r.user_id, r.role)).collect())
}

/// Creates a role (no rights until `set_permissions`).
pub async fn create_role(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    role_name: &str,
    settings: bool,
    is_default: bool,
) -> DomainResult<Role> {
    actor.rights.check_settings()?;
    let role_name = validate::name("name", role_name)?;
    let mut q = Sql::new("INSERT INTO roles (name, settings, is_default) VALUES (");
    q.bind(Bind::Text(role_name))
        .push(", ")
        .bind(Bind::Bool(settings))
        .push(", ")
        .bind(Bind::Bool(is_default))
        .push(") RETURNING id, name, settings, is_default");
    q.get_result(conn).await.map_err(DomainError::from)
}

pub async fn update_role(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    role_name: Option<&str>,
    settings: Option<bool>,
    is_default: Option<bool>,
) -> DomainResult<Role> {
    actor.rights.check_settings()?;
    let old = role(conn, id).await?;
    let role_name = match role_name {
        Some(n) => validate::name("name", n)?,
        None => old.name,
    };
    let mut q = Sql::new("UPDATE roles SET name = ");
    q.bind(Bind::Text(role_name))
        .push(", settings = ")
        .bind(Bind::Bool(settings.unwrap_or(old.settings)))
        .push(", is_default = ")
        .bind(Bind::Bool(is_default.unwrap_or(old.is_default)))
        .push(", updated_at = now() WHERE id = ")
        .bind(Bind::Int8(id))
        .push(" RETURNING id, name, settings, is_default");
    q.get_result(conn).await.map_err(DomainError::from)
}

pub async fn delete_role(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<i64> {
    actor.rights.check_settings()?;
    role(conn, id).await?;
    let mut q = Sql::new("DELETE FROM roles WHERE id = ");
    q.bind(Bind::Int8(id));
    q.execute(conn).await?;
    Ok(id)
}

/// Replaces every line of a role. Pipelines apply to deals only; one line per element type,
/// pipeline and action.
pub async fn set_permissions(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    role_id: i64,
    lines: Vec<NewLine>,
) -> DomainResult<Role> {
    actor.rights.check_settings()?;
    crate::kernel::limits::check_len("permissions", lines.len(), crate::kernel::limits::MAX_PERMISSION_LINES)?;
    let mut seen = std::collections::HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        if l.pipeline_id.is_some() && l.element_type != ElementType::Deal {
            return Err(DomainError::bad_input(
                format!("permissions[{i}].pipelineId"),
                "only deal permissions can name a pipeline",
            ));
        }
        if !seen.insert((l.element_type, l.pipeline_id, l.action)) {
            return Err(DomainError::bad_input(
                format!("permissions[{i}]"),
                "the same element type, pipeline and action appear twice",
            ));
        }
    }
    conn.transaction(async move |conn| {
        let role = role(conn, role_id).await?;
        for (i, l) in lines.iter().enumerate() {
            if let Some(p) = l.pipeline_id {
                crate::settings::rules::pipeline(conn, p, &format!("permissions[{i}].pipelineId")).await?;
            }
        }
        let mut q = Sql::new("DELETE FROM role_permissions WHERE role_id = ");
        q.bind(Bind::Int8(role_id));
        q.execute(conn).await?;
        if !lines.is_empty() {
            // 0 in the pipeline array stands for "every pipeline" (stored as NULL).
            let mut q = Sql::new(
                "INSERT INTO role_permissions (role_id, element_type, pipeline_id, action, level) \
                 SELECT ",
            );
            q.bind(Bind::Int8(role_id))
                .push(", l.element_type, NULLIF(l.pipeline_id, 0), l.action, l.level FROM unnest(")
                .bind(Bind::Texts(lines.iter().map(|l| l.element_type.as_str().to_owned()).collect()))
                .push("::text[], ")
                .bind(Bind::Int8s(lines.iter().map(|l| l.pipeline_id.unwrap_or(0)).collect()))
                .push("::bigint[], ")
                .bind(Bind::Texts(lines.iter().map(|l| l.action.as_str().to_owned()).collect()))
                .push("::text[], ")
                .bind(Bind::Texts(lines.iter().map(|l| l.level.as_str().to_owned()).collect()))
                .push("::text[]) AS l(element_type, pipeline_id, action, level)");
            q.execute(conn).await?;
        }
        Ok(role)
    })
    .await
}

/// Replaces a user's roles.
pub async fn assign_roles(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    user_id: i64,
    role_ids: Vec<i64>,
) -> DomainResult<User> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        let user = user(conn, user_id).await?;
        // As in `update_user`: the settings right does not reach administrators.
        if user.is_admin && !actor.is_admin {
            return Err(DomainError::Forbidden("only administrators change an administrator".into()));
        }
        check_roles(conn, &role_ids).await?;
        set_roles(conn, user_id, &role_ids).await?;
        Ok(user)
    })
    .await
}

async fn set_roles(conn: &mut AsyncPgConnection, user_id: i64, role_ids: &[i64]) -> DomainResult<()> {
    let mut q = Sql::new("DELETE FROM user_roles WHERE user_id = ");
    q.bind(Bind::Int8(user_id));
    q.execute(conn).await?;
    let mut q = Sql::new("INSERT INTO user_roles (user_id, role_id) SELECT ");
    q.bind(Bind::Int8(user_id))
        .push(", r FROM unnest(")
        .bind(Bind::Int8s(role_ids.to_vec()))
        .push("::bigint[]) r ON CONFLICT DO NOTHING");
    q.execute(conn).await?;
    Ok(())
}

/// Gives a new user the default roles.
pub async fn give_default_roles(conn: &mut AsyncPgConnection, user_id: i64) -> DomainResult<()> {
    let mut q = Sql::new("INSERT INTO user_roles (user_id, role_id) SELECT ");
    q.bind(Bind::Int8(user_id)).push(", id FROM roles WHERE is_default ON CONFLICT DO NOTHING");
    q.execute(conn).await?;
    Ok(())
}

// ---- users -------------------------------------------------------------------------------

pub async fn user(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<User> {
    let mut q = Sql::new("SELECT * FROM users WHERE id = ");
    q.bind(Bind::Int8(id));
    let rows: Vec<User> = q.load(conn).await?;
    rows.into_iter().next().ok_or_else(|| not_found(ids::IdKind::User, id))
}

#[derive(Clone, Debug, Default)]
pub struct UserInput {
    pub email: Option<String>,
    pub name: Option<String>,
    /// `Some(None)` clears the department.
    pub department_id: Option<Option<i64>>,
    pub time_zone: Option<String>,
    pub is_admin: Option<bool>,
    pub role_ids: Option<Vec<i64>>,
}

async fn check_department(conn: &mut AsyncPgConnection, id: i64, field: &str) -> DomainResult<()> {
    let mut q = Sql::new("SELECT * FROM departments WHERE id = ");
    q.bind(Bind::Int8(id));
    let rows: Vec<Department> = q.load(conn).await?;
    if rows.is_empty() {
        return Err(DomainError::bad_input(
            field,
            format!("`{}` is not a department", ids::encode(ids::IdKind::Department, id)),
        ));
    }
    Ok(())
}

pub async fn create_user(conn: &mut AsyncPgConnection, actor: &Actor, input: UserInput) -> DomainResult<User> {
    actor.rights.check_settings()?;
    if input.is_admin == Some(true) && !actor.is_admin {
        return Err(DomainError::Forbidden("only administrators can make administrators".into()));
    }
    let email = validate::email("email", input.email.as_deref().unwrap_or_default())?;
    let user_name = match input.name.as_deref() {
        Some(n) => validate::name("name", n)?,
        None => email.split('@').next().unwrap_or("user").to_owned(),
    };
    let tz = validate::time_zone("timeZone", input.time_zone.as_deref().unwrap_or("UTC"))?;
    conn.transaction(async move |conn| {
        let department = input.department_id.flatten();
        if let Some(d) = department {
            check_department(conn, d, "departmentId").await?;
        }
        let mut q = Sql::new("INSERT INTO users (email, name, time_zone, department_id, is_admin) VALUES (");
        q.bind(Bind::Text(email))
            .push(", ")
            .bind(Bind::Text(user_name))
            .push(", ")
            .bind(Bind::Text(tz))
            .push(", ")
            .push(match department {
                Some(_) => "",
                None => "NULL",
            });
        if let Some(d) = department {
            q.bind(Bind::Int8(d));
        }
        q.push(", ").bind(Bind::Bool(input.is_admin.unwrap_or(false))).push(") RETURNING *");
        let user: User = q.get_result(conn).await?;
        match input.role_ids {
            Some(roles) => {
                check_roles(conn, &roles).await?;
                set_roles(conn, user.id, &roles).await?;
            }
            None => give_default_roles(conn, user.id).await?,
        }
        Ok(user)
    })
    .await
}

async fn check_roles(conn: &mut AsyncPgConnection, role_ids: &[i64]) -> DomainResult<()> {
    crate::kernel::limits::check_len("roleIds", role_ids.len(), crate::kernel::limits::MAX_ROLE_IDS)?;
    let all = roles(conn).await?;
    for (i, r) in role_ids.iter().enumerate() {
        if !all.iter().any(|x| x.id == *r) {
            return Err(DomainError::bad_input(
                format!("roleIds[{i}]"),
                format!("`{}` is not a role", ids::encode(ids::IdKind::Role, *r)),
            ));
        }
    }
    Ok(())
}

pub async fn update_user(conn: &mut AsyncPgConnection, actor: &Actor, id: i64, input: UserInput) -> DomainResult<User> {
    // Users may change their own name and time zone; everything else is a setting.
    let own_profile = id == actor.user_id
        && input.email.is_none()
        && input.department_id.is_none()
        && input.is_admin.is_none()
        && input.role_ids.is_none();
    if !own_profile {
        actor.rights.check_settings()?;
    }
    if input.is_admin.is_some() && !actor.is_admin {
        return Err(DomainError::Forbidden("only administrators can grant or take administrator rights".into()));
    }
    if input.is_admin == Some(false) && id == actor.user_id {
        return Err(DomainError::bad_input("isAdmin", "administrators cannot take their own administrator rights"));
    }
    conn.transaction(async move |conn| {
        let old = user(conn, id).await?;
        if old.is_admin && !actor.is_admin && id != actor.user_id {
            // An administrator's e-mail, department and roles are theirs to keep, as their tokens are.
            return Err(DomainError::Forbidden("only administrators change an administrator".into()));
        }
        let email = match input.email.as_deref() {
            Some(e) => validate::email("email", e)?,
            None => old.email,
        };
        let user_name = match input.name.as_deref() {
            Some(n) => validate::name("name", n)?,
            None => old.name,
        };
        let tz = match input.time_zone.as_deref() {
            Some(t) => validate::time_zone("timeZone", t)?,
            None => old.time_zone,
        };
        let department = input.department_id.unwrap_or(old.department_id);
        if let Some(d) = department {
            check_department(conn, d, "departmentId").await?;
        }
        let mut q = Sql::new("UPDATE users SET email = ");
        q.bind(Bind::Text(email))
            .push(", name = ")
            .bind(Bind::Text(user_name))
            .push(", time_zone = ")
            .bind(Bind::Text(tz))
            .push(", department_id = ");
        match department {
            Some(d) => q.bind(Bind::Int8(d)),
            None => q.push("NULL"),
        };
        q.push(", is_admin = ")
            .bind(Bind::Bool(input.is_admin.unwrap_or(old.is_admin)))
            .push(", updated_at = now(), version = version + 1 WHERE id = ")
            .bind(Bind::Int8(id))
            .push(" RETURNING *");
        let user: User = q.get_result(conn).await?;
        if let Some(roles) = input.role_ids {
            check_roles(conn, &roles).await?;
            set_roles(conn, id, &roles).await?;
        }
        Ok(user)
    })
    .await
}

/// Deactivates a user: their tokens stop working with the next request.
pub async fn deactivate_user(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<User> {
    actor.rights.check_settings()?;
    if id == actor.user_id {
        return Err(DomainError::bad_input("id", "you cannot deactivate yourself"));
    }
    let old = user(conn, id).await?;
    if old.is_admin && !actor.is_admin {
        return Err(DomainError::Forbidden("only administrators can deactivate administrators".into()));
    }
    let mut q = Sql::new("UPDATE users SET active = false, updated_at = now(), version = version + 1 WHERE id = ");
    q.bind(Bind::Int8(id)).push(" RETURNING *");
    Ok(q.get_result(conn).await?)
}

// ---- departments -------------------------------------------------------------------------

pub async fn departments(conn: &mut AsyncPgConnection) -> DomainResult<Vec<Department>> {
    Ok(Sql::new("SELECT * FROM departments ORDER BY name, id").load(conn).await?)
}

pub async fn create_department(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    dept_name: &str,
    parent_id: Option<i64>,
) -> DomainResult<Department> {
    actor.rights.check_settings()?;
    let dept_name = validate::name("name", dept_name)?;
    if let Some(p) = parent_id {
        check_department(conn, p, "parentId").await?;
    }
    let mut q = Sql::new("INSERT INTO departments (name, parent_id) VALUES (");
    q.bind(Bind::Text(dept_name)).push(", ");
    match parent_id {
        Some(p) => q.bind(Bind::Int8(p)),
        None => q.push("NULL"),
    };
    q.push(") RETURNING *");
    Ok(q.get_result(conn).await?)
}

/// Active users of each of `department_ids`, by name.
pub async fn department_users(
    conn: &mut AsyncPgConnection,
    department_ids: &[i64],
) -> DomainResult<HashMap<i64, Vec<User>>> {
    let mut q = Sql::new("SELECT * FROM users WHERE active AND department_id = ANY(");
    q.bind(Bind::Int8s(department_ids.to_vec())).push(") ORDER BY name, id");
    let users: Vec<User> = q.load(conn).await?;
    let mut out: HashMap<i64, Vec<User>> = department_ids.iter().map(|d| (*d, Vec::new())).collect();
    for u in users {
        if let Some(d) = u.department_id {
            out.entry(d).or_default().push(u);
        }
    }
    Ok(out)
}

/// Moves a department under another one (or to the top); never under itself or below it.
pub async fn move_department(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    parent_id: Option<i64>,
) -> DomainResult<Department> {
    actor.rights.check_settings()?;
    conn.transaction(async move |conn| {
        // One move at a time, so two concurrent moves cannot build a cycle together.
        Sql::new("LOCK TABLE departments IN SHARE ROW EXCLUSIVE MODE").execute(conn).await?;
        let all = departments(conn).await?;
        if !all.iter().any(|d| d.id == id) {
            return Err(not_found(ids::IdKind::Department, id));
        }
        if let Some(p) = parent_id {
            if !all.iter().any(|d| d.id == p) {
                return Err(DomainError::bad_input(
                    "parentId",
                    format!("`{}` is not a department", ids::encode(ids::IdKind::Department, p)),
                ));
            }
            if would_cycle(&all.iter().map(|d| (d.id, d.parent_id)).collect::<Vec<_>>(), id, p) {
                return Err(DomainError::bad_input(
                    "parentId",
                    "a department cannot move under itself or below itself",
                ));
            }
        }
        let mut q = Sql::new("UPDATE departments SET parent_id = ");
        match parent_id {
            Some(p) => q.bind(Bind::Int8(p)),
            None => q.push("NULL"),
        };
        q.push(", updated_at = now() WHERE id = ").bind(Bind::Int8(id)).push(" RETURNING *");
        Ok(q.get_result(conn).await?)
    })
    .await
}

/// Whether putting `id` under `parent` makes a cycle: `parent` is `id` or lies below it.
pub fn would_cycle(tree: &[(i64, Option<i64>)], id: i64, parent: i64) -> bool {
    let mut at = Some(parent);
    let mut steps = 0;
    while let Some(d) = at {
        if d == id || steps > tree.len() {
            return true;
        }
        at = tree.iter().find(|(x, _)| *x == d).and_then(|(_, p)| *p);
        steps += 1;
    }
    false
}

// ---- API tokens --------------------------------------------------------------------------

/// Users manage their own tokens; the settings right manages other users' tokens, except an
/// administrator's: a token is the user's identity, and only administrators make
/// administrators.
fn may_manage_tokens_of(actor: &Actor, owner: &User) -> DomainResult<()> {
    if owner.id == actor.user_id {
        return Ok(());
    }
    actor.rights.check_settings()?;
    if owner.is_admin && !actor.is_admin {
        return Err(DomainError::Forbidden("only administrators manage an administrator's tokens".into()));
    }
    Ok(())
}

const TOKEN_COLUMNS: &str = "id, user_id, name, created_at, last_used_at, revoked_at";

/// A new token for `user_id`; the returned secret is never shown again.
pub async fn create_api_token(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    user_id: i64,
    token_name: &str,
) -> DomainResult<(String, ApiToken)> {
    let u = user(conn, user_id).await?;
    may_manage_tokens_of(actor, &u)?;
    let token_name = validate::name("name", token_name)?;
    if !u.active {
        return Err(DomainError::bad_input("userId", "the user is deactivated"));
    }
    let (secret, id) = auth::create_token(conn, user_id, &token_name).await?;
    let mut q = Sql::new(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = "));
    q.bind(Bind::Int8(id));
    Ok((secret, q.get_result(conn).await?))
}

pub async fn revoke_api_token(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<ApiToken> {
    let mut q = Sql::new(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = "));
    q.bind(Bind::Int8(id));
    let rows: Vec<ApiToken> = q.load(conn).await?;
    let token = rows.into_iter().next().ok_or_else(|| not_found(ids::IdKind::ApiToken, id))?;
    let owner = user(conn, token.user_id).await?;
    if may_manage_tokens_of(actor, &owner).is_err() {
        // Someone else's token: do not reveal that it exists.
        return Err(not_found(ids::IdKind::ApiToken, id));
    }
    let mut q = Sql::new("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = ");
    q.bind(Bind::Int8(id)).push(format!(" RETURNING {TOKEN_COLUMNS}"));
    Ok(q.get_result(conn).await?)
}

/// Tokens of `user_id` (default: mine); another user's need the settings right.
pub async fn api_tokens(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    user_id: Option<i64>,
) -> DomainResult<Vec<ApiToken>> {
    let user_id = user_id.unwrap_or(actor.user_id);
    may_manage_tokens_of(actor, &user(conn, user_id).await?)?;
    let mut q = Sql::new(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = "));
    q.bind(Bind::Int8(user_id)).push(" ORDER BY id");
    Ok(q.load(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departments_cannot_move_below_themselves() {
        // 1 ─ 2 ─ 3, and 4 on its own.
        let tree = [(1, None), (2, Some(1)), (3, Some(2)), (4, None)];
        assert!(would_cycle(&tree, 1, 1));
        assert!(would_cycle(&tree, 1, 3), "3 is below 1");
        assert!(would_cycle(&tree, 2, 3));
        assert!(!would_cycle(&tree, 3, 1));
        assert!(!would_cycle(&tree, 1, 4));
        assert!(!would_cycle(&tree, 4, 3));
    }
}

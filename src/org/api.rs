//! Users, departments, API tokens, roles and permissions in GraphQL.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::api::timeline::ElementTypeGql;
use crate::api::{GqlResult, actor, conn, load_error, loader, loaders, lookup_id, opt_id, to_id};
use crate::kernel::ElementType;
use crate::kernel::access::permissions::{Action, Level};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::{Department, User};
use crate::org::rules::{self as org, ApiToken, NewLine, PermissionLine, Role, UserInput};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "PermissionAction", remote = "crate::kernel::access::permissions::Action")]
pub enum ActionGql {
    Read,
    Add,
    Write,
    Delete,
    Export,
    Import,
}

/// Whose elements an action reaches.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "PermissionLevel", remote = "crate::kernel::access::permissions::Level")]
pub enum LevelGql {
    /// Nobody's.
    None,
    /// Elements assigned to me.
    Own,
    /// Mine and my department's.
    Department,
    /// Mine, my department's and the departments' below it.
    Subdepartments,
    /// Mine and every element flagged `opened`.
    Open,
    All,
}

#[Object(name = "Role")]
impl Role {
    async fn id(&self) -> ID {
        to_id(IdKind::Role, self.id)
    }
    async fn name(&self) -> &str {
        &self.name
    }
    /// May change CRM settings: status lists, pipelines, custom fields, roles and users.
    async fn can_manage_settings(&self) -> bool {
        self.settings
    }
    /// Given to every new user.
    async fn is_default(&self) -> bool {
        self.is_default
    }
    async fn permissions(&self, ctx: &Context<'_>) -> GqlResult<Vec<PermissionLine>> {
        let lines = loader(ctx).load_one(loaders::RoleLines(self.id)).await.map_err(load_error)?;
        Ok(lines.unwrap_or_default())
    }
}

#[Object(name = "Permission")]
impl PermissionLine {
    async fn element_type(&self) -> Option<ElementTypeGql> {
        ElementType::parse(&self.element_type).map(Into::into)
    }
    /// Deals only: the pipeline this line is for; null for every pipeline without its own line.
    async fn pipeline_id(&self) -> Option<ID> {
        opt_id(IdKind::Pipeline, self.pipeline_id)
    }
    async fn action(&self) -> Option<ActionGql> {
        Action::parse(&self.action).map(Into::into)
    }
    async fn level(&self) -> Option<LevelGql> {
        Level::parse(&self.level).map(Into::into)
    }
}

#[derive(InputObject)]
pub struct PermissionInput {
    pub element_type: ElementTypeGql,
    /// Deals only: this pipeline (omit for every pipeline without its own line).
    pub pipeline_id: Option<ID>,
    pub action: ActionGql,
    pub level: LevelGql,
}

#[derive(InputObject, Default)]
pub struct RoleInput {
    pub name: Option<String>,
    pub can_manage_settings: Option<bool>,
    pub is_default: Option<bool>,
}

/// What I may do: per element type (deals also per pipeline with its own line) and action,
/// the levels my roles give (their union applies).
#[derive(SimpleObject)]
pub struct MyPermissions {
    pub user_id: ID,
    pub is_admin: bool,
    pub can_manage_settings: bool,
    pub permissions: Vec<EffectivePermission>,
}

#[derive(SimpleObject)]
pub struct EffectivePermission {
    pub element_type: ElementTypeGql,
    pub pipeline_id: Option<ID>,
    pub action: ActionGql,
    /// Empty: not allowed. Administrators get ALL everywhere.
    pub levels: Vec<LevelGql>,
}

#[Object(name = "Department")]
impl Department {
    async fn id(&self) -> ID {
        to_id(IdKind::Department, self.id)
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn parent_id(&self) -> Option<ID> {
        opt_id(IdKind::Department, self.parent_id)
    }
    /// The departments directly below this one.
    async fn children(&self, ctx: &Context<'_>) -> GqlResult<Vec<Department>> {
        let all = loader(ctx).load_one(loaders::AllDepartments).await.map_err(load_error)?.unwrap_or_default();
        Ok(all.iter().filter(|d| d.parent_id == Some(self.id)).cloned().collect())
    }
    /// Active users of this department.
    async fn users(&self, ctx: &Context<'_>) -> GqlResult<Vec<User>> {
        let users = loader(ctx).load_one(loaders::DepartmentUsers(self.id)).await.map_err(load_error)?;
        Ok(users.unwrap_or_default())
    }
}

#[Object(name = "ApiToken")]
impl ApiToken {
    async fn id(&self) -> ID {
        to_id(IdKind::ApiToken, self.id)
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn user_id(&self) -> ID {
        to_id(IdKind::User, self.user_id)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// Recorded with minute precision.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }
}

/// A new token: `token` is shown this once; only its hash is stored.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    pub token: String,
    pub api_token: ApiToken,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub name: Option<String>,
    pub department_id: Option<ID>,
    /// IANA time zone (default UTC).
    pub time_zone: Option<String>,
    pub is_admin: Option<bool>,
    /// Default: the roles marked `isDefault`.
    pub role_ids: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct UpdateUserInput {
    pub email: Option<String>,
    pub name: Option<String>,
    /// null moves the user out of any department.
    pub department_id: MaybeUndefined<ID>,
    pub time_zone: Option<String>,
    pub is_admin: Option<bool>,
    pub role_ids: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct CreateDepartmentInput {
    pub name: String,
    pub parent_id: Option<ID>,
}

fn decode(kind: IdKind, id: &ID, field: &str) -> GqlResult<i64> {
    Ok(ids::decode(kind, id, field)?)
}

fn decode_all(kind: IdKind, list: &[ID], field: &str) -> GqlResult<Vec<i64>> {
    list.iter().enumerate().map(|(i, id)| decode(kind, id, &format!("{field}[{i}]"))).collect()
}

#[derive(Default)]
pub struct OrgQuery;

#[Object]
impl OrgQuery {
    async fn roles(&self, ctx: &Context<'_>) -> GqlResult<Vec<Role>> {
        actor(ctx)?;
        Ok(org::roles(&mut *conn(ctx).await?).await?)
    }

    /// The department tree: top-level departments, each with its `children`.
    async fn departments(&self, ctx: &Context<'_>) -> GqlResult<Vec<Department>> {
        actor(ctx)?;
        let all = org::departments(&mut *conn(ctx).await?).await?;
        Ok(all.into_iter().filter(|d| d.parent_id.is_none()).collect())
    }

    /// API tokens of a user (default: mine; another user's need the settings right).
    async fn api_tokens(&self, ctx: &Context<'_>, user_id: Option<ID>) -> GqlResult<Vec<ApiToken>> {
        let me = actor(ctx)?;
        let user_id = user_id.map(|u| decode(IdKind::User, &u, "userId")).transpose()?;
        Ok(org::api_tokens(&mut *conn(ctx).await?, me, user_id).await?)
    }

    async fn my_permissions(&self, ctx: &Context<'_>) -> GqlResult<MyPermissions> {
        let me = actor(ctx)?;
        let r = &me.rights;
        let mut permissions = Vec::new();
        for et in ElementType::ALL {
            let mut pipelines: Vec<Option<i64>> = vec![None];
            if et == ElementType::Deal {
                let mut explicit: Vec<i64> = r.grants.iter().filter_map(|g| g.pipeline_id).collect();
                explicit.sort_unstable();
                explicit.dedup();
                pipelines.extend(explicit.into_iter().map(Some));
            }
            for p in pipelines {
                for action in Action::ALL {
                    let levels = if r.admin { vec![Level::All] } else { r.levels(et, action, p).into_iter().collect() };
                    permissions.push(EffectivePermission {
                        element_type: et.into(),
                        pipeline_id: opt_id(IdKind::Pipeline, p),
                        action: action.into(),
                        levels: levels.into_iter().map(Into::into).collect(),
                    });
                }
            }
        }
        Ok(MyPermissions {
            user_id: to_id(IdKind::User, me.user_id),
            is_admin: r.admin,
            can_manage_settings: r.admin || r.settings,
            permissions,
        })
    }
}

#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// A new role, with no rights until `setRolePermissions`.
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        name: String,
        can_manage_settings: Option<bool>,
        is_default: Option<bool>,
    ) -> GqlResult<Role> {
        let me = actor(ctx)?;
        let mut c = conn(ctx).await?;
        Ok(org::create_role(&mut c, me, &name, can_manage_settings.unwrap_or(false), is_default.unwrap_or(false))
            .await?)
    }

    async fn update_role(&self, ctx: &Context<'_>, id: ID, input: RoleInput) -> GqlResult<Role> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Role, &id)?;
        let mut c = conn(ctx).await?;
        Ok(org::update_role(&mut c, me, id, input.name.as_deref(), input.can_manage_settings, input.is_default).await?)
    }

    /// Deletes a role; its users lose what it granted.
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Role, &id)?;
        Ok(to_id(IdKind::Role, org::delete_role(&mut *conn(ctx).await?, me, id).await?))
    }

    /// Replaces every permission of a role.
    async fn set_role_permissions(
        &self,
        ctx: &Context<'_>,
        role_id: ID,
        permissions: Vec<PermissionInput>,
    ) -> GqlResult<Role> {
        let me = actor(ctx)?;
        let role_id = lookup_id(IdKind::Role, &role_id)?;
        let mut lines = Vec::with_capacity(permissions.len());
        for (i, p) in permissions.into_iter().enumerate() {
            lines.push(NewLine {
                element_type: p.element_type.into(),
                pipeline_id: p
                    .pipeline_id
                    .map(|id| decode(IdKind::Pipeline, &id, &format!("permissions[{i}].pipelineId")))
                    .transpose()?,
                action: p.action.into(),
                level: p.level.into(),
            });
        }
        Ok(org::set_permissions(&mut *conn(ctx).await?, me, role_id, lines).await?)
    }

    /// Replaces a user's roles.
    async fn assign_roles(&self, ctx: &Context<'_>, user_id: ID, role_ids: Vec<ID>) -> GqlResult<User> {
        let me = actor(ctx)?;
        let user_id = lookup_id(IdKind::User, &user_id)?;
        let role_ids = decode_all(IdKind::Role, &role_ids, "roleIds")?;
        Ok(org::assign_roles(&mut *conn(ctx).await?, me, user_id, role_ids).await?)
    }

    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> GqlResult<User> {
        let me = actor(ctx)?;
        let department_id = input.department_id.map(|d| decode(IdKind::Department, &d, "departmentId")).transpose()?;
        let role_ids = input.role_ids.map(|r| decode_all(IdKind::Role, &r, "roleIds")).transpose()?;
        let input = UserInput {
            email: Some(input.email),
            name: input.name,
            department_id: Some(department_id),
            time_zone: input.time_zone,
            is_admin: input.is_admin,
            role_ids,
        };
        Ok(org::create_user(&mut *conn(ctx).await?, me, input).await?)
    }

    /// Changes a user. Users may change their own name and time zone; the rest needs the
    /// settings right (administrator rights: an administrator).
    async fn update_user(&self, ctx: &Context<'_>, id: ID, input: UpdateUserInput) -> GqlResult<User> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::User, &id)?;
        let department_id = match input.department_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(d) => Some(Some(decode(IdKind::Department, &d, "departmentId")?)),
        };
        let role_ids = input.role_ids.map(|r| decode_all(IdKind::Role, &r, "roleIds")).transpose()?;
        let input = UserInput {
            email: input.email,
            name: input.name,
            department_id,
            time_zone: input.time_zone,
            is_admin: input.is_admin,
            role_ids,
        };
        Ok(org::update_user(&mut *conn(ctx).await?, me, id, input).await?)
    }

    /// Deactivates a user; their API tokens stop working with the next request.
    async fn deactivate_user(&self, ctx: &Context<'_>, id: ID) -> GqlResult<User> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::User, &id)?;
        Ok(org::deactivate_user(&mut *conn(ctx).await?, me, id).await?)
    }

    async fn create_department(&self, ctx: &Context<'_>, input: CreateDepartmentInput) -> GqlResult<Department> {
        let me = actor(ctx)?;
        let parent = input.parent_id.map(|p| decode(IdKind::Department, &p, "parentId")).transpose()?;
        Ok(org::create_department(&mut *conn(ctx).await?, me, &input.name, parent).await?)
    }

    /// Moves a department under `parentId` (null: to the top).
    async fn move_department(&self, ctx: &Context<'_>, id: ID, parent_id: Option<ID>) -> GqlResult<Department> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::Department, &id)?;
        let parent = parent_id.map(|p| decode(IdKind::Department, &p, "parentId")).transpose()?;
        Ok(org::move_department(&mut *conn(ctx).await?, me, id, parent).await?)
    }

    /// A new API token for a user (yourself, or anyone with the settings right). The token
    /// is returned only here.
    async fn create_api_token(&self, ctx: &Context<'_>, user_id: ID, name: String) -> GqlResult<CreatedApiToken> {
        let me = actor(ctx)?;
        let user_id = lookup_id(IdKind::User, &user_id)?;
        let (token, api_token) = org::create_api_token(&mut *conn(ctx).await?, me, user_id, &name).await?;
        Ok(CreatedApiToken { token, api_token })
    }

    /// Revokes a token at once.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiToken> {
        let me = actor(ctx)?;
        let id = lookup_id(IdKind::ApiToken, &id)?;
        Ok(org::revoke_api_token(&mut *conn(ctx).await?, me, id).await?)
    }
}

/// Roles of a user, for `User.roles`.
pub async fn user_roles(ctx: &Context<'_>, user_id: i64) -> GqlResult<Vec<Role>> {
    let roles = loader(ctx).load_one(loaders::UserRoles(user_id)).await.map_err(load_error)?;
    Ok(roles.unwrap_or_default())
}

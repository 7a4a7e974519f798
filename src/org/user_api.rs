//! Users in GraphQL.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use crate::api::connection::connection;
use crate::api::filters::{BooleanFilter, DateTimeFilter, IdFilter, StringFilter, element_filter};
use crate::api::{opt_id, to_id};
use crate::kernel::ids::IdKind;
use crate::kernel::models::User;

element_filter! {
    UserFilter, UserOrder, UserOrderField, crate::kernel::ElementType::Lead,
    filters {
        id: IdFilter => "id" as User,
        name: StringFilter => "name",
        email: StringFilter => "email",
        department_id: IdFilter => "department_id" as Department,
        is_admin: BooleanFilter => "is_admin",
        active: BooleanFilter => "active",
        created_at: DateTimeFilter => "created_at",
    }
    order {
        Id => "id": Int8,
        Name => "name": Text,
        Email => "email": Text,
        CreatedAt => "created_at": DateTime,
    }
}

connection!(UserConnection, UserEdge, User);

#[Object(name = "User")]
impl User {
    pub async fn id(&self) -> ID {
        to_id(IdKind::User, self.id)
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn email(&self) -> &str {
        &self.email
    }
    /// IANA time zone; counters and "today" follow it.
    async fn time_zone(&self) -> &str {
        &self.time_zone
    }
    async fn department_id(&self) -> Option<ID> {
        opt_id(IdKind::Department, self.department_id)
    }
    async fn is_admin(&self) -> bool {
        self.is_admin
    }
    async fn roles(&self, ctx: &async_graphql::Context<'_>) -> crate::api::GqlResult<Vec<crate::org::rules::Role>> {
        crate::org::api::user_roles(ctx, self.id).await
    }
    async fn active(&self) -> bool {
        self.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

//! Who is acting: resolved from the bearer token once per request and handed to the domain.

#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: i64,
    pub email: String,
    pub is_admin: bool,
    pub department_id: Option<i64>,
    pub time_zone: String,
    /// What the user's roles allow (`permissions`).
    pub rights: std::sync::Arc<crate::kernel::access::permissions::Rights>,
}

//! DataLoaders: nested fields collect the ids of all parents in a response and load them in
//! one statement per key type, so the statements a query runs depend on its shape, not on
//! how many rows it returns. One `Loaders` per request, because reads depend on the actor.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::crm::shared::communications as comms;
use crate::db::Pool;
use crate::kernel::list::{self as query, Listable, Page, Plan};
use crate::kernel::models::{Communication, Pipeline, Stage, StatusItem, User};
use crate::kernel::write::LinkSpec;
use crate::kernel::{Actor, DomainError, ElementType};
use crate::org::auth;
use crate::settings::rules as settings;

pub type LoadError = Arc<DomainError>;

/// The loader of one request. Its cache lets a connection prefetch the relations of all its
/// rows in one batch each (see `prefetch`); it lives for one request only, so it never
/// serves stale rows.
pub type RequestLoader = DataLoader<Loaders, HashMapCache>;

pub fn request_loader(pool: Pool, actor: Actor, delay: std::time::Duration, cache: bool) -> RequestLoader {
    let loader = DataLoader::with_cache(Loaders::new(pool, actor), tokio::spawn, HashMapCache::default()).delay(delay);
    loader.enable_all_cache(cache);
    loader
}

pub struct Loaders {
    pool: Pool,
    actor: Actor,
}

impl Loaders {
    pub fn new(pool: Pool, actor: Actor) -> Self {
        Loaders { pool, actor }
    }

    async fn conn(&self) -> Result<crate::db::Conn, LoadError> {
        self.pool.get().await.map_err(|e| Arc::new(DomainError::from(e)))
    }
}

fn err(e: impl Into<DomainError>) -> LoadError {
    Arc::new(e.into())
}

/// Answers every id: its row, or None, so the request's cache also knows what is absent.
fn each_or_none<V>(ids: Vec<i64>, rows: Vec<V>, id_of: impl Fn(&V) -> i64) -> HashMap<i64, Option<V>> {
    let mut found: HashMap<i64, V> = rows.into_iter().map(|r| (id_of(&r), r)).collect();
    ids.into_iter().map(|id| (id, found.remove(&id))).collect()
}

/// Answers every id with its rows in the order given (an empty list for none).
fn grouped<V>(ids: &[i64], rows: impl IntoIterator<Item = (i64, V)>) -> HashMap<i64, Vec<V>> {
    let mut out: HashMap<i64, Vec<V>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for (id, v) in rows {
        out.entry(id).or_default().push(v);
    }
    out
}

macro_rules! simple_key {
    ($name:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub i64);
    };
}

/// A loader keyed by one parent id: `$fetch(conn, ids)` reads what all the keys ask for in
/// one statement, and `$answer(ids, rows)` gives each id its value.
macro_rules! parent_loader {
    // Rows by their own id: absent ids are simply not answered.
    ($key:ident => $value:ty, $fetch:path) => {
        parent_loader!($key => $value, $fetch, |_, rows: Vec<$value>| rows.into_iter().map(|r| (r.id, r)).collect());
    };
    ($(#[$m:meta])* $key:ident => $value:ty, $fetch:path, $answer:expr) => {
        simple_key!($key);

        $(#[$m])*
        impl Loader<$key> for Loaders {
            type Value = $value;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, LoadError> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let mut conn = self.conn().await?;
                let rows = $fetch(&mut conn, &ids).await.map_err(err)?;
                let answer: HashMap<i64, $value> = ($answer)(ids, rows);
                Ok(answer.into_iter().map(|(id, v)| ($key(id), v)).collect())
            }
        }
    };
}

/// Answers every id with what the read found for it, or the empty value.
fn filled<V: Default>(ids: Vec<i64>, mut found: HashMap<i64, V>) -> HashMap<i64, V> {
    ids.into_iter().map(|id| (id, found.remove(&id).unwrap_or_default())).collect()
}

parent_loader!(UserId => User, auth::users_by_id);
parent_loader!(StatusId => StatusItem, settings::status_items_by_id);
parent_loader!(StageId => Stage, settings::stages_by_id);
parent_loader!(PipelineId => Pipeline, settings::pipelines_by_id);

parent_loader!(PipelineStages => Vec<Stage>, settings::stages_of, filled);

/// A key that also names the row type it loads.
pub struct Typed<K, T>(pub K, PhantomData<fn() -> T>);

impl<K, T> Typed<K, T> {
    pub fn new(key: K) -> Self {
        Typed(key, PhantomData)
    }
}
impl<K: Clone, T> Clone for Typed<K, T> {
    fn clone(&self) -> Self {
        Typed(self.0.clone(), PhantomData)
    }
}
impl<K: PartialEq, T> PartialEq for Typed<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<K: Eq, T> Eq for Typed<K, T> {}
impl<K: Hash, T> Hash for Typed<K, T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

/// An element of type `T` by id, if the actor may read it.
pub type ById<T> = Typed<i64, T>;

/// The elements of type `T` an element links to through one of its links (a deal's
/// contacts, a contact's companies), those the actor may read.
pub type Linked<T> = Typed<(LinkSpec, i64), T>;

impl<T: Listable> Loader<Linked<T>> for Loaders {
    type Value = Vec<T>;
    type Error = LoadError;

    async fn load(&self, keys: &[Linked<T>]) -> Result<HashMap<Linked<T>, Vec<T>>, LoadError> {
        let mut by_link: HashMap<LinkSpec, Vec<i64>> = HashMap::new();
        for Typed((link, owner), _) in keys {
            by_link.entry(*link).or_default().push(*owner);
        }
        let mut conn = self.conn().await?;
        let mut out = HashMap::new();
        for (link, owners) in by_link {
            let mut found =
                query::linked::<T>(&mut conn, &self.actor, link.table, link.own_col, link.other_col, &owners)
                    .await
                    .map_err(err)?;
            out.extend(owners.into_iter().map(|o| (Linked::new((link, o)), found.remove(&o).unwrap_or_default())));
        }
        Ok(out)
    }
}

/// None for ids that do not exist or are hidden from the actor: the request's cache then
/// knows they are absent, and a row that refers to a hidden element does not ask again.
impl<T: Listable> Loader<ById<T>> for Loaders {
    type Value = Option<T>;
    type Error = LoadError;

    async fn load(&self, keys: &[ById<T>]) -> Result<HashMap<ById<T>, Option<T>>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut conn = self.conn().await?;
        let rows = query::by_ids::<T>(&mut conn, &self.actor, &ids).await.map_err(err)?;
        Ok(each_or_none(ids, rows, T::row_id).into_iter().map(|(id, v)| (ById::new(id), v)).collect())
    }
}

/// One page of a nested connection below the parent `1`.
pub struct Nested<T>(pub Arc<Plan>, pub i64, PhantomData<fn() -> T>);

impl<T> Nested<T> {
    pub fn new(plan: Arc<Plan>, parent: i64) -> Self {
        Nested(plan, parent, PhantomData)
    }
}
impl<T> Clone for Nested<T> {
    fn clone(&self) -> Self {
        Nested(self.0.clone(), self.1, PhantomData)
    }
}
impl<T> PartialEq for Nested<T> {
    fn eq(&self, other: &Self) -> bool {
        self.1 == other.1 && self.0 == other.0
    }
}
impl<T> Eq for Nested<T> {}
impl<T> Hash for Nested<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        self.1.hash(state);
    }
}

/// Groups keys by their plan so that every distinct nested query is one statement.
fn by_plan<K>(keys: &[K], plan_of: impl Fn(&K) -> (&Arc<Plan>, i64)) -> HashMap<Arc<Plan>, Vec<i64>> {
    let mut groups: HashMap<Arc<Plan>, Vec<i64>> = HashMap::new();
    for k in keys {
        let (plan, parent) = plan_of(k);
        groups.entry(plan.clone()).or_default().push(parent);
    }
    groups
}

impl<T: Listable> Loader<Nested<T>> for Loaders {
    type Value = Page<T>;
    type Error = LoadError;

    async fn load(&self, keys: &[Nested<T>]) -> Result<HashMap<Nested<T>, Page<T>>, LoadError> {
        let mut conn = self.conn().await?;
        let mut out = HashMap::new();
        for (plan, parents) in by_plan(keys, |k| (&k.0, k.1)) {
            let pages = query::list_nested::<T>(&mut conn, &plan, &parents).await.map_err(err)?;
            out.extend(pages.into_iter().map(|(p, page)| (Nested::new(plan.clone(), p), page)));
        }
        Ok(out)
    }
}

/// `totalCount` of a nested connection.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NestedCount(pub Arc<Plan>, pub i64);

impl Loader<NestedCount> for Loaders {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[NestedCount]) -> Result<HashMap<NestedCount, i64>, LoadError> {
        let mut conn = self.conn().await?;
        let mut out = HashMap::new();
        for (plan, parents) in by_plan(keys, |k| (&k.0, k.1)) {
            let counts = query::count_nested(&mut conn, &plan, &parents).await.map_err(err)?;
            out.extend(counts.into_iter().map(|(p, n)| (NestedCount(plan.clone(), p), n)));
        }
        Ok(out)
    }
}

/// The custom field codes of an element type (lists check the codes they filter and sort on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CustomCodes(pub ElementType);

impl Loader<CustomCodes> for Loaders {
    type Value = Vec<String>;
    type Error = LoadError;

    async fn load(&self, keys: &[CustomCodes]) -> Result<HashMap<CustomCodes, Vec<String>>, LoadError> {
        let mut conn = self.conn().await?;
        let mut out = HashMap::new();
        for k in keys {
            out.insert(*k, crate::crm::shared::custom_fields::codes(&mut conn, k.0).await.map_err(err)?);
        }
        Ok(out)
    }
}

/// A loader keyed by element type and id: `$fetch(conn, type, ids)` reads all ids of one
/// type at once; ids it finds nothing for get the empty list.
macro_rules! element_loader {
    ($(#[$m:meta])* $key:ident => $value:ty, $fetch:path) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub ElementType, pub i64);

        impl Loader<$key> for Loaders {
            type Value = $value;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, LoadError> {
                let mut conn = self.conn().await?;
                let mut out = HashMap::new();
                let mut by_type: HashMap<ElementType, Vec<i64>> = HashMap::new();
                for k in keys {
                    by_type.entry(k.0).or_default().push(k.1);
                }
                for (et, ids) in by_type {
                    let found = $fetch(&mut conn, et, &ids).await.map_err(err)?;
                    out.extend(filled(ids, found).into_iter().map(|(id, v)| ($key(et, id), v)));
                }
                Ok(out)
            }
        }
    };
}

element_loader!(
    /// Communications of an element.
    Comms => Vec<Communication>,
    comms::load
);
element_loader!(
    /// Product rows of a lead or deal.
    ProductRows => Vec<crate::kernel::models::ProductRow>,
    crate::crm::shared::products::rows_of
);

parent_loader!(
    StageHistory => Vec<crate::kernel::models::StageMove>,
    crate::crm::deal::lifecycle::stage_history,
    filled
);
parent_loader!(
    /// None for leads never converted (so lists of open leads do not ask again per lead).
    ConversionOf => Option<crate::kernel::models::LeadConversion>,
    crate::crm::lead::lifecycle::conversions_of,
    |ids, rows| each_or_none(ids, rows, |r: &crate::kernel::models::LeadConversion| r.lead_id)
);
parent_loader!(
    /// A company's requisites; None for companies without any.
    CompanyRequisites => Option<crate::crm::company::requisites::Requisites>,
    crate::crm::company::requisites::of,
    |ids, rows| each_or_none(ids, rows, |r: &crate::crm::company::requisites::Requisites| r.company_id)
);
parent_loader!(
    ActivityBindings => Vec<crate::kernel::ElementRef>,
    crate::activity::rules::bindings_for,
    |_, found| found
);
parent_loader!(
    /// A user's roles (for `User.roles`).
    UserRoles => Vec<crate::org::rules::Role>,
    crate::org::rules::roles_of,
    |ids: Vec<i64>, rows| grouped(&ids, rows)
);
parent_loader!(
    /// A role's permission lines (for `Role.permissions`).
    RoleLines => Vec<crate::org::rules::PermissionLine>,
    crate::org::rules::role_lines,
    |ids: Vec<i64>, lines: Vec<crate::org::rules::PermissionLine>| grouped(&ids, lines.into_iter().map(|l| (l.role_id, l)))
);
parent_loader!(
    /// Active users of a department (for `Department.users`).
    DepartmentUsers => Vec<User>,
    crate::org::rules::department_users,
    |_, found| found
);

/// Every department (for `Department.children`): the tree is small, and one read serves
/// every node of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AllDepartments;

impl Loader<AllDepartments> for Loaders {
    type Value = Arc<Vec<crate::kernel::models::Department>>;
    type Error = LoadError;

    async fn load(&self, _: &[AllDepartments]) -> Result<HashMap<AllDepartments, Self::Value>, LoadError> {
        let mut conn = self.conn().await?;
        let all = crate::org::rules::departments(&mut conn).await.map_err(err)?;
        Ok(HashMap::from([(AllDepartments, Arc::new(all))]))
    }
}

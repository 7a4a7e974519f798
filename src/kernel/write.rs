//! Writes of CRM elements. One generic pipeline (lock, apply the client's changes, check the
//! element's rules, store, communications, links, history, outbox) in one transaction; each
//! element type contributes only its defaults and rules.

use std::future::Future;

use chrono::Utc;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::crm::shared::communications::{self as comms, CommSet};
use crate::crm::shared::custom_fields;
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::{Action, Facts};
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::{self, Change};
use crate::kernel::ids;
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::list::{self as query, Listable};
use crate::kernel::models::{self, TimelineEntry};
use crate::kernel::outbox;
use crate::kernel::validate;
use crate::kernel::{ElementRef, ElementType};

/// Who acts, with the per-deployment settings writes depend on.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub actor: Actor,
    pub phone_region: phonenumber::country::Id,
}

/// A many-to-many link the element owns (a contact's companies, a deal's contacts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkSpec {
    pub table: &'static str,
    pub own_col: &'static str,
    pub other_col: &'static str,
    /// Input and history name of the link list.
    pub field: &'static str,
    pub other: ElementType,
}

impl LinkSpec {
    /// `table` links `own_col` (this element) to `other_col` (an element of type `other`).
    pub const fn new(
        table: &'static str,
        own_col: &'static str,
        other_col: &'static str,
        field: &'static str,
        other: ElementType,
    ) -> LinkSpec {
        LinkSpec { table, own_col, other_col, field, other }
    }
}

/// Applies a client's field changes to a row.
pub type Apply<T> = Box<dyn FnOnce(&mut T) -> DomainResult<()> + Send>;

/// What a client asked to change.
pub struct Write<T> {
    pub apply: Apply<T>,
    pub comms: CommSet,
    pub links: Option<Vec<i64>>,
    /// Refuse to create the element when it has duplicates (`onDuplicate: REJECT`).
    pub reject_duplicates: bool,
    /// Custom field values to set (code, value; null clears).
    pub custom: Vec<(String, Json)>,
}

impl<T> Write<T> {
    /// A write that only changes fields of the row.
    pub fn fields(apply: impl FnOnce(&mut T) -> DomainResult<()> + Send + 'static) -> Write<T> {
        Write {
            apply: Box::new(apply),
            comms: CommSet::default(),
            links: None,
            reject_duplicates: false,
            custom: Vec::new(),
        }
    }
}

pub trait Element: Listable + Serialize {
    const TYPE: ElementType;
    const LINKS: Option<LinkSpec> = None;
    fn id(&self) -> i64;
    fn version(&self) -> i32;
    fn stamp(&mut self, actor_id: i64, version: i32);
    /// The custom field values (`custom_fields`).
    fn custom_mut(&mut self) -> &mut Json;

    /// A new element with the defaults a CRM user expects.
    fn blank(conn: &mut AsyncPgConnection, ctx: &Ctx) -> impl Future<Output = DomainResult<Self>> + Send;

    /// Checks (and completes) a new or changed row; `old` is None on create.
    fn check(
        conn: &mut AsyncPgConnection,
        ctx: &Ctx,
        row: &mut Self,
        old: Option<&Self>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Checks before deleting.
    fn check_delete(_row: &Self) -> DomainResult<()> {
        Ok(())
    }

    /// Rights a row asks for beyond its type's role lines (my company needs the settings
    /// right). Every write asks it of the row before and after the change, every delete and
    /// merge of the row it removes.
    fn check_rights(_actor: &Actor, _row: &Self) -> DomainResult<()> {
        Ok(())
    }

    /// Work that follows a stored write in the same transaction (stage history, ...).
    fn after_save(
        _conn: &mut AsyncPgConnection,
        _ctx: &Ctx,
        _old: Option<&Self>,
        _new: &Self,
    ) -> impl Future<Output = DomainResult<()>> + Send {
        async { Ok(()) }
    }
}

macro_rules! stamped {
    ($ty:ty) => {
        fn id(&self) -> i64 {
            self.id
        }
        fn version(&self) -> i32 {
            self.version
        }
        fn custom_mut(&mut self) -> &mut serde_json::Value {
            &mut self.custom
        }
        fn stamp(&mut self, actor_id: i64, version: i32) {
            let now = chrono::Utc::now();
            if version == 1 {
                self.created_at = now;
                self.created_by_id = Some(actor_id);
            }
            self.updated_at = now;
            self.updated_by_id = Some(actor_id);
            self.version = version;
        }
    };
}
pub(crate) use stamped;

/// Sets `key` to `value` when the row has no value there yet (null or blank text): how
/// conversion fills an existing element and how a merge fills the kept one.
pub(crate) fn fill_empty(target: &mut Map<String, Json>, key: &str, value: &Json) {
    let empty = match target.get(key) {
        None | Some(Json::Null) => true,
        Some(Json::String(s)) => s.trim().is_empty(),
        _ => false,
    };
    if empty && !value.is_null() {
        target.insert(key.to_owned(), value.clone());
    }
}

pub(crate) fn to_map<T: Serialize>(row: &T) -> DomainResult<Map<String, Json>> {
    match serde_json::to_value(row).map_err(anyhow::Error::from)? {
        Json::Object(m) => Ok(m),
        _ => Err(anyhow::anyhow!("row did not serialise to an object").into()),
    }
}

/// Reads one element visible to `actor`, or NOT_FOUND.
pub async fn get<T: Element>(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<T> {
    query::by_ids::<T>(conn, actor, &[id]).await?.pop().ok_or_else(|| {
        DomainError::not_found(format!("{} `{}`", T::TYPE.as_str().to_lowercase(), ids::encode(T::TYPE.id_kind(), id)))
    })
}

pub(crate) async fn lock<T: Element>(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<T> {
    let mut q = Sql::new(format!("SELECT {} FROM {} t WHERE t.id = ", T::SELECT, T::TABLE));
    q.bind(Bind::Int8(id)).push(" AND ").append(&T::visibility(actor, "t")).push(" FOR UPDATE");
    let mut rows: Vec<T> = q.load(conn).await?;
    rows.pop().ok_or_else(|| {
        DomainError::not_found(format!("{} `{}`", T::TYPE.as_str().to_lowercase(), ids::encode(T::TYPE.id_kind(), id)))
    })
}

pub(crate) fn map_write_error(e: diesel::result::Error) -> DomainError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => DomainError::bad_input(
            info.column_name().map(history::camel_case).unwrap_or_else(|| "input".into()),
            "refers to something that does not exist",
        ),
        other => other.into(),
    }
}

pub(crate) async fn insert<T: Element>(conn: &mut AsyncPgConnection, row: &T) -> DomainResult<T> {
    let map = to_map(row)?;
    let json = serde_json::to_string(&map).map_err(anyhow::Error::from)?;
    let (c, rc) = insert_columns(&map);
    let mut q = Sql::new(format!(
        "INSERT INTO {t} ({c}) SELECT {rc} FROM jsonb_populate_record(NULL::{t}, jsonb_set(CAST(",
        t = T::TABLE
    ));
    q.bind(Bind::Text(json)).push(format!(
        " AS jsonb), '{{id}}', to_jsonb(nextval(pg_get_serial_sequence('{}', 'id'))))) r RETURNING *",
        T::TABLE
    ));
    q.get_result(conn).await.map_err(map_write_error)
}

/// The columns an insert names (`a, b`) and their values from the record `r` (`r.a, r.b`):
/// the row's own fields. Element tables also have generated columns (the search columns,
/// `src/search/`), and PostgreSQL refuses any value for those, even NULL, so an insert
/// cannot pass a whole record.
pub(crate) fn insert_columns(row: &Map<String, Json>) -> (String, String) {
    let cols: Vec<&str> = row.keys().map(String::as_str).collect();
    (cols.join(", "), cols.iter().map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", "))
}

pub(crate) async fn store<T: Element>(conn: &mut AsyncPgConnection, row: &T) -> DomainResult<T> {
    let map = to_map(row)?;
    let cols: Vec<&str> = map.keys().map(String::as_str).filter(|k| *k != "id").collect();
    let json = serde_json::to_string(row).map_err(anyhow::Error::from)?;
    let mut q = Sql::new(format!(
        "UPDATE {t} t SET ({c}) = (SELECT {rc} FROM jsonb_populate_record(NULL::{t}, CAST(",
        t = T::TABLE,
        c = cols.join(", "),
        rc = cols.iter().map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", "),
    ));
    q.bind(Bind::Text(json)).push(" AS jsonb)) r) WHERE t.id = ").bind(Bind::Int8(row.id())).push(" RETURNING t.*");
    q.get_result(conn).await.map_err(map_write_error)
}

#[derive(QueryableByName)]
struct LinkedId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

async fn linked_ids(conn: &mut AsyncPgConnection, spec: LinkSpec, id: i64) -> DomainResult<Vec<i64>> {
    let mut q = Sql::new(format!(
        "SELECT {o} AS id FROM {t} WHERE {s} = ",
        o = spec.other_col,
        t = spec.table,
        s = spec.own_col
    ));
    q.bind(Bind::Int8(id)).push(" ORDER BY sort, ").push(spec.other_col);
    Ok(q.load::<LinkedId>(conn).await?.into_iter().map(|r| r.id).collect())
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

/// Replaces the element's links; every linked element must exist and be readable.
async fn set_links(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    spec: LinkSpec,
    id: i64,
    mut targets: Vec<i64>,
) -> DomainResult<Option<Change>> {
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(*t));
    let table = spec.other.table();
    let mut check = Sql::new("SELECT count(*) = cardinality(");
    check.bind(Bind::Int8s(targets.clone()));
    check.push(format!(") AS ok FROM {table} t WHERE t.id = ANY(")).bind(Bind::Int8s(targets.clone())).push(") AND ");
    check.append(&crate::kernel::access::visibility::element_predicate(actor, spec.other, "t"));
    let found: Exists = check.get_result(conn).await?;
    if !found.ok {
        return Err(DomainError::bad_input(
            spec.field,
            format!("`{}` names an element that does not exist", spec.field),
        ));
    }
    let old = linked_ids(conn, spec, id).await?;
    if old == targets {
        return Ok(None);
    }
    let mut del = Sql::new(format!("DELETE FROM {} WHERE {} = ", spec.table, spec.own_col));
    del.bind(Bind::Int8(id));
    del.execute(conn).await?;
    if !targets.is_empty() {
        let mut ins = Sql::new(format!(
            "INSERT INTO {t} ({s}, {o}, is_primary, sort) SELECT ",
            t = spec.table,
            s = spec.own_col,
            o = spec.other_col
        ));
        ins.bind(Bind::Int8(id)).push(", x.id, x.n = 1, x.n FROM unnest(").bind(Bind::Int8s(targets.clone()));
        ins.push(") WITH ORDINALITY AS x(id, n)");
        ins.execute(conn).await?;
    }
    let render = |v: &[i64]| v.iter().map(|i| ids::encode(spec.other.id_kind(), *i)).collect::<Vec<_>>();
    Ok(Some(history::list_change(spec.field, &render(&old), &render(&targets))))
}

fn comm_changes(changed: Vec<(comms::CommKind, Vec<String>, Vec<String>)>) -> Vec<Change> {
    changed.into_iter().map(|(k, o, n)| history::list_change(k.field(), &o, &n)).collect()
}

pub(crate) fn element_ref<T: Element>(row: &T) -> ElementRef {
    ElementRef { element_type: T::TYPE, id: row.id() }
}

/// Communications of each kind to store, already validated.
pub(crate) type CleanComms = Vec<(comms::CommKind, Vec<comms::CleanComm>)>;

pub(crate) async fn finish_write<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    row: &T,
    links: Option<Vec<i64>>,
    comms_to_set: CleanComms,
) -> DomainResult<Vec<Change>> {
    let mut changes = Vec::new();
    if !comms_to_set.is_empty() {
        changes.extend(comm_changes(comms::replace(conn, T::TYPE, row.id(), comms_to_set).await?));
    }
    if let (Some(spec), Some(targets)) = (T::LINKS, links) {
        changes.extend(set_links(conn, &ctx.actor, spec, row.id(), targets).await?);
    }
    Ok(changes)
}

/// How a write shows up in history and in the outbox.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: HistoryKind,
    pub action: EventAction,
    pub text: Option<String>,
}

impl Op {
    pub fn new(kind: HistoryKind, action: EventAction, text: impl Into<String>) -> Op {
        Op { kind, action, text: Some(text.into()) }
    }

    pub fn created(text: Option<String>) -> Op {
        Op { kind: HistoryKind::Created, action: EventAction::Created, text }
    }

    pub fn updated() -> Op {
        Op { kind: HistoryKind::Updated, action: EventAction::Updated, text: None }
    }
}

pub async fn create<T: Element>(conn: &mut AsyncPgConnection, ctx: &Ctx, write: Write<T>) -> DomainResult<T> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| create_in_tx(conn, &ctx, write, Op::created(None)).await).await
}

/// `create` inside a transaction the caller holds (conversion creates several elements).
pub(crate) async fn create_in_tx<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    write: Write<T>,
    op: Op,
) -> DomainResult<T> {
    ctx.actor.rights.check_may(T::TYPE, Action::Add)?;
    let blank = T::blank(conn, ctx).await?;
    let Prepared { row, comms: comms_to_set, links } = prepare_create(conn, ctx, blank, write).await?;
    let saved = insert(conn, &row).await?;
    let extra = finish_write(conn, ctx, &saved, links, comms_to_set).await?;
    T::after_save(conn, ctx, None, &saved).await?;
    let r = element_ref(&saved);
    let changed = created_fields(&saved, &extra)?;
    history::record(conn, ctx.actor.user_id, r, op.kind, op.text, &[]).await?;
    let after = snapshot(&saved)?;
    crate::notifications::sources::assigned(conn, ctx.actor.user_id, r, None, &after).await?;
    outbox::append(conn, ctx.actor.user_id, r, op.action, changed, after).await?;
    Ok(saved)
}

/// A row checked and completed by the element's rules, ready to store, with what is stored
/// beside it.
pub(crate) struct Prepared<T> {
    pub row: T,
    pub comms: CleanComms,
    pub links: Option<Vec<i64>>,
}

/// Every rule a new element passes before it is stored (the caller has checked that the
/// actor may add this type at all): `blank` with the client's write applied, rights on the
/// result, custom fields, the type's own rules, communications, duplicates when refused.
pub(crate) async fn prepare_create<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    mut row: T,
    write: Write<T>,
) -> DomainResult<Prepared<T>> {
    (write.apply)(&mut row)?;
    // The row's assignee, `opened` and pipeline are known once the client's fields are in.
    let new = snapshot(&row)?;
    ctx.actor.rights.check(T::TYPE, Action::Add, &new)?;
    T::check_rights(&ctx.actor, &row)?;
    validate::text_lengths(&new, None)?;
    custom_fields::apply(conn, &ctx.actor, T::TYPE, row.custom_mut(), &write.custom, true).await?;
    T::check(conn, ctx, &mut row, None).await?;
    let comms_to_set = write.comms.validate(ctx.phone_region)?;
    if write.reject_duplicates {
        crate::crm::shared::duplicates::reject_if_any(conn, &ctx.actor, T::TYPE, &row, &comms_to_set, ctx.phone_region)
            .await?;
    }
    row.stamp(ctx.actor.user_id, 1);
    Ok(Prepared { row, comms: comms_to_set, links: write.links })
}

/// A new element's "changed" fields: the ones it was created with.
pub(crate) fn created_fields<T: Serialize>(saved: &T, extra: &[Change]) -> DomainResult<Vec<String>> {
    let mut changed: Vec<String> =
        to_map(saved)?.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| history::camel_case(k)).collect();
    changed.extend(extra.iter().map(|c| c.field.clone()));
    Ok(changed)
}

pub(crate) fn snapshot<T: Serialize>(row: &T) -> DomainResult<Json> {
    Ok(serde_json::to_value(row).map_err(anyhow::Error::from)?)
}

pub async fn update<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    expected_version: Option<i32>,
    write: Write<T>,
) -> DomainResult<T> {
    update_as(conn, ctx, id, expected_version, write, Op::updated()).await
}

/// A change the server makes on the caller's behalf (a status, a stage, a close): fields of the
/// row only, recorded as `op`.
pub async fn change<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    op: Op,
    apply: impl FnOnce(&mut T) -> DomainResult<()> + Send + 'static,
) -> DomainResult<T> {
    update_as(conn, ctx, id, None, Write::fields(apply), op).await
}

/// An update recorded as `op` (a stage move, a status change, ...).
async fn update_as<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    expected_version: Option<i32>,
    write: Write<T>,
    op: Op,
) -> DomainResult<T> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let old: T = lock(conn, &ctx.actor, id).await?;
        // Rights before the version, so a caller who may not write learns nothing more.
        ctx.actor.rights.check(T::TYPE, Action::Write, &snapshot(&old)?)?;
        check_version(expected_version, old.version())?;
        update_locked(conn, &ctx, old, write, op, Vec::new()).await
    })
    .await
}

pub fn check_version(expected: Option<i32>, actual: i32) -> DomainResult<()> {
    match expected {
        Some(e) if e != actual => Err(DomainError::conflict(
            format!("stale version: expected {e}, the element is at version {actual}"),
            serde_json::json!({ "currentVersion": actual }),
        )),
        _ => Ok(()),
    }
}

/// Moving a deal into another pipeline needs WRITE on it there too: role lines may differ
/// by pipeline. (Handing an element to another assignee needs no right over theirs.)
fn check_pipeline_move(actor: &Actor, element_type: ElementType, old: &Json, new: &Json) -> DomainResult<()> {
    let (before, after) = (Facts::of(old), Facts::of(new));
    if after.pipeline_id == before.pipeline_id {
        return Ok(());
    }
    let moved = Facts { pipeline_id: after.pipeline_id, ..before };
    if actor.rights.allows(element_type, Action::Write, &moved) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("your roles do not allow WRITE on deals in that pipeline".into()))
    }
}

/// Applies a write to a row the caller has locked, inside the caller's transaction.
/// `extra` carries changes made outside the row (product rows, merged links) for history.
pub(crate) async fn update_locked<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    old: T,
    write: Write<T>,
    op: Op,
    extra: Vec<Change>,
) -> DomainResult<T> {
    let Prepared { mut row, comms: comms_to_set, links } = prepare_update(conn, ctx, &old, write).await?;
    let mut changes = history::diff(&to_map(&old)?, &to_map(&row)?);
    changes.extend(finish_write(conn, ctx, &row, links, comms_to_set).await?);
    changes.extend(extra);
    if changes.is_empty() && op.text.is_none() {
        // Nothing changed: no new version, no history, no event.
        return Ok(old);
    }
    row.stamp(ctx.actor.user_id, old.version() + 1);
    let saved = store(conn, &row).await?;
    T::after_save(conn, ctx, Some(&old), &saved).await?;
    let r = element_ref(&saved);
    let after = snapshot(&saved)?;
    crate::notifications::sources::assigned(conn, ctx.actor.user_id, r, Some(&snapshot(&old)?), &after).await?;
    let event = outbox::Pending::change(r, op.action, &changes, after);
    history::record(conn, ctx.actor.user_id, r, op.kind, op.text, &changes).await?;
    outbox::insert(conn, ctx.actor.user_id, event).await?;
    Ok(saved)
}

/// Every rule a changed element passes before it is stored: rights on the row before and
/// after, custom fields, the type's own rules against the old row, text lengths, a pipeline
/// move, communications. The row is not stamped: an update that changes nothing keeps its
/// version.
pub(crate) async fn prepare_update<T: Element>(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    old: &T,
    write: Write<T>,
) -> DomainResult<Prepared<T>> {
    let old_snapshot = snapshot(old)?;
    ctx.actor.rights.check(T::TYPE, Action::Write, &old_snapshot)?;
    T::check_rights(&ctx.actor, old)?;
    let mut row = old.clone();
    (write.apply)(&mut row)?;
    T::check_rights(&ctx.actor, &row)?;
    custom_fields::apply(conn, &ctx.actor, T::TYPE, row.custom_mut(), &write.custom, false).await?;
    T::check(conn, ctx, &mut row, Some(old)).await?;
    let new_snapshot = snapshot(&row)?;
    validate::text_lengths(&new_snapshot, Some(&old_snapshot))?;
    check_pipeline_move(&ctx.actor, T::TYPE, &old_snapshot, &new_snapshot)?;
    let comms_to_set = write.comms.validate(ctx.phone_region)?;
    Ok(Prepared { row, comms: comms_to_set, links: write.links })
}

pub async fn delete<T: Element>(conn: &mut AsyncPgConnection, ctx: &Ctx, id: i64) -> DomainResult<i64> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let old: T = lock(conn, &ctx.actor, id).await?;
        ctx.actor.rights.check(T::TYPE, Action::Delete, &snapshot(&old)?)?;
        T::check_rights(&ctx.actor, &old)?;
        T::check_delete(&old)?;
        if matches!(T::TYPE, ElementType::Lead | ElementType::Contact | ElementType::Company) {
            comms::delete_all(conn, T::TYPE, id).await?;
        }
        let r = element_ref(&old);
        // Nothing may stay behind that no one can see: activities and product rows go with
        // the element (recorded in its DELETED entry) or pass to what they are bound to.
        let mut changes: Vec<Change> =
            crate::activity::rules::element_deleted(conn, &ctx, r).await?.into_iter().collect();
        if matches!(T::TYPE, ElementType::Lead | ElementType::Deal) {
            changes.extend(crate::crm::shared::products::delete_rows_of(conn, r).await?);
        }
        let mut q = Sql::new(format!("DELETE FROM {} WHERE id = ", T::TABLE));
        q.bind(Bind::Int8(id));
        q.execute(conn).await?;
        history::record(conn, ctx.actor.user_id, r, HistoryKind::Deleted, None, &changes).await?;
        outbox::append(
            conn,
            ctx.actor.user_id,
            r,
            EventAction::Deleted,
            vec![],
            serde_json::to_value(&old).map_err(anyhow::Error::from)?,
        )
        .await?;
        Ok(id)
    })
    .await
}

/// Locks an element for a change that is not a field write (a comment, an activity) and
/// checks that the caller may WRITE it: NOT_FOUND when they cannot read it.
async fn lock_writable<T: Element>(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<()> {
    let row: T = lock(conn, actor, id).await?;
    actor.rights.check(T::TYPE, Action::Write, &snapshot(&row)?)
}

/// Adds a user-written comment to an element's timeline. A comment changes the element's
/// record (its timeline, history subscribers, counters), so it needs WRITE on the element,
/// like an activity does; a role that may only read an element cannot annotate it.
pub async fn add_comment(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    element: ElementRef,
    text: String,
) -> DomainResult<TimelineEntry> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        match element.element_type {
            ElementType::Lead => lock_writable::<models::Lead>(conn, &ctx.actor, element.id).await?,
            ElementType::Contact => lock_writable::<models::Contact>(conn, &ctx.actor, element.id).await?,
            ElementType::Company => lock_writable::<models::Company>(conn, &ctx.actor, element.id).await?,
            ElementType::Deal => lock_writable::<models::Deal>(conn, &ctx.actor, element.id).await?,
        }
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(DomainError::bad_input("text", "a comment must not be empty"));
        }
        // The entry reaches subscribers through its own TIMELINE event.
        let entry =
            history::record(conn, ctx.actor.user_id, element, HistoryKind::Comment, Some(text.clone()), &[]).await?;
        crate::notifications::sources::mentioned(conn, ctx.actor.user_id, element, &text).await?;
        Ok(entry)
    })
    .await
}

/// Reads an element the caller is about to change through a lifecycle step (a stage move, a
/// status change): NOT_FOUND when they cannot read it, FORBIDDEN when they may not WRITE it,
/// both before the step looks at anything else the client sent.
pub async fn get_writable<T: Element>(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<T> {
    let row: T = get(conn, actor, id).await?;
    actor.rights.check(T::TYPE, Action::Write, &snapshot(&row)?)?;
    T::check_rights(actor, &row)?;
    Ok(row)
}

/// Checks that an element referenced by a field exists and is readable.
pub async fn check_ref<T: Element>(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: i64,
    field: &str,
) -> DomainResult<()> {
    crate::kernel::memo::cached(|| format!("ref:{}:{}:{id}", T::TYPE.as_str(), actor.user_id), async {
        match get::<T>(conn, actor, id).await {
            Ok(_) => Ok(()),
            Err(DomainError::NotFound(_)) => {
                Err(DomainError::bad_input(field, format!("`{field}` names no {}", T::TYPE.as_str().to_lowercase())))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

pub fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

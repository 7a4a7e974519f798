//! Activities: calls, meetings, tasks, e-mails and to-dos bound to one or more elements.
//! Adding, completing and reopening one writes history on every element it is bound to,
//! and every change goes through the outbox (counters follow from it).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Jsonb;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::db::schema::{activities, activity_bindings};
use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Action;
use crate::kernel::actor::Actor;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::{EventAction, HistoryKind, Words, stored_words};
use crate::kernel::models::{Activity, Company, Contact, Deal, Lead};
use crate::kernel::validate;
use crate::kernel::write::{self as elements, Ctx};
use crate::kernel::{ElementRef, ElementType, history, ids, outbox};
use crate::org::auth::check_user;

stored_words! {
    /// What kind of activity it is (`activities.type`).
    ActivityType { Call = "CALL", Meeting = "MEETING", Task = "TASK", Email = "EMAIL", Todo = "TODO", }
}

stored_words! {
    /// Whether the customer or we started it (`activities.direction`); INCOMING ones count in
    /// the counters' `incoming`.
    Direction { Incoming = "INCOMING", Outgoing = "OUTGOING", }
}

stored_words! {
    /// How urgent it is (`activities.priority`).
    Priority { Low = "LOW", Medium = "MEDIUM", High = "HIGH", }
}

/// An activity as a client describes it; `None` keeps the current value on update.
#[derive(Clone, Debug, Default)]
pub struct ActivityPatch {
    pub activity_type: Option<String>,
    pub subject: Option<String>,
    pub description: Option<Option<String>>,
    pub direction: Option<Option<String>>,
    pub priority: Option<String>,
    pub start_at: Option<Option<DateTime<Utc>>>,
    pub end_at: Option<Option<DateTime<Utc>>>,
    pub deadline: Option<Option<DateTime<Utc>>>,
    pub responsible_id: Option<i64>,
    pub owner: Option<ElementRef>,
    pub bindings: Option<Vec<ElementRef>>,
    pub communications: Option<serde_json::Value>,
}

async fn check_element(conn: &mut AsyncPgConnection, actor: &Actor, r: ElementRef, field: &str) -> DomainResult<()> {
    let res = match r.element_type {
        ElementType::Lead => elements::get::<Lead>(conn, actor, r.id).await.map(drop),
        ElementType::Contact => elements::get::<Contact>(conn, actor, r.id).await.map(drop),
        ElementType::Company => elements::get::<Company>(conn, actor, r.id).await.map(drop),
        ElementType::Deal => elements::get::<Deal>(conn, actor, r.id).await.map(drop),
    };
    match res {
        Err(DomainError::NotFound(_)) => Err(DomainError::bad_input(field, format!("`{field}` names no element"))),
        other => other,
    }
}

#[derive(diesel::QueryableByName)]
struct RightsFacts {
    #[diesel(sql_type = Jsonb)]
    row: serde_json::Value,
}

/// An activity shows on the timeline and in the counters of every element it is bound to,
/// so creating, changing, rebinding, completing, reopening or deleting one needs WRITE on
/// each of them (READ on its owner is enough to see it). The facts come from the stored
/// rows whatever the caller may read: a binding the caller cannot see still needs WRITE, and
/// one whose element is gone asks nothing.
async fn check_writable(conn: &mut AsyncPgConnection, actor: &Actor, refs: &[ElementRef]) -> DomainResult<()> {
    if actor.rights.admin {
        return Ok(());
    }
    for et in ElementType::ALL {
        let ids: Vec<i64> = refs.iter().filter(|r| r.element_type == et).map(|r| r.id).collect();
        if ids.is_empty() {
            continue;
        }
        let pipeline = if et == ElementType::Deal { "t.pipeline_id" } else { "NULL::bigint" };
        let mut q = Sql::new(format!(
            "SELECT jsonb_build_object('assigned_to_id', t.assigned_to_id, 'opened', t.opened, 'pipeline_id', {pipeline}) \
             AS row FROM {} t WHERE t.id = ANY(",
            et.table()
        ));
        q.bind(Bind::Int8s(ids)).push(")");
        let rows: Vec<RightsFacts> = q.load(conn).await?;
        for r in rows {
            actor.rights.check(et, Action::Write, &r.row)?;
        }
    }
    Ok(())
}

fn owner_of(a: &Activity) -> ElementRef {
    ElementRef { element_type: ElementType::parse(&a.owner_type).unwrap_or(ElementType::Lead), id: a.owner_id }
}

/// The elements a stored activity is bound to, its owner always among them.
async fn bound_now(conn: &mut AsyncPgConnection, a: &Activity) -> DomainResult<Vec<ElementRef>> {
    let mut bound = bindings_of(conn, a.id).await?;
    let owner = owner_of(a);
    if !bound.contains(&owner) {
        bound.insert(0, owner);
    }
    Ok(bound)
}

/// The stored word for `value` (any case), or BAD_USER_INPUT naming the words allowed.
fn one_of<K: Words>(field: &str, value: &str) -> DomainResult<String> {
    match K::from_word(&value.trim().to_ascii_uppercase()) {
        Some(k) => Ok(k.word().to_owned()),
        None => {
            let allowed: Vec<&str> = K::ALL.iter().map(|k| k.word()).collect();
            Err(DomainError::bad_input(field, format!("`{value}` is not one of {}", allowed.join(", "))))
        }
    }
}

fn apply(a: &mut Activity, p: &ActivityPatch) -> DomainResult<()> {
    if let Some(t) = &p.activity_type {
        a.activity_type = one_of::<ActivityType>("type", t)?;
    }
    if let Some(s) = &p.subject {
        a.subject = s.trim().to_owned();
    }
    if let Some(d) = &p.description {
        a.description = d.clone();
    }
    if let Some(d) = &p.direction {
        a.direction = d.as_deref().map(|d| one_of::<Direction>("direction", d)).transpose()?;
    }
    if let Some(pr) = &p.priority {
        a.priority = one_of::<Priority>("priority", pr)?;
    }
    if let Some(v) = p.start_at {
        a.start_at = v;
    }
    if let Some(v) = p.end_at {
        a.end_at = v;
    }
    if let Some(v) = p.deadline {
        a.deadline = v;
    }
    if let Some(r) = p.responsible_id {
        a.responsible_id = r;
    }
    if let Some(c) = &p.communications {
        a.communications = c.clone();
    }
    if a.subject.is_empty() {
        return Err(DomainError::bad_input("subject", "`subject` is required"));
    }
    if a.subject.chars().count() > validate::MAX_TEXT_CHARS {
        return Err(DomainError::bad_input(
            "subject",
            format!("`subject` holds at most {} characters", validate::MAX_TEXT_CHARS),
        ));
    }
    if a.description.as_deref().is_some_and(|d| d.chars().count() > validate::MAX_LONG_TEXT_CHARS) {
        return Err(DomainError::bad_input(
            "description",
            format!("`description` holds at most {} characters", validate::MAX_LONG_TEXT_CHARS),
        ));
    }
    if let (Some(s), Some(e)) = (a.start_at, a.end_at)
        && e < s
    {
        return Err(DomainError::bad_input("endAt", "`endAt` is before `startAt`"));
    }
    Ok(())
}

async fn bindings_of(conn: &mut AsyncPgConnection, id: i64) -> DomainResult<Vec<ElementRef>> {
    let rows: Vec<(String, i64)> = activity_bindings::table
        .filter(activity_bindings::activity_id.eq(id))
        .order((activity_bindings::element_type, activity_bindings::element_id))
        .select((activity_bindings::element_type, activity_bindings::element_id))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, i)| Some(ElementRef { element_type: ElementType::parse(&t)?, id: i }))
        .collect())
}

async fn set_bindings(conn: &mut AsyncPgConnection, id: i64, refs: &[ElementRef]) -> DomainResult<()> {
    diesel::delete(activity_bindings::table.filter(activity_bindings::activity_id.eq(id))).execute(conn).await?;
    let rows: Vec<_> = refs
        .iter()
        .map(|r| {
            (
                activity_bindings::activity_id.eq(id),
                activity_bindings::element_type.eq(r.element_type.as_str()),
                activity_bindings::element_id.eq(r.id),
            )
        })
        .collect();
    diesel::insert_into(activity_bindings::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
    Ok(())
}

/// Binds activities to more elements (conversion binds a lead's open activities to what it
/// became).
pub async fn bind(conn: &mut AsyncPgConnection, ids: &[i64], to: ElementRef) -> DomainResult<()> {
    let rows: Vec<_> = ids
        .iter()
        .map(|id| {
            (
                activity_bindings::activity_id.eq(*id),
                activity_bindings::element_type.eq(to.element_type.as_str()),
                activity_bindings::element_id.eq(to.id),
            )
        })
        .collect();
    diesel::insert_into(activity_bindings::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
    Ok(())
}

/// Open activities bound to an element.
pub async fn open_of(conn: &mut AsyncPgConnection, element: ElementRef) -> DomainResult<Vec<Activity>> {
    let mut q = Sql::new(
        "SELECT t.*, t.type AS type_ FROM activities t JOIN activity_bindings b ON b.activity_id = t.id WHERE NOT t.completed AND b.element_type = ",
    );
    q.bind(Bind::Text(element.element_type.as_str().into())).push(" AND b.element_id = ").bind(Bind::Int8(element.id));
    q.push(" ORDER BY t.id");
    Ok(q.load(conn).await?)
}

/// History on every bound element, and one ACTIVITY event for subscribers and counters.
async fn record(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    a: &Activity,
    kind: HistoryKind,
    action: EventAction,
    bound: &[ElementRef],
) -> DomainResult<()> {
    let text = describe(a);
    for r in bound {
        history::record(conn, ctx.actor.user_id, *r, kind, Some(text.clone()), &[]).await?;
    }
    activity_event(conn, ctx, a, action).await
}

/// How an activity reads in history: `call activity:7: Call back`.
fn describe(a: &Activity) -> String {
    format!("{} {}: {}", a.activity_type.to_lowercase(), ids::encode(ids::IdKind::Activity, a.id), a.subject)
}

async fn activity_event(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    a: &Activity,
    action: EventAction,
) -> DomainResult<()> {
    let owner =
        ElementRef { element_type: ElementType::parse(&a.owner_type).unwrap_or(ElementType::Lead), id: a.owner_id };
    // Activity events ride on the owner element's stream but say what they are.
    outbox::append(
        conn,
        ctx.actor.user_id,
        owner,
        action,
        vec![],
        json!({ "activity": a, "responsibleId": a.responsible_id }),
    )
    .await?;
    Ok(())
}

pub async fn create(conn: &mut AsyncPgConnection, ctx: &Ctx, patch: ActivityPatch) -> DomainResult<Activity> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let owner = patch.owner.ok_or_else(|| DomainError::bad_input("owner", "`owner` is required"))?;
        check_element(conn, &ctx.actor, owner, "owner").await?;
        let mut bound = vec![owner];
        for (i, r) in patch.bindings.clone().unwrap_or_default().into_iter().enumerate() {
            check_element(conn, &ctx.actor, r, &format!("bindings[{i}]")).await?;
            if !bound.contains(&r) {
                bound.push(r);
            }
        }
        check_writable(conn, &ctx.actor, &bound).await?;
        let now = Utc::now();
        let mut a = Activity {
            id: 0,
            activity_type: String::new(),
            subject: String::new(),
            description: None,
            direction: None,
            priority: Priority::Medium.as_str().into(),
            start_at: None,
            end_at: None,
            deadline: None,
            completed: false,
            completed_at: None,
            responsible_id: ctx.actor.user_id,
            owner_type: owner.element_type.as_str().into(),
            owner_id: owner.id,
            communications: json!([]),
            created_at: now,
            updated_at: now,
            created_by_id: Some(ctx.actor.user_id),
            updated_by_id: Some(ctx.actor.user_id),
            version: 1,
        };
        if patch.activity_type.is_none() {
            return Err(DomainError::bad_input("type", "`type` is required"));
        }
        apply(&mut a, &patch)?;
        check_user(conn, a.responsible_id, "responsibleId").await?;
        let saved: Activity = diesel::insert_into(activities::table)
            .values((
                Editable::of(&a),
                activities::owner_type.eq(&a.owner_type),
                activities::owner_id.eq(a.owner_id),
                activities::created_by_id.eq(a.created_by_id),
                activities::updated_by_id.eq(a.updated_by_id),
            ))
            .returning(Activity::as_returning())
            .get_result(conn)
            .await?;
        set_bindings(conn, saved.id, &bound).await?;
        record(conn, &ctx, &saved, HistoryKind::ActivityAdded, EventAction::ActivityCreated, &bound).await?;
        Ok(saved)
    })
    .await
}

/// The columns a caller edits, written alike on create and on update.
#[derive(diesel::Insertable, diesel::AsChangeset)]
#[diesel(table_name = activities, treat_none_as_null = true)]
struct Editable<'a> {
    #[diesel(column_name = type_)]
    activity_type: &'a str,
    subject: &'a str,
    description: Option<&'a str>,
    direction: Option<&'a str>,
    priority: &'a str,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
    responsible_id: i64,
    communications: &'a serde_json::Value,
}

impl<'a> Editable<'a> {
    fn of(a: &'a Activity) -> Self {
        Editable {
            activity_type: &a.activity_type,
            subject: &a.subject,
            description: a.description.as_deref(),
            direction: a.direction.as_deref(),
            priority: &a.priority,
            start_at: a.start_at,
            end_at: a.end_at,
            deadline: a.deadline,
            responsible_id: a.responsible_id,
            communications: &a.communications,
        }
    }
}

async fn lock(conn: &mut AsyncPgConnection, actor: &Actor, id: i64) -> DomainResult<Activity> {
    let a: Activity = activities::table
        .find(id)
        .for_update()
        .select(Activity::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| DomainError::not_found(format!("activity `{}`", ids::encode(ids::IdKind::Activity, id))))?;
    // Readable when its owner is.
    match check_element(conn, actor, owner_of(&a), "id").await {
        Ok(()) => Ok(a),
        Err(_) => Err(DomainError::not_found(format!("activity `{}`", ids::encode(ids::IdKind::Activity, id)))),
    }
}

async fn store(conn: &mut AsyncPgConnection, ctx: &Ctx, mut a: Activity) -> DomainResult<Activity> {
    a.version += 1;
    a.updated_at = Utc::now();
    a.updated_by_id = Some(ctx.actor.user_id);
    Ok(diesel::update(activities::table.find(a.id))
        .set((
            Editable::of(&a),
            activities::completed.eq(a.completed),
            activities::completed_at.eq(a.completed_at),
            activities::updated_at.eq(a.updated_at),
            activities::updated_by_id.eq(a.updated_by_id),
            activities::version.eq(a.version),
        ))
        .returning(Activity::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    expected_version: Option<i32>,
    patch: ActivityPatch,
) -> DomainResult<Activity> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let mut a = lock(conn, &ctx.actor, id).await?;
        // Rebinding needs WRITE on what it leaves and on what it reaches.
        let mut touched = bound_now(conn, &a).await?;
        for (i, r) in patch.bindings.iter().flatten().enumerate() {
            check_element(conn, &ctx.actor, *r, &format!("bindings[{i}]")).await?;
            touched.push(*r);
        }
        check_writable(conn, &ctx.actor, &touched).await?;
        elements::check_version(expected_version, a.version)?;
        if patch.owner.is_some() {
            return Err(DomainError::bad_input(
                "owner",
                "an activity's owner cannot change; bind it to more elements instead",
            ));
        }
        apply(&mut a, &patch)?;
        if patch.responsible_id.is_some() {
            check_user(conn, a.responsible_id, "responsibleId").await?;
        }
        if let Some(extra) = &patch.bindings {
            let mut bound = vec![owner_of(&a)];
            for r in extra {
                if !bound.contains(r) {
                    bound.push(*r);
                }
            }
            set_bindings(conn, a.id, &bound).await?;
        }
        let saved = store(conn, &ctx, a).await?;
        activity_event(conn, &ctx, &saved, EventAction::ActivityUpdated).await?;
        Ok(saved)
    })
    .await
}

/// Completes or reopens an activity, with history on every bound element.
pub async fn set_completed(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    id: i64,
    completed: bool,
) -> DomainResult<Activity> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let mut a = lock(conn, &ctx.actor, id).await?;
        let bound = bound_now(conn, &a).await?;
        check_writable(conn, &ctx.actor, &bound).await?;
        if a.completed == completed {
            return Ok(a);
        }
        a.completed = completed;
        a.completed_at = completed.then(Utc::now);
        let saved = store(conn, &ctx, a).await?;
        let bound = bindings_of(conn, saved.id).await?;
        let (kind, action) = if completed {
            (HistoryKind::ActivityCompleted, EventAction::ActivityCompleted)
        } else {
            (HistoryKind::ActivityReopened, EventAction::ActivityReopened)
        };
        record(conn, &ctx, &saved, kind, action, &bound).await?;
        Ok(saved)
    })
    .await
}

/// Completes activities inside the caller's transaction (conversion), with WRITE on every
/// element each is bound to.
pub async fn complete_in_tx(conn: &mut AsyncPgConnection, ctx: &Ctx, list: Vec<Activity>) -> DomainResult<()> {
    for a in &list {
        // Completing shows on every element the activity is bound to, not only the lead's.
        let bound = bound_now(conn, a).await?;
        check_writable(conn, &ctx.actor, &bound).await?;
    }
    for mut a in list {
        a.completed = true;
        a.completed_at = Some(Utc::now());
        let saved = store(conn, ctx, a).await?;
        let bound = bindings_of(conn, saved.id).await?;
        record(conn, ctx, &saved, HistoryKind::ActivityCompleted, EventAction::ActivityCompleted, &bound).await?;
    }
    Ok(())
}

pub async fn delete(conn: &mut AsyncPgConnection, ctx: &Ctx, id: i64) -> DomainResult<i64> {
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let a = lock(conn, &ctx.actor, id).await?;
        let bound = bound_now(conn, &a).await?;
        check_writable(conn, &ctx.actor, &bound).await?;
        diesel::delete(activities::table.find(id)).execute(conn).await?;
        activity_event(conn, &ctx, &a, EventAction::ActivityDeleted).await?;
        Ok(id)
    })
    .await
}

/// What becomes of activities when `element` is deleted (inside the caller's transaction).
/// An activity it owns that is bound to other elements too passes to the first of them (by
/// type name, then id), with an ACTIVITY_MOVED entry in that element's history; one bound to
/// nothing else is deleted with it. Every binding to the element goes. Returns the deleted
/// activities as a change for the element's own DELETED history entry.
pub(crate) async fn element_deleted(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    element: ElementRef,
) -> DomainResult<Option<history::Change>> {
    let owned: Vec<Activity> = activities::table
        .filter(activities::owner_type.eq(element.element_type.as_str()))
        .filter(activities::owner_id.eq(element.id))
        .order(activities::id)
        .for_update()
        .select(Activity::as_select())
        .load(conn)
        .await?;
    let ids: Vec<i64> = owned.iter().map(|a| a.id).collect();
    let mut bound = bindings_for(conn, &ids).await?;
    // Each activity passes to the next element it is bound to, which changes that element
    // (its activities, its history): the deleting user needs WRITE there too.
    let heirs: Vec<ElementRef> =
        ids.iter().filter_map(|id| bound.get(id)?.iter().find(|r| **r != element).copied()).collect();
    check_writable(conn, &ctx.actor, &heirs).await?;
    let from = ids::encode(element.element_type.id_kind(), element.id);
    let mut deleted = Vec::new();
    for a in owned {
        let next = bound.remove(&a.id).unwrap_or_default().into_iter().find(|r| *r != element);
        match next {
            Some(next) => {
                let saved: Activity = diesel::update(activities::table.find(a.id))
                    .set((
                        activities::owner_type.eq(next.element_type.as_str()),
                        activities::owner_id.eq(next.id),
                        activities::version.eq(a.version + 1),
                        activities::updated_at.eq(Utc::now()),
                        activities::updated_by_id.eq(Some(ctx.actor.user_id)),
                    ))
                    .returning(Activity::as_returning())
                    .get_result(conn)
                    .await?;
                let text = format!("{} (from deleted {from})", describe(&saved));
                history::record(conn, ctx.actor.user_id, next, HistoryKind::ActivityMoved, Some(text), &[]).await?;
                activity_event(conn, ctx, &saved, EventAction::ActivityUpdated).await?;
            }
            None => {
                diesel::delete(activities::table.find(a.id)).execute(conn).await?;
                activity_event(conn, ctx, &a, EventAction::ActivityDeleted).await?;
                deleted.push(describe(&a));
            }
        }
    }
    diesel::delete(
        activity_bindings::table
            .filter(activity_bindings::element_type.eq(element.element_type.as_str()))
            .filter(activity_bindings::element_id.eq(element.id)),
    )
    .execute(conn)
    .await?;
    Ok((!deleted.is_empty()).then(|| history::list_change("activities", &deleted, &[])))
}

/// Elements an activity is bound to, for many activities at once.
pub async fn bindings_for(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> DomainResult<std::collections::HashMap<i64, Vec<ElementRef>>> {
    let rows: Vec<(i64, String, i64)> = activity_bindings::table
        .filter(activity_bindings::activity_id.eq_any(ids))
        .order((activity_bindings::activity_id, activity_bindings::element_type, activity_bindings::element_id))
        .select((activity_bindings::activity_id, activity_bindings::element_type, activity_bindings::element_id))
        .load(conn)
        .await?;
    let mut out: std::collections::HashMap<i64, Vec<ElementRef>> = ids.iter().map(|i| (*i, Vec::new())).collect();
    for (a, t, e) in rows {
        if let Some(et) = ElementType::parse(&t) {
            out.entry(a).or_default().push(ElementRef { element_type: et, id: e });
        }
    }
    Ok(out)
}

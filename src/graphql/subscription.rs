//! Subscriptions: element changes and new history entries, live from the instance's event
//! bus, optionally resuming after an event id (replayed from PostgreSQL, with no gap and no
//! duplicate at the seam).

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, SimpleObject, Subscription, Union};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::timeline::{ElementRef, ElementTypeGql};
use super::{GqlResult, actor, conn};
use crate::domain::models::{Company, Contact, Deal, Lead, TimelineEntry};
use crate::domain::{Actor, DomainError, ElementType, elements, outbox, visibility};
use crate::events::access::Gate;
use crate::events::{Bus, Event};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ChangeAction {
    Created,
    Updated,
    Deleted,
    Converted,
    StageChanged,
    Closed,
    Merged,
}

impl ChangeAction {
    fn parse(s: &str) -> Option<ChangeAction> {
        Some(match s {
            "CREATED" => ChangeAction::Created,
            "UPDATED" => ChangeAction::Updated,
            "DELETED" => ChangeAction::Deleted,
            "CONVERTED" => ChangeAction::Converted,
            "STAGE_CHANGED" => ChangeAction::StageChanged,
            "CLOSED" => ChangeAction::Closed,
            "MERGED" => ChangeAction::Merged,
            _ => return None,
        })
    }
}

/// The element as it was right after the change.
#[derive(Union)]
pub enum AnyElement {
    Lead(Lead),
    Contact(Contact),
    Company(Company),
    Deal(Deal),
}

#[derive(SimpleObject)]
pub struct ElementChange {
    /// Pass as `after` to resume from here.
    pub event_id: ID,
    pub element_type: ElementTypeGql,
    pub element_id: ID,
    pub action: ChangeAction,
    /// camelCase names of the fields the change touched.
    pub changed_fields: Vec<String>,
    pub element: Option<AnyElement>,
}

#[derive(SimpleObject)]
pub struct TimelineEvent {
    /// Pass as `after` to resume from here.
    pub event_id: ID,
    pub entry: TimelineEntry,
}

fn snapshot(event: &Event) -> Option<AnyElement> {
    let v = event.payload.get("element")?.clone();
    Some(match ElementType::parse(&event.element_type)? {
        ElementType::Lead => AnyElement::Lead(serde_json::from_value(v).ok()?),
        ElementType::Contact => AnyElement::Contact(serde_json::from_value(v).ok()?),
        ElementType::Company => AnyElement::Company(serde_json::from_value(v).ok()?),
        ElementType::Deal => AnyElement::Deal(serde_json::from_value(v).ok()?),
    })
}

fn parse_after(after: Option<String>) -> Result<Option<i64>, DomainError> {
    after
        .map(|a| a.trim().parse::<i64>().map_err(|_| DomainError::bad_input("after", "`after` is an eventId")))
        .transpose()
}

/// Replayed events first, then live ones after the last replayed; `Lagged` ends the stream
/// with an error naming where to resume, so a slow client cannot grow memory.
/// ACCESS events are not yielded: at each, the stream waits until the connection's token has
/// been checked against it (`Gate`), and ends if the connection is being closed.
fn events(
    bus: Bus,
    after: Option<i64>,
    gate: Option<Gate>,
) -> impl Stream<Item = Result<Arc<Event>, async_graphql::Error>> {
    // Subscribe before reading the replay, so nothing falls between the two.
    let rx = bus.subscribe();
    struct State {
        bus: Bus,
        rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
        replay: Option<VecDeque<Arc<Event>>>,
        after: Option<i64>,
        last: i64,
        gate: Option<Gate>,
        done: bool,
    }
    let state = State { last: after.unwrap_or(0), bus, rx, replay: None, after, gate, done: false };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if st.replay.is_none() {
            st.replay = Some(match st.after {
                None => VecDeque::new(),
                Some(a) => match st.bus.replay(a, st.bus.last_seq()).await {
                    Ok(v) => v.into_iter().map(Arc::new).collect(),
                    Err(e) => {
                        st.done = true;
                        return Some((Err(DomainError::Internal(e.context("replaying events")).into()), st));
                    }
                },
            });
        }
        loop {
            let next = match st.replay.as_mut().and_then(VecDeque::pop_front) {
                Some(e) => Ok(e),
                None => st.rx.recv().await,
            };
            match next {
                Ok(e) if e.seq <= st.last => continue,
                Ok(e) if e.action == outbox::ACCESS => {
                    st.last = e.seq;
                    if let Some(gate) = st.gate.as_mut() {
                        if !gate.passed(e.seq).await {
                            return None;
                        }
                    }
                }
                Ok(e) => {
                    st.last = e.seq;
                    return Some((Ok(e), st));
                }
                Err(RecvError::Lagged(_)) => {
                    st.done = true;
                    let resume = st.last;
                    return Some((
                        Err(async_graphql::Error::new(format!(
                            "subscriber too slow; resubscribe with after: \"{resume}\""
                        ))),
                        st,
                    ));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// The connection's access gate (WebSocket connections have one).
fn gate(ctx: &Context<'_>) -> Option<Gate> {
    ctx.data_opt::<Gate>().cloned()
}

fn bus(ctx: &Context<'_>) -> GqlResult<Bus> {
    ctx.data::<Bus>().cloned().map_err(|_| async_graphql::Error::new("events are not available"))
}

/// The user's counters at once, then recomputed on every COUNTERS event naming the user
/// (written by the database when a write changes them, and by the ticker when a deadline
/// passes or the user's day ends); yields only changed figures.
fn counters_stream(
    user: crate::domain::models::User,
    rights: Arc<crate::domain::permissions::Rights>,
    pool: crate::db::Pool,
    bus: Bus,
    gate: Option<Gate>,
) -> impl Stream<Item = Result<super::activity::CountersGql, async_graphql::Error>> {
    use crate::domain::counters::{self, Counters};
    struct State {
        user: crate::domain::models::User,
        rights: Arc<crate::domain::permissions::Rights>,
        pool: crate::db::Pool,
        rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
        gate: Option<Gate>,
        last: Option<Counters>,
    }
    let rx = bus.subscribe();
    futures_util::stream::unfold(State { user, rights, pool, rx, gate, last: None }, |mut st| async move {
        loop {
            if st.last.is_some() {
                loop {
                    match st.rx.recv().await {
                        Ok(e) if e.action == outbox::COUNTERS && outbox::counters_concern(&e.payload, st.user.id) => {
                            break;
                        }
                        // Nothing more under rights that may be gone (see `events`).
                        Ok(e) if e.action == outbox::ACCESS => {
                            if let Some(gate) = st.gate.as_mut() {
                                if !gate.passed(e.seq).await {
                                    return None;
                                }
                            }
                        }
                        Ok(_) => {}
                        // Missed events may have concerned us: recompute.
                        Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
            let computed = async {
                let mut conn = st.pool.get().await.map_err(DomainError::from)?;
                counters::compute(&mut conn, &st.user, &st.rights, chrono::Utc::now()).await
            }
            .await;
            match computed {
                Ok(c) => {
                    let changed = st.last.as_ref().is_none_or(|l| !l.same_figures(&c));
                    st.last = Some(c.clone());
                    if changed {
                        return Some((Ok(super::activity::CountersGql(c)), st));
                    }
                }
                Err(e) => return Some((Err(e.into()), st)),
            }
        }
    })
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every change of leads, contacts, companies and deals (or of `types`) the subscriber
    /// may read. With `after`, first every retained event after that id.
    async fn element_changed(
        &self,
        ctx: &Context<'_>,
        types: Option<Vec<ElementTypeGql>>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<ElementChange, async_graphql::Error>>, async_graphql::Error> {
        let me: Actor = actor(ctx)?.clone();
        let after = parse_after(after)?;
        let types: Option<Vec<ElementType>> = types.map(|t| t.into_iter().map(Into::into).collect());
        let stream = events(bus(ctx)?, after, gate(ctx));
        Ok(futures_util::StreamExt::filter_map(stream, move |item| {
            let me = me.clone();
            let types = types.clone();
            async move {
                let e = match item {
                    Ok(e) => e,
                    Err(err) => return Some(Err(err)),
                };
                let action = ChangeAction::parse(&e.action)?;
                let et = ElementType::parse(&e.element_type)?;
                if types.as_ref().is_some_and(|t| !t.contains(&et)) || !visibility::can_read(&me, et, &e.payload) {
                    return None;
                }
                Some(Ok(ElementChange {
                    event_id: ID(e.seq.to_string()),
                    element_type: et.into(),
                    element_id: super::to_id(et.id_kind(), e.element_id),
                    action,
                    changed_fields: e.changed.clone(),
                    element: snapshot(&e),
                }))
            }
        }))
    }

    /// The user's counters (default: me) at once, then each time they change: after writes
    /// that affect them, and with no write when a deadline passes or the user's day ends.
    async fn counters_changed(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<super::activity::CountersGql, async_graphql::Error>>, async_graphql::Error>
    {
        let user = super::activity::counter_user(ctx, user_id).await?;
        let pool = ctx.data::<super::ApiState>()?.pool.clone();
        Ok(counters_stream(user, actor(ctx)?.rights.clone(), pool, bus(ctx)?, gate(ctx)))
    }

    /// Every new history entry of one element, or (without `element`) of every element the
    /// subscriber may read. With `after`, first every retained entry after that id.
    async fn timeline_added(
        &self,
        ctx: &Context<'_>,
        element: Option<ElementRef>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<TimelineEvent, async_graphql::Error>>, async_graphql::Error> {
        let me: Actor = actor(ctx)?.clone();
        let after = parse_after(after)?;
        let only = match element {
            None => None,
            Some(r) => {
                let r = r.decode()?;
                let mut c = conn(ctx).await?;
                match r.element_type {
                    ElementType::Lead => drop(elements::get::<Lead>(&mut c, &me, r.id).await?),
                    ElementType::Contact => drop(elements::get::<Contact>(&mut c, &me, r.id).await?),
                    ElementType::Company => drop(elements::get::<Company>(&mut c, &me, r.id).await?),
                    ElementType::Deal => drop(elements::get::<Deal>(&mut c, &me, r.id).await?),
                }
                Some(r)
            }
        };
        let stream = events(bus(ctx)?, after, gate(ctx));
        let pool = ctx.data::<super::ApiState>()?.pool.clone();
        Ok(futures_util::StreamExt::filter_map(stream, move |item| {
            let me = me.clone();
            let pool = pool.clone();
            async move {
                let e = match item {
                    Ok(e) => e,
                    Err(err) => return Some(Err(err)),
                };
                if e.action != outbox::TIMELINE {
                    return None;
                }
                let et = ElementType::parse(&e.element_type)?;
                if only.is_some_and(|r| r.element_type != et || r.id != e.element_id) {
                    return None;
                }
                // The payload is the entry, not the element: ask the database.
                let mut c = pool.get().await.ok()?;
                if !visibility::can_read_stored(&mut c, &me, et, e.element_id).await.ok()? {
                    return None;
                }
                let entry: TimelineEntry = serde_json::from_value(e.payload.get("element")?.clone()).ok()?;
                Some(Ok(TimelineEvent { event_id: ID(e.seq.to_string()), entry }))
            }
        }))
    }
}

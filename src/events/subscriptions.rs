//! Subscriptions: element changes and new history entries, live from the instance's event
//! bus, optionally resuming after an event id (replayed from PostgreSQL, with no gap and no
//! duplicate at the seam).

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, Enum, ErrorExtensions, ID, SimpleObject, Subscription, Union};
use futures_util::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::activity::counters::{self, Counters};
use crate::api::timeline::{ElementRef, ElementTypeGql};
use crate::api::{GqlResult, actor, conn};
use crate::db::Pool;
use crate::events::access::Gate;
use crate::events::rounds::Rounds;
use crate::events::{Bus, Event, Interrupted};
use crate::kernel::access::permissions::Rights;
use crate::kernel::access::visibility;
use crate::kernel::kinds::EventAction;
use crate::kernel::models::{Company, Contact, Deal, Lead, TimelineEntry};
use crate::kernel::write as elements;
use crate::kernel::{Actor, DomainError, DomainResult, ElementType, outbox};

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

/// The GraphQL error that ends a subscription, naming where to resume.
fn interrupted(why: Interrupted) -> async_graphql::Error {
    async_graphql::Error::new(why.message()).extend_with(|_, ext| {
        ext.set("code", why.code());
        ext.set("after", why.after().to_string());
    })
}

/// Ends a stream after its first error: an error means events may be missing from here on,
/// so the client resubscribes with the `after` it names instead of reading past a gap.
pub(crate) fn until_error<T>(
    stream: impl Stream<Item = Result<T, async_graphql::Error>>,
) -> impl Stream<Item = Result<T, async_graphql::Error>> {
    futures_util::StreamExt::scan(stream, false, |failed, item| {
        let out = (!*failed).then(|| {
            *failed = item.is_err();
            item
        });
        std::future::ready(out)
    })
}

struct EventsState {
    bus: Bus,
    /// The live broadcast; subscribed once the replay has caught up (at once without `after`).
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    /// The replay page being delivered.
    page: VecDeque<Arc<Event>>,
    /// The replay reads up to here, then the broadcast takes over.
    upto: i64,
    /// Every event up to here was delivered or was not for this subscription.
    last: i64,
    /// Whether the next event must be `last + 1`. Only a subscription without `after` starts
    /// loose: events already on their way when it started may or may not reach it.
    contiguous: bool,
    gate: Option<Gate>,
    /// The pool to load history events' readability facts through, a replay page at a time.
    warm: Option<Pool>,
    done: bool,
}

/// Replayed events first (a page at a time), then live ones; ACCESS events are not yielded.
/// Without `after` it listens at once. With `after` it replays up to the newest event
/// delivered on this instance, only then listens, and replays what was delivered meanwhile,
/// so a long replay cannot make the live receiver lag. Event numbers are checked to follow
/// each other, so a gap (a lagging receiver, pruned events, a failed read) ends the stream
/// with an error naming where to resume (`Interrupted`) instead of going unnoticed.
/// At each ACCESS event the stream waits until the connection's token has been checked
/// against it (`Gate`), and ends if the connection is being closed.
pub(crate) fn events(
    bus: Bus,
    after: Option<i64>,
    gate: Option<Gate>,
    warm: Option<Pool>,
) -> impl Stream<Item = Result<Arc<Event>, async_graphql::Error>> {
    let state = match after {
        Some(a) => EventsState {
            upto: bus.last_seq(),
            bus,
            rx: None,
            page: VecDeque::new(),
            last: a,
            contiguous: true,
            gate,
            warm,
            done: false,
        },
        None => {
            // Read before listening: what was delivered before the subscription does not
            // concern it, and resuming after this number misses nothing it was owed.
            let now = bus.last_seq();
            EventsState {
                rx: Some(bus.subscribe()),
                bus,
                page: VecDeque::new(),
                upto: now,
                last: now,
                contiguous: false,
                gate,
                warm,
                done: false,
            }
        }
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let stop = |mut st: EventsState, why: Interrupted| {
            st.done = true;
            Some((Err(interrupted(why)), st))
        };
        loop {
            let e = if let Some(e) = st.page.pop_front() {
                e
            } else if st.last < st.upto {
                let events = match st.bus.replay_page(st.last, st.upto).await {
                    Ok(events) => events,
                    Err(err) => {
                        tracing::warn!(error = %err, "event replay failed");
                        let after = st.last;
                        return stop(st, Interrupted::Unavailable { after });
                    }
                };
                if events.is_empty() {
                    // Numbers up to `upto` were handed out, yet none is left after `last`.
                    let after = st.upto;
                    return stop(st, Interrupted::Pruned { after });
                }
                if let Some(pool) = &st.warm {
                    let history: Vec<&Event> = events.iter().filter(|e| e.action == EventAction::Timeline).collect();
                    if let Err(err) = st.bus.facts(pool, &history).await {
                        tracing::warn!(error = %err, "loading who may read replayed events failed");
                        let after = st.last;
                        return stop(st, Interrupted::Unavailable { after });
                    }
                }
                st.page = events.into_iter().map(Arc::new).collect();
                continue;
            } else if st.rx.is_none() {
                st.rx = Some(st.bus.subscribe());
                // Delivered before we listened: replay those too.
                st.upto = st.bus.last_seq();
                continue;
            } else {
                let received = match st.rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => return None,
                };
                match received {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => {
                        let after = st.last;
                        return stop(st, Interrupted::Lagged { after });
                    }
                    Err(RecvError::Closed) => return None,
                }
            };
            if e.seq <= st.last {
                continue;
            }
            if st.contiguous && e.seq != st.last + 1 {
                // Skipping ahead silently would lose what lies between.
                let after = e.seq - 1;
                return stop(st, Interrupted::Pruned { after });
            }
            st.last = e.seq;
            st.contiguous = true;
            if e.action == EventAction::Access {
                if let Some(gate) = st.gate.as_mut()
                    && !gate.passed(e.seq).await
                {
                    return None;
                }
                continue;
            }
            return Some((Ok(e), st));
        }
    })
}

/// The connection's access gate (WebSocket connections have one).
pub(crate) fn gate(ctx: &Context<'_>) -> Option<Gate> {
    ctx.data_opt::<Gate>().cloned()
}

pub(crate) fn bus(ctx: &Context<'_>) -> GqlResult<Bus> {
    ctx.data::<Bus>().cloned().map_err(|_| async_graphql::Error::new("events are not available"))
}

/// Counters recomputed once per COUNTERS event, user and viewer on this instance, however
/// many widgets show them; the answer carries the rights it was computed with.
pub type SharedCounters = Rounds<(i64, i64), (Arc<Rights>, Option<Counters>)>;

/// The user's counters at once, then recomputed on every COUNTERS event naming the user
/// (written by the database when a write changes them, and by the ticker when a deadline
/// passes or the user's day ends); yields only changed figures.
fn counters_stream(
    user: crate::kernel::models::User,
    rights: Arc<Rights>,
    pool: Pool,
    bus: Bus,
    gate: Option<Gate>,
    shared: SharedCounters,
) -> impl Stream<Item = Result<crate::activity::api::CountersGql, async_graphql::Error>> {
    struct State {
        user: crate::kernel::models::User,
        rights: Arc<Rights>,
        pool: Pool,
        rx: broadcast::Receiver<Arc<Event>>,
        gate: Option<Gate>,
        last: Option<Counters>,
        shared: SharedCounters,
    }
    async fn compute(st: &State) -> DomainResult<Counters> {
        let mut conn = st.pool.get().await?;
        counters::compute(&mut conn, &st.user, &st.rights, chrono::Utc::now()).await
    }
    let rx = bus.subscribe();
    let state = State { user, rights, pool, rx, gate, last: None, shared };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            // The event that made us recompute, when the answer may be shared with every
            // other widget of this user and viewer; the first figures and a lagged receiver
            // compute on their own.
            let mut round = None;
            if st.last.is_some() {
                loop {
                    match st.rx.recv().await {
                        Ok(e)
                            if e.action == EventAction::Counters
                                && outbox::counters_concern(&e.payload, st.user.id) =>
                        {
                            round = Some(e.seq);
                            break;
                        }
                        // Nothing more under rights that may be gone (see `events`).
                        Ok(e) if e.action == EventAction::Access => {
                            if let Some(gate) = st.gate.as_mut()
                                && !gate.passed(e.seq).await
                            {
                                return None;
                            }
                        }
                        Ok(_) => {}
                        // Missed events may have concerned us: recompute.
                        Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
            let computed = match round {
                None => compute(&st).await,
                Some(seq) => {
                    let cell = st.shared.cell((st.user.id, st.rights.user_id), seq);
                    let (rights, counters) = cell
                        .get_or_init(|| async {
                            let counters = compute(&st).await.map_err(|e| e.log_internal("computing counters"));
                            (st.rights.clone(), counters.ok())
                        })
                        .await;
                    match counters {
                        // Computed for this viewer's rights as they are now: ours too.
                        Some(c) if rights.same_as(&st.rights) => Ok(c.clone()),
                        Some(_) => compute(&st).await,
                        None => Err(DomainError::Internal(anyhow::anyhow!("counters could not be computed"))),
                    }
                }
            };
            match computed {
                Ok(c) => {
                    let changed = st.last.as_ref().is_none_or(|l| !l.same_figures(&c));
                    st.last = Some(c.clone());
                    if changed {
                        return Some((Ok(crate::activity::api::CountersGql(c)), st));
                    }
                }
                Err(e) => return Some((Err(e.into()), st)),
            }
        }
    })
}

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
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
        // At most the four types, however long the list: it is looked at for every event.
        let types: Option<Vec<ElementType>> = types.map(|t| {
            let mut v: Vec<ElementType> = Vec::new();
            for x in t.into_iter().map(ElementType::from) {
                if !v.contains(&x) {
                    v.push(x);
                }
            }
            v
        });
        let stream = events(bus(ctx)?, after, gate(ctx), None);
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
                    element_id: crate::api::to_id(et.id_kind(), e.element_id),
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
    ) -> Result<impl Stream<Item = Result<crate::activity::api::CountersGql, async_graphql::Error>>, async_graphql::Error>
    {
        let user = crate::activity::api::counter_user(ctx, user_id).await?;
        let pool = ctx.data::<crate::api::ApiState>()?.pool.clone();
        let shared = ctx.data::<SharedCounters>()?.clone();
        Ok(counters_stream(user, actor(ctx)?.rights.clone(), pool, bus(ctx)?, gate(ctx), shared))
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
        let bus = bus(ctx)?;
        let pool = ctx.data::<crate::api::ApiState>()?.pool.clone();
        // Types whose every element the subscriber reads need no facts at all.
        let reads_all: Vec<ElementType> =
            ElementType::ALL.into_iter().filter(|et| visibility::reads_all(&me, *et)).collect();
        let warm = (reads_all.len() < ElementType::ALL.len()).then(|| pool.clone());
        let stream = events(bus.clone(), after, gate(ctx), warm);
        Ok(until_error(futures_util::StreamExt::filter_map(stream, move |item| {
            let me = me.clone();
            let pool = pool.clone();
            let bus = bus.clone();
            let reads_all = reads_all.clone();
            async move {
                let e = match item {
                    Ok(e) => e,
                    Err(err) => return Some(Err(err)),
                };
                if e.action != EventAction::Timeline {
                    return None;
                }
                let et = ElementType::parse(&e.element_type)?;
                if only.is_some_and(|r| r.element_type != et || r.id != e.element_id) {
                    return None;
                }
                // The payload is the entry, not the element: decide from the element's
                // facts, loaded once per event for every subscriber on this instance.
                if !reads_all.contains(&et) {
                    let facts = match bus.facts(&pool, &[&e]).await {
                        Ok(f) => f.into_iter().next().flatten(),
                        Err(err) => {
                            tracing::warn!(error = %err, "loading who may read an event failed");
                            return Some(Err(interrupted(Interrupted::Unavailable { after: e.seq - 1 })));
                        }
                    };
                    if !visibility::can_read_facts(&me, et, facts.as_ref()) {
                        return None;
                    }
                }
                let entry: TimelineEntry = match serde_json::from_value(e.payload.get("element")?.clone()) {
                    Ok(entry) => entry,
                    Err(err) => {
                        tracing::error!(error = %err, seq = e.seq, "unreadable history entry in an event");
                        return None;
                    }
                };
                Some(Ok(TimelineEvent { event_id: ID(e.seq.to_string()), entry }))
            }
        })))
    }
}

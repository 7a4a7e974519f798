//! Notifications in GraphQL: the caller's feed, marking read, and `notificationAdded`.

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::api::common::user_of;
use crate::api::loaders::ById;
use crate::api::{GqlResult, actor, conn, load_error, loader, to_id};
use crate::events::subscriptions::{AnyElement, bus, events, gate, until_error};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::kinds::EventAction;
use crate::kernel::models::{Company, Contact, Deal, Lead, User};
use crate::kernel::{DomainError, ElementType};
use crate::notifications::rules::Kind;
use crate::notifications::store::{self, NotificationRow};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::notifications::rules::Kind")]
pub enum NotificationKind {
    /// An element was assigned to you by someone else.
    Assigned,
    /// The deadline of an open activity of yours passed.
    DeadlineReached,
    /// Someone mentioned you in a comment.
    Mentioned,
    DealWon,
    DealLost,
    /// A call to you was missed (a call-back activity is open).
    CallMissed,
    /// A web form created a lead for you.
    FormSubmitted,
    /// Your import finished (or failed).
    ImportFinished,
    /// A webhook you created was disabled.
    WebhookDisabled,
}

pub struct Notification(pub NotificationRow);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        to_id(IdKind::Notification, self.0.id)
    }
    async fn kind(&self) -> NotificationKind {
        Kind::parse(&self.0.kind).unwrap_or(Kind::Assigned).into()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    /// What it is about, when the caller may still read it.
    async fn element(&self, ctx: &Context<'_>) -> GqlResult<Option<AnyElement>> {
        let (Some(t), Some(id)) = (self.0.element_type.as_deref().and_then(ElementType::parse), self.0.element_id)
        else {
            return Ok(None);
        };
        let l = loader(ctx);
        Ok(match t {
            ElementType::Lead => {
                l.load_one(ById::<Lead>::new(id)).await.map_err(load_error)?.flatten().map(AnyElement::Lead)
            }
            ElementType::Contact => {
                l.load_one(ById::<Contact>::new(id)).await.map_err(load_error)?.flatten().map(AnyElement::Contact)
            }
            ElementType::Company => {
                l.load_one(ById::<Company>::new(id)).await.map_err(load_error)?.flatten().map(AnyElement::Company)
            }
            ElementType::Deal => {
                l.load_one(ById::<Deal>::new(id)).await.map_err(load_error)?.flatten().map(AnyElement::Deal)
            }
        })
    }
    /// Who caused it (none for a deadline, a visitor or a finished job).
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user_of(ctx, self.0.actor_id).await
    }
    /// Notifications with the same tag replace each other while unread.
    async fn tag(&self) -> Option<&str> {
        self.0.tag.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
}

#[derive(SimpleObject)]
pub struct NotificationEdge {
    pub cursor: String,
    pub node: Notification,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct NotificationConnection {
    pub edges: Vec<NotificationEdge>,
    pub page_info: crate::api::connection::PageInfo,
    #[graphql(skip)]
    user_id: i64,
    #[graphql(skip)]
    unread_only: bool,
}

#[async_graphql::ComplexObject]
impl NotificationConnection {
    async fn nodes(&self) -> Vec<Notification> {
        self.edges.iter().map(|e| Notification(e.node.0.clone())).collect()
    }
    /// All of the caller's notifications (unread ones with `unreadOnly`).
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        Ok(store::count(&mut *conn(ctx).await?, self.user_id, self.unread_only).await?)
    }
    async fn unread_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        Ok(store::count(&mut *conn(ctx).await?, self.user_id, true).await?)
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notifications, newest first. `after` is an edge's cursor; `first`
    /// defaults to 20 (at most 100).
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
    ) -> GqlResult<NotificationConnection> {
        let me = actor(ctx)?;
        let first = first.unwrap_or(20);
        if !(0..=100).contains(&first) {
            return Err(DomainError::bad_input("first", "`first` is between 0 and 100").into());
        }
        let after = after.map(|a| ids::decode(IdKind::Notification, &a, "after")).transpose()?;
        let unread_only = unread_only.unwrap_or(false);
        let mut rows =
            store::page(&mut *conn(ctx).await?, me.user_id, unread_only, after, i64::from(first) + 1).await?;
        let has_next_page = rows.len() > usize::try_from(first).unwrap_or(0);
        rows.truncate(usize::try_from(first).unwrap_or(0));
        let edges: Vec<NotificationEdge> = rows
            .into_iter()
            .map(|r| NotificationEdge { cursor: ids::encode(IdKind::Notification, r.id), node: Notification(r) })
            .collect();
        let page_info = crate::api::connection::PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(NotificationConnection { edges, page_info, user_id: me.user_id, unread_only })
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks the caller's notifications read: those in `ids`, or every one with `all: true`.
    /// Answers how many changed (already read ones and other users' do not count).
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        all: Option<bool>,
    ) -> GqlResult<i32> {
        let me = actor(ctx)?;
        let which = match (ids, all.unwrap_or(false)) {
            (Some(_), true) => return Err(DomainError::bad_input("all", "give `ids` or `all: true`, not both").into()),
            (None, false) => return Err(DomainError::bad_input("ids", "give `ids` or `all: true`").into()),
            (None, true) => None,
            (Some(list), false) => {
                if list.len() > crate::kernel::limits::MAX_IN_VALUES {
                    return Err(DomainError::bad_input(
                        "ids",
                        format!("at most {} ids", crate::kernel::limits::MAX_IN_VALUES),
                    )
                    .into());
                }
                let mut out = Vec::with_capacity(list.len());
                for (i, id) in list.iter().enumerate() {
                    out.push(ids::decode(IdKind::Notification, id, &format!("ids[{i}]"))?);
                }
                Some(out)
            }
        };
        let n = store::mark_read(&mut *conn(ctx).await?, me.user_id, which).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// The caller's new notifications, from any instance, as they are written. With `after`
    /// (an event id, as `elementChanged` takes) it first replays what was missed.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Notification, async_graphql::Error>> + use<>, async_graphql::Error> {
        let me = actor(ctx)?.user_id;
        let after = after
            .map(|a| a.trim().parse::<i64>().map_err(|_| DomainError::bad_input("after", "`after` is an eventId")))
            .transpose()?;
        let stream = events(bus(ctx)?, after, gate(ctx), None);
        Ok(until_error(futures_util::StreamExt::filter_map(stream, move |item| async move {
            let e = match item {
                Ok(e) => e,
                Err(err) => return Some(Err(err)),
            };
            if e.action != EventAction::Notification.as_str() || e.element_id != me {
                return None;
            }
            let row: NotificationRow = serde_json::from_value(e.payload.clone()).ok()?;
            Some(Ok(Notification(row)))
        })))
    }
}

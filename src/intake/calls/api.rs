//! Calls in GraphQL: `registerCall` and `finishCall` for telephone systems, and
//! `incomingCall` for the screen pop.

use async_graphql::{Context, Enum, ID, InputObject, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::api::common::user_of;
use crate::api::loaders::ById;
use crate::api::{GqlResult, actor, conn, load_error, loader, lookup_id, to_id, write_ctx};
use crate::events::subscriptions::{AnyElement, bus, events, gate, until_error};
use crate::intake::calls::rules::{self, CallRow, Finish, Registration};
use crate::kernel::ids::{self, IdKind};
use crate::kernel::kinds::EventAction;
use crate::kernel::models::{Activity, Company, Contact, Lead, User};
use crate::kernel::{DomainError, ElementType};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CallDirection {
    Incoming,
    Outgoing,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CallStatus {
    Answered,
    Missed,
    Busy,
    Failed,
}

impl CallStatus {
    fn as_str(self) -> &'static str {
        match self {
            CallStatus::Answered => "ANSWERED",
            CallStatus::Missed => "MISSED",
            CallStatus::Busy => "BUSY",
            CallStatus::Failed => "FAILED",
        }
    }
}

#[derive(InputObject)]
pub struct RegisterCallInput {
    /// The telephone system's own id of the call; registering it again returns the same call.
    pub external_call_id: String,
    pub direction: CallDirection,
    /// The other party's number, in any common notation.
    pub phone: String,
    /// Who takes the call (default: the assignee of the matched element, else the caller).
    pub user_id: Option<ID>,
    pub line_number: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// An unknown caller becomes a lead (source CALL).
    #[graphql(default = true)]
    pub create_lead: bool,
}

#[derive(InputObject)]
pub struct FinishCallInput {
    pub external_call_id: String,
    pub status: CallStatus,
    pub duration_seconds: Option<i32>,
    pub recording_url: Option<String>,
}

pub struct Call(CallRow);

#[Object]
impl Call {
    async fn id(&self) -> ID {
        to_id(IdKind::Call, self.0.id)
    }
    async fn external_call_id(&self) -> &str {
        &self.0.external_call_id
    }
    async fn direction(&self) -> CallDirection {
        if self.0.direction == "OUTGOING" { CallDirection::Outgoing } else { CallDirection::Incoming }
    }
    async fn phone(&self) -> &str {
        &self.0.phone
    }
    /// Null until the call is finished.
    async fn status(&self) -> Option<CallStatus> {
        match self.0.status.as_deref()? {
            "ANSWERED" => Some(CallStatus::Answered),
            "MISSED" => Some(CallStatus::Missed),
            "BUSY" => Some(CallStatus::Busy),
            _ => Some(CallStatus::Failed),
        }
    }
    async fn line_number(&self) -> Option<&str> {
        self.0.line_number.as_deref()
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    async fn duration_seconds(&self) -> Option<i32> {
        self.0.duration_seconds
    }
    async fn recording_url(&self) -> Option<&str> {
        self.0.recording_url.as_deref()
    }
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user_of(ctx, Some(self.0.user_id)).await
    }
    /// The CALL activity in the responsible user's counters, when the caller may read it.
    async fn activity(&self, ctx: &Context<'_>) -> GqlResult<Option<Activity>> {
        let Some(id) = self.0.activity_id else { return Ok(None) };
        Ok(loader(ctx).load_one(ById::<Activity>::new(id)).await.map_err(load_error)?.flatten())
    }
}

/// A registered call with whom it matched: what a screen pop shows.
pub struct CallRegistration(CallRow);

#[Object]
impl CallRegistration {
    async fn call(&self) -> Call {
        Call(self.0.clone())
    }
    /// The contacts, companies and leads with this number, as far as the caller may read them.
    async fn matches(&self, ctx: &Context<'_>) -> GqlResult<Vec<AnyElement>> {
        let l = loader(ctx);
        let mut out = Vec::new();
        for r in self.0.matched() {
            let found = match r.element_type {
                ElementType::Contact => {
                    l.load_one(ById::<Contact>::new(r.id)).await.map_err(load_error)?.flatten().map(AnyElement::Contact)
                }
                ElementType::Company => {
                    l.load_one(ById::<Company>::new(r.id)).await.map_err(load_error)?.flatten().map(AnyElement::Company)
                }
                ElementType::Lead => {
                    l.load_one(ById::<Lead>::new(r.id)).await.map_err(load_error)?.flatten().map(AnyElement::Lead)
                }
                ElementType::Deal => None,
            };
            out.extend(found);
        }
        Ok(out)
    }
    /// The lead made for an unknown caller.
    async fn created_lead(&self, ctx: &Context<'_>) -> GqlResult<Option<Lead>> {
        let Some(id) = self.0.created_lead_id else { return Ok(None) };
        Ok(loader(ctx).load_one(ById::<Lead>::new(id)).await.map_err(load_error)?.flatten())
    }
}

#[derive(Default)]
pub struct CallMutation;

#[Object]
impl CallMutation {
    /// A telephone system reports a call as it starts. Idempotent by `externalCallId`.
    async fn register_call(&self, ctx: &Context<'_>, input: RegisterCallInput) -> GqlResult<CallRegistration> {
        let wctx = write_ctx(ctx)?;
        let user_id = input.user_id.as_ref().map(|u| ids::decode(IdKind::User, u, "userId")).transpose()?;
        let r = Registration {
            external_call_id: input.external_call_id,
            incoming: input.direction == CallDirection::Incoming,
            phone: input.phone,
            user_id,
            line_number: input.line_number,
            started_at: input.started_at,
            create_lead: input.create_lead,
        };
        let (call, _) = rules::register(&mut *conn(ctx).await?, &wctx, r).await?;
        Ok(CallRegistration(call))
    }

    /// A telephone system reports how a call ended: an answered call's activity is completed,
    /// a missed (busy, failed) one stays open as a call-back due within 30 minutes.
    async fn finish_call(&self, ctx: &Context<'_>, input: FinishCallInput) -> GqlResult<Call> {
        let wctx = write_ctx(ctx)?;
        let f = Finish {
            external_call_id: input.external_call_id,
            status: input.status.as_str(),
            duration_seconds: input.duration_seconds,
            recording_url: input.recording_url,
        };
        Ok(Call(rules::finish(&mut *conn(ctx).await?, &wctx, f).await?))
    }
}

#[derive(Default)]
pub struct CallQuery;

#[Object]
impl CallQuery {
    /// A call by its id or its telephone system's id.
    async fn call(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_call_id: Option<String>,
    ) -> GqlResult<Option<Call>> {
        let me = actor(ctx)?;
        let mut c = conn(ctx).await?;
        let row = match (id, external_call_id) {
            (Some(id), _) => rules::by_id(&mut c, lookup_id(IdKind::Call, &id)?).await?,
            (None, Some(e)) => rules::by_external_id(&mut c, &e).await?,
            (None, None) => return Err(DomainError::bad_input("id", "give `id` or `externalCallId`").into()),
        };
        // A call is its user's, the registering user's and an administrator's to see.
        Ok(row.filter(|r| me.is_admin || r.user_id == me.user_id).map(Call))
    }
}

#[derive(Default)]
pub struct CallSubscription;

#[Subscription]
impl CallSubscription {
    /// Incoming calls registered for a user (default: the subscriber; another user's need an
    /// administrator), as they are registered on any instance: who is calling and what of
    /// theirs is open.
    async fn incoming_call(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<CallRegistration, async_graphql::Error>> + use<>, async_graphql::Error> {
        let me = actor(ctx)?.clone();
        let user = match user_id {
            Some(u) => ids::decode(IdKind::User, &u, "userId")?,
            None => me.user_id,
        };
        if user != me.user_id && !me.is_admin {
            return Err(DomainError::Forbidden("another user's calls are for an administrator".into()).into());
        }
        let pool = ctx.data::<crate::api::ApiState>()?.pool.clone();
        let stream = events(bus(ctx)?, None, gate(ctx), None);
        Ok(until_error(futures_util::StreamExt::filter_map(stream, move |item| {
            let pool = pool.clone();
            async move {
                let e = match item {
                    Ok(e) => e,
                    Err(err) => return Some(Err(err)),
                };
                let ours = e.action == EventAction::Call.as_str()
                    && e.payload["userId"].as_i64() == Some(user)
                    && e.payload["direction"] == "INCOMING";
                if !ours {
                    return None;
                }
                let mut c = match pool.get().await {
                    Ok(c) => c,
                    Err(err) => return Some(Err(DomainError::from(err).into())),
                };
                match rules::by_id(&mut c, e.element_id).await {
                    Ok(Some(call)) => Some(Ok(CallRegistration(call))),
                    Ok(None) => None,
                    Err(err) => Some(Err(err.into())),
                }
            }
        })))
    }
}

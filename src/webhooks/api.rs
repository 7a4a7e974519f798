//! Webhooks in GraphQL (settings right): endpoints, their secrets, deliveries, test messages
//! and redelivery.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::api::common::user_of;
use crate::api::{ApiState, GqlResult, actor, conn, lookup_id, to_id};
use crate::kernel::DomainError;
use crate::kernel::ids::{self, IdKind};
use crate::kernel::models::User;
use crate::webhooks::body::{self, Payload};
use crate::webhooks::rules;
use crate::webhooks::send::Message;
use crate::webhooks::store::{self, DeliveryRow, WebhookRow, WebhookSpec};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::webhooks::body::Payload")]
pub enum WebhookPayload {
    /// The element as the API shows it, the changed fields and their previous values.
    Full,
    /// Only the event type, the element's id and the changed field names.
    Thin,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt (or a redelivery).
    Pending,
    Succeeded,
    /// Failed and will be tried again at `nextAttemptAt`.
    Retrying,
    /// Not tried again: a 4xx answer, 3 days of failures, or the endpoint was disabled.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Succeeded => "SUCCEEDED",
            DeliveryStatus::Retrying => "RETRYING",
            DeliveryStatus::Failed => "FAILED",
        }
    }

    fn parse(s: &str) -> DeliveryStatus {
        match s {
            "SUCCEEDED" => DeliveryStatus::Succeeded,
            "RETRYING" => DeliveryStatus::Retrying,
            "FAILED" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

#[derive(InputObject)]
pub struct WebhookInput {
    /// Where events are posted (`https://…`). Private and loopback addresses need the
    /// server setting `KONTOR_WEBHOOK_ALLOW_PRIVATE=true`.
    pub url: String,
    /// Event types: `deal.stage_changed`, `deal.*` for all of an element's, `*` for all.
    pub events: Vec<String>,
    pub name: Option<String>,
    /// Default true. Switching a disabled endpoint on again starts it at the newest event.
    pub active: Option<bool>,
    /// Default FULL.
    pub payload: Option<WebhookPayload>,
}

impl WebhookInput {
    fn spec(self, allow_private: bool) -> GqlResult<WebhookSpec> {
        let url = rules::check_url(&self.url, allow_private)?;
        let events = rules::check_patterns(&self.events)?;
        let name = self.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 255) {
            return Err(DomainError::bad_input("name", "at most 255 characters").into());
        }
        Ok(WebhookSpec {
            name,
            url: url.to_string(),
            events,
            payload: Payload::from(self.payload.unwrap_or(WebhookPayload::Full)).as_str(),
            active: self.active.unwrap_or(true),
        })
    }
}

pub struct Webhook(WebhookRow);

#[Object]
impl Webhook {
    async fn id(&self) -> ID {
        to_id(IdKind::Webhook, self.0.id)
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The event types it receives, as given.
    async fn events(&self) -> &[String] {
        &self.0.events
    }
    async fn payload(&self) -> WebhookPayload {
        Payload::parse(&self.0.payload).into()
    }
    /// False when switched off or disabled (see `disabledReason`).
    async fn active(&self) -> bool {
        self.0.active
    }
    /// When deliveries started failing without a success since; after 3 days the endpoint
    /// is disabled.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// When Kontor disabled it (410 Gone, or failing for 3 days).
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    /// Until then messages also carry a signature with the secret before the last rotation.
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.previous_secret_until.filter(|t| *t > Utc::now())
    }
    /// Events are filtered by what this user may read.
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        user_of(ctx, Some(self.0.created_by_id)).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    /// `whsec_…`: shown only here. Receivers verify `webhook-signature` with it.
    pub secret: String,
}

pub struct WebhookDelivery(DeliveryRow);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        to_id(IdKind::WebhookDelivery, self.0.id)
    }
    async fn webhook_id(&self) -> ID {
        to_id(IdKind::Webhook, self.0.webhook_id)
    }
    /// The event's id (as in subscriptions' `eventId`); null for a test message.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_seq.map(|s| ID(s.to_string()))
    }
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    /// The `webhook-id` header it is sent with, the same on every attempt.
    async fn message_id(&self) -> String {
        rules::message_id(self.0.webhook_id, self.0.event_seq, self.0.id)
    }
    async fn status(&self) -> DeliveryStatus {
        DeliveryStatus::parse(&self.0.status)
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn last_duration_ms(&self) -> Option<i32> {
        self.0.last_duration_ms
    }
    /// When the next attempt is due (PENDING and RETRYING only).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        matches!(self.0.status.as_str(), "PENDING" | "RETRYING").then_some(self.0.next_attempt_at)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
}

fn settings<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a crate::webhooks::send::Sender> {
    Ok(&ctx.data::<ApiState>()?.webhooks)
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every webhook endpoint (settings right).
    async fn webhooks(&self, ctx: &Context<'_>) -> GqlResult<Vec<Webhook>> {
        actor(ctx)?.rights.check_settings()?;
        Ok(store::list(&mut *conn(ctx).await?).await?.into_iter().map(Webhook).collect())
    }

    async fn webhook(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Webhook>> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::Webhook, &id)?;
        Ok(store::by_id(&mut *conn(ctx).await?, id).await?.map(Webhook))
    }

    /// An endpoint's deliveries, newest first (settings right); `after` is the id of the last
    /// one seen. `first` defaults to 50 (at most 500).
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Vec<WebhookDelivery>> {
        actor(ctx)?.rights.check_settings()?;
        let webhook_id = lookup_id(IdKind::Webhook, &webhook_id)?;
        let after = after.map(|a| ids::decode(IdKind::WebhookDelivery, &a, "after")).transpose()?;
        let first = first.unwrap_or(50);
        if !(0..=500).contains(&first) {
            return Err(DomainError::bad_input("first", "`first` is between 0 and 500").into());
        }
        let mut c = conn(ctx).await?;
        store::get(&mut c, webhook_id).await?;
        let rows =
            store::deliveries(&mut c, webhook_id, status.map(DeliveryStatus::as_str), after, i64::from(first)).await?;
        Ok(rows.into_iter().map(WebhookDelivery).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates an endpoint (settings right). It receives events from now on, only about
    /// elements its creator may read. The secret is shown only in this answer.
    async fn create_webhook(&self, ctx: &Context<'_>, input: WebhookInput) -> GqlResult<WebhookWithSecret> {
        let me = actor(ctx)?;
        me.rights.check_settings()?;
        let spec = input.spec(settings(ctx)?.settings.allow_private)?;
        let secret = rules::new_secret();
        let row = store::insert(&mut *conn(ctx).await?, &spec, &secret, me.user_id).await?;
        Ok(WebhookWithSecret { webhook: Webhook(row), secret })
    }

    /// Replaces an endpoint's settings; its secret stays.
    async fn update_webhook(&self, ctx: &Context<'_>, id: ID, input: WebhookInput) -> GqlResult<Webhook> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::Webhook, &id)?;
        let spec = input.spec(settings(ctx)?.settings.allow_private)?;
        let mut c = conn(ctx).await?;
        let row =
            diesel_async::AsyncConnection::transaction(&mut *c, async |c| store::update(c, id, &spec).await).await?;
        Ok(Webhook(row))
    }

    /// Deletes an endpoint with its delivery records.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        actor(ctx)?.rights.check_settings()?;
        let n = lookup_id(IdKind::Webhook, &id)?;
        store::delete(&mut *conn(ctx).await?, n).await?;
        Ok(to_id(IdKind::Webhook, n))
    }

    /// A new secret, shown only here. For 24 hours messages carry signatures with both the
    /// new and the old secret, so receivers can switch without losing a message.
    async fn rotate_webhook_secret(&self, ctx: &Context<'_>, id: ID) -> GqlResult<WebhookWithSecret> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::Webhook, &id)?;
        let secret = rules::new_secret();
        let until = Utc::now() + rules::ROTATION_OVERLAP;
        let row = store::rotate(&mut *conn(ctx).await?, id, &secret, until).await?;
        Ok(WebhookWithSecret { webhook: Webhook(row), secret })
    }

    /// Sends a signed `webhook.test` message now and answers with how it went (not retried).
    async fn test_webhook(&self, ctx: &Context<'_>, id: ID) -> GqlResult<WebhookDelivery> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::Webhook, &id)?;
        let hook = store::get(&mut *conn(ctx).await?, id).await?;
        let body = body::test_message(hook.id, Utc::now()).to_string();
        // The message id names the test, so receivers that drop duplicates do not drop it.
        let msg_id = format!("msg_{}_test{}", hook.id, Utc::now().timestamp_micros());
        let message = Message {
            url: &hook.url,
            msg_id: &msg_id,
            body: body.as_bytes(),
            secrets: hook.signing_secrets(Utc::now()),
        };
        let sent = settings(ctx)?.send(&message).await;
        let row = store::record_test(&mut *conn(ctx).await?, hook.id, &sent.outcome).await?;
        Ok(WebhookDelivery(row))
    }

    /// Sends a delivery again as soon as possible, with the same `webhook-id` (receivers that
    /// already have it can drop it). The endpoint must be active.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> GqlResult<WebhookDelivery> {
        actor(ctx)?.rights.check_settings()?;
        let id = lookup_id(IdKind::WebhookDelivery, &delivery_id)?;
        let mut c = conn(ctx).await?;
        let found = store::delivery(&mut c, id).await?.ok_or_else(|| {
            DomainError::not_found(format!("webhook delivery `{}`", ids::encode(IdKind::WebhookDelivery, id)))
        })?;
        if found.event_seq.is_none() {
            return Err(
                DomainError::bad_input("deliveryId", "a test message is not redelivered; send another test").into()
            );
        }
        let hook = store::get(&mut c, found.webhook_id).await?;
        if !hook.active {
            return Err(DomainError::Conflict {
                message: "the endpoint is not active; switch it on with updateWebhook(active: true) first".into(),
                details: serde_json::json!({ "webhookId": ids::encode(IdKind::Webhook, hook.id) }),
            }
            .into());
        }
        let row = store::redeliver(&mut c, id).await?;
        settings(ctx)?.wake.notify_one();
        Ok(WebhookDelivery(row))
    }
}

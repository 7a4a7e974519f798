//! Sends one signed message over HTTP and says what came of it. Addresses are checked when
//! they are resolved, on every attempt (a name that pointed outside yesterday may point
//! inside today), and redirects are not followed, so a webhook cannot reach the server's
//! own network unless `KONTOR_WEBHOOK_ALLOW_PRIVATE` says it may.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::rules;
use super::store::Outcome;
use crate::kernel::DomainResult;

/// How outgoing webhooks behave.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Loopback and private addresses may receive webhooks (tests, private deployments).
    pub allow_private: bool,
    /// How long a receiver has to answer.
    pub timeout: Duration,
}

/// Resolves names and keeps only the addresses webhooks may go to.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.iter().copied().filter(|a| allow_private || rules::is_public(a.ip())).collect();
            if allowed.is_empty() {
                let why = if found.is_empty() {
                    format!("{host} has no address")
                } else {
                    format!("{host} resolves only to private or loopback addresses, which are refused")
                };
                return Err(why.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP side of webhooks, shared by the delivery worker and `testWebhook`.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    pub settings: Settings,
    /// Wakes this instance's delivery worker (a redelivery is due now).
    pub wake: Arc<tokio::sync::Notify>,
}

/// One message to one endpoint.
pub struct Message<'a> {
    pub url: &'a str,
    pub msg_id: &'a str,
    pub body: &'a [u8],
    pub secrets: Vec<&'a str>,
}

/// What the receiver said.
pub struct Sent {
    pub outcome: Outcome,
    pub verdict: rules::Verdict,
    /// The receiver's `Retry-After`, if it gave one.
    pub retry_after: Option<Duration>,
}

impl Sender {
    pub fn new(settings: Settings) -> anyhow::Result<Sender> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Kontor-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private: settings.allow_private }))
            .build()?;
        Ok(Sender { client, settings, wake: Arc::default() })
    }

    /// Signs and posts `m`; never fails, every problem is an outcome.
    pub async fn send(&self, m: &Message<'_>) -> Sent {
        let started = Instant::now();
        let result = self.post(m).await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok((status, retry_after, excerpt)) => {
                let verdict = rules::verdict(Some(status));
                let error = (verdict != rules::Verdict::Delivered).then(|| match excerpt.is_empty() {
                    true => format!("HTTP {status}"),
                    false => format!("HTTP {status}: {excerpt}"),
                });
                let outcome = Outcome {
                    delivered: verdict == rules::Verdict::Delivered,
                    status: Some(status),
                    error,
                    duration_ms,
                };
                Sent { outcome, verdict, retry_after }
            }
            Err(error) => Sent {
                outcome: Outcome { delivered: false, status: None, error: Some(error), duration_ms },
                verdict: rules::Verdict::Retry,
                retry_after: None,
            },
        }
    }

    async fn post(&self, m: &Message<'_>) -> Result<(u16, Option<Duration>, String), String> {
        // Literal addresses never reach the resolver: check them here, on every attempt.
        rules::check_url(m.url, self.settings.allow_private).map_err(|_| refused(m.url))?;
        let now = Utc::now();
        let timestamp = now.timestamp();
        let signatures = m
            .secrets
            .iter()
            .map(|s| rules::signature(s, m.msg_id, timestamp, m.body))
            .collect::<DomainResult<Vec<String>>>()
            .map_err(|_| "the endpoint's secret cannot sign".to_owned())?;
        let response = self
            .client
            .post(m.url)
            .header("content-type", "application/json")
            .header("webhook-id", m.msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures.join(" "))
            .body(m.body.to_vec())
            .send()
            .await
            .map_err(|e| describe(&e, self.settings.timeout))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| rules::retry_after(v, now));
        let excerpt = if (200..300).contains(&status) { String::new() } else { excerpt(response).await };
        Ok((status, retry_after, excerpt))
    }
}

fn refused(url: &str) -> String {
    format!("{url} is a private or loopback address, which is refused")
}

/// The start of an error answer, for `lastError`.
async fn excerpt(mut response: reqwest::Response) -> String {
    const MAX: usize = 200;
    let mut bytes = Vec::new();
    while bytes.len() < MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    text.chars().take(MAX).collect::<String>().trim().to_owned()
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f32());
    }
    // The innermost cause says most (refused connection, a refused address).
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_connect() { format!("connection failed: {cause}") } else { format!("request failed: {cause}") }
}

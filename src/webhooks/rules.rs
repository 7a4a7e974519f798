//! The pure rules of outgoing webhooks: event type names and subscriptions to them, who may
//! receive an address, what an answer means, when to try again, and the Standard Webhooks
//! signature. No I/O here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::kinds::EventAction;

/// Element names in event types, and the actions each has.
pub const CATALOGUE: &[(&str, &[&str])] = &[
    ("lead", &["created", "updated", "deleted", "converted", "merged"]),
    ("contact", &["created", "updated", "deleted", "merged"]),
    ("company", &["created", "updated", "deleted", "merged"]),
    ("deal", &["created", "updated", "deleted", "stage_changed", "closed", "merged"]),
    ("activity", &["created", "updated", "deleted", "completed"]),
];

/// Most event type patterns one endpoint may list.
pub const MAX_PATTERNS: usize = 64;

/// The type an event is delivered as (`deal.stage_changed`), or `None` for events that are
/// not delivered (history entries, counters, access changes, calls).
pub fn event_type(element_type: &str, action: EventAction) -> Option<String> {
    let element = element_type.to_ascii_lowercase();
    let (element, action) = match action {
        EventAction::Created => (element.as_str(), "created"),
        EventAction::Updated => (element.as_str(), "updated"),
        EventAction::Deleted => (element.as_str(), "deleted"),
        EventAction::Converted => (element.as_str(), "converted"),
        EventAction::StageChanged => (element.as_str(), "stage_changed"),
        EventAction::Closed => (element.as_str(), "closed"),
        EventAction::Merged => (element.as_str(), "merged"),
        EventAction::ActivityCreated => ("activity", "created"),
        EventAction::ActivityUpdated | EventAction::ActivityReopened => ("activity", "updated"),
        EventAction::ActivityDeleted => ("activity", "deleted"),
        EventAction::ActivityCompleted => ("activity", "completed"),
        EventAction::Timeline
        | EventAction::Counters
        | EventAction::Access
        | EventAction::Call
        | EventAction::Notification => return None,
    };
    CATALOGUE.iter().any(|(e, _)| *e == element).then(|| format!("{element}.{action}"))
}

/// Checks and tidies the event types an endpoint asks for: `*`, `<element>.*` or
/// `<element>.<action>` from the catalogue; duplicates dropped, order kept.
pub fn check_patterns(patterns: &[String]) -> DomainResult<Vec<String>> {
    if patterns.is_empty() {
        return Err(DomainError::bad_input("events", "name at least one event type, or `*` for all"));
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(DomainError::bad_input("events", format!("at most {MAX_PATTERNS} event types")));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, raw) in patterns.iter().enumerate() {
        let p = raw.trim().to_ascii_lowercase();
        if !valid_pattern(&p) {
            return Err(DomainError::bad_input(
                format!("events[{i}]"),
                format!("`{raw}` is not an event type; use `*`, `<element>.*` or one of: {}", all_types().join(", ")),
            ));
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn valid_pattern(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let Some((element, action)) = p.split_once('.') else { return false };
    CATALOGUE.iter().any(|(e, actions)| *e == element && (action == "*" || actions.contains(&action)))
}

/// Every event type, for error messages and documentation.
pub fn all_types() -> Vec<String> {
    CATALOGUE.iter().flat_map(|(e, actions)| actions.iter().map(move |a| format!("{e}.{a}"))).collect()
}

/// Whether an endpoint subscribed to `patterns` receives `event_type`.
pub fn subscribed(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == event_type
            || p.strip_suffix(".*").is_some_and(|e| event_type.split_once('.').is_some_and(|(x, _)| x == e))
    })
}

/// Whether an address may receive webhooks when private addresses are not allowed: the
/// public internet only (no loopback, private, link-local, shared, documentation,
/// multicast or reserved ranges), so a webhook cannot be aimed at the server's own network.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b)
}

/// Checks an endpoint address: `http` or `https` with a host; with private addresses not
/// allowed, a literal private address or `localhost` is refused here (names are checked again
/// when they are resolved, at every delivery).
pub fn check_url(raw: &str, allow_private: bool) -> DomainResult<url::Url> {
    let bad = |why: String| DomainError::bad_input("url", why);
    if raw.len() > 2000 {
        return Err(bad("the address is longer than 2,000 characters".into()));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(format!("not an address: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("use an http:// or https:// address".into()));
    }
    let private = match url.host() {
        None => return Err(bad("the address has no host".into())),
        Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err(bad(
            "private and loopback addresses are refused (the server allows them with KONTOR_WEBHOOK_ALLOW_PRIVATE=true)"
                .into(),
        ));
    }
    Ok(url)
}

/// What an answer (or its absence) means for a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again later (timeouts, connection errors, 5xx, 429).
    Retry,
    /// Not tried again (other 4xx, redirects, which are not followed).
    Failed,
    /// 410 Gone: the receiver asks for no more; the endpoint is disabled.
    Gone,
}

/// `None` is no answer at all (timeout, refused connection).
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        None => Verdict::Retry,
        Some(s) if (200..300).contains(&s) => Verdict::Delivered,
        Some(410) => Verdict::Gone,
        Some(429) | Some(500..=599) => Verdict::Retry,
        Some(_) => Verdict::Failed,
    }
}

/// The wait before attempt `n + 1` after `n` failed attempts (1-based): about 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, then every 10 h.
pub fn backoff(failed_attempts: i32) -> Duration {
    const SCHEDULE: [u64; 6] = [5, 300, 1800, 7200, 18_000, 36_000];
    let i = usize::try_from(failed_attempts.max(1) - 1).unwrap_or(0);
    Duration::from_secs(SCHEDULE[i.min(SCHEDULE.len() - 1)])
}

/// `base` moved by up to ±10% (`unit` in [0, 1)), so endpoints that failed together do not
/// all come back at once.
pub fn jittered(base: Duration, unit: f64) -> Duration {
    base.mul_f64(0.9 + 0.2 * unit.clamp(0.0, 1.0))
}

/// Longest wait a `Retry-After` may ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(36_000);

/// A `Retry-After` header: seconds or an HTTP date, bounded to 1 s .. 10 h.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
            (at - now).to_std().unwrap_or_default()
        }
    };
    Some(wait.clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

/// How long an endpoint may fail before it is disabled, and a delivery before it is given up.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(3);

/// How long the previous secret still signs after a rotation.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// A new secret: `whsec_` and 32 random bytes in base64, as the specification suggests.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value for one secret: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
pub fn signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> DomainResult<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| anyhow::anyhow!("stored webhook secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| anyhow::anyhow!("webhook key: {e}"))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-id` of an event's message to an endpoint: the same on every retry and
/// redelivery, so receivers can drop duplicates.
pub fn message_id(webhook_id: i64, event_seq: Option<i64>, delivery_id: i64) -> String {
    match event_seq {
        Some(seq) => format!("msg_{webhook_id}_{seq}"),
        None => format!("msg_{webhook_id}_test{delivery_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_their_types() {
        assert_eq!(event_type("DEAL", EventAction::StageChanged).as_deref(), Some("deal.stage_changed"));
        assert_eq!(event_type("LEAD", EventAction::Converted).as_deref(), Some("lead.converted"));
        assert_eq!(event_type("LEAD", EventAction::ActivityCompleted).as_deref(), Some("activity.completed"));
        assert_eq!(event_type("DEAL", EventAction::ActivityReopened).as_deref(), Some("activity.updated"));
        assert_eq!(event_type("LEAD", EventAction::Timeline), None);
        assert_eq!(event_type("CALL", EventAction::Call), None);
        assert_eq!(event_type("", EventAction::Counters), None);
    }

    #[test]
    fn patterns_are_checked_and_matched() {
        let p = check_patterns(&["Deal.*".into(), "lead.created".into(), "deal.*".into()]).unwrap();
        assert_eq!(p, vec!["deal.*", "lead.created"]);
        assert!(subscribed(&p, "deal.closed"));
        assert!(subscribed(&p, "lead.created"));
        assert!(!subscribed(&p, "lead.updated"));
        assert!(!subscribed(&p, "dealer.closed"));
        assert!(subscribed(&["*".into()], "activity.completed"));
        for bad in ["deal", "deal.", "contact.converted", "foo.*", "**", "deal.closed.x"] {
            assert!(check_patterns(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(check_patterns(&[]).is_err());
        assert_eq!(all_types().len(), 23);
    }

    #[test]
    fn only_public_addresses_by_default() {
        for private in
            ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1"]
        {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for private in ["fd00::1", "fe80::1", "::ffff:127.0.0.1", "2001:db8::1", "240.0.0.1", "198.18.0.1"] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(check_url("http://localhost/hook", false).is_err());
        assert!(check_url("http://[::1]/hook", false).is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("ftp://hooks.example.com/x", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }

    #[test]
    fn answers_decide_what_happens_next() {
        assert_eq!(verdict(Some(200)), Verdict::Delivered);
        assert_eq!(verdict(Some(204)), Verdict::Delivered);
        assert_eq!(verdict(None), Verdict::Retry);
        assert_eq!(verdict(Some(500)), Verdict::Retry);
        assert_eq!(verdict(Some(503)), Verdict::Retry);
        assert_eq!(verdict(Some(429)), Verdict::Retry);
        assert_eq!(verdict(Some(410)), Verdict::Gone);
        assert_eq!(verdict(Some(404)), Verdict::Failed);
        assert_eq!(verdict(Some(301)), Verdict::Failed);
    }

    #[test]
    fn retries_follow_the_schedule() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000]);
        assert_eq!(jittered(Duration::from_secs(100), 0.0), Duration::from_secs(90));
        assert_eq!(jittered(Duration::from_secs(100), 1.0), Duration::from_secs(110));
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("0", now), Some(Duration::from_secs(1)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn signatures_follow_the_specification() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let fresh = new_secret();
        assert!(fresh.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&fresh[6..]).unwrap().len(), 32);
        assert_eq!(message_id(3, Some(41), 9), "msg_3_41");
        assert_eq!(message_id(3, None, 9), "msg_3_test9");
    }
}

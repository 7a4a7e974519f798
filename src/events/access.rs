//! Live WebSocket connections authenticate in connection_init, and each subscription runs
//! with the rights its caller had when it started (queries and mutations re-resolve theirs,
//! api/current_rights.rs). When access changes anywhere (an ACCESS event), each
//! connection re-checks its token: one whose token stopped working (revoked, user deactivated)
//! is closed with 4401; one whose rights changed is closed with 4403, on which graphql-ws
//! clients reconnect and resubscribe under the new rights (`after` replays what they missed).

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

use super::Bus;
use super::rounds::Rounds;
use crate::db::Pool;
use crate::kernel::{Actor, DomainError};
use crate::org::auth;

/// What a token gives now.
#[derive(Clone, Debug)]
pub enum Checked {
    Valid(Arc<Actor>),
    /// Unknown, revoked, or its user deactivated.
    Invalid,
    /// The check itself failed (the database); reconnecting checks again.
    Failed,
}

/// What a connection must do after access changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Reconnect,
    Unauthorized,
}

impl Verdict {
    /// The WebSocket close frame, if the connection must end.
    pub fn close(self) -> Option<(u16, &'static str)> {
        match self {
            Verdict::Keep => None,
            Verdict::Reconnect => Some((4403, "Forbidden: your access changed; reconnect")),
            Verdict::Unauthorized => Some((4401, "Unauthorized: token revoked or user deactivated")),
        }
    }
}

/// What a connection that authenticated as `before` must do, given what its token gives now.
pub fn verdict(before: &Actor, now: &Checked) -> Verdict {
    match now {
        Checked::Invalid => Verdict::Unauthorized,
        Checked::Failed => Verdict::Reconnect,
        Checked::Valid(a)
            if a.user_id == before.user_id
                && a.is_admin == before.is_admin
                && a.department_id == before.department_id
                && a.rights.same_as(&before.rights) =>
        {
            Verdict::Keep
        }
        Checked::Valid(_) => Verdict::Reconnect,
    }
}

/// One token check per token and ACCESS event on this instance, however many connections
/// share the token (dashboards often open many with one), and at most `CONCURRENT_CHECKS` at
/// a time, so a change seen by thousands of connections cannot take the request pool.
#[derive(Clone)]
pub struct Rechecks {
    answers: Rounds<String, Checked>,
    permits: Arc<Semaphore>,
}

const CONCURRENT_CHECKS: usize = 4;
/// A failed check (the database busy or away) is retried this often, a second apart, before
/// the connection is sent away to reconnect.
const CHECK_ATTEMPTS: usize = 3;

impl Default for Rechecks {
    fn default() -> Self {
        Rechecks { answers: Rounds::default(), permits: Arc::new(Semaphore::new(CONCURRENT_CHECKS)) }
    }
}

impl Rechecks {
    pub async fn check(&self, pool: &Pool, token: &str, seq: i64) -> Checked {
        let cell = self.answers.cell(token.to_owned(), seq);
        cell.get_or_init(|| async {
            let Ok(_permit) = self.permits.acquire().await else { return Checked::Failed };
            let Ok(mut conn) = pool.get().await else { return Checked::Failed };
            match auth::actor_for_token(&mut conn, token).await {
                Ok(actor) => Checked::Valid(Arc::new(actor)),
                Err(DomainError::Unauthenticated(_)) => Checked::Invalid,
                Err(e) => {
                    tracing::warn!(error = ?e.into_anyhow(), "token re-check failed");
                    Checked::Failed
                }
            }
        })
        .await
        .clone()
    }

    /// Forgets a failed answer so the next attempt asks again.
    fn forget_failure(&self, token: &str, seq: i64) {
        self.answers.forget_if(&token.to_owned(), seq, |c| matches!(c, Checked::Failed));
    }
}

/// What a connection's subscriptions wait on: the newest ACCESS event its token has been
/// re-checked against. A subscription that meets an ACCESS event in its stream holds later
/// events back until the check is done, so nothing after an access change goes out under the
/// old rights. Ends (`passed` is false) when the connection is being closed.
#[derive(Clone)]
pub struct Gate(watch::Receiver<i64>);

impl Gate {
    pub async fn passed(&mut self, seq: i64) -> bool {
        self.0.wait_for(|checked| *checked >= seq).await.is_ok()
    }
}

/// The access side of one WebSocket connection, created before its token is checked so no
/// change can fall between the check and the watching.
pub struct Watcher {
    changes: watch::Receiver<i64>,
    checked: watch::Sender<i64>,
}

impl Watcher {
    pub fn new(bus: &Bus) -> (Watcher, Gate) {
        let mut changes = bus.watch_access();
        // Changes up to now are in the rights the token check is about to read.
        let now = *changes.borrow_and_update();
        let (checked, gate) = watch::channel(now);
        (Watcher { changes, checked }, Gate(gate))
    }

    /// Runs until the connection of `actor` (authenticated with `token`) must end, and says
    /// how; the gate closes with it.
    pub async fn run(mut self, pool: Pool, rechecks: Rechecks, token: String, actor: Actor) -> (u16, &'static str) {
        loop {
            if self.changes.changed().await.is_err() {
                // The bus is gone with the server; nothing will change any more.
                std::future::pending::<()>().await;
            }
            let seq = *self.changes.borrow_and_update();
            let mut checked = Checked::Failed;
            for attempt in 0..CHECK_ATTEMPTS {
                if attempt > 0 {
                    rechecks.forget_failure(&token, seq);
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                // Boxed: the check's future (a database round trip) is large, and every idle
                // connection holds this one's state.
                checked = Box::pin(rechecks.check(&pool, &token, seq)).await;
                if !matches!(checked, Checked::Failed) {
                    break;
                }
            }
            match verdict(&actor, &checked).close() {
                None => {
                    self.checked.send_replace(seq);
                }
                Some(close) => return close,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::access::permissions::Rights;

    fn actor(user_id: i64, department: Option<i64>, colleagues: Vec<i64>) -> Actor {
        Actor {
            user_id,
            email: format!("u{user_id}@example.com"),
            is_admin: false,
            department_id: department,
            time_zone: "UTC".into(),
            rights: Rights { user_id, department_users: colleagues, ..Default::default() }.shared(),
        }
    }

    #[test]
    fn only_changed_rights_end_a_connection() {
        let me = actor(1, Some(1), vec![1, 2]);
        // The same rights listed in another order are the same rights.
        let reordered = Checked::Valid(Arc::new(actor(1, Some(1), vec![2, 1])));
        assert_eq!(verdict(&me, &reordered), Verdict::Keep);
        let moved = Checked::Valid(Arc::new(actor(1, Some(2), vec![1, 3])));
        assert_eq!(verdict(&me, &moved), Verdict::Reconnect);
        let mut promoted = actor(1, Some(1), vec![1, 2]);
        promoted.is_admin = true;
        assert_eq!(verdict(&me, &Checked::Valid(Arc::new(promoted))), Verdict::Reconnect);
        assert_eq!(verdict(&me, &Checked::Invalid), Verdict::Unauthorized);
        assert_eq!(verdict(&me, &Checked::Failed), Verdict::Reconnect);
        assert_eq!(Verdict::Unauthorized.close().map(|c| c.0), Some(4401));
        assert_eq!(Verdict::Reconnect.close().map(|c| c.0), Some(4403));
        assert_eq!(Verdict::Keep.close(), None);
    }
}

//! Answers shared per event on one instance. Many subscriptions react to the same event in
//! the same way (every connection of a token re-checks it after an access change; every
//! counter widget of a user recomputes that user's counters), and each would otherwise take
//! a pool connection for the same statement. A round is the newest event seq seen: an answer
//! found in the current round is at least as fresh as the event that asks, and a newer event
//! forgets the older answers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

pub struct Rounds<K, V> {
    inner: Arc<Mutex<Round<K, V>>>,
}

impl<K, V> Clone for Rounds<K, V> {
    fn clone(&self) -> Self {
        Rounds { inner: self.inner.clone() }
    }
}

impl<K, V> Default for Rounds<K, V> {
    fn default() -> Self {
        Rounds { inner: Arc::new(Mutex::new(Round { seq: 0, cells: HashMap::new() })) }
    }
}

struct Round<K, V> {
    seq: i64,
    cells: HashMap<K, Arc<OnceCell<V>>>,
}

impl<K: Hash + Eq, V> Rounds<K, V> {
    /// The one cell for `key` that every asker for event `seq` (or an older one) shares.
    pub fn cell(&self, key: K, seq: i64) -> Arc<OnceCell<V>> {
        let mut round = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if seq > round.seq {
            round.seq = seq;
            round.cells.clear();
        }
        round.cells.entry(key).or_default().clone()
    }

    /// Drops the answer for `key` in round `seq` if `stale` says it must be asked again
    /// (a failed check).
    pub fn forget_if(&self, key: &K, seq: i64, stale: impl FnOnce(&V) -> bool) {
        let mut round = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if round.seq == seq && round.cells.get(key).and_then(|c| c.get()).is_some_and(stale) {
            round.cells.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_per_key_and_round_and_a_newer_round_forgets() {
        let r: Rounds<&str, i32> = Rounds::default();
        let a = r.cell("a", 5);
        assert!(Arc::ptr_eq(&a, &r.cell("a", 5)), "same key and round share a cell");
        assert!(Arc::ptr_eq(&a, &r.cell("a", 4)), "an older event may use a fresher answer");
        assert!(!Arc::ptr_eq(&a, &r.cell("b", 5)), "keys do not share");
        assert!(!Arc::ptr_eq(&a, &r.cell("a", 6)), "a newer event asks again");
    }

    #[test]
    fn forget_if_drops_only_a_stale_answer_of_the_current_round() {
        let r: Rounds<&str, i32> = Rounds::default();
        r.cell("a", 1).set(-1).unwrap();
        r.forget_if(&"a", 1, |v| *v >= 0);
        assert_eq!(r.cell("a", 1).get(), Some(&-1), "not stale: kept");
        r.forget_if(&"a", 1, |v| *v < 0);
        assert_eq!(r.cell("a", 1).get(), None, "stale: asked again");
    }
}

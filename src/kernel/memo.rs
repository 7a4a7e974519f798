//! Lookups remembered for the length of one scope: an import's batch checks the same status,
//! user and pipeline on thousands of rows, and each check is a round trip. Outside a scope
//! (every API request) nothing is remembered and each lookup runs as before.
//!
//! A scope covers one transaction, so what it remembers cannot change under it: a stage
//! read `FOR SHARE` stays locked until the commit, and a row another transaction deletes
//! meanwhile is still refused by its foreign key when the batch stores.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use crate::kernel::error::DomainResult;

tokio::task_local! {
    static MEMO: RefCell<HashMap<String, Box<dyn Any + Send>>>;
}

/// Runs `f` with lookups remembered until it ends.
pub async fn scope<F: Future>(f: F) -> F::Output {
    MEMO.scope(RefCell::new(HashMap::new()), f).await
}

/// The value of `lookup`, run once per `key` inside a scope. Failures are not remembered:
/// a refused reference is reported for every row that gives it.
pub async fn cached<T, F>(key: impl FnOnce() -> String, lookup: F) -> DomainResult<T>
where
    T: Clone + Send + 'static,
    F: Future<Output = DomainResult<T>>,
{
    if MEMO.try_with(|_| ()).is_err() {
        return lookup.await;
    }
    let key = key();
    if let Some(hit) = MEMO.with(|m| m.borrow().get(&key).and_then(|v| v.downcast_ref::<T>().cloned())) {
        return Ok(hit);
    }
    let value = lookup.await?;
    MEMO.with(|m| m.borrow_mut().insert(key, Box::new(value.clone())));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn count(calls: &AtomicUsize) -> DomainResult<usize> {
        Ok(calls.fetch_add(1, Ordering::SeqCst) + 1)
    }

    #[tokio::test]
    async fn remembers_inside_a_scope_only() {
        let calls = AtomicUsize::new(0);
        assert_eq!(cached(|| "a".into(), count(&calls)).await.unwrap(), 1);
        assert_eq!(cached(|| "a".into(), count(&calls)).await.unwrap(), 2);
        scope(async {
            assert_eq!(cached(|| "a".into(), count(&calls)).await.unwrap(), 3);
            assert_eq!(cached(|| "a".into(), count(&calls)).await.unwrap(), 3);
            assert_eq!(cached(|| "b".into(), count(&calls)).await.unwrap(), 4);
        })
        .await;
        assert_eq!(cached(|| "a".into(), count(&calls)).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn does_not_remember_failures() {
        let calls = AtomicUsize::new(0);
        scope(async {
            let fail = async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<usize, _>(crate::kernel::error::DomainError::bad_input("x", "no"))
            };
            assert!(cached(|| "f".into(), fail).await.is_err());
            assert_eq!(cached(|| "f".into(), count(&calls)).await.unwrap(), 2);
        })
        .await;
    }
}

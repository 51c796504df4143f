//! The controller loop every controller shares, kube-runtime style: watch events only produce
//! object keys, a deduplicating queue holds them, and `reconcile` re-reads the current state for
//! one key at a time, so the same key is never reconciled twice at once.

use crate::store::{Change, ObjectKey, Store, WatchItem};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::Object;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What to do with a key after reconciling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing more until something changes.
    AwaitChange,
    /// Look again after this long (for time-based behaviour, or after an error).
    RequeueAfter(Duration),
    /// Something failed that may take a while to clear (a quota, say): look again after a
    /// back-off that doubles with each failure in a row, from 200 ms to a minute, as client-go's
    /// rate-limited queue does.
    Retry,
}

/// The first and the longest wait of [`Action::Retry`].
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MOST: Duration = Duration::from_secs(60);

/// What a sync's result means for the key: done until something changes, looked at again
/// when it asked to be, or retried soon after an error.
pub fn outcome<E: std::fmt::Display>(name: &str, key: &ObjectKey, result: Result<Option<Duration>, E>) -> Action {
    match result {
        Ok(Some(after)) => Action::RequeueAfter(after),
        Ok(None) => Action::AwaitChange,
        Err(e) => {
            tracing::debug!(?key, error = %e, "{name}");
            Action::RequeueAfter(Duration::from_millis(500))
        }
    }
}

/// Reconciles the object behind `key` with `sync` unless it is gone or being deleted (its
/// dependents go with it), and says what next as [`outcome`] does.
pub fn sync_live<T: svclab_shared::Typed + serde::de::DeserializeOwned, E: std::fmt::Display>(
    store: &Store,
    key: &ObjectKey,
    name: &str,
    sync: impl FnOnce(&T) -> Result<Option<Duration>, E>,
) -> Action {
    match store.get_typed::<T>(&key.namespace, &key.name) {
        Some(object) if object.metadata().deletion_timestamp.is_none() => outcome(name, key, sync(&object)),
        _ => Action::AwaitChange,
    }
}

/// A level-triggered controller.
pub trait Reconciler: Send + 'static {
    /// A name for logs.
    fn name(&self) -> &'static str;

    /// The keys to reconcile because of a change. `object` is the object as changed, `old` what
    /// it was before (for a modification or deletion).
    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey>;

    /// Brings the world in line with the object behind `key`, reading the current state.
    fn reconcile(&mut self, key: &ObjectKey) -> impl Future<Output = Action> + Send;
}

/// A deduplicating work queue with delayed requeues.
#[derive(Default)]
struct Queue {
    ready: VecDeque<ObjectKey>,
    queued: HashSet<ObjectKey>,
    later: BTreeMap<(Instant, u64), ObjectKey>,
    seq: u64,
    /// Failures in a row of the keys whose last reconcile asked to [`Action::Retry`].
    failures: std::collections::HashMap<ObjectKey, u32>,
}

impl Queue {
    fn push(&mut self, key: ObjectKey) {
        if self.queued.insert(key.clone()) {
            self.ready.push_back(key);
        }
    }

    fn push_after(&mut self, key: ObjectKey, delay: Duration) {
        self.seq += 1;
        self.later.insert((Instant::now() + delay, self.seq), key);
    }

    fn promote_due(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.later.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.push(key);
        }
    }

    /// Queues `key` again as `action` asks.
    fn after(&mut self, key: ObjectKey, action: Action) {
        match action {
            Action::AwaitChange => drop(self.failures.remove(&key)),
            Action::RequeueAfter(delay) => {
                self.failures.remove(&key);
                self.push_after(key, delay);
            }
            Action::Retry => {
                let failures = self.failures.entry(key.clone()).or_default();
                let delay = RETRY_FIRST.saturating_mul(1 << (*failures).min(10)).min(RETRY_MOST);
                *failures += 1;
                self.push_after(key, delay);
            }
        }
    }

    fn pop(&mut self) -> Option<ObjectKey> {
        let key = self.ready.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.later.first_key_value().map(|((at, _), _)| *at)
    }
}

/// Runs a controller until `cancel` fires.
pub async fn run<R: Reconciler>(mut reconciler: R, store: Store, cancel: CancellationToken) {
    let mut watch = store.watch();
    let mut queue = Queue::default();
    let enqueue = |queue: &mut Queue, reconciler: &R, item: WatchItem| match item {
        WatchItem::Relist { objects, .. } => {
            for object in &objects {
                reconciler.keys_for(object, None).into_iter().for_each(|k| queue.push(k));
            }
        }
        WatchItem::Change(change) => {
            let Change { object, old, .. } = &*change;
            let old: Option<&Arc<Object>> = old.as_ref();
            reconciler.keys_for(object, old.map(|o| &**o)).into_iter().for_each(|k| queue.push(k));
        }
    };
    loop {
        while let Some(item) = watch.try_next() {
            enqueue(&mut queue, &reconciler, item);
        }
        queue.promote_due();
        if let Some(key) = queue.pop() {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                action = reconciler.reconcile(&key) => queue.after(key, action),
            }
            continue;
        }
        let deadline = queue.next_deadline();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            item = watch.next() => match item {
                Some(item) => enqueue(&mut queue, &reconciler, item),
                None => return,
            },
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_until_a_success() {
        let mut q = Queue::default();
        let a = ObjectKey::new(svclab_shared::Kind::ReplicaSet, "default", "a");
        let wait = |q: &Queue| q.next_deadline().unwrap() - Instant::now();
        q.after(a.clone(), Action::Retry);
        assert!(wait(&q) <= RETRY_FIRST);
        q.later.clear();
        q.after(a.clone(), Action::Retry);
        q.later.clear();
        q.after(a.clone(), Action::Retry);
        assert!(wait(&q) > RETRY_FIRST * 3 && wait(&q) <= RETRY_FIRST * 4, "200 ms, 400 ms, then 800 ms");
        for _ in 0..20 {
            q.later.clear();
            q.after(a.clone(), Action::Retry);
        }
        assert!(wait(&q) <= RETRY_MOST && wait(&q) > RETRY_MOST / 2, "at most a minute");
        q.after(a.clone(), Action::AwaitChange);
        q.later.clear();
        q.after(a, Action::Retry);
        assert!(wait(&q) <= RETRY_FIRST, "a success starts the back-off again");
    }

    #[test]
    fn the_queue_deduplicates_and_orders() {
        let mut q = Queue::default();
        let a = ObjectKey::new(svclab_shared::Kind::Pod, "default", "a");
        let b = ObjectKey::new(svclab_shared::Kind::Pod, "default", "b");
        q.push(a.clone());
        q.push(b.clone());
        q.push(a.clone());
        assert_eq!(q.pop(), Some(a.clone()));
        q.push(a.clone());
        assert_eq!(q.pop(), Some(b));
        assert_eq!(q.pop(), Some(a));
        assert_eq!(q.pop(), None);
    }
}

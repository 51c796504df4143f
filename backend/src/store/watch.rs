//! Watching the store: list-then-watch, and a relist whenever a watcher falls behind, so that no
//! watcher ever silently skips a change.

use super::{Change, Store};
use std::collections::VecDeque;
use std::sync::Arc;
use svclab_shared::Object;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// What a watcher sees next.
#[derive(Debug)]
pub enum WatchItem {
    /// The whole state at a resourceVersion: first on every watch, and again after falling behind.
    Relist { resource_version: u64, objects: Vec<Arc<Object>> },
    /// One change, in resourceVersion order.
    Change(Arc<Change>),
}

/// A subscription to the store's changes.
pub struct Watch {
    store: Store,
    rx: broadcast::Receiver<Arc<Change>>,
    /// The resourceVersion already delivered; older buffered changes are skipped.
    seen: u64,
    needs_relist: bool,
    /// Changes made before the watch began that it still has to deliver.
    backlog: VecDeque<Arc<Change>>,
}

impl Watch {
    pub(super) fn new(store: Store, rx: broadcast::Receiver<Arc<Change>>) -> Self {
        Watch { store, rx, seen: 0, needs_relist: true, backlog: VecDeque::new() }
    }

    /// A watch that starts after `seen`, delivering `backlog` first.
    pub(super) fn resume(
        store: Store,
        rx: broadcast::Receiver<Arc<Change>>,
        seen: u64,
        backlog: VecDeque<Arc<Change>>,
    ) -> Self {
        Watch { store, rx, seen, needs_relist: false, backlog }
    }

    fn relist(&mut self) -> WatchItem {
        // Subscribe before listing: every change after the list is then in the new receiver,
        // and the ones the list already holds are skipped by `seen`.
        self.rx = self.rx.resubscribe();
        self.backlog.clear();
        let (resource_version, objects) = self.store.snapshot();
        self.seen = resource_version;
        self.needs_relist = false;
        WatchItem::Relist { resource_version, objects }
    }

    fn accept(&mut self, change: Arc<Change>) -> Option<WatchItem> {
        if change.resource_version <= self.seen {
            return None;
        }
        self.seen = change.resource_version;
        Some(WatchItem::Change(change))
    }

    /// The resourceVersion of the last change delivered: everything up to it has been seen.
    pub fn position(&self) -> u64 {
        self.seen
    }

    /// The next item; `None` once the store is gone.
    pub async fn next(&mut self) -> Option<WatchItem> {
        loop {
            if self.needs_relist {
                return Some(self.relist());
            }
            if let Some(change) = self.backlog.pop_front() {
                if let Some(item) = self.accept(change) {
                    return Some(item);
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(change) => {
                    if let Some(item) = self.accept(change) {
                        return Some(item);
                    }
                }
                Err(RecvError::Lagged(_)) => self.needs_relist = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next item if one is ready now.
    pub fn try_next(&mut self) -> Option<WatchItem> {
        loop {
            if self.needs_relist {
                return Some(self.relist());
            }
            if let Some(change) = self.backlog.pop_front() {
                if let Some(item) = self.accept(change) {
                    return Some(item);
                }
                continue;
            }
            match self.rx.try_recv() {
                Ok(change) => {
                    if let Some(item) = self.accept(change) {
                        return Some(item);
                    }
                }
                Err(TryRecvError::Lagged(_)) => self.needs_relist = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    /// The next item and every one already waiting after it (to act once per burst); `None`
    /// once the store is gone or `cancel` fires.
    pub async fn next_batch(&mut self, cancel: &tokio_util::sync::CancellationToken) -> Option<Vec<WatchItem>> {
        let first = tokio::select! {
            _ = cancel.cancelled() => return None,
            item = self.next() => item?,
        };
        let mut batch = vec![first];
        while let Some(item) = self.try_next() {
            batch.push(item);
        }
        Some(batch)
    }
}

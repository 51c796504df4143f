//! What the ingress remembers of how it routed the dashboard's test requests, by `X-Request-ID`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use svclab_shared::lab::Hop;

/// How the ingress routed the requests that carried an `X-Request-ID` (the dashboard's test
/// requests send one), for the last [`Traces::KEEP`] of them.
#[derive(Default)]
pub struct Traces {
    recent: Mutex<(HashMap<String, Hop>, VecDeque<String>)>,
}

impl Traces {
    const KEEP: usize = 1024;

    pub(crate) fn record(&self, id: &str, hop: Hop) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.0.insert(id.to_string(), hop).is_none() {
            recent.1.push_back(id.to_string());
        }
        while recent.1.len() > Self::KEEP {
            if let Some(old) = recent.1.pop_front() {
                recent.0.remove(&old);
            }
        }
    }

    /// The hop of the request with this `X-Request-ID`, once.
    pub fn take(&self, id: &str) -> Option<Hop> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).0.remove(id)
    }
}

//! Pod pickers: the running pods a select offers. With thousands of pods they are gathered only
//! once the picker is used (focused or pressed), and kept current from then on.

use crate::state::Cluster;
use k8s_openapi::api::core::v1::Pod;
use leptos::prelude::*;

/// Up to this many pods a picker lists them without waiting to be used.
const FEW_PODS: usize = 500;
/// A picker lists at most this many (a select is no place for more).
const MOST: usize = 500;

#[derive(Clone, Copy)]
pub struct PodPicker {
    used: RwSignal<bool>,
}

impl PodPicker {
    pub fn new() -> Self {
        PodPicker { used: RwSignal::new(false) }
    }

    /// For the select's `on:focus` and `on:pointerdown`.
    pub fn use_it(self) {
        self.used.set(true);
    }

    /// Whether the options are gathered. Reactive.
    pub fn wanted(self, cluster: Cluster) -> bool {
        self.used.get() || cluster.count::<Pod>() <= FEW_PODS
    }

    /// The running pods as (namespace, name), sorted; none until wanted. Reactive.
    pub fn pods(self, cluster: Cluster) -> Vec<(String, String)> {
        if !self.wanted(cluster) {
            return vec![];
        }
        cluster.fold::<Pod, _>(Vec::new(), |mut out, p| {
            if out.len() < MOST && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                out.push((
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default(),
                ));
            }
            out
        })
    }
}

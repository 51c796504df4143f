//! The endpoint timeline, a lab view rather than a Kubernetes component: for each service, when
//! each pod joined or left its endpoints or changed readiness in them, and why (the readiness
//! probe's message, the pod's deletion, its labels). Recorded from the informer's updates, the
//! reasons read from the pods and their events as each change arrives; kept in memory, the
//! newest [`KEPT`] changes per service.

use crate::informer::{Informer, ServiceState};
use crate::store::{ObjectKey, Store};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use svclab_shared::lab::{EndpointState, Timeline, TimelineEntry};
use svclab_shared::selector::Selector;
use tokio_util::sync::CancellationToken;

/// The changes kept per service.
pub const KEPT: usize = 200;

/// Where each endpoint stands, by pod name (by IP for an address without a pod): (IP, state).
pub type Standing = BTreeMap<String, (String, EndpointState)>;

/// The standing an Endpoints object gives.
pub fn standing(endpoints: Option<&Endpoints>) -> Standing {
    let mut out = Standing::new();
    for subset in endpoints.iter().flat_map(|e| e.subsets.iter().flatten()) {
        for (list, state) in
            [(&subset.addresses, EndpointState::Ready), (&subset.not_ready_addresses, EndpointState::NotReady)]
        {
            for address in list.iter().flatten() {
                let pod = address.target_ref.as_ref().and_then(|r| r.name.clone());
                out.insert(pod.unwrap_or_else(|| address.ip.clone()), (address.ip.clone(), state));
            }
        }
    }
    out
}

/// What changed from `before` to `after`: (pod, IP, new state), by pod name.
pub fn changes(before: &Standing, after: &Standing) -> Vec<(String, String, EndpointState)> {
    let mut out = Vec::new();
    for (pod, (ip, state)) in after {
        if before.get(pod).map(|(_, s)| s) != Some(state) {
            out.push((pod.clone(), ip.clone(), *state));
        }
    }
    for (pod, (ip, _)) in before {
        if !after.contains_key(pod) {
            out.push((pod.clone(), ip.clone(), EndpointState::Gone));
        }
    }
    out.sort();
    out
}

/// What the timeline knows of a pod when a change arrives.
pub struct PodFacts<'a> {
    /// The pod as stored now (`None`: deleted).
    pub pod: Option<&'a Pod>,
    /// The service's selector (`None`: a service without one, its Endpoints written by hand).
    pub selector: Option<&'a Selector>,
    /// The pod's newest `Readiness probe failed: …` message.
    pub probe_failure: Option<&'a str>,
    /// The state it had before (`Gone` when new).
    pub before: EndpointState,
}

/// Why a pod's place changed to `state`, in words.
pub fn reason(state: EndpointState, facts: &PodFacts) -> String {
    let Some(selector) = facts.selector else {
        return "the Endpoints were written by hand (the service has no selector)".into();
    };
    let Some(pod) = facts.pod else { return "pod deleted".into() };
    let has_probe = pod.spec.as_ref().is_some_and(|s| s.containers.iter().any(|c| c.readiness_probe.is_some()));
    // The Ready condition's message while it is not True (`containers with unready status: …`).
    let ready_condition = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status != "True").and_then(|c| c.message.clone()));
    match state {
        EndpointState::Gone => {
            if pod.metadata.deletion_timestamp.is_some() {
                "pod deleted (terminating)".into()
            } else if !selector.matches_opt(pod.metadata.labels.as_ref()) {
                format!("its labels no longer match the selector {selector}")
            } else if svclab_shared::pod::is_finished(pod) {
                "the pod finished".into()
            } else {
                "the service's target ports no longer resolve on it".into()
            }
        }
        EndpointState::Ready => match facts.before {
            EndpointState::NotReady if has_probe => "readiness probe succeeded".into(),
            EndpointState::NotReady => "its containers became ready".into(),
            _ if has_probe => format!("selected by {selector}; readiness probe passed"),
            _ => format!("selected by {selector}; ready (no readiness probe)"),
        },
        EndpointState::NotReady => {
            let why = facts.probe_failure.map(String::from).or(ready_condition);
            match (facts.before, why) {
                (EndpointState::Ready, Some(why)) => why,
                (EndpointState::Ready, None) => "it stopped being ready".into(),
                (_, Some(why)) => format!("selected by {selector}; not ready yet: {why}"),
                (_, None) => format!("selected by {selector}; not ready yet (starting)"),
            }
        }
    }
}

/// One service's timeline.
struct Log {
    since: Timestamp,
    standing: Standing,
    entries: VecDeque<TimelineEntry>,
}

/// Every service's timeline; a cloneable handle.
#[derive(Clone)]
pub struct Timelines {
    started: Timestamp,
    logs: Arc<Mutex<HashMap<ObjectKey, Log>>>,
}

impl Default for Timelines {
    fn default() -> Self {
        Timelines { started: Timestamp::now(), logs: Arc::default() }
    }
}

impl Timelines {
    /// A service's timeline, `None` when the service is unknown.
    pub fn get(&self, key: &ObjectKey) -> Option<Timeline> {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs.get(key)?;
        Some(Timeline {
            service: format!("{}/{}", key.namespace, key.name),
            since: log.since.to_string(),
            entries: log.entries.iter().cloned().collect(),
        })
    }

    /// Records each update of the informer until `cancel` fires.
    pub async fn run(self, informer: Informer, store: Store, cancel: CancellationToken) {
        let mut updates = informer.subscribe();
        while let Some(batch) = updates.next_batch(&cancel).await {
            for update in batch {
                let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
                if update.relist {
                    let kept: std::collections::HashSet<&ObjectKey> = update.changed.iter().map(|(k, _)| k).collect();
                    logs.retain(|k, _| kept.contains(k));
                }
                for (key, state) in &update.changed {
                    match state {
                        Some(state) => self.record(&mut logs, &store, key, state),
                        None => {
                            logs.remove(key);
                        }
                    }
                }
            }
        }
    }

    fn record(&self, logs: &mut HashMap<ObjectKey, Log>, store: &Store, key: &ObjectKey, state: &ServiceState) {
        let created = state.service.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let log = logs.entry(key.clone()).or_insert_with(|| Log {
            since: created.map_or(self.started, |c| c.max(self.started)),
            standing: Standing::new(),
            entries: VecDeque::new(),
        });
        let after = standing(state.endpoints.as_ref());
        let changed = changes(&log.standing, &after);
        if changed.is_empty() {
            return;
        }
        let time = state
            .endpoints
            .as_ref()
            .and_then(|e| {
                e.metadata.annotations.as_ref()?.get(crate::controllers::endpoints::TRIGGER_TIME)?.parse().ok()
            })
            .unwrap_or_else(Timestamp::now);
        // The probes' messages explain only pods turning not ready: the events are read for those.
        let failures = changed
            .iter()
            .any(|(_, _, s)| *s == EndpointState::NotReady)
            .then(|| crate::registry::events::newest_messages(store, &key.namespace, "Pod", "Readiness probe failed"));
        for (pod_name, ip, new_state) in changed {
            let pod = store.get_typed::<Pod>(&key.namespace, &pod_name);
            let facts = PodFacts {
                pod: pod.as_ref(),
                selector: state.facts.selector.as_ref(),
                probe_failure: failures.as_ref().and_then(|f| f.get(&pod_name)).map(String::as_str),
                before: log.standing.get(&pod_name).map_or(EndpointState::Gone, |(_, s)| *s),
            };
            let reason = reason(new_state, &facts);
            log.entries.push_back(TimelineEntry {
                time: time.to_string(),
                pod: pod_name,
                ip,
                state: new_state,
                reason,
            });
            if log.entries.len() > KEPT {
                log.entries.pop_front();
            }
        }
        log.standing = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(ready: &[(&str, &str)], not_ready: &[(&str, &str)]) -> Endpoints {
        let list = |l: &[(&str, &str)]| {
            l.iter().map(|(ip, pod)| json!({"ip": ip, "targetRef": {"kind": "Pod", "name": pod}})).collect::<Vec<_>>()
        };
        serde_json::from_value(json!({
            "metadata": {"name": "kubia", "namespace": "default"},
            "subsets": [{"addresses": list(ready), "notReadyAddresses": list(not_ready), "ports": [{"port": 8080}]}]
        }))
        .unwrap()
    }

    fn pod(labels: serde_json::Value, probe: bool, deleting: bool) -> Pod {
        let mut container = json!({"name": "kubia"});
        if probe {
            container["readinessProbe"] = json!({"exec": {"command": ["ls", "/var/ready"]}});
        }
        let mut meta = json!({"name": "kubia-a", "namespace": "default", "labels": labels});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(json!({"metadata": meta, "spec": {"containers": [container]},
            "status": {"conditions": [{"type": "Ready", "status": "False", "message": "containers with unready status: [kubia]"}]}}))
        .unwrap()
    }

    #[test]
    fn changes_name_each_pod_that_moved() {
        let before = standing(Some(&endpoints(&[("10.0.0.1", "a"), ("10.0.0.2", "b")], &[])));
        let after = standing(Some(&endpoints(&[("10.0.0.1", "a"), ("10.0.0.3", "c")], &[("10.0.0.2", "b")])));
        assert_eq!(
            changes(&before, &after),
            [
                ("b".to_string(), "10.0.0.2".to_string(), EndpointState::NotReady),
                ("c".to_string(), "10.0.0.3".to_string(), EndpointState::Ready),
            ]
        );
        let gone = changes(&after, &standing(None));
        assert_eq!(gone.len(), 3);
        assert!(gone.iter().all(|(_, _, s)| *s == EndpointState::Gone));
    }

    #[test]
    fn reasons_say_probe_deletion_and_labels() {
        let selector = Selector::parse("app=kubia").unwrap();
        let probed = pod(json!({"app": "kubia"}), true, false);
        let facts = |pod, before, failure| PodFacts { pod, selector: Some(&selector), probe_failure: failure, before };
        assert_eq!(
            reason(
                EndpointState::NotReady,
                &facts(
                    Some(&probed),
                    EndpointState::Ready,
                    Some("Readiness probe failed: ls: /var/ready: No such file")
                )
            ),
            "Readiness probe failed: ls: /var/ready: No such file"
        );
        assert_eq!(
            reason(EndpointState::NotReady, &facts(Some(&probed), EndpointState::Ready, None)),
            "containers with unready status: [kubia]"
        );
        assert_eq!(
            reason(EndpointState::Ready, &facts(Some(&probed), EndpointState::NotReady, None)),
            "readiness probe succeeded"
        );
        assert_eq!(reason(EndpointState::Gone, &facts(None, EndpointState::Ready, None)), "pod deleted");
        let deleting = pod(json!({"app": "kubia"}), true, true);
        assert_eq!(
            reason(EndpointState::Gone, &facts(Some(&deleting), EndpointState::Ready, None)),
            "pod deleted (terminating)"
        );
        let relabelled = pod(json!({"app": "other"}), true, false);
        assert_eq!(
            reason(EndpointState::Gone, &facts(Some(&relabelled), EndpointState::Ready, None)),
            "its labels no longer match the selector app=kubia"
        );
        let plain = pod(json!({"app": "kubia"}), false, false);
        assert_eq!(
            reason(EndpointState::Ready, &facts(Some(&plain), EndpointState::Gone, None)),
            "selected by app=kubia; ready (no readiness probe)"
        );
        let none = PodFacts { pod: None, selector: None, probe_failure: None, before: EndpointState::Gone };
        assert!(reason(EndpointState::Ready, &none).contains("written by hand"));
    }
}

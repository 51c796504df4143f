//! Events: what components report about objects (`kubectl get events`), repeated ones counted.

use super::Registry;
use crate::store::Store;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;
use svclab_shared::Object;

/// The newest message starting with `prefix` among the events about each object of `kind` in
/// the namespace, by the object's name (e.g. each pod's last `Readiness probe failed: …`).
pub fn newest_messages(store: &Store, namespace: &str, kind: &str, prefix: &str) -> BTreeMap<String, String> {
    let mut newest: BTreeMap<String, (Option<Timestamp>, String)> = BTreeMap::new();
    for event in store.list_views::<Event>(Some(namespace)) {
        let object = &event.involved_object;
        let Some(message) = event.message.as_deref().filter(|m| m.starts_with(prefix)) else { continue };
        if object.kind.as_deref() != Some(kind) {
            continue;
        }
        let when = event.last_timestamp.as_ref().map(|t| t.0).or(event.event_time.as_ref().map(|t| t.0));
        let name = object.name.clone().unwrap_or_default();
        if newest.get(&name).is_none_or(|(seen, _)| *seen <= when) {
            newest.insert(name, (when, message.to_string()));
        }
    }
    newest.into_iter().map(|(name, (_, message))| (name, message)).collect()
}

pub(super) fn record(registry: &Registry, about: &Object, type_: &str, reason: &str, message: &str, component: &str) {
    let meta = about.metadata();
    let namespace = meta.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
    let now = Time(Timestamp::now());
    let involved = ObjectReference {
        api_version: Some(about.kind().api_version().into()),
        kind: Some(about.kind().name().into()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    };
    // The same reason and message about the same object bumps the count, as the event recorder
    // does; the index finds the earlier event without scanning them all.
    let key = (meta.uid.clone().unwrap_or_default(), reason.to_string(), message.to_string());
    let earlier = registry.event_index().get(&key).cloned();
    if let Some(name) = earlier
        && let Some(mut event) = registry.store().get_typed::<Event>(&namespace, &name)
    {
        event.count = Some(event.count.unwrap_or(1) + 1);
        event.last_timestamp = Some(now);
        let _ = registry.store().update(Object::Event(event));
        return;
    }
    let name = format!("{}.{:x}", meta.name.as_deref().unwrap_or("object"), Timestamp::now().as_nanosecond());
    let event = Event {
        metadata: ObjectMeta { name: Some(name), namespace: Some(namespace), ..Default::default() },
        involved_object: involved,
        type_: Some(type_.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        count: Some(1),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        source: Some(EventSource { component: Some(component.into()), host: None }),
        reporting_component: Some(component.into()),
        ..Default::default()
    };
    match registry.create(Object::Event(event)) {
        Ok(created) => {
            registry.event_index().insert(key, created.name().to_string());
        }
        Err(e) => tracing::debug!(error = %e, ?reason, "could not record event"),
    }
}

/// How long events are kept, as kube-apiserver's `--event-ttl` (one hour).
pub const EVENT_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// When an event last happened: its last timestamp, else its series', else when it was made.
fn last_seen(event: &Event) -> Option<Timestamp> {
    let last = event.last_timestamp.as_ref().map(|t| t.0);
    let series = event.series.as_ref().and_then(|s| s.last_observed_time.as_ref()).map(|t| t.0);
    let made = event.event_time.as_ref().map(|t| t.0).or(event.metadata.creation_timestamp.as_ref().map(|t| t.0));
    last.or(series).or(made)
}

/// Deletes the events last seen more than `ttl` ago; says how many.
pub(super) fn expire(registry: &Registry, ttl: std::time::Duration) -> usize {
    let Ok(cutoff) = Timestamp::now().checked_sub(jiff::SignedDuration::try_from(ttl).unwrap_or_default()) else {
        return 0;
    };
    let old: Vec<_> = registry
        .store()
        .list_views::<Event>(None)
        .iter()
        .filter(|e| last_seen(e).is_some_and(|t| t < cutoff))
        .map(|e| {
            let (ns, name) = (e.metadata.namespace.as_deref(), e.metadata.name.as_deref());
            crate::store::ObjectKey::new(svclab_shared::Kind::Event, ns.unwrap_or_default(), name.unwrap_or_default())
        })
        .collect();
    let mut expired = std::collections::HashSet::new();
    for key in old {
        if registry.store().delete(&key, None).is_ok() {
            expired.insert(key.name);
        }
    }
    // The repeat counter forgets them too.
    registry.event_index().retain(|_, name| !expired.contains(name));
    expired.len()
}

/// Expires old events now and every minute until `cancel` fires.
pub async fn run_ttl(registry: Registry, cancel: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                let expired = expire(&registry, EVENT_TTL);
                if expired > 0 {
                    tracing::debug!(expired, "events past their TTL deleted");
                }
            }
        }
    }
}

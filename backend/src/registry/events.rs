//! Events: what components report about objects (`kubectl get events`), repeated ones counted.

use super::Registry;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use svclab_shared::Object;

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

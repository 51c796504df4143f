//! What scaling reads and writes of the kinds with a `scale` subresource (Deployments,
//! ReplicaSets, StatefulSets, ReplicationControllers): desired and current replicas, the
//! selector as text, and the object with other desired replicas. The API's Scale and the
//! autoscaler both use it.

use crate::Object;
use crate::selector::Selector;

/// The desired replicas and the selector, as text, of a scalable object.
pub fn replicas_and_selector(object: &Object) -> Option<(i32, String)> {
    match object {
        Object::Deployment(d) => {
            let spec = d.spec.as_ref()?;
            let selector = Selector::from_label_selector(&spec.selector).ok()?;
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        Object::ReplicaSet(rs) => {
            let spec = rs.spec.as_ref()?;
            let selector = Selector::from_label_selector(&spec.selector).ok()?;
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        Object::ReplicationController(rc) => {
            let spec = rc.spec.as_ref()?;
            let selector = Selector::from_map(spec.selector.as_ref()?);
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        Object::StatefulSet(s) => {
            let spec = s.spec.as_ref()?;
            let selector = Selector::from_label_selector(&spec.selector).ok()?;
            Some((spec.replicas.unwrap_or(1), selector.to_string()))
        }
        _ => None,
    }
}

/// The replicas the object's status reports.
pub fn status_replicas(object: &Object) -> i32 {
    match object {
        Object::Deployment(d) => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        Object::ReplicaSet(rs) => rs.status.as_ref().map_or(0, |s| s.replicas),
        Object::ReplicationController(rc) => rc.status.as_ref().map_or(0, |s| s.replicas),
        Object::StatefulSet(s) => s.status.as_ref().map_or(0, |s| s.replicas),
        _ => 0,
    }
}

/// The object, wanting `replicas`.
pub fn with_replicas(object: &Object, replicas: i32) -> Object {
    let mut updated = object.clone();
    match &mut updated {
        Object::Deployment(d) => d.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        Object::ReplicaSet(rs) => rs.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        Object::ReplicationController(rc) => rc.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        Object::StatefulSet(s) => s.spec.get_or_insert_with(Default::default).replicas = Some(replicas),
        _ => {}
    }
    updated
}

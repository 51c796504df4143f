//! Watch events: the Kubernetes API's `?watch=true` stream and the dashboard's `/lab/v1/watch` stream.

use crate::Object;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::{Deserialize, Serialize};

/// One event of a Kubernetes watch: `{"type": "ADDED", "object": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "object", rename_all = "UPPERCASE")]
pub enum WatchEvent<T> {
    Added(T),
    Modified(T),
    Deleted(T),
    /// The watch cannot go on (for example it fell too far behind); the client relists.
    Error(Box<Status>),
}

/// One message of the dashboard's stream. `SYNC` carries the whole state: it opens every
/// connection that does not resume from a resourceVersion, and is sent again whenever the server
/// had to relist for the client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "object", rename_all = "UPPERCASE")]
pub enum LabEvent {
    Sync(Snapshot),
    Added(Object),
    Modified(Object),
    Deleted(Object),
}

/// Every object in the store at one resourceVersion (also `GET /lab/v1/state`'s answer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub resource_version: String,
    pub objects: Vec<Object>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_use_the_kubernetes_wire_form() {
        let value = json!({"type": "ADDED", "object": {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "default"}}});
        let event: LabEvent = serde_json::from_value(value.clone()).unwrap();
        assert!(matches!(&event, LabEvent::Added(o) if o.name() == "default"));
        assert_eq!(serde_json::to_value(&event).unwrap(), value);
    }
}

//! The dashboard's live feed, a websocket at `/lab/v1/watch`: `SYNC` with the whole state, then
//! every change; `SYNC` again after a relist. Objects go without `metadata.managedFields`, as
//! kubectl shows them by default: the dashboard never reads them, and they are about a third of
//! a pod's JSON.

use super::ApiState;
use crate::store::{ChangeType, WatchItem};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use futures::StreamExt;
use std::borrow::Cow;
use svclab_shared::Object;

/// An object as the dashboard gets it: without `managedFields` (copied only when it has them).
fn for_dashboard(object: &Object) -> Cow<'_, Object> {
    if object.metadata().managed_fields.is_none() {
        return Cow::Borrowed(object);
    }
    let mut object = object.clone();
    object.metadata_mut().managed_fields = None;
    Cow::Owned(object)
}

/// One message of the dashboard's stream, serialized straight from the store's shared objects
/// (a `SYNC` of 10,000 pods is never copied first).
fn lab_message(item: &WatchItem) -> serde_json::Result<String> {
    let (kind, object) = match item {
        WatchItem::Relist { resource_version, objects } => {
            let mut out = Vec::with_capacity(objects.len() * 1024 + 64);
            out.extend_from_slice(b"{\"type\":\"SYNC\",\"object\":{\"resourceVersion\":");
            serde_json::to_writer(&mut out, &resource_version.to_string())?;
            out.extend_from_slice(b",\"objects\":[");
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &*for_dashboard(o))?;
            }
            out.extend_from_slice(b"]}}");
            return Ok(String::from_utf8(out).expect("serde_json writes UTF-8"));
        }
        WatchItem::Change(change) => {
            let kind = match change.change {
                ChangeType::Added => "ADDED",
                ChangeType::Modified => "MODIFIED",
                ChangeType::Deleted => "DELETED",
            };
            (kind, &change.object)
        }
    };
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    serde_json::to_writer(&mut out, &*for_dashboard(object))?;
    out.push(b'}');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// `GET /lab/v1/watch`: the dashboard's live feed.
pub async fn lab_socket(State(state): State<ApiState>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    // The dashboard offers `svclab.feed` (beside a token's protocol, which must not be chosen).
    upgrade.protocols(["svclab.feed"]).on_upgrade(move |socket| feed(state, socket))
}

async fn feed(state: ApiState, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let mut watch = state.store().watch();
    loop {
        let item = tokio::select! {
            _ = state.cancel.cancelled() => break,
            // The client says nothing; a close or error ends the feed.
            msg = incoming.next() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                _ => continue,
            },
            item = watch.next() => match item { Some(i) => i, None => break },
        };
        let Ok(text) = lab_message(&item) else { continue };
        // A dashboard that stops reading is cut off (it reconnects and relists), never buffered for.
        let sent = tokio::time::timeout(
            super::watch::SEND_TIMEOUT,
            futures::SinkExt::send(&mut sink, Message::Text(text.into())),
        );
        if !matches!(sent.await, Ok(Ok(()))) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Change;
    use std::sync::Arc;
    use svclab_shared::watch::LabEvent;

    fn namespace(name: &str) -> Arc<Object> {
        let value = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        Arc::new(Object::from_value(value).unwrap())
    }

    #[test]
    fn lab_messages_are_lab_events() {
        let objects = vec![namespace("default"), namespace("kube-system")];
        let sync = lab_message(&WatchItem::Relist { resource_version: 7, objects: objects.clone() }).unwrap();
        match serde_json::from_str::<LabEvent>(&sync).unwrap() {
            LabEvent::Sync(s) => {
                assert_eq!(s.resource_version, "7");
                assert_eq!(s.objects, objects.iter().map(|o| (**o).clone()).collect::<Vec<_>>());
            }
            other => panic!("{other:?}"),
        }
        let change = Change { resource_version: 8, change: ChangeType::Deleted, object: objects[0].clone(), old: None };
        let deleted = lab_message(&WatchItem::Change(Arc::new(change))).unwrap();
        assert!(
            matches!(serde_json::from_str::<LabEvent>(&deleted).unwrap(), LabEvent::Deleted(o) if o.name() == "default")
        );
    }

    #[test]
    fn objects_go_without_managed_fields() {
        let value = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "lab", "labels": {"team": "a"},
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}]}});
        let object = Arc::new(Object::from_value(value).unwrap());
        let change = Change { resource_version: 9, change: ChangeType::Added, object: object.clone(), old: None };
        for message in [
            lab_message(&WatchItem::Relist { resource_version: 9, objects: vec![object.clone()] }).unwrap(),
            lab_message(&WatchItem::Change(Arc::new(change))).unwrap(),
        ] {
            assert!(!message.contains("managedFields"), "{message}");
            assert!(message.contains(r#""labels":{"team":"a"}"#), "{message}");
        }
        // The stored object keeps them.
        assert!(object.metadata().managed_fields.is_some());
    }
}

//! The dashboard's view of the cluster, list then watch as client-go's reflector does it:
//! `GET /lab/v1/state` lists every object at one resourceVersion, and the websocket at
//! `/lab/v1/watch?resourceVersion=N` streams every change after it (`SYNC` with the whole state
//! first when no resourceVersion is given or it is too old, and again after a relist). The list
//! goes over HTTP because a browser takes a 19 MB response several times faster than a 19 MB
//! WebSocket message (docs/architecture.md). Objects go without `metadata.managedFields`, as
//! kubectl shows them by default: the dashboard never reads them, and they are about a third of
//! a pod's JSON.

use super::ApiState;
use crate::store::{ChangeType, WatchItem};
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;
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

/// The list is sent in chunks of about this many bytes, each as soon as it is written, so the
/// first bytes leave at once rather than after 19 MB are serialized.
const CHUNK_BYTES: usize = 512 * 1024;

/// Writes `objects[start..]`, comma-separated, until `out` holds `limit` bytes (at least one
/// object); the index of the next object to write.
fn write_objects(out: &mut Vec<u8>, objects: &[Arc<Object>], start: usize, limit: usize) -> serde_json::Result<usize> {
    let mut next = start;
    for object in &objects[start..] {
        if next > start && out.len() >= limit {
            break;
        }
        if next > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &*for_dashboard(object))?;
        next += 1;
    }
    Ok(next)
}

/// Opens `{"resourceVersion":"N","objects":[`, the list as `GET /lab/v1/state` answers it and a
/// `SYNC` carries it; [`CLOSE_LIST`] closes it.
fn open_list(out: &mut Vec<u8>, resource_version: u64) {
    out.extend_from_slice(b"{\"resourceVersion\":\"");
    out.extend_from_slice(resource_version.to_string().as_bytes());
    out.extend_from_slice(b"\",\"objects\":[");
}

const CLOSE_LIST: &[u8] = b"]}";

/// One message of the dashboard's stream, serialized straight from the store's shared objects
/// (a `SYNC` of 10,000 pods is never copied first).
fn lab_message(item: &WatchItem) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(2048);
    match item {
        WatchItem::Relist { resource_version, objects } => {
            out.reserve(objects.len() * 1024);
            out.extend_from_slice(b"{\"type\":\"SYNC\",\"object\":");
            open_list(&mut out, *resource_version);
            write_objects(&mut out, objects, 0, usize::MAX)?;
            out.extend_from_slice(CLOSE_LIST);
            out.push(b'}');
        }
        WatchItem::Change(change) => {
            let kind = match change.change {
                ChangeType::Added => "ADDED",
                ChangeType::Modified => "MODIFIED",
                ChangeType::Deleted => "DELETED",
            };
            out.extend_from_slice(b"{\"type\":\"");
            out.extend_from_slice(kind.as_bytes());
            out.extend_from_slice(b"\",\"object\":");
            serde_json::to_writer(&mut out, &*for_dashboard(&change.object))?;
            out.push(b'}');
        }
    }
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// The chunks of the list, each written when it is asked for.
fn list_chunks(resource_version: u64, objects: Vec<Arc<Object>>) -> impl Iterator<Item = serde_json::Result<Bytes>> {
    let mut next = 0;
    let mut closed = false;
    std::iter::from_fn(move || {
        if closed {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
        // Each chunk holds at least one object, so only the first starts at 0.
        if next == 0 {
            open_list(&mut out, resource_version);
        }
        next = match write_objects(&mut out, &objects, next, CHUNK_BYTES) {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        closed = next == objects.len();
        if closed {
            out.extend_from_slice(CLOSE_LIST);
        }
        Some(Ok(Bytes::from(out)))
    })
}

/// `GET /lab/v1/state`: every object at one resourceVersion, `{"resourceVersion","objects"}`
/// (the `object` of a `SYNC`), streamed as it is written.
pub async fn state(State(state): State<ApiState>) -> Response {
    let (resource_version, objects) = state.store().snapshot();
    let chunks = futures::stream::iter(list_chunks(resource_version, objects));
    ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(chunks)).into_response()
}

#[derive(Deserialize)]
pub struct FeedQuery {
    /// Stream the changes after this one (from `GET /lab/v1/state`) instead of a `SYNC` first.
    #[serde(rename = "resourceVersion")]
    resource_version: Option<u64>,
}

/// `GET /lab/v1/watch`: the dashboard's live feed.
pub async fn lab_socket(
    State(state): State<ApiState>,
    Query(query): Query<FeedQuery>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    // The dashboard offers `svclab.feed` (beside a token's protocol, which must not be chosen).
    upgrade.protocols(["svclab.feed"]).on_upgrade(move |socket| feed(state, socket, query.resource_version))
}

async fn feed(state: ApiState, socket: WebSocket, from: Option<u64>) {
    let (mut sink, mut incoming) = socket.split();
    // Changes the store no longer keeps are replaced by a `SYNC`, as a watch that is too old
    // makes client-go relist.
    let mut watch = match from.map(|rv| state.store().watch_from(rv)) {
        Some(Ok(watch)) => watch,
        _ => state.store().watch(),
    };
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
    use svclab_shared::watch::{LabEvent, Snapshot};

    fn namespace(name: &str) -> Arc<Object> {
        let value = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        Arc::new(Object::from_value(value).unwrap())
    }

    fn owned(objects: &[Arc<Object>]) -> Vec<Object> {
        objects.iter().map(|o| (**o).clone()).collect()
    }

    #[test]
    fn lab_messages_are_lab_events() {
        let objects = vec![namespace("default"), namespace("kube-system")];
        let sync = lab_message(&WatchItem::Relist { resource_version: 7, objects: objects.clone() }).unwrap();
        match serde_json::from_str::<LabEvent>(&sync).unwrap() {
            LabEvent::Sync(s) => {
                assert_eq!(s.resource_version, "7");
                assert_eq!(s.objects, owned(&objects));
            }
            other => panic!("{other:?}"),
        }
        let change = Change { resource_version: 8, change: ChangeType::Deleted, object: objects[0].clone(), old: None };
        let deleted = lab_message(&WatchItem::Change(Arc::new(change))).unwrap();
        assert!(
            matches!(serde_json::from_str::<LabEvent>(&deleted).unwrap(), LabEvent::Deleted(o) if o.name() == "default")
        );
    }

    /// The list's chunks, joined and parsed.
    fn list(objects: &[Arc<Object>]) -> (usize, Snapshot) {
        let chunks: Vec<Bytes> = list_chunks(42, objects.to_vec()).map(Result::unwrap).collect();
        assert!(chunks.iter().all(|c| c.len() < CHUNK_BYTES + 1024));
        (chunks.len(), serde_json::from_slice(&chunks.concat()).unwrap())
    }

    #[test]
    fn the_list_is_every_object_once_in_chunks() {
        for count in [0, 1, 2, 30_000] {
            let objects: Vec<_> = (0..count).map(|i| namespace(&format!("namespace-{i:05}"))).collect();
            let (chunks, list) = list(&objects);
            assert_eq!(list.resource_version, "42");
            assert_eq!(list.objects, owned(&objects), "{count} objects");
            assert_eq!(chunks > 2, count == 30_000, "{count} objects in {chunks} chunks");
        }
    }

    #[test]
    fn objects_go_without_managed_fields() {
        let value = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "lab", "labels": {"team": "a"},
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}]}});
        let object = Arc::new(Object::from_value(value).unwrap());
        let change = Change { resource_version: 9, change: ChangeType::Added, object: object.clone(), old: None };
        let listed = list_chunks(9, vec![object.clone()]).map(Result::unwrap).collect::<Vec<_>>().concat();
        for message in [
            lab_message(&WatchItem::Relist { resource_version: 9, objects: vec![object.clone()] }).unwrap(),
            lab_message(&WatchItem::Change(Arc::new(change))).unwrap(),
            String::from_utf8(listed).unwrap(),
        ] {
            assert!(!message.contains("managedFields"), "{message}");
            assert!(message.contains(r#""labels":{"team":"a"}"#), "{message}");
        }
        // The stored object keeps them.
        assert!(object.metadata().managed_fields.is_some());
    }
}

//! Watch streams: the Kubernetes `?watch=true` stream (newline-delimited JSON events) and the
//! dashboard's websocket (`SYNC` with the whole state, then every change; `SYNC` again after a
//! relist).

use super::ApiState;
use super::resources::Selectors;
use crate::store::{ChangeType, WatchItem};
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use std::sync::Arc;
use svclab_shared::watch::WatchEvent;
use svclab_shared::{Kind, Object};

fn event(change: ChangeType, object: Arc<Object>) -> WatchEvent<Arc<Object>> {
    match change {
        ChangeType::Added => WatchEvent::Added(object),
        ChangeType::Modified => WatchEvent::Modified(object),
        ChangeType::Deleted => WatchEvent::Deleted(object),
    }
}

fn line(event: &WatchEvent<Arc<Object>>) -> Result<bytes::Bytes, std::io::Error> {
    let mut text = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    text.push(b'\n');
    Ok(text.into())
}

/// `GET …?watch=true`: existing objects as ADDED (unless the client names the current
/// resourceVersion), then changes. A client that asks to resume from an older version, or falls
/// behind, gets a 410 `Expired` ERROR event and relists, as with kube-apiserver.
pub fn stream(
    state: &ApiState,
    kind: Kind,
    namespace: Option<String>,
    selector: Selectors,
    resource_version: Option<&String>,
) -> Response {
    let resume_from = resource_version.and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0);
    let mut watch = state.store().watch();
    let cancel = state.cancel.clone();
    let relevant = move |o: &Object| {
        o.kind() == kind && namespace.as_deref().is_none_or(|ns| o.namespace() == ns) && selector.matches(o)
    };
    let stream = produced_stream(move |tx| async move {
        let mut first = true;
        loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => return,
                item = watch.next() => match item { Some(i) => i, None => return },
            };
            match item {
                WatchItem::Relist { resource_version, objects } => {
                    if !first || resume_from.is_some_and(|rv| rv != resource_version) {
                        let status = Status {
                            code: Some(410),
                            message: Some("too old resource version".into()),
                            reason: Some("Expired".into()),
                            status: Some("Failure".into()),
                            ..Default::default()
                        };
                        let _ = tx.send(line(&WatchEvent::Error(Box::new(status)))).await;
                        return;
                    }
                    first = false;
                    if resume_from.is_none() {
                        for o in objects.into_iter().filter(|o| relevant(o)) {
                            if tx.send(line(&WatchEvent::Added(o))).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                WatchItem::Change(change) => {
                    let now = relevant(&change.object);
                    let before = change.old.as_deref().is_some_and(&relevant);
                    // An object that stops matching the selector is DELETED for this watcher.
                    let ev = match (before, now, change.change) {
                        (_, true, c) => event(c, change.object.clone()),
                        (true, false, _) => WatchEvent::Deleted(change.object.clone()),
                        _ => continue,
                    };
                    if tx.send(line(&ev)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Response::builder()
        .header("content-type", "application/json")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

/// A stream of what a task produces, through a small channel (the task ends when the stream is
/// dropped and its next send fails, or on cancellation).
fn produced_stream<T, F, Fut>(producer: F) -> impl futures::Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(producer(tx));
    let mut rx = rx;
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
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
                serde_json::to_writer(&mut out, &**o)?;
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
    serde_json::to_writer(&mut out, &**object)?;
    out.push(b'}');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// `GET /lab/v1/watch`: the dashboard's live feed.
pub async fn lab_socket(State(state): State<ApiState>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(move |socket| feed(state, socket))
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
        if futures::SinkExt::send(&mut sink, Message::Text(text.into())).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Change;
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
}

//! The Kubernetes watch stream, `GET …?watch=true`: newline-delimited JSON events over a
//! chunked response, as kube-apiserver sends them.
//!
//! - `resourceVersion` empty or `0`: ADDED events for the objects that exist, then changes;
//!   `resourceVersion=N`: the changes after N (410 `Expired` when they are no longer kept).
//! - `sendInitialEvents=true` (with `resourceVersionMatch=NotOlderThan` and
//!   `allowWatchBookmarks=true`, client-go's watch-list): the objects as ADDED, then a BOOKMARK
//!   annotated `k8s.io/initial-events-end`, then changes.
//! - `allowWatchBookmarks=true`: a BOOKMARK with the current resourceVersion every minute.
//! - `timeoutSeconds`: the stream ends then (without it, after 30 to 60 minutes).
//! - Label and field selectors as for lists; an object that stops matching is DELETED for the
//!   watcher. A Table `Accept` turns each object into a one-row Table, as `kubectl get -w` asks.
//!
//! A watcher that cannot keep up is not buffered for: it falls behind the store's feed and gets
//! a 410 `Expired` ERROR event, and relists, as with kube-apiserver.

use super::ApiState;
use super::media::Rendering;
use super::selectors::Selectors;
use super::table::{ListMeta, View};
use crate::error::ApiError;
use crate::store::{ChangeType, Watch, WatchItem};
use axum::body::Body;
use axum::response::Response;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use rand::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::{Kind, Object};

/// How often a watcher that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// How long a watcher that stops reading is waited for before its watch ends (it relists).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What a watch request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Where to start: `None` sends the existing objects first.
    pub resource_version: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
}

impl Options {
    /// Reads and checks the query as kube-apiserver does.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Options, ApiError> {
        let flag = |name: &str| query.get(name).is_some_and(|v| v == "true" || v == "1");
        let resource_version = match query.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => None,
            Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "resourceVersion: Invalid value: \"{rv}\": must be a valid resource version"
                ))
            })?),
        };
        let send_initial_events = flag("sendInitialEvents");
        let bookmarks = flag("allowWatchBookmarks");
        if query.contains_key("sendInitialEvents") {
            if query.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
                return Err(ApiError::BadRequest(
                    "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
                ));
            }
            if send_initial_events && !bookmarks {
                return Err(ApiError::BadRequest(
                    "allowWatchBookmarks: Required value: sendInitialEvents requires setting allowWatchBookmarks to true".into(),
                ));
            }
        }
        let timeout = match query.get("timeoutSeconds") {
            Some(t) => Duration::from_secs(
                t.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds: {t}")))?,
            ),
            // kube-apiserver's default: a random time between its minimum request timeout
            // (30 minutes) and twice that, so watchers do not all reconnect at once.
            None => Duration::from_secs(1800 + rand::rng().random_range(0..1800)),
        };
        Ok(Options { resource_version, send_initial_events, bookmarks, timeout })
    }

    /// Whether the current objects are sent first.
    fn initial_events(&self) -> bool {
        self.send_initial_events || self.resource_version.is_none()
    }
}

/// What to watch and how to render it.
pub struct Scope {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    pub view: View,
}

impl Scope {
    fn relevant(&self, o: &Object) -> bool {
        o.kind() == self.kind
            && self.namespace.as_deref().is_none_or(|ns| o.namespace() == ns)
            && self.selectors.matches(o)
    }
}

/// Writes events, rendering objects as the watcher asked.
struct Encoder {
    view: View,
    kind: Kind,
    /// Whether a Table has gone out yet (only the first carries the column definitions).
    columns_sent: bool,
}

impl Encoder {
    fn object(&mut self, object: &Arc<Object>) -> Value {
        match self.view.rendering {
            Rendering::Table(version) => {
                let meta = ListMeta { resource_version: object.resource_version(), ..ListMeta::default() };
                let columns = !std::mem::replace(&mut self.columns_sent, true);
                self.view.table(object.kind(), version, std::slice::from_ref(object), &meta, columns)
            }
            _ => self.view.one(object),
        }
    }

    fn event(&mut self, type_: &str, object: &Arc<Object>) -> bytes::Bytes {
        line(&json!({"type": type_, "object": self.object(object)}))
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> bytes::Bytes {
        let mut metadata = json!({"resourceVersion": resource_version.to_string(), "creationTimestamp": null});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let api_version = self.view.api_version.unwrap_or(self.kind.api_version());
        let object = json!({"kind": self.kind.name(), "apiVersion": api_version, "metadata": metadata});
        line(&json!({"type": "BOOKMARK", "object": object}))
    }
}

fn line(value: &Value) -> bytes::Bytes {
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    text.into()
}

fn expired(message: String) -> bytes::Bytes {
    let status = Status {
        code: Some(410),
        message: Some(message),
        reason: Some("Expired".into()),
        status: Some("Failure".into()),
        ..Default::default()
    };
    let mut object = serde_json::to_value(status).unwrap_or_default();
    object["kind"] = "Status".into();
    object["apiVersion"] = "v1".into();
    line(&json!({"type": "ERROR", "object": object}))
}

/// Starts a watch: the response streams until the timeout, the client goes, or svclab stops.
pub fn stream(state: &ApiState, scope: Scope, options: Options) -> Response {
    let store = state.store().clone();
    let start: Result<Watch, u64> = match options.resource_version {
        Some(rv) if !options.send_initial_events => store.watch_from(rv),
        _ => Ok(store.watch()),
    };
    let cancel = state.cancel.clone();
    let content_type = match scope.view.rendering {
        Rendering::Table(v) => format!("application/json;as=Table;v={v};g=meta.k8s.io"),
        _ => "application/json".to_string(),
    };
    let mut encoder = Encoder { view: scope.view, kind: scope.kind, columns_sent: false };
    let body = super::produced_stream(move |tx| async move {
        let send = |bytes: bytes::Bytes| {
            let tx = tx.clone();
            // A client that stops reading is cut off, never buffered for.
            async move { tx.send_timeout(Ok::<_, std::io::Error>(bytes), SEND_TIMEOUT).await.is_ok() }
        };
        let mut watch = match start {
            Ok(watch) => watch,
            Err(oldest) => {
                let rv = options.resource_version.unwrap_or_default();
                send(expired(format!("too old resource version: {rv} ({oldest})"))).await;
                return;
            }
        };
        let deadline = tokio::time::sleep(options.timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        let mut listed = false;
        loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut deadline => return,
                _ = bookmarks.tick(), if options.bookmarks => {
                    if !send(encoder.bookmark(watch.position(), false)).await {
                        return;
                    }
                    continue;
                }
                item = watch.next() => match item { Some(i) => i, None => return },
            };
            match item {
                WatchItem::Relist { resource_version, objects } => {
                    if listed {
                        // Fell behind the store's feed: the client relists, as from kube-apiserver.
                        send(expired("too old resource version".into())).await;
                        return;
                    }
                    listed = true;
                    if options.initial_events() {
                        for o in objects.iter().filter(|o| scope.relevant(o)) {
                            if !send(encoder.event("ADDED", o)).await {
                                return;
                            }
                        }
                    }
                    if options.send_initial_events && !send(encoder.bookmark(resource_version, true)).await {
                        return;
                    }
                }
                WatchItem::Change(change) => {
                    let now = scope.relevant(&change.object);
                    let before = change.old.as_deref().is_some_and(|o| scope.relevant(o));
                    let type_ = match (before, now, change.change) {
                        (_, true, ChangeType::Added) | (false, true, ChangeType::Modified) => "ADDED",
                        (true, true, ChangeType::Modified) => "MODIFIED",
                        (_, true, ChangeType::Deleted) | (true, false, _) => "DELETED",
                        _ => continue,
                    };
                    if !send(encoder.event(type_, &change.object)).await {
                        return;
                    }
                }
            }
        }
    });
    Response::builder()
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(Body::from_stream(body))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_read_like_kube_apiserver() {
        let o = Options::from_query(&query(&[("resourceVersion", "0"), ("timeoutSeconds", "537")])).unwrap();
        assert_eq!((o.resource_version, o.timeout, o.initial_events()), (None, Duration::from_secs(537), true));
        let o = Options::from_query(&query(&[("resourceVersion", "111")])).unwrap();
        assert_eq!((o.resource_version, o.initial_events()), (Some(111), false));
        assert!(o.timeout >= Duration::from_secs(1800) && o.timeout < Duration::from_secs(3600));
        let watch_list = query(&[
            ("sendInitialEvents", "true"),
            ("resourceVersionMatch", "NotOlderThan"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", "5"),
        ]);
        let o = Options::from_query(&watch_list).unwrap();
        assert!(o.send_initial_events && o.bookmarks && o.initial_events());
        let err = Options::from_query(&query(&[("sendInitialEvents", "true")])).unwrap_err();
        assert!(err.to_string().contains("requires setting resourceVersionMatch to NotOlderThan"), "{err}");
        let err =
            Options::from_query(&query(&[("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]));
        assert!(err.unwrap_err().to_string().contains("allowWatchBookmarks"));
        assert_eq!(Options::from_query(&query(&[("resourceVersion", "x")])).unwrap_err().code(), 400);
    }

    #[test]
    fn table_watches_send_columns_once() {
        let object = Arc::new(
            Object::from_value(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "resourceVersion": "4"}}),
            )
            .unwrap(),
        );
        let include = crate::api::table::IncludeObject::Metadata;
        let view = View { rendering: Rendering::Table("v1"), include, api_version: None };
        let mut encoder = Encoder { view, kind: Kind::Namespace, columns_sent: false };
        let first: Value = serde_json::from_slice(&encoder.event("ADDED", &object)).unwrap();
        let second: Value = serde_json::from_slice(&encoder.event("MODIFIED", &object)).unwrap();
        assert_eq!(first["object"]["columnDefinitions"].as_array().unwrap().len(), 3);
        assert_eq!(second["object"]["columnDefinitions"], json!([]));
        assert_eq!(second["object"]["rows"][0]["cells"][0], "a");
        let bookmark: Value = serde_json::from_slice(&encoder.bookmark(9, true)).unwrap();
        assert_eq!(bookmark["type"], "BOOKMARK");
        assert_eq!(bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
        assert_eq!(bookmark["object"]["kind"], "Namespace");
    }
}

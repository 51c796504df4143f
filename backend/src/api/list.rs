//! Lists in pages: `limit` and `continue` as kube-apiserver answers them. The first page takes a
//! snapshot of the kind (a pointer copy of the store's persistent map) and keeps it for five
//! minutes under its resourceVersion; every later page reads that same snapshot, so a client
//! following `continue` tokens sees one consistent list however the store changes meanwhile.

use super::selectors::Selectors;
use super::table::ListMeta;
use crate::error::ApiError;
use crate::store::{KindMap, Store};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use svclab_shared::{Kind, Object};

/// How long a continue token stays good (kube-apiserver's tokens last until etcd compacts,
/// every five minutes).
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// At most this many snapshots are kept; the oldest goes first.
const MAX_SNAPSHOTS: usize = 256;

const EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// A continue token's content, as kube-apiserver writes it (base64 of this JSON).
#[derive(Serialize, Deserialize)]
struct Token {
    v: String,
    rv: u64,
    start: String,
}

/// The snapshots paged lists are reading.
#[derive(Default)]
pub struct Pages {
    snapshots: Mutex<HashMap<(Kind, u64), (Instant, KindMap)>>,
}

/// One list request's paging.
pub struct Request<'a> {
    pub kind: Kind,
    pub namespace: Option<&'a str>,
    pub selectors: &'a Selectors,
    pub limit: Option<usize>,
    pub continue_token: Option<&'a str>,
}

impl Pages {
    fn snapshots(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, u64), (Instant, KindMap)>> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, kind: Kind, rv: u64, map: &KindMap) {
        let mut snapshots = self.snapshots();
        let now = Instant::now();
        snapshots.retain(|_, (taken, _)| now.duration_since(*taken) < TOKEN_LIFETIME);
        if snapshots.len() >= MAX_SNAPSHOTS
            && let Some(oldest) = snapshots.iter().min_by_key(|(_, (taken, _))| *taken).map(|(k, _)| *k)
        {
            snapshots.remove(&oldest);
        }
        snapshots.entry((kind, rv)).or_insert_with(|| (now, map.clone()));
    }

    /// The snapshot a token names: kept, or the store itself when nothing changed since.
    fn snapshot_at(&self, store: &Store, kind: Kind, rv: u64) -> Option<KindMap> {
        if let Some((_, map)) = self.snapshots().get(&(kind, rv)) {
            return Some(map.clone());
        }
        let (now, map) = store.kind_snapshot(kind);
        (now == rv).then_some(map)
    }

    /// One page of a list, and its metadata (the token for the next page, if any).
    pub fn list(&self, store: &Store, request: &Request) -> Result<(Vec<Arc<Object>>, ListMeta), ApiError> {
        let kind = request.kind;
        let (rv, map, after) = match request.continue_token.filter(|t| !t.is_empty()) {
            None => {
                let (rv, map) = store.kind_snapshot(kind);
                (rv, map, None)
            }
            Some(token) => {
                let token = decode(token)?;
                let map = self.snapshot_at(store, kind, token.rv).ok_or_else(|| ApiError::Expired(EXPIRED.into()))?;
                (token.rv, map, Some(start_key(kind, &token.start)))
            }
        };
        let lower = match &after {
            Some(key) => Bound::Excluded(key.clone()),
            None => match request.namespace {
                Some(ns) => Bound::Included((ns.to_string(), String::new())),
                None => Bound::Unbounded,
            },
        };
        let in_scope = |(ns, _): &(String, String)| request.namespace.is_none_or(|want| ns == want);
        let mut range = map.range((lower, Bound::Unbounded)).take_while(|(key, _)| in_scope(key));
        let limit = request.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last = None;
        while let Some((key, object)) = range.next() {
            if !request.selectors.matches(object) {
                continue;
            }
            if items.len() == limit {
                // One more matches: the client needs another page.
                let mut meta = ListMeta { resource_version: rv, ..ListMeta::default() };
                let last: &(String, String) = last.expect("a full page has a last item");
                meta.continue_token = Some(encode(kind, rv, last));
                if request.selectors.is_empty() {
                    let rest = 1 + range.filter(|(_, o)| request.selectors.matches(o)).count();
                    meta.remaining = Some(rest as u64);
                }
                if request.continue_token.is_none() {
                    self.keep(kind, rv, &map);
                }
                return Ok((items, meta));
            }
            items.push(object.clone());
            last = Some(key);
        }
        Ok((items, ListMeta { resource_version: rv, ..ListMeta::default() }))
    }
}

fn encode(kind: Kind, rv: u64, (ns, name): &(String, String)) -> String {
    let start = if kind.namespaced() { format!("{ns}/{name}\u{0}") } else { format!("{name}\u{0}") };
    let token = Token { v: "meta.k8s.io/v1".into(), rv, start };
    URL_SAFE.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode(token: &str) -> Result<Token, ApiError> {
    let invalid = |why: String| ApiError::BadRequest(format!("continue key is not valid: {why}"));
    let bytes = URL_SAFE.decode(token).map_err(|e| invalid(e.to_string()))?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(invalid(format!("incorrect encoded start resourceVersion (version {})", token.v)));
    }
    Ok(token)
}

/// The (namespace, name) a token's `start` says the previous page ended with.
fn start_key(kind: Kind, start: &str) -> (String, String) {
    let start = start.trim_end_matches('\u{0}');
    match start.split_once('/') {
        Some((ns, name)) if kind.namespaced() => (ns.to_string(), name.to_string()),
        _ => (String::new(), start.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> Object {
        Object::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}}))
            .unwrap()
    }

    fn names(items: &[Arc<Object>]) -> Vec<String> {
        items.iter().map(|o| format!("{}/{}", o.namespace(), o.name())).collect()
    }

    fn everything() -> Selectors {
        super::super::selectors::parse(Kind::Pod, &HashMap::new()).unwrap()
    }

    #[test]
    fn pages_follow_one_snapshot_while_the_store_changes() {
        let store = Store::new();
        for (ns, name) in [("a", "p1"), ("a", "p2"), ("b", "p3"), ("b", "p4"), ("c", "p5")] {
            store.create(pod(ns, name)).unwrap();
        }
        let pages = Pages::default();
        let all = everything();
        let mut request =
            Request { kind: Kind::Pod, namespace: None, selectors: &all, limit: Some(2), continue_token: None };
        let (first, meta) = pages.list(&store, &request).unwrap();
        assert_eq!(names(&first), ["a/p1", "a/p2"]);
        assert_eq!(meta.remaining, Some(3));
        let token = meta.continue_token.clone().unwrap();
        // The store moves on; the list does not.
        store.create(pod("b", "p3a")).unwrap();
        store.delete(&crate::store::ObjectKey::new(Kind::Pod, "c", "p5"), None).unwrap();
        request.continue_token = Some(&token);
        let (second, meta2) = pages.list(&store, &request).unwrap();
        assert_eq!(names(&second), ["b/p3", "b/p4"]);
        assert_eq!(meta2.resource_version, meta.resource_version);
        let token2 = meta2.continue_token.clone().unwrap();
        request.continue_token = Some(&token2);
        let (third, meta3) = pages.list(&store, &request).unwrap();
        assert_eq!(names(&third), ["c/p5"]);
        assert_eq!((meta3.continue_token, meta3.remaining), (None, None));
    }

    #[test]
    fn a_namespace_and_a_selector_narrow_the_pages() {
        let store = Store::new();
        for name in ["p1", "p2", "p3"] {
            store.create(pod("a", name)).unwrap();
        }
        store.create(pod("b", "p4")).unwrap();
        let pages = Pages::default();
        let all = everything();
        let request =
            Request { kind: Kind::Pod, namespace: Some("a"), selectors: &all, limit: Some(2), continue_token: None };
        let (first, meta) = pages.list(&store, &request).unwrap();
        assert_eq!((names(&first).len(), meta.remaining), (2, Some(1)));
        let not_p1 = super::super::selectors::parse(
            Kind::Pod,
            &[("fieldSelector".to_string(), "metadata.name!=p1".to_string())].into(),
        )
        .unwrap();
        let request =
            Request { kind: Kind::Pod, namespace: Some("a"), selectors: &not_p1, limit: Some(2), continue_token: None };
        let (items, meta) = pages.list(&store, &request).unwrap();
        assert_eq!(names(&items), ["a/p2", "a/p3"]);
        assert_eq!((meta.continue_token, meta.remaining), (None, None), "nothing after the last match");
    }

    #[test]
    fn bad_and_expired_tokens_say_so() {
        let store = Store::new();
        store.create(pod("a", "p1")).unwrap();
        let pages = Pages::default();
        let all = everything();
        let request =
            Request { kind: Kind::Pod, namespace: None, selectors: &all, limit: Some(1), continue_token: Some("!!") };
        let err = pages.list(&store, &request).unwrap_err();
        assert_eq!((err.code(), err.to_string().starts_with("continue key is not valid")), (400, true));
        let stale = encode(Kind::Pod, 0, &("a".into(), "p0".into()));
        let request = Request { continue_token: Some(&stale), ..request };
        let err = pages.list(&store, &request).unwrap_err();
        assert_eq!((err.code(), err.reason()), (410, "Expired"));
    }
}

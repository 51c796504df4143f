//! Content negotiation: what a request's `Accept` header asks for (a Table, object metadata only,
//! aggregated or legacy discovery) and what its `Content-Type` says the body is. Media ranges are
//! taken in the order the client lists them, as kube-apiserver does: the first one the server can
//! answer wins.

use axum::http::HeaderMap;

/// One media range of an `Accept` header: `type/subtype` and its parameters, lowercased.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    pub essence: String,
    pub params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether this range accepts JSON, the only serialization svclab writes.
    fn is_json(&self) -> bool {
        matches!(self.essence.as_str(), "application/json" | "application/*" | "*/*")
    }
}

/// The media ranges of the `Accept` header, in the client's order (`*/*` when there is none).
pub fn accept(headers: &HeaderMap) -> Vec<MediaRange> {
    let values: Vec<&str> = headers.get_all("accept").iter().filter_map(|v| v.to_str().ok()).collect();
    let ranges: Vec<MediaRange> = values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_string()))
                .collect();
            Some(MediaRange { essence, params })
        })
        .collect();
    if ranges.is_empty() { vec![MediaRange { essence: "*/*".into(), params: vec![] }] } else { ranges }
}

/// How an object or list is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// The object itself (or `XxxList`).
    Object,
    /// A `meta.k8s.io` Table of the given version (`v1` or `v1beta1`), as `kubectl get` asks.
    Table(&'static str),
    /// `PartialObjectMetadata` (or its list) of the given version: metadata only.
    Metadata(&'static str),
}

fn meta_version(range: &MediaRange) -> Option<&'static str> {
    if range.param("g") != Some("meta.k8s.io") {
        return None;
    }
    match range.param("v") {
        Some("v1") => Some("v1"),
        Some("v1beta1") => Some("v1beta1"),
        _ => None,
    }
}

/// What a read asks to get back; `None` when no range can be answered (406).
pub fn rendering(headers: &HeaderMap) -> Option<Rendering> {
    for range in accept(headers) {
        if range.essence == "application/vnd.kubernetes.protobuf" && range.param("as").is_none() {
            // Protobuf is asked first by typed clients, which take JSON after it.
            continue;
        }
        if !range.is_json() {
            continue;
        }
        match range.param("as") {
            None => return Some(Rendering::Object),
            Some("table") | Some("Table") => {
                if let Some(v) = meta_version(&range) {
                    return Some(Rendering::Table(v));
                }
            }
            Some("PartialObjectMetadata") | Some("PartialObjectMetadataList") => {
                if let Some(v) = meta_version(&range) {
                    return Some(Rendering::Metadata(v));
                }
            }
            Some(_) => {}
        }
    }
    None
}

/// Which discovery document `/api` and `/apis` answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `APIGroupDiscoveryList` of `apidiscovery.k8s.io` at this version (`v2` or `v2beta1`).
    Aggregated(&'static str),
    /// `APIVersions` / `APIGroupList`, with one `APIResourceList` per group version.
    Legacy,
}

/// The discovery document the client asks for first. client-go reads the answer by its
/// `Content-Type` only, so a client that asked for `v2beta1` alone must not be sent `v2`.
pub fn discovery(headers: &HeaderMap) -> Discovery {
    for range in accept(headers) {
        if !range.is_json() {
            continue;
        }
        match range.param("as") {
            None => return Discovery::Legacy,
            Some("APIGroupDiscoveryList") if range.param("g") == Some("apidiscovery.k8s.io") => {
                match range.param("v") {
                    Some("v2") => return Discovery::Aggregated("v2"),
                    Some("v2beta1") => return Discovery::Aggregated("v2beta1"),
                    _ => {}
                }
            }
            Some(_) => {}
        }
    }
    Discovery::Legacy
}

/// The `Content-Type` of a body, without parameters, lowercased; JSON when the client sent
/// none (`kubectl scale --current-replicas` PUTs without one).
pub fn content_type(headers: &HeaderMap) -> String {
    let value = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence.is_empty() { "application/json".into() } else { essence }
}

/// A rendered read, with the content type kube-apiserver gives it.
pub fn rendered(rendering: Rendering, body: Vec<u8>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let content_type = match rendering {
        Rendering::Object => "application/json".to_string(),
        Rendering::Table(v) => format!("application/json;as=Table;v={v};g=meta.k8s.io"),
        Rendering::Metadata(v) => format!("application/json;as=PartialObjectMetadata;v={v};g=meta.k8s.io"),
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

pub fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept", accept.parse().unwrap());
        h
    }

    #[test]
    fn kubectl_get_asks_for_a_table_first() {
        let h = headers(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(rendering(&h), Some(Rendering::Table("v1")));
        assert_eq!(
            rendering(&headers("application/json;as=Table;v=v1beta1;g=meta.k8s.io")),
            Some(Rendering::Table("v1beta1"))
        );
        assert_eq!(rendering(&headers("application/json, */*")), Some(Rendering::Object));
        assert_eq!(rendering(&HeaderMap::new()), Some(Rendering::Object));
        // Typed clients ask for protobuf first and take JSON after it.
        let typed = headers("application/vnd.kubernetes.protobuf,application/json");
        assert_eq!(rendering(&typed), Some(Rendering::Object));
        assert_eq!(rendering(&headers("application/vnd.kubernetes.protobuf")), None);
        assert_eq!(
            rendering(&headers("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")),
            Some(Rendering::Metadata("v1"))
        );
        // An unknown Table version falls through to the next range.
        assert_eq!(
            rendering(&headers("application/json;as=Table;v=v9;g=meta.k8s.io,application/json")),
            Some(Rendering::Object)
        );
    }

    #[test]
    fn discovery_follows_the_clients_order() {
        let v132 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(discovery(&headers(v132)), Discovery::Aggregated("v2"));
        let v128 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(discovery(&headers(v128)), Discovery::Aggregated("v2beta1"));
        assert_eq!(discovery(&headers("application/json, */*")), Discovery::Legacy);
        assert_eq!(discovery(&HeaderMap::new()), Discovery::Legacy);
    }

    #[test]
    fn a_missing_content_type_is_json() {
        assert_eq!(content_type(&HeaderMap::new()), "application/json");
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/Merge-Patch+JSON; charset=utf-8".parse().unwrap());
        assert_eq!(content_type(&h), "application/merge-patch+json");
    }
}

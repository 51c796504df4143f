//! `labelSelector` and `fieldSelector` of list, watch and delete-collection requests. Field
//! selectors take the fields kube-apiserver supports for each kind (`metadata.name` and
//! `metadata.namespace` for all, `spec.nodeName` for pods, `involvedObject.*` for events…),
//! read from the typed object; any other field is refused as kube-apiserver refuses it.

use crate::error::ApiError;
use std::collections::HashMap;
use svclab_shared::selector::Selector;
use svclab_shared::{Kind, Object};

/// One term of a field selector: `path=value` or `path!=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldTerm {
    path: String,
    equal: bool,
    value: String,
}

/// A request's label and field selectors.
#[derive(Clone, Debug)]
pub struct Selectors {
    labels: Selector,
    fields: Vec<FieldTerm>,
}

impl Selectors {
    /// Whether the object matches both selectors.
    pub fn matches(&self, object: &Object) -> bool {
        self.labels.matches_opt(object.metadata().labels.as_ref())
            && self.fields.iter().all(|t| (field(object, &t.path).as_deref() == Some(t.value.as_str())) == t.equal)
    }

    /// Whether a field selector narrows the list to one name (`metadata.name=x`).
    pub fn is_empty(&self) -> bool {
        self.labels.requirements().is_empty() && self.fields.is_empty()
    }
}

/// Parses `labelSelector` and `fieldSelector` for a kind.
pub fn parse(kind: Kind, query: &HashMap<String, String>) -> Result<Selectors, ApiError> {
    let labels = Selector::parse(query.get("labelSelector").map(String::as_str).unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let fields = parse_fields(query.get("fieldSelector").map(String::as_str).unwrap_or_default())?;
    for term in &fields {
        if !supported(kind, &term.path) {
            return Err(ApiError::BadRequest(format!("field label not supported: {}", term.path)));
        }
    }
    Ok(Selectors { labels, fields })
}

/// Splits a field selector on unescaped commas; `\,`, `\=` and `\\` stand for themselves.
fn parse_fields(text: &str) -> Result<Vec<FieldTerm>, ApiError> {
    let mut terms = Vec::new();
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().unwrap_or('\\');
                // Keep the escape so the term's operator is still found unescaped.
                parts.last_mut().expect("one part").extend(['\\', next]);
            }
            ',' => parts.push(String::new()),
            c => parts.last_mut().expect("one part").push(c),
        }
    }
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (path, equal, value) = split_term(part)
            .ok_or_else(|| ApiError::BadRequest(format!("invalid selector: '{text}'; can't understand '{part}'")))?;
        terms.push(FieldTerm { path: path.trim().into(), equal, value: unescape(value.trim()) });
    }
    Ok(terms)
}

/// `path!=value`, `path==value` or `path=value`, the operator found outside escapes.
fn split_term(part: &str) -> Option<(&str, bool, &str)> {
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => return Some((&part[..i], false, &part[i + 2..])),
            b'=' if bytes.get(i + 1) == Some(&b'=') => return Some((&part[..i], true, &part[i + 2..])),
            b'=' => return Some((&part[..i], true, &part[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// The fields kube-apiserver lets a kind be selected by, besides `metadata.name` and
/// `metadata.namespace`.
fn kind_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        Kind::Event => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        Kind::Secret => &["type"],
        Kind::Node => &["spec.unschedulable"],
        Kind::Namespace => &["status.phase"],
        Kind::ReplicationController | Kind::ReplicaSet => &["status.replicas"],
        Kind::Service => &["spec.clusterIP", "spec.type"],
        Kind::CertificateSigningRequest => &["spec.signerName"],
        _ => &[],
    }
}

fn supported(kind: Kind, path: &str) -> bool {
    matches!(path, "metadata.name" | "metadata.namespace") || kind_fields(kind).contains(&path)
}

/// A selectable field's value, as kube-apiserver's field sets give it (absent fields are "").
fn field(object: &Object, path: &str) -> Option<String> {
    let meta = object.metadata();
    let text = |v: Option<&String>| Some(v.cloned().unwrap_or_default());
    match (object, path) {
        (_, "metadata.name") => text(meta.name.as_ref()),
        (_, "metadata.namespace") => text(meta.namespace.as_ref()),
        (Object::Pod(p), _) => {
            let spec = p.spec.as_ref();
            let status = p.status.as_ref();
            match path {
                "spec.nodeName" => text(spec.and_then(|s| s.node_name.as_ref())),
                "spec.restartPolicy" => text(spec.and_then(|s| s.restart_policy.as_ref())),
                "spec.schedulerName" => text(spec.and_then(|s| s.scheduler_name.as_ref())),
                "spec.serviceAccountName" => text(spec.and_then(|s| s.service_account_name.as_ref())),
                "spec.hostNetwork" => Some(spec.and_then(|s| s.host_network).unwrap_or(false).to_string()),
                "status.phase" => text(status.and_then(|s| s.phase.as_ref())),
                "status.podIP" => text(status.and_then(|s| s.pod_ip.as_ref())),
                "status.nominatedNodeName" => text(status.and_then(|s| s.nominated_node_name.as_ref())),
                _ => None,
            }
        }
        (Object::Event(e), _) => {
            let io = &e.involved_object;
            match path {
                "involvedObject.kind" => text(io.kind.as_ref()),
                "involvedObject.namespace" => text(io.namespace.as_ref()),
                "involvedObject.name" => text(io.name.as_ref()),
                "involvedObject.uid" => text(io.uid.as_ref()),
                "involvedObject.apiVersion" => text(io.api_version.as_ref()),
                "involvedObject.resourceVersion" => text(io.resource_version.as_ref()),
                "involvedObject.fieldPath" => text(io.field_path.as_ref()),
                "reason" => text(e.reason.as_ref()),
                "reportingComponent" => text(e.reporting_component.as_ref()),
                "source" => text(e.source.as_ref().and_then(|s| s.component.as_ref())),
                "type" => text(e.type_.as_ref()),
                _ => None,
            }
        }
        (Object::Secret(s), "type") => text(s.type_.as_ref()),
        (Object::Node(n), "spec.unschedulable") => {
            Some(n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false).to_string())
        }
        (Object::Namespace(n), "status.phase") => text(n.status.as_ref().and_then(|s| s.phase.as_ref())),
        (Object::ReplicationController(r), "status.replicas") => {
            Some(r.status.as_ref().map_or(0, |s| s.replicas).to_string())
        }
        (Object::ReplicaSet(r), "status.replicas") => Some(r.status.as_ref().map_or(0, |s| s.replicas).to_string()),
        (Object::Service(s), "spec.clusterIP") => text(s.spec.as_ref().and_then(|s| s.cluster_ip.as_ref())),
        (Object::Service(s), "spec.type") => text(s.spec.as_ref().and_then(|s| s.type_.as_ref())),
        (Object::CertificateSigningRequest(c), "spec.signerName") => Some(c.spec.signer_name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn object(value: serde_json::Value) -> Object {
        Object::from_value(value).unwrap()
    }

    #[test]
    fn describes_event_query_selects_by_involved_object() {
        let event = object(
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Service", "name": "kubia", "namespace": "default", "uid": "u1"}, "type": "Normal"}),
        );
        let q = "involvedObject.name=kubia,involvedObject.namespace=default,involvedObject.kind=Service,involvedObject.uid=u1";
        assert!(parse(Kind::Event, &query(&[("fieldSelector", q)])).unwrap().matches(&event));
        let other = "involvedObject.name=kubia,involvedObject.kind=Pod";
        assert!(!parse(Kind::Event, &query(&[("fieldSelector", other)])).unwrap().matches(&event));
        assert!(parse(Kind::Event, &query(&[("fieldSelector", "type!=Warning")])).unwrap().matches(&event));
    }

    #[test]
    fn names_labels_and_pod_fields_select() {
        let pod = object(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kubia-x", "namespace": "default", "labels": {"app": "kubia"}},
            "spec": {"nodeName": "node-1", "containers": []}, "status": {"phase": "Running"}}));
        let s =
            parse(Kind::Pod, &query(&[("fieldSelector", "metadata.name==kubia-x"), ("labelSelector", "app=kubia")]));
        assert!(s.unwrap().matches(&pod));
        assert!(
            parse(Kind::Pod, &query(&[("fieldSelector", "spec.nodeName=node-1,status.phase=Running")]))
                .unwrap()
                .matches(&pod)
        );
        assert!(!parse(Kind::Pod, &query(&[("fieldSelector", "spec.nodeName=node-2")])).unwrap().matches(&pod));
        assert!(parse(Kind::Pod, &query(&[("fieldSelector", "spec.hostNetwork=false")])).unwrap().matches(&pod));
        assert!(!parse(Kind::Pod, &query(&[("labelSelector", "app=other")])).unwrap().matches(&pod));
    }

    #[test]
    fn unsupported_fields_and_bad_terms_are_refused_as_kube_apiserver_does() {
        let err = parse(Kind::Service, &query(&[("fieldSelector", "spec.foo=x")])).unwrap_err();
        assert_eq!(err.to_string(), "field label not supported: spec.foo");
        assert_eq!(err.code(), 400);
        let err = parse(Kind::Pod, &query(&[("fieldSelector", "metadata.name")])).unwrap_err();
        assert_eq!(err.to_string(), "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
        assert!(parse(Kind::Pod, &query(&[("labelSelector", "a in (")])).is_err());
    }

    #[test]
    fn escaped_commas_and_equals_are_values() {
        let terms = parse_fields(r"metadata.name=a\,b\=c,metadata.namespace!=x").unwrap();
        assert_eq!(terms[0], FieldTerm { path: "metadata.name".into(), equal: true, value: "a,b=c".into() });
        assert_eq!(terms[1], FieldTerm { path: "metadata.namespace".into(), equal: false, value: "x".into() });
    }
}

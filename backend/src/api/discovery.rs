//! What a client asks before anything else: `/version`, and discovery of the served resources.
//! `/api` and `/apis` answer aggregated discovery (`apidiscovery.k8s.io` v2 or v2beta1, one round
//! trip) or the legacy documents (`APIVersions`, `APIGroupList`, then one `APIResourceList` per
//! group version), whichever the client's `Accept` lists first.

use super::media::{self, Discovery};
use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use svclab_shared::resources::{KUBERNETES_MINOR, Subresource, group_rank};
use svclab_shared::{Kind, legacy};

/// `GET /version`.
pub fn version() -> Value {
    let arch = crate::kubelet::status::architecture();
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0"),
        "gitCommit": concat!("svclab-", env!("CARGO_PKG_VERSION")),
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{arch}", std::env::consts::OS),
    })
}

/// One served group version and its kinds.
struct GroupVersion {
    group: &'static str,
    version: &'static str,
    kinds: Vec<Kind>,
}

impl GroupVersion {
    fn name(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// Every served group version, core first, then groups in kube-apiserver's order; kinds sorted
/// by resource name, as kube-apiserver lists them (so `kubectl get all` prints pods first). The
/// older versions svclab converts ([`legacy::SERVED`]) follow their group's current version, or
/// come last in a group of their own (`extensions`).
fn group_versions() -> Vec<GroupVersion> {
    let mut out: Vec<GroupVersion> = Vec::new();
    let mut kinds: Vec<Kind> = Kind::ALL.to_vec();
    kinds.sort_by_key(|k| (group_rank(k.group()), k.group(), k.version(), k.plural()));
    for kind in kinds {
        match out.last_mut() {
            Some(gv) if gv.group == kind.group() && gv.version == kind.version() => gv.kinds.push(kind),
            _ => out.push(GroupVersion { group: kind.group(), version: kind.version(), kinds: vec![kind] }),
        }
    }
    for (api_version, kind) in legacy::SERVED {
        let (group, version) = api_version.split_once('/').expect("a grouped version");
        match out.iter().position(|gv| gv.group == group && gv.version == version) {
            Some(i) => out[i].kinds.push(*kind),
            None => {
                let at = out.iter().rposition(|gv| gv.group == group).map_or(out.len(), |i| i + 1);
                out.insert(at, GroupVersion { group, version, kinds: vec![*kind] });
            }
        }
    }
    out
}

/// `(group, version)` of a subresource's kind as served in `gv`: the group version's own when the
/// subresource answers with the kind itself (`status`).
fn sub_group_version<'a>(gv: &'a GroupVersion, kind: Kind, sub: &'a Subresource) -> (&'a str, &'a str) {
    if (sub.group, sub.version) == (kind.group(), kind.version()) {
        (gv.group, gv.version)
    } else {
        (sub.group, sub.version)
    }
}

fn scope(kind: Kind) -> &'static str {
    if kind.namespaced() { "Namespaced" } else { "Cluster" }
}

/// Short names and categories belong to a kind's own version only: an older version that also
/// served them would make `ing` ambiguous, and `kubectl get all` list the kind twice.
fn names(map: &mut serde_json::Map<String, Value>, gv: &GroupVersion, kind: Kind) {
    if (gv.group, gv.version) != (kind.group(), kind.version()) {
        return;
    }
    if !kind.short_names().is_empty() {
        map.insert("shortNames".into(), json!(kind.short_names()));
    }
    if !kind.categories().is_empty() {
        map.insert("categories".into(), json!(kind.categories()));
    }
}

/// A resource as aggregated discovery describes it.
fn aggregated_resource(gv: &GroupVersion, kind: Kind) -> Value {
    let subresources: Vec<Value> = kind
        .subresources()
        .iter()
        .map(|s| {
            let (group, version) = sub_group_version(gv, kind, s);
            json!({
                "subresource": s.name,
                "responseKind": {"group": group, "version": version, "kind": s.kind},
                "verbs": s.verbs,
            })
        })
        .collect();
    let mut resource = json!({
        "resource": kind.plural(),
        "responseKind": {"group": gv.group, "version": gv.version, "kind": kind.name()},
        "scope": scope(kind),
        "singularResource": kind.singular(),
        "verbs": kind.verbs(),
    });
    let map = resource.as_object_mut().expect("an object");
    names(map, gv, kind);
    if !subresources.is_empty() {
        map.insert("subresources".into(), subresources.into());
    }
    resource
}

fn aggregated_group(name: &str, versions: &[&GroupVersion]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|gv| {
            let resources: Vec<Value> = gv.kinds.iter().map(|k| aggregated_resource(gv, *k)).collect();
            json!({"version": gv.version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": name, "creationTimestamp": null}, "versions": versions})
}

fn aggregated(version: &str, core: bool) -> Value {
    let gvs = group_versions();
    let items: Vec<Value> = if core {
        let core: Vec<&GroupVersion> = gvs.iter().filter(|gv| gv.group.is_empty()).collect();
        vec![aggregated_group("", &core)]
    } else {
        let mut groups: Vec<&str> = gvs.iter().filter(|gv| !gv.group.is_empty()).map(|gv| gv.group).collect();
        groups.dedup();
        groups
            .iter()
            .map(|g| {
                let versions: Vec<&GroupVersion> = gvs.iter().filter(|gv| gv.group == *g).collect();
                aggregated_group(g, &versions)
            })
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

fn group_version_ref(gv: &GroupVersion) -> Value {
    json!({"groupVersion": gv.name(), "version": gv.version})
}

fn legacy_group(group: &str, gvs: &[GroupVersion]) -> Value {
    let versions: Vec<Value> = gvs.iter().filter(|gv| gv.group == group).map(group_version_ref).collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// The body and content type of `/api` or `/apis`.
fn root(headers: &HeaderMap, core: bool, server: &str) -> (Value, String) {
    match media::discovery(headers) {
        Discovery::Aggregated(v) => {
            let ct = format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
            (aggregated(v, core), ct)
        }
        Discovery::Legacy if core => {
            let body = json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
            });
            (body, "application/json".into())
        }
        Discovery::Legacy => {
            let gvs = group_versions();
            let mut names: Vec<&str> = gvs.iter().filter(|gv| !gv.group.is_empty()).map(|gv| gv.group).collect();
            names.dedup();
            let groups: Vec<Value> = names.iter().map(|g| legacy_group(g, &gvs)).collect();
            (json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}), "application/json".into())
        }
    }
}

fn with_content_type(body: Value, content_type: &str) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// `GET /api`.
pub fn core(headers: &HeaderMap, server: &str) -> Response {
    let (body, content_type) = root(headers, true, server);
    with_content_type(body, &content_type)
}

/// `GET /apis`.
pub fn groups(headers: &HeaderMap, server: &str) -> Response {
    let (body, content_type) = root(headers, false, server);
    with_content_type(body, &content_type)
}

/// `GET /apis/<group>`: one `APIGroup`, or `None` for a group svclab does not serve.
pub fn group(name: &str) -> Option<Value> {
    let gvs = group_versions();
    if !gvs.iter().any(|gv| gv.group == name && !name.is_empty()) {
        return None;
    }
    let mut group = legacy_group(name, &gvs);
    group.as_object_mut()?.insert("kind".into(), "APIGroup".into());
    group.as_object_mut()?.insert("apiVersion".into(), "v1".into());
    Some(group)
}

/// `GET /api/v1` or `/apis/<group>/<version>`: the `APIResourceList`, or `None` for a group
/// version svclab does not serve.
pub fn resources(group: &str, version: &str) -> Option<Value> {
    let gvs = group_versions();
    let gv = gvs.iter().find(|gv| gv.group == group && gv.version == version)?;
    let mut resources = Vec::new();
    for kind in &gv.kinds {
        let mut resource = json!({
            "name": kind.plural(),
            "singularName": kind.singular(),
            "namespaced": kind.namespaced(),
            "kind": kind.name(),
            "verbs": kind.verbs(),
        });
        names(resource.as_object_mut()?, gv, *kind);
        resources.push(resource);
        for sub in kind.subresources() {
            let mut entry = json!({
                "name": format!("{}/{}", kind.plural(), sub.name),
                "singularName": "",
                "namespaced": kind.namespaced(),
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            let (group, version) = sub_group_version(gv, *kind, sub);
            if (group, version) != (gv.group, gv.version) {
                let map = entry.as_object_mut()?;
                map.insert("group".into(), group.into());
                map.insert("version".into(), version.into());
            }
            resources.push(entry);
        }
    }
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv.name(), "resources": resources}))
}

/// The discovery document a group or group-version path names (`/api/v1`, `/apis/apps`,
/// `/apis/apps/v1`): `None` for any other path, a 404 for a group or version not served.
pub fn for_path(path: &str) -> Option<Result<Value, ApiError>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let found = match segments.as_slice() {
        ["api", version] => resources("", version),
        ["apis", name] => group(name),
        ["apis", group, version] => resources(group, version),
        _ => return None,
    };
    Some(found.ok_or(ApiError::PathNotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("accept", value.parse().unwrap());
        h
    }

    #[test]
    fn aggregated_discovery_names_every_resource_with_its_metadata() {
        let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let (core, ct) = root(&accept(v2), true, "127.0.0.1:7070");
        assert_eq!(ct, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let resources = core["items"][0]["versions"][0]["resources"].as_array().unwrap();
        let names: Vec<&str> = resources.iter().map(|r| r["resource"].as_str().unwrap()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "resources in name order");
        let svc = resources.iter().find(|r| r["resource"] == "services").unwrap();
        assert_eq!(svc["shortNames"], json!(["svc"]));
        assert_eq!(svc["categories"], json!(["all"]));
        assert_eq!(svc["scope"], "Namespaced");
        let rc = resources.iter().find(|r| r["resource"] == "replicationcontrollers").unwrap();
        let scale = rc["subresources"].as_array().unwrap().iter().find(|s| s["subresource"] == "scale").unwrap();
        assert_eq!(scale["responseKind"], json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}));

        let (groups, _) = root(&accept(v2), false, "");
        let names: Vec<&str> =
            groups["items"].as_array().unwrap().iter().map(|g| g["metadata"]["name"].as_str().unwrap()).collect();
        let mut expected = svclab_shared::resources::GROUP_ORDER.to_vec();
        expected.push("extensions");
        assert_eq!(names, expected);
        let networking =
            groups["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "networking.k8s.io");
        let versions: Vec<&str> = networking.unwrap()["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["v1", "v1beta1"], "the current version first");
    }

    #[test]
    fn legacy_discovery_lists_groups_then_resources() {
        let (core, ct) = root(&accept("application/json, */*"), true, "127.0.0.1:7070");
        assert_eq!(ct, "application/json");
        assert_eq!(core["kind"], "APIVersions");
        let (groups, _) = root(&accept("application/json"), false, "");
        assert_eq!(groups["groups"][0]["preferredVersion"]["groupVersion"], "apps/v1");
        let list = resources("apps", "v1").unwrap();
        let names: Vec<&str> =
            list["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"deployments/scale"), "{names:?}");
        let scale = list["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!((scale["group"].as_str(), scale["kind"].as_str()), (Some("autoscaling"), Some("Scale")));
        assert!(resources("apps", "v2").is_none());
        assert_eq!(group("apps").unwrap()["kind"], "APIGroup");
        assert!(group("apiextensions.k8s.io").is_none());
    }
}

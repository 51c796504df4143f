//! The OpenAPI documents: `/openapi/v3` (an index of one document per group version, as
//! kube-apiserver serves them) and `/openapi/v2` (one Swagger 2.0 document). Each operation
//! carries what kubectl looks for: `x-kubernetes-group-version-kind`, `x-kubernetes-action`, and
//! the `fieldValidation` parameter that tells it the server validates fields itself.

use super::{REF_PREFIX, Schemas, Served};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use svclab_shared::Kind;
use svclab_shared::resources::{KUBERNETES_MINOR, group_rank};

const TITLE: &str = "Kubernetes";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// A served group version's document and its hash.
pub struct Document {
    /// `api/v1` or `apis/apps/v1`.
    pub path: String,
    pub body: Value,
    pub hash: String,
}

/// The v3 documents, one per group version, built once.
pub fn v3() -> &'static [Document] {
    static DOCS: LazyLock<Vec<Document>> = LazyLock::new(|| build_v3(super::schemas()));
    &DOCS
}

/// The v3 document of a group version path (`api/v1`, `apis/apps/v1`).
pub fn v3_document(path: &str) -> Option<&'static Document> {
    v3().iter().find(|d| d.path == path.trim_matches('/'))
}

/// `GET /openapi/v3`: where each group version's document is.
pub fn v3_index() -> Value {
    let paths: Map<String, Value> = v3()
        .iter()
        .map(|d| (d.path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", d.path, d.hash)})))
        .collect();
    json!({"paths": paths})
}

/// `GET /openapi/v2`: every path and definition in one Swagger 2.0 document.
pub fn v2() -> &'static Value {
    static DOC: LazyLock<Value> = LazyLock::new(|| build_v2(super::schemas()));
    &DOC
}

/// The same document in protobuf (gnostic's `openapi.v2.Document`), as kubectl asks for it.
pub fn v2_protobuf() -> &'static [u8] {
    static DOC: LazyLock<Vec<u8>> = LazyLock::new(|| super::protobuf_v2::document(v2()));
    &DOC
}

/// The group versions served, each with its kinds, in discovery's order.
fn group_versions() -> Vec<(String, Vec<Served>)> {
    let mut served = Served::all();
    served.sort_by_key(|s| (group_rank(s.group), s.group, s.version, s.kind.plural()));
    let mut out: Vec<(String, Vec<Served>)> = Vec::new();
    for s in served {
        let path = match s.group {
            "" => format!("api/{}", s.version),
            group => format!("apis/{group}/{}", s.version),
        };
        match out.iter_mut().find(|(p, _)| *p == path) {
            Some((_, list)) => list.push(s),
            None => out.push((path, vec![s])),
        }
    }
    out
}

/// A stable hash of a document, the cache key of its URL.
fn hash(value: &Value) -> String {
    // FNV-1a over the serialized document: the key only has to change when the document does.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in serde_json::to_vec(value).unwrap_or_default() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn build_v3(schemas: &Schemas) -> Vec<Document> {
    group_versions()
        .into_iter()
        .map(|(path, served)| {
            let mut paths = Map::new();
            for s in &served {
                for (url, item) in path_items(schemas, s, &|name| format!("{REF_PREFIX}{name}"), true) {
                    paths.insert(url, item);
                }
            }
            let mut roots: Vec<String> = Vec::new();
            for s in &served {
                let root = schemas.root_name_in(&s.api_version(), s.kind).unwrap_or_default();
                roots.extend([root.to_string(), format!("{root}List")]);
            }
            roots.extend([STATUS.to_string(), PATCH.to_string()]);
            if served.iter().any(|s| s.kind.subresource("scale").is_some()) {
                roots.push(schemas.scale_name().to_string());
            }
            let roots = roots.iter().map(String::as_str);
            let components: Map<String, Value> = schemas
                .closure(roots)
                .into_iter()
                .map(|name| (name.to_string(), schemas.definitions()[name].clone()))
                .collect();
            let body = json!({
                "openapi": "3.0.0",
                "info": {"title": TITLE, "version": format!("v1.{}.0", KUBERNETES_MINOR)},
                "paths": paths,
                "components": {"schemas": components},
            });
            let hash = hash(&body);
            Document { path, body, hash }
        })
        .collect()
}

/// `$ref`s in the v3 style (`#/components/schemas/x`, `allOf: [{$ref}]`) in the v2 style
/// (`#/definitions/x`, the reference alone).
fn to_v2(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(all_of)) = map.get("allOf")
                && let [only] = all_of.as_slice()
                && let Some(reference) = only.get("$ref").cloned()
            {
                map.remove("allOf");
                map.insert("$ref".into(), reference);
            }
            map.remove("nullable");
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                *r = r.replace(REF_PREFIX, "#/definitions/");
            }
            map.values_mut().for_each(to_v2);
        }
        Value::Array(items) => items.iter_mut().for_each(to_v2),
        _ => {}
    }
}

fn build_v2(schemas: &Schemas) -> Value {
    let mut paths = Map::new();
    for served in Served::all() {
        for (url, item) in path_items(schemas, &served, &|name| format!("#/definitions/{name}"), false) {
            paths.insert(url, item);
        }
    }
    let mut definitions = Value::Object(schemas.definitions().clone());
    to_v2(&mut definitions);
    json!({
        "swagger": "2.0",
        "info": {"title": TITLE, "version": format!("v1.{}.0", KUBERNETES_MINOR)},
        "paths": paths,
        "definitions": definitions,
    })
}

fn query(name: &str, description: &str, type_: &str, v3: bool) -> Value {
    if v3 {
        json!({"name": name, "in": "query", "description": description, "schema": {"type": type_, "uniqueItems": true}})
    } else {
        json!({"name": name, "in": "query", "description": description, "type": type_, "uniqueItems": true})
    }
}

fn path_param(name: &str, description: &str, v3: bool) -> Value {
    if v3 {
        json!({"name": name, "in": "path", "description": description, "required": true, "schema": {"type": "string", "uniqueItems": true}})
    } else {
        json!({"name": name, "in": "path", "description": description, "required": true, "type": "string", "uniqueItems": true})
    }
}

const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present.";

fn write_params(v3: bool) -> Vec<Value> {
    vec![
        query("dryRun", "When present, indicates that modifications should not be persisted.", "string", v3),
        query(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
            "string",
            v3,
        ),
        query("fieldValidation", FIELD_VALIDATION, "string", v3),
    ]
}

fn list_params(v3: bool) -> Vec<Value> {
    vec![
        query(
            "continue",
            "The continue option should be set when retrieving more results from the server.",
            "string",
            v3,
        ),
        query("fieldSelector", "A selector to restrict the list of returned objects by their fields.", "string", v3),
        query("labelSelector", "A selector to restrict the list of returned objects by their labels.", "string", v3),
        query("limit", "limit is a maximum number of responses to return for a list call.", "integer", v3),
        query(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
            "string",
            v3,
        ),
        query("timeoutSeconds", "Timeout for the list/watch call.", "integer", v3),
        query(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
            "boolean",
            v3,
        ),
    ]
}

/// The operation ID's group part: `CoreV1`, `AppsV1`, `NetworkingV1`, `ExtensionsV1beta1`.
fn group_part(served: &Served) -> String {
    let group = if served.group.is_empty() { "core" } else { served.group.split('.').next().unwrap_or_default() };
    let mut chars = group.chars();
    let group: String = chars.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(chars).collect();
    let mut version = served.version.chars();
    let version: String = version.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(version).collect();
    format!("{group}{version}")
}

/// One operation of a path: its method, `x-kubernetes-action`, ID, query parameters, body
/// and response schemas.
struct Op<'a> {
    method: &'static str,
    action: &'static str,
    verb: String,
    params: Vec<Value>,
    body: Option<&'a str>,
    response: &'a str,
}

fn op<'a>(
    method: &'static str,
    action: &'static str,
    verb: String,
    params: Vec<Value>,
    body: Option<&'a str>,
    response: &'a str,
) -> Op<'a> {
    Op { method, action, verb, params, body, response }
}

/// The patches a kind takes. Custom resources take no strategic merge patch: kubectl reads this
/// list to choose how to patch, and sends them a JSON merge patch.
fn patch_types(kind: svclab_shared::Kind) -> &'static [&'static str] {
    if kind.is_custom() {
        &["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
    } else {
        &[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ]
    }
}

/// One operation of a path item, as (method, operation object): its id, action, kind, parameters,
/// response and (for writes) its body, in OpenAPI v3's shape or v2's.
fn operation(op: Op, gvk: &Value, kind: Kind, reference: &dyn Fn(&str) -> String, v3: bool) -> (&'static str, Value) {
    let schema_ref = json!({"$ref": reference(op.response)});
    let response = if v3 {
        json!({"description": "OK", "content": {"application/json": {"schema": schema_ref}}})
    } else {
        json!({"description": "OK", "schema": schema_ref})
    };
    let mut value = json!({
        "operationId": op.verb,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": gvk,
        "parameters": op.params,
        "responses": {"200": response, "401": {"description": "Unauthorized"}},
    });
    if let Some(body) = op.body {
        let schema = json!({"$ref": reference(body)});
        if v3 {
            let content_types = if op.method == "patch" { patch_types(kind) } else { &["application/json"] };
            let content: Map<String, Value> =
                content_types.iter().map(|ct| (ct.to_string(), json!({"schema": schema.clone()}))).collect();
            value["requestBody"] = json!({"content": content, "required": true});
        } else {
            let params = value["parameters"].as_array_mut().expect("an array");
            params.push(json!({"name": "body", "in": "body", "required": true, "schema": schema}));
        }
    }
    (op.method, value)
}

/// A path item: its operations by method, and the parameters they share.
fn item(ops: Vec<(&'static str, Value)>, params: Vec<Value>) -> Value {
    let mut item: Map<String, Value> = ops.into_iter().map(|(m, v)| (m.to_string(), v)).collect();
    item.insert("parameters".into(), params.into());
    Value::Object(item)
}

/// The URLs of a kind (collection, item, all namespaces, subresources) and their operations.
fn path_items(
    schemas: &Schemas,
    served: &Served,
    reference: &dyn Fn(&str) -> String,
    v3: bool,
) -> Vec<(String, Value)> {
    let kind = served.kind;
    let base = match served.group {
        "" => format!("/api/{}", served.version),
        group => format!("/apis/{group}/{}", served.version),
    };
    let plural = kind.plural();
    let Some(root) = schemas.root_name_in(&served.api_version(), kind) else { return vec![] };
    let list = format!("{root}List");
    let gvk = json!({"group": served.group, "version": served.version, "kind": kind.name()});
    let scope = if kind.namespaced() { "Namespaced" } else { "" };
    let id = |verb: &str, suffix: &str| format!("{verb}{}{scope}{}{suffix}", group_part(served), kind.name());
    let ns_param = || path_param("namespace", "object name and auth scope, such as for teams and projects", v3);
    let name_param = || path_param("name", &format!("name of the {}", kind.name()), v3);
    let prefix = if kind.namespaced() {
        format!("{base}/namespaces/{{namespace}}/{plural}")
    } else {
        format!("{base}/{plural}")
    };
    let collection_params = || if kind.namespaced() { vec![ns_param()] } else { vec![] };
    let item_params = || {
        let mut p = collection_params();
        p.push(name_param());
        p
    };
    let operation = |op: Op, gvk: &Value| operation(op, gvk, kind, reference, v3);
    let (status, patch) = (STATUS, PATCH);
    let force = query("force", "Force is going to \"force\" Apply requests.", "boolean", v3);
    let grace =
        query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer", v3);
    let patch_params: Vec<Value> = write_params(v3).into_iter().chain([force]).collect();
    let mut out = Vec::new();
    let collection = vec![
        operation(op("get", "list", id("list", ""), list_params(v3), None, &list), &gvk),
        operation(op("post", "post", id("create", ""), write_params(v3), Some(root), root), &gvk),
        operation(op("delete", "deletecollection", id("deleteCollection", ""), list_params(v3), None, status), &gvk),
    ];
    out.push((prefix.clone(), item(collection, collection_params())));
    let one = vec![
        operation(op("get", "get", id("read", ""), vec![], None, root), &gvk),
        operation(op("put", "put", id("replace", ""), write_params(v3), Some(root), root), &gvk),
        operation(op("patch", "patch", id("patch", ""), patch_params, Some(patch), root), &gvk),
        operation(op("delete", "delete", id("delete", ""), vec![grace], None, root), &gvk),
    ];
    out.push((format!("{prefix}/{{name}}"), item(one, item_params())));
    if kind.namespaced() {
        let verb = format!("list{}{}ForAllNamespaces", group_part(served), kind.name());
        let all = vec![operation(op("get", "list", verb, list_params(v3), None, &list), &gvk)];
        out.push((format!("{base}/{plural}"), item(all, vec![])));
    }
    for sub in kind.subresources() {
        let (response, sub_gvk) = match sub.name {
            "status" | "approval" => (root, gvk.clone()),
            "scale" => (schemas.scale_name(), json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})),
            _ => continue,
        };
        let mut name = sub.name.to_string();
        name[..1].make_ascii_uppercase();
        let ops = vec![
            operation(op("get", "get", id("read", &name), vec![], None, response), &sub_gvk),
            operation(op("put", "put", id("replace", &name), write_params(v3), Some(response), response), &sub_gvk),
            operation(op("patch", "patch", id("patch", &name), write_params(v3), Some(patch), response), &sub_gvk),
        ];
        out.push((format!("{prefix}/{{name}}/{}", sub.name), item(ops, item_params())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_names_every_group_version() {
        let index = v3_index();
        let paths = index["paths"].as_object().unwrap();
        for path in [
            "api/v1",
            "apis/apps/v1",
            "apis/networking.k8s.io/v1",
            "apis/discovery.k8s.io/v1",
            "apis/certificates.k8s.io/v1",
        ] {
            let url = paths[path]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{path}?hash=")), "{url}");
        }
    }

    #[test]
    fn kubectl_finds_the_patch_operation_with_field_validation() {
        let doc = &v3_document("api/v1").unwrap().body;
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"], json!({"group": "", "version": "v1", "kind": "Service"}));
        assert_eq!(patch["operationId"], "patchCoreV1NamespacedService");
        let params = patch["parameters"].as_array().unwrap();
        assert!(params.iter().any(|p| p["name"] == "fieldValidation"));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("io.k8s.api.core.v1.ServicePort"));
        let apps = &v3_document("apis/apps/v1").unwrap().body;
        let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
        assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
        assert!(apps["components"]["schemas"].as_object().unwrap().contains_key("io.k8s.api.autoscaling.v1.Scale"));
        assert!(v3_document("apis/apiextensions.k8s.io/v1").is_none());
    }

    #[test]
    fn every_reference_resolves_within_its_document() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        for document in v3() {
            let mut found = Vec::new();
            refs(&document.body, &mut found);
            let components = document.body["components"]["schemas"].as_object().unwrap();
            for r in found {
                let name = r.strip_prefix(REF_PREFIX).unwrap();
                assert!(components.contains_key(name), "{} refers to {name}, which it lacks", document.path);
            }
        }
        let legacy = &v3_document("apis/extensions/v1beta1").unwrap().body;
        let patch = &legacy["paths"]["/apis/extensions/v1beta1/namespaces/{namespace}/ingresses/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "extensions", "version": "v1beta1", "kind": "Ingress"})
        );
    }

    #[test]
    fn v2_refers_to_its_definitions() {
        let doc = v2();
        assert_eq!(doc["swagger"], "2.0");
        let text = doc.to_string();
        assert!(!text.contains("#/components/schemas/"));
        assert!(doc["definitions"]["io.k8s.api.core.v1.Service"].is_object());
        let op = &doc["paths"]["/api/v1/nodes/{name}"]["get"];
        assert_eq!(op["operationId"], "readCoreV1Node");
    }
}

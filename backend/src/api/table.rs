//! Objects rendered as the client asked ([`View`]): the object or list itself, at the version
//! of the path (an older one converted, see `svclab_shared::legacy`), a `meta.k8s.io` Table
//! (`kubectl get`'s columns from [`svclab_shared::printers`]), or `PartialObjectMetadata`.

use super::media::Rendering;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use svclab_shared::{Kind, Object, printers};

/// What a Table row carries of its object (`?includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// `PartialObjectMetadata`, the default: enough for `-A`'s NAMESPACE and `--show-labels`.
    Metadata,
    /// The whole object (`--sort-by`).
    Object,
}

impl IncludeObject {
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A list's `metadata`: its resourceVersion, and the token for the next page, if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListMeta {
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

impl ListMeta {
    fn to_value(&self) -> Value {
        let mut meta = json!({"resourceVersion": self.resource_version.to_string()});
        if let Some(token) = &self.continue_token {
            meta["continue"] = token.clone().into();
        }
        if let Some(remaining) = self.remaining {
            meta["remainingItemCount"] = remaining.into();
        }
        meta
    }
}

/// How objects are rendered for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub rendering: Rendering,
    pub include: IncludeObject,
    /// The older version the path names, if it is one svclab converts.
    pub api_version: Option<&'static str>,
}

impl View {
    /// Plain objects at their stored version.
    pub const OBJECT: View = View { rendering: Rendering::Object, include: IncludeObject::Metadata, api_version: None };

    /// The object itself, at the view's version.
    pub fn object(&self, object: &Object) -> Value {
        let value = object.to_value();
        match self.api_version {
            Some(version) => svclab_shared::legacy::downgrade(value, version),
            None => value,
        }
    }

    /// A list as the client asked for it.
    pub fn list(&self, kind: Kind, items: &[Arc<Object>], meta: &ListMeta) -> Value {
        match self.rendering {
            Rendering::Table(version) => self.table(kind, version, items, meta, true),
            Rendering::Metadata(version) => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{version}"),
                "metadata": meta.to_value(),
                "items": items.iter().map(|o| partial_metadata(o, version)).collect::<Vec<_>>(),
            }),
            Rendering::Object => {
                let items: Vec<Value> = match self.api_version {
                    Some(_) => items.iter().map(|o| self.object(o)).collect(),
                    None => return plain_list(kind, items, meta),
                };
                json!({
                    "apiVersion": self.api_version.unwrap_or(kind.api_version()),
                    "kind": kind.list_name(),
                    "metadata": meta.to_value(),
                    "items": items,
                })
            }
        }
    }

    /// A list as the client asked for it, as JSON text: a plain list is written straight from
    /// the store's objects, never copied into a `Value` first (a page of 500 pods, or an
    /// informer's whole first list).
    pub fn list_json(&self, kind: Kind, items: &[Arc<Object>], meta: &ListMeta) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct List<'a> {
            #[serde(rename = "apiVersion")]
            api_version: &'a str,
            kind: String,
            metadata: Value,
            items: &'a [Arc<Object>],
        }
        let written = match (self.rendering, self.api_version) {
            (Rendering::Object, None) => serde_json::to_vec(&List {
                api_version: kind.api_version(),
                kind: kind.list_name(),
                metadata: meta.to_value(),
                items,
            }),
            _ => serde_json::to_vec(&self.list(kind, items, meta)),
        };
        written.unwrap_or_default()
    }

    /// One object as the client asked for it.
    pub fn one(&self, object: &Arc<Object>) -> Value {
        match self.rendering {
            Rendering::Table(version) => {
                let meta = ListMeta { resource_version: object.resource_version(), ..ListMeta::default() };
                self.table(object.kind(), version, std::slice::from_ref(object), &meta, true)
            }
            Rendering::Metadata(version) => partial_metadata(object, version),
            Rendering::Object => self.object(object),
        }
    }

    /// A Table of objects of one kind. `columns` is false for watch events after the first,
    /// which kube-apiserver sends without column definitions.
    pub fn table(&self, kind: Kind, version: &str, objects: &[Arc<Object>], meta: &ListMeta, columns: bool) -> Value {
        let mut table = json!({
            "kind": "Table",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": meta.to_value(),
            "rows": self.rows(objects, version, Timestamp::now()),
        });
        table["columnDefinitions"] =
            if columns { serde_json::to_value(printers::columns(kind)).unwrap_or_default() } else { json!([]) };
        table
    }

    fn rows(&self, objects: &[Arc<Object>], version: &str, now: Timestamp) -> Vec<Value> {
        objects
            .iter()
            .map(|o| {
                let row = printers::row(o, now);
                let mut value = Map::new();
                value.insert("cells".into(), row.cells.into());
                if !row.conditions.is_empty() {
                    value.insert("conditions".into(), serde_json::to_value(&row.conditions).unwrap_or_default());
                }
                match self.include {
                    IncludeObject::None => {}
                    IncludeObject::Metadata => {
                        value.insert("object".into(), partial_metadata(o, version));
                    }
                    IncludeObject::Object => {
                        value.insert("object".into(), self.object(o));
                    }
                }
                Value::Object(value)
            })
            .collect()
    }
}

/// A list of stored objects, serialized straight from the store's shared objects.
fn plain_list(kind: Kind, items: &[Arc<Object>], meta: &ListMeta) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.list_name(),
        "metadata": meta.to_value(),
        "items": items,
    })
}

/// `PartialObjectMetadata` of an object.
fn partial_metadata(object: &Object, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": object.metadata(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> Arc<Object> {
        let value = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "7", "labels": {"app": "kubia"}},
            "spec": {"type": "ClusterIP", "clusterIPs": ["10.96.0.9"], "ports": [{"port": 80, "protocol": "TCP"}]}});
        Arc::new(Object::from_value(value).unwrap())
    }

    fn view(rendering: Rendering, include: IncludeObject) -> View {
        View { rendering, include, api_version: None }
    }

    #[test]
    fn tables_carry_columns_cells_and_metadata() {
        let meta = ListMeta { resource_version: 9, continue_token: Some("t".into()), remaining: Some(4) };
        let t = view(Rendering::Table("v1"), IncludeObject::Metadata).list(Kind::Service, &[service("kubia")], &meta);
        assert_eq!((t["kind"].as_str(), t["apiVersion"].as_str()), (Some("Table"), Some("meta.k8s.io/v1")));
        assert_eq!(t["metadata"], json!({"resourceVersion": "9", "continue": "t", "remainingItemCount": 4}));
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
            "description": t["columnDefinitions"][0]["description"], "priority": 0})
        );
        assert_eq!(t["columnDefinitions"][6]["priority"], 1);
        assert_eq!(t["rows"][0]["cells"][0], "kubia");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["labels"]["app"], "kubia");
        let full = view(Rendering::Table("v1beta1"), IncludeObject::Object).one(&service("kubia"));
        assert_eq!(full["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(full["metadata"]["resourceVersion"], "7");
        assert_eq!(full["rows"][0]["object"]["kind"], "Service");
        let bare = view(Rendering::Table("v1"), IncludeObject::None).one(&service("kubia"));
        assert!(bare["rows"][0].get("object").is_none());
    }

    #[test]
    fn lists_have_their_kind_and_metadata_lists_only_metadata() {
        let meta = ListMeta { resource_version: 3, ..ListMeta::default() };
        let l = View::OBJECT.list(Kind::Service, &[service("a")], &meta);
        let written: Value =
            serde_json::from_slice(&View::OBJECT.list_json(Kind::Service, &[service("a")], &meta)).unwrap();
        assert_eq!(written, l, "written straight or through a Value, the same list");
        assert_eq!((l["kind"].as_str(), l["apiVersion"].as_str()), (Some("ServiceList"), Some("v1")));
        assert_eq!(l["metadata"], json!({"resourceVersion": "3"}));
        let m = view(Rendering::Metadata("v1"), IncludeObject::Metadata).list(Kind::Service, &[service("a")], &meta);
        assert_eq!(m["kind"], "PartialObjectMetadataList");
        assert!(m["items"][0].get("spec").is_none());
    }

    #[test]
    fn an_older_version_path_reads_objects_in_that_version() {
        let ingress = Arc::new(
            Object::from_value(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "kubia"},
                "spec": {"defaultBackend": {"service": {"name": "kubia", "port": {"number": 80}}}}}),
            )
            .unwrap(),
        );
        let old = View { api_version: Some("extensions/v1beta1"), ..View::OBJECT };
        let listed = old.list(Kind::Ingress, std::slice::from_ref(&ingress), &ListMeta::default());
        assert_eq!(
            (listed["apiVersion"].as_str(), listed["kind"].as_str()),
            (Some("extensions/v1beta1"), Some("IngressList"))
        );
        assert_eq!(listed["items"][0]["spec"]["backend"], json!({"serviceName": "kubia", "servicePort": 80}));
        assert_eq!(old.one(&ingress)["apiVersion"], "extensions/v1beta1");
    }
}

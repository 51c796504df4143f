//! The API's schemas, generated from the k8s-openapi types (their `schemars` descriptions), with
//! what Kubernetes keeps in its Go struct tags added ([`patch_meta`]): how each list merges under
//! a strategic merge patch, and its list-map keys. One set of schemas serves everything that
//! needs to know the types' shape: the OpenAPI v3 and v2 documents kubectl validates against and
//! `kubectl explain` reads ([`documents`]), unknown-field detection for `fieldValidation`
//! ([`fields`]), and the merge keys of strategic merge patches (`registry::patch`).

pub mod custom;
pub mod documents;
pub mod fields;
mod legacy;
mod patch_meta;
mod protobuf_v2;

use k8s_openapi::api::{
    apps, autoscaling, batch, certificates, coordination, core, discovery, networking, policy, rbac, scheduling,
    storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;
use svclab_shared::Kind;
use svclab_shared::gateway as gw;

/// Where a schema's definitions are referenced from (`#/components/schemas/<name>`).
pub const REF_PREFIX: &str = "#/components/schemas/";

/// A kind as served at a group version: its own, or an older one svclab converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Served {
    pub kind: Kind,
    pub group: &'static str,
    pub version: &'static str,
}

impl Served {
    /// Every kind at its own version, then the older versions svclab serves.
    pub fn all() -> Vec<Served> {
        let current = Kind::ALL.iter().map(|k| Served { kind: *k, group: k.group(), version: k.version() });
        let older = svclab_shared::legacy::SERVED.iter().map(|(api_version, kind)| {
            let (group, version) = api_version.split_once('/').expect("a grouped version");
            Served { kind: *kind, group, version }
        });
        current.chain(older).collect()
    }

    /// `v1`, `apps/v1`, `extensions/v1beta1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// Every definition svclab's kinds use, by name (`io.k8s.api.core.v1.Service`).
pub struct Schemas {
    definitions: Map<String, Value>,
    roots: HashMap<(String, Kind), String>,
    scale: String,
}

/// The schemas, built once.
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: LazyLock<Schemas> = LazyLock::new(Schemas::generate);
    &SCHEMAS
}

/// The definition a `$ref` schema names.
fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(REF_PREFIX))
}

/// The definition a schema refers to, directly or as the one member of an `allOf`.
fn target(schema: &Value) -> Option<&str> {
    ref_name(schema).or_else(|| match schema.get("allOf")?.as_array()?.as_slice() {
        [only] => ref_name(only),
        _ => None,
    })
}

impl Schemas {
    fn generate() -> Schemas {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let mut roots = HashMap::new();
        for kind in Kind::ALL {
            let root = root_schema(&mut generator, *kind);
            let name = ref_name(root.as_value()).expect("every kind has a named schema").to_string();
            roots.insert((kind.api_version().to_string(), *kind), name);
        }
        let scale = generator.subschema_for::<autoscaling::v1::Scale>();
        let scale = ref_name(scale.as_value()).expect("Scale has a named schema").to_string();
        // What the operations answer with besides the kinds themselves.
        generator.subschema_for::<meta::Status>();
        generator.subschema_for::<meta::Patch>();
        generator.subschema_for::<meta::ListMeta>();
        let mut definitions = generator.take_definitions(true);
        for ((_, kind), name) in &roots {
            let gvk = json!([{"group": kind.group(), "version": kind.version(), "kind": kind.name()}]);
            if let Some(schema) = definitions.get_mut(name).and_then(Value::as_object_mut) {
                schema.insert("x-kubernetes-group-version-kind".into(), gvk);
            }
        }
        if let Some(schema) = definitions.get_mut(&scale).and_then(Value::as_object_mut) {
            let gvk = json!([{"group": "autoscaling", "version": "v1", "kind": "Scale"}]);
            schema.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
        patch_meta::annotate(&mut definitions);
        for (api_version, kind) in svclab_shared::legacy::SERVED {
            if *kind == Kind::Ingress
                && let Some(root) = legacy::add_ingress(&mut definitions, api_version)
            {
                roots.insert((api_version.to_string(), *kind), root);
            } else if kind.is_custom() {
                // The beta version's schema is v1's under its own name and group version kind.
                let v1 = roots[&(kind.api_version().to_string(), *kind)].clone();
                let mut schema = definitions[&v1].clone();
                let (_, version) = api_version.split_once('/').expect("a grouped version");
                schema["x-kubernetes-group-version-kind"] =
                    json!([{"group": kind.group(), "version": version, "kind": kind.name()}]);
                let name = v1.replace(".v1.", &format!(".{version}."));
                definitions.insert(name.clone(), schema);
                roots.insert((api_version.to_string(), *kind), name);
            }
        }
        for served in Served::all() {
            let Some(root) = roots.get(&(served.api_version(), served.kind)) else { continue };
            let list = list_schema(root, &served);
            definitions.insert(format!("{root}List"), list);
        }
        Schemas { definitions, roots, scale }
    }

    /// Every definition.
    pub fn definitions(&self) -> &Map<String, Value> {
        &self.definitions
    }

    /// The name of a kind's definition.
    pub fn root_name(&self, kind: Kind) -> &str {
        &self.roots[&(kind.api_version().to_string(), kind)]
    }

    /// The name of a kind's definition at a version it is served at (`extensions/v1beta1`).
    pub fn root_name_in(&self, api_version: &str, kind: Kind) -> Option<&str> {
        self.roots.get(&(api_version.to_string(), kind)).map(String::as_str)
    }

    /// A kind's schema at a version it is served at.
    pub fn root_in(&self, api_version: &str, kind: Kind) -> Option<&Value> {
        self.definitions.get(self.root_name_in(api_version, kind)?)
    }

    /// The name of `autoscaling/v1` Scale's definition (the `scale` subresource).
    pub fn scale_name(&self) -> &str {
        &self.scale
    }

    /// A kind's schema.
    pub fn root(&self, kind: Kind) -> &Value {
        &self.definitions[self.root_name(kind)]
    }

    /// The schema itself when `schema` refers to one (`$ref`, or `allOf: [{$ref}]` as OpenAPI 3
    /// wraps a reference that carries its own description).
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        target(schema).and_then(|name| self.definitions.get(name)).unwrap_or(schema)
    }

    /// Whether `schema` is apimachinery's `Quantity`, or refers to it.
    pub fn is_quantity(&self, schema: &Value) -> bool {
        let quantity = self.definitions.get("io.k8s.apimachinery.pkg.api.resource.Quantity");
        quantity.is_some_and(|q| std::ptr::eq(self.resolve(schema), q))
    }

    /// The schema of an object's property, resolved.
    pub fn property<'a>(&'a self, schema: &'a Value, name: &str) -> Option<&'a Value> {
        self.resolve(schema).get("properties")?.get(name)
    }

    /// The schema of a list's items, resolved.
    pub fn items<'a>(&'a self, schema: &'a Value) -> Option<&'a Value> {
        Some(self.resolve(self.resolve(schema).get("items")?))
    }

    /// The schema of a map's values, resolved.
    pub fn values<'a>(&'a self, schema: &'a Value) -> Option<&'a Value> {
        match self.resolve(schema).get("additionalProperties")? {
            Value::Bool(_) => None,
            values => Some(self.resolve(values)),
        }
    }

    /// The names of the definitions `names` refer to, directly or through others, with them.
    pub fn closure<'a>(&'a self, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut seen: Vec<&str> = Vec::new();
        let mut pending: Vec<&str> = names.into_iter().collect();
        while let Some(name) = pending.pop() {
            if seen.contains(&name) {
                continue;
            }
            let Some((key, schema)) = self.definitions.get_key_value(name) else { continue };
            seen.push(key.as_str());
            collect_refs(schema, &mut pending);
        }
        seen.sort();
        seen
    }
}

fn collect_refs<'a>(schema: &'a Value, out: &mut Vec<&'a str>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = ref_name(schema) {
                out.push(name);
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The schema of a kind's list (`ServiceList`).
fn list_schema(root: &str, served: &Served) -> Value {
    let kind = served.kind.name();
    json!({
        "description": format!("{kind}List is a list of {kind}s."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"},
            "items": {"description": format!("List of {kind}s."), "type": "array", "items": {"$ref": format!("{REF_PREFIX}{root}")}},
            "kind": {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"},
            "metadata": {"allOf": [{"$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")}],
                         "description": "Standard list metadata."},
        },
        "x-kubernetes-group-version-kind": [{"group": served.group, "version": served.version, "kind": format!("{kind}List")}],
    })
}

/// A kind's schema, registered with the generator: the one place a kind meets its Rust type here.
fn root_schema(generator: &mut SchemaGenerator, kind: Kind) -> schemars::Schema {
    match kind {
        Kind::Namespace => generator.subschema_for::<core::v1::Namespace>(),
        Kind::Node => generator.subschema_for::<core::v1::Node>(),
        Kind::Pod => generator.subschema_for::<core::v1::Pod>(),
        Kind::Service => generator.subschema_for::<core::v1::Service>(),
        Kind::Endpoints => generator.subschema_for::<core::v1::Endpoints>(),
        Kind::Secret => generator.subschema_for::<core::v1::Secret>(),
        Kind::ReplicationController => generator.subschema_for::<core::v1::ReplicationController>(),
        Kind::Event => generator.subschema_for::<core::v1::Event>(),
        Kind::ReplicaSet => generator.subschema_for::<apps::v1::ReplicaSet>(),
        Kind::Deployment => generator.subschema_for::<apps::v1::Deployment>(),
        Kind::EndpointSlice => generator.subschema_for::<discovery::v1::EndpointSlice>(),
        Kind::Ingress => generator.subschema_for::<networking::v1::Ingress>(),
        Kind::IngressClass => generator.subschema_for::<networking::v1::IngressClass>(),
        Kind::CertificateSigningRequest => generator.subschema_for::<certificates::v1::CertificateSigningRequest>(),
        Kind::Lease => generator.subschema_for::<coordination::v1::Lease>(),
        Kind::ServiceAccount => generator.subschema_for::<core::v1::ServiceAccount>(),
        Kind::ConfigMap => generator.subschema_for::<core::v1::ConfigMap>(),
        Kind::PersistentVolumeClaim => generator.subschema_for::<core::v1::PersistentVolumeClaim>(),
        Kind::PersistentVolume => generator.subschema_for::<core::v1::PersistentVolume>(),
        Kind::LimitRange => generator.subschema_for::<core::v1::LimitRange>(),
        Kind::ResourceQuota => generator.subschema_for::<core::v1::ResourceQuota>(),
        Kind::StatefulSet => generator.subschema_for::<apps::v1::StatefulSet>(),
        Kind::DaemonSet => generator.subschema_for::<apps::v1::DaemonSet>(),
        Kind::ControllerRevision => generator.subschema_for::<apps::v1::ControllerRevision>(),
        Kind::Job => generator.subschema_for::<batch::v1::Job>(),
        Kind::CronJob => generator.subschema_for::<batch::v1::CronJob>(),
        Kind::PodDisruptionBudget => generator.subschema_for::<policy::v1::PodDisruptionBudget>(),
        Kind::HorizontalPodAutoscaler => generator.subschema_for::<autoscaling::v2::HorizontalPodAutoscaler>(),
        Kind::NetworkPolicy => generator.subschema_for::<networking::v1::NetworkPolicy>(),
        Kind::Role => generator.subschema_for::<rbac::v1::Role>(),
        Kind::RoleBinding => generator.subschema_for::<rbac::v1::RoleBinding>(),
        Kind::ClusterRole => generator.subschema_for::<rbac::v1::ClusterRole>(),
        Kind::ClusterRoleBinding => generator.subschema_for::<rbac::v1::ClusterRoleBinding>(),
        Kind::StorageClass => generator.subschema_for::<storage::v1::StorageClass>(),
        Kind::PriorityClass => generator.subschema_for::<scheduling::v1::PriorityClass>(),
        Kind::GatewayClass => {
            let (spec, status) =
                (gateway_spec::<gw::class::GatewayClassSpec>, gateway_spec::<gw::class::GatewayClassStatus>);
            crd_root(generator, kind, spec, Some(status))
        }
        Kind::Gateway => {
            let (spec, status) = (gateway_spec::<gw::gw::GatewaySpec>, gateway_spec::<gw::gw::GatewayStatus>);
            crd_root(generator, kind, spec, Some(status))
        }
        Kind::HttpRoute => {
            let (spec, status) = (gateway_spec::<gw::route::HttpRouteSpec>, gateway_spec::<gw::route::HttpRouteStatus>);
            crd_root(generator, kind, spec, Some(status))
        }
        Kind::ReferenceGrant => crd_root(generator, kind, gateway_spec::<gw::grant::ReferenceGrantSpec>, None),
    }
}

fn gateway_spec<T: schemars::JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// A custom resource's schema as kube-apiserver publishes a CRD's (named by its reversed group,
/// `io.k8s.networking.gateway.v1.HTTPRoute`): `apiVersion`, `kind`, `metadata`, `spec` and
/// `status`, the last two from the `gateway-api` crate's types.
fn crd_root(
    generator: &mut SchemaGenerator,
    kind: Kind,
    spec: fn(&mut SchemaGenerator) -> schemars::Schema,
    status: Option<fn(&mut SchemaGenerator) -> schemars::Schema>,
) -> schemars::Schema {
    let reversed: Vec<&str> = kind.group().rsplit('.').collect();
    let name = format!("{}.{}.{}", reversed.join("."), kind.version(), kind.name());
    let metadata = generator.subschema_for::<meta::ObjectMeta>();
    let mut properties = json!({
        "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"},
        "kind": {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"},
        "metadata": {"allOf": [metadata.to_value()], "description": "Standard object's metadata."},
        "spec": spec(generator).to_value(),
    });
    if let Some(status) = status {
        properties["status"] = status(generator).to_value();
    }
    let root = json!({"type": "object", "required": ["spec"], "properties": properties});
    generator.definitions_mut().insert(name.clone(), root);
    schemars::Schema::try_from(json!({"$ref": format!("{REF_PREFIX}{name}")})).expect("a reference is a schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_schema_that_names_its_group_version_kind() {
        let schemas = schemas();
        for kind in Kind::ALL {
            let root = schemas.root(*kind);
            assert_eq!(root["x-kubernetes-group-version-kind"][0]["kind"], kind.name());
            assert!(root["properties"]["metadata"].is_object(), "{kind:?}");
        }
        assert_eq!(schemas.root_name(Kind::Service), "io.k8s.api.core.v1.Service");
    }

    #[test]
    fn schemas_resolve_through_references() {
        let schemas = schemas();
        let spec = schemas.property(schemas.root(Kind::Service), "spec").unwrap();
        let ports = schemas.property(spec, "ports").unwrap();
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
        let port = schemas.items(ports).unwrap();
        assert!(port["properties"]["targetPort"].is_object());
        let closure = schemas.closure([schemas.root_name(Kind::Service)]);
        assert!(closure.contains(&"io.k8s.api.core.v1.ServicePort"));
        assert!(closure.contains(&"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
        assert!(!closure.contains(&"io.k8s.api.core.v1.PodSpec"));
    }
}

//! What Kubernetes keeps in its Go struct tags and the k8s-openapi types leave out: how a list
//! merges under a strategic merge patch (`patchStrategy`, `patchMergeKey`) and how server-side
//! apply keys it (`listType`, `listMapKey`). Written onto the schemas as the
//! `x-kubernetes-patch-*` and `x-kubernetes-list-*` extensions kube-apiserver publishes.

use serde_json::{Map, Value, json};

/// One list field's merge rules.
struct ListMeta {
    definition: &'static str,
    field: &'static str,
    /// `merge`, `merge,retainKeys` or `retainKeys`; empty when a patch replaces the list.
    strategy: &'static str,
    /// The key that identifies an item (empty for a list of scalars).
    merge_key: &'static str,
    /// `map` (items keyed by `map_keys`), `set` or `atomic`.
    list_type: &'static str,
    map_keys: &'static [&'static str],
}

const fn map(
    definition: &'static str,
    field: &'static str,
    merge_key: &'static str,
    map_keys: &'static [&'static str],
) -> ListMeta {
    ListMeta { definition, field, strategy: "merge", merge_key, list_type: "map", map_keys }
}

const CORE: &str = "io.k8s.api.core.v1.";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// The lists of svclab's kinds that merge by key (everything else is replaced whole).
const LISTS: &[ListMeta] = &[
    map("ObjectMeta", "ownerReferences", "uid", &["uid"]),
    ListMeta {
        definition: "ObjectMeta",
        field: "finalizers",
        strategy: "merge",
        merge_key: "",
        list_type: "set",
        map_keys: &[],
    },
    map("PodSpec", "containers", "name", &["name"]),
    map("PodSpec", "initContainers", "name", &["name"]),
    map("PodSpec", "ephemeralContainers", "name", &["name"]),
    ListMeta {
        definition: "PodSpec",
        field: "volumes",
        strategy: "merge,retainKeys",
        merge_key: "name",
        list_type: "map",
        map_keys: &["name"],
    },
    map("PodSpec", "imagePullSecrets", "name", &["name"]),
    map("PodSpec", "hostAliases", "ip", &["ip"]),
    map("PodSpec", "topologySpreadConstraints", "topologyKey", &["topologyKey", "whenUnsatisfiable"]),
    map("PodSpec", "schedulingGates", "name", &["name"]),
    ListMeta {
        definition: "PodSpec",
        field: "resourceClaims",
        strategy: "merge,retainKeys",
        merge_key: "name",
        list_type: "map",
        map_keys: &["name"],
    },
    map("Container", "ports", "containerPort", &["containerPort", "protocol"]),
    map("Container", "env", "name", &["name"]),
    map("Container", "volumeMounts", "mountPath", &["mountPath"]),
    map("Container", "volumeDevices", "devicePath", &["devicePath"]),
    map("EphemeralContainer", "ports", "containerPort", &["containerPort", "protocol"]),
    map("EphemeralContainer", "env", "name", &["name"]),
    map("EphemeralContainer", "volumeMounts", "mountPath", &["mountPath"]),
    map("EphemeralContainer", "volumeDevices", "devicePath", &["devicePath"]),
    map("PodStatus", "conditions", "type", &["type"]),
    map("PodStatus", "podIPs", "ip", &["ip"]),
    map("PodStatus", "hostIPs", "ip", &["ip"]),
    map("ServiceSpec", "ports", "port", &["port", "protocol"]),
    map("ServiceStatus", "conditions", "type", &["type"]),
    ListMeta {
        definition: "NodeSpec",
        field: "podCIDRs",
        strategy: "merge",
        merge_key: "",
        list_type: "set",
        map_keys: &[],
    },
    map("NodeStatus", "conditions", "type", &["type"]),
    map("NodeStatus", "addresses", "type", &["type"]),
    map("NamespaceStatus", "conditions", "type", &["type"]),
    map("ReplicationControllerStatus", "conditions", "type", &["type"]),
];

/// apps/v1's lists and fields with a strategy.
const APPS: &[ListMeta] = &[
    map("DeploymentStatus", "conditions", "type", &["type"]),
    map("ReplicaSetStatus", "conditions", "type", &["type"]),
];

/// Maps and structs server-side apply replaces whole (`+mapType=atomic`, `+structType=atomic`).
const ATOMIC: &[(&str, Option<&str>)] = &[
    ("io.k8s.api.core.v1.ServiceSpec", Some("selector")),
    ("io.k8s.api.core.v1.ReplicationControllerSpec", Some("selector")),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", None),
    ("io.k8s.api.core.v1.ObjectReference", None),
];

/// Defaults of the fields that key list items (`protocol` keys ports with `port`).
const KEY_DEFAULTS: &[(&str, &str, &str)] =
    &[("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"), ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP")];

/// Fields that are not lists but carry a strategy: replacing a Deployment's strategy type drops
/// the other type's fields (`retainKeys`).
const RETAIN_KEYS: &[(&str, &str)] = &[("io.k8s.api.apps.v1.DeploymentSpec", "strategy")];

/// Writes the extensions onto the definitions' properties.
pub fn annotate(definitions: &mut Map<String, Value>) {
    let lists = LISTS
        .iter()
        .map(|l| (full_name(l.definition), l))
        .chain(APPS.iter().map(|l| (format!("io.k8s.api.apps.v1.{}", l.definition), l)));
    for (definition, list) in lists {
        let Some(property) = property_mut(definitions, &definition, list.field) else { continue };
        if !list.strategy.is_empty() {
            property.insert("x-kubernetes-patch-strategy".into(), list.strategy.into());
        }
        if !list.merge_key.is_empty() {
            property.insert("x-kubernetes-patch-merge-key".into(), list.merge_key.into());
        }
        property.insert("x-kubernetes-list-type".into(), list.list_type.into());
        if !list.map_keys.is_empty() {
            property.insert("x-kubernetes-list-map-keys".into(), json!(list.map_keys));
        }
    }
    for (definition, field) in RETAIN_KEYS {
        if let Some(property) = property_mut(definitions, definition, field) {
            property.insert("x-kubernetes-patch-strategy".into(), "retainKeys".into());
        }
    }
    for (definition, field) in ATOMIC {
        let target = match field {
            Some(field) => property_mut(definitions, definition, field),
            None => definitions.get_mut(*definition).and_then(Value::as_object_mut),
        };
        if let Some(target) = target {
            target.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
    }
    for (definition, field, default) in KEY_DEFAULTS {
        if let Some(property) = property_mut(definitions, definition, field) {
            property.insert("default".into(), (*default).into());
        }
    }
}

fn full_name(definition: &str) -> String {
    if definition == "ObjectMeta" { format!("{META}{definition}") } else { format!("{CORE}{definition}") }
}

fn property_mut<'a>(
    definitions: &'a mut Map<String, Value>,
    definition: &str,
    field: &str,
) -> Option<&'a mut Map<String, Value>> {
    definitions.get_mut(definition)?.get_mut("properties")?.get_mut(field)?.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::super::schemas;

    #[test]
    fn every_listed_field_exists_in_the_types() {
        let definitions = schemas().definitions();
        for list in super::LISTS {
            let name = super::full_name(list.definition);
            let schema = definitions.get(&name).unwrap_or_else(|| panic!("{name} is not a definition"));
            assert!(schema["properties"][list.field].is_object(), "{name}.{}", list.field);
            assert_eq!(schema["properties"][list.field]["x-kubernetes-list-type"], list.list_type);
        }
        for list in super::APPS {
            let name = format!("io.k8s.api.apps.v1.{}", list.definition);
            assert!(definitions[&name]["properties"][list.field]["x-kubernetes-patch-merge-key"].is_string(), "{name}");
        }
        let strategy = &definitions["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    }
}

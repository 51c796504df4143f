//! The Kubernetes kinds svclab serves: one [`Object`] enum over the `k8s-openapi` types, and
//! [`Kind`], which knows each kind's API group, version, plural and scope.

use crate::gateway;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::v2 as autoscaling;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::certificates::v1 as certificates;
use k8s_openapi::api::coordination::v1 as coordination;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::api::scheduling::v1 as scheduling;
use k8s_openapi::api::storage::v1 as storage;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A Kubernetes type that is one of the kinds in [`Object`].
pub trait Typed: Resource + Metadata<Ty = ObjectMeta> + Clone + Sized {
    const OBJECT_KIND: Kind;
    fn from_object(object: &Object) -> Option<&Self>;
    fn into_object(self) -> Object;
}

macro_rules! kinds {
    ($($variant:ident($ty:ty), namespaced: $namespaced:literal;)*) => {
        /// A kind of object svclab stores.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Kind { $($variant),* }

        /// One stored object of any kind. Objects live behind `Arc`s in the store and the
        /// informers, so the size of the biggest kind (a StatefulSet) is paid once per object.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Object { $($variant($ty)),* }

        impl Kind {
            /// Every kind, in a fixed order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The `kind` field, e.g. `Service`.
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Resource>::KIND),* }
            }

            /// The `apiVersion` field, e.g. `v1` or `apps/v1`.
            pub fn api_version(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Resource>::API_VERSION),* }
            }

            /// The API group, empty for the core group.
            pub fn group(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Resource>::GROUP),* }
            }

            /// The API version within the group, e.g. `v1`.
            pub fn version(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Resource>::VERSION),* }
            }

            /// The resource name in URLs, e.g. `services`.
            pub fn plural(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Resource>::URL_PATH_SEGMENT),* }
            }

            /// Whether objects of this kind live in a namespace.
            pub fn namespaced(self) -> bool {
                match self { $(Kind::$variant => $namespaced),* }
            }
        }

        impl Object {
            pub fn kind(&self) -> Kind {
                match self { $(Object::$variant(_) => Kind::$variant),* }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self { $(Object::$variant(o) => &o.metadata),* }
            }

            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self { $(Object::$variant(o) => &mut o.metadata),* }
            }

            /// Parses a JSON object of the given kind (its `apiVersion` and `kind` fields, when
            /// present, must agree).
            pub fn from_value_as(kind: Kind, value: Value) -> Result<Object, serde_json::Error> {
                Ok(match kind { $(Kind::$variant => Object::$variant(serde_json::from_value(value)?)),* })
            }
        }

        impl Object {
            /// Reads an object of the given kind from any serde format (YAML keeps its locations).
            pub fn deserialize_as<'de, D: Deserializer<'de>>(kind: Kind, d: D) -> Result<Object, D::Error> {
                Ok(match kind { $(Kind::$variant => Object::$variant(<$ty>::deserialize(d)?)),* })
            }
        }

        impl Serialize for Object {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Object::$variant(o) => o.serialize(s)),* }
            }
        }

        $(
            impl Typed for $ty {
                const OBJECT_KIND: Kind = Kind::$variant;
                fn from_object(object: &Object) -> Option<&Self> {
                    match object { Object::$variant(o) => Some(o), #[allow(unreachable_patterns)] _ => None }
                }
                fn into_object(self) -> Object { Object::$variant(self) }
            }
        )*
    };
}

kinds! {
    Namespace(core::Namespace), namespaced: false;
    Node(core::Node), namespaced: false;
    Pod(core::Pod), namespaced: true;
    Service(core::Service), namespaced: true;
    Endpoints(core::Endpoints), namespaced: true;
    Secret(core::Secret), namespaced: true;
    ReplicationController(core::ReplicationController), namespaced: true;
    Event(core::Event), namespaced: true;
    ReplicaSet(apps::ReplicaSet), namespaced: true;
    Deployment(apps::Deployment), namespaced: true;
    EndpointSlice(discovery::EndpointSlice), namespaced: true;
    Ingress(networking::Ingress), namespaced: true;
    IngressClass(networking::IngressClass), namespaced: false;
    CertificateSigningRequest(certificates::CertificateSigningRequest), namespaced: false;
    Lease(coordination::Lease), namespaced: true;
    ServiceAccount(core::ServiceAccount), namespaced: true;
    ConfigMap(core::ConfigMap), namespaced: true;
    PersistentVolumeClaim(core::PersistentVolumeClaim), namespaced: true;
    PersistentVolume(core::PersistentVolume), namespaced: false;
    LimitRange(core::LimitRange), namespaced: true;
    ResourceQuota(core::ResourceQuota), namespaced: true;
    StatefulSet(apps::StatefulSet), namespaced: true;
    DaemonSet(apps::DaemonSet), namespaced: true;
    ControllerRevision(apps::ControllerRevision), namespaced: true;
    Job(batch::Job), namespaced: true;
    CronJob(batch::CronJob), namespaced: true;
    PodDisruptionBudget(policy::PodDisruptionBudget), namespaced: true;
    HorizontalPodAutoscaler(autoscaling::HorizontalPodAutoscaler), namespaced: true;
    NetworkPolicy(networking::NetworkPolicy), namespaced: true;
    Role(rbac::Role), namespaced: true;
    RoleBinding(rbac::RoleBinding), namespaced: true;
    ClusterRole(rbac::ClusterRole), namespaced: false;
    ClusterRoleBinding(rbac::ClusterRoleBinding), namespaced: false;
    StorageClass(storage::StorageClass), namespaced: false;
    PriorityClass(scheduling::PriorityClass), namespaced: false;
    GatewayClass(gateway::GatewayClass), namespaced: false;
    Gateway(gateway::Gateway), namespaced: true;
    HttpRoute(gateway::HttpRoute), namespaced: true;
    ReferenceGrant(gateway::ReferenceGrant), namespaced: true;
}

/// Why a document could not be read as an object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectError {
    #[error("Object 'Kind' is missing in '{0}'")]
    MissingKind(String),
    #[error("Object 'apiVersion' is missing in '{0}'")]
    MissingApiVersion(String),
    #[error("no matches for kind \"{kind}\" in version \"{api_version}\"")]
    UnknownKind { api_version: String, kind: String },
    #[error("{0}")]
    Decode(String),
}

impl Kind {
    /// The kind named by an `apiVersion` and `kind` pair.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.api_version() == api_version && k.name() == kind)
    }

    /// The kind served at `/<group>/<version>/<plural>`.
    pub fn from_plural(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.group() == group && k.version() == version && k.plural() == plural)
    }

    /// Whether a cluster serves this kind from a CustomResourceDefinition (the Gateway API
    /// kinds): no protobuf, no strategic merge patch, the CRD's validation.
    pub fn is_custom(self) -> bool {
        self.group() == crate::gateway::GROUP
    }

    /// The `kind` of this kind's list, e.g. `ServiceList`.
    pub fn list_name(self) -> String {
        format!("{}List", self.name())
    }
}

impl Object {
    /// Reads any supported object from JSON, dispatching on `apiVersion` and `kind`.
    /// Older versions svclab converts (see [`crate::legacy`]) are converted first.
    pub fn from_value(value: Value) -> Result<Object, ObjectError> {
        let value = crate::legacy::upgrade(value);
        let kind = Self::kind_of(&value)?;
        Object::from_value_as(kind, value).map_err(|e| ObjectError::Decode(e.to_string()))
    }

    /// The kind a JSON document declares.
    pub fn kind_of(value: &Value) -> Result<Kind, ObjectError> {
        let text = || {
            let mut s = value.to_string();
            if s.len() > 120 {
                s.truncate(117);
                s.push_str("...");
            }
            s
        };
        let kind = value.get("kind").and_then(Value::as_str).filter(|k| !k.is_empty());
        let kind = kind.ok_or_else(|| ObjectError::MissingKind(text()))?;
        let api_version = value.get("apiVersion").and_then(Value::as_str).filter(|v| !v.is_empty());
        let api_version = api_version.ok_or_else(|| ObjectError::MissingApiVersion(text()))?;
        Kind::from_type(api_version, kind)
            .ok_or_else(|| ObjectError::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or_default()
    }

    /// The object's resourceVersion as a number (0 when unset).
    pub fn resource_version(&self) -> u64 {
        self.metadata().resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// `kind/name` as kubectl prints it, e.g. `service/kubia`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind().name().to_lowercase(), self.name())
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("Kubernetes objects always serialize")
    }

    pub fn downcast<T: Typed>(&self) -> Option<&T> {
        T::from_object(self)
    }
}

/// An object (as JSON) as a manifest to edit and apply again (the dashboard's `kubectl edit`):
/// without its status and the fields the server keeps for itself (uid, resourceVersion,
/// creationTimestamp, generation, managedFields, the last-applied annotation).
pub fn manifest_of(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"] {
            meta.remove(field);
        }
        let annotations = meta.get_mut("annotations").and_then(Value::as_object_mut);
        if let Some(annotations) = annotations {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    value
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Object::from_value(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_know_their_api_coordinates() {
        assert_eq!(Kind::Service.plural(), "services");
        assert_eq!(Kind::Service.api_version(), "v1");
        assert!(Kind::Service.namespaced());
        assert!(!Kind::Node.namespaced());
        assert_eq!(Kind::from_plural("", "v1", "replicationcontrollers"), Some(Kind::ReplicationController));
        assert_eq!(Kind::from_plural("apps", "v1", "replicasets"), Some(Kind::ReplicaSet));
        assert_eq!(Kind::from_type("v1", "Pod"), Some(Kind::Pod));
        assert_eq!(Kind::from_type("apps/v1", "Pod"), None);
    }

    #[test]
    fn objects_round_trip_through_json_by_kind() {
        let value = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubia"},
                           "spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        let object = Object::from_value(value).unwrap();
        assert_eq!(object.kind(), Kind::Service);
        assert_eq!(object.name(), "kubia");
        let back: Object = serde_json::from_value(object.to_value()).unwrap();
        assert_eq!(back, object);
    }

    #[test]
    fn manifests_leave_out_what_the_server_keeps() {
        let value = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubia", "namespace": "default", "uid": "u", "resourceVersion": "7",
                         "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "kubia"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {}}});
        let manifest = manifest_of(Object::from_value(value).unwrap().to_value());
        assert_eq!(
            manifest,
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "kubia", "namespace": "default", "labels": {"app": "kubia"}},
                   "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}})
        );
    }

    #[test]
    fn unknown_or_untyped_documents_say_why() {
        let err = Object::from_value(json!({"apiVersion": "v9", "kind": "Service"})).unwrap_err();
        assert_eq!(err.to_string(), "no matches for kind \"Service\" in version \"v9\"");
        let err = Object::from_value(json!({"apiVersion": "v1"})).unwrap_err();
        assert!(matches!(err, ObjectError::MissingKind(_)));
    }
}

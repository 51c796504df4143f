//! What the API serves of each kind, as discovery tells clients: singular name, short names,
//! categories, verbs and subresources (what `kubectl get svc`, `kubectl get all` and `kubectl
//! scale` resolve through), and the order of the API groups.

use crate::Kind;

/// The Kubernetes minor version (of 1.x) whose types and behaviour svclab follows
/// (k8s-openapi's `v1_35`): what `/version`, the OpenAPI documents, the nodes and the probes say.
pub const KUBERNETES_MINOR: &str = "35";

/// A subresource of a kind, e.g. `deployments/scale`, and the kind it answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// Every verb on a collection and its items.
const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/// Namespaces are deleted one at a time.
const NAMESPACE_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    Subresource { name: "status", group, version, kind, verbs: GET_PATCH_UPDATE }
}

const fn scale() -> Subresource {
    Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: GET_PATCH_UPDATE }
}

/// The API groups in the order kube-apiserver lists them (the core group is served apart, at
/// `/api`). Clients resolve a resource name that several groups serve to the first.
pub const GROUP_ORDER: &[&str] = &[
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    // CRDs' groups come after the built-in ones.
    "gateway.networking.k8s.io",
];

impl Kind {
    /// The singular resource name, e.g. `service`.
    pub fn singular(self) -> String {
        self.name().to_ascii_lowercase()
    }

    /// Short names, e.g. `svc`.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Node => &["no"],
            Kind::Pod => &["po"],
            Kind::Service => &["svc"],
            Kind::Endpoints => &["ep"],
            Kind::ReplicationController => &["rc"],
            Kind::Event => &["ev"],
            Kind::ReplicaSet => &["rs"],
            Kind::Deployment => &["deploy"],
            Kind::Ingress => &["ing"],
            Kind::IngressClass => &["ingclass"],
            Kind::CertificateSigningRequest => &["csr"],
            Kind::ServiceAccount => &["sa"],
            Kind::ConfigMap => &["cm"],
            Kind::PersistentVolumeClaim => &["pvc"],
            Kind::PersistentVolume => &["pv"],
            Kind::LimitRange => &["limits"],
            Kind::ResourceQuota => &["quota"],
            Kind::StatefulSet => &["sts"],
            Kind::DaemonSet => &["ds"],
            Kind::CronJob => &["cj"],
            Kind::PodDisruptionBudget => &["pdb"],
            Kind::HorizontalPodAutoscaler => &["hpa"],
            Kind::NetworkPolicy => &["netpol"],
            Kind::StorageClass => &["sc"],
            Kind::PriorityClass => &["pc"],
            Kind::GatewayClass => &["gc"],
            Kind::Gateway => &["gtw"],
            Kind::ReferenceGrant => &["refgrant"],
            Kind::Secret
            | Kind::EndpointSlice
            | Kind::Lease
            | Kind::ControllerRevision
            | Kind::Job
            | Kind::Role
            | Kind::RoleBinding
            | Kind::ClusterRole
            | Kind::ClusterRoleBinding
            | Kind::HttpRoute => &[],
        }
    }

    /// Categories: `all` is what `kubectl get all` lists.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Pod
            | Kind::Service
            | Kind::ReplicationController
            | Kind::ReplicaSet
            | Kind::Deployment
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::Job
            | Kind::CronJob
            | Kind::HorizontalPodAutoscaler => &["all"],
            Kind::GatewayClass | Kind::Gateway | Kind::HttpRoute | Kind::ReferenceGrant => &["gateway-api"],
            _ => &[],
        }
    }

    /// The verbs the resource answers.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => NAMESPACE_VERBS,
            _ => ALL_VERBS,
        }
    }

    /// The subresources svclab serves for the kind.
    pub fn subresources(self) -> &'static [Subresource] {
        const POD: &[Subresource] = &[
            Subresource {
                name: "attach",
                group: "",
                version: "v1",
                kind: "PodAttachOptions",
                verbs: &["create", "get"],
            },
            Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: &["create"] },
            Subresource {
                name: "ephemeralcontainers",
                group: "",
                version: "v1",
                kind: "Pod",
                verbs: &["get", "patch", "update"],
            },
            Subresource { name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: &["create", "get"] },
            Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] },
            Subresource {
                name: "portforward",
                group: "",
                version: "v1",
                kind: "PodPortForwardOptions",
                verbs: &["create", "get"],
            },
            Subresource { name: "proxy", group: "", version: "v1", kind: "PodProxyOptions", verbs: PROXY },
            status("", "v1", "Pod"),
        ];
        const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
        const SERVICE: &[Subresource] = &[
            Subresource { name: "proxy", group: "", version: "v1", kind: "ServiceProxyOptions", verbs: PROXY },
            status("", "v1", "Service"),
        ];
        const NODE: &[Subresource] = &[status("", "v1", "Node")];
        const ACCOUNT: &[Subresource] = &[Subresource {
            name: "token",
            group: "authentication.k8s.io",
            version: "v1",
            kind: "TokenRequest",
            verbs: &["create"],
        }];
        const NAMESPACE: &[Subresource] = &[status("", "v1", "Namespace")];
        const RC: &[Subresource] = &[scale(), status("", "v1", "ReplicationController")];
        const RS: &[Subresource] = &[scale(), status("apps", "v1", "ReplicaSet")];
        const DEPLOY: &[Subresource] = &[scale(), status("apps", "v1", "Deployment")];
        const INGRESS: &[Subresource] = &[status("networking.k8s.io", "v1", "Ingress")];
        const STS: &[Subresource] = &[scale(), status("apps", "v1", "StatefulSet")];
        const DS: &[Subresource] = &[status("apps", "v1", "DaemonSet")];
        const JOB: &[Subresource] = &[status("batch", "v1", "Job")];
        const CRONJOB: &[Subresource] = &[status("batch", "v1", "CronJob")];
        const PVC: &[Subresource] = &[status("", "v1", "PersistentVolumeClaim")];
        const PV: &[Subresource] = &[status("", "v1", "PersistentVolume")];
        const QUOTA: &[Subresource] = &[status("", "v1", "ResourceQuota")];
        const PDB: &[Subresource] = &[status("policy", "v1", "PodDisruptionBudget")];
        const HPA: &[Subresource] = &[status("autoscaling", "v2", "HorizontalPodAutoscaler")];
        const GATEWAY_CLASS: &[Subresource] = &[status(crate::gateway::GROUP, "v1", "GatewayClass")];
        const GATEWAY: &[Subresource] = &[status(crate::gateway::GROUP, "v1", "Gateway")];
        const HTTPROUTE: &[Subresource] = &[status(crate::gateway::GROUP, "v1", "HTTPRoute")];
        const CSR: &[Subresource] = &[
            Subresource {
                name: "approval",
                group: "certificates.k8s.io",
                version: "v1",
                kind: "CertificateSigningRequest",
                verbs: GET_PATCH_UPDATE,
            },
            status("certificates.k8s.io", "v1", "CertificateSigningRequest"),
        ];
        match self {
            Kind::Pod => POD,
            Kind::Service => SERVICE,
            Kind::Node => NODE,
            Kind::ServiceAccount => ACCOUNT,
            Kind::Namespace => NAMESPACE,
            Kind::ReplicationController => RC,
            Kind::ReplicaSet => RS,
            Kind::Deployment => DEPLOY,
            Kind::Ingress => INGRESS,
            Kind::CertificateSigningRequest => CSR,
            Kind::StatefulSet => STS,
            Kind::DaemonSet => DS,
            Kind::Job => JOB,
            Kind::CronJob => CRONJOB,
            Kind::PersistentVolumeClaim => PVC,
            Kind::PersistentVolume => PV,
            Kind::ResourceQuota => QUOTA,
            Kind::PodDisruptionBudget => PDB,
            Kind::HorizontalPodAutoscaler => HPA,
            Kind::GatewayClass => GATEWAY_CLASS,
            Kind::Gateway => GATEWAY,
            Kind::HttpRoute => HTTPROUTE,
            _ => &[],
        }
    }

    /// The named subresource, when the kind has it.
    pub fn subresource(self, name: &str) -> Option<&'static Subresource> {
        self.subresources().iter().find(|s| s.name == name)
    }

    /// The kind a name means as kubectl resolves it: a plural, singular, short name or kind
    /// name in any case (`svc`, `services`, `Service`), first by [`GROUP_ORDER`].
    pub fn resolve(name: &str) -> Option<Kind> {
        let name = name.to_ascii_lowercase();
        let mut kinds: Vec<Kind> = Kind::ALL.to_vec();
        kinds.sort_by_key(|k| group_rank(k.group()));
        kinds
            .into_iter()
            .find(|k| k.plural() == name || k.singular() == name || k.short_names().contains(&name.as_str()))
    }
}

/// Where a group comes in [`GROUP_ORDER`] (the core group first).
pub fn group_rank(group: &str) -> usize {
    if group.is_empty() {
        return 0;
    }
    GROUP_ORDER.iter().position(|g| *g == group).map_or(usize::MAX, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_its_place() {
        for kind in Kind::ALL {
            assert_ne!(group_rank(kind.group()), usize::MAX, "{kind:?}'s group is missing from GROUP_ORDER");
        }
    }

    #[test]
    fn short_names_are_unique_and_resolve() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in Kind::ALL {
            for short in kind.short_names() {
                assert!(seen.insert(*short), "{short} names two kinds");
                assert_eq!(Kind::resolve(short), Some(*kind));
            }
            assert_eq!(Kind::resolve(kind.plural()), Some(*kind));
            assert_eq!(Kind::resolve(&kind.singular()), Some(*kind));
        }
        assert_eq!(Kind::resolve("SVC"), Some(Kind::Service));
        assert_eq!(Kind::resolve("deploy"), Some(Kind::Deployment));
        assert_eq!(Kind::resolve("widgets"), None);
    }

    #[test]
    fn scalable_kinds_answer_with_autoscaling_scale() {
        for kind in [Kind::ReplicationController, Kind::ReplicaSet, Kind::Deployment] {
            let scale = kind.subresource("scale").unwrap();
            assert_eq!((scale.group, scale.version, scale.kind), ("autoscaling", "v1", "Scale"));
        }
        assert!(Kind::Pod.subresource("exec").is_some());
        assert!(Kind::Secret.subresource("status").is_none());
    }
}

//! Admission beyond field validation: the DefaultIngressClass and DefaultStorageClass plugins (a
//! new Ingress or claim without a class gets the default one), a check that needs real parsing (a CSR's request must be
//! a well-signed PKCS#10 request, a CronJob's schedule must parse), and the checks add-ons register ([`AdmissionCheck`], as
//! validating webhooks are registered with kube-apiserver), and the ServiceAccount plugin: a
//! pod's service account must exist, and its API credentials are mounted into the pod.

use crate::error::ApiError;
use crate::store::{ObjectKey, Store};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::storage::v1::StorageClass;
use svclab_shared::printers::DEFAULT_CLASS_ANNOTATION as DEFAULT_STORAGE_CLASS;
use svclab_shared::validation::FieldError;
use svclab_shared::{Kind, Object};

const DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";

/// Where the ServiceAccount plugin mounts a pod's API credentials (`token`, `ca.crt`,
/// `namespace`), as every in-cluster client library looks for them.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ServiceAccount plugin's mutation: a new pod (unless it or its account opts out with
/// `automountServiceAccountToken: false`, or mounts something there itself) gets a
/// `kube-api-access-<suffix>` projected volume, a token bound to the pod (which the kubelet
/// asks for), the cluster CA and the namespace, mounted read-only in each of its containers.
fn mount_service_account(store: &Store, pod: &mut Pod) {
    use k8s_openapi::api::core::v1::{
        ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath, ObjectFieldSelector,
        ProjectedVolumeSource, ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
    };
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let Some(spec) = pod.spec.as_mut() else { return };
    let account = spec.service_account_name.get_or_insert_with(|| "default".into()).clone();
    spec.service_account = Some(account.clone());
    let account = store.get_typed::<ServiceAccount>(&ns, &account);
    let automount = spec.automount_service_account_token.or(account.and_then(|a| a.automount_service_account_token));
    let containers = || spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let taken =
        containers().flat_map(|c| c.volume_mounts.iter().flatten()).any(|m| m.mount_path == SERVICE_ACCOUNT_DIR);
    if automount == Some(false) || taken {
        return;
    }
    let name = format!("kube-api-access-{}", super::generate_suffix());
    let sources = vec![
        VolumeProjection {
            service_account_token: Some(ServiceAccountTokenProjection {
                expiration_seconds: Some(3607),
                path: "token".into(),
                audience: None,
            }),
            ..Default::default()
        },
        VolumeProjection {
            config_map: Some(ConfigMapProjection {
                name: svclab_shared::pod::ROOT_CA_CONFIGMAP.into(),
                items: Some(vec![KeyToPath { key: "ca.crt".into(), path: "ca.crt".into(), mode: None }]),
                optional: None,
            }),
            ..Default::default()
        },
        VolumeProjection {
            downward_api: Some(DownwardAPIProjection {
                items: Some(vec![DownwardAPIVolumeFile {
                    path: "namespace".into(),
                    field_ref: Some(ObjectFieldSelector {
                        api_version: Some("v1".into()),
                        field_path: "metadata.namespace".into(),
                    }),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        },
    ];
    let projected = ProjectedVolumeSource { default_mode: Some(0o644), sources: Some(sources) };
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: name.clone(),
        projected: Some(projected),
        ..Default::default()
    });
    let mount =
        VolumeMount { name, mount_path: SERVICE_ACCOUNT_DIR.into(), read_only: Some(true), ..Default::default() };
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        c.volume_mounts.get_or_insert_with(Vec::new).push(mount.clone());
    }
}

/// Mutations on create.
pub(super) fn mutate(store: &Store, object: &mut Object) {
    if let Object::Pod(pod) = object {
        mount_service_account(store, pod);
    }
    if let Object::PersistentVolumeClaim(pvc) = object {
        // The DefaultStorageClass plugin: a claim that names no class gets the default one.
        let spec = pvc.spec.get_or_insert_with(Default::default);
        if spec.storage_class_name.is_none() {
            let default = store.list_typed::<StorageClass>(None).into_iter().find(|c| {
                let annotation = c.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_STORAGE_CLASS));
                annotation.is_some_and(|v| v == "true")
            });
            spec.storage_class_name = default.and_then(|c| c.metadata.name);
        }
    }
    if let Object::Ingress(ingress) = object {
        let spec = ingress.spec.get_or_insert_with(Default::default);
        let legacy =
            ingress.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/ingress.class"));
        if spec.ingress_class_name.is_none() && !legacy {
            let defaults: Vec<String> = store
                .list_typed::<IngressClass>(None)
                .into_iter()
                .filter(|c| {
                    c.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CLASS)).is_some_and(|v| v == "true")
                })
                .filter_map(|c| c.metadata.name)
                .collect();
            // With several defaults kube-apiserver picks none (and rejects; svclab leaves it unset).
            if let [only] = defaults.as_slice() {
                spec.ingress_class_name = Some(only.clone());
            }
        }
    }
}

/// The ServiceAccount plugin: a new pod's service account must exist (the `default` one is
/// made with its namespace, so a pod is not refused while that happens).
pub(super) fn check_references(store: &Store, object: &Object) -> Result<(), ApiError> {
    let Object::Pod(pod) = object else { return Ok(()) };
    let account = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()).unwrap_or("default");
    let ns = object.namespace();
    if account == "default" || store.get(&ObjectKey::new(Kind::ServiceAccount, ns, account)).is_some() {
        return Ok(());
    }
    let name = display_name(object);
    Err(ApiError::Forbidden(format!(
        "pods \"{name}\" is forbidden: error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found"
    )))
}

/// The name a refusal calls a new object by: its name, or its `generateName` prefix.
pub(super) fn display_name(object: &Object) -> String {
    let meta = object.metadata();
    meta.name.clone().filter(|n| !n.is_empty()).or_else(|| meta.generate_name.clone()).unwrap_or_default()
}

/// The NamespaceLifecycle plugin's rule for creates: nothing new in a namespace being deleted
/// (events excepted, which its controllers still record).
pub(super) fn check_create(store: &Store, object: &Object) -> Result<(), ApiError> {
    let kind = object.kind();
    if !kind.namespaced() || kind == Kind::Event {
        return Ok(());
    }
    let namespace = store.get(&ObjectKey::new(Kind::Namespace, "", object.namespace()));
    if namespace.is_some_and(|ns| ns.metadata().deletion_timestamp.is_some()) {
        let name = display_name(object);
        return Err(ApiError::Forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
            crate::error::resource_name(kind),
            object.namespace()
        )));
    }
    Ok(())
}

/// The NamespaceLifecycle plugin's rule for deletes: `default`, `kube-system` and `kube-public`
/// stay (the `kubernetes` and `kube-dns` services live in them).
pub(super) fn check_delete(key: &ObjectKey) -> Result<(), ApiError> {
    const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];
    if key.kind == Kind::Namespace && IMMORTAL.contains(&key.name.as_str()) {
        let name = &key.name;
        return Err(ApiError::Forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    Ok(())
}

/// A validating check an add-on brings to every create and update.
pub trait AdmissionCheck: Send + Sync {
    /// What is wrong with `object`; nothing for kinds the check is not about.
    fn validate(&self, object: &Object) -> Vec<FieldError>;
}

/// Problems only real parsing finds.
pub(super) fn validate(object: &Object) -> Vec<FieldError> {
    match object {
        Object::CertificateSigningRequest(csr) => {
            let pem = String::from_utf8_lossy(&csr.spec.request.0);
            if !pem.contains("-----BEGIN CERTIFICATE REQUEST-----") {
                return Vec::new(); // field validation reports it
            }
            match rcgen::CertificateSigningRequestParams::from_pem(&pem) {
                Ok(_) => Vec::new(),
                Err(rcgen::Error::InvalidCertificationRequestSignature) => {
                    vec![FieldError::invalid(
                        "spec.request",
                        "[]byte{…}",
                        "x509: invalid signature: parent certificate cannot sign this kind of certificate",
                    )]
                }
                Err(e) => vec![FieldError::invalid(
                    "spec.request",
                    "[]byte{…}",
                    format!("x509: malformed certificate request: {e}"),
                )],
            }
        }
        Object::CronJob(c) => {
            let schedule = c.spec.as_ref().map(|s| s.schedule.as_str()).unwrap_or_default();
            match crate::cron::parse_schedule(schedule) {
                Err(e) if !schedule.trim().is_empty() => {
                    vec![FieldError::invalid("spec.schedule", schedule, e.to_string())]
                }
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

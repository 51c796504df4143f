//! What the kubelet puts into a container from the API: its environment (`env` values and
//! `valueFrom` ConfigMap keys, Secret keys, the pod's own fields and its resources; `envFrom`;
//! `$(VAR)` references) and its volumes (`emptyDir`, `configMap`, `secret`, `downwardAPI`,
//! `projected`, `persistentVolumeClaim`, `hostPath`) mounted at their `volumeMounts`. Pure over a
//! [`Lookup`] of the API's objects; a missing object reads as kubelet's error for it.

use super::fs::{Fs, Volume};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, EnvVar, KeyToPath, ObjectFieldSelector, Pod, ResourceFieldSelector,
    Secret,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Why the kubelet cannot give a container its configuration, in its words: shown as
/// `CreateContainerConfigError` for the environment, in a `FailedMount` event for a volume.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A ConfigMap, Secret or claim that does not exist (`configmap "app-config" not found`).
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: &'static str, name: String },
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    MissingKey { kind: &'static str, namespace: String, name: String, key: String },
    /// A volume's `items` naming a key its ConfigMap or Secret lacks.
    #[error("{kind} references non-existent config key: {key}")]
    NoSuchItem { kind: &'static str, key: String },
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
    #[error("container {0:?} not found")]
    NoContainer(Option<String>),
    #[error("unsupported container resource : {0}")]
    Resource(String),
    #[error("persistentvolumeclaim \"{0}\" is not bound")]
    Unbound(String),
    #[error("failed to fetch token: serviceaccounts \"{0}\" not found")]
    NoServiceAccount(String),
    #[error("MountVolume.SetUp failed for volume \"{volume}\" : {error}")]
    Mount { volume: String, error: Box<ConfigError> },
}

impl ConfigError {
    fn not_found(kind: &'static str, name: &str) -> Self {
        ConfigError::NotFound { kind, name: name.to_string() }
    }
}

/// What configuration reads from the API.
pub trait Lookup {
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap>;
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
    /// The volume a claim is bound to, or why there is none.
    fn claim_volume(&self, namespace: &str, claim: &str) -> Result<String, ConfigError>;
    /// The node's allocatable resources (what a container without limits may use).
    fn allocatable(&self) -> BTreeMap<String, Quantity>;
    /// A token of the pod's service account, bound to the pod, for `audience` (the API server's
    /// when `None`), as the kubelet asks for one through TokenRequest; or why there is none.
    fn service_account_token(&self, pod: &Pod, audience: Option<&str>, seconds: i64) -> Result<String, ConfigError>;
}

/// The pod as configuration sees it: the object, and the addresses it runs with.
pub struct PodInfo<'a> {
    pub pod: &'a Pod,
    pub pod_ip: Ipv4Addr,
    pub host_ip: Ipv4Addr,
}

impl PodInfo<'_> {
    fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or_default()
    }
}

/// One key of a ConfigMap (text or binary data).
fn config_map_key(cm: &ConfigMap, key: &str) -> Option<Vec<u8>> {
    let text = cm.data.as_ref().and_then(|d| d.get(key)).map(|v| v.as_bytes().to_vec());
    text.or_else(|| cm.binary_data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone()))
}

fn config_map_entries(cm: &ConfigMap) -> Vec<(String, Vec<u8>)> {
    let text = cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.as_bytes().to_vec()));
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone()));
    text.chain(binary).collect()
}

fn secret_entries(secret: &Secret) -> Vec<(String, Vec<u8>)> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// `metadata.labels['app']` and the other paths a `fieldRef` may name.
fn field_value(info: &PodInfo, field: &ObjectFieldSelector) -> Result<String, ConfigError> {
    let meta = &info.pod.metadata;
    let spec = info.pod.spec.as_ref();
    let path = field.field_path.as_str();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        let key = path.strip_prefix(prefix)?.strip_prefix("['")?.strip_suffix("']")?;
        Some(map.and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    let format_map = |map: Option<&BTreeMap<String, String>>| {
        map.into_iter().flatten().map(|(k, v)| format!("{k}=\"{v}\"\n")).collect::<String>()
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => info.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => info.pod_ip.to_string(),
        _ => match keyed("metadata.labels", meta.labels.as_ref())
            .or_else(|| keyed("metadata.annotations", meta.annotations.as_ref()))
        {
            Some(v) => v,
            None => return Err(ConfigError::FieldPath(path.to_string())),
        },
    })
}

/// A `resourceFieldRef`: the container's request or limit (a limit it does not set is the
/// node's allocatable), divided by the divisor and rounded up, as the kubelet reports it.
fn resource_value(
    info: &PodInfo,
    container: &Container,
    field: &ResourceFieldSelector,
    lookup: &dyn Lookup,
) -> Result<String, ConfigError> {
    let target = match field.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => info
            .pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()))
            .find(|c| c.name == name),
        None => Some(container),
    };
    let target = target.ok_or_else(|| ConfigError::NoContainer(field.container_name.clone()))?;
    let unsupported = || ConfigError::Resource(field.resource.clone());
    let (kind, resource) = field.resource.split_once('.').ok_or_else(unsupported)?;
    let resources = target.resources.clone().unwrap_or_default();
    let get = |map: Option<&BTreeMap<String, Quantity>>| map.and_then(|m| m.get(resource)).cloned();
    let quantity = match kind {
        "limits" => get(resources.limits.as_ref()).or_else(|| lookup.allocatable().get(resource).cloned()),
        "requests" => get(resources.requests.as_ref()).or_else(|| get(resources.limits.as_ref())),
        _ => return Err(unsupported()),
    };
    let value = quantity.as_ref().and_then(svclab_shared::quantity::value).unwrap_or(0.0);
    let divisor = field.divisor.as_ref().and_then(svclab_shared::quantity::value).filter(|d| *d > 0.0).unwrap_or(1.0);
    Ok(format!("{}", (value / divisor).ceil() as i64))
}

/// `$(VAR)` replaced by what is defined so far; `$$` stands for `$`; unknown names stay as written.
pub fn expand(value: &str, defined: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(name_end) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=name_end];
            match defined(name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &after[name_end + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// One `env` entry's value.
fn env_value(
    var: &EnvVar,
    info: &PodInfo,
    container: &Container,
    lookup: &dyn Lookup,
    defined: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let ns = info.namespace();
    let Some(from) = &var.value_from else {
        return Ok(Some(expand(var.value.as_deref().unwrap_or_default(), defined)));
    };
    if let Some(r) = &from.config_map_key_ref {
        let optional = r.optional == Some(true);
        let Some(cm) = lookup.config_map(ns, &r.name) else {
            return if optional { Ok(None) } else { Err(ConfigError::not_found("configmap", &r.name)) };
        };
        return match config_map_key(&cm, &r.key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            None if optional => Ok(None),
            None => Err(missing_key("ConfigMap", ns, &r.name, &r.key)),
        };
    }
    if let Some(r) = &from.secret_key_ref {
        let optional = r.optional == Some(true);
        let Some(secret) = lookup.secret(ns, &r.name) else {
            return if optional { Ok(None) } else { Err(ConfigError::not_found("secret", &r.name)) };
        };
        return match secret.data.as_ref().and_then(|d| d.get(&r.key)) {
            Some(v) => Ok(Some(String::from_utf8_lossy(&v.0).into_owned())),
            None if optional => Ok(None),
            None => Err(missing_key("Secret", ns, &r.name, &r.key)),
        };
    }
    if let Some(f) = &from.field_ref {
        return field_value(info, f).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        return resource_value(info, container, r, lookup).map(Some);
    }
    Ok(None)
}

fn missing_key(kind: &'static str, namespace: &str, name: &str, key: &str) -> ConfigError {
    ConfigError::MissingKey { kind, namespace: namespace.into(), name: name.into(), key: key.into() }
}

/// Whether a name may be an environment variable (`envFrom` skips keys that may not).
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The variables `envFrom` and `env` define for `container`, in order, later ones replacing
/// earlier ones; `service` (the service links) count as defined for `$(VAR)`. The error is the
/// kubelet's (`configmap "app-config" not found`), shown as `CreateContainerConfigError`.
pub fn environment(
    info: &PodInfo,
    container: &Container,
    service: &[(String, String)],
    lookup: &dyn Lookup,
) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = info.namespace();
    let mut out: Vec<(String, String)> = Vec::new();
    let set =
        |out: &mut Vec<(String, String)>, name: String, value: String| match out.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let entries = if let Some(r) = &from.config_map_ref {
            match lookup.config_map(ns, &r.name) {
                Some(cm) => config_map_entries(&cm),
                None if r.optional == Some(true) => continue,
                None => return Err(ConfigError::not_found("configmap", &r.name)),
            }
        } else if let Some(r) = &from.secret_ref {
            match lookup.secret(ns, &r.name) {
                Some(s) => secret_entries(&s),
                None if r.optional == Some(true) => continue,
                None => return Err(ConfigError::not_found("secret", &r.name)),
            }
        } else {
            continue;
        };
        for (k, v) in entries {
            let name = format!("{prefix}{k}");
            if is_env_name(&name) {
                set(&mut out, name, String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    for var in container.env.iter().flatten() {
        let snapshot = out.clone();
        let defined = |name: &str| {
            let mine = snapshot.iter().rev().find(|(k, _)| k == name);
            mine.or_else(|| service.iter().find(|(k, _)| k == name)).map(|(_, v)| v.clone())
        };
        if let Some(value) = env_value(var, info, container, lookup, &defined)? {
            set(&mut out, var.name.clone(), value);
        }
    }
    Ok(out)
}

/// A file of a `configMap` or `secret` volume: every key, or the `items` chosen (each must exist
/// unless the source is optional).
fn key_files(
    entries: Vec<(String, Vec<u8>)>,
    items: Option<&Vec<KeyToPath>>,
    kind: &'static str,
) -> Result<Vec<(String, Vec<u8>)>, ConfigError> {
    let Some(items) = items.filter(|i| !i.is_empty()) else { return Ok(entries) };
    items
        .iter()
        .map(|item| match entries.iter().find(|(k, _)| *k == item.key) {
            Some((_, v)) => Ok((item.path.clone(), v.clone())),
            None => Err(ConfigError::NoSuchItem { kind, key: item.key.clone() }),
        })
        .collect()
}

fn downward_files(
    info: &PodInfo,
    items: &[DownwardAPIVolumeFile],
    lookup: &dyn Lookup,
) -> Result<Vec<(String, Vec<u8>)>, ConfigError> {
    let first = info.pod.spec.as_ref().and_then(|s| s.containers.first()).cloned().unwrap_or_default();
    items
        .iter()
        .map(|item| {
            let value = if let Some(f) = &item.field_ref {
                field_value(info, f)?
            } else if let Some(r) = &item.resource_field_ref {
                resource_value(info, &first, r, lookup)?
            } else {
                String::new()
            };
            Ok((item.path.clone(), value.into_bytes()))
        })
        .collect()
}

/// Where a volume's content comes from.
#[derive(Debug, Clone)]
enum Source {
    /// The kubelet writes it from API objects (read-only in the container).
    Projected,
    /// The container writes it: `emptyDir`, a claim's volume, a node's directory.
    Writable,
}

/// A pod's volumes, by name.
#[derive(Default)]
pub struct PodVolumes {
    volumes: Vec<(String, Volume, Source)>,
}

/// Volumes that outlive pods: claims' (by PersistentVolume) and nodes' directories (`hostPath`).
#[derive(Clone, Default)]
pub struct Storage {
    volumes: std::sync::Arc<std::sync::Mutex<BTreeMap<String, Volume>>>,
}

impl Storage {
    fn volume(&self, key: String) -> Volume {
        let mut map = self.volumes.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_default().clone()
    }
}

impl PodVolumes {
    /// Sets up the pod's volumes; the error is kubelet's `MountVolume.SetUp failed …` event.
    pub fn set_up(
        info: &PodInfo,
        node: &str,
        storage: &Storage,
        lookup: &dyn Lookup,
    ) -> Result<PodVolumes, ConfigError> {
        let mut out = PodVolumes::default();
        for v in info.pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let (volume, source) = if let Some(claim) = &v.persistent_volume_claim {
                let pv = lookup.claim_volume(info.namespace(), &claim.claim_name)?;
                (storage.volume(format!("pv/{pv}")), Source::Writable)
            } else if let Some(host) = &v.host_path {
                (storage.volume(format!("node/{node}{}", host.path)), Source::Writable)
            } else if projected(v) {
                (Volume::default(), Source::Projected)
            } else {
                // emptyDir, and the kinds svclab has no driver for, start empty.
                (Volume::default(), Source::Writable)
            };
            out.volumes.push((v.name.clone(), volume, source));
        }
        out.refresh(info, lookup)?;
        Ok(out)
    }

    /// Writes the projected volumes from the API's objects as they are now (the kubelet's
    /// periodic sync after a ConfigMap or Secret changes).
    pub fn refresh(&self, info: &PodInfo, lookup: &dyn Lookup) -> Result<(), ConfigError> {
        for v in info.pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).filter(|v| projected(v)) {
            let Some((_, volume, _)) = self.volumes.iter().find(|(n, _, _)| *n == v.name) else { continue };
            let files = projected_files(info, v, lookup)
                .map_err(|e| ConfigError::Mount { volume: v.name.clone(), error: Box::new(e) })?;
            volume.set_files(&files);
        }
        Ok(())
    }

    /// Mounts the container's `volumeMounts` into its filesystem.
    pub fn mount(&self, fs: &mut Fs, container: &Container) {
        for m in container.volume_mounts.iter().flatten() {
            let Some((_, volume, source)) = self.volumes.iter().find(|(n, _, _)| *n == m.name) else { continue };
            let read_only = m.read_only == Some(true) || matches!(source, Source::Projected);
            fs.mount(&m.mount_path, volume.clone(), m.sub_path.as_deref().unwrap_or("/"), read_only);
        }
    }
}

fn projected(v: &k8s_openapi::api::core::v1::Volume) -> bool {
    v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() || v.projected.is_some()
}

/// The files of a `configMap`, `secret`, `downwardAPI` or `projected` volume.
fn projected_files(
    info: &PodInfo,
    v: &k8s_openapi::api::core::v1::Volume,
    lookup: &dyn Lookup,
) -> Result<Vec<(String, Vec<u8>)>, ConfigError> {
    let ns = info.namespace();
    let config_map =
        |name: &str, items: Option<&Vec<KeyToPath>>, optional: Option<bool>| match lookup.config_map(ns, name) {
            Some(cm) => key_files(config_map_entries(&cm), items, "configmap"),
            None if optional == Some(true) => Ok(vec![]),
            None => Err(ConfigError::not_found("configmap", name)),
        };
    let secret = |name: &str, items: Option<&Vec<KeyToPath>>, optional: Option<bool>| match lookup.secret(ns, name) {
        Some(s) => key_files(secret_entries(&s), items, "secret"),
        None if optional == Some(true) => Ok(vec![]),
        None => Err(ConfigError::not_found("secret", name)),
    };
    if let Some(c) = &v.config_map {
        return config_map(&c.name, c.items.as_ref(), c.optional);
    }
    if let Some(s) = &v.secret {
        return secret(s.secret_name.as_deref().unwrap_or_default(), s.items.as_ref(), s.optional);
    }
    if let Some(d) = &v.downward_api {
        return downward_files(info, d.items.as_deref().unwrap_or_default(), lookup);
    }
    let mut files = Vec::new();
    for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
        if let Some(c) = &source.config_map {
            files.extend(config_map(&c.name, c.items.as_ref(), c.optional)?);
        } else if let Some(s) = &source.secret {
            files.extend(secret(&s.name, s.items.as_ref(), s.optional)?);
        } else if let Some(d) = &source.downward_api {
            files.extend(downward_files(info, d.items.as_deref().unwrap_or_default(), lookup)?);
        } else if let Some(t) = &source.service_account_token {
            let seconds = t.expiration_seconds.unwrap_or(3600);
            let token = lookup.service_account_token(info.pod, t.audience.as_deref(), seconds)?;
            files.push((t.path.clone(), token.into_bytes()));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;

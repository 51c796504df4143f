//! The API server's write path, between the REST handlers (and controllers) and the store:
//! naming, defaulting, validation, cluster IP allocation, status subresource semantics, pod
//! binding, cascading deletion and events; patches ([`patch`]), server-side apply and who
//! manages which field (`fieldmanager`). Everything that writes goes through here.

mod admission;

pub use admission::AdmissionCheck;
mod apply;
mod defaults;
pub mod delete;
mod dryrun;
mod ephemeral;
pub mod events;
mod fieldmanager;
mod ipalloc;
mod limitranger;
pub mod patch;
mod priority;
mod quota;
mod service;

pub use delete::{DeleteOptions, FOREGROUND, ORPHAN, Propagation};
pub use ipalloc::ClusterIpAllocator;
pub use patch::Patch;
pub use service::{PortAllocator, ServiceAllocators};

use crate::error::ApiError;
use crate::openapi::fields::{self, FieldValidation};
use crate::store::{ObjectKey, Store, StoreError};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use svclab_shared::validation;
use svclab_shared::{Kind, Object};

/// An event's identity for counting repeats: object uid, reason, message.
type EventKey = (String, String, String);

/// The API server's object registry: a cloneable handle.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    services: Arc<Mutex<ServiceAllocators>>,
    /// Recorded events by what they say about which object → event name.
    events: Arc<Mutex<HashMap<EventKey, String>>>,
    /// The admission checks add-ons registered.
    checks: Arc<std::sync::RwLock<Vec<Arc<dyn AdmissionCheck>>>>,
    /// Writes are tried, not made (see [`dryrun`]).
    dry_run: bool,
    /// Held from a quota's check to the write it admits (see [`quota`]).
    quota: Arc<Mutex<()>>,
}

fn store_error(err: StoreError, kind: Kind, name: &str) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found(kind, name),
        StoreError::AlreadyExists => ApiError::already_exists(kind, name),
        StoreError::Conflict => ApiError::conflict(kind, name),
        // kube-apiserver answers 500 when etcd cannot take a write.
        StoreError::Unavailable(why) => ApiError::Internal(why),
    }
}

/// Kubernetes' alphabet for generated name suffixes (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generate_suffix() -> String {
    let mut rng = rand::rng();
    (0..5).map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char).collect()
}

impl Registry {
    /// A registry over `store`, whose services' addresses and ports `services` counts as taken.
    pub fn new(store: Store, mut services: ServiceAllocators) -> Self {
        for svc in store.list_views::<k8s_openapi::api::core::v1::Service>(None) {
            services.restore(&svc);
        }
        Registry {
            store,
            services: Arc::new(Mutex::new(services)),
            events: Arc::default(),
            checks: Arc::default(),
            dry_run: false,
            quota: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Adds a check every create and update must pass (an add-on's validating webhook).
    pub fn add_admission_check(&self, check: Arc<dyn AdmissionCheck>) {
        self.checks.write().unwrap_or_else(|e| e.into_inner()).push(check);
    }

    /// What the built-in admission and the registered checks find wrong with `object`.
    fn admit(&self, object: &Object) -> Vec<svclab_shared::validation::FieldError> {
        let mut errs = admission::validate(object);
        for check in self.checks.read().unwrap_or_else(|e| e.into_inner()).iter() {
            errs.extend(check.validate(object));
        }
        errs
    }

    fn event_index(&self) -> std::sync::MutexGuard<'_, HashMap<EventKey, String>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn allocators(&self) -> std::sync::MutexGuard<'_, ServiceAllocators> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes through `write`, reserving a service's addresses first and settling them after.
    fn with_reservation(
        &self,
        old: Option<&Object>,
        mut object: Object,
        write: impl FnOnce(Object) -> Result<Arc<Object>, StoreError>,
    ) -> Result<Arc<Object>, ApiError> {
        let (kind, name) = (object.kind(), object.name().to_string());
        let reservation = match (&mut object, old) {
            (Object::Service(svc), Some(Object::Service(old))) => Some(self.allocators().reserve(Some(old), svc)?),
            (Object::Service(svc), None) => Some(self.allocators().reserve(None, svc)?),
            _ => None,
        };
        let written = write(object);
        if let Some(r) = reservation {
            match &written {
                // A dry run shows the addresses it would take, and keeps none.
                Ok(_) if !self.dry_run => self.allocators().commit(r),
                _ => self.allocators().rollback(r),
            }
        }
        written.map_err(|e| store_error(e, kind, &name))
    }

    /// Creates an object as `POST` does: generated name, defaults, validation, allocation.
    pub fn create(&self, object: Object) -> Result<Arc<Object>, ApiError> {
        self.create_as(object, None)
    }

    /// Creates an object for a client, who then owns its fields (`managedFields`).
    pub fn create_as(&self, mut object: Object, manager: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let kind = object.kind();
        if kind.namespaced() {
            let ns = object.namespace().to_string();
            if kind != Kind::Event && self.store.get(&ObjectKey::new(Kind::Namespace, "", &ns)).is_none() {
                return Err(ApiError::not_found(Kind::Namespace, &ns));
            }
        } else {
            object.metadata_mut().namespace = None;
        }
        let generate = object.metadata().name.as_deref().unwrap_or_default().is_empty()
            && object.metadata().generate_name.as_deref().is_some_and(|g| !g.is_empty());
        let meta = object.metadata_mut();
        meta.uid = Some(uuid::Uuid::new_v4().to_string());
        meta.creation_timestamp = Some(Time(Timestamp::now()));
        meta.resource_version = None;
        meta.deletion_timestamp = None;
        defaults::apply(&mut object);
        admission::check_create(&self.store, &object)?;
        admission::mutate(&self.store, &mut object);
        admission::check_references(&self.store, &object)?;
        priority::admit(&self.store, &mut object)?;
        limitranger::admit(&self.store, &mut object)?;
        if let Object::Pod(pod) = &mut object {
            // Its QoS class, from what admission left of its resources.
            let qos = pod.spec.as_ref().map(svclab_shared::pod::qos_class).unwrap_or("BestEffort");
            pod.status.get_or_insert_with(Default::default).qos_class = Some(qos.into());
        }
        if let Some(manager) = manager {
            object = managed(None, object, manager)?;
        }
        for attempt in 0.. {
            let mut candidate = object.clone();
            if generate {
                let prefix = candidate.metadata().generate_name.clone().unwrap_or_default();
                candidate.metadata_mut().name = Some(format!("{prefix}{}", generate_suffix()));
            }
            let mut errs = validation::validate_create(&candidate);
            errs.extend(self.admit(&candidate));
            if !errs.is_empty() {
                let name = candidate.name().to_string();
                return Err(ApiError::invalid(kind, &name, errs));
            }
            match self.create_validated(candidate) {
                Err(ApiError::AlreadyExists { .. }) if generate && attempt < 8 => continue,
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    fn create_validated(&self, object: Object) -> Result<Arc<Object>, ApiError> {
        let _counted = quota::admit(&self.store, &self.quota, &object, None)?;
        self.with_reservation(None, object, |o| self.store_create(o))
    }

    /// Replaces an object as `PUT` does. The status is kept from the stored object (status is a
    /// subresource); immutable metadata is kept; allocated values left empty are kept.
    pub fn update(&self, object: Object) -> Result<Arc<Object>, ApiError> {
        self.update_as(object, None)
    }

    /// Replaces an object for a client, who then owns the fields it changed.
    pub fn update_as(&self, mut object: Object, manager: Option<&str>) -> Result<Arc<Object>, ApiError> {
        let key = ObjectKey::of(&object);
        let current = self.store.get(&key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        if !key.kind.namespaced() {
            object.metadata_mut().namespace = None;
        }
        keep_server_fields(&current, &mut object);
        let object = with_status_of(&object, &current);
        self.commit_update(&current, object, Fields::of(manager))
    }

    /// Replaces only the status of an object, as `PUT …/status` does (controllers and kubelets).
    pub fn update_status(&self, object: &Object) -> Result<Arc<Object>, ApiError> {
        let key = ObjectKey::of(object);
        let current = self.store.get(&key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        let mut updated = with_status_of(&current, object);
        updated.metadata_mut().resource_version = object.metadata().resource_version.clone();
        self.store_update(updated).map_err(|e| store_error(e, key.kind, &key.name))
    }

    /// Replaces a CertificateSigningRequest's conditions, as `PUT …/approval` does (what
    /// `kubectl certificate approve` and `deny` send): nothing else of the object changes.
    pub fn update_approval(&self, object: &Object) -> Result<Arc<Object>, ApiError> {
        let key = ObjectKey::of(object);
        let current = self.store.get(&key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        let (Object::CertificateSigningRequest(new), Object::CertificateSigningRequest(stored)) = (object, &*current)
        else {
            return Err(ApiError::BadRequest("the approval subresource is only for CertificateSigningRequests".into()));
        };
        let mut updated = stored.clone();
        let conditions = new.status.as_ref().and_then(|s| s.conditions.clone());
        updated.status.get_or_insert_with(Default::default).conditions = conditions;
        updated.metadata.resource_version = new.metadata.resource_version.clone();
        let updated = Object::CertificateSigningRequest(updated);
        let errs = validation::validate_update(&current, &updated);
        if !errs.is_empty() {
            return Err(ApiError::invalid(key.kind, &key.name, errs));
        }
        self.store_update(updated).map_err(|e| store_error(e, key.kind, &key.name))
    }

    fn commit_update(&self, current: &Object, mut object: Object, fields: Fields) -> Result<Arc<Object>, ApiError> {
        let kind = object.kind();
        let name = object.name().to_string();
        defaults::apply(&mut object);
        match fields {
            Fields::Update(manager) => object = managed(Some(current), object, manager)?,
            // Only the API's writes change who manages what.
            Fields::Keep => object.metadata_mut().managed_fields = current.metadata().managed_fields.clone(),
            Fields::AsGiven => {}
        }
        if let Object::PriorityClass(class) = &object {
            priority::admit_class(&self.store, class)?;
        }
        let mut errs = validation::validate_update(current, &object);
        errs.extend(self.admit(&object));
        errs.extend(no_new_finalizers(current, &object));
        if !errs.is_empty() {
            return Err(ApiError::invalid(kind, &name, errs));
        }
        // Kinds that keep a generation have one from their creation (Services, Nodes and
        // Namespaces have none, as in Kubernetes).
        if let Some(generation) = current.metadata().generation.filter(|_| spec_changed(current, &object)) {
            object.metadata_mut().generation = Some(generation + 1);
        }
        let updated = {
            let _counted = quota::admit(&self.store, &self.quota, &object, Some(current))?;
            self.with_reservation(Some(current), object, |o| self.store_update(o))?
        };
        self.finalized(updated)
    }

    /// Applies a patch (JSON merge, JSON, or strategic merge) to an object (to the latest one
    /// again when another writer got in first, see [`retry_on_conflict`]); unknown fields in
    /// the result are handled as `validation` says, and the warnings returned. A patch sent to
    /// an older version's path (`legacy`, e.g. `extensions/v1beta1`) applies to the object in
    /// that version.
    pub fn patch(&self, key: &ObjectKey, patch: Patch, write: &Write) -> Result<(Arc<Object>, Vec<String>), ApiError> {
        self.patch_with(key, &patch, write, |current, object| {
            self.commit_update(current, object, Fields::of(write.manager))
        })
    }

    /// Applies `patch` to the stored object and writes the result with `commit` (given the
    /// stored object and the patched one), again from a fresh read after a conflict unless the
    /// patch names a resourceVersion; with the warnings about its fields.
    fn patch_with(
        &self,
        key: &ObjectKey,
        patch: &Patch,
        write: &Write,
        commit: impl Fn(&Arc<Object>, Object) -> Result<Arc<Object>, ApiError>,
    ) -> Result<(Arc<Object>, Vec<String>), ApiError> {
        retry_on_conflict(patch.sets_resource_version(), || {
            let (current, object, warnings) = self.patched(key, patch, write)?;
            Ok((commit(&current, object)?, warnings))
        })
    }

    /// Patches an object's status (`PATCH …/status`, `kubectl patch --subresource=status`): the
    /// patch applies to the object as stored, and only its status is written.
    pub fn patch_status(
        &self,
        key: &ObjectKey,
        patch: Patch,
        write: &Write,
    ) -> Result<(Arc<Object>, Vec<String>), ApiError> {
        self.patch_with(key, &patch, write, |_, object| self.update_status(&object))
    }

    /// The object as `patch` makes it (not yet written), with the stored one it was made from
    /// and the warnings about its fields.
    fn patched(
        &self,
        key: &ObjectKey,
        patch: &Patch,
        write: &Write,
    ) -> Result<(Arc<Object>, Object, Vec<String>), ApiError> {
        let (validation, legacy) = (write.validation, write.legacy);
        let current = self.store.get(key).ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        let schemas = crate::openapi::schemas();
        let api_version = legacy.unwrap_or(key.kind.api_version());
        let mut value = svclab_shared::legacy::downgrade(current.to_value(), api_version);
        patch.apply(schemas.root_in(api_version, key.kind).unwrap_or(schemas.root(key.kind)), &mut value)?;
        let warnings = fields::check(key.kind, api_version, &value, validation)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let value = svclab_shared::legacy::upgrade(value);
        let object = crate::openapi::custom::decode(key.kind, value)?;
        if object.name() != key.name || (key.kind.namespaced() && object.namespace() != key.namespace) {
            return Err(ApiError::BadRequest("the name and namespace of an object cannot be patched".into()));
        }
        let mut object = object;
        keep_server_fields(&current, &mut object);
        Ok((current, object, warnings))
    }

    /// Assigns a pending pod to a node (the `binding` subresource).
    pub fn bind(&self, namespace: &str, name: &str, node: &str) -> Result<Arc<Object>, ApiError> {
        let pod: Pod = self.store.get_typed(namespace, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
        let mut bound = pod.clone();
        let spec = bound.spec.get_or_insert_with(Default::default);
        if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) {
            return Err(ApiError::Conflict { resource: "pods/binding".into(), name: name.into() });
        }
        spec.node_name = Some(node.to_string());
        self.store_update(Object::Pod(bound)).map_err(|e| store_error(e, Kind::Pod, name))
    }

    /// Records an event about an object, as components do (`kubectl get events`).
    pub fn record_event(&self, about: &Object, type_: &str, reason: &str, message: &str, component: &str) {
        events::record(self, about, type_, reason, message, component);
    }

    /// Deletes the events last seen more than `ttl` ago (kube-apiserver's event TTL); says how many.
    pub fn expire_events(&self, ttl: std::time::Duration) -> usize {
        events::expire(self, ttl)
    }
}

/// How a client's write is handled: who makes it (for `managedFields`), what to do with unknown
/// fields, and the older version its path names, if any.
#[derive(Clone, Copy, Debug)]
pub struct Write<'a> {
    pub manager: Option<&'a str>,
    pub validation: FieldValidation,
    pub legacy: Option<&'a str>,
}

impl Write<'_> {
    /// A write of svclab's own (a controller's): strict, unmanaged, at the stored version.
    pub const INTERNAL: Write<'static> = Write { manager: None, validation: FieldValidation::Strict, legacy: None };
}

/// What an update does to `managedFields`.
enum Fields<'a> {
    /// A write of svclab's own: they stay as they are.
    Keep,
    /// A client's write: its manager owns what it changed.
    Update(&'a str),
    /// Server-side apply has worked them out already.
    AsGiven,
}

impl<'a> Fields<'a> {
    fn of(manager: Option<&'a str>) -> Self {
        manager.map_or(Fields::Keep, Fields::Update)
    }
}

/// `object` with its `managedFields` as after `manager` wrote it over `current`.
fn managed(current: Option<&Object>, object: Object, manager: &str) -> Result<Object, ApiError> {
    let kind = object.kind();
    let schemas = crate::openapi::schemas();
    let writer = fieldmanager::Writer { schemas, schema: schemas.root(kind), manager, api_version: kind.api_version() };
    let mut value = object.to_value();
    let old = current.map(Object::to_value);
    writer.update(old.as_ref(), &mut value);
    Object::from_value_as(kind, value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// How often a write is tried again when another writer got in first.
const CONFLICT_RETRIES: usize = 5;

/// Runs `write` (a read, a change and a write of one object) again, up to
/// [`CONFLICT_RETRIES`] times, when another writer (a controller updating the status) got in
/// between its read and its write, unless the write holds the object to a `resourceVersion`
/// (`precondition`): kube-apiserver retries a patch so.
pub fn retry_on_conflict<T>(precondition: bool, mut write: impl FnMut() -> Result<T, ApiError>) -> Result<T, ApiError> {
    for _ in 0..CONFLICT_RETRIES {
        match write() {
            Err(ApiError::Conflict { .. }) if !precondition => continue,
            done => return done,
        }
    }
    write()
}

/// Keeps what only the server sets: uid, creation time, and allocated service addresses that the
/// new version leaves empty (kube-apiserver's `patchAllocatedValues`).
fn keep_server_fields(current: &Object, object: &mut Object) {
    let (old, new) = (current.metadata(), object.metadata_mut());
    new.uid = old.uid.clone();
    new.creation_timestamp = old.creation_timestamp.clone();
    new.generation = old.generation;
    new.deletion_timestamp = old.deletion_timestamp.clone();
    new.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
    if let (Object::Service(old), Object::Service(new)) = (current, &mut *object)
        && let (Some(old), Some(new)) = (old.spec.as_ref(), new.spec.as_mut())
    {
        service::carry_over(old, new);
    }
    if let (Object::Pod(old), Object::Pod(new)) = (current, object) {
        priority::keep(old, new);
    }
}

/// An object being deleted may lose finalizers but gain none (kube-apiserver's rule).
fn no_new_finalizers(current: &Object, object: &Object) -> Option<validation::FieldError> {
    current.metadata().deletion_timestamp.as_ref()?;
    let old = current.metadata().finalizers.clone().unwrap_or_default();
    let new: Vec<String> =
        object.metadata().finalizers.iter().flatten().filter(|f| !old.contains(f)).cloned().collect();
    (!new.is_empty()).then(|| {
        let listed = new.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
        validation::FieldError::forbidden(
            "metadata.finalizers",
            format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{listed}}}"),
        )
    })
}

/// `base` with the status of `from`.
fn with_status_of(base: &Object, from: &Object) -> Object {
    let mut out = base.clone();
    match (&mut out, from) {
        (Object::Pod(o), Object::Pod(f)) => o.status = f.status.clone(),
        (Object::Service(o), Object::Service(f)) => o.status = f.status.clone(),
        (Object::Node(o), Object::Node(f)) => o.status = f.status.clone(),
        (Object::Namespace(o), Object::Namespace(f)) => o.status = f.status.clone(),
        (Object::ReplicationController(o), Object::ReplicationController(f)) => o.status = f.status.clone(),
        (Object::ReplicaSet(o), Object::ReplicaSet(f)) => o.status = f.status.clone(),
        (Object::Deployment(o), Object::Deployment(f)) => o.status = f.status.clone(),
        (Object::Ingress(o), Object::Ingress(f)) => o.status = f.status.clone(),
        (Object::CertificateSigningRequest(o), Object::CertificateSigningRequest(f)) => o.status = f.status.clone(),
        (Object::StatefulSet(o), Object::StatefulSet(f)) => o.status = f.status.clone(),
        (Object::DaemonSet(o), Object::DaemonSet(f)) => o.status = f.status.clone(),
        (Object::Job(o), Object::Job(f)) => o.status = f.status.clone(),
        (Object::CronJob(o), Object::CronJob(f)) => o.status = f.status.clone(),
        (Object::PersistentVolumeClaim(o), Object::PersistentVolumeClaim(f)) => o.status = f.status.clone(),
        (Object::PersistentVolume(o), Object::PersistentVolume(f)) => o.status = f.status.clone(),
        (Object::ResourceQuota(o), Object::ResourceQuota(f)) => o.status = f.status.clone(),
        (Object::PodDisruptionBudget(o), Object::PodDisruptionBudget(f)) => o.status = f.status.clone(),
        (Object::HorizontalPodAutoscaler(o), Object::HorizontalPodAutoscaler(f)) => o.status = f.status.clone(),
        (Object::GatewayClass(o), Object::GatewayClass(f)) => o.status = f.status.clone(),
        (Object::Gateway(o), Object::Gateway(f)) => o.status = f.status.clone(),
        (Object::HttpRoute(o), Object::HttpRoute(f)) => o.status = f.status.clone(),
        _ => {}
    }
    out
}

/// Whether an update changes the object's spec (which bumps `metadata.generation`). Compared as
/// typed values: updates are frequent, and nothing needs serialising for this.
fn spec_changed(old: &Object, new: &Object) -> bool {
    match (old, new) {
        (Object::Pod(a), Object::Pod(b)) => a.spec != b.spec,
        (Object::Service(a), Object::Service(b)) => a.spec != b.spec,
        (Object::Node(a), Object::Node(b)) => a.spec != b.spec,
        (Object::Namespace(a), Object::Namespace(b)) => a.spec != b.spec,
        (Object::ReplicationController(a), Object::ReplicationController(b)) => a.spec != b.spec,
        (Object::ReplicaSet(a), Object::ReplicaSet(b)) => a.spec != b.spec,
        (Object::Deployment(a), Object::Deployment(b)) => a.spec != b.spec,
        (Object::Ingress(a), Object::Ingress(b)) => a.spec != b.spec,
        (Object::StatefulSet(a), Object::StatefulSet(b)) => a.spec != b.spec,
        (Object::DaemonSet(a), Object::DaemonSet(b)) => a.spec != b.spec,
        (Object::Job(a), Object::Job(b)) => a.spec != b.spec,
        (Object::CronJob(a), Object::CronJob(b)) => a.spec != b.spec,
        (Object::PodDisruptionBudget(a), Object::PodDisruptionBudget(b)) => a.spec != b.spec,
        (Object::HorizontalPodAutoscaler(a), Object::HorizontalPodAutoscaler(b)) => a.spec != b.spec,
        (Object::NetworkPolicy(a), Object::NetworkPolicy(b)) => a.spec != b.spec,
        (Object::GatewayClass(a), Object::GatewayClass(b)) => a.spec != b.spec,
        (Object::Gateway(a), Object::Gateway(b)) => a.spec != b.spec,
        (Object::HttpRoute(a), Object::HttpRoute(b)) => a.spec != b.spec,
        (Object::ReferenceGrant(a), Object::ReferenceGrant(b)) => a.spec != b.spec,
        _ => false,
    }
}

#[cfg(test)]
mod tests;

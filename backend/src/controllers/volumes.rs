//! PersistentVolumeClaims and their volumes: the PV controller's binding (a claim takes an
//! Available volume of its class that is big enough and has its access modes) and svclab's
//! provisioner (`svclab.io/local-path`, the default StorageClass `standard`), which makes a
//! node-local volume for a claim at once. A deleted claim's volume is deleted (reclaim policy
//! `Delete`) or released (`Retain`).

use super::runtime::{Action, Reconciler};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec,
    PersistentVolumeStatus,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::time::Duration;
use svclab_shared::{Kind, Object};

/// svclab's provisioner, named as the StorageClass names it.
pub const PROVISIONER: &str = "svclab.io/local-path";
/// The StorageClass svclab starts with, the default one.
pub const DEFAULT_CLASS: &str = "standard";
/// Where provisioned volumes live on a node.
const VOLUME_DIR: &str = "/var/local-path-provisioner";

pub struct VolumeController {
    registry: Registry,
}

impl VolumeController {
    pub fn new(registry: Registry) -> Self {
        VolumeController { registry }
    }
}

fn requested(pvc: &PersistentVolumeClaim) -> Option<Quantity> {
    pvc.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage").cloned()
}

fn claim_ref(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: pvc.metadata.namespace.clone(),
        name: pvc.metadata.name.clone(),
        uid: pvc.metadata.uid.clone(),
        resource_version: pvc.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Whether an Available volume can serve the claim: same class, its access modes, big enough.
fn fits(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let (Some(spec), Some(claim)) = (pv.spec.as_ref(), pvc.spec.as_ref()) else { return false };
    let available =
        pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available") && spec.claim_ref.is_none();
    let class =
        spec.storage_class_name.clone().unwrap_or_default() == claim.storage_class_name.clone().unwrap_or_default();
    let modes = claim.access_modes.iter().flatten().all(|m| spec.access_modes.iter().flatten().any(|have| have == m));
    let size = spec.capacity.as_ref().and_then(|c| c.get("storage")).and_then(svclab_shared::quantity::value);
    let wanted = requested(pvc).as_ref().and_then(svclab_shared::quantity::value).unwrap_or(0.0);
    available && class && modes && size.is_some_and(|s| s >= wanted)
}

impl VolumeController {
    /// A new volume for the claim from svclab's provisioner.
    fn provision(&self, pvc: &PersistentVolumeClaim, class: &StorageClass) -> Result<PersistentVolume, ApiError> {
        let (ns, name, uid) = (
            pvc.metadata.namespace.clone().unwrap_or_default(),
            pvc.metadata.name.clone().unwrap_or_default(),
            pvc.metadata.uid.clone().unwrap_or_default(),
        );
        let pv_name = format!("pvc-{uid}");
        let claim = pvc.spec.clone().unwrap_or_default();
        let capacity = requested(pvc).unwrap_or_else(|| Quantity("1Gi".into()));
        let pv = PersistentVolume {
            metadata: ObjectMeta {
                name: Some(pv_name.clone()),
                annotations: Some([("pv.kubernetes.io/provisioned-by".to_string(), PROVISIONER.to_string())].into()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                access_modes: claim.access_modes.clone(),
                capacity: Some([("storage".to_string(), capacity)].into()),
                claim_ref: Some(claim_ref(pvc)),
                host_path: Some(HostPathVolumeSource {
                    path: format!("{VOLUME_DIR}/{pv_name}_{ns}_{name}"),
                    type_: Some("DirectoryOrCreate".into()),
                }),
                persistent_volume_reclaim_policy: class.reclaim_policy.clone().or_else(|| Some("Delete".into())),
                storage_class_name: class.metadata.name.clone(),
                volume_mode: claim.volume_mode.clone(),
                ..Default::default()
            }),
            status: None,
        };
        let created = self.registry.create(Object::PersistentVolume(pv))?;
        let msg = format!("Successfully provisioned volume {pv_name}");
        self.registry.record_event(
            &Object::PersistentVolumeClaim(pvc.clone()),
            "Normal",
            "ProvisioningSucceeded",
            &msg,
            PROVISIONER,
        );
        created.downcast::<PersistentVolume>().cloned().ok_or_else(|| ApiError::Internal("not a volume".into()))
    }

    /// Binds the claim and the volume to each other, both ways, and marks both Bound.
    fn bind(&self, pvc: &PersistentVolumeClaim, pv: &PersistentVolume) -> Result<(), ApiError> {
        let mut volume = pv.clone();
        let spec = volume.spec.get_or_insert_with(Default::default);
        spec.claim_ref = Some(claim_ref(pvc));
        let stored = self.registry.update(Object::PersistentVolume(volume))?;
        let mut volume = stored.downcast::<PersistentVolume>().cloned().unwrap_or_default();
        volume.status = Some(PersistentVolumeStatus { phase: Some("Bound".into()), ..Default::default() });
        self.registry.update_status(&Object::PersistentVolume(volume.clone()))?;

        let mut claim = pvc.clone();
        claim.spec.get_or_insert_with(Default::default).volume_name = volume.metadata.name.clone();
        let annotations = claim.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert("pv.kubernetes.io/bind-completed".into(), "yes".into());
        annotations.insert("pv.kubernetes.io/bound-by-controller".into(), "yes".into());
        if pv.metadata.annotations.as_ref().and_then(|a| a.get("pv.kubernetes.io/provisioned-by")).is_some() {
            annotations.insert("volume.kubernetes.io/storage-provisioner".into(), PROVISIONER.into());
            annotations.insert("volume.beta.kubernetes.io/storage-provisioner".into(), PROVISIONER.into());
        }
        let stored = self.registry.update(Object::PersistentVolumeClaim(claim))?;
        let mut claim = stored.downcast::<PersistentVolumeClaim>().cloned().unwrap_or_default();
        let vspec = volume.spec.clone().unwrap_or_default();
        let status = claim.status.get_or_insert_with(Default::default);
        status.phase = Some("Bound".into());
        status.access_modes = vspec.access_modes.clone();
        status.capacity = vspec.capacity.clone();
        self.registry.update_status(&Object::PersistentVolumeClaim(claim)).map(|_| ())
    }

    fn sync_claim(&self, pvc: &PersistentVolumeClaim) -> Result<(), ApiError> {
        let store = self.registry.store();
        let bound = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
        if let Some(volume) = bound {
            // Bound already; make the status say so if the claim was written back without it.
            let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
            if phase != Some("Bound")
                && let Some(pv) = store.get_typed::<PersistentVolume>("", &volume)
            {
                return self.bind(pvc, &pv);
            }
            return Ok(());
        }
        if pvc.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        if let Some(pv) = store.list_typed::<PersistentVolume>(None).into_iter().find(|pv| fits(pv, pvc)) {
            return self.bind(pvc, &pv);
        }
        let class_name = pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default();
        let object = Object::PersistentVolumeClaim(pvc.clone());
        if class_name.is_empty() {
            let msg = "no persistent volumes available for this claim and no storage class is set";
            self.registry.record_event(&object, "Normal", "FailedBinding", msg, "persistentvolume-controller");
            return Ok(());
        }
        let Some(class) = store.get_typed::<StorageClass>("", &class_name) else {
            let msg = format!("storageclass.storage.k8s.io \"{class_name}\" not found");
            self.registry.record_event(&object, "Warning", "ProvisioningFailed", &msg, "persistentvolume-controller");
            return Ok(());
        };
        if class.provisioner != PROVISIONER {
            let msg = format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
                class.provisioner
            );
            self.registry.record_event(&object, "Normal", "ExternalProvisioning", &msg, "persistentvolume-controller");
            return Ok(());
        }
        let pv = self.provision(pvc, &class)?;
        self.bind(pvc, &pv)
    }

    /// A volume whose claim is gone: deleted (`Delete`) or `Released` (`Retain`).
    fn sync_volume(&self, pv: &PersistentVolume) -> Result<(), ApiError> {
        let spec = pv.spec.clone().unwrap_or_default();
        let Some(claim) = spec.claim_ref.as_ref() else {
            if pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending") {
                let mut volume = pv.clone();
                volume.status = Some(PersistentVolumeStatus { phase: Some("Available".into()), ..Default::default() });
                self.registry.update_status(&Object::PersistentVolume(volume))?;
            }
            return Ok(());
        };
        let (ns, name) = (claim.namespace.clone().unwrap_or_default(), claim.name.clone().unwrap_or_default());
        let current = self.registry.store().get_typed::<PersistentVolumeClaim>(&ns, &name);
        if current.as_ref().is_some_and(|c| c.metadata.uid == claim.uid) {
            return Ok(());
        }
        let pv_name = pv.metadata.name.clone().unwrap_or_default();
        if spec.persistent_volume_reclaim_policy.as_deref() == Some("Delete") {
            return match self.registry.delete(&ObjectKey::new(Kind::PersistentVolume, "", &pv_name), None) {
                Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            };
        }
        if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Released") {
            let mut volume = pv.clone();
            volume.status = Some(PersistentVolumeStatus { phase: Some("Released".into()), ..Default::default() });
            self.registry.update_status(&Object::PersistentVolume(volume))?;
        }
        Ok(())
    }
}

impl Reconciler for VolumeController {
    fn name(&self) -> &'static str {
        "persistentvolume-binder"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::PersistentVolumeClaim(pvc) => {
                // A deleted claim's volume is looked at again.
                let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
                let mut keys = vec![ObjectKey::of(object)];
                keys.extend(volume.map(|v| ObjectKey::new(Kind::PersistentVolume, "", &v)));
                keys
            }
            Object::PersistentVolume(_) => vec![ObjectKey::of(object)],
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        let result = match key.kind {
            Kind::PersistentVolumeClaim => match store.get_typed::<PersistentVolumeClaim>(&key.namespace, &key.name) {
                Some(pvc) => self.sync_claim(&pvc),
                None => Ok(()),
            },
            Kind::PersistentVolume => match store.get_typed::<PersistentVolume>("", &key.name) {
                Some(pv) => self.sync_volume(&pv),
                None => Ok(()),
            },
            _ => Ok(()),
        };
        match result {
            Ok(()) => Action::AwaitChange,
            Err(e) => {
                tracing::debug!(?key, error = %e, "persistentvolume-binder");
                Action::RequeueAfter(Duration::from_millis(200))
            }
        }
    }
}

//! What every namespace gets from kube-controller-manager: the `default` ServiceAccount (the
//! serviceaccount controller, which puts it back when it is deleted) and the `kube-root-ca.crt`
//! ConfigMap holding the cluster's CA certificate (the root-CA publisher), which pods' service
//! account volumes project as `ca.crt`.

use super::runtime::{Action, Reconciler};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::{Kind, Object};

use svclab_shared::pod::ROOT_CA_CONFIGMAP;

pub struct ServiceAccountsController {
    registry: Registry,
    ca_pem: Arc<str>,
}

impl ServiceAccountsController {
    pub fn new(registry: Registry, ca_pem: &str) -> Self {
        ServiceAccountsController { registry, ca_pem: ca_pem.into() }
    }

    fn ensure_default_account(&self, ns: &str) -> Result<(), ApiError> {
        if self.registry.store().get(&ObjectKey::new(Kind::ServiceAccount, ns, "default")).is_some() {
            return Ok(());
        }
        let meta = ObjectMeta { name: Some("default".into()), namespace: Some(ns.into()), ..Default::default() };
        match self.registry.create(Object::ServiceAccount(ServiceAccount { metadata: meta, ..Default::default() })) {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn publish_root_ca(&self, ns: &str) -> Result<(), ApiError> {
        let data = [("ca.crt".to_string(), self.ca_pem.to_string())].into();
        let current = self.registry.store().get_typed::<ConfigMap>(ns, ROOT_CA_CONFIGMAP);
        let annotations = [(
            "kubernetes.io/description".to_string(),
            "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.".to_string(),
        )];
        match current {
            Some(cm) if cm.data.as_ref() == Some(&data) => Ok(()),
            Some(mut cm) => {
                cm.data = Some(data);
                self.registry.update(Object::ConfigMap(cm)).map(|_| ())
            }
            None => {
                let meta = ObjectMeta {
                    name: Some(ROOT_CA_CONFIGMAP.into()),
                    namespace: Some(ns.into()),
                    annotations: Some(annotations.into()),
                    ..Default::default()
                };
                let cm = ConfigMap { metadata: meta, data: Some(data), ..Default::default() };
                match self.registry.create(Object::ConfigMap(cm)) {
                    Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

impl Reconciler for ServiceAccountsController {
    fn name(&self) -> &'static str {
        "serviceaccount"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::Namespace(_) => vec![ObjectKey::of(object)],
            Object::ServiceAccount(_) if object.name() == "default" => {
                vec![ObjectKey::new(Kind::Namespace, "", object.namespace())]
            }
            Object::ConfigMap(_) if object.name() == ROOT_CA_CONFIGMAP => {
                vec![ObjectKey::new(Kind::Namespace, "", object.namespace())]
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let Some(ns) = self.registry.store().get_typed::<Namespace>("", &key.name) else {
            return Action::AwaitChange;
        };
        if ns.metadata.deletion_timestamp.is_some() {
            return Action::AwaitChange;
        }
        match self.ensure_default_account(&key.name).and_then(|()| self.publish_root_ca(&key.name)) {
            Ok(()) => Action::AwaitChange,
            Err(e) => {
                tracing::debug!(namespace = %key.name, error = %e, "serviceaccount controller");
                Action::RequeueAfter(Duration::from_millis(500))
            }
        }
    }
}

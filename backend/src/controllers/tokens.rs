//! kube-controller-manager's service account token controller: a Secret of type
//! `kubernetes.io/service-account-token` naming an account (`kubernetes.io/service-account.name`)
//! gets a long-lived token of that account, the cluster CA and the namespace (and the account's
//! uid as an annotation); one whose account does not exist, or no longer does, is deleted.

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use crate::tokens::{Bound, Issuer};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::{Kind, Object};

pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
pub const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

pub struct TokensController {
    registry: Registry,
    tokens: Arc<Issuer>,
    ca_pem: Arc<str>,
}

impl TokensController {
    pub fn new(registry: Registry, tokens: Arc<Issuer>, ca_pem: &str) -> Self {
        TokensController { registry, tokens, ca_pem: ca_pem.into() }
    }

    /// Fills `secret` for `account`: a token unless it holds one of this account (a token, once
    /// made, is kept: a new CA after a restart changes `ca.crt` only), the CA, the namespace.
    fn fill(&self, mut secret: Secret, account: &ServiceAccount) -> Result<(), crate::error::ApiError> {
        let before = secret.clone();
        let ns = secret.metadata.namespace.clone().unwrap_or_default();
        let name = secret.metadata.name.clone().unwrap_or_default();
        let uid = account.metadata.uid.clone().unwrap_or_default();
        let data = secret.data.get_or_insert_with(Default::default);
        let current = data.get("token").map(|t| String::from_utf8_lossy(&t.0).into_owned());
        let holds = current.is_some_and(|t| self.tokens.legacy_claims(&t).is_ok_and(|c| c.account_uid == uid));
        if !holds {
            let account_ref = Bound { name: account.metadata.name.clone().unwrap_or_default(), uid: uid.clone() };
            let token = self.tokens.issue_legacy(&ns, &name, &account_ref);
            data.insert("token".into(), ByteString(token.into_bytes()));
        }
        data.insert("ca.crt".into(), ByteString(self.ca_pem.as_bytes().to_vec()));
        data.insert("namespace".into(), ByteString(ns.into_bytes()));
        secret.metadata.annotations.get_or_insert_with(Default::default).insert(UID_ANNOTATION.into(), uid);
        if secret == before {
            return Ok(());
        }
        self.registry.update(Object::Secret(secret)).map(|_| ())
    }
}

impl Reconciler for TokensController {
    fn name(&self) -> &'static str {
        "serviceaccount-token"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object {
            Object::Secret(s) if s.type_.as_deref() == Some(TOKEN_TYPE) => vec![ObjectKey::of(object)],
            // An account's secrets follow it (deleted with it, refilled when it is made again).
            Object::ServiceAccount(_) => {
                let ns = object.namespace();
                let secrets = self.registry.store().list_typed::<Secret>(Some(ns));
                secrets
                    .iter()
                    .filter(|s| s.type_.as_deref() == Some(TOKEN_TYPE))
                    .filter(|s| {
                        s.metadata.annotations.as_ref().and_then(|a| a.get(NAME_ANNOTATION)).map(String::as_str)
                            == Some(object.name())
                    })
                    .map(|s| ObjectKey::new(Kind::Secret, ns, s.metadata.name.as_deref().unwrap_or_default()))
                    .collect()
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let store = self.registry.store();
        let Some(secret) = store.get_typed::<Secret>(&key.namespace, &key.name) else { return Action::AwaitChange };
        if secret.type_.as_deref() != Some(TOKEN_TYPE) || secret.metadata.deletion_timestamp.is_some() {
            return Action::AwaitChange;
        }
        let annotations = secret.metadata.annotations.clone().unwrap_or_default();
        let account_name = annotations.get(NAME_ANNOTATION).cloned().unwrap_or_default();
        let account = store.get_typed::<ServiceAccount>(&key.namespace, &account_name);
        // The uid a secret names must be its account's: one made for an earlier account of the
        // same name goes, as the account it was made for did.
        let stale =
            |a: &ServiceAccount| annotations.get(UID_ANNOTATION).is_some_and(|u| Some(u) != a.metadata.uid.as_ref());
        let result = match account {
            Some(account) if !stale(&account) => self.fill(secret, &account),
            _ => match self.registry.delete(key, None) {
                Err(crate::error::ApiError::NotFound { .. }) => Ok(()),
                other => other.map(|_| ()),
            },
        };
        match result {
            Ok(()) => Action::AwaitChange,
            Err(e) => {
                tracing::debug!(secret = %key.name, error = %e, "serviceaccount-token controller");
                Action::RequeueAfter(Duration::from_millis(500))
            }
        }
    }
}

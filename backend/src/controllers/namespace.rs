//! The namespace controller: a namespace being deleted (`Terminating`) has what is left in it
//! deleted, and goes once it is empty; pods still shutting down, or objects a finalizer holds,
//! keep it `Terminating` until they are gone.

use super::runtime::{Action, Reconciler, outcome};
use crate::registry::Registry;
use crate::store::ObjectKey;
use std::time::Duration;
use svclab_shared::{Kind, Object};

pub struct NamespaceController {
    registry: Registry,
}

impl NamespaceController {
    pub fn new(registry: Registry) -> Self {
        NamespaceController { registry }
    }

    fn terminating(&self, name: &str) -> bool {
        let key = ObjectKey::new(Kind::Namespace, "", name);
        self.registry.store().get(&key).is_some_and(|ns| ns.metadata().deletion_timestamp.is_some())
    }
}

impl Reconciler for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace-controller"
    }

    /// A terminating namespace, when it or anything in it changes.
    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        let name = match object.kind() {
            Kind::Namespace => object.name(),
            kind if kind.namespaced() => object.namespace(),
            _ => return vec![],
        };
        if self.terminating(name) { vec![ObjectKey::new(Kind::Namespace, "", name)] } else { vec![] }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let result = self.registry.finish_namespace(&key.name);
        // Content still going: its changes bring the namespace back; a check now and then too.
        outcome(self.name(), key, result.map(|gone| (!gone).then_some(Duration::from_secs(1))))
    }
}

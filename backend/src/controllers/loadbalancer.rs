//! The load-balancer provisioner (a cloud controller's service controller): gives each
//! `LoadBalancer` service an address from a pool and writes it to `status.loadBalancer.ingress`
//! (the EXTERNAL-IP column), and takes it back when the service changes type or goes. When the
//! environment supports no load balancers (like Minikube without a tunnel) it does nothing, and
//! the service stays `<pending>` while working as a NodePort service. A service whose
//! `loadBalancerClass` names another implementation is left to it, as the cloud's controller
//! leaves it (it stays `<pending>` until that implementation writes its status).

use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use svclab_shared::service::ServiceType;
use svclab_shared::{Kind, Object};

/// The cloud's address pool: addresses .1 to .254 of one network, handed to load-balancer
/// Services and to Gateways (one pool, so they never collide).
#[derive(Clone)]
pub struct AddressPool {
    network: Ipv4Addr,
    assigned: Arc<Mutex<BTreeMap<ObjectKey, Ipv4Addr>>>,
}

impl AddressPool {
    pub fn new(network: Ipv4Addr) -> Self {
        AddressPool { network, assigned: Arc::default() }
    }

    fn in_pool(&self, ip: Ipv4Addr) -> bool {
        ip.octets()[..3] == self.network.octets()[..3] && !matches!(ip.octets()[3], 0 | 255)
    }

    /// The address of `key`: the one it has, else `current` (the one its status shows, after a
    /// restart) when free, else the first free one; `None` when the pool is exhausted.
    pub fn allocate(&self, key: &ObjectKey, current: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ip) = assigned.get(key) {
            return Some(*ip);
        }
        let taken = |ip: &Ipv4Addr, assigned: &BTreeMap<ObjectKey, Ipv4Addr>| assigned.values().any(|a| a == ip);
        let ip = current.filter(|ip| self.in_pool(*ip) && !taken(ip, &assigned)).or_else(|| {
            let [a, b, c, _] = self.network.octets();
            (1..=254).map(|d| Ipv4Addr::new(a, b, c, d)).find(|ip| !taken(ip, &assigned))
        })?;
        assigned.insert(key.clone(), ip);
        Some(ip)
    }

    /// Gives `key`'s address back.
    pub fn release(&self, key: &ObjectKey) {
        self.assigned.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

pub struct LoadBalancerController {
    registry: Registry,
    pool: AddressPool,
}

impl LoadBalancerController {
    pub fn new(registry: Registry, pool: AddressPool) -> Self {
        LoadBalancerController { registry, pool }
    }
}

fn ingress_ip(svc: &Service) -> Option<Ipv4Addr> {
    let ingress = svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?;
    ingress.first()?.ip.as_deref()?.parse().ok()
}

impl Reconciler for LoadBalancerController {
    fn name(&self) -> &'static str {
        "service-lb-controller"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        if object.kind() == Kind::Service { vec![ObjectKey::of(object)] } else { vec![] }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let svc = self.registry.store().get_typed::<Service>(&key.namespace, &key.name);
        let spec = svc.as_ref().and_then(|s| s.spec.as_ref());
        let is_lb = spec.is_some_and(|s| ServiceType::of(s) == ServiceType::LoadBalancer);
        let Some(svc) = svc else {
            self.pool.release(key);
            return Action::AwaitChange;
        };
        if is_lb && svc.spec.as_ref().is_some_and(|s| s.load_balancer_class.is_some()) {
            self.pool.release(key);
            return Action::AwaitChange;
        }
        let current = ingress_ip(&svc);
        let wanted = if is_lb {
            match self.pool.allocate(key, current) {
                Some(ip) => Some(ip),
                None => {
                    let msg =
                        "Error syncing load balancer: failed to ensure load balancer: the address pool is exhausted";
                    self.registry.record_event(
                        &Object::Service(svc),
                        "Warning",
                        "SyncLoadBalancerFailed",
                        msg,
                        "service-lb-controller",
                    );
                    return Action::RequeueAfter(Duration::from_secs(5));
                }
            }
        } else {
            self.pool.release(key);
            None
        };
        if wanted == current {
            return Action::AwaitChange;
        }
        let mut updated = svc.clone();
        let status = updated.status.get_or_insert_with(Default::default);
        status.load_balancer = Some(LoadBalancerStatus {
            ingress: wanted.map(|ip| {
                vec![LoadBalancerIngress {
                    ip: Some(ip.to_string()),
                    ip_mode: Some("VIP".into()),
                    ..Default::default()
                }]
            }),
        });
        if wanted.is_none() {
            status.conditions = None;
        }
        match self.registry.update_status(&Object::Service(updated)) {
            Ok(_) => {
                if let Some(ip) = wanted {
                    let object = Object::Service(svc);
                    let msg = format!("Ensured load balancer at {ip}");
                    self.registry.record_event(&object, "Normal", "EnsuredLoadBalancer", &msg, "service-lb-controller");
                }
                Action::AwaitChange
            }
            Err(_) => Action::RequeueAfter(Duration::from_millis(100)),
        }
    }
}

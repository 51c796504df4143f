//! The ingress controller's control loop: on every change to Ingresses, IngressClasses or Secrets
//! (from the store) and to Services or Endpoints (from the Services informer) it rebuilds the route table and the SNI certificates and publishes them
//! (the data path reads them without locks), writes `status.loadBalancer.ingress[].ip` on the
//! Ingresses it serves (and clears it from those it no longer serves), and reports bad TLS
//! configuration as events on the Ingress.

use super::certs::{self, Certificate, Certificates};
use super::routes::{Inputs, RouteTable, is_ours};
use crate::informer::Informer;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store::WatchItem;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressClass, IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use svclab_shared::{Kind, Object};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const COMPONENT: &str = "nginx-ingress-controller";

/// What the data path reads.
pub struct Published {
    pub routes: watch::Sender<Arc<dyn super::router::Router>>,
    pub certificates: watch::Sender<Arc<Certificates>>,
}

/// Loaded certificates by Secret, kept while the Secret's resourceVersion stays the same.
type CertCache = HashMap<(String, String), (String, Result<Certificate, SecretProblem>)>;

/// Why a Secret named by an Ingress gives no certificate, in ingress-nginx's words.
#[derive(Clone, Debug, thiserror::Error)]
enum SecretProblem {
    #[error("local SSL certificate {0} was not found")]
    NotFound(String),
    #[error("no keypair could be found in {0}")]
    NoKeypair(String),
    #[error(transparent)]
    Certificate(#[from] certs::CertError),
}

/// The kinds the controller watches itself; Services and Endpoints come from the informer.
fn relevant(kind: Kind) -> bool {
    matches!(kind, Kind::Ingress | Kind::IngressClass | Kind::Secret)
}

/// What the controller is fed: its own kinds from the store, Services and Endpoints from the
/// Services informer.
pub struct Sources {
    pub registry: Registry,
    pub informer: Informer,
    pub metrics: Arc<Metrics>,
}

/// Runs until `cancel` fires.
pub async fn run(sources: Sources, address: String, published: Published, cancel: CancellationToken) {
    let Sources { registry, informer, metrics } = sources;
    let store = registry.store().clone();
    let mut watch = store.watch();
    let mut updates = informer.subscribe();
    let mut cache = CertCache::new();
    let mut reported: HashSet<(String, String)> = HashSet::new();
    loop {
        let services_changed = tokio::select! {
            batch = watch.next_batch(&cancel) => {
                let Some(batch) = batch else { return };
                let touched = batch.iter().any(|item| match item {
                    WatchItem::Relist { .. } => true,
                    WatchItem::Change(change) => relevant(change.object.kind()),
                });
                if !touched {
                    continue;
                }
                Vec::new()
            }
            batch = updates.next_batch(&cancel) => {
                let Some(batch) = batch else { return };
                batch
            }
        };
        let ingresses: Vec<Ingress> = store.list_typed(None);
        let classes: Vec<IngressClass> = store.list_typed(None);
        let inputs = Inputs { ingresses: &ingresses, classes: &classes, services: &informer };
        published.routes.send_replace(Arc::new(RouteTable::build(&inputs)));
        for update in &services_changed {
            update.programmed(&metrics.ingress_programming);
        }
        let (certificates, problems) = certificates(&registry, &ingresses, &classes, &mut cache);
        published.certificates.send_replace(Arc::new(certificates));
        for (ingress, message) in problems {
            let uid = ingress.metadata.uid.clone().unwrap_or_default();
            if reported.insert((uid, message.clone())) {
                registry.record_event(&Object::Ingress(ingress), "Warning", "BadCertificate", &message, COMPONENT);
            }
        }
        for ingress in &ingresses {
            let served = is_ours(ingress, &classes);
            write_status(&registry, ingress, served.then_some(address.as_str()));
            let uid = ingress.metadata.uid.clone().unwrap_or_default();
            if served && reported.insert((uid, String::new())) {
                let object = Object::Ingress(ingress.clone());
                registry.record_event(&object, "Normal", "Sync", "Scheduled for sync", COMPONENT);
            }
        }
    }
}

/// Sets (or, with `None`, clears) an Ingress's load-balancer address when it differs.
pub fn write_status(registry: &Registry, ingress: &Ingress, address: Option<&str>) {
    let current = ingress.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.clone());
    let wanted = address.map(|ip| vec![IngressLoadBalancerIngress { ip: Some(ip.to_string()), ..Default::default() }]);
    if current.as_ref().filter(|c| !c.is_empty()) == wanted.as_ref() {
        return;
    }
    let mut updated = ingress.clone();
    updated.status = Some(IngressStatus { load_balancer: Some(IngressLoadBalancerStatus { ingress: wanted }) });
    if let Err(e) = registry.update_status(&Object::Ingress(updated)) {
        tracing::debug!(error = %e, "ingress: status write lost a race; the next change retries");
    }
}

/// The certificate for every TLS host of the Ingresses served, oldest Ingress first, and what
/// went wrong on the way (the default certificate is served instead).
fn certificates(
    registry: &Registry,
    ingresses: &[Ingress],
    classes: &[IngressClass],
    cache: &mut CertCache,
) -> (Certificates, Vec<(Ingress, String)>) {
    let mut ours: Vec<&Ingress> = ingresses.iter().filter(|i| is_ours(i, classes)).collect();
    ours.sort_by_key(|i| i.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let mut out = Certificates::default();
    let mut problems = Vec::new();
    for ingress in ours {
        let ns = ingress.metadata.namespace.clone().unwrap_or_default();
        let spec = ingress.spec.clone().unwrap_or_default();
        let rule_hosts: Vec<String> = spec.rules.iter().flatten().filter_map(|r| r.host.clone()).collect();
        for tls in spec.tls.iter().flatten() {
            let Some(secret_name) = tls.secret_name.clone().filter(|s| !s.is_empty()) else { continue };
            let id = format!("{ns}/{secret_name}");
            let loaded = load_secret(registry, &ns, &secret_name, cache);
            let cert = match loaded {
                Ok(c) => c,
                Err(e) => {
                    problems.push((
                        ingress.clone(),
                        format!("Error getting SSL certificate \"{id}\": {e}. Using default certificate"),
                    ));
                    continue;
                }
            };
            let hosts = tls.hosts.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| rule_hosts.clone());
            for host in hosts {
                let host = host.to_ascii_lowercase();
                if !certs::covers(&cert.names, &host) {
                    problems.push((
                        ingress.clone(),
                        format!(
                            "SSL certificate \"{id}\" does not contain a Common Name or Subject Alternative Name for server \"{host}\" (it is valid for {}). Using default certificate",
                            cert.names.join(", ")
                        ),
                    ));
                    continue;
                }
                let slot = match host.strip_prefix("*.") {
                    Some(parent) => out.wildcards.entry(parent.to_string()),
                    None => out.by_host.entry(host),
                };
                slot.or_insert_with(|| cert.key.clone());
            }
        }
    }
    (out, problems)
}

fn load_secret(registry: &Registry, ns: &str, name: &str, cache: &mut CertCache) -> Result<Certificate, SecretProblem> {
    let Some(secret) = registry.store().get_typed::<Secret>(ns, name) else {
        cache.remove(&(ns.to_string(), name.to_string()));
        return Err(SecretProblem::NotFound(format!("{ns}/{name}")));
    };
    let version = secret.metadata.resource_version.clone().unwrap_or_default();
    let key = (ns.to_string(), name.to_string());
    if let Some((v, loaded)) = cache.get(&key)
        && *v == version
    {
        return loaded.clone();
    }
    let loaded = match certs::from_secret(&secret) {
        Some(loaded) => loaded.map_err(SecretProblem::from),
        None => Err(SecretProblem::NoKeypair(format!("{ns}/{name}"))),
    };
    cache.insert(key, (version, loaded.clone()));
    loaded
}

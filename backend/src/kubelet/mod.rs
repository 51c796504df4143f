//! The kubelet: one per node. It runs the pods bound to its node as sandboxes whose containers are
//! built-in programs on real loopback sockets, gives each pod an address from the node's pod
//! subnet, puts it on the virtual network, and reports pod and node status.

mod access_log;
mod config;
pub mod container;
pub mod envvars;
pub mod exec;
pub mod fs;
pub mod grpc;
pub mod images;
mod kubia;
pub mod lease;
pub mod logs;
mod prober;
mod sandbox;
pub mod status;
mod worker;

pub use sandbox::{PodSandbox, Sandboxes, ServiceEnv};

use crate::controllers::runtime::{Action, Reconciler};
use crate::network::Network;
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{Pod, Service};
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::{Kind, Object};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Kubelet {
    node: String,
    node_ip: Ipv4Addr,
    subnet: [u8; 3],
    used_ips: BTreeSet<u8>,
    /// Addresses that stored pods of this node held when svclab last ran, kept for them until
    /// they start again (or are gone), so a restart does not shuffle pod IPs.
    claimed: HashMap<u8, ObjectKey>,
    last_ip: u8,
    registry: Registry,
    network: Network,
    sandboxes: Sandboxes,
    /// Whether this kubelet is up; the lab can stop it (the node goes NotReady).
    up: Arc<std::sync::atomic::AtomicBool>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// What signs the tokens of pods' service account volumes, and those it holds.
    tokens: Tokens,
}

impl Kubelet {
    pub fn new(
        index: u8,
        registry: Registry,
        network: Network,
        sandboxes: Sandboxes,
        tracker: TaskTracker,
        cancel: CancellationToken,
        tokens: Tokens,
    ) -> Self {
        let plan = network.plan();
        let node = format!("node-{index}");
        let subnet = plan.pod_subnet(index);
        let claimed = registry
            .store()
            .list_views::<Pod>(None)
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str()))
            .filter_map(|p| {
                let ip = stored_ip(p).filter(|ip| ip.octets()[..3] == subnet)?;
                Some((ip.octets()[3], pod_key(p)))
            })
            .collect();
        Kubelet {
            up: sandboxes.kubelet_flag(&node),
            node,
            node_ip: plan.node_ip(index),
            subnet,
            // The ingress controller's address, on node 1, is taken.
            used_ips: match plan.ingress_controller_ip().octets() {
                [a, b, c, d] if [a, b, c] == subnet => BTreeSet::from([d]),
                _ => BTreeSet::new(),
            },
            claimed,
            last_ip: 1,
            registry,
            network,
            sandboxes,
            tracker,
            cancel,
            tokens,
        }
    }

    /// Marks the node Ready with its addresses and capacity, as a kubelet does when it starts,
    /// and starts renewing the node's lease.
    pub fn register_node(&self) -> Result<(), crate::error::ApiError> {
        post_node_ready(&self.registry, &self.node, self.node_ip)?;
        let lease = lease::run(self.registry.clone(), self.node.clone(), self.up.clone(), self.cancel.clone());
        self.tracker.spawn(lease);
        Ok(())
    }

    /// The address a pod held before svclab restarted, if it is still free; else the next free
    /// address after the last one handed out, as host-local IPAM does, so that a deleted pod's
    /// address is not reused at once.
    fn allocate_ip(&mut self, pod: &Pod) -> Option<Ipv4Addr> {
        let key = pod_key(pod);
        self.claimed.retain(|_, k| *k != key);
        let before = stored_ip(pod).filter(|ip| ip.octets()[..3] == self.subnet).map(|ip| ip.octets()[3]);
        if let Some(n) =
            before.filter(|n| (2..=254).contains(n) && !self.used_ips.contains(n) && !self.claimed.contains_key(n))
        {
            self.used_ips.insert(n);
            let [a, b, c] = self.subnet;
            return Some(Ipv4Addr::new(a, b, c, n));
        }
        let after = (self.last_ip + 1..=254).chain(2..=self.last_ip);
        let last = after.into_iter().find(|n| !self.used_ips.contains(n) && !self.claimed.contains_key(n))?;
        self.used_ips.insert(last);
        self.last_ip = last;
        let [a, b, c] = self.subnet;
        Some(Ipv4Addr::new(a, b, c, last))
    }

    fn deps(&self, pod: &Pod) -> worker::Deps {
        worker::Deps {
            registry: self.registry.clone(),
            network: self.network.clone(),
            tracker: self.tracker.clone(),
            node: self.node.clone(),
            node_ip: self.node_ip,
            storage: self.sandboxes.storage.clone(),
            pod: Arc::new(Object::Pod(pod.clone())),
            tokens: self.tokens.clone(),
        }
    }

    /// Tells a running pod that an object its configuration reads changed.
    fn config_changed(&self, sandbox: &PodSandbox) {
        let Some(pod) = self.registry.store().get_typed::<Pod>(&sandbox.namespace, &sandbox.name) else { return };
        let lookup = ApiLookup { store: self.registry.store(), node: &self.node, tokens: &self.tokens };
        sandbox.config_changed(&pod, self.node_ip, &lookup);
    }

    fn is_mine(&self, object: &Object) -> bool {
        object.downcast::<Pod>().and_then(|p| p.spec.as_ref()?.node_name.as_deref()) == Some(self.node.as_str())
    }

    /// Maps the pod's host ports on the node's address to its own, as the CNI portmap plugin
    /// does when the sandbox's network is set up; each mapping ends with the sandbox. A port
    /// still held (by a pod just stopped on this node, or something else on the machine) is
    /// tried again every half second, with one `FailedCreatePodSandBox` event saying why.
    fn map_host_ports(&self, sandbox: &PodSandbox, pod: &Pod) {
        for (host_port, port, protocol) in sandbox.host_ports() {
            let host = std::net::SocketAddrV4::new(self.node_ip, host_port);
            let to = std::net::SocketAddrV4::new(sandbox.ip, port);
            let (network, registry, stop) = (self.network.clone(), self.registry.clone(), sandbox.cancelled());
            let (tracker, object) = (self.tracker.clone(), Object::Pod(pod.clone()));
            self.tracker.spawn(async move {
                let mut reported = false;
                while let Err(e) = network.map_host_port(host, to, protocol, stop.clone(), &tracker) {
                    if !reported {
                        let msg = format!(
                            "Failed to create pod sandbox: plugin type=\"portmap\" failed (add): cannot open hostport {host_port}/{protocol} on {}: {e}",
                            host.ip()
                        );
                        registry.record_event(&object, "Warning", "FailedCreatePodSandBox", &msg, "kubelet");
                        reported = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            });
        }
    }

    fn stop(&mut self, sandbox: Arc<PodSandbox>) {
        sandbox.stop();
        self.network.detach_pod(sandbox.ip);
        self.used_ips.remove(&sandbox.ip.octets()[3]);
        self.sandboxes.remove(&sandbox.namespace, &sandbox.name);
    }

    async fn start(&mut self, pod: &Pod) -> Action {
        let Some(ip) = self.allocate_ip(pod) else {
            let msg = "failed to allocate an address for the pod: the node's pod subnet is full";
            self.registry.record_event(&Object::Pod(pod.clone()), "Warning", "FailedCreatePodSandBox", msg, "kubelet");
            return Action::RequeueAfter(Duration::from_secs(1));
        };
        let store = self.registry.store();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        // The services that exist now are the ones whose variables the containers get.
        let links = spec.enable_service_links.unwrap_or(true);
        let linked = if links { store.list_views::<Service>(Some(&namespace)) } else { vec![] };
        let master = store
            .list_views::<Service>(Some("default"))
            .into_iter()
            .find(|s| s.metadata.name.as_deref() == Some("kubernetes"));
        let env = ServiceEnv { linked, master };
        let sandbox = Arc::new(PodSandbox::new(
            pod,
            ip,
            (&self.node, self.node_ip),
            env,
            self.network.clone(),
            self.up.clone(),
            self.cancel.child_token(),
        ));
        if ran_before(pod) {
            // The pod's containers ran when svclab stopped: as after a node reboot, the sandbox
            // is made again and each container that ran counts a restart.
            let message = "Pod sandbox changed, it will be killed and re-created.";
            self.registry.record_event(&Object::Pod(pod.clone()), "Normal", "SandboxChanged", message, "kubelet");
            for container in &sandbox.containers {
                let before = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
                if let Some(before) = before.into_iter().flatten().find(|s| s.name == container.name()) {
                    container.resume_after_reboot(before);
                }
            }
        }
        self.network.attach_pod(ip);
        self.map_host_ports(&sandbox, pod);
        // Pending, ContainerCreating: the sandbox has its address, the containers start next.
        let mut creating = pod.clone();
        creating.status = Some(status::pod_status(pod, &sandbox, self.node_ip));
        if let Err(e) = self.registry.update_status(&Object::Pod(creating)) {
            tracing::debug!(error = %e, "pod changed while starting; the status writer catches up");
        }
        self.sandboxes.insert(sandbox.clone());
        worker::start_pod(&sandbox, &self.deps(pod));
        Action::AwaitChange
    }
}

/// The API's objects as the pods' configuration reads them.
pub(crate) struct ApiLookup<'a> {
    pub store: &'a crate::store::Store,
    pub node: &'a str,
    pub tokens: &'a Tokens,
}

/// The kubelet's side of pods' tokens: the issuer it asks, and the tokens it holds, by pod uid,
/// audience and lifetime, each until it is due for rotation (as the kubelet rotates at 80% of a
/// token's life, and after a day at most), so that rewriting a pod's projected volumes does not
/// make a token each time.
/// A held token's pod uid, audiences and requested lifetime.
type HeldKey = (String, String, i64);

#[derive(Clone)]
pub struct Tokens {
    issuer: Arc<crate::tokens::Issuer>,
    held: Arc<std::sync::Mutex<HashMap<HeldKey, (String, i64)>>>,
}

impl Tokens {
    pub fn new(issuer: Arc<crate::tokens::Issuer>) -> Tokens {
        Tokens { issuer, held: Arc::default() }
    }

    /// The token held for `grant`'s pod, audience and lifetime, or a new one.
    fn for_pod(&self, grant: &crate::tokens::Grant, requested: i64) -> String {
        let pod = grant.bound.as_ref().map(|(_, b)| b.uid.clone()).unwrap_or_default();
        let key = (pod, grant.audiences.join(","), requested);
        let now = jiff::Timestamp::now().as_second();
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, _)) = held.get(&key).filter(|(_, due)| *due > now) {
            return token.clone();
        }
        let (token, _) = self.issuer.issue(grant);
        held.retain(|_, (_, due)| *due > now);
        held.insert(key, (token.clone(), now + (requested * 4 / 5).min(24 * 3600)));
        token
    }
}

/// The lifetime the kubelet asks for a pod's token, which kube-apiserver stretches to a year
/// (`--service-account-extend-token-expiration`, on by default) so a running pod keeps a
/// working token while the kubelet has not yet rotated it.
const KUBELET_TOKEN_SECONDS: i64 = 3607;
const EXTENDED_TOKEN_SECONDS: i64 = 365 * 24 * 3600;

impl config::Lookup for ApiLookup<'_> {
    fn config_map(&self, namespace: &str, name: &str) -> Option<k8s_openapi::api::core::v1::ConfigMap> {
        self.store.get_typed(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<k8s_openapi::api::core::v1::Secret> {
        self.store.get_typed(namespace, name)
    }

    fn claim_volume(&self, namespace: &str, claim: &str) -> Result<String, config::ConfigError> {
        use k8s_openapi::api::core::v1::PersistentVolumeClaim;
        let pvc = self.store.get_typed::<PersistentVolumeClaim>(namespace, claim);
        let pvc =
            pvc.ok_or_else(|| config::ConfigError::NotFound { kind: "persistentvolumeclaim", name: claim.into() })?;
        let volume = pvc.spec.and_then(|s| s.volume_name).filter(|v| !v.is_empty());
        volume.ok_or_else(|| config::ConfigError::Unbound(claim.into()))
    }

    fn allocatable(
        &self,
    ) -> std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
        let node = self.store.get_typed::<k8s_openapi::api::core::v1::Node>("", self.node);
        node.and_then(|n| n.status?.allocatable).unwrap_or_default()
    }

    fn service_account_token(
        &self,
        pod: &Pod,
        audience: Option<&str>,
        seconds: i64,
    ) -> Result<String, config::ConfigError> {
        use crate::tokens::{Bound, Grant};
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
        let account = self.store.get_typed::<k8s_openapi::api::core::v1::ServiceAccount>(&ns, &name);
        let account = account.ok_or_else(|| config::ConfigError::NoServiceAccount(name.clone()))?;
        let requested = seconds;
        let seconds = if seconds == KUBELET_TOKEN_SECONDS { EXTENDED_TOKEN_SECONDS } else { seconds };
        let grant = Grant {
            namespace: ns,
            account: Bound { name, uid: account.metadata.uid.unwrap_or_default() },
            audiences: vec![audience.map_or_else(|| self.tokens.issuer.url.clone(), str::to_string)],
            seconds,
            bound: Some((
                "Pod".into(),
                Bound {
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    uid: pod.metadata.uid.clone().unwrap_or_default(),
                },
            )),
        };
        Ok(self.tokens.for_pod(&grant, requested))
    }
}

fn pod_key(pod: &Pod) -> ObjectKey {
    let (ns, name) = (pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref());
    ObjectKey::new(Kind::Pod, ns.unwrap_or_default(), name.unwrap_or_default())
}

/// The address the stored pod's status gives it.
fn stored_ip(pod: &Pod) -> Option<Ipv4Addr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

/// Whether a stored pod's containers had started: its sandbox is being made again.
fn ran_before(pod: &Pod) -> bool {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses.into_iter().flatten().any(|s| {
        s.restart_count > 0 || s.state.as_ref().is_some_and(|st| st.running.is_some() || st.terminated.is_some())
    })
}

/// A kubelet's "node is Ready" status report.
pub fn post_node_ready(registry: &Registry, node: &str, ip: Ipv4Addr) -> Result<(), crate::error::ApiError> {
    // Retried on conflicts: controllers may be writing the node (its taints) at the same time.
    let mut attempts = 0;
    loop {
        let current = registry.store().get_typed::<k8s_openapi::api::core::v1::Node>("", node);
        let current = current.ok_or_else(|| crate::error::ApiError::not_found(Kind::Node, node))?;
        match registry.update_status(&Object::Node(status::node_ready(current, ip))) {
            Err(crate::error::ApiError::Conflict { .. }) if attempts < 10 => attempts += 1,
            other => return other.map(|_| ()),
        }
    }
}

impl Reconciler for Kubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn keys_for(&self, object: &Object, old: Option<&Object>) -> Vec<ObjectKey> {
        if matches!(object.kind(), Kind::ConfigMap | Kind::Secret | Kind::PersistentVolumeClaim) {
            // What the running pods of the namespace read may have changed: their projected
            // volumes are written again and what waits for such an object looks again. Done
            // here, on such changes only, not on every pod status write.
            let ns = object.namespace();
            for sandbox in self.sandboxes.on_node(&self.node).into_iter().filter(|s| s.namespace == ns) {
                self.config_changed(&sandbox);
            }
            return vec![];
        }
        // The downward API's labels and annotations follow the pod's.
        if let (Object::Pod(pod), Some(Object::Pod(before))) = (object, old)
            && (pod.metadata.labels != before.metadata.labels
                || pod.metadata.annotations != before.metadata.annotations)
            && let Some(sandbox) = self.sandboxes.get(object.namespace(), object.name())
        {
            self.config_changed(&sandbox);
        }
        let mine = self.is_mine(object) || old.is_some_and(|o| self.is_mine(o));
        if mine { vec![ObjectKey::of(object)] } else { vec![] }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        if !self.up.load(std::sync::atomic::Ordering::SeqCst) {
            // A stopped kubelet does nothing; it catches up when it starts again.
            return Action::RequeueAfter(Duration::from_millis(500));
        }
        let pod = self.registry.store().get_typed::<Pod>(&key.namespace, &key.name);
        let running = self.sandboxes.get(&key.namespace, &key.name);
        let pod = pod.filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(self.node.as_str()));
        match (pod, running) {
            (None, Some(sandbox)) => {
                self.stop(sandbox);
                Action::AwaitChange
            }
            (Some(pod), Some(sandbox)) if pod.metadata.uid.as_deref() != Some(sandbox.uid.as_str()) => {
                self.stop(sandbox);
                self.start(&pod).await
            }
            (Some(pod), Some(sandbox)) if pod.metadata.deletion_timestamp.is_some() => {
                if sandbox.begin_termination() {
                    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as u64;
                    let deps = self.deps(&pod);
                    self.tracker.spawn(worker::terminate(sandbox, deps, Duration::from_secs(grace)));
                }
                Action::AwaitChange
            }
            (Some(pod), None) if pod.metadata.deletion_timestamp.is_some() => {
                // Marked for deletion before it ever ran: nothing to stop.
                let _ = self.registry.delete_now(key, None);
                Action::AwaitChange
            }
            (Some(pod), Some(sandbox)) => {
                let ephemeral = pod.spec.as_ref().and_then(|s| s.ephemeral_containers.as_ref()).map_or(0, Vec::len);
                if ephemeral > sandbox.ephemeral().len() {
                    worker::start_ephemeral(&sandbox, &pod, &self.deps(&pod));
                }
                if sandbox.redefine(&pod) {
                    sandbox.status_changed();
                }
                // The sandbox runs; if the status the API shows was overwritten, report it again.
                if pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()) != Some(sandbox.pod_ip.to_string().as_str()) {
                    sandbox.status_changed();
                }
                Action::AwaitChange
            }
            // A pod that finished before svclab stopped stays as it was.
            (Some(pod), None) if svclab_shared::pod::is_finished(&pod) => Action::AwaitChange,
            (Some(pod), None) => self.start(&pod).await,
            (None, None) => {
                self.claimed.retain(|_, k| k != key);
                Action::AwaitChange
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tokens;
    use crate::tokens::{Bound, Grant, Issuer};
    use std::sync::Arc;

    #[test]
    fn a_pods_token_is_held_until_it_is_due_for_rotation() {
        let tokens = Tokens::new(Arc::new(Issuer::generate("cluster.local")));
        let grant = |pod: &str, audience: &str| Grant {
            namespace: "default".into(),
            account: Bound { name: "default".into(), uid: "a".into() },
            audiences: vec![audience.into()],
            seconds: 3600,
            bound: Some(("Pod".into(), Bound { name: pod.into(), uid: pod.into() })),
        };
        let first = tokens.for_pod(&grant("p1", "api"), 3607);
        assert_eq!(tokens.for_pod(&grant("p1", "api"), 3607), first, "held, not made again");
        assert_ne!(tokens.for_pod(&grant("p1", "vault"), 3607), first, "another audience, another token");
        assert_ne!(tokens.for_pod(&grant("p2", "api"), 3607), first, "another pod's");
        // A lifetime so short it is due at once is made anew.
        let short = tokens.for_pod(&grant("p3", "api"), 0);
        assert_ne!(tokens.for_pod(&grant("p3", "api"), 0), short);
    }
}

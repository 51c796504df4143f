//! A pod sandbox: the running pod's identity, address, environment, containers and the
//! cancellation that stops them; and the table of sandboxes that exec looks pods up in.

use super::config::{PodVolumes, Storage};
use super::container::ContainerRuntime;
use super::fs::Fs;
use crate::addr::Protocol;
use crate::network::Network;
use crate::store::View;
use k8s_openapi::api::core::v1::{Pod, Service};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use tokio_util::sync::CancellationToken;

/// The services a pod's environment describes, kept as shared views of the Service objects as
/// they were when the pod started (rendering the variables only when a process asks keeps a
/// pod's footprint small in namespaces with many services).
#[derive(Default)]
pub struct ServiceEnv {
    pub linked: Vec<View<Service>>,
    /// The `kubernetes` service, whose variables every pod gets.
    pub master: Option<View<Service>>,
}

/// One running pod.
pub struct PodSandbox {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub hostname: String,
    /// Its attachment to the virtual network, where its containers listen.
    pub ip: Ipv4Addr,
    /// The address it reports (`status.podIP`) and sends from: `ip`, or its node's with
    /// `hostNetwork` (whose ports the node maps to `ip`'s, see [`Self::host_ports`]).
    pub pod_ip: Ipv4Addr,
    pub host_network: bool,
    pub node: String,
    pub spec: k8s_openapi::api::core::v1::PodSpec,
    /// The pod's `metadata.generation` the kubelet acted on last (what it reports as observed):
    /// the one the sandbox was made from, or the last that added ephemeral containers or changed
    /// a container's image.
    generation: std::sync::Mutex<Option<i64>>,
    /// The services whose variables the containers get: those that existed when the pod started.
    pub service_env: ServiceEnv,
    pub network: Network,
    pub containers: Vec<Arc<ContainerRuntime>>,
    /// The init containers, in the order they run.
    pub init_containers: Vec<Arc<ContainerRuntime>>,
    /// The ephemeral containers started so far (`kubectl debug` adds them to the running pod).
    ephemeral: std::sync::Mutex<Vec<Arc<ContainerRuntime>>>,
    /// The pod's volumes, once set up.
    pub volumes: std::sync::OnceLock<PodVolumes>,
    /// Wakes what waits for the API's objects to change (a missing ConfigMap, say).
    config_changed: tokio::sync::Notify,
    /// Wakes the pod's status writer.
    status_changed: tokio::sync::Notify,
    /// Set once its graceful termination has begun.
    terminating: AtomicBool,
    /// Whether its node's kubelet is up: a stopped kubelet reports nothing.
    kubelet_up: Arc<AtomicBool>,
    cancel: CancellationToken,
}

impl PodSandbox {
    pub fn new(
        pod: &Pod,
        ip: Ipv4Addr,
        (node, node_ip): (&str, Ipv4Addr),
        service_env: ServiceEnv,
        network: Network,
        kubelet_up: Arc<AtomicBool>,
        cancel: CancellationToken,
    ) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let host_network = spec.host_network == Some(true);
        // On its node's network a pod has the node's name and address.
        let hostname = match host_network {
            true => node.to_string(),
            false => spec.hostname.clone().unwrap_or_else(|| name.clone()),
        };
        PodSandbox {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            hostname,
            name,
            ip,
            pod_ip: if host_network { node_ip } else { ip },
            host_network,
            node: node.to_string(),
            containers: spec.containers.iter().cloned().map(|c| Arc::new(ContainerRuntime::new(c))).collect(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .cloned()
                .map(|c| Arc::new(ContainerRuntime::new(c)))
                .collect(),
            ephemeral: std::sync::Mutex::default(),
            spec,
            generation: std::sync::Mutex::new(pod.metadata.generation),
            service_env,
            network,
            volumes: std::sync::OnceLock::new(),
            config_changed: tokio::sync::Notify::new(),
            status_changed: tokio::sync::Notify::new(),
            terminating: AtomicBool::new(false),
            kubelet_up,
            cancel,
        }
    }

    /// Fires when the pod stops; container programs stop with it.
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Marks the start of the pod's termination; false if it had begun already.
    pub fn begin_termination(&self) -> bool {
        !self.terminating.swap(true, Ordering::SeqCst)
    }

    /// Whether the node's kubelet is up to report this pod's status.
    pub fn kubelet_up(&self) -> bool {
        self.kubelet_up.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// A container, app, init or ephemeral, by name.
    pub fn container(&self, name: &str) -> Option<Arc<ContainerRuntime>> {
        let fixed = self.containers.iter().chain(&self.init_containers).find(|c| c.name() == name);
        fixed.cloned().or_else(|| self.ephemeral().into_iter().find(|c| c.name() == name))
    }

    /// The ephemeral containers started so far, in the order they were added.
    pub fn ephemeral(&self) -> Vec<Arc<ContainerRuntime>> {
        self.ephemeral.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The host ports its node maps to it: `(hostPort, containerPort, protocol)` of each
    /// container port with one (all of a `hostNetwork` pod's).
    pub fn host_ports(&self) -> Vec<(u16, u16, Protocol)> {
        let ports = svclab_shared::pod::host_ports(&self.spec).into_iter();
        ports.filter_map(|p| Some((p.host_port, p.container_port, Protocol::parse(Some(&p.protocol))?))).collect()
    }

    /// How the pod's processes dial `to`: from the address it reports, except its own
    /// `localhost`, which is its containers' (under `hostNetwork` too: they listen on the
    /// node's) and which they see as `127.0.0.1`.
    pub fn dial_to(&self, to: Ipv4Addr) -> crate::network::Dial {
        match to == Ipv4Addr::LOCALHOST {
            true => crate::network::Dial::loopback(self.ip),
            false => crate::network::Dial::from(self.pod_ip),
        }
    }

    /// The pod's generation the kubelet acted on last.
    pub fn generation(&self) -> Option<i64> {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ephemeral containers of `pod`'s spec not started yet, now added to the sandbox (whose
    /// observed generation becomes the pod's when there are any).
    pub fn add_ephemeral(&self, pod: &Pod) -> Vec<Arc<ContainerRuntime>> {
        let mut started = self.ephemeral.lock().unwrap_or_else(|e| e.into_inner());
        let specs = pod.spec.as_ref().and_then(|s| s.ephemeral_containers.as_ref());
        let mut added = Vec::new();
        for spec in specs.into_iter().flatten() {
            if started.iter().any(|c| c.name() == spec.name) {
                continue;
            }
            let container = Arc::new(ContainerRuntime::ephemeral(spec));
            started.push(container.clone());
            added.push(container);
        }
        if !added.is_empty() {
            *self.generation.lock().unwrap_or_else(|e| e.into_inner()) = pod.metadata.generation;
        }
        added
    }

    /// Takes the images `pod`'s spec now gives its containers and sidecars (init containers
    /// with `restartPolicy: Always`): each whose image changed gets the new definition (its
    /// worker restarts it), and the observed generation becomes the pod's. An init container that
    /// ran to completion is not run again, as the kubelet does not. True when any changed.
    pub fn redefine(&self, pod: &Pod) -> bool {
        let mut changed = false;
        for spec in pod.spec.iter().flat_map(|s| &s.containers) {
            if let Some(container) = self.containers.iter().find(|c| c.name() == spec.name) {
                changed |= container.redefine(spec);
            }
        }
        let sidecars = pod.spec.iter().flat_map(|s| s.init_containers.iter().flatten());
        for spec in sidecars.filter(|s| s.restart_policy.as_deref() == Some("Always")) {
            if let Some(container) = self.init_containers.iter().find(|c| c.name() == spec.name) {
                changed |= container.redefine(spec);
            }
        }
        if changed {
            *self.generation.lock().unwrap_or_else(|e| e.into_inner()) = pod.metadata.generation;
        }
        changed
    }

    /// Runs `f` on a container's filesystem.
    pub fn with_fs<R>(&self, container: &str, f: impl FnOnce(&mut Fs) -> R) -> R {
        match self.container(container) {
            Some(c) => c.with_fs(f),
            None => f(&mut Fs::default()),
        }
    }

    /// What PID 1 of a container runs, as `ps` shows it.
    pub fn main_command(&self, container: &str) -> String {
        let Some(c) = self.container(container) else { return String::new() };
        let definition = c.definition();
        let argv = super::images::main_argv(&definition);
        if argv.is_empty() { definition.program.entrypoint().to_string() } else { argv.join(" ") }
    }

    /// An object the pod's configuration reads changed: projected volumes are written again
    /// and what waits for one is woken.
    pub fn config_changed(&self, pod: &Pod, host_ip: Ipv4Addr, lookup: &dyn super::config::Lookup) {
        if let Some(volumes) = self.volumes.get() {
            let info = super::config::PodInfo { pod, pod_ip: self.ip, host_ip };
            if let Err(e) = volumes.refresh(&info, lookup) {
                tracing::debug!(pod = %self.name, error = %e, "volume not refreshed");
            }
        }
        self.config_changed.notify_waiters();
    }

    /// Waits until an object the configuration reads changes, at most `limit`; false when the
    /// pod stopped.
    pub async fn next_config_change(&self, limit: std::time::Duration) -> bool {
        let stop = self.cancel.clone();
        tokio::select! {
            _ = self.config_changed.notified() => true,
            _ = tokio::time::sleep(limit) => true,
            _ = stop.cancelled() => false,
        }
    }

    /// The variables of the service links (and the `kubernetes` service).
    pub fn service_variables(&self) -> Vec<(String, String)> {
        let linked = self.service_env.linked.iter().map(|s| &**s);
        super::envvars::service_env(linked, self.service_env.master.as_deref())
    }

    /// Tells the status writer that a container's state changed.
    pub fn status_changed(&self) {
        self.status_changed.notify_one();
    }

    /// Waits for [`Self::status_changed`].
    pub async fn next_status_change(&self) {
        self.status_changed.notified().await;
    }

    /// `/etc/resolv.conf` as the kubelet writes it for the pod's `dnsPolicy` and `dnsConfig`:
    /// the cluster DNS service and the search path of the pod's namespace for `ClusterFirst`, the
    /// node's own file for `Default`, only `dnsConfig` for `None`.
    pub fn resolv_conf(&self) -> String {
        let plan = self.network.plan();
        let domain = &plan.cluster_domain;
        let (mut servers, mut searches, mut options): ResolvConf =
            match self.spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
                "None" => (vec![], vec![], vec![]),
                // On the node's network, ClusterFirst falls back to the node's resolver (only
                // ClusterFirstWithHostNet asks the cluster's).
                "Default" => host_resolv_conf(),
                "ClusterFirst" if self.host_network => host_resolv_conf(),
                _ => (
                    vec![plan.dns_service_ip().to_string()],
                    vec![format!("{}.svc.{domain}", self.namespace), format!("svc.{domain}"), domain.clone()],
                    vec![("ndots".into(), Some("5".into()))],
                ),
            };
        if let Some(config) = &self.spec.dns_config {
            for server in config.nameservers.iter().flatten() {
                if !servers.contains(server) {
                    servers.push(server.clone());
                }
            }
            for search in config.searches.iter().flatten() {
                if !searches.contains(search) {
                    searches.push(search.clone());
                }
            }
            for option in config.options.iter().flatten() {
                let Some(name) = option.name.clone() else { continue };
                options.retain(|(n, _)| *n != name);
                options.push((name, option.value.clone()));
            }
        }
        let mut out = String::new();
        if !searches.is_empty() {
            out.push_str(&format!("search {}\n", searches.join(" ")));
        }
        for server in servers.iter().take(3) {
            out.push_str(&format!("nameserver {server}\n"));
        }
        if !options.is_empty() {
            let rendered: Vec<String> =
                options.iter().map(|(n, v)| v.as_ref().map_or(n.clone(), |v| format!("{n}:{v}"))).collect();
            out.push_str(&format!("options {}\n", rendered.join(" ")));
        }
        out
    }

    /// The environment a process in `container` sees, in the order `env` prints it.
    pub fn environment(&self, container: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_string(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()),
            ("HOSTNAME".to_string(), self.hostname.clone()),
        ];
        let own = self.container(container).map(|c| c.env()).unwrap_or_default();
        let names: std::collections::HashSet<String> = own.iter().map(|(k, _)| k.clone()).collect();
        env.extend(own);
        env.extend(self.service_variables().into_iter().filter(|(k, _)| !names.contains(k)));
        env.push(("HOME".to_string(), "/root".to_string()));
        env
    }

    /// `/etc/hosts` as the kubelet writes it.
    /// A pod with a subdomain (a StatefulSet's, say) has its fully qualified name first.
    pub fn etc_hosts(&self) -> String {
        let names = match self.spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                let domain = &self.network.plan().cluster_domain;
                format!("{}.{sub}.{}.svc.{domain}\t{}", self.hostname, self.namespace, self.hostname)
            }
            None => self.hostname.clone(),
        };
        format!(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{}\t{names}\n",
            self.pod_ip
        )
    }
}

/// The node's resolver configuration (this machine's `/etc/resolv.conf`), for `dnsPolicy: Default`.
type ResolvConf = (Vec<String>, Vec<String>, Vec<(String, Option<String>)>);

fn host_resolv_conf() -> ResolvConf {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (mut servers, mut searches, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(String::from)),
            Some("search") | Some("domain") => searches.extend(words.map(String::from)),
            Some("options") => options.extend(words.map(|o| match o.split_once(':') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (o.to_string(), None),
            })),
            _ => {}
        }
    }
    (servers, searches, options)
}

/// Namespace and name.
type PodName = (String, String);

/// Every running pod, by namespace and name, and whether each node's kubelet is up. Shared by
/// the kubelets, the exec endpoint and the lab's node switch.
#[derive(Clone, Default)]
pub struct Sandboxes {
    inner: Arc<RwLock<HashMap<PodName, Arc<PodSandbox>>>>,
    /// Volumes that outlive pods (claims', nodes' directories).
    pub storage: Storage,
    kubelets: Arc<RwLock<HashMap<String, Arc<AtomicBool>>>>,
}

impl Sandboxes {
    /// The flag saying whether `node`'s kubelet is up (reporting status, acting on pods).
    pub fn kubelet_flag(&self, node: &str) -> Arc<AtomicBool> {
        let mut map = self.kubelets.write().unwrap_or_else(|e| e.into_inner());
        map.entry(node.to_string()).or_insert_with(|| Arc::new(AtomicBool::new(true))).clone()
    }

    /// The running pods of a node.
    pub fn on_node(&self, node: &str) -> Vec<Arc<PodSandbox>> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|s| s.node == node).cloned().collect()
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<PodSandbox>> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(namespace.to_string(), name.to_string())).cloned()
    }

    pub(super) fn insert(&self, sandbox: Arc<PodSandbox>) {
        let key = (sandbox.namespace.clone(), sandbox.name.clone());
        self.inner.write().unwrap_or_else(|e| e.into_inner()).insert(key, sandbox);
    }

    pub(super) fn remove(&self, namespace: &str, name: &str) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.remove(&(namespace.to_string(), name.to_string()));
    }
}

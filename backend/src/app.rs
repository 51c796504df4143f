//! Wiring: builds the store and registry, bootstraps the cluster, spawns every component under
//! one cancellation token, and reports the addresses it actually bound (port 0 in tests).

use crate::api::{self, ApiState};
use crate::bootstrap;
use crate::ca::ClusterCa;
use crate::controllers::csrsigning::CsrSigningController;
use crate::controllers::endpointslices::EndpointSliceController;
use crate::controllers::loadbalancer::{AddressPool, LoadBalancerController};
use crate::controllers::{
    endpoints::EndpointsController, replication::ReplicationManager, runtime, scheduler::Scheduler,
};
use crate::dns::{self, DnsConfig};
use crate::gateway::GatewayController;
use crate::informer::Informer;
use crate::ingress::{IngressAddon, IngressConfig};
use crate::kubelet::{Kubelet, Sandboxes};
use crate::metrics::Metrics;
use crate::network::{AddressPlan, Network};
use crate::proxy::listeners::{Listeners, NodeAddr};
use crate::proxy::{self, ProxyTable, ServiceRouter};
use crate::registry::{ClusterIpAllocator, PortAllocator, Registry, ServiceAllocators};
use crate::store::{Location, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How to run svclab.
#[derive(Clone, Debug)]
pub struct Config {
    /// The API and dashboard address.
    pub listen: SocketAddr,
    /// The built dashboard (trunk's `dist`), if any.
    pub dashboard: Option<PathBuf>,
    pub nodes: u8,
    pub plan: AddressPlan,
    /// Whether the environment provides load balancers (`false`: they stay `<pending>`).
    pub load_balancers: bool,
    pub dns: DnsConfig,
    pub ingress: IngressConfig,
    /// Who may reach the API: hosts besides loopback names, and the token off loopback.
    pub access: crate::api::guard::Policy,
    /// Where the cluster's objects are kept.
    pub storage: Storage,
}

/// Where the cluster's objects are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Storage {
    /// In memory: gone when svclab stops (the tests' default).
    #[default]
    Memory,
    /// In a SQLite database that outlives svclab (the command's default).
    Durable(Location),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 7070).into(),
            dashboard: None,
            nodes: 3,
            plan: AddressPlan::default(),
            load_balancers: true,
            dns: DnsConfig::default(),
            ingress: IngressConfig::default(),
            access: crate::api::guard::Policy::default(),
            storage: Storage::Memory,
        }
    }
}

impl Config {
    /// Everything on free ports, for tests.
    pub fn ephemeral() -> Self {
        let dns = DnsConfig { listen: ([127, 0, 0, 1], 0).into(), ..DnsConfig::default() };
        let ingress = IngressConfig {
            http: ([127, 0, 0, 1], 0).into(),
            https: ([127, 0, 0, 1], 0).into(),
            ..IngressConfig::default()
        };
        Config { listen: ([127, 0, 0, 1], 0).into(), plan: AddressPlan::isolated(), dns, ingress, ..Config::default() }
    }
}

/// The issuer of service account tokens: its key kept beside a durable cluster's database.
fn token_issuer(storage: &Storage, domain: &str) -> anyhow::Result<crate::tokens::Issuer> {
    Ok(match storage {
        Storage::Memory => crate::tokens::Issuer::generate(domain),
        Storage::Durable(location) => crate::tokens::Issuer::load_or_create(&location.service_account_key(), domain)?,
    })
}

/// The cluster CA: kept beside a durable cluster's database, new for an ephemeral one.
fn cluster_ca(storage: &Storage) -> anyhow::Result<ClusterCa> {
    Ok(match storage {
        Storage::Memory => ClusterCa::generate(),
        Storage::Durable(location) => {
            let (cert, key) = location.cluster_ca();
            ClusterCa::load_or_create(&cert, &key)?
        }
    })
}

/// The TLS configuration of the API as pods reach it: a certificate from the cluster CA for the
/// `kubernetes` service's names and address (what `ca.crt` in a pod verifies).
fn api_tls(ca: &ClusterCa, plan: &AddressPlan) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let domain = &plan.cluster_domain;
    let names = vec![
        "kubernetes".to_string(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{domain}"),
        "localhost".into(),
        bootstrap::KUBERNETES_SERVICE_IP.into(),
        "127.0.0.1".into(),
    ];
    let (cert, key) = ca.serving(&names);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The cluster DNS address is held by something else.
#[derive(Debug, thiserror::Error)]
#[error("cluster DNS cannot listen on {0}: the address is in use")]
pub struct DnsAddressTaken(pub SocketAddr);

/// A running svclab.
pub struct App {
    /// Where the API and dashboard listen.
    pub api_addr: SocketAddr,
    /// Where cluster DNS listens (UDP and TCP).
    pub dns_addr: SocketAddr,
    pub registry: Registry,
    pub network: Network,
    /// The service proxy's routing: its current table.
    pub proxy: Arc<ServiceRouter>,
    pub sandboxes: Sandboxes,
    /// The ingress controller add-on (see [`IngressAddon::addresses`] for where it listens).
    pub ingress: IngressAddon,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl App {
    /// Opens the store, binds the listeners, bootstraps the cluster and starts every component.
    pub async fn start(config: Config) -> anyhow::Result<App> {
        let store = match &config.storage {
            Storage::Memory => Store::new(),
            Storage::Durable(location) => Store::open(location)?,
        };
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        match Self::start_on(store.clone(), config, cancel.clone(), tracker.clone()).await {
            Ok(app) => Ok(app),
            Err(e) => {
                // Whatever started stops, and the cluster's lock is free for another try.
                cancel.cancel();
                tracker.close();
                tracker.wait().await;
                store.close();
                Err(e)
            }
        }
    }

    async fn start_on(
        store: Store,
        config: Config,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> anyhow::Result<App> {
        let mut plan = config.plan.clone();
        plan.cluster_domain = config.dns.domain.trim_end_matches('.').to_string();
        let allocators = ServiceAllocators {
            cluster_ips: ClusterIpAllocator::new(plan.service_network, plan.service_prefix),
            node_ports: PortAllocator::new(30000, 32767),
        };
        let registry = Registry::new(store.clone(), allocators);
        let listener = TcpListener::bind(config.listen).await?;
        let api_addr = listener.local_addr()?;
        // Where pods reach the API, over TLS: the `kubernetes` service's endpoint.
        let in_cluster = TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let in_cluster_addr = in_cluster.local_addr()?;
        bootstrap::run(&registry, config.nodes, in_cluster_addr)?;
        // kube-apiserver's own controller: its `kubernetes` service comes back when deleted.
        let apiserver = bootstrap::KubernetesServiceController::new(registry.clone(), in_cluster_addr);
        tracker.spawn(runtime::run(apiserver, store.clone(), cancel.clone()));

        let (table_tx, table_rx) = watch::channel(Arc::new(ProxyTable::default()));
        let service_router = Arc::new(ServiceRouter::new(plan.clone(), table_rx));
        let network = Network::new(plan.clone(), service_router.clone());
        let sandboxes = Sandboxes::default();
        let metrics = Arc::new(Metrics::default());
        // One cache of Services and Endpoints for the proxy, DNS and the ingress.
        let informer = Informer::new();
        tracker.spawn(informer.clone().run(store.clone(), cancel.clone()));
        let timelines = crate::timeline::Timelines::default();
        tracker.spawn(timelines.clone().run(informer.clone(), store.clone(), cancel.clone()));
        let dns_addr = match dns::start(&config.dns, informer.clone(), metrics.clone(), &tracker, cancel.clone()).await
        {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(DnsAddressTaken(config.dns.listen).into());
            }
            other => other?,
        };
        bootstrap::kube_dns(&registry, plan.dns_service_ip(), dns_addr)?;
        bootstrap::ingress_class(&registry)?;
        tracker.spawn(crate::registry::events::run_ttl(registry.clone(), cancel.clone()));
        tracker.spawn(proxy::run_proxier(informer.clone(), table_tx, metrics.clone(), cancel.clone()));
        tracker.spawn(crate::netpol::run(store.clone(), network.clone(), cancel.clone()));
        let ca = Arc::new(cluster_ca(&config.storage)?);
        let tokens = Arc::new(token_issuer(&config.storage, &plan.cluster_domain)?);
        let address_pool = AddressPool::new(plan.load_balancer_pool);
        Self::controller_manager(&registry, &config, &address_pool, (&ca, &tokens), &tracker, &cancel);
        let nodes =
            (1..=config.nodes).map(|i| NodeAddr { name: bootstrap::node_name(i), ip: plan.node_ip(i) }).collect();
        let listeners = Listeners {
            network: network.clone(),
            router: service_router.clone(),
            registry: registry.clone(),
            nodes,
            tracker: tracker.clone(),
            cancel: cancel.clone(),
        };
        tracker.spawn(listeners.run());
        let kubelet_tokens = crate::kubelet::Tokens::new(tokens.clone());
        Self::kubelets(&config, &registry, &network, &sandboxes, &kubelet_tokens, &tracker, &cancel)?;

        tracker.spawn(runtime::run(
            CsrSigningController::new(registry.clone(), ca.clone()),
            store.clone(),
            cancel.clone(),
        ));
        let sources = crate::ingress::Sources {
            registry: registry.clone(),
            informer: informer.clone(),
            metrics: metrics.clone(),
        };
        let controller = plan.ingress_controller_ip();
        let ingress = IngressAddon::new(config.ingress.clone(), sources, network.clone(), controller, cancel.clone());
        if config.ingress.enabled {
            ingress.enable().await?;
        }
        bootstrap::gateway_class(&registry)?;
        let pool = config.load_balancers.then(|| address_pool.clone());
        let gateways = GatewayController::new(registry.clone(), informer.clone(), network.clone(), &ingress, pool);
        tracker.spawn(gateways.run(cancel.clone()));
        let state = ApiState {
            registry: registry.clone(),
            network: network.clone(),
            sandboxes: sandboxes.clone(),
            ingress: ingress.clone(),
            tokens,
            ca,
            metrics,
            dns_addr,
            pages: Arc::default(),
            timelines,
            cancel: cancel.clone(),
        };
        Self::serve_api(state, &config, &plan, (listener, in_cluster), &tracker, &cancel)?;
        tracing::info!(%api_addr, nodes = config.nodes, "svclab is up");
        Ok(App { api_addr, dns_addr, registry, network, proxy: service_router, sandboxes, ingress, cancel, tracker })
    }

    /// The API twice: for the user (and the dashboard) on the first listener, and over TLS for
    /// pods on the second.
    fn serve_api(
        state: ApiState,
        config: &Config,
        plan: &AddressPlan,
        (listener, in_cluster): (TcpListener, TcpListener),
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        let tls = api_tls(&state.ca, plan)?;
        let pods_access = api::guard::Policy { in_cluster: true, ..config.access.clone() };
        let pods_router = api::router(state.clone(), None, pods_access);
        tracker.spawn(api::serve::serve_tls(in_cluster, pods_router, tls, cancel.clone(), tracker.clone()));
        let router = api::router(state, config.dashboard.clone(), config.access.clone());
        tracker.spawn(api::serve::serve(listener, router, cancel.clone(), tracker.clone()));
        Ok(())
    }

    /// A kubelet per node, each registering its node.
    fn kubelets(
        config: &Config,
        registry: &Registry,
        network: &Network,
        sandboxes: &Sandboxes,
        tokens: &crate::kubelet::Tokens,
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) -> anyhow::Result<()> {
        for i in 1..=config.nodes {
            let (store, network, sandboxes) = (registry.store().clone(), network.clone(), sandboxes.clone());
            let kubelet =
                Kubelet::new(i, registry.clone(), network, sandboxes, tracker.clone(), cancel.clone(), tokens.clone());
            kubelet.register_node()?;
            tracker.spawn(runtime::run(kubelet, store, cancel.clone()));
        }
        Ok(())
    }

    /// kube-controller-manager's part: the controllers that keep objects in step with each other.
    fn controller_manager(
        registry: &Registry,
        config: &Config,
        pool: &AddressPool,
        (ca, tokens): (&ClusterCa, &Arc<crate::tokens::Issuer>),
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) {
        let store = registry.store();
        tracker.spawn(runtime::run(ReplicationManager::new(registry.clone()), store.clone(), cancel.clone()));
        tracker.spawn(runtime::run(Scheduler::new(registry.clone()), store.clone(), cancel.clone()));
        let collector = crate::controllers::garbagecollector::GarbageCollector::new(registry.clone());
        tracker.spawn(runtime::run(collector, store.clone(), cancel.clone()));
        let namespaces = crate::controllers::namespace::NamespaceController::new(registry.clone());
        tracker.spawn(runtime::run(namespaces, store.clone(), cancel.clone()));
        let nodes = crate::controllers::nodelifecycle::NodeLifecycleController::new(registry.clone());
        tracker.spawn(runtime::run(nodes, store.clone(), cancel.clone()));
        let deployments = crate::controllers::deployment::DeploymentController::new(registry.clone());
        tracker.spawn(runtime::run(deployments, store.clone(), cancel.clone()));
        tracker.spawn(runtime::run(EndpointsController::new(registry.clone()), store.clone(), cancel.clone()));
        let slices = EndpointSliceController::new(registry.clone());
        tracker.spawn(runtime::run(slices, store.clone(), cancel.clone()));
        let mirroring =
            crate::controllers::endpointslicemirroring::EndpointSliceMirroringController::new(registry.clone());
        tracker.spawn(runtime::run(mirroring, store.clone(), cancel.clone()));
        let accounts = crate::controllers::serviceaccounts::ServiceAccountsController::new(registry.clone(), &ca.pem);
        tracker.spawn(runtime::run(accounts, store.clone(), cancel.clone()));
        let secrets = crate::controllers::tokens::TokensController::new(registry.clone(), tokens.clone(), &ca.pem);
        tracker.spawn(runtime::run(secrets, store.clone(), cancel.clone()));
        let sets = crate::controllers::statefulset::StatefulSetController::new(registry.clone());
        tracker.spawn(runtime::run(sets, store.clone(), cancel.clone()));
        let daemons = crate::controllers::daemonset::DaemonSetController::new(registry.clone());
        tracker.spawn(runtime::run(daemons, store.clone(), cancel.clone()));
        let jobs = crate::controllers::job::JobController::new(registry.clone());
        tracker.spawn(runtime::run(jobs, store.clone(), cancel.clone()));
        let crons = crate::controllers::cronjob::CronJobController::new(registry.clone());
        tracker.spawn(runtime::run(crons, store.clone(), cancel.clone()));
        let autoscalers = crate::controllers::autoscaler::AutoscalerController::new(registry.clone());
        tracker.spawn(runtime::run(autoscalers, store.clone(), cancel.clone()));
        let quotas = crate::controllers::quota::QuotaController::new(registry.clone());
        tracker.spawn(runtime::run(quotas, store.clone(), cancel.clone()));
        let budgets = crate::controllers::disruption::DisruptionController::new(registry.clone());
        tracker.spawn(runtime::run(budgets, store.clone(), cancel.clone()));
        let volumes = crate::controllers::volumes::VolumeController::new(registry.clone());
        tracker.spawn(runtime::run(volumes, store.clone(), cancel.clone()));
        if config.load_balancers {
            let lb = LoadBalancerController::new(registry.clone(), pool.clone());
            tracker.spawn(runtime::run(lb, store.clone(), cancel.clone()));
        }
    }

    /// Stops every component and waits for them, then closes the store.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.ingress.disable().await;
        self.tracker.close();
        self.tracker.wait().await;
        self.registry.store().close();
    }
}

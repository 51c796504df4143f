//! The `svclab` binary: parses flags, starts the app, stops on Ctrl-C.

use clap::Parser;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use svclab::app::{App, Config, Storage};
use svclab::dns::DnsConfig;
use svclab::ingress::IngressConfig;
use svclab::network::AddressPlan;
use svclab::store::{Location, durable};

/// A Kubernetes Services lab in one process.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    data: DataArgs,
    /// Keep the cluster in memory only: nothing is read at start or kept when svclab stops.
    #[arg(long, conflicts_with_all = ["data_dir", "reset"])]
    ephemeral: bool,
    /// Delete the cluster's stored data (saying what), then start it afresh.
    #[arg(long)]
    reset: bool,
    /// Address of the API and dashboard.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// Serve the dashboard from this directory (trunk's output, for development) instead of the
    /// one built into svclab.
    #[arg(long, value_name = "DIR")]
    dashboard: Option<PathBuf>,
    /// Number of simulated nodes (node-1 … node-N at 127.0.1.1 …).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=250))]
    nodes: u8,
    /// The nodes' /24 on loopback: node i is .i (load balancers take the next /24).
    #[arg(long, default_value = "127.0.1.0")]
    node_network: Ipv4Addr,
    /// Behave like an environment without load balancers: LoadBalancer services stay <pending>
    /// and work as NodePort services.
    #[arg(long)]
    no_load_balancers: bool,
    /// Where cluster DNS listens, UDP and TCP (inside the cluster it is kube-dns, 10.96.0.10:53).
    /// Without it, 127.0.0.1:5353, or a free port when that one is taken (say by mDNS).
    #[arg(long)]
    dns: Option<SocketAddr>,
    /// The cluster domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// TTL of DNS answers, in seconds.
    #[arg(long, default_value_t = 5)]
    dns_ttl: u32,
    /// Where DNS queries for names outside the cluster go (e.g. 1.1.1.1:53); refused when unset.
    #[arg(long)]
    dns_upstream: Option<SocketAddr>,
    /// Where the ingress controller serves HTTP. Without it, 127.0.0.1:8080, or a free port when
    /// that one is taken.
    #[arg(long)]
    ingress_http: Option<SocketAddr>,
    /// Where the ingress controller serves HTTPS. Without it, 127.0.0.1:8443, or a free port.
    #[arg(long)]
    ingress_https: Option<SocketAddr>,
    /// Start with the ingress add-on disabled (enable it later with
    /// `PUT /lab/v1/addons/ingress {"enabled": true}`, as `minikube addons enable ingress`).
    #[arg(long)]
    no_ingress: bool,
    /// Serve every ingress request through hyper's server and client, without the fast path
    /// (for comparing the two; `cargo xtask bench ingress` does).
    #[arg(long, hide = true)]
    ingress_without_fast_path: bool,
    /// Write a kubeconfig for svclab to this file instead of merging a context into yours.
    #[arg(long, value_name = "PATH", conflicts_with = "no_kubeconfig")]
    kubeconfig: Option<PathBuf>,
    /// Leave kubeconfig files alone (by default svclab merges a context into $KUBECONFIG, else
    /// ~/.kube/config, makes it current, and restores the previous one when it stops).
    #[arg(long)]
    no_kubeconfig: bool,
    /// A host name the API answers to besides loopback names and IP addresses (repeatable);
    /// requests naming any other host are refused, so no web page can rebind a name to svclab.
    #[arg(long = "allowed-host", value_name = "HOST")]
    allowed_hosts: Vec<String>,
    /// A file holding the bearer token API requests must carry. Listening beyond loopback
    /// always needs one: without this file svclab makes one at start and prints it.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Delete a cluster's stored data (it must not be running), saying what is deleted.
    Reset {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Which cluster, and where its data lives.
#[derive(clap::Args, Debug, Clone)]
struct DataArgs {
    /// The cluster's name: its database's and the kubeconfig context's.
    #[arg(long, default_value = "svclab")]
    name: String,
    /// Where clusters' data lives (default: the platform's data directory, e.g.
    /// ~/.local/share/svclab).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    fn location(&self) -> anyhow::Result<Location> {
        let dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => Location::default_dir()
                .ok_or_else(|| anyhow::anyhow!("this platform has no data directory: choose one with --data-dir"))?,
        };
        Ok(Location::new(dir, &self.name)?)
    }
}

/// Deletes a cluster's files and says what they were.
fn reset(location: &Location) -> anyhow::Result<()> {
    let deleted = durable::reset(location)?;
    if deleted.is_empty() {
        println!("svclab: nothing is stored for the cluster \"{}\" in {}", location.name, location.dir.display());
    }
    for (path, size) in deleted {
        println!("svclab: deleted {} ({})", path.display(), human_size(size));
    }
    Ok(())
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// The token API requests must carry: read from `--token-file`, or made up when svclab listens
/// beyond loopback; none on loopback without a file.
fn token(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.token_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--token-file {}: {e}", path.display()))?;
        let token = text.trim().to_string();
        anyhow::ensure!(!token.is_empty(), "--token-file {} is empty", path.display());
        return Ok(Some(token));
    }
    if args.listen.ip().is_loopback() {
        return Ok(None);
    }
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    Ok(Some(bytes.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Where svclab wrote its kubeconfig context, to restore on exit.
struct Installed {
    path: PathBuf,
    previous: Option<String>,
}

/// Connects kubectl to the running svclab, as its flags ask; says what it did.
fn connect_kubectl(args: &Args, server: &str, token: Option<&str>) -> Option<Installed> {
    let entry = svclab::kubeconfig::Entry {
        name: args.data.name.clone(),
        server: server.to_string(),
        token: token.map(String::from),
    };
    if args.no_kubeconfig {
        return None;
    }
    if let Some(path) = &args.kubeconfig {
        match svclab::kubeconfig::write_standalone(path, &entry) {
            Ok(()) => println!("kubectl: KUBECONFIG={} kubectl get svc", path.display()),
            Err(e) => eprintln!("svclab: could not write the kubeconfig: {e}"),
        }
        return None;
    }
    let path = svclab::kubeconfig::default_path()?;
    match svclab::kubeconfig::install(&path, &entry) {
        Ok(previous) => {
            let was = match &previous {
                Some(p) => format!(" (it was \"{p}\", current again when svclab stops)"),
                None => String::new(),
            };
            println!(
                "kubectl: context \"{}\" in {} is current{was}; try `kubectl get svc`",
                args.data.name,
                path.display()
            );
            Some(Installed { path, previous })
        }
        Err(e) => {
            eprintln!("svclab: kubectl is not set up ({e}); use --kubeconfig PATH, or kubectl --server={server}");
            None
        }
    }
}

/// Whether starting failed because the cluster DNS address is taken.
fn dns_address_taken(e: &anyhow::Error) -> bool {
    e.downcast_ref::<svclab::app::DnsAddressTaken>().is_some()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "svclab=info".into()))
        .init();
    let args = Args::parse();
    if let Some(Command::Reset { data }) = &args.command {
        return reset(&data.location()?);
    }
    let storage = if args.ephemeral {
        Storage::Memory
    } else {
        let location = args.data.location()?;
        if args.reset {
            reset(&location)?;
        }
        Storage::Durable(location)
    };
    if !args.node_network.is_loopback() {
        anyhow::bail!("--node-network must be on loopback (127.0.0.0/8): svclab's nodes live on this machine");
    }
    let token = token(&args)?;
    let config = Config {
        access: svclab::api::guard::Policy {
            allowed_hosts: args.allowed_hosts.clone(),
            token: token.clone(),
            in_cluster: false,
        },
        listen: args.listen,
        dashboard: args.dashboard.clone(),
        nodes: args.nodes,
        plan: AddressPlan::on_loopback(args.node_network),
        load_balancers: !args.no_load_balancers,
        dns: DnsConfig {
            listen: args.dns.unwrap_or(DnsConfig::default().listen),
            domain: args.cluster_domain.clone(),
            ttl: args.dns_ttl,
            upstream: args.dns_upstream,
        },
        ingress: IngressConfig {
            http: args.ingress_http.unwrap_or(IngressConfig::default().http),
            https: args.ingress_https.unwrap_or(IngressConfig::default().https),
            enabled: !args.no_ingress,
            fallback: args.ingress_http.is_none() && args.ingress_https.is_none(),
            fast_path: !args.ingress_without_fast_path,
        },
        storage,
    };
    let explicit_dns = args.dns.is_some();
    let storage = config.storage.clone();
    let app = match App::start(config.clone()).await {
        Err(e) if !explicit_dns && dns_address_taken(&e) => {
            eprintln!(
                "svclab: {} is taken; cluster DNS listens on a free port instead (choose one with --dns)",
                config.dns.listen
            );
            let mut config = config;
            config.dns.listen.set_port(0);
            App::start(config).await?
        }
        other => other?,
    };
    println!("svclab is running: dashboard and API at http://{}, cluster DNS at {}", app.api_addr, app.dns_addr);
    match &storage {
        Storage::Memory => {
            println!("cluster \"{}\": in memory only (--ephemeral); nothing is kept when svclab stops", args.data.name)
        }
        Storage::Durable(location) => println!(
            "cluster \"{}\": kept in {} ({} objects at resourceVersion {}); `svclab reset` deletes it",
            location.name,
            location.database().display(),
            app.registry.store().len(),
            app.registry.store().resource_version()
        ),
    }
    match app.ingress.addresses().await {
        Some(a) => println!("ingress controller: http://{} and https://{}", a.http, a.https),
        None => println!("ingress controller: disabled"),
    }
    if let (Some(token), None) = (&token, &args.token_file) {
        println!(
            "svclab listens beyond loopback: API requests need the bearer token {token} (the dashboard asks for it once; the kubeconfig carries it)"
        );
    }
    let installed = connect_kubectl(&args, &format!("http://{}", app.api_addr), token.as_deref());
    tokio::signal::ctrl_c().await?;
    app.shutdown().await;
    if let Some(installed) = installed {
        let restored = svclab::kubeconfig::uninstall(&installed.path, &args.data.name, installed.previous.as_deref());
        if let Err(e) = restored {
            eprintln!("svclab: could not restore the kubeconfig's current context: {e}");
        }
    }
    Ok(())
}

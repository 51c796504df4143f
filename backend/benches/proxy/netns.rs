//! The benchmark's own network namespace and its congestion control.

use anyhow::{Context, Result, bail};

/// The congestion controls that do not pace, in the order bulk prefers them: Linux's default,
/// then the one every kernel has (a network namespace may only choose what the host's
/// `tcp_allowed_congestion_control` lists, which need not include cubic).
pub(crate) const UNPACED: [&str; 2] = ["cubic", "reno"];
const CONGESTION_CONTROL: &str = "/proc/sys/net/ipv4/tcp_congestion_control";

/// The benchmark's network. A host may default to a congestion control that paces every
/// connection at its estimate of the path's bandwidth (BBR does): on loopback, where the only
/// bottleneck is the CPU, that holds a bulk connection to a fraction of what the machine moves,
/// direct or proxied, and the run measures the estimator rather than the proxy. So the benchmark
/// enters a network namespace of its own (which inherits the host's default but whose setting is
/// its own to change) and measures bulk under an unpaced control first (the first of
/// [`UNPACED`] it may choose) and then under the host's default; everything else runs under the
/// unpaced one. A connection takes the setting in force
/// when it is made, and every bulk connection (the load's, and each proxy's to a backend) is
/// made afresh. Without the privilege to make a namespace, it runs in the host's, as it is.
pub(crate) struct Network {
    /// The host's default congestion control.
    pub(crate) host: String,
    /// The controls bulk is measured under, in order; the first is in force otherwise.
    pub(crate) controls: Vec<String>,
    /// Whether the namespace is the benchmark's own.
    pub(crate) own: bool,
}

impl Network {
    /// Enters the namespace; called before any other thread starts, since only the calling
    /// thread (and what it starts after) moves.
    pub(crate) fn enter() -> Result<Network> {
        let host = std::fs::read_to_string(CONGESTION_CONTROL)?.trim().to_string();
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            eprintln!("running in the host's network, under its {host}: a network namespace needs CAP_SYS_ADMIN ({e})");
            return Ok(Network { controls: vec![host.clone()], host, own: false });
        }
        // A new namespace's loopback is down.
        let up = std::process::Command::new("ip").args(["link", "set", "lo", "up"]).status();
        match up.context("bringing up loopback with `ip` (iproute2)")? {
            status if status.success() => {}
            status => bail!("`ip link set lo up` failed: {status}"),
        }
        let mut network = Network { controls: vec![host.clone()], host, own: true };
        // The first unpaced control the namespace may choose; none, and it measures under the
        // host's default alone (and says so).
        match UNPACED.iter().find(|c| network.set(c).is_ok()) {
            Some(c) if **c != network.host => network.controls.insert(0, c.to_string()),
            Some(_) => {}
            None => eprintln!("no unpaced congestion control may be chosen here; measuring under {}", network.host),
        }
        network.set(&network.controls[0])?;
        Ok(network)
    }

    /// Makes `control` the congestion control of the connections made from now on.
    pub(crate) fn set(&self, control: &str) -> Result<()> {
        if control != std::fs::read_to_string(CONGESTION_CONTROL)?.trim() {
            std::fs::write(CONGESTION_CONTROL, control)
                .with_context(|| format!("choosing the {control} congestion control"))?;
        }
        Ok(())
    }
}

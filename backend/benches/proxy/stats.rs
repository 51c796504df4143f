//! What the runs measured: rates, latencies and the proxies' CPU time, summarized, and the
//! model of a short connection's cost on shared cores.

use crate::SHORT_SECONDS;
use anyhow::Result;

/// The `q` quantile of `v` (sorted in place), in milliseconds.
fn quantile_ms(v: &mut [u32], q: f64) -> f64 {
    v.sort_unstable();
    v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1))).map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

/// CPU time a process has used, all threads: in its own code and in the kernel on its behalf.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cpu {
    pub(crate) user: f64,
    pub(crate) system: f64,
}

impl Cpu {
    pub(crate) fn total(self) -> f64 {
        self.user + self.system
    }
}

/// CPU time (seconds) a process has used so far, from /proc.
pub(crate) fn cpu_seconds(pid: Option<u32>) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // USER_HZ is 100 on Linux.
    Some(Cpu { user: ticks(11)? / 100.0, system: ticks(12)? / 100.0 })
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// What one target's runs measured.
#[derive(Default)]
pub(crate) struct Measured {
    /// Bulk runs (Gbit/s) under each of the network's congestion controls, in its order.
    pub(crate) bulk: Vec<Vec<f64>>,
    pub(crate) short: Series,
    pub(crate) requests: Series,
}

/// Runs of short connections or of kept-alive requests.
#[derive(Default)]
pub(crate) struct Series {
    /// Per run: how many a second, and the proxy's CPU time for each (µs).
    pub(crate) rates: Vec<f64>,
    pub(crate) cpu: Vec<Cpu>,
    /// How long each took, over every run (µs).
    pub(crate) took: Vec<u32>,
}

/// What a series measured: medians of its runs, latencies over all of them.
pub(crate) struct Summary {
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// The proxy's CPU time each (µs), its user and kernel shares taken separately.
    pub(crate) cpu: Option<Cpu>,
}

impl Series {
    /// Runs `measure`, noting its rate, latencies and `pid`'s CPU time per item.
    pub(crate) async fn run(
        &mut self,
        measure: impl std::future::Future<Output = Result<(f64, Vec<u32>)>>,
        pid: Option<u32>,
    ) -> Result<()> {
        let before = cpu_seconds(pid);
        let (per_second, latencies) = measure.await?;
        if let (Some(before), Some(after)) = (before, cpu_seconds(pid)) {
            let each = |before: f64, after: f64| (after - before) / (per_second * SHORT_SECONDS as f64) * 1e6;
            self.cpu.push(Cpu { user: each(before.user, after.user), system: each(before.system, after.system) });
        }
        self.rates.push(per_second);
        self.took.extend(latencies);
        Ok(())
    }

    pub(crate) fn summary(&mut self) -> Summary {
        let cpu = (!self.cpu.is_empty()).then(|| Cpu {
            user: median(self.cpu.iter().map(|c| c.user).collect()),
            system: median(self.cpu.iter().map(|c| c.system).collect()),
        });
        Summary {
            per_second: median(self.rates.clone()),
            p50_ms: quantile_ms(&mut self.took, 0.5),
            p99_ms: quantile_ms(&mut self.took, 0.99),
            cpu,
        }
    }
}

/// How far ahead of HAProxy on short connections svclab could be on this machine if its own code
/// cost nothing. The load, the backends and the proxy share the cores, so a rate is the cores'
/// time over the CPU a connection costs all of them: the load's share is taken from the direct
/// path (the cores' time over its rate), the proxy's from its process. What is left of svclab's
/// then is its kernel time: accepting, dialling onward and closing both legs, which every proxy
/// pays on loopback (the peer's receive path runs in the sender's system call there).
pub(crate) fn short_connection_bound(direct: &Summary, svclab: &Summary, haproxy: &Summary) -> Option<String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (svclab_cpu, haproxy_cpu) = (svclab.cpu?, haproxy.cpu?);
    let load = cores * 1e6 / direct.per_second;
    let modelled = |proxy: f64| cores * 1e6 / (load + proxy);
    let bound = (load + haproxy_cpu.total()) / (load + svclab_cpu.system);
    Some(format!(
        "Short connections, where the time goes: the {cores} cores are shared by the load, the backends and the proxy, so a rate is the cores' time over what a connection costs them all. The load and backends take {load:.1} µs of CPU per connection (the cores' time over the direct rate); with each proxy's own CPU added, that predicts {:.0} /s through svclab and {:.0} /s through HAProxy (measured {:.0} and {:.0}). Of svclab's {:.1} µs per connection, {:.1} µs is the kernel's work of accepting, dialling onward and closing both legs (on loopback the peer's receive path runs in the sender's system call), which every proxy pays; even with its own code free, svclab would reach {bound:.2}× HAProxy here.",
        modelled(svclab_cpu.total()),
        modelled(haproxy_cpu.total()),
        svclab.per_second,
        haproxy.per_second,
        svclab_cpu.total(),
        svclab_cpu.system,
    ))
}

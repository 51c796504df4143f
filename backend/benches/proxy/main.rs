//! Proxy benchmark, run by `cargo xtask bench proxy`: the same TCP backends (four, like a
//! service's pods) reached (a) directly, (b) through a svclab NodePort (a selectorless service
//! whose Endpoints name them) and (c) through HAProxy in TCP mode, all on loopback in one run. It
//! measures bulk throughput (one connection sending 1 GiB), short connections per second
//! (connect, send a byte, read the reply, close) and requests over kept-alive connections (send
//! a small message, read its echo), and writes a Markdown section to `target/bench/proxy.md`.
//!
//! Each client connects from an address of its own and there are four backends: with a single
//! source and destination, every path would be held to the same rate by the kernel's reuse of
//! ports in TIME_WAIT (about 14,000 connections a second here), whatever the proxy does.
//!
//! svclab (release build, `SVCLAB_BIN`) and HAProxy run as their own processes; the load and the
//! backends run here, on a single-threaded runtime per core (see [`load_threads`]). All of them
//! run in a network namespace of the benchmark's own (see [`Network`]), so that bulk is measured
//! under a congestion control that does not pace.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const BULK_BYTES: u64 = 1 << 30;
const BULK_RUNS: usize = 2;
const SHORT_WORKERS: usize = 64;
const SHORT_SECONDS: u64 = 3;
/// Kept-alive connections, each sending a request of `MESSAGE` bytes and reading its echo in turn.
const KEPT_ALIVE: usize = 64;
const MESSAGE: usize = 64;
/// Rounds over all targets in turn, so drift on a busy machine hits each alike.
const ROUNDS: usize = 5;
const NODE_NETWORK: &str = "127.77.1.0";
/// node-1 of that network.
const NODE_ADDR: &str = "127.77.1.1";
const NODE_PORT: u16 = 30999;
const ECHO_NODE_PORT: u16 = 30998;
const BACKENDS: u8 = 4;

mod load;
mod netns;
mod stats;

use load::{backends, bulk, kept_alive, load_threads, short_connections};
use netns::{Network, UNPACED};
use stats::{Cpu, Measured, Summary, median, short_connection_bound};

/// Starts svclab and points a NodePort service at the backends; returns the node port's address.
async fn svclab(backends: &[SocketAddr], echoes: &[SocketAddr]) -> Result<(Child, SocketAddr, SocketAddr)> {
    let binary = std::env::var("SVCLAB_BIN").context("SVCLAB_BIN names the svclab binary to measure")?;
    let mut child = Command::new(binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--node-network",
            NODE_NETWORK,
            "--nodes",
            "1",
            "--dns",
            "127.0.0.1:0",
            "--ephemeral",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let api = loop {
        let line = lines.next_line().await?.context("svclab exited before it was up")?;
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split(',').next().unwrap_or_default().trim().to_string();
        }
    };
    let manifest = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bench\nspec:\n  type: NodePort\n  ports:\n  - name: count\n    port: 80\n    nodePort: {NODE_PORT}\n  - name: echo\n    port: 81\n    nodePort: {ECHO_NODE_PORT}\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: bench\nsubsets:\n- addresses:\n{}  ports:\n  - name: count\n    port: {}\n  - name: echo\n    port: {}\n",
        backends.iter().map(|b| format!("  - ip: {}\n", b.ip())).collect::<String>(),
        backends[0].port(),
        echoes[0].port()
    );
    let response = reqwest::Client::new()
        .post(format!("http://{api}/lab/v1/apply"))
        .header("content-type", "application/yaml")
        .body(manifest)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("applying the benchmark service failed: {}", response.text().await?);
    }
    let (node, echo): (SocketAddr, SocketAddr) =
        (format!("{NODE_ADDR}:{NODE_PORT}").parse()?, format!("{NODE_ADDR}:{ECHO_NODE_PORT}").parse()?);
    wait_for(node).await?;
    wait_for(echo).await?;
    Ok((child, node, echo))
}

async fn haproxy(backends: &[SocketAddr], echoes: &[SocketAddr]) -> Result<(Child, SocketAddr, SocketAddr, String)> {
    let version = std::process::Command::new("haproxy").arg("-v").output().context("haproxy is not installed")?;
    let version = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or_default().to_string();
    let listen = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let listen_echo = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let dir = std::env::temp_dir().join(format!("svclab-bench-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nfrontend bench\n  bind {listen}\n  default_backend pods\nbackend pods\n  balance roundrobin\n{}frontend echo\n  bind {listen_echo}\n  default_backend echoes\nbackend echoes\n  balance roundrobin\n{}",
            backends.iter().enumerate().map(|(i, b)| format!("  server pod{i} {b}\n")).collect::<String>(),
            echoes.iter().enumerate().map(|(i, b)| format!("  server pod{i} {b}\n")).collect::<String>()
        ),
    )?;
    let child = Command::new("haproxy").arg("-db").arg("-f").arg(&config).kill_on_drop(true).spawn()?;
    wait_for(listen).await?;
    wait_for(listen_echo).await?;
    Ok((child, listen, listen_echo, version))
}

async fn wait_for(addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing listened on {addr} in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() -> Result<()> {
    let network = Network::enter()?;
    // The main runtime only starts things and waits; the load runs on its own threads.
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run(network))
}

async fn run(network: Network) -> Result<()> {
    let threads = load_threads()?;
    let (backends, echoes) = backends(&threads)?;
    let (svclab_process, node_port, echo_node_port) = svclab(&backends, &echoes).await?;
    let (haproxy_process, haproxy_addr, haproxy_echo, haproxy_version) = haproxy(&backends, &echoes).await?;
    // The proxy's own process, whose CPU time per short connection is reported too: the load,
    // the backend and the proxy share the machine, so a proxy that costs more leaves less for them.
    let targets = [
        ("direct to the backends", backends.clone(), echoes.clone(), None),
        ("svclab NodePort", vec![node_port], vec![echo_node_port], svclab_process.id()),
        ("HAProxy, TCP mode", vec![haproxy_addr], vec![haproxy_echo], haproxy_process.id()),
    ];
    let mut measured: Vec<Measured> = targets
        .iter()
        .map(|_| Measured { bulk: vec![Vec::new(); network.controls.len()], ..Default::default() })
        .collect();
    // `SVCLAB_BENCH_ONLY=bulk`, `=short` or `=requests` measures one of the three (to profile it
    // by hand).
    let only = std::env::var("SVCLAB_BENCH_ONLY").unwrap_or_default();
    let wanted = |what: &str| only.is_empty() || only == what;
    // `SVCLAB_BENCH_TARGET=svclab` (or `HAProxy`, `direct`) measures only the targets whose
    // name starts so, with the proxies' process ids printed, for a profiler to attach.
    let chosen = std::env::var("SVCLAB_BENCH_TARGET").unwrap_or_default();
    if !chosen.is_empty() {
        eprintln!("svclab pid {:?}, HAProxy pid {:?}", svclab_process.id(), haproxy_process.id());
    }
    for _ in 0..ROUNDS {
        for ((name, target, echo, pid), m) in targets.iter().zip(&mut measured) {
            if !name.starts_with(&chosen) {
                continue;
            }
            for (control, runs) in network.controls.iter().zip(&mut m.bulk) {
                network.set(control)?;
                for _ in 0..if wanted("bulk") { BULK_RUNS } else { 0 } {
                    let target = target[0];
                    runs.push(tokio::task::spawn_blocking(move || bulk(target)).await??);
                }
            }
            network.set(&network.controls[0])?;
            if wanted("short") {
                m.short.run(short_connections(&threads, target), *pid).await?;
            }
            if wanted("requests") {
                m.requests.run(kept_alive(&threads, echo), *pid).await?;
            }
        }
    }
    struct Row {
        name: &'static str,
        /// Median bulk throughput under each congestion control.
        gbps: Vec<f64>,
        short: Summary,
        requests: Summary,
    }
    let mut rows = Vec::new();
    for ((name, ..), m) in targets.iter().zip(&mut measured) {
        let row = Row {
            name,
            gbps: m.bulk.iter().map(|runs| median(runs.clone())).collect(),
            short: m.short.summary(),
            requests: m.requests.summary(),
        };
        let (short, requests) = (&row.short, &row.requests);
        eprintln!(
            "{name}: {:.2?} Gbit/s, {:.0} connections/s (p50 {:.2} ms, p99 {:.2} ms, {:?} µs CPU each), {:.0} requests/s (p50 {:.3} ms, p99 {:.3} ms, {:?} µs CPU each)",
            row.gbps,
            short.per_second,
            short.p50_ms,
            short.p99_ms,
            short.cpu,
            requests.per_second,
            requests.p50_ms,
            requests.p99_ms,
            requests.cpu
        );
        eprintln!(
            "  runs: bulk {:.1?}, short {:.0?} (CPU {:.1?}), requests {:.0?} (CPU {:.1?})",
            m.bulk, m.short.rates, m.short.cpu, m.requests.rates, m.requests.cpu
        );
        rows.push(row);
    }
    let (direct, svclab, haproxy) = (&rows[0], &rows[1], &rows[2]);
    let cpu = |us: Option<Cpu>| {
        us.map_or("–".to_string(), |us| format!("{:.1} µs ({:.1} in the kernel)", us.total(), us.system))
    };
    let cpu_ratio = |s: Option<Cpu>, h: Option<Cpu>| match (s, h) {
        (Some(s), Some(h)) => format!("{:.2}×", s.total() / h.total()),
        _ => "–".into(),
    };
    // Each control's name as the table and the ratios give it.
    let controls: Vec<String> = network
        .controls
        .iter()
        .map(|c| if *c == network.host { format!("{c} (the host's default)") } else { c.clone() })
        .collect();
    let per_control = |f: &dyn Fn(usize) -> String| {
        controls.iter().enumerate().map(|(i, c)| format!("{} under {c}", f(i))).collect::<Vec<_>>().join(", ")
    };
    let met = |ok: bool| if ok { "met" } else { "not met" };
    let mut out = String::new();
    out.push_str("## Service proxy (NodePort) against HAProxy\n\n");
    out.push_str(&format!(
        "{BACKENDS} TCP backends on loopback, reached directly, through a svclab NodePort (a service whose endpoints they are), and through HAProxy in TCP mode ({haproxy_version}; round robin over them). Bulk: one connection sending 1 GiB (median of {}), under each congestion control in turn: {}. Short connections: {SHORT_WORKERS} clients, each from an address of its own, connecting, sending a byte and reading the reply, for {SHORT_SECONDS} s (median of {ROUNDS}). Kept-alive requests: {KEPT_ALIVE} connections to echoing backends, each sending {MESSAGE} bytes and reading them back in turn, for {SHORT_SECONDS} s (median of {ROUNDS}). Latencies are p50 and p99 over every round (connect to reply, request to its echo); the proxy's CPU time (user + system, from /proc) is per connection or request. The clients and backends run on a single-threaded runtime per core, the bulk sender on a thread of its own. Targets are measured in turn, {ROUNDS} rounds. {}\n\n",
        BULK_RUNS * ROUNDS,
        controls.join(", then "),
        if network.own {
            match network.controls.first().filter(|c| UNPACED.contains(&c.as_str())) {
                Some(unpaced) => format!("Everything runs in a network namespace of the benchmark's own, whose congestion control it sets: one that paces (BBR) holds a loopback connection to its own estimate of the bandwidth, direct or proxied, so bulk is measured first under {unpaced}, which does not pace ({}), and the rest runs under it too.", if unpaced == "cubic" { "Linux's default" } else { "cubic may not be chosen on this machine" }),
                None => format!("Everything runs in a network namespace of the benchmark's own, under the host's {} (this machine allows no unpaced congestion control to be chosen).", network.host),
            }
        } else {
            "Everything runs in the host's network (the benchmark could not make a namespace of its own, which needs CAP_SYS_ADMIN)."
                .to_string()
        }
    ));
    let bulk_columns: String = controls.iter().map(|c| format!(" bulk, {c} |")).collect();
    let bulk_align = " ---: |".repeat(controls.len());
    out.push_str(&format!("| path |{bulk_columns} short connections | their p50 / p99 | proxy CPU each | kept-alive requests | their p50 / p99 | proxy CPU each |\n| --- |{bulk_align} ---: | ---: | ---: | ---: | ---: | ---: |\n"));
    for Row { name, gbps, short, requests } in &rows {
        out.push_str(&format!(
            "| {name} |{} {:.0} /s | {:.2} / {:.2} ms | {} | {:.0} /s | {:.3} / {:.3} ms | {} |\n",
            gbps.iter().map(|g| format!(" {g:.2} Gbit/s |")).collect::<String>(),
            short.per_second,
            short.p50_ms,
            short.p99_ms,
            cpu(short.cpu),
            requests.per_second,
            requests.p50_ms,
            requests.p99_ms,
            cpu(requests.cpu)
        ));
    }
    out.push_str(&format!(
        "\nRatios: svclab / HAProxy: bulk {}, short connections {:.2}× (CPU each {}), kept-alive requests {:.2}× (CPU each {}); svclab / direct bulk: {}. Targets: ≥ 1× HAProxy on bulk ({}), ≥ 1.25× HAProxy on short connections ({}), ≥ 60% of direct bulk ({}). Past its first 256 KiB a direction is spliced socket → pipe (1 MiB) → socket inside the kernel, never copied through svclab.\n",
        per_control(&|i| format!("{:.2}×", svclab.gbps[i] / haproxy.gbps[i])),
        svclab.short.per_second / haproxy.short.per_second,
        cpu_ratio(svclab.short.cpu, haproxy.short.cpu),
        svclab.requests.per_second / haproxy.requests.per_second,
        cpu_ratio(svclab.requests.cpu, haproxy.requests.cpu),
        per_control(&|i| format!("{:.0}%", svclab.gbps[i] / direct.gbps[i] * 100.0)),
        met((0..controls.len()).all(|i| svclab.gbps[i] >= haproxy.gbps[i])),
        met(svclab.short.per_second >= 1.25 * haproxy.short.per_second),
        met((0..controls.len()).all(|i| svclab.gbps[i] >= 0.6 * direct.gbps[i])),
    ));
    if let Some(bound) = short_connection_bound(&direct.short, &svclab.short, &haproxy.short) {
        out.push_str(&format!("\n{bound}\n"));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("proxy.md"), &out)?;
    println!("{out}");
    Ok(())
}

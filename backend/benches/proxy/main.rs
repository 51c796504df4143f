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
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::runtime::Handle;

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

/// The congestion controls that do not pace, in the order bulk prefers them: Linux's default,
/// then the one every kernel has (a network namespace may only choose what the host's
/// `tcp_allowed_congestion_control` lists, which need not include cubic).
const UNPACED: [&str; 2] = ["cubic", "reno"];
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
struct Network {
    /// The host's default congestion control.
    host: String,
    /// The controls bulk is measured under, in order; the first is in force otherwise.
    controls: Vec<String>,
    /// Whether the namespace is the benchmark's own.
    own: bool,
}

impl Network {
    /// Enters the namespace; called before any other thread starts, since only the calling
    /// thread (and what it starts after) moves.
    fn enter() -> Result<Network> {
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
    fn set(&self, control: &str) -> Result<()> {
        if control != std::fs::read_to_string(CONGESTION_CONTROL)?.trim() {
            std::fs::write(CONGESTION_CONTROL, control)
                .with_context(|| format!("choosing the {control} congestion control"))?;
        }
        Ok(())
    }
}

/// The load's threads: one per core, each with a single-threaded runtime (as wrk runs an event
/// loop per thread). Clients and backends are spread over them. On Tokio's multi-threaded
/// runtime the load cost more CPU per connection than either proxy (its idle workers are woken
/// through futexes and steal each other's tasks), and on a machine whose cores the load shares
/// with the proxy that cost dilutes the proxies' difference.
fn load_threads() -> Result<Vec<Handle>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..n)
        .map(|i| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            Ok(handle)
        })
        .collect()
}

/// The backends, at 127.0.3.1…4 over the load's threads: counting ones on one port, echoing
/// ones on another.
fn backends(threads: &[Handle]) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>)> {
    let on = |i: u8| &threads[usize::from(i) % threads.len()];
    let (first, first_echo) = (backend("127.0.3.1:0".parse()?, on(0))?, echo("127.0.3.1:0".parse()?, on(0))?);
    let (mut all, mut echoes) = (vec![first], vec![first_echo]);
    for i in 2..=BACKENDS {
        all.push(backend(SocketAddr::from(([127, 0, 3, i], first.port())), on(i))?);
        echoes.push(echo(SocketAddr::from(([127, 0, 3, i], first_echo.port())), on(i))?);
    }
    Ok((all, echoes))
}

/// A listener at `at`, served on `thread` by `serve` per connection.
fn serve<F, Fut>(at: SocketAddr, thread: &Handle, serve: F) -> Result<SocketAddr>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind(at)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    thread.spawn(async move {
        let listener = TcpListener::from_std(listener).expect("a listener");
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    Ok(addr)
}

/// An echo backend: sends back whatever it reads, until the client closes.
fn echo(at: SocketAddr, thread: &Handle) -> Result<SocketAddr> {
    serve(at, thread, |mut stream| async move {
        let _ = stream.set_nodelay(true);
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            if stream.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    })
}

/// A backend: reads until the client closes its side, then answers with the byte count.
fn backend(at: SocketAddr, thread: &Handle) -> Result<SocketAddr> {
    serve(at, thread, |mut stream| async move {
        // A short connection's byte fits a small buffer; a large one is made only for a
        // connection that fills it (zeroing 256 KiB per short connection cost the load
        // generator more than a proxy spends on the connection).
        let (mut small, mut large) = ([0u8; 4096], Vec::new());
        let mut total: u64 = 0;
        loop {
            let buf = if large.is_empty() { &mut small[..] } else { &mut large[..] };
            let n = match stream.read(buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if n == buf.len() && large.is_empty() {
                large = vec![0u8; 256 * 1024];
            }
            total += n as u64;
        }
        let _ = stream.write_all(&total.to_be_bytes()).await;
    })
}

/// One connection sending `BULK_BYTES`, from a thread of its own with blocking writes (as
/// iperf sends), so that the sender never shares a thread with the backend receiving.
fn bulk(target: SocketAddr) -> Result<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(target)?;
    stream.set_nodelay(true)?;
    let chunk = vec![7u8; 256 * 1024];
    let started = Instant::now();
    let mut sent = 0;
    while sent < BULK_BYTES {
        stream.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count)?;
    let elapsed = started.elapsed().as_secs_f64();
    if u64::from_be_bytes(count) != sent {
        bail!("the backend counted {} bytes, {sent} were sent", u64::from_be_bytes(count));
    }
    Ok(sent as f64 / elapsed / 1e9 * 8.0)
}

/// A connection from `source` (its port picked at connect time, per destination).
async fn connect_from(source: std::net::Ipv4Addr, target: SocketAddr) -> Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::IpBindAddressNoPort, &true)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    Ok(socket.connect(target).await?)
}

/// Runs `clients` clients over the load's threads, client `i` from 127.0.4.(i+1) to
/// `targets[i % len]`: each is `each` (given its source, target and the deadline
/// `SHORT_SECONDS` away), which repeats its exchange until the deadline and returns how long
/// each took, in microseconds. Returns how many a second, and all those times.
async fn load<F, Fut>(threads: &[Handle], targets: &[SocketAddr], clients: usize, each: F) -> Result<(f64, Vec<u32>)>
where
    F: Fn(std::net::Ipv4Addr, SocketAddr, Instant) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u32>>> + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(SHORT_SECONDS);
    let mut workers = Vec::new();
    for i in 0..clients {
        let (target, source) = (targets[i % targets.len()], std::net::Ipv4Addr::new(127, 0, 4, i as u8 + 1));
        workers.push(threads[i % threads.len()].spawn(each(source, target, deadline)));
    }
    let mut took = Vec::new();
    for w in workers {
        took.extend(w.await??);
    }
    Ok((took.len() as f64 / SHORT_SECONDS as f64, took))
}

fn micros_since(started: Instant) -> u32 {
    started.elapsed().as_micros().min(u32::MAX as u128) as u32
}

/// Short connections: connect, send a byte, half-close, read the reply (timed connect to reply).
async fn short_connections(threads: &[Handle], targets: &[SocketAddr]) -> Result<(f64, Vec<u32>)> {
    load(threads, targets, SHORT_WORKERS, |source, target, deadline| async move {
        let mut took = Vec::new();
        while Instant::now() < deadline {
            let started = Instant::now();
            let mut stream = connect_from(source, target).await?;
            stream.write_all(b"x").await?;
            stream.shutdown().await?;
            let mut count = [0u8; 8];
            stream.read_exact(&mut count).await?;
            took.push(micros_since(started));
        }
        Ok(took)
    })
    .await
}

/// Kept-alive requests: each client connects once, then sends `MESSAGE` bytes and reads their
/// echo, in turn (timed request to echo).
async fn kept_alive(threads: &[Handle], targets: &[SocketAddr]) -> Result<(f64, Vec<u32>)> {
    load(threads, targets, KEPT_ALIVE, |source, target, deadline| async move {
        let mut stream = connect_from(source, target).await?;
        stream.set_nodelay(true)?;
        let (request, mut reply) = ([b'r'; MESSAGE], [0u8; MESSAGE]);
        let mut took = Vec::new();
        while Instant::now() < deadline {
            let started = Instant::now();
            stream.write_all(&request).await?;
            stream.read_exact(&mut reply).await?;
            took.push(micros_since(started));
        }
        Ok(took)
    })
    .await
}

/// The `q` quantile of `v` (sorted in place), in milliseconds.
fn quantile_ms(v: &mut [u32], q: f64) -> f64 {
    v.sort_unstable();
    v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1))).map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

/// CPU time a process has used, all threads: in its own code and in the kernel on its behalf.
#[derive(Clone, Copy, Debug)]
struct Cpu {
    user: f64,
    system: f64,
}

impl Cpu {
    fn total(self) -> f64 {
        self.user + self.system
    }
}

/// CPU time (seconds) a process has used so far, from /proc.
fn cpu_seconds(pid: Option<u32>) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // USER_HZ is 100 on Linux.
    Some(Cpu { user: ticks(11)? / 100.0, system: ticks(12)? / 100.0 })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

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

/// What one target's runs measured.
#[derive(Default)]
struct Measured {
    /// Bulk runs (Gbit/s) under each of the network's congestion controls, in its order.
    bulk: Vec<Vec<f64>>,
    short: Series,
    requests: Series,
}

/// Runs of short connections or of kept-alive requests.
#[derive(Default)]
struct Series {
    /// Per run: how many a second, and the proxy's CPU time for each (µs).
    rates: Vec<f64>,
    cpu: Vec<Cpu>,
    /// How long each took, over every run (µs).
    took: Vec<u32>,
}

/// What a series measured: medians of its runs, latencies over all of them.
struct Summary {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The proxy's CPU time each (µs), its user and kernel shares taken separately.
    cpu: Option<Cpu>,
}

impl Series {
    /// Runs `measure`, noting its rate, latencies and `pid`'s CPU time per item.
    async fn run(
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

    fn summary(&mut self) -> Summary {
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
fn short_connection_bound(direct: &Summary, svclab: &Summary, haproxy: &Summary) -> Option<String> {
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

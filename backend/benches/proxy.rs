//! Proxy benchmark, run by `cargo xtask bench proxy`: the same TCP backends (four, like a
//! service's pods) reached (a) directly, (b) through a svclab NodePort (a selectorless service
//! whose Endpoints name them) and (c) through HAProxy in TCP mode, all on loopback in one run. It
//! measures bulk throughput (one connection sending 1 GiB) and short connections per second
//! (connect, send a byte, read the reply, close; 16 at a time), and writes a Markdown section to
//! `target/bench/proxy.md`.
//!
//! Each client connects from an address of its own and there are four backends: with a single
//! source and destination, every path would be held to the same rate by the kernel's reuse of
//! ports in TIME_WAIT (about 14,000 connections a second here), whatever the proxy does.
//!
//! svclab (release build, `SVCLAB_BIN`) and HAProxy run as their own processes; the load and the
//! backends run here.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

const BULK_BYTES: u64 = 1 << 30;
const BULK_RUNS: usize = 2;
const SHORT_WORKERS: usize = 64;
const SHORT_SECONDS: u64 = 3;
/// Rounds over all targets in turn, so drift on a busy machine hits each alike.
const ROUNDS: usize = 5;
const NODE_NETWORK: &str = "127.77.1.0";
/// node-1 of that network.
const NODE_ADDR: &str = "127.77.1.1";
const NODE_PORT: u16 = 30999;
const BACKENDS: u8 = 4;

/// The backends, at 127.0.3.1…4 on one port.
async fn backends() -> Result<Vec<SocketAddr>> {
    let first = backend("127.0.3.1:0".parse()?).await?;
    let mut all = vec![first];
    for i in 2..=BACKENDS {
        all.push(backend(SocketAddr::from(([127, 0, 3, i], first.port()))).await?);
    }
    Ok(all)
}

/// A backend: reads until the client closes its side, then answers with the byte count.
async fn backend(at: SocketAddr) -> Result<SocketAddr> {
    let listener = TcpListener::bind(at).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
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
            });
        }
    });
    Ok(addr)
}

async fn bulk(target: SocketAddr) -> Result<f64> {
    let mut stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let chunk = vec![7u8; 256 * 1024];
    let started = Instant::now();
    let mut sent = 0;
    while sent < BULK_BYTES {
        stream.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    stream.shutdown().await?;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await?;
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

/// Client `i` connects from 127.0.4.(i+1) to `targets[i % len]`: connections per second, and
/// how long each took (connect to the reply), in microseconds.
async fn short_connections(targets: &[SocketAddr]) -> Result<(f64, Vec<u32>)> {
    let deadline = Instant::now() + Duration::from_secs(SHORT_SECONDS);
    let mut workers = Vec::new();
    for i in 0..SHORT_WORKERS {
        let (target, source) = (targets[i % targets.len()], std::net::Ipv4Addr::new(127, 0, 4, i as u8 + 1));
        workers.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let mut stream = connect_from(source, target).await?;
                stream.write_all(b"x").await?;
                stream.shutdown().await?;
                let mut count = [0u8; 8];
                stream.read_exact(&mut count).await?;
                took.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            anyhow::Ok(took)
        }));
    }
    let mut took = Vec::new();
    for w in workers {
        took.extend(w.await??);
    }
    Ok((took.len() as f64 / SHORT_SECONDS as f64, took))
}

/// The `q` quantile of `v` (sorted in place), in milliseconds.
fn quantile_ms(v: &mut [u32], q: f64) -> f64 {
    v.sort_unstable();
    v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1))).map_or(f64::NAN, |&us| us as f64 / 1000.0)
}

/// CPU time (user + system, all threads) a process has used so far, from /proc.
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Starts svclab and points a NodePort service at the backends; returns the node port's address.
async fn svclab(backends: &[SocketAddr]) -> Result<(Child, SocketAddr)> {
    let binary = std::env::var("SVCLAB_BIN").context("SVCLAB_BIN names the svclab binary to measure")?;
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--node-network", NODE_NETWORK, "--nodes", "1", "--dns", "127.0.0.1:0"])
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
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bench\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: {NODE_PORT}\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: bench\nsubsets:\n- addresses:\n{}  ports:\n  - port: {}\n",
        backends.iter().map(|b| format!("  - ip: {}\n", b.ip())).collect::<String>(),
        backends[0].port()
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
    let node: SocketAddr = format!("{NODE_ADDR}:{NODE_PORT}").parse()?;
    wait_for(node).await?;
    Ok((child, node))
}

async fn haproxy(backends: &[SocketAddr]) -> Result<(Child, SocketAddr, String)> {
    let version = std::process::Command::new("haproxy").arg("-v").output().context("haproxy is not installed")?;
    let version = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or_default().to_string();
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let dir = std::env::temp_dir().join(format!("svclab-bench-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nfrontend bench\n  bind {listen}\n  default_backend pods\nbackend pods\n  balance roundrobin\n{}",
            backends.iter().enumerate().map(|(i, b)| format!("  server pod{i} {b}\n")).collect::<String>()
        ),
    )?;
    let child = Command::new("haproxy").arg("-db").arg("-f").arg(&config).kill_on_drop(true).spawn()?;
    wait_for(listen).await?;
    Ok((child, listen, version))
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

#[tokio::main]
async fn main() -> Result<()> {
    let backends = backends().await?;
    let (svclab_process, node_port) = svclab(&backends).await?;
    let (haproxy_process, haproxy_addr, haproxy_version) = haproxy(&backends).await?;
    // The proxy's own process, whose CPU time per short connection is reported too: the load,
    // the backend and the proxy share the machine, so a proxy that costs more leaves less for them.
    let targets = [
        ("direct to the backends", backends.clone(), None),
        ("svclab NodePort", vec![node_port], svclab_process.id()),
        ("HAProxy, TCP mode", vec![haproxy_addr], haproxy_process.id()),
    ];
    let mut bulk_runs = vec![Vec::new(); targets.len()];
    let mut short_runs = vec![Vec::new(); targets.len()];
    let mut short_cpu = vec![Vec::new(); targets.len()];
    let mut short_took: Vec<Vec<u32>> = vec![Vec::new(); targets.len()];
    // `SVCLAB_BENCH_ONLY=bulk` or `=short` measures one of the two (to profile it by hand).
    let only = std::env::var("SVCLAB_BENCH_ONLY").unwrap_or_default();
    let (do_bulk, do_short) = (only != "short", only != "bulk");
    // `SVCLAB_BENCH_TARGET=svclab` (or `HAProxy`, `direct`) measures only the targets whose
    // name starts so, with the proxies' process ids printed, for a profiler to attach.
    let chosen = std::env::var("SVCLAB_BENCH_TARGET").unwrap_or_default();
    if !chosen.is_empty() {
        eprintln!("svclab pid {:?}, HAProxy pid {:?}", svclab_process.id(), haproxy_process.id());
    }
    for _ in 0..ROUNDS {
        for (i, (name, target, pid)) in targets.iter().enumerate() {
            if !name.starts_with(&chosen) {
                continue;
            }
            for _ in 0..if do_bulk { BULK_RUNS } else { 0 } {
                bulk_runs[i].push(bulk(target[0]).await?);
            }
            if !do_short {
                continue;
            }
            let before = cpu_seconds(*pid);
            let (per_second, took) = short_connections(target).await?;
            short_took[i].extend(took);
            if let (Some(before), Some(after)) = (before, cpu_seconds(*pid)) {
                short_cpu[i].push((after - before) / (per_second * SHORT_SECONDS as f64) * 1e6);
            }
            short_runs[i].push(per_second);
        }
    }
    let mut rows = Vec::new();
    for (i, (name, _, _)) in targets.iter().enumerate() {
        let (gbps, cps) = (median(bulk_runs[i].clone()), median(short_runs[i].clone()));
        let cpu = (!short_cpu[i].is_empty()).then(|| median(short_cpu[i].clone()));
        let (p50, p99) = (quantile_ms(&mut short_took[i], 0.5), quantile_ms(&mut short_took[i], 0.99));
        eprintln!(
            "{name}: {gbps:.2} Gbit/s, {cps:.0} connections/s (p50 {p50:.2} ms, p99 {p99:.2} ms), {cpu:?} µs CPU per connection"
        );
        eprintln!("  runs: bulk {:.1?}, short {:.0?}, CPU {:.1?}", bulk_runs[i], short_runs[i], short_cpu[i]);
        rows.push((*name, gbps, cps, (p50, p99), cpu));
    }
    let (direct, svclab, haproxy) = (&rows[0], &rows[1], &rows[2]);
    let mut out = String::new();
    out.push_str("## Service proxy (NodePort) against HAProxy\n\n");
    out.push_str(&format!(
        "{BACKENDS} TCP backends on loopback, reached directly, through a svclab NodePort (a service whose endpoints they are), and through HAProxy in TCP mode ({haproxy_version}; round robin over them). Bulk: one connection sending 1 GiB (median of {}). Short connections: {SHORT_WORKERS} clients, each from an address of its own, connecting, sending a byte and reading the reply, for {SHORT_SECONDS} s (median of {ROUNDS}), with how long connections took (connect to reply; p50 and p99 over every round) and the CPU time the proxy process used per connection (user + system, from /proc). Targets are measured in turn, {ROUNDS} rounds.\n\n",
        BULK_RUNS * ROUNDS
    ));
    out.push_str("| path | bulk throughput | short connections | their p50 / p99 | proxy CPU per short connection |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (name, gbps, cps, (p50, p99), cpu) in &rows {
        let cpu = cpu.map_or("–".to_string(), |us| format!("{us:.1} µs"));
        out.push_str(&format!("| {name} | {gbps:.2} Gbit/s | {cps:.0} /s | {p50:.2} / {p99:.2} ms | {cpu} |\n"));
    }
    out.push_str(&format!(
        "\nRatios: svclab / HAProxy: bulk {:.2}×, short connections {:.2}× (CPU per connection {}); svclab / direct bulk: {:.0}% (targets: ≥ 1× HAProxy on both, ≥ 60% of direct bulk). Past its first 256 KiB a direction is spliced socket → pipe (1 MiB) → socket inside the kernel, never copied through svclab.\n",
        svclab.1 / haproxy.1,
        svclab.2 / haproxy.2,
        match (svclab.4, haproxy.4) {
            (Some(s), Some(h)) => format!("{:.2}×", s / h),
            _ => "–".into(),
        },
        svclab.1 / direct.1 * 100.0
    ));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("proxy.md"), &out)?;
    println!("{out}");
    Ok(())
}

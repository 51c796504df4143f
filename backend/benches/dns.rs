//! DNS benchmark, run by `cargo xtask bench dns`: dnsperf (Debian's) sends the same query mix to
//! svclab's cluster DNS (release build, `SVCLAB_BIN`), to BIND 9 (Debian's `named`) and to Knot
//! DNS (Debian's `knotd`) serving equivalent zone files, one after the other in the same run,
//! each as its own process. The
//! zone: 1,000 services with a named port (A, SRV, PTR), plus names that do not exist. Throughput
//! comes from dnsperf's summary; the latency percentiles from a dnsperf run at the target rate
//! with per-query output; the servers are measured in turn for three rounds, medians reported. Writes `target/bench/dns.md`.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SERVICES: usize = 1000;
const SECONDS: u32 = 5;
/// Rounds of measurement, alternating the servers.
const ROUNDS: usize = 3;
const CLIENTS: u32 = 8;
const NODE_NETWORK: &str = "127.0.8.0";
/// The node network of the svclab built before a change, measured beside it when
/// `SVCLAB_BIN_BEFORE` names one.
const NODE_NETWORK_BEFORE: &str = "127.0.9.0";
/// The rate at which latency is measured: the throughput target.
const LATENCY_QPS: u32 = 30_000;

fn free_port() -> Result<u16> {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
    Ok(udp.local_addr()?.port())
}

/// Whether `server` answers an A query for `name` with an address.
async fn answers(server: SocketAddr, name: &str) -> bool {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    let Ok(qname) = Name::from_ascii(name) else { return false };
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(qname, RecordType::A));
    let Ok(bytes) = m.to_vec() else { return false };
    match svclab::dns::client::exchange_udp(server, &bytes, Duration::from_millis(300)).await {
        Ok(raw) => Message::from_vec(&raw).is_ok_and(|r| !r.answers.is_empty()),
        Err(_) => false,
    }
}

async fn wait_answering(server: SocketAddr, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers(server, name).await {
        if Instant::now() > deadline {
            bail!("{server} did not answer {name} in time");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts svclab with 1,000 services; returns the process, the DNS address and the services'
/// cluster IPs.
async fn svclab(binary: &str, node_network: &str) -> Result<(Child, SocketAddr, Vec<String>)> {
    let dns: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let mut child = Command::new(binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--node-network",
            node_network,
            "--nodes",
            "1",
            "--dns",
            &dns.to_string(),
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
    let manifest: String = (0..SERVICES)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  clusterIP: 10.100.{}.{}\n  ports:\n  - name: http\n    port: 80\n---\n",
                i / 250,
                i % 250 + 1
            )
        })
        .collect();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{api}/lab/v1/apply"))
        .header("content-type", "application/yaml")
        .body(manifest)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("applying the services failed: {}", response.text().await?);
    }
    let list: serde_json::Value =
        client.get(format!("http://{api}/api/v1/namespaces/default/services")).send().await?.json().await?;
    let mut ips = vec![String::new(); SERVICES];
    for svc in list["items"].as_array().context("a service list")? {
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        if let Some(i) = name.strip_prefix("svc-").and_then(|i| i.parse::<usize>().ok()) {
            ips[i] = svc["spec"]["clusterIP"].as_str().unwrap_or_default().to_string();
        }
    }
    wait_answering(dns, &format!("svc-{}.default.svc.cluster.local.", SERVICES - 1)).await?;
    Ok((child, dns, ips))
}

/// Writes the same records as zone files (`cluster.local.zone`, `in-addr.arpa.zone`) into `dir`.
fn zone_files(ips: &[String], dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let soa = "@ 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5\n@ 5 IN NS ns.dns.cluster.local.\n";
    let mut zone = format!("$ORIGIN cluster.local.\n{soa}ns.dns 5 IN A 10.96.0.10\ndns-version 5 IN TXT \"1.1.0\"\n");
    let mut reverse = format!("$ORIGIN in-addr.arpa.\n{soa}");
    for (i, ip) in ips.iter().enumerate() {
        zone.push_str(&format!("svc-{i}.default.svc 5 IN A {ip}\n_http._tcp.svc-{i}.default.svc 5 IN SRV 0 100 80 svc-{i}.default.svc.cluster.local.\n"));
        let o: Vec<&str> = ip.split('.').collect();
        reverse.push_str(&format!("{}.{}.{}.{} 5 IN PTR svc-{i}.default.svc.cluster.local.\n", o[3], o[2], o[1], o[0]));
    }
    std::fs::write(dir.join("cluster.local.zone"), zone)?;
    std::fs::write(dir.join("in-addr.arpa.zone"), reverse)?;
    Ok(())
}

/// Starts `named` serving the same records from zone files; returns it, its address and version.
async fn bind(ips: &[String]) -> Result<(Child, SocketAddr, String)> {
    let version = std::process::Command::new("named").arg("-v").output().context("BIND (named) is not installed")?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let dir = std::env::temp_dir().join(format!("svclab-bench-bind-{}", std::process::id()));
    zone_files(ips, &dir)?;
    let port = free_port()?;
    let conf = format!(
        "options {{\n  directory \"{dir}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  pid-file none;\n  dnssec-validation no;\n}};\nzone \"cluster.local\" {{ type primary; file \"cluster.local.zone\"; }};\nzone \"in-addr.arpa\" {{ type primary; file \"in-addr.arpa.zone\"; }};\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("named.conf"), conf)?;
    // Two worker threads, as svclab has on this machine.
    let child = Command::new("named")
        .args(["-g", "-n", "2", "-c"])
        .arg(dir.join("named.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting named")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    wait_answering(addr, "svc-0.default.svc.cluster.local.").await?;
    Ok((child, addr, version))
}

/// Starts Knot DNS (`knotd`) serving the same zone files; returns it, its address and version.
async fn knot(ips: &[String]) -> Result<(Child, SocketAddr, String)> {
    let version =
        std::process::Command::new("knotd").arg("-V").output().context("Knot DNS (knotd) is not installed")?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let dir = std::env::temp_dir().join(format!("svclab-bench-knot-{}", std::process::id()));
    zone_files(ips, &dir)?;
    let port = free_port()?;
    // Two UDP workers, as svclab and BIND have here.
    let conf = format!(
        "server:\n  listen: 127.0.0.1@{port}\n  rundir: \"{dir}\"\n  udp-workers: 2\n  tcp-workers: 1\n  background-workers: 1\ndatabase:\n  storage: \"{dir}\"\ntemplate:\n  - id: default\n    storage: \"{dir}\"\n    semantic-checks: off\n    journal-content: none\n    zonefile-sync: -1\nzone:\n  - domain: cluster.local\n    file: cluster.local.zone\n  - domain: in-addr.arpa\n    file: in-addr.arpa.zone\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("knot.conf"), conf)?;
    let child = Command::new("knotd")
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting knotd")?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    wait_answering(addr, "svc-0.default.svc.cluster.local.").await?;
    Ok((child, addr, version))
}

/// The query mix: per service an A, and for a quarter of them an SRV, a PTR and a name that
/// does not exist.
fn queries(ips: &[String]) -> Result<std::path::PathBuf> {
    let mut text = String::new();
    for (i, ip) in ips.iter().enumerate() {
        text.push_str(&format!("svc-{i}.default.svc.cluster.local A\n"));
        if i % 4 == 0 {
            let o: Vec<&str> = ip.split('.').collect();
            text.push_str(&format!("_http._tcp.svc-{i}.default.svc.cluster.local SRV\n"));
            text.push_str(&format!("{}.{}.{}.{}.in-addr.arpa PTR\n", o[3], o[2], o[1], o[0]));
            text.push_str(&format!("missing-{i}.default.svc.cluster.local A\n"));
        }
    }
    let path = std::env::temp_dir().join(format!("svclab-bench-queries-{}", std::process::id()));
    std::fs::write(&path, text)?;
    Ok(path)
}

struct Run {
    qps: f64,
    lost: String,
    p50_ms: f64,
    p99_ms: f64,
}

fn field<'a>(output: &'a str, label: &str) -> Option<&'a str> {
    output.lines().find_map(|l| l.trim().strip_prefix(label)).map(str::trim)
}

/// dnsperf's throughput against `server` over `seconds`: queries per second and the lost count.
fn throughput(server: SocketAddr, queries: &std::path::Path, seconds: u32) -> Result<(f64, String)> {
    let out = dnsperf_command(server, queries, seconds).output().context("dnsperf is not installed")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let qps: f64 = field(&text, "Queries per second:").context("dnsperf's summary")?.parse()?;
    Ok((qps, field(&text, "Queries lost:").unwrap_or("?").to_string()))
}

/// Latency percentiles (p50, p99, in ms) at the target rate, from per-query output.
fn latency(server: SocketAddr, queries: &std::path::Path) -> Result<(f64, f64)> {
    // At the target load, below saturation (at saturation latency is only queueing).
    let out = dnsperf_command(server, queries, 3).args(["-v", "-Q", &LATENCY_QPS.to_string()]).output()?;
    let mut latencies: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("> "))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    if latencies.is_empty() {
        bail!("dnsperf -v reported no latencies");
    }
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize] * 1000.0;
    Ok((at(0.5), at(0.99)))
}

fn dnsperf_command(server: SocketAddr, queries: &std::path::Path, seconds: u32) -> std::process::Command {
    let mut cmd = std::process::Command::new("dnsperf");
    cmd.args(["-s", &server.ip().to_string(), "-p", &server.port().to_string()]).arg("-d").arg(queries).args([
        "-l",
        &seconds.to_string(),
        "-c",
        &CLIENTS.to_string(),
        "-T",
        "2",
        "-q",
        "200",
    ]);
    cmd
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The servers measured in turn, [`ROUNDS`] times, so that the machine's drift touches them
/// alike; the medians are reported.
fn measure(servers: &[SocketAddr], queries: &std::path::Path) -> Result<Vec<Run>> {
    let n = servers.len();
    let (mut qps, mut lost, mut p50, mut p99) =
        (vec![Vec::new(); n], vec![String::new(); n], vec![Vec::new(); n], vec![Vec::new(); n]);
    for _ in 0..ROUNDS {
        for (i, server) in servers.iter().enumerate() {
            let (q, l) = throughput(*server, queries, SECONDS)?;
            eprintln!("server {i} ({server}): {q:.0} queries/s");
            qps[i].push(q);
            lost[i] = l;
            let (a, b) = latency(*server, queries)?;
            p50[i].push(a);
            p99[i].push(b);
        }
    }
    Ok((0..n)
        .map(|i| Run {
            qps: median(qps[i].clone()),
            lost: lost[i].clone(),
            p50_ms: median(p50[i].clone()),
            p99_ms: median(p99[i].clone()),
        })
        .collect())
}

#[tokio::main]
async fn main() -> Result<()> {
    let binary = std::env::var("SVCLAB_BIN").context("SVCLAB_BIN names the svclab binary to measure")?;
    let (svclab_child, svclab_dns, ips) = svclab(&binary, NODE_NETWORK).await?;
    // The same services at the same addresses in the build before a change, when asked for.
    let before = match std::env::var("SVCLAB_BIN_BEFORE") {
        Ok(binary) => Some(svclab(&binary, NODE_NETWORK_BEFORE).await?),
        Err(_) => None,
    };
    let (named, named_addr, bind_version) = bind(&ips).await?;
    let (knotd, knot_addr, knot_version) = knot(&ips).await?;
    let queries = queries(&ips)?;
    let mut servers = vec![svclab_dns, named_addr, knot_addr];
    servers.extend(before.as_ref().map(|(_, dns, _)| *dns));
    let runs = measure(&servers, &queries)?;
    drop((svclab_child, named, knotd, before));
    let (ours, bind9, knot) = (&runs[0], &runs[1], &runs[2]);
    let dnsperf_version = std::process::Command::new("dnsperf").arg("-h").output().ok();
    let dnsperf_version = dnsperf_version
        .and_then(|o| {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            text.lines().find(|l| l.starts_with("Version")).map(|l| l.trim().to_string())
        })
        .unwrap_or_default();
    let mut out = String::from("## Cluster DNS against BIND and Knot DNS\n\n");
    out.push_str(&format!(
        "{SERVICES} services with a named port; the query mix is an A query per service and, for every fourth, an SRV, a PTR and a name that does not exist (NXDOMAIN). dnsperf ({dnsperf_version}) with {CLIENTS} clients, 2 threads, up to 200 queries outstanding, {SECONDS} s per server and round, {ROUNDS} rounds alternating the servers, medians reported; latency percentiles from a 3 s run per round at {LATENCY_QPS} queries/s (the throughput target, below either server's saturation) with per-query latencies. BIND: `{bind_version}` with two worker threads (`-n 2`), the same records as zone files, recursion off. Knot DNS: `{knot_version}` with two UDP workers, the same zone files.\n\n"
    ));
    out.push_str("| server | queries/s | lost | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: |\n");
    let names = ["svclab (hickory-server)", "BIND 9", "Knot DNS", "svclab, the build before the change"];
    for (name, r) in names.iter().zip(&runs) {
        out.push_str(&format!("| {name} | {:.0} | {} | {:.3} ms | {:.3} ms |\n", r.qps, r.lost, r.p50_ms, r.p99_ms));
    }
    if let Some(before) = runs.get(3) {
        out.push_str(&format!(
            "\nThis build / the build before the change (`SVCLAB_BIN_BEFORE`, measured in the same rounds): {:.2}× the queries per second, p99 {:.3} ms vs {:.3} ms.\n",
            ours.qps / before.qps,
            ours.p99_ms,
            before.p99_ms
        ));
    }
    let (ratio, knot_ratio) = (ours.qps / bind9.qps, ours.qps / knot.qps);
    let met = |ok: bool| if ok { "met" } else { "not met" };
    out.push_str(&format!(
        "\nsvclab / BIND: {ratio:.2}× the queries per second; svclab / Knot DNS: {knot_ratio:.2}×. Targets: ≥ 30,000 queries/s ({}), ≥ BIND ({}), ≥ Knot DNS ({}), p99 under 1 ms ({}).\n",
        met(ours.qps >= 30_000.0),
        met(ratio >= 1.0),
        met(knot_ratio >= 1.0),
        met(ours.p99_ms < 1.0),
    ));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("dns.md"), &out)?;
    println!("{out}");
    Ok(())
}

//! Network programming latency benchmark, run by `cargo xtask bench programming`: 1,000 services
//! with 10 endpoints each (10,000 pods). While a background task keeps flipping pods in and out
//! of other services, each measured change flips one pod's label through the API registry and
//! times how long until the proxy table published to the data plane reflects it (the whole path:
//! store → watch → endpoints controller → Endpoints → proxier). Then the same for cluster DNS:
//! services created and deleted, timed until a real query gets the new answer. Then the scale
//! kube-proxy's iptables mode takes seconds at: 10,000 services × 10 endpoints (100,000
//! endpoints, written as Endpoints objects), network and DNS programming measured the same way,
//! with the process's memory. Writes `target/bench/programming.md`.

use anyhow::Result;
use rand::Rng;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use svclab::addr::{Protocol, VirtualAddr};
use svclab::app::{App, Config};
use svclab::registry::{Patch, Registry};
use svclab::store::ObjectKey;
use svclab_shared::{Kind, Object};

const SERVICES: usize = 1000;
const NODES: u8 = 100;
const PODS_PER_SERVICE: usize = 10;
const MEASURED: usize = 500;
/// Background changes per second, on services the measurement does not touch.
const CHURN_PER_SECOND: u64 = 100;
/// DNS changes measured (half creations, half deletions).
const DNS_MEASURED: usize = 400;

fn object(value: serde_json::Value) -> Object {
    Object::from_value(value).expect("a valid object")
}

fn flip(registry: &Registry, service: usize, pod: usize, member: bool) -> Result<()> {
    let app = if member { format!("svc-{service}") } else { "parked".to_string() };
    let key = ObjectKey::new(Kind::Pod, "default", &format!("p-{service}-{pod}"));
    let relabel = Patch::Merge(serde_json::json!({"metadata": {"labels": {"app": app}}}));
    registry.patch(&key, relabel, &svclab::registry::Write::INTERNAL)?;
    Ok(())
}

fn backends(app: &App, addr: &VirtualAddr) -> usize {
    app.proxy.table().cluster_ip(addr).map_or(0, |r| r.backends.len())
}

/// Whether the cluster DNS answers an A query for `fqdn` with an address now.
async fn dns_answers(dns: std::net::SocketAddr, fqdn: &str) -> bool {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::new(9, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(fqdn).expect("a valid name"), RecordType::A));
    let bytes = m.to_vec().expect("encodable");
    match svclab::dns::client::exchange_udp(dns, &bytes, Duration::from_millis(200)).await {
        Ok(raw) => Message::from_vec(&raw).is_ok_and(|r| !r.answers.is_empty()),
        Err(_) => false,
    }
}

/// `count` changes, alternately creating a service and deleting it through the API registry,
/// each timed (ms) until a UDP query to the cluster DNS gets the new answer.
async fn dns_changes(app: &App, count: usize) -> Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(count);
    for n in 0..count {
        let name = format!("probe-{}", n / 2);
        let fqdn = format!("{name}.default.svc.cluster.local.");
        let create = n % 2 == 0;
        let t0 = Instant::now();
        if create {
            app.registry.create(object(serde_json::json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"}, "spec": {"ports": [{"port": 80}]}})))?;
        } else {
            app.registry.delete(&ObjectKey::new(Kind::Service, "default", &name), None)?;
        }
        while dns_answers(app.dns_addr, &fqdn).await != create {}
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(ms)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    // The large cluster first, so that its memory is measured in a process that has used none.
    let scaled = scale().await?;
    // 110 pods fit on a node, as in Kubernetes: 10,000 pods need a hundred nodes.
    let app = App::start(Config { nodes: NODES, ..Config::ephemeral() }).await?;
    let registry = app.registry.clone();
    let started = Instant::now();
    let mut addrs = Vec::with_capacity(SERVICES);
    for i in 0..SERVICES {
        let svc = registry.create(object(serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc-{i}"), "namespace": "default"},
            "spec": {"selector": {"app": format!("svc-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}})))?;
        let ip: Ipv4Addr = svc.to_value()["spec"]["clusterIP"].as_str().unwrap_or_default().parse()?;
        addrs.push(VirtualAddr { ip, port: 80, protocol: Protocol::Tcp });
    }
    for i in 0..SERVICES {
        for j in 0..PODS_PER_SERVICE {
            registry.create(object(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("p-{i}-{j}"), "namespace": "default", "labels": {"app": format!("svc-{i}")}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 8080}]}]}})))?;
        }
    }
    let mut updates = app.proxy.table_updates();
    loop {
        let ready = addrs.iter().filter(|a| backends(&app, a) == PODS_PER_SERVICE).count();
        if ready == SERVICES {
            break;
        }
        updates.changed().await?;
    }
    let setup = started.elapsed();
    eprintln!("{SERVICES} services × {PODS_PER_SERVICE} endpoints programmed in {setup:.1?}");

    // Background churn on the second half of the services.
    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicU64::new(0));
    let churn = {
        let (registry, stop, churned) = (registry.clone(), stop.clone(), churned.clone());
        tokio::spawn(async move {
            let mut member = vec![true; SERVICES * PODS_PER_SERVICE];
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / CHURN_PER_SECOND));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let (i, j) = {
                    let mut rng = rand::rng();
                    (rng.random_range(SERVICES / 2..SERVICES), rng.random_range(0..PODS_PER_SERVICE))
                };
                let slot = i * PODS_PER_SERVICE + j;
                member[slot] = !member[slot];
                if flip(&registry, i, j, member[slot]).is_ok() {
                    churned.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let mut latencies = Vec::with_capacity(MEASURED);
    let measuring = Instant::now();
    for n in 0..MEASURED {
        let (i, j) = {
            let mut rng = rand::rng();
            (rng.random_range(0..SERVICES / 2), rng.random_range(0..PODS_PER_SERVICE))
        };
        // Take a pod out, or (every other round) put the last one back.
        let member = n % 2 == 1;
        let expected = if member { PODS_PER_SERVICE } else { PODS_PER_SERVICE - 1 };
        let (i, j) = if member { latest(&latencies, i, j) } else { (i, j) };
        let t0 = Instant::now();
        flip(&registry, i, j, member)?;
        let mut updates = app.proxy.table_updates();
        while backends(&app, &addrs[i]) != expected {
            updates.changed().await?;
        }
        latencies.push((t0.elapsed().as_secs_f64() * 1000.0, i, j));
    }
    let elapsed = measuring.elapsed().as_secs_f64();
    let churned_meanwhile = churned.load(Ordering::Relaxed);

    // DNS: a service created or deleted among the 1,000, timed until the cluster DNS answers
    // for it (or stops), with real queries over UDP, while the churn goes on.
    let mut dns_ms = dns_changes(&app, DNS_MEASURED).await?;
    stop.store(true, Ordering::Relaxed);
    churn.await?;

    let mut ms: Vec<f64> = latencies.iter().map(|(l, _, _)| *l).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let (p50, p90, p99, max) = (percentile(&ms, 0.5), percentile(&ms, 0.9), percentile(&ms, 0.99), ms[ms.len() - 1]);
    let churn_rate = churned_meanwhile as f64 / elapsed;
    let mut out = String::new();
    out.push_str("## Network programming latency\n\n");
    out.push_str(&format!(
        "{SERVICES} services × {PODS_PER_SERVICE} endpoints ({} pods on {NODES} nodes, programmed from scratch in {:.1} s). {MEASURED} changes, one at a time, each taking a pod out of its service or putting it back through the API registry, timed until the proxy table published to the data plane reflects it, while other services churned at {churn_rate:.0} changes/s.\n\n",
        SERVICES * PODS_PER_SERVICE,
        setup.as_secs_f64()
    ));
    out.push_str("| p50 | p90 | p99 | max |\n| ---: | ---: | ---: | ---: |\n");
    out.push_str(&format!("| {p50:.2} ms | {p90:.2} ms | {p99:.2} ms | {max:.2} ms |\n\n"));
    out.push_str(&format!("Target: p99 ≤ 10 ms — {}.\n", if p99 <= 10.0 { "met" } else { "not met" }));
    dns_ms.sort_by(|a, b| a.total_cmp(b));
    let (d50, d90, d99, dmax) =
        (percentile(&dns_ms, 0.5), percentile(&dns_ms, 0.9), percentile(&dns_ms, 0.99), dns_ms[dns_ms.len() - 1]);
    out.push_str("\n## DNS programming latency\n\n");
    out.push_str(&format!(
        "The same cluster ({SERVICES} services): {DNS_MEASURED} changes, alternately creating a service and deleting it through the API registry, each timed until a UDP query to the cluster DNS gets the new answer (the address, then NXDOMAIN), while the churn above went on.\n\n"
    ));
    out.push_str("| p50 | p90 | p99 | max |\n| ---: | ---: | ---: | ---: |\n");
    out.push_str(&format!("| {d50:.2} ms | {d90:.2} ms | {d99:.2} ms | {dmax:.2} ms |\n\n"));
    out.push_str(&format!("Target: p99 ≤ 10 ms — {}.\n", if d99 <= 10.0 { "met" } else { "not met" }));
    app.shutdown().await;
    out.push_str(&scaled);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("programming.md"), &out)?;
    println!("{out}");
    Ok(())
}

const SCALE_SERVICES: usize = 10_000;
const SCALE_ENDPOINTS: usize = 10;
const SCALE_MEASURED: usize = 300;
const SCALE_DNS_MEASURED: usize = 200;

/// The process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// The bytes the allocator holds for live allocations, in MiB (glibc's `mallinfo2`).
fn heap_mib() -> f64 {
    // SAFETY: mallinfo2 reads the allocator's counters and has no preconditions.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks as f64 / (1024.0 * 1024.0)
}

/// The Endpoints of scale service `i` with `n` addresses.
fn scale_endpoints(i: usize, n: usize) -> Object {
    let addresses: Vec<serde_json::Value> =
        (0..n).map(|j| serde_json::json!({"ip": format!("10.{}.{}.{}", 64 + j, i / 256, i % 256)})).collect();
    object(serde_json::json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": format!("big-{i}"), "namespace": "default"},
        "subsets": [{"addresses": addresses, "ports": [{"port": 8080}]}]}))
}

/// Network and DNS programming at 10,000 services × 10 endpoints.
async fn scale() -> Result<String> {
    let before = rss_mib();
    let app = App::start(Config::ephemeral()).await?;
    let registry = app.registry.clone();
    let started = Instant::now();
    let mut addrs = Vec::with_capacity(SCALE_SERVICES);
    for i in 0..SCALE_SERVICES {
        let svc = registry.create(object(serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("big-{i}"), "namespace": "default"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]}})))?;
        let ip: Ipv4Addr = svc.to_value()["spec"]["clusterIP"].as_str().unwrap_or_default().parse()?;
        addrs.push(VirtualAddr { ip, port: 80, protocol: Protocol::Tcp });
        registry.create(scale_endpoints(i, SCALE_ENDPOINTS))?;
    }
    let mut updates = app.proxy.table_updates();
    while addrs.iter().any(|a| backends(&app, a) != SCALE_ENDPOINTS) {
        updates.changed().await?;
    }
    let setup = started.elapsed();
    // Memory once the cluster has settled: the EndpointSlice mirroring controller has written a
    // slice for each service (it runs on after the proxy has the endpoints, so a reading taken at
    // once varies by a hundred MiB between runs) and the data plane has read them.
    let mirrored = || {
        let slices = registry.store().list(svclab_shared::Kind::EndpointSlice, Some("default")).1;
        slices.iter().filter(|s| s.metadata().name.as_deref().is_some_and(|n| n.starts_with("big-"))).count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while mirrored() < SCALE_SERVICES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while Instant::now() < deadline {
        tokio::select! {
            changed = updates.changed() => changed?,
            _ = tokio::time::sleep(Duration::from_millis(500)) => break,
        }
    }
    let memory = rss_mib() - before;
    let heap = heap_mib();
    eprintln!(
        "{SCALE_SERVICES} services × {SCALE_ENDPOINTS} endpoints programmed in {setup:.1?}, {memory:.0} MiB ({heap:.0} MiB heap)"
    );

    let mut ms = Vec::with_capacity(SCALE_MEASURED);
    for n in 0..SCALE_MEASURED {
        let i = rand::rng().random_range(0..SCALE_SERVICES);
        let count = if n % 2 == 0 { SCALE_ENDPOINTS - 1 } else { SCALE_ENDPOINTS };
        let key = ObjectKey::new(Kind::Endpoints, "default", &format!("big-{i}"));
        let t0 = Instant::now();
        let mut eps = scale_endpoints(i, count);
        if let Some(current) = registry.store().get(&key) {
            eps.metadata_mut().resource_version = current.metadata().resource_version.clone();
        }
        registry.update(eps)?;
        let mut updates = app.proxy.table_updates();
        while backends(&app, &addrs[i]) != count {
            updates.changed().await?;
        }
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        if count != SCALE_ENDPOINTS {
            registry.update({
                let mut back = scale_endpoints(i, SCALE_ENDPOINTS);
                back.metadata_mut().resource_version =
                    registry.store().get(&key).and_then(|c| c.metadata().resource_version.clone());
                back
            })?;
            let mut updates = app.proxy.table_updates();
            while backends(&app, &addrs[i]) != SCALE_ENDPOINTS {
                updates.changed().await?;
            }
        }
    }
    let mut dns_ms = dns_changes(&app, SCALE_DNS_MEASURED).await?;
    app.shutdown().await;
    ms.sort_by(|a, b| a.total_cmp(b));
    dns_ms.sort_by(|a, b| a.total_cmp(b));
    let row = |v: &[f64]| {
        format!(
            "| {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            v[v.len() - 1]
        )
    };
    let (p99, d99) = (percentile(&ms, 0.99), percentile(&dns_ms, 0.99));
    let verdict = |p: f64| if p <= 50.0 { "met" } else { "not met" };
    Ok(format!(
        "\n## Programming latency at 10,000 services\n\n{SCALE_SERVICES} services × {SCALE_ENDPOINTS} endpoints ({} endpoints, written as Endpoints objects of selectorless services), programmed from scratch in {:.1} s; the cluster took {memory:.0} MiB of resident memory, {heap:.0} MiB of it in live allocations (measured first in the benchmark's process, so nothing else had used memory before it, once the EndpointSlice mirroring controller had written a slice for each service and the data plane had read them). Network: {SCALE_MEASURED} changes to one service's Endpoints (an address taken out), each timed until the proxy table reflects it. DNS: {SCALE_DNS_MEASURED} services created or deleted, each timed until a UDP query gets the new answer. (kube-proxy's iptables mode takes seconds per change at this size.)\n\n| | p50 | p90 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |\n| network {}\n| DNS {}\n\nTarget: p99 ≤ 50 ms — network {}, DNS {}.\n",
        SCALE_SERVICES * SCALE_ENDPOINTS,
        setup.as_secs_f64(),
        row(&ms),
        row(&dns_ms),
        verdict(p99),
        verdict(d99)
    ))
}

/// The pod taken out in the previous round, to put back.
fn latest(latencies: &[(f64, usize, usize)], i: usize, j: usize) -> (usize, usize) {
    latencies.last().map_or((i, j), |(_, i, j)| (*i, *j))
}

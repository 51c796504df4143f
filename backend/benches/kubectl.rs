//! kubectl against a large cluster, run by `cargo xtask bench kubectl`: 10,000 pods and 1,000
//! services, listed as `kubectl get pods -A` and `kubectl get svc -A` list them (pages of 500
//! rows as Tables, each following the last's continue token from one snapshot). Measures the
//! server's time per page, as kubectl asks for it (Table) and as `-o json` does, and the whole
//! kubectl call with every kubectl the machine has. Writes `target/bench/kubectl.md`.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use svclab::app::{App, Config};
use svclab_shared::Object;

const SERVICES: usize = 1000;
const PODS: usize = 10_000;
const NAMESPACES: usize = 10;
/// Rounds of listing everything, page by page.
const ROUNDS: usize = 10;
/// Runs of each whole kubectl call.
const CALLS: usize = 7;

const TABLE: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn object(value: serde_json::Value) -> Object {
    Object::from_value(value).expect("a valid object")
}

/// Every page of a list, timed from request to the last byte of the answer.
async fn pages(client: &reqwest::Client, base: &str, path: &str, accept: &str) -> Result<Vec<Duration>> {
    let mut times = Vec::new();
    let mut token = String::new();
    loop {
        let mut url = format!("{base}{path}?limit=500");
        if !token.is_empty() {
            url.push_str(&format!("&continue={token}"));
        }
        let started = Instant::now();
        let body = client.get(&url).header("accept", accept).send().await?.bytes().await?;
        times.push(started.elapsed());
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        token = page["metadata"]["continue"].as_str().unwrap_or_default().to_string();
        if token.is_empty() {
            return Ok(times);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The kubectls to time: the machine's, and the one `cargo xtask test` installs.
fn kubectls() -> Vec<String> {
    let installed = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tools/kubectl/bin/kubectl");
    ["/usr/bin/kubectl", installed].into_iter().filter(|p| std::path::Path::new(p).exists()).map(String::from).collect()
}

fn kubectl_version(binary: &str, home: &std::path::Path, kubeconfig: &std::path::Path) -> String {
    let out = std::process::Command::new(binary)
        .args(["version", "-o", "json"])
        .env("HOME", home)
        .env("KUBECONFIG", kubeconfig)
        .output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    value["clientVersion"]["gitVersion"].as_str().unwrap_or("kubectl").trim_end_matches("-dispatcher").to_string()
}

/// Runs of a whole kubectl call, after one that warms its discovery cache.
fn calls(binary: &str, args: &[&str], home: &std::path::Path, kubeconfig: &std::path::Path) -> Result<Vec<f64>> {
    let mut times = Vec::new();
    for run in 0..=CALLS {
        let started = Instant::now();
        let out = std::process::Command::new(binary)
            .args(args)
            .env("HOME", home)
            .env("KUBECONFIG", kubeconfig)
            .output()
            .context("kubectl runs")?;
        let took = started.elapsed();
        anyhow::ensure!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        if run > 0 {
            times.push(ms(took));
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let app = App::start(Config::ephemeral()).await?;
    let registry = app.registry.clone();
    let started = Instant::now();
    for n in 0..NAMESPACES {
        registry.create(object(
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("team-{n}")}}),
        ))?;
    }
    for i in 0..SERVICES {
        let ns = format!("team-{}", i % NAMESPACES);
        registry.create(object(serde_json::json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc-{i}"), "namespace": ns},
            "spec": {"selector": {"app": format!("svc-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}})))?;
    }
    // Pods bound to a node without a kubelet: stored and listed, not run.
    for i in 0..PODS {
        let service = i % SERVICES;
        let ns = format!("team-{}", service % NAMESPACES);
        let created = registry.create(object(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("pod-{i}"), "namespace": ns, "labels": {"app": format!("svc-{service}")}},
            "spec": {"nodeName": "bench-node", "containers": [{"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}]}]}})))?;
        let mut running = (*created).clone();
        if let Object::Pod(pod) = &mut running {
            let status = pod.status.get_or_insert_with(Default::default);
            status.phase = Some("Running".into());
            status.pod_ip = Some(format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256));
        }
        registry.update_status(&running)?;
    }
    let populated = started.elapsed();
    // Let the controllers finish with what was created (endpoints for every service) before
    // anything is timed: until the store has not changed for a second.
    let settle = Instant::now() + Duration::from_secs(120);
    let mut last = (registry.store().resource_version(), Instant::now());
    while last.1.elapsed() < Duration::from_secs(1) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = registry.store().resource_version();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }

    let base = format!("http://{}", app.api_addr);
    let client = reqwest::Client::new();
    let mut rows = Vec::new();
    let mut worst_table_p99 = 0.0f64;
    // One listing of each to warm up, untimed.
    for (path, accept) in [("/api/v1/pods", TABLE), ("/api/v1/pods", "application/json")] {
        pages(&client, &base, path, accept).await?;
    }
    for (what, path, accept) in [
        ("pods, as a Table (`kubectl get pods -A`)", "/api/v1/pods", TABLE),
        ("pods, as a PodList (`-o json`)", "/api/v1/pods", "application/json"),
        ("services, as a Table (`kubectl get svc -A`)", "/api/v1/services", TABLE),
    ] {
        let mut all = Vec::new();
        let mut count = 0;
        for _ in 0..ROUNDS {
            let times = pages(&client, &base, path, accept).await?;
            count = times.len();
            all.extend(times.iter().map(|t| ms(*t)));
        }
        all.sort_by(f64::total_cmp);
        if accept == TABLE {
            worst_table_p99 = worst_table_p99.max(percentile(&all, 0.99));
        }
        rows.push(format!(
            "| {what} | {count} | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            all.last().copied().unwrap_or_default()
        ));
    }

    let dir = std::env::temp_dir().join(format!("svclab-bench-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    let entry = svclab::kubeconfig::Entry { name: "svclab".into(), server: base.clone(), token: None };
    svclab::kubeconfig::write_standalone(&kubeconfig, &entry)?;
    let mut calls_rows = Vec::new();
    for binary in kubectls() {
        let version = kubectl_version(&binary, &dir, &kubeconfig);
        for args in [["get", "pods", "-A"], ["get", "svc", "-A"]] {
            let times = calls(&binary, &args, &dir, &kubeconfig)?;
            calls_rows.push(format!(
                "| kubectl {} ({version}) | {:.0} ms | {:.0} ms |",
                args.join(" "),
                percentile(&times, 0.5),
                times.last().copied().unwrap_or_default()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    app.shutdown().await;

    let md = format!(
        "## kubectl against 10,000 pods and 1,000 services\n\n\
         A release svclab holding {PODS} pods and {SERVICES} services in {NAMESPACES} namespaces (set up through the API registry in {:.1} s; the pods are bound to a node without a kubelet). \
         Server time per page: `GET /api/v1/pods?limit=500` and its continue tokens, as kubectl lists (Table `Accept`, every row's cells and object metadata) and as `-o json` does, from request to the last byte over loopback, every page of {ROUNDS} complete listings. \
         Whole calls: `kubectl get pods -A` and `kubectl get svc -A` to /dev/null, discovery cached (a first call warms the cache), median and slowest of {CALLS}.\n\n\
         | list | pages | p50 per page | p99 per page | slowest page |\n| --- | ---: | ---: | ---: | ---: |\n{}\n\n\
         | whole call | p50 | slowest |\n| --- | ---: | ---: |\n{}\n\n\
         Target: the server ≤ 20 ms per 500-row page as kubectl asks for it — {}.\n",
        populated.as_secs_f64(),
        rows.join("\n"),
        calls_rows.join("\n"),
        if worst_table_p99 <= 20.0 { "met (p99)" } else { "not met" },
    );
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&target)?;
    std::fs::write(target.join("kubectl.md"), &md)?;
    println!("{md}");
    Ok(())
}

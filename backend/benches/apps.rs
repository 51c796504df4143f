//! A real application's time to come up, run by `cargo xtask bench apps`: svclab's twelve-service
//! shop (examples/shop.yaml, 40 objects) applied with the real kubectl into a fresh namespace,
//! timed until every one of its 13 Services has a ready endpoint, against the longest
//! `initialDelaySeconds` of its readiness probes (no cluster can be ready before that); and the
//! same with every initial delay set to 0, which leaves only svclab's own work. Writes
//! `target/bench/apps.md`.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use svclab::app::{App, Config};

const SHOP: &str = include_str!("../../examples/shop.yaml");
const RUNS: usize = 7;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The longest `initialDelaySeconds` of the readiness probes in `yaml`.
fn longest_delay(yaml: &str) -> u64 {
    yaml.split("readinessProbe:")
        .skip(1)
        .filter_map(|probe| {
            let line = probe.lines().find(|l| l.trim_start().starts_with("initialDelaySeconds:"))?;
            line.split(':').nth(1)?.trim().parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// The kubectl to apply with: the one `cargo xtask test` installs, else the machine's.
fn kubectl() -> String {
    let installed = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tools/kubectl/bin/kubectl");
    [installed, "/usr/bin/kubectl"].into_iter().find(|p| std::path::Path::new(p).exists()).unwrap_or("kubectl").into()
}

/// The services of the namespace that have no ready endpoint yet.
async fn unready(client: &reqwest::Client, base: &str, ns: &str) -> Result<usize> {
    let list: serde_json::Value =
        client.get(format!("{base}/api/v1/namespaces/{ns}/endpoints")).send().await?.json().await?;
    let items = list["items"].as_array().context("an endpoints list")?;
    let ready = |e: &serde_json::Value| {
        e["subsets"].as_array().into_iter().flatten().any(|s| s["addresses"].as_array().is_some_and(|a| !a.is_empty()))
    };
    Ok(13usize.saturating_sub(items.iter().filter(|e| ready(e)).count()))
}

/// One run: (kubectl apply's own time, time until every service has a ready endpoint).
async fn run(
    kubectl: &str,
    file: &std::path::Path,
    home: &std::path::Path,
    base: &str,
    ns: &str,
) -> Result<(f64, f64)> {
    let client = reqwest::Client::new();
    let kube = |args: &[&str]| {
        std::process::Command::new(kubectl)
            .args(args)
            .env("HOME", home)
            .env("KUBECONFIG", home.join("kubeconfig"))
            .output()
            .context("kubectl runs")
    };
    let made = kube(&["create", "namespace", ns])?;
    anyhow::ensure!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let started = Instant::now();
    let applied = kube(&["apply", "-n", ns, "-f", file.to_str().context("a path")?])?;
    let apply = started.elapsed();
    anyhow::ensure!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let deadline = started + Duration::from_secs(60);
    while unready(&client, base, ns).await? > 0 {
        anyhow::ensure!(Instant::now() < deadline, "{ns} did not come up within a minute");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((ms(apply), ms(started.elapsed())))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let app = App::start(Config::ephemeral()).await?;
    let base = format!("http://{}", app.api_addr);
    let dir = std::env::temp_dir().join(format!("svclab-bench-apps-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let entry = svclab::kubeconfig::Entry { name: "svclab".into(), server: base.clone(), token: None };
    svclab::kubeconfig::write_standalone(&dir.join("kubeconfig"), &entry)?;
    let kubectl = kubectl();
    let undelayed = SHOP
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("initialDelaySeconds:") {
                l.split(':').next().unwrap_or(l).to_string() + ": 0"
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rows = Vec::new();
    let mut over_worst = 0.0f64;
    for (what, yaml) in [("as written", SHOP.to_string()), ("every initialDelaySeconds 0", undelayed)] {
        let delay = longest_delay(&yaml);
        let file = dir.join(format!("shop-{delay}.yaml"));
        std::fs::write(&file, &yaml)?;
        let (mut applies, mut readies) = (Vec::new(), Vec::new());
        for i in 0..=RUNS {
            let (apply, ready) = run(&kubectl, &file, &dir, &base, &format!("shop-{delay}-{i}")).await?;
            // The first run warms kubectl's discovery cache.
            if i > 0 {
                applies.push(apply);
                readies.push(ready);
            }
        }
        applies.sort_by(f64::total_cmp);
        readies.sort_by(f64::total_cmp);
        let bound = delay as f64 * 1000.0;
        let (p50, worst) = (percentile(&readies, 0.5), readies.last().copied().unwrap_or_default());
        if delay > 0 {
            over_worst = over_worst.max(worst - bound);
        }
        rows.push(format!(
            "| {what} | {delay} s | {:.0} ms | {p50:.0} ms | {worst:.0} ms | {:+.0} ms |",
            percentile(&applies, 0.5),
            worst - bound
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    app.shutdown().await;
    let verdict = if over_worst <= 1000.0 { "met" } else { "not met" };
    let md = format!(
        "## A twelve-service application, from kubectl apply to ready\n\n\
         svclab's shop (examples/shop.yaml: 13 Deployments (one a load generator whose init container waits for the frontend), 13 Services, 12 ServiceAccounts, 2 ConfigMaps; gRPC exec and native probes, an httpGet and a tcpSocket one) applied with `kubectl apply -n <fresh namespace> -f`, timed from the start of kubectl until every Service has a ready endpoint in the API, {RUNS} runs after one that warms kubectl's discovery cache. \
         No cluster can be ready before the longest readiness `initialDelaySeconds`: that is the bound each run is measured against (the last column, slowest run minus the bound). \
         With every delay set to 0 what is left is svclab's own work: scheduling 12 pods, starting their programs, the first probe of each, the endpoints controller.\n\n\
         | manifests | longest initial delay | kubectl apply (p50) | ready (p50) | ready (slowest) | slowest over the bound |\n| --- | ---: | ---: | ---: | ---: | ---: |\n{}\n\n\
         Target: ready within 1 s of the longest initial delay — {verdict} ({over_worst:.0} ms over at worst).\n",
        rows.join("\n")
    );
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench"))?;
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/apps.md"), md)?;
    Ok(())
}

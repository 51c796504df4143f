//! The durable store, run by `cargo xtask bench store`: creates per second with 8 concurrent
//! writers, (1) through the whole API of a release svclab (`SVCLAB_BIN`) on SQLite against one
//! in memory (`--ephemeral`), (2) at the storage layer alone, svclab's SQLite store against etcd
//! (Debian's `etcd-server`, one member, its defaults: every commit fsynced) taking the same
//! objects as puts from 8 clients through its own v3 API, and (3) start-up on a database holding
//! 10,000 pods: how long until the API answers, and until it lists them all. Writes
//! `target/bench/store.md`.

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use svclab::store::{Location, Store};
use svclab_shared::Object;
use tokio::io::{AsyncBufReadExt, BufReader};

const WRITERS: usize = 8;
const API_CREATES: usize = 8_000;
const STORE_CREATES: usize = 16_000;
const STORED_PODS: usize = 10_000;

/// The object every benchmark writes: a Secret of about 1 KiB, as JSON.
fn secret(name: &str) -> Value {
    let payload: String = (0..1024).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default",
           "labels": {"app": "bench"}}, "stringData": {"payload": payload}})
}

/// A release svclab, killed when dropped.
struct Child {
    _process: tokio::process::Child,
    base: String,
}

async fn start(args: &[&str]) -> Result<(Child, Instant)> {
    let binary = std::env::var("SVCLAB_BIN").context("SVCLAB_BIN names the release svclab")?;
    let started = Instant::now();
    let mut process = tokio::process::Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--ingress-http", "127.0.0.1:0"])
        .args(["--ingress-https", "127.0.0.1:0", "--no-kubeconfig", "--dashboard", "/nonexistent"])
        .args(["--node-network", "127.79.1.0"])
        .args(args)
        .env("RUST_LOG", "svclab=warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(process.stdout.take().context("stdout")?).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix("svclab is running: dashboard and API at ") {
            let base = rest.split(',').next().unwrap_or_default().to_string();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((Child { _process: process, base }, started));
        }
    }
    bail!("svclab stopped before it was running")
}

/// Creates per second through the API: 8 clients, each with its own connection.
async fn api_creates(args: &[&str]) -> Result<f64> {
    let (child, _) = start(args).await?;
    let url = format!("{}/api/v1/namespaces/default/secrets", child.base);
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder().no_proxy().build()?;
                for i in 0..API_CREATES / WRITERS {
                    let r = client.post(&url).json(&secret(&format!("s-{w}-{i}"))).send().await?;
                    anyhow::ensure!(r.status() == 201, "create answered {}", r.status());
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    Ok(API_CREATES as f64 / started.elapsed().as_secs_f64())
}

/// Creates per second at svclab's storage layer: 8 threads on one store.
fn store_creates(store: &Store) -> Result<f64> {
    let objects: Vec<Vec<Object>> = (0..WRITERS)
        .map(|w| {
            (0..STORE_CREATES / WRITERS).map(|i| Object::from_value(secret(&format!("s-{w}-{i}"))).unwrap()).collect()
        })
        .collect();
    let started = Instant::now();
    let threads: Vec<_> = objects
        .into_iter()
        .map(|batch| {
            let store = store.clone();
            std::thread::spawn(move || batch.into_iter().try_for_each(|o| store.create(o).map(|_| ())))
        })
        .collect();
    for t in threads {
        t.join().expect("a writer panicked")?;
    }
    Ok(STORE_CREATES as f64 / started.elapsed().as_secs_f64())
}

/// Puts per second into etcd through its v3 API (JSON over HTTP/1.1, keep-alive), 8 clients.
async fn etcd_puts(dir: &std::path::Path) -> Result<f64> {
    let free = || -> Result<u16> { Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
    let (client_port, peer_port) = (free()?, free()?);
    let client_url = format!("http://127.0.0.1:{client_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let _etcd = tokio::process::Command::new("etcd")
        .args(["--data-dir", dir.join("etcd").to_str().unwrap(), "--name", "bench"])
        .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("bench={peer_url}"), "--log-level", "error"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("etcd starts (Debian's etcd-server)")?;
    let put = format!("{client_url}/v3/kv/put");
    let probe = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = json!({"key": "cHJvYmU=", "value": "cHJvYmU="});
        if probe.post(&put).json(&body).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "etcd did not answer within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let put = put.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder().no_proxy().build()?;
                for i in 0..STORE_CREATES / WRITERS {
                    let name = format!("s-{w}-{i}");
                    let key = format!("/registry/secrets/default/{name}");
                    let body = json!({"key": b64(&key), "value": b64(&secret(&name).to_string())});
                    let r = client.post(&put).json(&body).send().await?;
                    anyhow::ensure!(r.status().is_success(), "put answered {}", r.status());
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in writers {
        w.await??;
    }
    Ok(STORE_CREATES as f64 / started.elapsed().as_secs_f64())
}

/// A database holding 10,000 running pods, bound to a node no kubelet runs (so what is measured
/// is the store and the API, not 10,000 containers starting).
fn seed_pods(location: &Location) -> Result<()> {
    let store = Store::open(location)?;
    for i in 0..STORED_PODS {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i:05}"),
            "namespace": "default", "uid": uuid::Uuid::new_v4().to_string(), "labels": {"app": format!("app-{}", i % 1000)},
            "creationTimestamp": "2026-12-01T00:00:00Z"},
            "spec": {"nodeName": "node-without-kubelet", "containers": [{"name": "app", "image": "luksa/kubia",
                "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": format!("10.244.{}.{}", 100 + i / 250, 2 + i % 250),
                "conditions": [{"type": "Ready", "status": "True"}]}});
        store.create(Object::from_value(pod)?)?;
    }
    store.close();
    Ok(())
}

/// From starting svclab on the seeded database: until the API answers, and until it lists every pod.
async fn startup(dir: &std::path::Path) -> Result<(f64, f64)> {
    let (child, started) = start(&["--data-dir", dir.to_str().unwrap(), "--name", "pods"]).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/api/v1/namespaces/default/pods?limit=1", child.base);
    let r = client.get(&url).send().await?;
    anyhow::ensure!(r.status() == 200, "GET answered {}", r.status());
    let answered = started.elapsed().as_secs_f64();
    let list: Value = client.get(format!("{}/api/v1/namespaces/default/pods", child.base)).send().await?.json().await?;
    let listed = started.elapsed().as_secs_f64();
    let n = list["items"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(n == STORED_PODS, "the API lists {n} pods, {STORED_PODS} are stored");
    Ok((answered, listed))
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("bench store: through the API");
    let memory_api = api_creates(&["--ephemeral"]).await?;
    let sqlite_api = api_creates(&["--data-dir", dir.path().join("api").to_str().unwrap()]).await?;

    eprintln!("bench store: the storage layer");
    let memory_store = store_creates(&Store::new())?;
    let durable = Store::open(&Location::new(dir.path().join("layer"), "bench")?)?;
    let sqlite_store = store_creates(&durable)?;
    let commits = durable.commits().unwrap_or(0);
    durable.close();
    let etcd = etcd_puts(dir.path()).await?;

    eprintln!("bench store: start-up with {STORED_PODS} pods");
    seed_pods(&Location::new(dir.path(), "pods")?)?;
    let (answered, listed) = startup(dir.path()).await?;
    let size = Location::new(dir.path(), "pods")?.files().iter().map(|(_, s)| s).sum::<u64>();

    let report = format!(
        "## Durable store\n\n\
         Creates per second with {WRITERS} concurrent writers of the same 1 KiB Secret. SQLite in WAL mode with `synchronous=FULL` (every commit reaches the disk before the write is acknowledged), one committer thread, writers that arrive during a commit share the next one.\n\n\
         | | creates/s | ratio |\n|---|---:|---:|\n\
         | through the API, in memory (`--ephemeral`) | {memory_api:.0} | 1.00 |\n\
         | through the API, SQLite | {sqlite_api:.0} | {:.2} of in-memory (target ≥ 0.50) |\n\
         | storage layer, in memory | {memory_store:.0} | |\n\
         | storage layer, SQLite ({STORE_CREATES} creates in {commits} commits) | {sqlite_store:.0} | {:.2}× etcd (target ≥ 1.0) |\n\
         | etcd 3.4 (Debian's `etcd-server`), puts through its v3 API from {WRITERS} clients | {etcd:.0} | 1.00 |\n\n\
         etcd is reached through its own v3 HTTP API (JSON, keep-alive connections), the same protocol its gRPC clients speak transcoded; svclab's storage layer is called in-process, as kube-apiserver's own cache is, so the comparison favours svclab by the cost of a loopback round trip per put.\n\n\
         Start-up on a database of {STORED_PODS} running pods ({:.1} MiB): the API answered after {:.0} ms (target ≤ 1,000 ms) and listed all the pods after {:.0} ms, counted from starting the process.\n\n\
         API numbers: 8 reqwest clients in this process against a release svclab; each client sends its next create when the last is answered.",
        sqlite_api / memory_api,
        sqlite_store / etcd,
        size as f64 / 1_048_576.0,
        answered * 1000.0,
        listed * 1000.0,
    );
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/store.md");
    std::fs::create_dir_all(out.parent().unwrap())?;
    std::fs::write(out, report)?;
    Ok(())
}

//! The API under abuse, run by `cargo xtask bench api`: a release svclab in its own process
//! (`SVCLAB_BIN`), `GET /api/v1/namespaces/default/services` timed at rest, then while four
//! clients send the worst inputs in a loop (200 KB nesting bombs in YAML and JSON, an alias bomb,
//! bodies over 3 MiB, half-sent heads, foreign-origin writes), then beside 10,000 idle
//! connections. Every bad request's answer is timed too. Writes `target/bench/api.md`.

use anyhow::{Context, Result, bail};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

#[path = "../tests/common/bombs.rs"]
mod bombs;

use bombs::{alias_bomb, json_bomb, nesting_bomb};

const GETS: usize = 3000;
const IDLE: usize = 10_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// A release svclab on free ports, killed when dropped.
struct Child {
    _process: tokio::process::Child,
    base: String,
}

async fn start() -> Result<Child> {
    let binary = std::env::var("SVCLAB_BIN").context("SVCLAB_BIN names the release svclab")?;
    let mut process = tokio::process::Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--ingress-http", "127.0.0.1:0"])
        .args(["--ingress-https", "127.0.0.1:0", "--no-kubeconfig", "--ephemeral", "--dashboard", "/nonexistent"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(process.stdout.take().context("stdout")?).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix("svclab is running: dashboard and API at ") {
            let base = rest.split(',').next().unwrap_or_default().to_string();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(Child { _process: process, base });
        }
    }
    bail!("svclab stopped before it was running")
}

/// Times `n` GETs from a client on a thread and runtime of its own, so that what is measured is
/// the server's answer, not this process's attackers competing with the client for its runtime.
async fn gets(url: &str, n: usize) -> Result<Vec<f64>> {
    let url = url.to_string();
    let timer = std::thread::spawn(move || -> Result<Vec<f64>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let mut times = Vec::with_capacity(n);
            for i in 0..n + 50 {
                let started = Instant::now();
                let r = client.get(&url).send().await?;
                anyhow::ensure!(r.status() == 200, "GET answered {}", r.status());
                r.bytes().await?;
                // The first few open the connection and warm it.
                if i >= 50 {
                    times.push(ms(started.elapsed()));
                }
            }
            Ok(sorted(times))
        })
    });
    tokio::task::spawn_blocking(move || timer.join().map_err(|_| anyhow::anyhow!("the timing thread panicked"))?)
        .await?
}

/// The bad requests, by name: each is sent, its answer's code checked and its time kept.
type Bad = Arc<Mutex<Vec<(&'static str, f64)>>>;

async fn attacker(id: usize, base: String, stop: CancellationToken, bad: Bad) -> Result<()> {
    let client = reqwest::Client::new();
    let services = format!("{base}/api/v1/namespaces/default/services");
    let yaml_bomb = nesting_bomb(100_000);
    let json_bomb = json_bomb(100_000);
    let aliases = alias_bomb();
    let addr = base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    let mut round = id;
    while !stop.is_cancelled() {
        round += 1;
        let (name, request, expected) = match round % 6 {
            0 => (
                "YAML nesting bomb (200 KB)",
                client.post(&services).header("content-type", "application/yaml").body(yaml_bomb.clone()),
                400,
            ),
            1 => (
                "JSON nesting bomb (200 KB)",
                client.post(&services).header("content-type", "application/json").body(json_bomb.clone()),
                400,
            ),
            2 => (
                "YAML alias bomb",
                client.post(&services).header("content-type", "application/yaml").body(aliases.clone()),
                400,
            ),
            3 => {
                // It says its length: svclab answers before reading it, and closes.
                let started = Instant::now();
                let mut s = TcpStream::connect(&addr).await?;
                let head = format!(
                    "POST /api/v1/namespaces/default/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    3 * 1024 * 1024 + 1
                );
                s.write_all(head.as_bytes()).await?;
                let mut answer = Vec::new();
                s.read_to_end(&mut answer).await?;
                let took = ms(started.elapsed());
                anyhow::ensure!(answer.starts_with(b"HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer));
                bad.lock().await.push(("body over 3 MiB", took));
                continue;
            }
            4 => (
                "another site's form post",
                client
                    .post(format!("{base}/lab/v1/apply"))
                    .header("origin", "http://evil.example.com")
                    .header("content-type", "text/plain")
                    .body("kind: Service"),
                403,
            ),
            _ => {
                // A half-sent head, held open (up to 250 per attacker).
                if held.len() < 250 {
                    let mut s = TcpStream::connect(&addr).await?;
                    s.write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await?;
                    held.push(s);
                }
                continue;
            }
        };
        let started = Instant::now();
        let r = request.send().await?;
        let code = r.status().as_u16();
        r.bytes().await.ok();
        let took = ms(started.elapsed());
        anyhow::ensure!(code == expected, "{name} answered {code}, not {expected}");
        bad.lock().await.push((name, took));
    }
    Ok(())
}

fn row(what: &str, times: &[f64], rest_p99: f64) -> String {
    let p99 = percentile(times, 0.99);
    format!(
        "| {what} | {:.2} | {:.2} | {:.2} | {:.2}× |\n",
        percentile(times, 0.5),
        p99,
        times[times.len() - 1],
        p99 / rest_p99
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let child = start().await?;
    let base = child.base.clone();
    let client = reqwest::Client::new();
    // Something to list: the chapter's kubia and 50 more services.
    let kubia = include_str!("../../examples/kubia.yaml");
    client.post(format!("{base}/lab/v1/apply")).header("content-type", "application/yaml").body(kubia).send().await?;
    for i in 0..50 {
        let svc = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  selector:\n    app: kubia\n  ports:\n  - port: 80\n"
        );
        let r = client
            .post(format!("{base}/api/v1/namespaces/default/services"))
            .header("content-type", "application/yaml")
            .body(svc)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "creating svc-{i}: {}", r.status());
    }
    let url = format!("{base}/api/v1/namespaces/default/services");
    let at_rest = gets(&url, GETS).await?;
    let rest_p99 = percentile(&at_rest, 0.99);

    // Four attackers, while the same GETs are timed.
    let stop = CancellationToken::new();
    let bad: Bad = Arc::default();
    let attackers: Vec<_> =
        (0..4).map(|id| tokio::spawn(attacker(id, base.clone(), stop.clone(), bad.clone()))).collect();
    let under_abuse = gets(&url, GETS).await?;
    stop.cancel();
    for a in attackers {
        a.await??;
    }

    // 10,000 idle connections held open.
    let addr = base.trim_start_matches("http://").to_string();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(&addr).await?);
    }
    let beside_idle = gets(&url, GETS).await?;
    let still_open = {
        let mut open = 0;
        for s in &idle {
            let mut byte = [0u8; 1];
            // An idle connection the server has not closed reads nothing yet.
            if matches!(s.try_read(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                open += 1;
            }
        }
        open
    };
    drop(idle);

    let mut out = String::from("## API under abuse\n\n");
    out.push_str(&format!(
        "`GET /api/v1/namespaces/default/services` (52 services) from one client, {GETS} times in each condition, against a release svclab in its own process; times in ms. Under abuse, four more clients send in a loop: a 200 KB YAML nesting bomb (100,000 deep), the same in JSON, a YAML alias bomb (10¹⁰ nodes if expanded), a body over 3 MiB, another site's form post, and half-sent heads held open (up to 1,000). Target: p99 under abuse ≤ 2× at rest, and every bad request answered within 50 ms.\n\n"
    ));
    out.push_str("| condition | p50 | p99 | max | p99 / at rest |\n|---|---:|---:|---:|---:|\n");
    out.push_str(&row("at rest", &at_rest, rest_p99));
    out.push_str(&row("under abuse", &under_abuse, rest_p99));
    out.push_str(&row(&format!("beside {IDLE} idle connections ({still_open} still open)"), &beside_idle, rest_p99));
    out.push_str("\n| bad request | sent | answer | p50 | p99 | max |\n|---|---:|---|---:|---:|---:|\n");
    let bad = bad.lock().await;
    let mut worst = 0f64;
    for (name, code) in [
        ("YAML nesting bomb (200 KB)", "400 BadRequest"),
        ("JSON nesting bomb (200 KB)", "400 BadRequest"),
        ("YAML alias bomb", "400 BadRequest"),
        ("body over 3 MiB", "413 RequestEntityTooLarge"),
        ("another site's form post", "403 Forbidden"),
    ] {
        let times = sorted(bad.iter().filter(|(n, _)| *n == name).map(|(_, t)| *t).collect());
        if times.is_empty() {
            continue;
        }
        worst = worst.max(times[times.len() - 1]);
        out.push_str(&format!(
            "| {name} | {} | {code} | {:.2} | {:.2} | {:.2} |\n",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1]
        ));
    }
    let ratio = percentile(&under_abuse, 0.99) / rest_p99;
    out.push_str(&format!(
        "\nUnder abuse the p99 is **{ratio:.2}× at rest** (target ≤ 2×); the slowest bad request took **{worst:.1} ms** (target ≤ 50 ms).\n"
    ));
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench"))?;
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/api.md"), &out)?;
    println!("{out}");
    drop(child);
    Ok(())
}

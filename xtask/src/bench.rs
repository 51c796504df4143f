//! `cargo xtask bench [proxy|programming|dns|ingress|dashboard|kubectl|api|store|apps]`: the benchmarks, with their peers
//! installed when missing. Each writes its section to docs/benchmarks/<name>.md, and
//! docs/benchmarks.md gathers every section with the command that reproduces it.

use crate::setup::{self, root, run as sh};
use anyhow::{Result, bail};
use std::process::Command;

const BENCHES: &[&str] = &["proxy", "programming", "dns", "ingress", "dashboard", "kubectl", "api", "store", "apps"];

pub fn bench(which: Option<&str>) -> Result<()> {
    let chosen: Vec<&str> = match which {
        None => BENCHES.to_vec(),
        Some(b) if BENCHES.contains(&b) => vec![b],
        Some(other) => bail!("unknown benchmark {other:?}; there are: {}", BENCHES.join(", ")),
    };
    if chosen.contains(&"proxy") {
        setup::apt_tool("haproxy", "haproxy")?;
        // It brings up loopback in its network namespace with `ip`.
        setup::apt_tool("ip", "iproute2")?;
    }
    if chosen.contains(&"dns") {
        setup::apt_tool("dnsperf", "dnsperf")?;
        setup::apt_tool("named", "bind9")?;
        setup::apt_tool("knotd", "knot")?;
    }
    if chosen.contains(&"ingress") {
        setup::apt_tool("wrk", "wrk")?;
        setup::apt_tool("nginx", "nginx")?;
        setup::apt_tool("haproxy", "haproxy")?;
    }
    if chosen.contains(&"store") {
        setup::apt_tool("etcd", "etcd-server")?;
    }
    if chosen.contains(&"kubectl") || chosen.contains(&"apps") {
        // kubectl 1.37 beside the machine's own.
        setup::kubectl()?;
    }
    if chosen.contains(&"dashboard") {
        // Built first, so the release binary embeds the dashboard being measured.
        setup::build_frontend()?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    sh(Command::new(&cargo).args(["build", "--release", "--package", "svclab"]).current_dir(root()))?;
    for b in &chosen {
        if *b == "dashboard" {
            dashboard()?;
        } else {
            sh(Command::new(&cargo)
                .args(["bench", "--package", "svclab", "--bench", b])
                .env("SVCLAB_BIN", root().join("target/release/svclab"))
                .current_dir(root()))?;
        }
        let section = std::fs::read_to_string(root().join(format!("target/bench/{b}.md")))?;
        std::fs::create_dir_all(root().join("docs/benchmarks"))?;
        let section = format!("{}\n\n_Measured on {}._\n", section.trim_end(), machine());
        std::fs::write(root().join(format!("docs/benchmarks/{b}.md")), section)?;
    }
    write_doc()
}

/// The dashboard in Debian's chromium, driven by Playwright against a release svclab holding
/// 1,000 services and 10,000 pods, and an empty one for the landing page (e2e/bench/dashboard.mjs).
fn dashboard() -> Result<()> {
    setup::e2e_tools()?;
    sh(Command::new("node")
        .arg("bench/dashboard.mjs")
        .current_dir(root().join("e2e"))
        .env("SVCLAB_BIN", root().join("target/release/svclab"))
        .env("SVCLAB_BENCH_OUT", root().join("target/bench/dashboard.md"))
        .env("CHROMIUM_PATH", setup::chromium()))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu})")
}

/// Gathers every benchmark's section (docs/benchmarks/<name>.md) into docs/benchmarks.md.
fn write_doc() -> Result<()> {
    let mut doc = String::from("# Benchmarks\n\n");
    let each: Vec<String> = BENCHES.iter().map(|b| format!("`cargo xtask bench {b}`")).collect();
    doc.push_str(&format!(
        "Reproduce with `cargo xtask bench` (or {}). Everything runs on loopback, peers side by side in the same run. Numbers vary from run to run by a few percent; the ratios are what to read. Each section is kept in docs/benchmarks/, rewritten when its benchmark runs, and names the machine it ran on.\n\n",
        each.join(", ")
    ));
    // history.md is written by hand: what each change did to the numbers, after the tables.
    for b in BENCHES.iter().chain(&["history"]) {
        if let Ok(section) = std::fs::read_to_string(root().join(format!("docs/benchmarks/{b}.md"))) {
            doc.push_str(section.trim_end());
            doc.push_str("\n\n");
        }
    }
    std::fs::write(root().join("docs/benchmarks.md"), doc.trim_end().to_string() + "\n")?;
    eprintln!("xtask: wrote docs/benchmarks.md");
    Ok(())
}

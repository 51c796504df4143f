//! `cargo xtask bench [proxy|programming|dns|ingress]`: the benchmarks, with their peers installed when
//! missing, written to docs/benchmarks.md with the command that reproduces them.

use crate::setup::{self, root, run as sh};
use anyhow::{Result, bail};
use std::process::Command;

const BENCHES: &[&str] = &["proxy", "programming", "dns", "ingress"];

pub fn bench(which: Option<&str>) -> Result<()> {
    let chosen: Vec<&str> = match which {
        None => BENCHES.to_vec(),
        Some(b) if BENCHES.contains(&b) => vec![b],
        Some(other) => bail!("unknown benchmark {other:?}; there are: {}", BENCHES.join(", ")),
    };
    if chosen.contains(&"proxy") {
        setup::apt_tool("haproxy", "haproxy")?;
    }
    if chosen.contains(&"dns") {
        setup::apt_tool("dnsperf", "dnsperf")?;
        setup::apt_tool("named", "bind9")?;
    }
    if chosen.contains(&"ingress") {
        setup::apt_tool("wrk", "wrk")?;
        setup::apt_tool("nginx", "nginx")?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    sh(Command::new(&cargo).args(["build", "--release", "--package", "svclab"]).current_dir(root()))?;
    for b in &chosen {
        sh(Command::new(&cargo)
            .args(["bench", "--package", "svclab", "--bench", b])
            .env("SVCLAB_BIN", root().join("target/release/svclab"))
            .current_dir(root()))?;
    }
    write_doc()
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

/// Gathers every section the benchmarks wrote into docs/benchmarks.md.
fn write_doc() -> Result<()> {
    let dir = root().join("target/bench");
    let mut doc = String::from("# Benchmarks\n\n");
    doc.push_str(&format!(
        "Reproduce with `cargo xtask bench` (or `cargo xtask bench proxy`, `cargo xtask bench programming`, `cargo xtask bench dns`, `cargo xtask bench ingress`). Measured on {}, everything on loopback, peers run side by side in the same run. Numbers vary from run to run by a few percent; the ratios are what to read.\n\n",
        machine()
    ));
    for b in BENCHES {
        if let Ok(section) = std::fs::read_to_string(dir.join(format!("{b}.md"))) {
            doc.push_str(&section);
            doc.push('\n');
        }
    }
    std::fs::create_dir_all(root().join("docs"))?;
    std::fs::write(root().join("docs/benchmarks.md"), doc)?;
    eprintln!("xtask: wrote docs/benchmarks.md");
    Ok(())
}

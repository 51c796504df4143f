//! `cargo xtask`: build orchestration for svclab.
//!
//! - `run [ARGS…]`: install what is missing, build the dashboard, run svclab (release) on
//!   127.0.0.1:7070 with ARGS passed on.
//! - `test`: formatting, clippy, every Rust test, the shared crate for wasm32, then the
//!   Playwright suite against the built dashboard.
//! - `e2e`: only the Playwright suite.
//! - `bench [proxy|programming|dns|ingress|dashboard|kubectl|api|store|apps]`: the benchmarks, written to docs/benchmarks.md.
//! - `fuzz dns [--seconds N]`: malformed DNS packets against the server for N seconds (60).
//! - `fuzz api [--seconds N] [--seed S]`: damaged manifests and kubectl bodies against the API.
//! - `fuzz store [--kills N] [--seed S]`: writers, `kill -9` and restarts, N times (50).
//! - `gen-protobuf`: regenerates the protobuf field table from the k8s-pb crate's types.
//! - `wasm`: trunk's post_build hook, building the dashboard's WebAssembly split per route.
//!
//! Every install step is idempotent: it skips what is already there at the right version.

mod bench;
mod protobuf;
mod setup;
mod tasks;
mod tidy;
mod wasm;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "run" => tasks::run(&rest),
        "test" => tasks::test(),
        "e2e" => tasks::e2e(),
        "bench" => bench::bench(rest.first().map(String::as_str)),
        "fuzz" => tasks::fuzz(&rest),
        "gen-protobuf" => protobuf::generate(),
        "wasm" => wasm::build(),
        _ => bail!(
            "usage: cargo xtask run [SVCLAB ARGS…] | test | e2e | bench [proxy|programming|dns|ingress|dashboard|kubectl|api|store|apps] | fuzz dns|api [--seconds N] [--seed S] | fuzz store [--kills N] [--seed S] | gen-protobuf"
        ),
    }
}

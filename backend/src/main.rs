//! The `svclab` binary: parses flags, starts the app, stops on Ctrl-C.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use svclab::app::{App, Config};

/// A Kubernetes Services lab in one process.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address of the API and dashboard.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// Directory of the built dashboard (trunk's output).
    #[arg(long, default_value = "frontend/dist")]
    dashboard: PathBuf,
    /// Number of simulated nodes (node-1 … node-N at 127.0.1.1 …).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=250))]
    nodes: u8,
    /// Behave like an environment without load balancers: LoadBalancer services stay <pending>
    /// and work as NodePort services.
    #[arg(long)]
    no_load_balancers: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "svclab=info".into()))
        .init();
    let args = Args::parse();
    let config =
        Config { listen: args.listen, dashboard: Some(args.dashboard), nodes: args.nodes, ..Config::default() };
    let app = App::start(config).await?;
    println!("svclab is running: dashboard and API at http://{}", app.api_addr);
    tokio::signal::ctrl_c().await?;
    app.shutdown().await;
    Ok(())
}

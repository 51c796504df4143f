//! svclab as a child process on a data directory, to be killed and started again.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A random node network on loopback (`127.a.b.0`), so that concurrent tests' nodes differ.
pub fn node_network() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    format!("127.{}.{}.0", rng.random_range(16..=250u8), rng.random_range(0..=127u8) * 2)
}

/// A svclab process on a data directory, and where it listens.
pub struct Svclab {
    child: Child,
    pub api: SocketAddr,
    /// The ingress controller's HTTP address.
    pub ingress: Option<SocketAddr>,
}

impl Svclab {
    /// Starts svclab on `data` with its nodes on `node_network`, every listener on a free port;
    /// waits until it says where it listens.
    pub async fn start(data: &Path, node_network: &str, extra: &[&str]) -> Svclab {
        let mut child = Command::new(env!("CARGO_BIN_EXE_svclab"))
            .args(["--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0", "--dns", "127.0.0.1:0"])
            .args(["--ingress-http", "127.0.0.1:0", "--ingress-https", "127.0.0.1:0", "--no-kubeconfig"])
            .args(["--node-network", node_network, "--nodes", "2", "--dashboard", "/nonexistent"])
            .args(extra)
            .env("RUST_LOG", "svclab=warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("svclab starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (api, ingress) = tokio::time::timeout(Duration::from_secs(60), async {
            let mut api = None;
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("svclab is running: dashboard and API at http://") {
                    api = Some(rest.split(',').next().unwrap().parse::<SocketAddr>().unwrap());
                }
                if let Some(rest) = line.strip_prefix("ingress controller: http://") {
                    return (api.unwrap(), rest.split(' ').next().unwrap().parse::<SocketAddr>().ok());
                }
                if line.starts_with("ingress controller: disabled") {
                    return (api.unwrap(), None);
                }
            }
            panic!("svclab stopped before it said where it listens");
        })
        .await
        .expect("svclab says where it listens within a minute");
        // Keep reading, so that its output never blocks it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Svclab { child, api, ingress }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    /// `kill -9`.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -9");
    }
}

//! A running svclab on free ports, and a client for it.

#![allow(dead_code)]

pub mod bombs;
pub mod child;
pub mod gateway;

use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use svclab::app::{App, Config};
use tokio::time::Instant;

pub const KUBIA: &str = include_str!("../../../examples/kubia.yaml");

pub struct Lab {
    pub app: App,
    pub http: reqwest::Client,
}

impl Lab {
    pub async fn start() -> Lab {
        Lab::start_with(Config::ephemeral()).await
    }

    pub async fn start_with(config: Config) -> Lab {
        let app = App::start(config).await.expect("svclab starts");
        Lab { app, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.app.api_addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// A GET answered with text (a log).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().await.expect("request");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, content_type: &str, body: String) -> (u16, Value) {
        let r = self
            .http
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    pub async fn apply(&self, yaml: &str) -> (u16, Value) {
        self.send(reqwest::Method::POST, "/lab/v1/apply", "application/yaml", yaml.to_string()).await
    }

    pub async fn exec(&self, pod: &str, command: &[&str]) -> Value {
        let body = serde_json::json!({ "command": command }).to_string();
        let path = format!("/api/v1/namespaces/default/pods/{pod}/exec");
        let (code, value) = self.send(reqwest::Method::POST, &path, "application/json", body).await;
        assert_eq!(code, 200, "exec failed: {value}");
        value
    }

    /// An exec that may be refused (the container is not running yet): `None` then.
    pub async fn try_exec(&self, pod: &str, command: &[&str]) -> Option<Value> {
        let body = serde_json::json!({ "command": command }).to_string();
        let path = format!("/api/v1/namespaces/default/pods/{pod}/exec");
        let (code, value) = self.send(reqwest::Method::POST, &path, "application/json", body).await;
        (code == 200).then_some(value)
    }

    /// Names of the pods in `default` that are Running with an IP.
    pub async fn running_pods(&self) -> Vec<String> {
        let (_, list) = self.get("/api/v1/namespaces/default/pods").await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string())
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Ready endpoint addresses of a service, as (ip, pod name).
    pub async fn ready_endpoints(&self, service: &str) -> Vec<(String, String)> {
        let (_, eps) = self.get(&format!("/api/v1/namespaces/default/endpoints/{service}")).await;
        let mut out = Vec::new();
        for subset in eps["subsets"].as_array().into_iter().flatten() {
            for a in subset["addresses"].as_array().into_iter().flatten() {
                out.push((
                    a["ip"].as_str().unwrap().to_string(),
                    a["targetRef"]["name"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        out
    }
}

impl Lab {
    /// Waits until the proxy routes the service's first port to `n` ready endpoints: the data
    /// plane, not just the Endpoints object, has caught up.
    pub async fn serving(&self, service: &str, n: usize) {
        eventually(Duration::from_secs(10), "the proxy to route the service", || async {
            let (_, svc) = self.get(&format!("/api/v1/namespaces/default/services/{service}")).await;
            let ip: std::net::Ipv4Addr = svc["spec"]["clusterIP"].as_str()?.parse().ok()?;
            let port = svc["spec"]["ports"][0]["port"].as_u64()? as u16;
            let addr = svclab::addr::VirtualAddr { ip, port, protocol: svclab::addr::Protocol::Tcp };
            let table = self.app.proxy.table();
            (table.cluster_ip(&addr)?.backends.len() == n).then_some(())
        })
        .await;
    }
}

/// Polls `check` until it yields a value or `within` runs out.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A selectorless service `name` whose endpoint is `at` (a server the test runs on the host),
/// and an Ingress of the same name routing `host` to it, with `annotations` (YAML lines, each
/// indented four spaces, or none).
pub fn ingress_to_host(name: &str, host: &str, at: std::net::SocketAddr, annotations: &str) -> String {
    let annotations = if annotations.is_empty() { String::new() } else { format!("  annotations:\n{annotations}") };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - port: 80\n---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {name}\nsubsets:\n- addresses:\n  - ip: {}\n  ports:\n  - port: {}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n{annotations}spec:\n  rules:\n  - host: {host}\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: {name}\n            port:\n              number: 80\n",
        at.ip(),
        at.port()
    )
}

//! Helpers for the Gateway API tests: echo backends, Gateways, polling for addresses and route
//! conditions, and requests through a Gateway with what the echo server saw.

use super::{Lab, eventually};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub const PATIENCE: Duration = Duration::from_secs(10);
pub const NODE_PORT: &str = include_str!("../../../examples/kubia-nodeport.yaml");
pub const GATEWAY: &str = include_str!("../../../examples/kubia-gateway.yaml");

/// Echo servers named like the conformance suite's: pod and Service `infra-backend-v1`… on 8080.
pub fn backends(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {n}\n  labels:\n    app: {n}\nspec:\n  containers:\n  - name: echo\n    image: registry.k8s.io/echoserver:1.10\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {n}\nspec:\n  ports:\n  - port: 8080\n  selector:\n    app: {n}\n---\n"
            )
        })
        .collect()
}

/// A Gateway `same-namespace` of svclab's class with one HTTP listener on port 80.
pub fn gateway(name: &str, listeners: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\nspec:\n  gatewayClassName: svclab\n  listeners:\n{listeners}---\n"
    )
}

pub const HTTP_LISTENER: &str = "  - name: http\n    port: 80\n    protocol: HTTP\n";

pub async fn object(lab: &Lab, path: &str) -> Value {
    lab.get(path).await.1
}

pub fn gateway_path(name: &str) -> String {
    format!("/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/{name}")
}

pub fn route_path(ns: &str, name: &str) -> String {
    format!("/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/{name}")
}

/// The condition `type_` in `conditions`: (status, reason).
pub fn condition(conditions: &Value, type_: &str) -> Option<(String, String)> {
    let c = conditions.as_array()?.iter().find(|c| c["type"] == type_)?;
    Some((c["status"].as_str()?.to_string(), c["reason"].as_str()?.to_string()))
}

/// Waits for the Gateway's address, once it is Programmed.
pub async fn address(lab: &Lab, name: &str) -> String {
    eventually(PATIENCE, "the Gateway to be programmed", || async {
        let g = object(lab, &gateway_path(name)).await;
        let programmed = condition(&g["status"]["conditions"], "Programmed")?;
        (programmed.0 == "True").then(|| g["status"]["addresses"][0]["value"].as_str().map(String::from))?
    })
    .await
}

/// Waits until the route's first parent shows `type_` as (status, reason).
pub async fn parent_condition(lab: &Lab, ns: &str, route: &str, type_: &str, want: (&str, &str)) -> Value {
    let what = format!("{route}'s {type_} to be {want:?}");
    eventually(PATIENCE, &what, || async {
        let r = object(lab, &route_path(ns, route)).await;
        let got = condition(&r["status"]["parents"][0]["conditions"], type_)?;
        (got.0 == want.0 && got.1 == want.1).then_some(r)
    })
    .await
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The echo server's pod name (`Hostname: …`).
    pub fn backend(&self) -> &str {
        self.body.lines().find_map(|l| l.strip_prefix("Hostname: ")).unwrap_or_default()
    }

    /// A request header as the echo server saw it.
    pub fn seen(&self, name: &str) -> Option<&str> {
        let prefix = format!("\t{name}=");
        self.body.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    pub fn echoed(&self, field: &str) -> Option<&str> {
        let prefix = format!("\t{field}=");
        self.body.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
    }
}

pub async fn ask(
    client: &reqwest::Client,
    addr: &str,
    method: Method,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client.request(method, format!("http://{addr}{target}")).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.timeout(Duration::from_secs(5)).send().await.expect("the Gateway answers");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Answer { status, headers, body: r.text().await.unwrap_or_default() }
}

/// Waits until `host` + `target` reaches `backend` (routes take a moment to be programmed).
pub async fn reaches(lab: &Lab, addr: &str, host: &str, target: &str, backend: &str) {
    let client = client();
    let what = format!("{host}{target} to reach {backend}");
    eventually(PATIENCE, &what, || async {
        let a = ask(&client, addr, Method::GET, host, target, &[]).await;
        (a.backend() == backend).then_some(())
    })
    .await;
    let _ = lab;
}

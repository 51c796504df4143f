//! A small HTTP/1.1 client over one connection, for in-cluster clients (`curl` in a pod, the
//! dashboard's test requests).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What came back.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: hyper::Version,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The `Host` header, e.g. `10.96.0.12` or `kubia:8080`.
    pub host: String,
    /// Path and query, e.g. `/` or `/a?b=c`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    pub fn get(host: &str, target: &str) -> Self {
        Request { method: "GET".into(), host: host.into(), target: target.into(), headers: vec![], body: Bytes::new() }
    }
}

/// Sends one request on `stream` and reads the whole response.
pub async fn send(stream: TcpStream, request: &Request) -> Result<Response, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = hyper::Request::builder().method(request.method.as_str()).uri(request.target.as_str());
    let has = |name: &str| request.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("host") {
        builder = builder.header("Host", request.host.as_str());
    }
    if !has("user-agent") {
        builder = builder.header("User-Agent", "curl/7.88.1");
    }
    if !has("accept") {
        builder = builder.header("Accept", "*/*");
    }
    for (k, v) in &request.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let req = builder.body(Full::new(request.body.clone())).map_err(|e| e.to_string())?;
    let result = async {
        let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let version = response.version();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Response {
            version,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or_default().to_string(),
            headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

//! A small HTTP/1.1 client over one connection, plain or TLS, for in-cluster clients (`curl` in a
//! pod, the dashboard's test requests).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection failed, or the server's answer was not HTTP/1.1.
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// The request could not be made (a header that is not a header).
    #[error(transparent)]
    Request(#[from] hyper::http::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error(transparent)]
    TlsConfig(#[from] rustls::Error),
    #[error("invalid server name: {0}")]
    ServerName(#[from] rustls::pki_types::InvalidDnsNameError),
}

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
pub async fn send<S>(stream: S, request: &Request) -> Result<Response, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Client::handshake(stream).await?.send(request).await
}

/// An HTTP/1.1 connection that serves one request after another (keep-alive).
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Client {
    pub async fn handshake<S>(stream: S) -> Result<Client, HttpError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Client { sender, driver })
    }

    /// Sends `request` and reads the whole response; the connection stays open for the next.
    pub async fn send(&mut self, request: &Request) -> Result<Response, HttpError> {
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
        let req = builder.body(Full::new(request.body.clone()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let status = response.status();
        let version = response.version();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response {
            version,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or_default().to_string(),
            headers,
            body,
        })
    }
}

/// Accepts any server certificate, as `curl -k` does: svclab's test clients look at what a
/// server presents rather than trusting it.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Which servers a TLS client trusts.
pub enum Trust {
    /// Any certificate (`curl -k`): svclab's test clients look at what a server presents.
    Any,
    /// Certificates that chain to these roots and name the server (`curl --cacert FILE`).
    Roots(rustls::RootCertStore),
}

/// Starts TLS on `stream` with SNI `server_name`, accepting any certificate (`curl -k`); returns
/// the stream and the subject of the certificate the server presented (`CN=kubia.example.com`).
pub async fn tls_connect(
    stream: TcpStream,
    server_name: &str,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, String), HttpError> {
    tls_connect_with(stream, server_name, Trust::Any).await
}

/// Starts TLS on `stream` with SNI `server_name`, trusting what `trust` says; the stream and
/// the subject of the server's certificate.
pub async fn tls_connect_with(
    stream: TcpStream,
    server_name: &str,
    trust: Trust,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, String), HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let config = match trust {
        Trust::Any => builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))),
        Trust::Roots(roots) => builder.with_root_certificates(roots),
    }
    .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector.connect(name, stream).await.map_err(HttpError::Tls)?;
    let subject = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| x509_parser::parse_x509_certificate(cert).ok().map(|(_, c)| c.subject().to_string()))
        .unwrap_or_default();
    Ok((tls, subject.replace(", ", ",")))
}

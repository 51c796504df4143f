//! The ingress's HTTP behaviours, in one place for both of its paths (the fast path in
//! [`super::downstream`] and hyper's server in [`super::server`]): how long a client may take,
//! which headers concern one hop only, the `X-Forwarded-*` headers set on each request, and the
//! answers the ingress gives itself, worded as ingress-nginx words them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;

/// How long a client has to send a request head, from when the ingress starts waiting for it
/// (so also how long an idle keep-alive connection stays open).
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(super) type Body = BoxBody<Bytes, BoxError>;

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long requests in flight may take to finish once the ingress stops.
pub const DRAIN: Duration = Duration::from_secs(5);

/// The bodies of the answers the ingress gives itself, as ingress-nginx words them.
pub const NOT_FOUND: &str = "default backend - 404\n";
pub const UNAVAILABLE: &str = "503 Service Temporarily Unavailable";
pub const BAD_GATEWAY: &str = "502 Bad Gateway";
pub const GATEWAY_TIMEOUT: &str = "504 Gateway Time-out";
pub const INTERNAL_ERROR: &str = "500 Internal Server Error";

pub(super) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_SCHEME: HeaderName = HeaderName::from_static("x-forwarded-scheme");
const X_SCHEME: HeaderName = HeaderName::from_static("x-scheme");

/// The headers the ingress sets on each request to a pod (a client's own are replaced); their
/// values come from [`Peer::forwarded`].
pub static FORWARDED: [HeaderName; 7] =
    [X_FORWARDED_FOR, X_REAL_IP, X_FORWARDED_HOST, X_FORWARDED_PORT, X_FORWARDED_PROTO, X_FORWARDED_SCHEME, X_SCHEME];

/// The headers that concern one hop only (RFC 9110 §7.6.1), besides those `Connection` names.
pub static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// A client connection, with the values its requests' `X-Forwarded-*` headers take.
pub struct Peer {
    client_ip: HeaderValue,
    port: HeaderValue,
    scheme: HeaderValue,
}

impl Peer {
    /// A client at `addr` that connected over `scheme` (`http` or `https`) to port `port`.
    pub fn new(addr: SocketAddr, scheme: &'static str, port: u16) -> Self {
        let client_ip = HeaderValue::from_str(&addr.ip().to_string()).expect("an address is a header value");
        Peer { client_ip, port: HeaderValue::from(port), scheme: HeaderValue::from_static(scheme) }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.scheme.to_str().unwrap_or("http")
    }

    /// The port the client connected to.
    pub fn port(&self) -> u16 {
        self.port.to_str().ok().and_then(|p| p.parse().ok()).unwrap_or(80)
    }

    /// The values of the [`FORWARDED`] headers, in their order, for a request to `host`.
    pub fn forwarded<'a>(&'a self, host: &'a [u8]) -> [&'a [u8]; 7] {
        let (ip, port, scheme) = (self.client_ip.as_bytes(), self.port.as_bytes(), self.scheme.as_bytes());
        [ip, ip, host, port, scheme, scheme, scheme]
    }
}

pub(super) fn wants_upgrade(headers: &HeaderMap) -> bool {
    let connection = headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok());
    headers.contains_key(header::UPGRADE)
        && connection.flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the headers that concern one hop only (RFC 9110 §7.6.1), keeping `Connection: upgrade`
/// and `Upgrade` for an upgrade.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages have none: one pass over their few names instead of a lookup per name.
    if !headers.keys().any(|n| HOP_BY_HOP.contains(n)) {
        if upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && *n == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP[2..] {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// nginx's own error page, as ingress-nginx answers 502 and 503.
pub fn error_page(title: &str) -> String {
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// A redirect to `location` with `status` (a `RequestRedirect` filter's answer).
pub(super) fn redirect(status: u16, location: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    if let Ok(location) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, location);
    }
    r
}

pub(super) fn html_error(status: StatusCode, title: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(error_page(title))).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

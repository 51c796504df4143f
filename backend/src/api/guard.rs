//! What every request to the API and dashboard passes before a handler sees it:
//!
//! - **Host**: a name svclab answers to (loopback names, IP addresses, `--allowed-host`), so a
//!   web page cannot reach the API by rebinding its own domain name to 127.0.0.1;
//! - **Origin**: a browser's request that changes something (any method but GET and HEAD, or a
//!   WebSocket upgrade) must come from the dashboard's own origin, so another site's form post,
//!   `text/plain` fetch or WebSocket is refused (kubectl, curl and client libraries send no
//!   Origin and are unaffected);
//! - **a bearer token**: svclab's own (required when it listens beyond loopback) or a service
//!   account's; a token that is neither is refused, as kube-apiserver refuses it, and who the
//!   caller is goes with the request ([`Caller`]);
//! - **the body**: at most 3 MiB (kube-apiserver's limit), read in full, with a deadline, before
//!   the handler runs.
//!
//! Every refusal, and every error a handler or an extractor answers in plain text, leaves as a
//! kube-apiserver `Status`.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The largest request body accepted (kube-apiserver's `MaxRequestBodyBytes`).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// How long a client may take to send a request's body.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Who may reach the API, and how.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Host names besides loopback names and IP addresses (`--allowed-host`).
    pub allowed_hosts: Vec<String>,
    /// The bearer token every API request must carry, when svclab listens beyond loopback.
    pub token: Option<String>,
    /// Where pods reach the API (the `kubernetes` service): the names they use for it are
    /// answered, and a request without a token is `system:anonymous`'s, refused beyond the
    /// public paths as kube-apiserver's default authorization refuses it.
    pub in_cluster: bool,
}

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// The cluster's administrator: svclab's own token, or no token on loopback.
    Admin,
    /// A service account, by its token.
    Account(crate::tokens::User),
}

/// What the guard checks requests with: the policy, and the issuer and objects that service
/// account tokens are checked against.
pub struct Gate {
    pub policy: Policy,
    pub tokens: Arc<crate::tokens::Issuer>,
    pub store: crate::store::Store,
}

/// Paths anyone may read without a token, as kube-apiserver lets unauthenticated clients read
/// them (and the dashboard's files, which hold nothing of the cluster's).
fn public(path: &str) -> bool {
    path == "/version" || super::health::is_health_path(path) || !super::is_api_path(path)
}

/// The host part of a `Host` header: `example.com:7070` → `example.com`, `[::1]:7070` → `::1`.
fn host_name(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    value.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(value, |(host, _)| host)
}

impl Policy {
    /// Whether a `Host` names svclab: an IP address (a page cannot make a browser send one for
    /// its own name), `localhost` and names under it, or an allowed host.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&name))
            || (self.in_cluster && (name == "kubernetes" || name.starts_with("kubernetes.default")))
    }
}

/// kube-apiserver's refusal of an anonymous request: of a resource (`pods is forbidden: User
/// "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"`)
/// or of another path.
fn anonymous_refusal(method: &Method, path: &str, query: &str) -> ApiError {
    const WHO: &str = "User \"system:anonymous\"";
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => (path, &[][..]),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        rest => (None, rest),
    };
    let Some((resource, rest)) = rest.split_first().filter(|_| path.starts_with("/api")) else {
        let verb = method.as_str().to_ascii_lowercase();
        return ApiError::Forbidden(format!("forbidden: {WHO} cannot {verb} path \"{path}\""));
    };
    let (name, sub) = (rest.first(), rest.get(1));
    let watch = query.split('&').any(|p| p == "watch=true" || p == "watch=1");
    let verb = match (method.as_str(), name) {
        ("GET", Some(_)) => "get",
        ("GET", None) if watch => "watch",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        (other, _) => {
            return ApiError::Forbidden(format!(
                "forbidden: {WHO} cannot {} path \"{path}\"",
                other.to_ascii_lowercase()
            ));
        }
    };
    let full = sub.map_or_else(|| resource.to_string(), |s| format!("{resource}/{s}"));
    let object = name.map_or_else(|| resource.to_string(), |n| format!("{resource} \"{n}\""));
    let scope = namespace.map_or_else(|| "at the cluster scope".to_string(), |ns| format!("in the namespace \"{ns}\""));
    ApiError::Forbidden(format!(
        "{object} is forbidden: {WHO} cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
    ))
}

fn forbidden(message: String) -> ApiError {
    ApiError::Forbidden(message)
}

/// Whether a request changes something: a method other than GET, HEAD and OPTIONS, or a
/// WebSocket upgrade (exec, the dashboard's feed).
fn changes_something(method: &Method, headers: &HeaderMap) -> bool {
    let upgrade =
        headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    upgrade || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The token a request carries: `Authorization: Bearer …`, or for a WebSocket (which a browser
/// cannot give headers) the subprotocol `base64url.bearer.authorization.k8s.io.<token>`, as
/// kube-apiserver accepts it.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = auth.and_then(|a| a.strip_prefix("Bearer ")) {
        return Some(token.trim().to_string());
    }
    let protocols = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok())?;
    protocols.split(',').map(str::trim).find_map(|p| {
        use base64::Engine;
        let encoded = p.strip_prefix("base64url.bearer.authorization.k8s.io.")?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
        String::from_utf8(bytes).ok()
    })
}

/// Compares without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a request against the policy; who it comes from, or the refusal to send.
fn admit(gate: &Gate, request: &Request) -> Result<Caller, ApiError> {
    let policy = &gate.policy;
    let headers = request.headers();
    let host = headers.get(header::HOST).map(|h| h.to_str().map_err(|_| ()));
    let host = match host {
        Some(Ok(h)) => h,
        Some(Err(())) => return Err(forbidden("forbidden: the Host header is not valid".into())),
        // HTTP/1.0 without a Host: the address itself was dialled.
        None => "",
    };
    if !host.is_empty() && !policy.host_allowed(host) {
        return Err(forbidden(format!(
            "forbidden: svclab does not answer to the host \"{}\" (allow it with --allowed-host)",
            host_name(host)
        )));
    }
    if changes_something(request.method(), headers)
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("null");
        let own = format!("http://{host}");
        if !origin.eq_ignore_ascii_case(&own) {
            return Err(forbidden(format!(
                "forbidden: a request from another site (Origin {origin}) may not change anything here"
            )));
        }
    }
    let path = request.uri().path();
    match bearer(headers) {
        Some(given) if policy.token.as_ref().is_some_and(|token| same_secret(&given, token)) => Ok(Caller::Admin),
        // The dashboard's files hold nothing of the cluster's: no token is checked for them.
        Some(_) if !super::is_api_path(path) => Ok(Caller::Admin),
        Some(given) => match gate.tokens.authenticate(&gate.store, &given) {
            Ok(user) => Ok(Caller::Account(user)),
            Err(why) => {
                tracing::debug!(%why, "a bearer token refused");
                Err(ApiError::Unauthorized)
            }
        },
        None if policy.token.is_some() && !public(path) => Err(ApiError::Unauthorized),
        None if policy.in_cluster && !public(path) => {
            Err(anonymous_refusal(request.method(), path, request.uri().query().unwrap_or_default()))
        }
        None => Ok(Caller::Admin),
    }
}

/// Reads the whole body (at most [`MAX_BODY`], within [`BODY_DEADLINE`]) before the handler.
async fn buffered(request: Request) -> Result<Request, Response> {
    let too_large = || ApiError::RequestEntityTooLarge(MAX_BODY).into_response();
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, MAX_BODY)).await;
    let bytes = match read {
        Err(_) => return Err(ApiError::Timeout("the request body did not arrive in time".into()).into_response()),
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
            return Err(too_large());
        }
        Ok(Err(e)) => return Err(ApiError::BadRequest(format!("reading the request body: {e}")).into_response()),
        Ok(Ok(bytes)) => bytes,
    };
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Gives a plain-text error from a handler or an extractor (a malformed query, path or JSON
/// body) the form of a kube-apiserver `Status`.
async fn as_status(response: Response) -> Response {
    let status = response.status();
    let json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|c| c.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    let mut converted = ApiError::from_status(status.as_u16(), message).into_response();
    for (name, value) in
        parts.headers.iter().filter(|(n, _)| *n != header::CONTENT_TYPE && *n != header::CONTENT_LENGTH)
    {
        converted.headers_mut().append(name, value.clone());
    }
    converted
}

/// The middleware: admits, buffers the body, runs the handler, and answers errors as Status.
pub async fn guard(gate: Arc<Gate>, mut request: Request, next: Next) -> Response {
    match admit(&gate, &request) {
        Ok(caller) => drop(request.extensions_mut().insert(caller)),
        Err(refused) => return refused.into_response(),
    }
    // Health checks answer in plain text, as kube-apiserver's do, failing or not.
    let path = request.uri().path();
    let api = super::is_api_path(path) && !super::health::is_health_path(path);
    let request = match buffered(request).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let response = next.run(request).await;
    if api { as_status(response).await } else { response }
}

/// `Cache-Control: no-store` for answers that carry the cluster's objects.
pub fn no_store(response: &mut Response) {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn gate(policy: &Policy) -> Gate {
        let tokens = Arc::new(crate::tokens::Issuer::generate("cluster.local"));
        Gate { policy: policy.clone(), tokens, store: crate::store::Store::new() }
    }

    fn refused(policy: &Policy, request: &Request) -> Option<u16> {
        admit(&gate(policy), request).err().map(|e| e.code())
    }

    #[test]
    fn only_names_svclab_answers_to_pass() {
        let policy = Policy { allowed_hosts: vec!["lab.internal".into()], ..Policy::default() };
        for host in [
            "127.0.0.1:7070",
            "localhost:7070",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:7070",
            "10.0.0.5",
            "lab.internal:7070",
        ] {
            assert!(policy.host_allowed(host), "{host}");
        }
        for host in ["evil.example.com", "evil.example.com:7070", "127.0.0.1.nip.io", "localhost.evil.com"] {
            assert!(!policy.host_allowed(host), "{host}");
        }
        let rebinding = request(Method::GET, "/api/v1/namespaces", &[("host", "evil.example.com:7070")]);
        assert_eq!(refused(&policy, &rebinding), Some(403));
    }

    #[test]
    fn other_sites_may_read_nothing_new_and_change_nothing() {
        let policy = Policy::default();
        let host = ("host", "127.0.0.1:7070");
        let form = request(
            Method::POST,
            "/lab/v1/apply",
            &[host, ("origin", "http://evil.example.com"), ("content-type", "text/plain")],
        );
        assert_eq!(refused(&policy, &form), Some(403));
        let socket = request(
            Method::GET,
            "/lab/v1/watch",
            &[host, ("origin", "http://evil.example.com"), ("upgrade", "websocket")],
        );
        assert_eq!(refused(&policy, &socket), Some(403));
        let null = request(Method::DELETE, "/api/v1/namespaces/default/pods/x", &[host, ("origin", "null")]);
        assert_eq!(refused(&policy, &null), Some(403));
        // The dashboard itself, kubectl (no Origin), and reads are fine.
        let own = request(Method::POST, "/lab/v1/apply", &[host, ("origin", "http://127.0.0.1:7070")]);
        assert_eq!(refused(&policy, &own), None);
        let kubectl = request(Method::POST, "/api/v1/namespaces/default/services", &[host]);
        assert_eq!(refused(&policy, &kubectl), None);
        let read = request(Method::GET, "/api/v1/services", &[host, ("origin", "http://evil.example.com")]);
        assert_eq!(refused(&policy, &read), None);
    }

    #[test]
    fn beyond_loopback_a_token_is_needed() {
        let policy = Policy { token: Some("s3cret".into()), ..Policy::default() };
        let host = ("host", "192.168.1.5:7070");
        assert_eq!(refused(&policy, &request(Method::GET, "/api/v1/pods", &[host])), Some(401));
        let wrong = request(Method::GET, "/api/v1/pods", &[host, ("authorization", "Bearer nope")]);
        assert_eq!(refused(&policy, &wrong), Some(401));
        let right = request(Method::GET, "/api/v1/pods", &[host, ("authorization", "Bearer s3cret")]);
        assert_eq!(refused(&policy, &right), None);
        use base64::Engine;
        let protocol = format!(
            "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("s3cret")
        );
        let socket = request(Method::GET, "/lab/v1/watch", &[host, ("sec-websocket-protocol", &protocol)]);
        assert_eq!(refused(&policy, &socket), None);
        // The dashboard's files and /version need none.
        assert_eq!(refused(&policy, &request(Method::GET, "/", &[host])), None);
        assert_eq!(refused(&policy, &request(Method::GET, "/version", &[host])), None);
    }

    #[test]
    fn pods_without_a_token_are_anonymous_and_bad_tokens_are_refused() {
        let policy = Policy { in_cluster: true, ..Policy::default() };
        let host = ("host", "kubernetes.default.svc");
        let message = |method: Method, uri: &str| match admit(&gate(&policy), &request(method, uri, &[host])) {
            Err(ApiError::Forbidden(m)) => m,
            other => panic!("{uri}: {other:?}"),
        };
        assert_eq!(
            message(Method::GET, "/api/v1/namespaces/default/pods"),
            r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#
        );
        assert_eq!(
            message(Method::GET, "/apis/apps/v1/namespaces/shop/deployments/web?watch=true"),
            r#"deployments "web" is forbidden: User "system:anonymous" cannot get resource "deployments" in API group "apps" in the namespace "shop""#
        );
        assert_eq!(
            message(Method::POST, "/api/v1/namespaces/default/pods/web/exec"),
            r#"pods "web" is forbidden: User "system:anonymous" cannot create resource "pods/exec" in API group "" in the namespace "default""#
        );
        assert_eq!(
            message(Method::GET, "/api/v1/nodes?watch=true"),
            r#"nodes is forbidden: User "system:anonymous" cannot watch resource "nodes" in API group "" at the cluster scope"#
        );
        assert_eq!(message(Method::GET, "/api"), r#"forbidden: User "system:anonymous" cannot get path "/api""#);
        // Health and version are public; a garbled token is refused even on loopback.
        assert_eq!(refused(&policy, &request(Method::GET, "/version", &[host])), None);
        let garbled = request(Method::GET, "/api/v1/pods", &[("host", "127.0.0.1"), ("authorization", "Bearer a.b.c")]);
        assert_eq!(refused(&Policy::default(), &garbled), Some(401));
        assert_eq!(refused(&Policy::default(), &request(Method::GET, "/api/v1/pods", &[("host", "127.0.0.1")])), None);
    }
}

//! The API server's proxy subresources, `…/pods/{name}/proxy/{path}` and
//! `…/services/{name}/proxy/{path}` (what `kubectl proxy` users browse and `kubectl get --raw`
//! reads): the request goes on to one pod over the virtual network, as kube-apiserver forwards
//! it, and the pod's answer comes back as the pod gave it.
//!
//! A name is `name`, `name:port` or `scheme:name:port` (`http` or `https`). A pod's port is a
//! number, by default its first declared container port; a service's is a port's name or
//! number, and the pod is one of its endpoints picked at random, as kube-apiserver picks it
//! (the service proxy, and so session affinity and traffic policies, play no part).

use super::ApiState;
use crate::error::ApiError;
use crate::network::{Dial, DialError, To};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use svclab_shared::Kind;

/// Where a proxied request goes.
struct Location {
    tls: bool,
    ip: Ipv4Addr,
    /// As written (a pod's may be anything; only a number can be dialled).
    port: String,
}

/// `[scheme:]name[:port]`, as apimachinery's `SplitSchemeNamePort` reads it.
fn split_scheme_name_port(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some((scheme, name, port))
}

/// The namespace and `(scheme, name, port)` of a proxy path's `{name}`, for a `what` request.
fn target<'a>(
    params: &'a HashMap<String, String>,
    what: &str,
) -> Result<(&'a str, (&'a str, &'a str, &'a str)), ApiError> {
    let (ns, id) = (&params["namespace"], &params["name"]);
    let parts =
        split_scheme_name_port(id).ok_or_else(|| ApiError::BadRequest(format!("invalid {what} request {id:?}")))?;
    Ok((ns, parts))
}

/// `…/pods/{name}/proxy[/{path}]`, any method.
pub async fn pod(
    State(state): State<ApiState>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (ns, (scheme, name, port)) = target(&params, "pod")?;
    let pod: Pod = state.store().get_typed(ns, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
    let port = match port {
        "" => pod
            .spec
            .iter()
            .flat_map(|spec| &spec.containers)
            .find_map(|c| c.ports.as_ref()?.first().map(|p| p.container_port.to_string()))
            .unwrap_or_default(),
        port => port.to_string(),
    };
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse().ok());
    let ip = ip.ok_or_else(|| ApiError::BadRequest("address not allowed".into()))?;
    forward(&state, Location { tls: scheme == "https", ip, port }, request).await
}

/// `…/services/{name}/proxy[/{path}]`, any method.
pub async fn service(
    State(state): State<ApiState>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (ns, (scheme, name, port)) = target(&params, "service")?;
    let id = &params["name"];
    let mut port_name = port.to_string();
    // A port number stands for the service port's name.
    if let Ok(number) = port.parse::<i32>() {
        let service: Service =
            state.store().get_typed(ns, name).ok_or_else(|| ApiError::not_found(Kind::Service, name))?;
        let ports = service.spec.and_then(|spec| spec.ports).unwrap_or_default();
        let found = ports.into_iter().find(|p| p.port == number).ok_or_else(|| {
            ApiError::ServiceUnavailable(format!("no service port {number} found for service {name:?}"))
        })?;
        port_name = found.name.unwrap_or_default();
    }
    let endpoints: Endpoints =
        state.store().get_typed(ns, name).ok_or_else(|| ApiError::not_found(Kind::Endpoints, name))?;
    let subsets = endpoints.subsets.unwrap_or_default();
    if subsets.is_empty() {
        return Err(ApiError::ServiceUnavailable(format!("no endpoints available for service {name:?}")));
    }
    let candidates: Vec<(Ipv4Addr, i32)> = subsets
        .iter()
        .filter_map(|subset| {
            let port = subset.ports.as_ref()?.iter().find(|p| p.name.as_deref().unwrap_or_default() == port_name)?;
            Some(subset.addresses.iter().flatten().filter_map(|a| Some((a.ip.parse().ok()?, port.port))))
        })
        .flatten()
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::ServiceUnavailable(format!("no endpoints available for service {id:?}")));
    }
    let (ip, port) = candidates[rand::random_range(0..candidates.len())];
    forward(&state, Location { tls: scheme == "https", ip, port: port.to_string() }, request).await
}

/// The request's path past `…/{resource}/{name}/proxy`, still escaped as it came, and that
/// prefix.
fn split_path(uri: &Uri) -> (&str, &str) {
    let path = uri.path();
    // "/api/v1/namespaces/{ns}/{resource}/{name}/proxy": the 8th slash starts the rest.
    let at = path.match_indices('/').nth(7).map_or(path.len(), |(i, _)| i);
    path.split_at(at)
}

/// Headers that belong to one connection, never passed on (RFC 9110 §7.6.1), and
/// `Authorization`, which was svclab's and not the pod's (kube-apiserver drops it once the
/// request is authenticated).
fn hop_by_hop(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ]
    .into();
    let listed = headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok());
    names.extend(listed.flat_map(|v| v.split(',')).filter_map(|n| HeaderName::try_from(n.trim()).ok()));
    names
}

/// Sends the request on to `to` and streams the answer back.
async fn forward(state: &ApiState, to: Location, request: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let (prefix, rest) = split_path(&parts.uri);
    let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    // `…/proxy` is not a directory yet: browsers would resolve the pod's relative links wrongly.
    if rest.is_empty() && matches!(parts.method, Method::GET | Method::HEAD) {
        let location = format!("{prefix}/{query}");
        return Ok((StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, location)]).into_response());
    }
    let prefix = prefix.to_string();
    let target = format!("{}{query}", if rest.is_empty() { "/" } else { rest });
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let original = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    for name in hop_by_hop(&parts.headers) {
        parts.headers.remove(name);
    }
    parts.headers.remove(header::AUTHORIZATION);
    let forwarded =
        [("x-forwarded-uri", original), ("x-forwarded-host", host.clone()), ("x-forwarded-proto", "http".into())];
    for (name, value) in forwarded {
        if let Ok(value) = HeaderValue::try_from(value) {
            parts.headers.insert(name, value);
        }
    }
    let unreachable = |why: String| ApiError::ServiceUnavailable(format!("error trying to reach service: {why}"));
    let address = format!("{}:{}", to.ip, to.port);
    let port: u16 = to.port.parse().map_err(|_| unreachable(format!("dial tcp {address}: unknown port")))?;
    let dialed = state.network.dial(To::Cluster(SocketAddrV4::new(to.ip, port)), Dial::from_host()).await;
    let (stream, keep) = dialed.map_err(|e| unreachable(dial_error(&address, e)))?.into_parts();
    let mut outgoing = hyper::Request::from_parts(parts, body);
    *outgoing.uri_mut() = target.parse().map_err(|_| ApiError::BadRequest(format!("invalid path {target:?}")))?;
    *outgoing.version_mut() = hyper::Version::HTTP_11;
    let response = if to.tls {
        let (tls, _) = crate::network::http::tls_connect(stream, &to.ip.to_string())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        exchange(tls, outgoing, keep).await
    } else {
        exchange(stream, outgoing, keep).await
    };
    let response = response.map_err(|e| unreachable(e.to_string()))?;
    let (mut parts, body) = response.into_parts();
    for name in hop_by_hop(&parts.headers) {
        parts.headers.remove(name);
    }
    rewrite_location(&mut parts.headers, &address, &host, &prefix);
    // The pod's page is served from the dashboard's origin: a sandbox gives its scripts an
    // origin of their own, so that they cannot use the API as the dashboard does.
    parts.headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox allow-scripts allow-forms allow-popups allow-modals"),
    );
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// One request on a new HTTP/1.1 connection; the connection (and what `keep` holds for it, its
/// tracked source) lives until the answer's body has been read.
async fn exchange<S>(
    stream: S,
    request: hyper::Request<Body>,
    keep: crate::network::Keep,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
        drop(keep);
    });
    sender.send_request(request).await
}

/// A dial's failure as Go's net package words it.
fn dial_error(address: &str, error: DialError) -> String {
    match error {
        DialError::Refused => format!("dial tcp {address}: connect: connection refused"),
        DialError::NoRoute => format!("dial tcp {address}: connect: no route to host"),
        DialError::Dropped => format!("dial tcp {address}: i/o timeout"),
        DialError::Io(e) => format!("dial tcp {address}: {e}"),
    }
}

/// A redirect the pod sends to itself, rewritten to go through the proxy again (the
/// apiserver's proxy transport does the same).
fn rewrite_location(headers: &mut HeaderMap, pod: &str, host: &str, prefix: &str) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else { return };
    let path = if location.starts_with('/') && !location.starts_with("//") {
        location
    } else {
        let Some(rest) = location.strip_prefix("http://").or_else(|| location.strip_prefix("https://")) else {
            return;
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority != pod {
            return;
        }
        path
    };
    let rewritten =
        if location.starts_with('/') { format!("{prefix}{path}") } else { format!("http://{host}{prefix}{path}") };
    if let Ok(value) = HeaderValue::try_from(rewritten) {
        headers.insert(header::LOCATION, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_apimachinery_splits_them() {
        assert_eq!(split_scheme_name_port("kubia"), Some(("", "kubia", "")));
        assert_eq!(split_scheme_name_port("kubia:80"), Some(("", "kubia", "80")));
        assert_eq!(split_scheme_name_port("https:kubia:443"), Some(("https", "kubia", "443")));
        assert_eq!(split_scheme_name_port("ftp:kubia:21"), None);
        assert_eq!(split_scheme_name_port(":80"), None);
        assert_eq!(split_scheme_name_port("a:b:c:d"), None);
    }

    #[test]
    fn the_path_past_proxy_is_what_the_pod_gets() {
        let uri: Uri = "/api/v1/namespaces/default/services/kubia:80/proxy/a/b/?x=1".parse().unwrap();
        assert_eq!(split_path(&uri), ("/api/v1/namespaces/default/services/kubia:80/proxy", "/a/b/"));
        let uri: Uri = "/api/v1/namespaces/default/pods/p/proxy".parse().unwrap();
        assert_eq!(split_path(&uri), ("/api/v1/namespaces/default/pods/p/proxy", ""));
    }

    #[test]
    fn a_pods_redirects_to_itself_go_through_the_proxy_again() {
        let prefix = "/api/v1/namespaces/default/pods/p/proxy";
        let cases = [
            ("/login", format!("{prefix}/login")),
            ("http://10.244.1.2:8080/x?y", format!("http://127.0.0.1:7070{prefix}/x?y")),
            ("http://example.com/x", "http://example.com/x".to_string()),
        ];
        for (location, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, HeaderValue::from_static(location));
            rewrite_location(&mut headers, "10.244.1.2:8080", "127.0.0.1:7070", prefix);
            assert_eq!(headers[header::LOCATION], want.as_str());
        }
    }
}

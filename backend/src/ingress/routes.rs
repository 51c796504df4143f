//! The ingress route table, built purely from Ingresses, IngressClasses, Services and Endpoints:
//! which Ingresses this controller serves (by class), hosts (exact, then `*.` wildcards of one
//! label, then rules without a host), paths (`Exact`, `Prefix` element-wise,
//! `ImplementationSpecific` as Prefix; the longest match wins and Exact wins a tie), default
//! backends, and each backend's ready endpoints read from its service's Endpoints (the controller
//! sends to pods, not to the service).

use super::router::Match;
use crate::informer::{Informer, ServiceState, Services};
use crate::store::ObjectKey;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use svclab_shared::Kind;

/// The controller name in IngressClasses this controller serves (ingress-nginx's).
pub const CONTROLLER: &str = "k8s.io/ingress-nginx";
/// The IngressClass svclab installs with the add-on.
pub const CLASS: &str = "nginx";
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Whether this controller serves `ingress`: its `ingressClassName` (or the older annotation)
/// names a class of this controller, or it names none and this controller's class is the default.
pub fn is_ours(ingress: &Ingress, classes: &[IngressClass]) -> bool {
    let ours = |name: &str| {
        classes.iter().any(|c| {
            c.metadata.name.as_deref() == Some(name)
                && c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
        })
    };
    let named = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.clone())
        .or_else(|| ingress.metadata.annotations.as_ref().and_then(|a| a.get(LEGACY_CLASS_ANNOTATION).cloned()));
    match named {
        Some(name) => ours(&name),
        None => classes.iter().any(|c| {
            let default = c.metadata.annotations.as_ref().and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION));
            default.is_some_and(|d| d == "true")
                && c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
        }),
    }
}

/// A pod behind a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddrV4,
    pub pod: Option<String>,
    pub node: Option<String>,
}

/// `nginx.ingress.kubernetes.io/affinity: cookie` and its companions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieAffinity {
    pub name: String,
    /// `session-cookie-path`; the matched path when unset.
    pub path: Option<String>,
    pub max_age: Option<u64>,
    pub expires: Option<u64>,
    pub secure: bool,
    pub samesite: Option<String>,
    pub domain: Option<String>,
}

/// How long a pod may take to answer, by default (ingress-nginx's `proxy-read-timeout`).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// `nginx.ingress.kubernetes.io/proxy-read-timeout`, in seconds: [`READ_TIMEOUT`] when absent
/// or not a positive number (as ingress-nginx falls back to its default).
fn read_timeout(annotations: &BTreeMap<String, String>) -> Duration {
    annotations
        .get(&format!("{ANNOTATION_PREFIX}proxy-read-timeout"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(READ_TIMEOUT, Duration::from_secs)
}

impl CookieAffinity {
    fn from_annotations(annotations: &BTreeMap<String, String>) -> Option<CookieAffinity> {
        let get = |k: &str| annotations.get(&format!("{ANNOTATION_PREFIX}{k}")).map(|v| v.trim().to_string());
        if get("affinity").as_deref() != Some("cookie") {
            return None;
        }
        Some(CookieAffinity {
            name: get("session-cookie-name").filter(|n| !n.is_empty()).unwrap_or_else(|| "INGRESSCOOKIE".into()),
            path: get("session-cookie-path").filter(|p| !p.is_empty()),
            max_age: get("session-cookie-max-age").and_then(|v| v.parse().ok()),
            expires: get("session-cookie-expires").and_then(|v| v.parse().ok()),
            secure: get("session-cookie-secure").is_some_and(|v| v == "true"),
            samesite: get("session-cookie-samesite").filter(|v| ["None", "Lax", "Strict"].contains(&v.as_str())),
            domain: get("session-cookie-domain").filter(|d| !d.is_empty()),
        })
    }
}

/// Where matching requests go.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    /// The Ingress that routes here, `namespace/name`.
    pub ingress: String,
    /// The service, `namespace/name`, and its port as the Ingress names it.
    pub service: String,
    pub port: String,
    /// Ready endpoints, in a stable order.
    pub endpoints: Vec<Endpoint>,
    pub affinity: Option<CookieAffinity>,
    /// How long the pod may take to answer (`nginx.ingress.kubernetes.io/proxy-read-timeout`).
    pub read_timeout: Duration,
    /// Why there are no endpoints, when that is known (no such service, no such port).
    pub problem: Option<String>,
    /// A reference the route may not use or that names nothing usable: answered with 500, as
    /// Gateway API asks (an Ingress's backend without endpoints is a 503).
    pub invalid: bool,
    cursor: Cursor,
}

impl Backend {
    /// The next endpoint round-robin (ingress-nginx's default balancing). Panics without endpoints.
    pub fn next(&self) -> &Endpoint {
        &self.endpoints[self.cursor.0.fetch_add(1, Ordering::Relaxed) % self.endpoints.len()]
    }
}

/// A round-robin position; copies start afresh, and it never makes two backends differ.
#[derive(Debug, Default)]
struct Cursor(AtomicUsize);

impl Clone for Cursor {
    fn clone(&self) -> Self {
        Cursor::default()
    }
}

impl PartialEq for Cursor {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Clone, Debug)]
struct PathRoute {
    /// The path as written and as compared (Prefix paths without a trailing `/`).
    path: Arc<str>,
    compare: String,
    exact: bool,
    /// `kubia.example.com/ (ImplementationSpecific)`: host, path and pathType as written
    /// (ImplementationSpecific matches as Prefix), made once for every request's trace.
    rule: Arc<str>,
    backend: Arc<Backend>,
}

impl PathRoute {
    fn matches(&self, request: &str) -> bool {
        if self.exact {
            return request == self.compare;
        }
        // Element-wise: `/aaa/bbb` matches `/aaa/bbb`, `/aaa/bbb/` and `/aaa/bbb/ccc`, never
        // `/aaa/bbbxyz`; `/` matches everything.
        self.compare.is_empty()
            || request.strip_prefix(self.compare.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

#[derive(Clone, Debug, Default)]
struct HostRoutes {
    /// Longest first; Exact before Prefix of the same length; older Ingresses first.
    paths: Vec<PathRoute>,
    /// The `defaultBackend` of the (oldest) Ingress with rules for this host that has one.
    fallback: Option<Arc<Backend>>,
}

/// Every route this controller serves, as of one moment.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    hosts: HashMap<String, HostRoutes>,
    /// `*.example.com` rules, keyed by `example.com`.
    wildcards: HashMap<String, HostRoutes>,
    /// Rules without a host.
    any_host: HostRoutes,
    default_backend: Option<Arc<Backend>>,
}

/// A service by namespace and name: the informer itself, or a map of them (tests).
pub trait ServiceLookup {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceState>>;
}

impl ServiceLookup for Informer {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceState>> {
        self.get(namespace, name)
    }
}

impl ServiceLookup for Services {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceState>> {
        self.get(&ObjectKey::new(Kind::Service, namespace, name)).cloned()
    }
}

/// What the route table is built from.
pub struct Inputs<'a> {
    pub ingresses: &'a [Ingress],
    pub classes: &'a [IngressClass],
    /// The services, as the Services informer has them.
    pub services: &'a dyn ServiceLookup,
}

/// The request's host without port or trailing dot, lower-cased.
pub fn normalize_host(host: &str) -> std::borrow::Cow<'_, str> {
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        },
    };
    let host = host.trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) { host.to_ascii_lowercase().into() } else { host.into() }
}

impl RouteTable {
    /// Builds the table from the Ingresses this controller serves, oldest first.
    pub fn build(inputs: &Inputs) -> RouteTable {
        let mut ours: Vec<&Ingress> = inputs.ingresses.iter().filter(|i| is_ours(i, inputs.classes)).collect();
        ours.sort_by(|a, b| {
            let age = |i: &Ingress| (i.metadata.creation_timestamp.as_ref().map(|t| t.0), i.metadata.name.clone());
            age(a).cmp(&age(b))
        });
        let mut table = RouteTable::default();
        for ingress in ours {
            let ns = ingress.metadata.namespace.clone().unwrap_or_default();
            let id = format!("{ns}/{}", ingress.metadata.name.as_deref().unwrap_or_default());
            let annotations = ingress.metadata.annotations.clone().unwrap_or_default();
            let affinity = CookieAffinity::from_annotations(&annotations);
            let read_timeout = read_timeout(&annotations);
            let backend =
                |b: &IngressBackend| Arc::new(resolve_backend(inputs, &ns, &id, b, affinity.clone(), read_timeout));
            let spec = ingress.spec.clone().unwrap_or_default();
            let own_default = spec.default_backend.as_ref().map(backend);
            if table.default_backend.is_none() {
                table.default_backend = own_default.clone();
            }
            for rule in spec.rules.iter().flatten() {
                let host = rule.host.as_deref().unwrap_or_default().to_ascii_lowercase();
                let routes = match host.strip_prefix("*.") {
                    Some(parent) => table.wildcards.entry(parent.to_string()).or_default(),
                    None if host.is_empty() => &mut table.any_host,
                    None => table.hosts.entry(host.clone()).or_default(),
                };
                if routes.fallback.is_none() {
                    routes.fallback = own_default.clone();
                }
                for path in rule.http.iter().flat_map(|h| &h.paths) {
                    let written = path.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
                    let exact = path.path_type == "Exact";
                    let compare = if exact { written.clone() } else { written.trim_end_matches('/').to_string() };
                    // The first Ingress to claim a path and type keeps it (ingress-nginx: oldest wins).
                    if routes.paths.iter().any(|p| p.compare == compare && p.exact == exact) {
                        continue;
                    }
                    let shown = if host.is_empty() { "*" } else { host.as_str() };
                    let rule = format!("{shown}{written} ({})", path.path_type).into();
                    let backend = backend(&path.backend);
                    routes.paths.push(PathRoute { path: written.into(), compare, exact, rule, backend });
                }
            }
        }
        for routes in table.hosts.values_mut().chain(table.wildcards.values_mut()).chain([&mut table.any_host]) {
            // Stable: among equals the older Ingress stays first.
            routes.paths.sort_by(|a, b| b.compare.len().cmp(&a.compare.len()).then(b.exact.cmp(&a.exact)));
        }
        table
    }

    /// Where a request for `host` and `path` goes; `None` means the 404 default backend.
    pub fn route(&self, host: &str, path: &str) -> Option<Match<'_>> {
        let host = normalize_host(host);
        let routes = self
            .hosts
            .get(&*host)
            .or_else(|| host.split_once('.').and_then(|(_, parent)| self.wildcards.get(parent)))
            .unwrap_or(&self.any_host);
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let found = |backend, rule, path| Match { backend, rule, path, filters: None, weight: None };
        if let Some(p) = routes.paths.iter().find(|p| p.matches(path)) {
            return Some(found(&p.backend, &p.rule, &p.path));
        }
        let backend = routes.fallback.as_ref().or(self.default_backend.as_ref())?;
        Some(found(backend, "default backend", "/"))
    }

    /// Whether any Ingress routes anything (for tests and the dashboard).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
            && self.wildcards.is_empty()
            && self.any_host.paths.is_empty()
            && self.default_backend.is_none()
    }
}

impl super::router::Router for RouteTable {
    fn route(&self, request: &super::router::Request<'_>) -> Option<Match<'_>> {
        RouteTable::route(self, request.host, request.path)
    }
}

/// A backend's ready endpoints: the service's port (by number or name), then the matching port
/// in each Endpoints subset, for every ready address.
fn resolve_backend(
    inputs: &Inputs,
    ns: &str,
    ingress: &str,
    backend: &IngressBackend,
    affinity: Option<CookieAffinity>,
    read_timeout: Duration,
) -> Backend {
    let Some(service) = &backend.service else {
        let mut out = Backend::new(ingress, String::new(), String::new(), read_timeout);
        out.problem = Some("resource backends are not served by this controller".into());
        return out;
    };
    let port = service.port.clone().unwrap_or_default();
    let mut out = Backend::resolve(inputs.services, ns, &service.name, &port, ingress, read_timeout);
    out.affinity = affinity;
    out
}

impl Backend {
    /// A backend without endpoints yet.
    pub fn new(owner: &str, service: String, port: String, read_timeout: Duration) -> Backend {
        Backend {
            ingress: owner.to_string(),
            service,
            port,
            endpoints: Vec::new(),
            affinity: None,
            read_timeout,
            problem: None,
            invalid: false,
            cursor: Cursor::default(),
        }
    }

    /// The ready endpoints of `namespace/service`'s `port` (by name or number), for the route
    /// `owner`.
    pub fn resolve(
        services: &dyn ServiceLookup,
        ns: &str,
        service: &str,
        port: &k8s_openapi::api::networking::v1::ServiceBackendPort,
        owner: &str,
        read_timeout: Duration,
    ) -> Backend {
        let shown_port = port.name.clone().unwrap_or_else(|| port.number.unwrap_or(0).to_string());
        let mut out = Backend::new(owner, format!("{ns}/{service}"), shown_port, read_timeout);
        out.fill(services, ns, service, port);
        out
    }

    fn fill(
        &mut self,
        services: &dyn ServiceLookup,
        ns: &str,
        name: &str,
        port: &k8s_openapi::api::networking::v1::ServiceBackendPort,
    ) {
        let out = self;
        let Some(state) = services.service(ns, name) else {
            out.problem = Some(format!("service \"{}\" not found", out.service));
            return;
        };
        let ports = state.service.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
        let found = ports.iter().find(|p| match (&port.name, port.number) {
            (Some(name), _) => p.name.as_deref() == Some(name.as_str()),
            (None, Some(number)) => p.port == number,
            _ => false,
        });
        let Some(service_port) = found else {
            out.problem = Some(format!("service \"{}\" does not have a port {}", out.service, out.port));
            return;
        };
        let port_name = service_port.name.clone().unwrap_or_default();
        let protocol = service_port.protocol.clone().unwrap_or_else(|| "TCP".into());
        for subset in state.endpoints.as_ref().and_then(|e| e.subsets.clone()).into_iter().flatten() {
            let subset_ports = subset.ports.clone().unwrap_or_default();
            let Some(ep_port) = subset_ports.iter().find(|p| {
                p.name.clone().unwrap_or_default() == port_name
                    && p.protocol.clone().unwrap_or_else(|| "TCP".into()) == protocol
            }) else {
                continue;
            };
            for address in subset.addresses.iter().flatten() {
                let Ok(ip) = address.ip.parse::<Ipv4Addr>() else { continue };
                let pod = address.target_ref.as_ref().and_then(|r| r.name.clone());
                out.endpoints.push(Endpoint {
                    addr: SocketAddrV4::new(ip, ep_port.port as u16),
                    pod,
                    node: address.node_name.clone(),
                });
            }
        }
        out.endpoints.sort_by_key(|e| e.addr);
        if out.endpoints.is_empty() {
            out.problem = Some(format!("service \"{}\" has no ready endpoints", out.service));
        }
    }
}

#[cfg(test)]
mod tests;

//! The ingress route table, built purely from Ingresses, IngressClasses, Services and Endpoints:
//! which Ingresses this controller serves (by class), hosts (exact, then `*.` wildcards of one
//! label, then rules without a host), paths (`Exact`, `Prefix` element-wise,
//! `ImplementationSpecific` as Prefix; the longest match wins and Exact wins a tie), default
//! backends, and each backend's ready endpoints read from its service's Endpoints (the controller
//! sends to pods, not to the service).

use super::backend::{Backend, CookieAffinity, READ_TIMEOUT, ServiceLookup, normalize_host};
use super::router::Match;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

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

/// What the route table is built from.
pub struct Inputs<'a> {
    pub ingresses: &'a [Ingress],
    pub classes: &'a [IngressClass],
    /// The services, as the Services informer has them.
    pub services: &'a dyn ServiceLookup,
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

#[cfg(test)]
mod tests;

//! Where an Ingress or a Gateway route sends a request: a [`Backend`], a service port and its
//! ready endpoints, read from the Services informer (ingress-nginx sends to pods, not to the
//! service), with how long the pod may take and its cookie affinity; and the host a request
//! names, normalised. Both the route tables and the router see requests' answers in these terms.

use crate::informer::{Informer, ServiceState, Services};
use crate::store::ObjectKey;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use svclab_shared::Kind;

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

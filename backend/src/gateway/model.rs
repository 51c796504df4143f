//! What svclab's Gateway controller makes of the Gateway API objects, purely: which classes and
//! Gateways are its own, each listener's state (accepted, conflicted, its certificates resolved),
//! which routes attach to which listeners and why not, each route's backends resolved (or why
//! not), and the route table of every port. The status writer and the listeners read this.

use super::filters::filters;
pub use super::inputs::{Inputs, LoadCertificate, Outcome};
use super::refs::{Ref, backend, granted};
use super::routes::{Action, Entry, Hosts, ListenerRoutes, PathMatch, PortRoutes, ValueMatch, Weighted};
use crate::ingress::backend::Backend;
use crate::ingress::certs::Certificates;
use rustls::sign::CertifiedKey;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::gateway::{CONTROLLER, Gateway, HttpRoute, gw, intersect, route as r};
use svclab_shared::selector::Selector;

/// One listener's state.
#[derive(Debug)]
pub struct ListenerState {
    pub name: String,
    pub port: u16,
    pub tls: bool,
    pub accepted: Outcome,
    pub resolved: Outcome,
    /// `HostnameConflict` or `ProtocolConflict`.
    pub conflict: Option<(&'static str, String)>,
    pub attached: i32,
}

impl ListenerState {
    fn usable(&self) -> bool {
        self.accepted.is_ok() && self.conflict.is_none()
    }
}

/// What a port serves.
#[derive(Debug, Default)]
pub struct PortModel {
    pub tls: bool,
    pub routes: PortRoutes,
    pub certificates: Certificates,
    /// The certificate for a handshake naming no listener's host.
    pub fallback: Option<Arc<CertifiedKey>>,
}

/// One of svclab's Gateways.
#[derive(Debug)]
pub struct GatewayModel {
    pub namespace: String,
    pub name: String,
    pub generation: Option<i64>,
    pub listeners: Vec<ListenerState>,
    pub ports: BTreeMap<u16, PortModel>,
}

/// A route's status for one parent of svclab's.
#[derive(Debug)]
pub struct ParentState {
    pub parent: r::HttpRouteParentRefs,
    pub accepted: Outcome,
    pub resolved: Outcome,
    /// Why some of the route's matches were left out (`PartiallyInvalid`), when any were.
    pub partially_invalid: Option<String>,
}

/// Everything the controller decided.
#[derive(Debug, Default)]
pub struct Model {
    /// The names of the GatewayClasses svclab's controller serves.
    pub classes: Vec<String>,
    pub gateways: Vec<GatewayModel>,
    /// By route `namespace/name`.
    pub routes: BTreeMap<String, Vec<ParentState>>,
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// Builds the model.
pub fn build(inputs: &Inputs) -> Model {
    let classes: Vec<String> = inputs
        .classes
        .iter()
        .filter(|c| c.spec.controller_name == CONTROLLER)
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let mut model = Model { classes, ..Model::default() };
    for gateway in inputs.gateways.iter().filter(|g| model.classes.contains(&g.spec.gateway_class_name)) {
        model.gateways.push(listeners(inputs, gateway));
    }
    let mut routes: Vec<&HttpRoute> = inputs.routes.iter().collect();
    routes.sort_by_key(|r| (r.metadata.creation_timestamp.as_ref().map(|t| t.0), key_of(r)));
    for route in routes {
        let states = attach(inputs, route, &mut model.gateways);
        if !states.is_empty() {
            model.routes.insert(key_of(route), states);
        }
    }
    for g in &mut model.gateways {
        for port in g.ports.values_mut() {
            port.routes.sort();
        }
    }
    model
}

fn key_of(route: &HttpRoute) -> String {
    key(route.metadata.namespace.as_deref().unwrap_or_default(), route.metadata.name.as_deref().unwrap_or_default())
}

/// A Gateway's listeners: validated, conflicts found, certificates loaded; its ports laid out.
fn listeners(inputs: &Inputs, gateway: &Gateway) -> GatewayModel {
    let ns = gateway.metadata.namespace.clone().unwrap_or_default();
    let mut model = GatewayModel {
        namespace: ns.clone(),
        name: gateway.metadata.name.clone().unwrap_or_default(),
        generation: gateway.metadata.generation,
        listeners: Vec::new(),
        ports: BTreeMap::new(),
    };
    for l in &gateway.spec.listeners {
        let tls = l.protocol == "HTTPS";
        let accepted = match l.protocol.as_str() {
            "HTTP" | "HTTPS" => Ok(()),
            other => Err(("UnsupportedProtocol", format!("Listener protocol {other:?} is not supported"))),
        };
        let mut resolved = Ok(());
        let kinds = l.allowed_routes.as_ref().and_then(|a| a.kinds.clone()).unwrap_or_default();
        if let Some(k) = kinds.iter().find(|k| k.kind != "HTTPRoute") {
            resolved = Err(("InvalidRouteKinds", format!("Route kind {:?} is not supported", k.kind)));
        }
        let port = model.ports.entry(l.port as u16).or_insert_with(|| PortModel { tls, ..PortModel::default() });
        if tls && resolved.is_ok() {
            resolved = certificates(inputs, &ns, l, port);
        }
        model.listeners.push(ListenerState {
            name: l.name.clone(),
            port: l.port as u16,
            tls,
            accepted,
            resolved,
            conflict: None,
            attached: 0,
        });
    }
    // Conflicts: one protocol per port, one listener per hostname on a port.
    let specs = &gateway.spec.listeners;
    for i in 0..specs.len() {
        let same_port: Vec<usize> = (0..specs.len()).filter(|j| specs[*j].port == specs[i].port).collect();
        if same_port.iter().any(|j| specs[*j].protocol != specs[i].protocol) {
            let message = format!("Found conflicting protocols on port {}", specs[i].port);
            model.listeners[i].conflict = Some(("ProtocolConflict", message));
        } else if same_port.iter().any(|j| *j != i && specs[*j].hostname == specs[i].hostname) {
            let message = format!("Found conflicting hostnames on port {}", specs[i].port);
            model.listeners[i].conflict = Some(("HostnameConflict", message));
        }
    }
    for (l, state) in specs.iter().zip(&model.listeners) {
        if state.usable() {
            let port = model.ports.get_mut(&state.port).expect("laid out above");
            let hostname = l.hostname.clone().filter(|h| !h.is_empty()).map(|h| h.to_ascii_lowercase());
            port.routes.listeners.push(ListenerRoutes { name: l.name.clone(), hostname, hosts: Hosts::default() });
        }
    }
    model
}

/// An HTTPS listener's certificates, added to its port's SNI table.
fn certificates(inputs: &Inputs, ns: &str, l: &gw::GatewayListeners, port: &mut PortModel) -> Outcome {
    let refs = l.tls.as_ref().and_then(|t| t.certificate_refs.clone()).unwrap_or_default();
    if refs.is_empty() {
        return Err(("InvalidCertificateRef", "Listener has no certificateRefs".into()));
    }
    for cert in refs {
        let kind = cert.kind.as_deref().unwrap_or("Secret");
        if kind != "Secret" || cert.group.as_deref().is_some_and(|g| !g.is_empty()) {
            return Err(("InvalidCertificateRef", format!("Certificate reference kind {kind:?} is not supported")));
        }
        let cert_ns = cert.namespace.clone().unwrap_or_else(|| ns.to_string());
        if cert_ns != ns && !granted(inputs.grants, "Gateway", ns, "Secret", &cert_ns, &cert.name) {
            let message =
                format!("Certificate ref to secret {cert_ns}/{} not permitted by any ReferenceGrant", cert.name);
            return Err(("RefNotPermitted", message));
        }
        let key = (inputs.certificate)(&cert_ns, &cert.name).map_err(|e| ("InvalidCertificateRef", e.to_string()))?;
        match l.hostname.as_deref().filter(|h| !h.is_empty()).map(str::to_ascii_lowercase) {
            Some(h) => match h.strip_prefix("*.") {
                Some(parent) => port.certificates.wildcards.insert(parent.to_string(), key),
                None => port.certificates.by_host.insert(h, key),
            },
            None => port.fallback.replace(key),
        };
    }
    Ok(())
}

/// Whether `listener` lets routes from the namespace `route_ns` attach.
fn allows(inputs: &Inputs, gateway_ns: &str, listener: &gw::GatewayListeners, route_ns: &str) -> bool {
    use gw::GatewayListenersAllowedRoutesNamespacesFrom as From;
    let namespaces = listener.allowed_routes.as_ref().and_then(|a| a.namespaces.as_ref());
    match namespaces.and_then(|n| n.from.clone()).unwrap_or(From::Same) {
        From::All => true,
        From::Same => route_ns == gateway_ns,
        From::Selector => {
            let Some(selector) = namespaces.and_then(|n| n.selector.as_ref()) else { return false };
            let selector = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                match_labels: selector.match_labels.clone(),
                match_expressions: selector.match_expressions.as_ref().map(|e| {
                    e.iter()
                        .map(|e| k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                            key: e.key.clone(),
                            operator: e.operator.clone(),
                            values: e.values.clone(),
                        })
                        .collect()
                }),
            };
            let Ok(selector) = Selector::from_label_selector(&selector) else { return false };
            let labels = inputs.namespaces.iter().find(|n| n.metadata.name.as_deref() == Some(route_ns));
            labels.is_some_and(|n| selector.matches_opt(n.metadata.labels.as_ref()))
        }
    }
}

/// Attaches a route to the listeners its parentRefs name, adding its rules to their ports.
fn attach(inputs: &Inputs, route: &HttpRoute, gateways: &mut [GatewayModel]) -> Vec<ParentState> {
    let route_ns = route.metadata.namespace.clone().unwrap_or_default();
    let (actions, resolved, partially_invalid) = actions(inputs, route);
    let mut states = Vec::new();
    for parent in route.spec.parent_refs.iter().flatten() {
        if parent.kind.as_deref().unwrap_or("Gateway") != "Gateway" {
            continue;
        }
        let parent_ns = parent.namespace.clone().unwrap_or_else(|| route_ns.clone());
        let Some(gateway) = gateways.iter_mut().find(|g| g.namespace == parent_ns && g.name == parent.name) else {
            continue;
        };
        let spec = inputs
            .gateways
            .iter()
            .find(|g| {
                g.metadata.namespace.as_deref() == Some(&parent_ns) && g.metadata.name.as_deref() == Some(&parent.name)
            })
            .expect("the model's gateways come from the inputs");
        let mut reason: (&'static str, String) = ("NoMatchingParent", "No listener matches the parentRef".into());
        let mut attached = false;
        for (l, state) in spec.spec.listeners.iter().zip(gateway.listeners.iter_mut()) {
            if parent.section_name.as_deref().is_some_and(|s| s != l.name)
                || parent.port.is_some_and(|p| p != l.port)
                || !state.usable()
            {
                continue;
            }
            if !allows(inputs, &parent_ns, l, &route_ns) {
                reason = (
                    "NotAllowedByListeners",
                    format!("Listener {:?} does not allow routes from namespace {route_ns:?}", l.name),
                );
                continue;
            }
            let hostnames: Vec<String> = match route.spec.hostnames.as_deref() {
                None | Some([]) => vec![intersect(l.hostname.as_deref(), None).unwrap_or_default()],
                Some(names) => names.iter().filter_map(|h| intersect(l.hostname.as_deref(), Some(h))).collect(),
            };
            if hostnames.is_empty() {
                reason = ("NoMatchingListenerHostname", "No hostname of the route matches a listener's".into());
                continue;
            }
            attached = true;
            state.attached += 1;
            let port = gateway.ports.get_mut(&state.port).expect("laid out");
            let Some(listener) = port.routes.listeners.iter_mut().find(|x| x.name == l.name) else { continue };
            for host in &hostnames {
                for entry in &actions {
                    listener.hosts.add(host, entry());
                }
            }
        }
        let accepted = if attached { Ok(()) } else { Err(reason) };
        let partially_invalid = partially_invalid.clone();
        states.push(ParentState { parent: parent.clone(), accepted, resolved: resolved.clone(), partially_invalid });
    }
    states
}

/// A match's regular expression, matching the whole value (Gateway API's regexes are anchored),
/// compiled once; one that does not compile is described in `bad`.
fn compiled(value: &str, bad: &mut Vec<String>) -> Option<regex::Regex> {
    match regex::Regex::new(&format!("^(?:{value})$")) {
        Ok(regex) => Some(regex),
        Err(e) => {
            let why = e.to_string().lines().last().unwrap_or_default().trim().to_string();
            bad.push(format!("invalid regular expression {value:?}: {why}"));
            None
        }
    }
}

/// Makes the table entries of each match of each rule (a fresh entry per listener and host,
/// sharing the rule's action), whether every reference resolved, and which matches were left
/// out because a regular expression in them does not compile (`PartiallyInvalid`).
#[allow(clippy::type_complexity)]
fn actions(inputs: &Inputs, route: &HttpRoute) -> (Vec<Box<dyn Fn() -> Entry>>, Outcome, Option<String>) {
    let ns = route.metadata.namespace.clone().unwrap_or_default();
    let name = route.metadata.name.clone().unwrap_or_default();
    let owner = format!("httproute {ns}/{name}");
    let mut resolved: Outcome = Ok(());
    let mut entries: Vec<Box<dyn Fn() -> Entry>> = Vec::new();
    let mut dropped = Vec::new();
    let age = route.metadata.creation_timestamp.as_ref().map(|t| t.0);
    for (i, rule) in route.spec.rules.iter().flatten().enumerate() {
        let timeouts = rule.timeouts.as_ref();
        let backend_timeout =
            timeouts.and_then(|t| t.backend_request.as_deref()).and_then(svclab_shared::gateway::duration);
        let read_timeout = backend_timeout.unwrap_or(crate::ingress::backend::READ_TIMEOUT);
        let rule_name = format!("{owner} rule {}", rule.name.clone().unwrap_or_else(|| i.to_string()));
        let mut backends = Vec::new();
        for b in rule.backend_refs.iter().flatten() {
            let (backend, outcome) = backend(
                inputs,
                &ns,
                &owner,
                Ref::of(b.kind.as_deref(), b.group.as_deref(), b.namespace.as_deref(), &b.name, b.port),
                read_timeout,
            );
            if resolved.is_ok() {
                resolved = outcome;
            }
            backends.push(Weighted { weight: b.weight.unwrap_or(1).max(0) as u32, backend: Arc::new(backend) });
        }
        let mut none = Backend::new(&owner, String::new(), String::new(), read_timeout);
        none.invalid = true;
        none.problem = Some(format!("{rule_name} has no backend with a weight"));
        let none = Arc::new(none);
        let request_timeout = timeouts.and_then(|t| t.request.as_deref()).and_then(svclab_shared::gateway::duration);
        let rule_context = RuleContext {
            rule: &rule_name,
            filters: rule.filters.as_deref().unwrap_or_default(),
            backends: &backends,
            none: &none,
            read_timeout,
            request_timeout,
        };
        for (j, m) in rule.matches.iter().flatten().enumerate() {
            let order = (age, key(&ns, &name), i, j);
            match match_entry(inputs, &ns, &owner, &rule_context, m, order) {
                Ok(entry) => entries.push(entry),
                Err(bad) => dropped.extend(bad.iter().map(|b| format!("spec.rules[{i}].matches[{j}]: {b}"))),
            }
        }
    }
    let partially_invalid = (!dropped.is_empty()).then(|| format!("Dropped match(es): {}", dropped.join("; ")));
    (entries, resolved, partially_invalid)
}

/// What a rule's matches share.
struct RuleContext<'a> {
    rule: &'a str,
    filters: &'a [r::HttpRouteRulesFilters],
    backends: &'a [Weighted],
    none: &'a Arc<Backend>,
    read_timeout: Duration,
    request_timeout: Option<Duration>,
}

/// The maker of one match's table entries, or each regular expression of the match that does not
/// compile, described (the whole match is then left out: dropping only a header's condition
/// would match more than the route asks for).
fn match_entry(
    inputs: &Inputs,
    ns: &str,
    owner: &str,
    rule: &RuleContext,
    m: &r::HttpRouteRulesMatches,
    order: (Option<jiff::Timestamp>, String, usize, usize),
) -> Result<Box<dyn Fn() -> Entry>, Vec<String>> {
    let mut bad = Vec::new();
    let path = m.path.clone().unwrap_or_default();
    let value = path.value.clone().unwrap_or_else(|| "/".into());
    let path_match = match path.r#type {
        Some(r::HttpRouteRulesMatchesPathType::Exact) => Some(PathMatch::Exact(value.clone())),
        Some(r::HttpRouteRulesMatchesPathType::RegularExpression) => compiled(&value, &mut bad).map(PathMatch::Regex),
        _ => Some(PathMatch::Prefix(value.trim_end_matches('/').to_string())),
    };
    let regex_header = |t: &Option<r::HttpRouteRulesMatchesHeadersType>| {
        matches!(t, Some(r::HttpRouteRulesMatchesHeadersType::RegularExpression))
    };
    let regex_query = |t: &Option<r::HttpRouteRulesMatchesQueryParamsType>| {
        matches!(t, Some(r::HttpRouteRulesMatchesQueryParamsType::RegularExpression))
    };
    let headers: Vec<Option<(String, ValueMatch)>> = m
        .headers
        .iter()
        .flatten()
        .map(|h| Some((h.name.to_ascii_lowercase(), value_match(regex_header(&h.r#type), &h.value, &mut bad)?)))
        .collect();
    let query: Vec<Option<(String, ValueMatch)>> = m
        .query_params
        .iter()
        .flatten()
        .map(|q| Some((q.name.clone(), value_match(regex_query(&q.r#type), &q.value, &mut bad)?)))
        .collect();
    let (Some(path_match), Some(headers), Some(query)) =
        (path_match, headers.into_iter().collect::<Option<Vec<_>>>(), query.into_iter().collect::<Option<Vec<_>>>())
    else {
        return Err(bad);
    };
    let matched = match &path_match {
        PathMatch::Prefix(p) => p.clone(),
        _ => String::new(),
    };
    let mut filters = filters(inputs, ns, owner, rule.filters, &matched, rule.read_timeout);
    filters.request_timeout = rule.request_timeout;
    let action = Arc::new(Action::new(rule.backends.to_vec(), filters, rule.none.clone()));
    let method =
        m.method.as_ref().and_then(|m| serde_json::to_value(m).ok()).and_then(|v| v.as_str().map(String::from));
    let shown: Arc<str> = format!("{} ({} {value})", rule.rule, path_type_name(&path_match)).into();
    let matched_path: Arc<str> = if matched.is_empty() { "/".into() } else { matched.into() };
    Ok(Box::new(move || Entry {
        path: path_match.clone(),
        method: method.clone(),
        headers: headers.clone(),
        query: query.clone(),
        rule: shown.clone(),
        matched_path: matched_path.clone(),
        action: action.clone(),
        order: order.clone(),
    }))
}

fn path_type_name(p: &PathMatch) -> &'static str {
    match p {
        PathMatch::Exact(_) => "Exact",
        PathMatch::Prefix(_) => "PathPrefix",
        PathMatch::Regex(_) => "RegularExpression",
    }
}

/// A header's or query parameter's condition; `None` (described in `bad`) for a regular
/// expression that does not compile.
fn value_match(regex: bool, value: &str, bad: &mut Vec<String>) -> Option<ValueMatch> {
    if regex { compiled(value, bad).map(ValueMatch::Regex) } else { Some(ValueMatch::Exact(value.to_string())) }
}

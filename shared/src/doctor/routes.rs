//! The doctor for an HTTPRoute: is it attached to its Gateways (and if not, why, from its
//! status), and does every backendRef name a Service port it may use (a missing Service or port,
//! a Service in another namespace without a ReferenceGrant)?

use super::{Diagnosis, Finding, ObjectLink, Severity, finding, link};
use crate::gateway::{CONTROLLER, Gateway, GatewayClass, HttpRoute, ReferenceGrant};
use k8s_openapi::api::core::v1::Service;

/// What the route doctor looks at.
pub struct RouteEvidence<'a> {
    pub route: &'a HttpRoute,
    pub gateways: &'a [Gateway],
    pub classes: &'a [GatewayClass],
    pub services: &'a [Service],
    pub grants: &'a [ReferenceGrant],
}

fn named<'a, T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>>(
    items: &'a [T],
    ns: Option<&str>,
    name: &str,
) -> Option<&'a T> {
    items.iter().find(|i| {
        let meta = i.metadata();
        meta.name.as_deref() == Some(name) && (ns.is_none() || meta.namespace.as_deref() == ns)
    })
}

/// Runs the route's checks: its parents, then its backends.
pub fn diagnose_route(e: &RouteEvidence) -> Diagnosis {
    let ns = e.route.metadata.namespace.clone().unwrap_or_default();
    let name = e.route.metadata.name.clone().unwrap_or_default();
    let mut findings = parents(e, &ns);
    findings.extend(backends(e, &ns));
    Diagnosis { service: format!("{ns}/{name}"), findings }
}

fn parents(e: &RouteEvidence, ns: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let refs = e.route.spec.parent_refs.clone().unwrap_or_default();
    if refs.is_empty() {
        let detail = "Without parentRefs no Gateway serves the route: name the Gateway in spec.parentRefs.".into();
        out.push(finding(Severity::Error, "parents", "The route names no Gateway".into(), detail, vec![]));
    }
    let statuses = e.route.status.as_ref().map(|s| s.parents.clone()).unwrap_or_default();
    for parent in refs {
        let gns = parent.namespace.clone().unwrap_or_else(|| ns.to_string());
        let links = vec![link("Gateway", &gns, &parent.name)];
        let Some(gateway) = named(e.gateways, Some(&gns), &parent.name) else {
            let title = format!("Gateway {gns}/{} does not exist", parent.name);
            let detail = "A route attaches to Gateways that exist: create it, or fix spec.parentRefs.".into();
            out.push(finding(Severity::Error, "parents", title, detail, links));
            continue;
        };
        let class = &gateway.spec.gateway_class_name;
        let served = named(e.classes, None, class).is_some_and(|c| c.spec.controller_name == CONTROLLER);
        if !served {
            let title = format!("Gateway {gns}/{} is of class {class:?}, which svclab does not serve", parent.name);
            let detail = format!(
                "Only Gateways of a class whose controllerName is {CONTROLLER} (the class svclab) get an address and route traffic here."
            );
            out.push(finding(Severity::Error, "parents", title, detail, links));
            continue;
        }
        let status = statuses.iter().find(|s| {
            s.controller_name == CONTROLLER
                && s.parent_ref.name == parent.name
                && s.parent_ref.section_name == parent.section_name
                && s.parent_ref.port == parent.port
        });
        let accepted = status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Accepted"));
        match accepted {
            Some(c) if c.status == "True" => {
                let title = format!("Attached to Gateway {gns}/{}", parent.name);
                out.push(finding(Severity::Ok, "parents", title, c.message.clone(), links));
            }
            Some(c) => {
                let title = format!("Not attached to Gateway {gns}/{}: {}", parent.name, c.reason);
                out.push(finding(Severity::Error, "parents", title, c.message.clone(), links));
            }
            None => {
                let title = format!("Gateway {gns}/{} has not taken the route up yet", parent.name);
                out.push(finding(
                    Severity::Warning,
                    "parents",
                    title,
                    "No status from svclab's controller yet.".into(),
                    links,
                ));
            }
        }
    }
    out
}

fn backends(e: &RouteEvidence, ns: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for rule in e.route.spec.rules.iter().flatten() {
        for b in rule.backend_refs.iter().flatten() {
            let kind = b.kind.as_deref().unwrap_or("Service");
            let bns = b.namespace.clone().unwrap_or_else(|| ns.to_string());
            let links: Vec<ObjectLink> = vec![link("Service", &bns, &b.name)];
            if kind != "Service" || b.group.as_deref().is_some_and(|g| !g.is_empty()) {
                let title = format!("backendRef {} is a {kind}, not a Service", b.name);
                let detail = "svclab's Gateways send to Services only: requests this rule sends there get 500.".into();
                out.push(finding(Severity::Error, "backends", title, detail, vec![]));
                continue;
            }
            let granted = bns == ns
                || e.grants.iter().filter(|g| g.metadata.namespace.as_deref() == Some(bns.as_str())).any(|g| {
                    g.spec.from.iter().any(|f| f.kind == "HTTPRoute" && f.namespace == ns)
                        && g.spec
                            .to
                            .iter()
                            .any(|t| t.kind == "Service" && t.name.as_deref().is_none_or(|n| n == b.name))
                });
            if !granted {
                let title =
                    format!("Service {bns}/{} is in another namespace, and no ReferenceGrant allows it", b.name);
                let detail = format!(
                    "A route may send to another namespace only when a ReferenceGrant there allows it: create one in {bns} \
                     with from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: {ns}}}] and to: [{{group: \"\", kind: Service}}]."
                );
                out.push(finding(Severity::Error, "backends", title, detail, links));
                continue;
            }
            let Some(service) = named(e.services, Some(&bns), &b.name) else {
                let title = format!("Service {bns}/{} does not exist", b.name);
                let detail = "Requests this rule sends there get 500 (ResolvedRefs: BackendNotFound).".into();
                out.push(finding(Severity::Error, "backends", title, detail, links));
                continue;
            };
            let ports = service.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
            match b.port {
                Some(port) if ports.iter().any(|p| p.port == port) => {
                    let weight = b.weight.unwrap_or(1);
                    let title = format!("Service {bns}/{} port {port} (weight {weight})", b.name);
                    out.push(finding(Severity::Ok, "backends", title, String::new(), links));
                }
                port => {
                    let have: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
                    let asked = port.map_or_else(|| "no port".to_string(), |p| format!("port {p}"));
                    let title = format!("Service {bns}/{} has no {asked}", b.name);
                    let detail = format!(
                        "backendRefs name the Service's port (it has {}), not the pods' targetPort.",
                        have.join(", ")
                    );
                    out.push(finding(Severity::Error, "backends", title, detail, links));
                }
            }
        }
    }
    out
}

/// What the HTTPRoutes sending to the service `ns/name` (with `ports`) do with it: each one's
/// share and whether it is attached, and a backendRef naming a port the service does not have.
pub(super) fn routes_to(
    ns: &str,
    name: &str,
    ports: &[k8s_openapi::api::core::v1::ServicePort],
    routes: &[HttpRoute],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for route in routes {
        let rns = route.metadata.namespace.clone().unwrap_or_default();
        let rname = route.metadata.name.clone().unwrap_or_default();
        let links = vec![link("HTTPRoute", &rns, &rname)];
        let attached = route.status.iter().flat_map(|s| &s.parents).any(|p| {
            p.controller_name == CONTROLLER && p.conditions.iter().any(|c| c.type_ == "Accepted" && c.status == "True")
        });
        for rule in route.spec.rules.iter().flatten() {
            let refs = rule.backend_refs.clone().unwrap_or_default();
            let total: i32 = refs.iter().map(|b| b.weight.unwrap_or(1)).sum();
            for b in refs.iter().filter(|b| b.name == name && b.namespace.as_deref().unwrap_or(&rns) == ns) {
                if b.kind.as_deref().unwrap_or("Service") != "Service" {
                    continue;
                }
                let port = b.port.unwrap_or_default();
                if !ports.iter().any(|p| p.port == port) {
                    let title =
                        format!("HTTPRoute {rns}/{rname} sends to port {port}, which the service does not have");
                    let detail =
                        "A backendRef names the service's port (spec.ports[].port), not the pods' targetPort.".into();
                    out.push(finding(Severity::Error, "routes", title, detail, links.clone()));
                    continue;
                }
                let share = if refs.len() > 1 {
                    format!(" (weight {} of {total})", b.weight.unwrap_or(1))
                } else {
                    String::new()
                };
                let (severity, title, detail) = if attached {
                    (
                        Severity::Info,
                        format!("HTTPRoute {rns}/{rname} sends here{share}"),
                        "Requests through its Gateway reach these endpoints.".to_string(),
                    )
                } else {
                    let detail = "It is attached to no Gateway: see the route's own doctor for why.".to_string();
                    (
                        Severity::Warning,
                        format!("HTTPRoute {rns}/{rname} would send here{share}, but is not attached"),
                        detail,
                    )
                };
                out.push(finding(severity, "routes", title, detail, links.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn missing_services_ports_and_grants_are_found() {
        let route: HttpRoute = typed(json!({"metadata": {"name": "r", "namespace": "default"}, "spec": {
            "parentRefs": [{"name": "gw"}, {"name": "nowhere"}],
            "rules": [{"backendRefs": [{"name": "kubia", "port": 8080}, {"name": "gone", "port": 80},
                                       {"name": "db", "namespace": "other", "port": 5432}, {"name": "kubia", "port": 80}]}]},
            "status": {"parents": [{"controllerName": CONTROLLER, "parentRef": {"name": "gw"},
                "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
                                "message": "Listener \"http\" does not allow routes from namespace \"default\"",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}}));
        let gateways: Vec<Gateway> = vec![typed(
            json!({"metadata": {"name": "gw", "namespace": "default"}, "spec": {"gatewayClassName": "svclab", "listeners": []}}),
        )];
        let classes: Vec<GatewayClass> =
            vec![typed(json!({"metadata": {"name": "svclab"}, "spec": {"controllerName": CONTROLLER}}))];
        let services: Vec<Service> = vec![typed(
            json!({"metadata": {"name": "kubia", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}),
        )];
        let d = diagnose_route(&RouteEvidence {
            route: &route,
            gateways: &gateways,
            classes: &classes,
            services: &services,
            grants: &[],
        });
        let titles: Vec<(Severity, &str)> = d.findings.iter().map(|f| (f.severity, f.title.as_str())).collect();
        let to_kubia: Vec<String> = routes_to(
            "default",
            "kubia",
            &services[0].spec.clone().unwrap().ports.unwrap(),
            std::slice::from_ref(&route),
        )
        .iter()
        .map(|f| f.title.clone())
        .collect();
        assert_eq!(
            to_kubia,
            [
                "HTTPRoute default/r sends to port 8080, which the service does not have",
                "HTTPRoute default/r would send here (weight 1 of 4), but is not attached"
            ]
        );
        assert_eq!(
            titles,
            [
                (Severity::Error, "Not attached to Gateway default/gw: NotAllowedByListeners"),
                (Severity::Error, "Gateway default/nowhere does not exist"),
                (Severity::Error, "Service default/kubia has no port 8080"),
                (Severity::Error, "Service default/gone does not exist"),
                (Severity::Error, "Service other/db is in another namespace, and no ReferenceGrant allows it"),
                (Severity::Ok, "Service default/kubia port 80 (weight 1)"),
            ]
        );
    }
}

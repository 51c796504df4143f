//! The Gateway API CRDs' defaults (their OpenAPI `default`s, which kube-apiserver applies to
//! custom resources): generation 1, listeners allowing routes from their own namespace, TLS
//! terminated, a route rule matching every path, parents that are Gateways, backends that are
//! Services of weight 1, exact header and query matches, and the `Waiting for controller`
//! conditions a new GatewayClass or Gateway starts with.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use svclab_shared::gateway::{self, Gateway, GatewayClass, HttpRoute, gw, route};

/// The time CRD defaults give a condition's `lastTransitionTime`.
fn epoch() -> Time {
    Time(jiff::Timestamp::UNIX_EPOCH)
}

fn waiting(type_: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: "Unknown".into(),
        reason: "Pending".into(),
        message: "Waiting for controller".into(),
        observed_generation: None,
        last_transition_time: epoch(),
    }
}

pub(super) fn gateway_class(class: &mut GatewayClass) {
    class.metadata.generation.get_or_insert(1);
    let status = class.status.get_or_insert_with(Default::default);
    status.conditions.get_or_insert_with(|| vec![waiting("Accepted")]);
}

pub(super) fn gateway(gateway: &mut Gateway) {
    gateway.metadata.generation.get_or_insert(1);
    for listener in &mut gateway.spec.listeners {
        let allowed = listener.allowed_routes.get_or_insert_with(Default::default);
        let namespaces = allowed.namespaces.get_or_insert_with(Default::default);
        namespaces.from.get_or_insert(gw::GatewayListenersAllowedRoutesNamespacesFrom::Same);
        if let Some(tls) = listener.tls.as_mut() {
            tls.mode.get_or_insert(gw::GatewayListenersTlsMode::Terminate);
            for cert in tls.certificate_refs.iter_mut().flatten() {
                cert.group.get_or_insert_with(String::new);
                cert.kind.get_or_insert_with(|| "Secret".into());
            }
        }
    }
    let status = gateway.status.get_or_insert_with(Default::default);
    status.conditions.get_or_insert_with(|| vec![waiting("Accepted"), waiting("Programmed")]);
}

pub(super) fn http_route(r: &mut HttpRoute) {
    r.metadata.generation.get_or_insert(1);
    for parent in r.spec.parent_refs.iter_mut().flatten() {
        parent.group.get_or_insert_with(|| gateway::GROUP.into());
        parent.kind.get_or_insert_with(|| "Gateway".into());
    }
    let rules = r.spec.rules.get_or_insert_with(|| vec![route::HttpRouteRules::default()]);
    for rule in rules {
        let matches = rule.matches.get_or_insert_with(|| vec![route::HttpRouteRulesMatches::default()]);
        for m in matches {
            let path = m.path.get_or_insert_with(Default::default);
            path.r#type.get_or_insert(route::HttpRouteRulesMatchesPathType::PathPrefix);
            path.value.get_or_insert_with(|| "/".into());
            for h in m.headers.iter_mut().flatten() {
                h.r#type.get_or_insert(route::HttpRouteRulesMatchesHeadersType::Exact);
            }
            for q in m.query_params.iter_mut().flatten() {
                q.r#type.get_or_insert(route::HttpRouteRulesMatchesQueryParamsType::Exact);
            }
        }
        for backend in rule.backend_refs.iter_mut().flatten() {
            backend.group.get_or_insert_with(String::new);
            backend.kind.get_or_insert_with(|| "Service".into());
            backend.weight.get_or_insert(1);
        }
    }
}

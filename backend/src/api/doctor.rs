//! `GET /lab/v1/namespaces/{ns}/services/{name}/diagnosis`: the service doctor. It gathers what
//! the checklist needs — the service, its Endpoints, the pods, what listens at each pod's address
//! (and at its localhost only) on the virtual network, the kubelet's last readiness probe failure
//! per pod — and runs the pure checklist of [`svclab_shared::doctor`]. Also each service's
//! endpoint timeline (`…/timeline`, see [`crate::timeline`]).

use super::ApiState;
use crate::addr::Protocol;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use k8s_openapi::api::core::v1::{Endpoints, Event, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use svclab_shared::Kind;
use svclab_shared::doctor::{Diagnosis, Evidence, TopologyEvidence, diagnose};

/// `GET /lab/v1/namespaces/{ns}/httproutes/{name}/diagnosis`: the route doctor.
pub async fn route_diagnosis(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<Diagnosis>, ApiError> {
    use svclab_shared::gateway::{Gateway, GatewayClass, HttpRoute, ReferenceGrant};
    let store = state.store();
    let route: HttpRoute = store.get_typed(&ns, &name).ok_or_else(|| ApiError::not_found(Kind::HttpRoute, &name))?;
    let gateways: Vec<Gateway> = store.list_typed(None);
    let classes: Vec<GatewayClass> = store.list_typed(None);
    let services: Vec<Service> = store.list_typed(None);
    let grants: Vec<ReferenceGrant> = store.list_typed(None);
    let evidence = svclab_shared::doctor::RouteEvidence {
        route: &route,
        gateways: &gateways,
        classes: &classes,
        services: &services,
        grants: &grants,
    };
    Ok(Json(svclab_shared::doctor::diagnose_route(&evidence)))
}

pub async fn diagnosis(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<Diagnosis>, ApiError> {
    let store = state.store();
    let service: Service = store.get_typed(&ns, &name).ok_or_else(|| ApiError::not_found(Kind::Service, &name))?;
    let pods: Vec<Pod> = store.list_views::<Pod>(None).iter().map(|p| (**p).clone()).collect();
    let text = |ports: Vec<(u16, Protocol)>| -> Vec<(i32, String)> {
        let name = |p: Protocol| if p == Protocol::Udp { "UDP" } else { "TCP" }.to_string();
        ports.into_iter().map(|(port, protocol)| (i32::from(port), name(protocol))).collect()
    };
    let (mut listening, mut loopback) = (BTreeMap::new(), BTreeMap::new());
    for pod in &pods {
        let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        else {
            continue;
        };
        listening.insert(pod_key(pod), text(state.network.listening(ip)));
        loopback.insert(pod_key(pod), text(state.network.listening_loopback(ip)));
    }
    let own = store.get_typed::<Endpoints>(&ns, &name);
    let sliced = own.is_none();
    let slices = crate::informer::slices_of(store, &ns, &name);
    let endpoints = own.or_else(|| svclab_shared::slices::as_endpoints(&ns, &name, slices.iter().map(|s| &**s)));
    let evidence = Evidence {
        sliced: sliced && endpoints.is_some(),
        topology: topology(store, &service, slices.iter().map(|s| &**s)),
        endpoints,
        probe_failures: probe_failures(&state, &ns),
        routes: store.list_typed(None),
        policies: store.list_typed(Some(&ns)),
        service,
        pods,
        listening,
        loopback,
    };
    Ok(Json(diagnose(&evidence)))
}

/// What the service's slices say of its topology hints, and the EndpointSlice controller's last
/// word on Topology Aware Routing (its latest event about it, when that disabled the hints).
fn topology<'a>(
    store: &crate::store::Store,
    svc: &Service,
    slices: impl Iterator<Item = &'a EndpointSlice>,
) -> TopologyEvidence {
    let mut t = TopologyEvidence::default();
    for e in slices.flat_map(|s| &s.endpoints) {
        if e.conditions.as_ref().and_then(|c| c.ready) != Some(true) {
            continue;
        }
        t.ready += 1;
        t.zoned += usize::from(e.zone.is_some());
        t.hinted += usize::from(e.hints.as_ref().and_then(|h| h.for_zones.as_ref()).is_some_and(|z| !z.is_empty()));
    }
    let ns = svc.metadata.namespace.as_deref();
    let events: Vec<Event> = store.list_typed(ns);
    let latest = events
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("Service") && e.involved_object.name == svc.metadata.name)
        .filter(|e| e.reason.as_deref().is_some_and(|r| r.starts_with("TopologyAwareHints")))
        .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    t.disabled = latest.filter(|e| e.reason.as_deref() == Some("TopologyAwareHintsDisabled")).and_then(|e| e.message);
    t
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The newest `Readiness probe failed: …` message of each pod in the namespace, by `namespace/name`.
fn probe_failures(state: &ApiState, ns: &str) -> BTreeMap<String, String> {
    crate::registry::events::newest_messages(state.store(), ns, "Pod", "Readiness probe failed")
        .into_iter()
        .map(|(pod, message)| (format!("{ns}/{pod}"), message))
        .collect()
}

/// `GET /lab/v1/namespaces/{ns}/services/{name}/timeline`: when each pod joined or left the
/// service's endpoints, and why (see [`crate::timeline`]).
pub async fn timeline(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<svclab_shared::lab::Timeline>, ApiError> {
    if state.store().get_typed::<Service>(&ns, &name).is_none() {
        return Err(ApiError::not_found(Kind::Service, &name));
    }
    let key = crate::store::ObjectKey::new(Kind::Service, &ns, &name);
    let timeline = state
        .timelines
        .get(&key)
        .unwrap_or_else(|| svclab_shared::lab::Timeline { service: format!("{ns}/{name}"), ..Default::default() });
    Ok(Json(timeline))
}

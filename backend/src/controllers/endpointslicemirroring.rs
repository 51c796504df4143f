//! The EndpointSlice mirroring controller: the Endpoints of a service without a selector (the
//! ones you write yourself, as for the chapter's external service) mirrored into EndpointSlices,
//! as kube-controller-manager's `endpointslice-mirroring` does: a slice per address family and
//! port list of at most 100 endpoints, at most 1000 addresses in all, `ready` from which list an
//! address is in, owned by the Endpoints. Endpoints labelled `skip-mirror` (the `kubernetes`
//! service's) are left alone.

use super::endpointslices::{
    MANAGED_BY, MAX_PER_SLICE, SERVICE_NAME, SliceContent, SliceMeta, delete_slices, slices_managed_by, sync_slices,
};
use super::runtime::{Action, Reconciler};
use crate::registry::Registry;
use crate::store::ObjectKey;
use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use std::net::IpAddr;
use std::time::Duration;
use svclab_shared::{Kind, Object};

const CONTROLLER: &str = "endpointslicemirroring-controller.k8s.io";
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// The most addresses mirrored from one Endpoints object.
const MAX_MIRRORED: usize = 1000;
/// Annotations that describe the Endpoints object itself, not copied onto its slices.
const NOT_COPIED: &[&str] =
    &["kubectl.kubernetes.io/last-applied-configuration", "endpoints.kubernetes.io/last-change-trigger-time"];

/// A slice to have: its address type, ports and endpoints.
pub type Mirrored = (&'static str, SliceContent);

fn endpoint_of(address: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![address.ip.clone()],
        conditions: Some(EndpointConditions { ready: Some(ready), serving: Some(ready), terminating: Some(false) }),
        hostname: address.hostname.clone(),
        node_name: address.node_name.clone(),
        target_ref: address.target_ref.clone(),
        ..Default::default()
    }
}

/// The slices an Endpoints object mirrors into: per subset, its addresses (ready) and
/// not-ready addresses, grouped by address family and cut into slices of `max`. Pure.
pub fn mirrored_slices(endpoints: &Endpoints, max: usize) -> Vec<Mirrored> {
    let mut groups: Vec<(&'static str, Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    let mut mirrored = 0;
    for subset in endpoints.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset.not_ready_addresses.iter().flatten().map(|a| (a, false));
        for (address, ready) in ready.chain(not_ready) {
            let family = match address.ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => "IPv4",
                Ok(IpAddr::V6(_)) => "IPv6",
                Err(_) => continue,
            };
            if mirrored == MAX_MIRRORED {
                break;
            }
            mirrored += 1;
            let endpoint = endpoint_of(address, ready);
            match groups.iter_mut().find(|(f, p, _)| *f == family && *p == ports) {
                Some((_, _, endpoints)) => endpoints.push(endpoint),
                None => groups.push((family, ports.clone(), vec![endpoint])),
            }
        }
    }
    let mut out = Vec::new();
    for (family, ports, endpoints) in groups {
        for chunk in endpoints.chunks(max.max(1)) {
            out.push((family, (ports.clone(), chunk.to_vec())));
        }
    }
    out
}

pub struct EndpointSliceMirroringController {
    registry: Registry,
}

impl EndpointSliceMirroringController {
    pub fn new(registry: Registry) -> Self {
        EndpointSliceMirroringController { registry }
    }

    /// The Endpoints to mirror at `key`: there, not marked to skip, and of a service that
    /// exists without a selector.
    fn to_mirror(&self, key: &ObjectKey) -> Option<Endpoints> {
        let store = self.registry.store();
        let endpoints = store.get_typed::<Endpoints>(&key.namespace, &key.name)?;
        let labels = endpoints.metadata.labels.as_ref();
        if labels.and_then(|l| l.get(SKIP_MIRROR)).is_some_and(|v| v == "true") {
            return None;
        }
        let service = store.get_typed::<Service>(&key.namespace, &key.name)?;
        let selector = service.spec.as_ref().and_then(|s| s.selector.as_ref());
        selector.is_none_or(|s| s.is_empty()).then_some(endpoints)
    }
}

impl Reconciler for EndpointSliceMirroringController {
    fn name(&self) -> &'static str {
        "endpointslice-mirroring-controller"
    }

    fn keys_for(&self, object: &Object, _old: Option<&Object>) -> Vec<ObjectKey> {
        match object.kind() {
            Kind::Endpoints | Kind::Service => vec![ObjectKey::new(Kind::Endpoints, object.namespace(), object.name())],
            Kind::EndpointSlice => {
                let labels = object.metadata().labels.as_ref();
                let mirrored = labels.and_then(|l| l.get(MANAGED_BY)).is_some_and(|m| m == CONTROLLER);
                let service = labels.and_then(|l| l.get(SERVICE_NAME)).filter(|_| mirrored);
                service.map(|s| ObjectKey::new(Kind::Endpoints, object.namespace(), s)).into_iter().collect()
            }
            _ => vec![],
        }
    }

    async fn reconcile(&mut self, key: &ObjectKey) -> Action {
        let existing = slices_managed_by(&self.registry, &key.namespace, &key.name, CONTROLLER);
        let failed = match self.to_mirror(key) {
            Some(endpoints) => {
                let mut meta = SliceMeta::new(Kind::Endpoints, &endpoints.metadata, CONTROLLER);
                let mut annotations = endpoints.metadata.annotations.clone().unwrap_or_default();
                annotations.retain(|k, _| !NOT_COPIED.contains(&k.as_str()));
                meta.annotations = (!annotations.is_empty()).then_some(annotations);
                sync_slices(&self.registry, existing, mirrored_slices(&endpoints, MAX_PER_SLICE), &meta)
            }
            // Nothing to mirror (any more): the mirrored slices go.
            None => delete_slices(&self.registry, &key.namespace, existing),
        };
        if failed { Action::RequeueAfter(Duration::from_millis(100)) } else { Action::AwaitChange }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_mirror_by_family_and_ports_with_readiness_and_a_cap() {
        let endpoints: Endpoints = serde_json::from_value(json!({"metadata": {"name": "external-service"},
        "subsets": [
            {"addresses": [{"ip": "11.11.11.11"}, {"ip": "2001:db8::1"}], "notReadyAddresses": [{"ip": "22.22.22.22"}],
             "ports": [{"port": 80}]},
            {"addresses": [{"ip": "33.33.33.33", "nodeName": "node-1"}], "ports": [{"name": "https", "port": 443}]}
        ]}))
        .unwrap();
        let slices = mirrored_slices(&endpoints, MAX_PER_SLICE);
        type Shape<'a> = (&'a str, Option<i32>, Vec<(&'a str, bool)>);
        let shape: Vec<Shape> = slices
            .iter()
            .map(|(family, (ports, endpoints))| {
                let endpoints = endpoints
                    .iter()
                    .map(|e| (e.addresses[0].as_str(), e.conditions.as_ref().unwrap().ready.unwrap()))
                    .collect();
                (*family, ports[0].port, endpoints)
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("IPv4", Some(80), vec![("11.11.11.11", true), ("22.22.22.22", false)]),
                ("IPv6", Some(80), vec![("2001:db8::1", true)]),
                ("IPv4", Some(443), vec![("33.33.33.33", true)]),
            ]
        );
        assert_eq!(slices[0].1.0[0].protocol.as_deref(), Some("TCP"), "the protocol is defaulted");
        assert_eq!(slices[2].1.1[0].node_name.as_deref(), Some("node-1"));

        let addresses: Vec<_> = (0..1200).map(|i| json!({"ip": format!("10.0.{}.{}", i / 250, i % 250)})).collect();
        let big: Endpoints = serde_json::from_value(json!({"metadata": {"name": "big"},
            "subsets": [{"addresses": addresses, "ports": [{"port": 80}]}]}))
        .unwrap();
        let sizes: Vec<usize> = mirrored_slices(&big, MAX_PER_SLICE).iter().map(|(_, (_, e))| e.len()).collect();
        assert_eq!(sizes, [100; 10], "at most 1000 addresses, 100 per slice");
    }
}

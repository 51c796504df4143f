//! Whether the service's topology routing (`trafficDistribution`, or Topology Aware Routing's
//! annotation) does anything: the proxy follows the EndpointSlices' zone hints only when every
//! ready endpoint has one, so a node without a zone label or too few endpoints quietly turns it
//! off.

use super::{Finding, Severity, finding};
use crate::service::{ZONE_LABEL, topology_auto};
use k8s_openapi::api::core::v1::Service;

/// What the service's EndpointSlices and events say of its topology hints.
#[derive(Clone, Debug, Default)]
pub struct TopologyEvidence {
    /// Its ready endpoints, those with a zone, and those hinted for a zone.
    pub ready: usize,
    pub zoned: usize,
    pub hinted: usize,
    /// Why the EndpointSlice controller last gave no hints (its `TopologyAwareHintsDisabled`
    /// event), when that is the latest word.
    pub disabled: Option<String>,
}

pub(super) fn topology(svc: &Service, t: &TopologyEvidence) -> Option<Finding> {
    let spec = svc.spec.as_ref()?;
    let (asked, how) = match (topology_auto(svc), spec.traffic_distribution.as_deref()) {
        (true, _) => ("service.kubernetes.io/topology-mode: Auto", "Topology Aware Routing"),
        (false, Some(value)) => (value, "trafficDistribution"),
        (false, None) => return None,
    };
    if t.ready == 0 {
        return None;
    }
    let (severity, title, detail) = if t.hinted == t.ready {
        let title = format!("{how} keeps traffic in the client's zone");
        (
            Severity::Ok,
            title,
            format!(
                "Every ready endpoint is hinted for a zone ({asked}), and the proxy sends a client's connections to those hinted for its node's zone."
            ),
        )
    } else if t.zoned < t.ready {
        let unzoned = t.ready - t.zoned;
        (
            Severity::Warning,
            format!("{how} does nothing: {unzoned} of {} ready endpoints run on nodes without a zone", t.ready),
            format!(
                "Endpoints are hinted by their node's zone, the {ZONE_LABEL} label; the proxy follows the hints only when every ready endpoint has one, so it spreads traffic over all of them. Label the nodes: kubectl label node <node> {ZONE_LABEL}=<zone>."
            ),
        )
    } else {
        let why = t.disabled.clone().unwrap_or_else(|| "the EndpointSlice controller gave none".into());
        (
            Severity::Warning,
            format!("{how} does nothing: its endpoints carry no hints"),
            format!(
                "{asked} asks for hints, and {} of {} ready endpoints have one ({why}); the proxy follows hints only when every ready endpoint has one, so it spreads traffic over all of them.",
                t.hinted, t.ready
            ),
        )
    };
    Some(finding(severity, "topology", title, detail, vec![]))
}

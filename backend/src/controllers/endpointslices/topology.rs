//! Topology Aware Routing (`service.kubernetes.io/topology-mode: Auto`), the EndpointSlice
//! controller's topology cache: each zone's share of a service's ready endpoints, in proportion
//! to the allocatable CPU of its ready nodes, given to kube-proxy as `forZones` hints so that
//! traffic stays in its zone while no endpoint takes more than 20% over its share. Pure.

use super::SliceContent;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::{EndpointHints, ForZone};
use std::collections::BTreeMap;
use svclab_shared::service::ZONE_LABEL;

/// The most any one endpoint may be overloaded by keeping traffic in its zone.
const OVERLOAD_THRESHOLD: f64 = 0.2;

/// Why hints were not given: the controller's event message (kube-controller-manager's words).
pub type Disabled = String;

pub const INSUFFICIENT_NODE_INFO: &str =
    "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes";
pub const NO_ZONE_SPECIFIED: &str = "One or more endpoints do not have a zone specified";
pub const ENABLED: &str = "Topology Aware Hints has been enabled";
pub const DISABLED: &str = "Topology Aware Hints has been disabled";

/// Each zone's share of the cluster's allocatable CPU, over the ready nodes that are not control
/// plane; an error when a counted node has no zone or no CPU, or fewer than two zones have any.
pub fn cpu_ratios<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Result<BTreeMap<String, f64>, Disabled> {
    let mut by_zone: BTreeMap<String, f64> = BTreeMap::new();
    for node in nodes {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let control_plane = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];
        if control_plane.iter().any(|l| labels.contains_key(*l)) || !ready(node) {
            continue;
        }
        let status = node.status.as_ref();
        let cpu = status.and_then(|s| s.allocatable.as_ref()?.get("cpu")).and_then(svclab_shared::quantity::value);
        match (labels.get(ZONE_LABEL).filter(|z| !z.is_empty()), cpu.filter(|c| *c > 0.0)) {
            (Some(zone), Some(cpu)) => *by_zone.entry(zone.clone()).or_default() += cpu,
            _ => return Err(INSUFFICIENT_NODE_INFO.into()),
        }
    }
    let total: f64 = by_zone.values().sum();
    if by_zone.len() < 2 || total <= 0.0 {
        return Err(INSUFFICIENT_NODE_INFO.into());
    }
    Ok(by_zone.into_iter().map(|(zone, cpu)| (zone, cpu / total)).collect())
}

/// Hints every ready endpoint of a service's slices for a zone (the controller's `AddHints`,
/// worked out afresh over all of them), or takes every hint away and says why not.
pub fn add_hints(slices: &mut [SliceContent], ratios: Result<BTreeMap<String, f64>, Disabled>) -> Result<(), Disabled> {
    let endpoints = slices.iter().flat_map(|(_, e)| e);
    let zones: Vec<Option<Option<&str>>> = endpoints
        .map(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false).then_some(e.zone.as_deref()))
        .collect();
    let hinted = ratios.and_then(|ratios| hints(&zones, &ratios));
    let zones = match &hinted {
        Ok(zones) => zones.clone(),
        Err(_) => vec![None; zones.len()],
    };
    for (endpoint, zone) in slices.iter_mut().flat_map(|(_, e)| e.iter_mut()).zip(zones) {
        endpoint.hints = zone.map(|name| EndpointHints { for_zones: Some(vec![ForZone { name }]), for_nodes: None });
    }
    hinted.map(|_| ())
}

/// What of a node its zone's share depends on: its labels (zone, control plane), readiness and
/// allocatable CPU.
#[derive(PartialEq)]
pub struct Shares<'a> {
    labels: Option<&'a BTreeMap<String, String>>,
    ready: bool,
    cpu: Option<&'a str>,
}

impl<'a> Shares<'a> {
    pub fn of(node: &'a svclab_shared::Object) -> Option<Self> {
        let node = node.downcast::<Node>()?;
        let cpu = node.status.as_ref().and_then(|s| s.allocatable.as_ref()?.get("cpu")).map(|q| q.0.as_str());
        Some(Shares { labels: node.metadata.labels.as_ref(), ready: ready(node), cpu })
    }
}

fn ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The zone each endpoint is hinted for, given each endpoint's zone when it is ready (`None`
/// when not ready: it gets no hint): first its own zone, then endpoints of zones holding more
/// than their share are given to zones holding less.
pub fn hints(
    endpoints: &[Option<Option<&str>>],
    ratios: &BTreeMap<String, f64>,
) -> Result<Vec<Option<String>>, Disabled> {
    let n = endpoints.iter().filter(|e| e.is_some()).count();
    if ratios.len() > n {
        return Err(format!("Insufficient number of endpoints ({n} endpoints, {} zones)", ratios.len()));
    }
    // How many endpoints each zone should get: its CPU share, and at least as many as keep each
    // endpoint under the overload threshold.
    let mut desired = BTreeMap::new();
    let mut minimum_total = 0;
    for (zone, ratio) in ratios {
        let share = ratio * n as f64;
        let minimum = (share / (1.0 + OVERLOAD_THRESHOLD)).ceil();
        minimum_total += minimum as usize;
        if minimum_total > n {
            return Err(format!(
                "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold ({n} endpoints, {} zones)",
                ratios.len()
            ));
        }
        desired.insert(zone.as_str(), share.max(minimum));
    }
    let mut out: Vec<Option<String>> = Vec::with_capacity(endpoints.len());
    let mut allocated: BTreeMap<&str, f64> = BTreeMap::new();
    for endpoint in endpoints {
        match endpoint {
            None => out.push(None),
            Some(None) | Some(Some("")) => return Err(NO_ZONE_SPECIFIED.into()),
            Some(Some(zone)) => {
                *allocated.entry(zone).or_default() += 1.0;
                out.push(Some(zone.to_string()));
            }
        }
    }
    let (mut giving, mut receiving) = giving_and_receiving(&desired, &allocated);
    for (endpoint, hint) in endpoints.iter().zip(out.iter_mut()) {
        let Some(Some(zone)) = endpoint else { continue };
        let Some(to_give) = giving.get_mut(zone).filter(|n| **n > 0) else { continue };
        let Some((to, wanted)) = receiving.iter_mut().find(|(_, n)| **n > 0) else { break };
        *hint = Some(to.to_string());
        *to_give -= 1;
        *wanted -= 1;
    }
    Ok(out)
}

/// How many whole endpoints each zone gives and each receives, moving one at a time from the
/// zone furthest over its desired count to the one furthest under, while both are at least half
/// an endpoint away and not both less than one.
fn giving_and_receiving<'a>(
    desired: &BTreeMap<&'a str, f64>,
    allocated: &BTreeMap<&str, f64>,
) -> (BTreeMap<&'a str, usize>, BTreeMap<&'a str, usize>) {
    let mut over = BTreeMap::new();
    let mut under = BTreeMap::new();
    for (zone, want) in desired {
        let have = allocated.get(zone).copied().unwrap_or(0.0);
        if have > *want {
            over.insert(*zone, have - want);
        } else if have < *want {
            under.insert(*zone, want - have);
        }
    }
    fn most<'a>(zones: &BTreeMap<&'a str, f64>) -> Option<(&'a str, f64)> {
        zones.iter().fold(None, |best, (z, n)| match best {
            Some((_, m)) if *n <= m => best,
            _ if *n > 0.0 => Some((*z, *n)),
            _ => best,
        })
    }
    let (mut giving, mut receiving) = (BTreeMap::new(), BTreeMap::new());
    while let (Some((from, give)), Some((to, take))) = (most(&over), most(&under)) {
        if (give < 1.0 && take < 1.0) || give < 0.5 || take < 0.5 {
            break;
        }
        *giving.entry(from).or_default() += 1;
        *over.get_mut(from).expect("found") -= 1.0;
        *receiving.entry(to).or_default() += 1;
        *under.get_mut(to).expect("found") -= 1.0;
    }
    (giving, receiving)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(zone: Option<&str>, cpu: &str, ready: bool) -> Node {
        let labels = zone.map(|z| json!({ZONE_LABEL: z})).unwrap_or(json!({}));
        serde_json::from_value(json!({"metadata": {"name": "n", "labels": labels},
            "status": {"allocatable": {"cpu": cpu},
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    fn ratios(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(z, r)| (z.to_string(), *r)).collect()
    }

    #[test]
    fn zones_share_the_ready_nodes_cpu() {
        let nodes = [node(Some("a"), "2", true), node(Some("a"), "2000m", true), node(Some("b"), "2", true)];
        let got = cpu_ratios(&nodes).unwrap();
        assert!((got["a"] - 2.0 / 3.0).abs() < 1e-9 && (got["b"] - 1.0 / 3.0).abs() < 1e-9, "{got:?}");
        // A node that is not ready does not count; then only one zone is left.
        let one_zone = [node(Some("a"), "2", true), node(Some("b"), "2", false)];
        assert_eq!(cpu_ratios(&one_zone).unwrap_err(), INSUFFICIENT_NODE_INFO);
        let unzoned = [node(Some("a"), "2", true), node(Some("b"), "2", true), node(None, "2", true)];
        assert_eq!(cpu_ratios(&unzoned).unwrap_err(), INSUFFICIENT_NODE_INFO);
    }

    #[test]
    fn each_endpoint_keeps_its_zone_when_the_zones_hold_their_share() {
        let eps = [Some(Some("a")), Some(Some("a")), None, Some(Some("b"))];
        let got = hints(&eps, &ratios(&[("a", 2.0 / 3.0), ("b", 1.0 / 3.0)])).unwrap();
        assert_eq!(got, [Some("a".into()), Some("a".into()), None, Some("b".into())], "not ready: no hint");
    }

    #[test]
    fn a_zone_over_its_share_gives_endpoints_to_a_zone_under_it() {
        // Zone a has two thirds of the CPU but one of three endpoints: one of b's serves a.
        let eps = [Some(Some("a")), Some(Some("b")), Some(Some("b"))];
        let got = hints(&eps, &ratios(&[("a", 2.0 / 3.0), ("b", 1.0 / 3.0)])).unwrap();
        assert_eq!(got, [Some("a".into()), Some("a".into()), Some("b".into())]);
        // Three equal zones, 3/1/2 endpoints: a gives one to b.
        let eps: Vec<_> = ["a", "a", "a", "b", "c", "c"].iter().map(|z| Some(Some(*z))).collect();
        let third = 1.0 / 3.0;
        let got = hints(&eps, &ratios(&[("a", third), ("b", third), ("c", third)])).unwrap();
        let count = |z: &str| got.iter().filter(|h| h.as_deref() == Some(z)).count();
        assert_eq!((count("a"), count("b"), count("c")), (2, 2, 2), "{got:?}");
    }

    #[test]
    fn too_few_endpoints_or_one_without_a_zone_disables_hints() {
        let two_thirds = ratios(&[("a", 2.0 / 3.0), ("b", 1.0 / 3.0)]);
        assert_eq!(
            hints(&[Some(Some("a"))], &two_thirds).unwrap_err(),
            "Insufficient number of endpoints (1 endpoints, 2 zones)"
        );
        // Two endpoints: zone a needs ceil(1.33 / 1.2) = 2 and b 1, more than there are.
        let err = hints(&[Some(Some("a")), Some(Some("b"))], &two_thirds).unwrap_err();
        assert_eq!(
            err,
            "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold (2 endpoints, 2 zones)"
        );
        let eps = [Some(Some("a")), Some(None), Some(Some("b")), Some(Some("a")), Some(Some("a")), Some(Some("b"))];
        assert_eq!(hints(&eps, &two_thirds).unwrap_err(), NO_ZONE_SPECIFIED);
    }
}

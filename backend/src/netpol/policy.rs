//! NetworkPolicies' ingress rules compiled into a table the network asks per connection: for
//! each pod a policy selects (isolated for ingress), the sources and ports its policies allow,
//! with selectors resolved to pod addresses and named ports to numbers. Pure.

use crate::addr::Protocol;
use crate::network::Filter;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use svclab_shared::selector::Selector;

/// The label kube-apiserver puts on every namespace, naming it.
const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

/// What may reach each isolated pod.
#[derive(Debug, Default)]
pub struct PolicyTable {
    isolated: HashMap<Ipv4Addr, Vec<Rule>>,
}

/// One ingress rule: from whom (`None`: anyone) and to which ports (`None`: any).
#[derive(Debug)]
struct Rule {
    from: Option<Vec<Peer>>,
    ports: Option<Vec<Ports>>,
}

#[derive(Debug)]
enum Peer {
    Pods(HashSet<Ipv4Addr>),
    Block { cidr: (u32, u32), except: Vec<(u32, u32)> },
}

#[derive(Debug)]
struct Ports {
    protocol: Protocol,
    /// `None`: every port of the protocol.
    range: Option<(u16, u16)>,
}

/// A pod as policies see it.
struct Member<'a> {
    ip: Ipv4Addr,
    namespace: &'a str,
    labels: BTreeMap<String, String>,
    pod: &'a Pod,
}

impl PolicyTable {
    /// Compiles `policies` over the running pods and the namespaces.
    pub fn compile(policies: &[NetworkPolicy], pods: &[Pod], namespaces: &[Namespace]) -> Self {
        let members: Vec<Member> = pods
            .iter()
            .filter(|p| !svclab_shared::pod::is_finished(p))
            .filter_map(|pod| {
                let ip = pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()?;
                let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
                Some(Member { ip, namespace, labels: pod.metadata.labels.clone().unwrap_or_default(), pod })
            })
            .collect();
        let namespace_labels: HashMap<&str, BTreeMap<String, String>> = namespaces
            .iter()
            .filter_map(|ns| {
                let name = ns.metadata.name.as_deref()?;
                let mut labels = ns.metadata.labels.clone().unwrap_or_default();
                labels.entry(NAMESPACE_NAME.into()).or_insert_with(|| name.into());
                Some((name, labels))
            })
            .collect();
        let mut table = PolicyTable::default();
        for policy in policies {
            let (Some(spec), Some(selector)) = (&policy.spec, svclab_shared::netpol::ingress_selector(policy)) else {
                continue;
            };
            let namespace = policy.metadata.namespace.as_deref().unwrap_or("default");
            for target in members.iter().filter(|m| m.namespace == namespace && selector.matches(&m.labels)) {
                let rules = table.isolated.entry(target.ip).or_default();
                for rule in spec.ingress.iter().flatten() {
                    let from = rule.from.as_ref().filter(|f| !f.is_empty()).map(|peers| {
                        peers.iter().filter_map(|p| peer(p, namespace, &members, &namespace_labels)).collect()
                    });
                    let ports = rule
                        .ports
                        .as_ref()
                        .filter(|p| !p.is_empty())
                        .map(|ports| ports.iter().filter_map(|p| port_range(p, target.pod)).collect());
                    rules.push(Rule { from, ports });
                }
            }
        }
        table
    }
}

/// A peer's pods or addresses, as seen from a policy in `namespace`.
fn peer(
    peer: &NetworkPolicyPeer,
    namespace: &str,
    members: &[Member],
    namespace_labels: &HashMap<&str, BTreeMap<String, String>>,
) -> Option<Peer> {
    if let Some(block) = &peer.ip_block {
        let except = block.except.iter().flatten().filter_map(|c| cidr(c)).collect();
        return Some(Peer::Block { cidr: cidr(&block.cidr)?, except });
    }
    let pods = peer.pod_selector.as_ref().map(Selector::from_label_selector).transpose().ok()?;
    let namespaces = peer.namespace_selector.as_ref().map(Selector::from_label_selector).transpose().ok()?;
    let in_namespace = |m: &Member| match &namespaces {
        None => m.namespace == namespace,
        Some(selector) => namespace_labels.get(m.namespace).is_some_and(|labels| selector.matches(labels)),
    };
    let ips = members
        .iter()
        .filter(|m| in_namespace(m) && pods.as_ref().is_none_or(|s| s.matches(&m.labels)))
        .map(|m| m.ip)
        .collect();
    Some(Peer::Pods(ips))
}

/// A rule's port, a named one resolved on the pod it protects (no such port: none).
fn port_range(port: &NetworkPolicyPort, pod: &Pod) -> Option<Ports> {
    let protocol = Protocol::parse(port.protocol.as_deref())?;
    let first = match &port.port {
        None => return Some(Ports { protocol, range: None }),
        Some(IntOrString::Int(n)) => u16::try_from(*n).ok()?,
        Some(IntOrString::String(name)) => {
            let containers = pod.spec.iter().flat_map(|s| &s.containers);
            let declared = containers.flat_map(|c| c.ports.iter().flatten());
            let found = declared.into_iter().find(|p| {
                p.name.as_deref() == Some(name) && Protocol::parse(p.protocol.as_deref()) == Some(protocol)
            })?;
            u16::try_from(found.container_port).ok()?
        }
    };
    let last = port.end_port.and_then(|e| u16::try_from(e).ok()).unwrap_or(first).max(first);
    Some(Ports { protocol, range: Some((first, last)) })
}

/// `a.b.c.d/n` as (network, mask); IPv6 blocks match nothing here.
fn cidr(text: &str) -> Option<(u32, u32)> {
    let (ip, prefix) = text.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    Some((u32::from(ip) & mask, mask))
}

fn in_block((network, mask): (u32, u32), ip: Ipv4Addr) -> bool {
    u32::from(ip) & mask == network
}

impl Rule {
    fn allows(&self, from: Ipv4Addr, port: u16, protocol: Protocol) -> bool {
        let source = self.from.as_ref().is_none_or(|peers| {
            peers.iter().any(|p| match p {
                Peer::Pods(ips) => ips.contains(&from),
                Peer::Block { cidr, except } => in_block(*cidr, from) && !except.iter().any(|e| in_block(*e, from)),
            })
        });
        let to = self.ports.as_ref().is_none_or(|ports| {
            ports.iter().any(|p| p.protocol == protocol && p.range.is_none_or(|(a, b)| (a..=b).contains(&port)))
        });
        source && to
    }
}

impl Filter for PolicyTable {
    /// A pod no policy selects takes anything; a selected one what one of its rules allows. A
    /// pod always reaches itself.
    fn allows(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> bool {
        match self.isolated.get(to.ip()) {
            None => true,
            Some(rules) => from == *to.ip() || rules.iter().any(|r| r.allows(from, to.port(), protocol)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ns: &str, ip: &str, labels: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip}}))
        .unwrap()
    }

    fn policy(ns: &str, spec: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": ns}, "spec": spec})).unwrap()
    }

    fn ns(name: &str, labels: serde_json::Value) -> Namespace {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    const WEB: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 2);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 244, 2, 2);
    const OTHER: Ipv4Addr = Ipv4Addr::new(10, 244, 3, 2);
    const MONITOR: Ipv4Addr = Ipv4Addr::new(10, 244, 3, 3);

    fn table(policies: &[NetworkPolicy]) -> PolicyTable {
        let pods = [
            pod("web", "default", "10.244.1.2", json!({"app": "web"})),
            pod("client", "default", "10.244.2.2", json!({"role": "client"})),
            pod("other", "default", "10.244.3.2", json!({})),
            pod("monitor", "ops", "10.244.3.3", json!({"app": "prometheus"})),
        ];
        PolicyTable::compile(policies, &pods, &[ns("default", json!({})), ns("ops", json!({"team": "ops"}))])
    }

    fn allows(t: &PolicyTable, from: Ipv4Addr, port: u16) -> bool {
        t.allows(from, SocketAddrV4::new(WEB, port), Protocol::Tcp)
    }

    #[test]
    fn a_pod_no_policy_selects_takes_anything_and_an_empty_ingress_denies_all() {
        assert!(allows(&table(&[]), OTHER, 8080));
        let deny = table(&[policy("default", json!({"podSelector": {}}))]);
        assert!(!allows(&deny, CLIENT, 8080));
        assert!(!allows(&deny, Ipv4Addr::new(127, 0, 1, 1), 8080), "a node too");
        assert!(allows(&deny, WEB, 8080), "a pod reaches itself");
        let egress_only = table(&[policy("default", json!({"podSelector": {}, "policyTypes": ["Egress"]}))]);
        assert!(allows(&egress_only, CLIENT, 8080));
    }

    #[test]
    fn rules_allow_by_pod_namespace_address_and_port() {
        let t = table(&[policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [{"port": "http"}]},
                {"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]},
                {"from": [{"ipBlock": {"cidr": "127.0.0.0/8", "except": ["127.0.0.1/32"]}}], "ports": [{"port": 8000, "endPort": 8100}]}]}),
        )]);
        assert!(allows(&t, CLIENT, 8080));
        assert!(!allows(&t, CLIENT, 9090), "only the named port");
        assert!(!allows(&t, OTHER, 8080));
        assert!(allows(&t, MONITOR, 9090), "any port from the ops namespace");
        assert!(allows(&t, Ipv4Addr::new(127, 0, 1, 2), 8080));
        assert!(!allows(&t, Ipv4Addr::LOCALHOST, 8080), "excepted");
        assert!(!t.allows(CLIENT, SocketAddrV4::new(WEB, 8080), Protocol::Udp), "TCP by default");
        assert!(t.allows(CLIENT, SocketAddrV4::new(OTHER, 1), Protocol::Tcp), "other is not selected");
    }
}

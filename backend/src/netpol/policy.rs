//! NetworkPolicies compiled into a table the network asks per connection: for each pod a policy
//! isolates for ingress, the sources and ports its policies let in; for each pod one isolates
//! for egress, the destinations and ports they let out; selectors resolved to pod addresses,
//! named ports to the destination pod's numbers. The cluster DNS server counts as CoreDNS's pod
//! (in `kube-system`, labelled `k8s-app: kube-dns`, serving port 53), so a policy that lets a
//! pod reach DNS is written as for a real cluster; the ingress controller's connections come
//! from ingress-nginx's controller pod (namespace `ingress-nginx`, its chart's labels). Pure.

use crate::addr::{Cidr, Protocol};
use crate::network::Filter;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use svclab_shared::selector::Selector;

/// The label kube-apiserver puts on every namespace, naming it.
const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";
/// The namespace and labels of ingress-nginx's controller pod, which the ingress controller's
/// connections come from.
const INGRESS_NAMESPACE: &str = "ingress-nginx";
const INSTANCE: (&str, &str) = ("app.kubernetes.io/instance", "ingress-nginx");
const NAME: (&str, &str) = ("app.kubernetes.io/name", "ingress-nginx");
const INGRESS_LABELS: [(&str, &str); 4] =
    [("app.kubernetes.io/component", "controller"), INSTANCE, NAME, ("app.kubernetes.io/part-of", "ingress-nginx")];
/// The port CoreDNS's pods serve on, whatever the host port of svclab's DNS server.
const DNS_PORT: u16 = 53;

/// What may reach each pod isolated for ingress, and where each one isolated for egress may go.
#[derive(Debug, Default)]
pub struct PolicyTable {
    ingress: HashMap<Ipv4Addr, Vec<Rule>>,
    egress: HashMap<Ipv4Addr, Vec<Rule>>,
    /// Each pod's named container ports (name, protocol, number): a rule's named port is the
    /// destination's.
    named: HashMap<Ipv4Addr, Vec<(String, Protocol, u16)>>,
    /// The cluster DNS server's real address, seen by policies as CoreDNS's pod on port 53.
    dns: Option<SocketAddrV4>,
}

/// One rule: with whom (the sources of an ingress rule, the destinations of an egress one;
/// `None`: anyone) and on which of the destination's ports (`None`: any).
#[derive(Debug)]
struct Rule {
    peers: Option<Vec<Peer>>,
    ports: Option<Vec<Ports>>,
}

#[derive(Debug)]
enum Peer {
    Pods(HashSet<Ipv4Addr>),
    Block { cidr: Cidr, except: Vec<Cidr> },
}

#[derive(Debug)]
struct Ports {
    protocol: Protocol,
    range: Range,
}

#[derive(Debug)]
enum Range {
    /// Every port of the protocol.
    Any,
    Numbers(u16, u16),
    /// A port the destination pod names.
    Named(String),
}

/// A pod as policies see it.
struct Member {
    ip: Ipv4Addr,
    namespace: String,
    labels: BTreeMap<String, String>,
}

impl PolicyTable {
    /// Compiles `policies` over the running pods and the namespaces; `dns` is the cluster DNS
    /// server's real address (the `kube-dns` Endpoints'), `ingress` the ingress controller's
    /// pod address.
    pub fn compile(
        policies: &[NetworkPolicy],
        pods: &[Pod],
        namespaces: &[Namespace],
        dns: Option<SocketAddrV4>,
        ingress: Option<Ipv4Addr>,
    ) -> Self {
        let mut table = PolicyTable { dns, ..Default::default() };
        let mut members: Vec<Member> = Vec::new();
        for pod in pods.iter().filter(|p| !svclab_shared::pod::is_finished(p)) {
            let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()?.parse().ok()) else { continue };
            let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            members.push(Member { ip, namespace, labels: pod.metadata.labels.clone().unwrap_or_default() });
            table.named.insert(ip, named_ports(pod));
        }
        let targets = members.len();
        if let Some(dns) = dns {
            let labels = BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]);
            members.push(Member { ip: *dns.ip(), namespace: "kube-system".into(), labels });
            let ports = vec![("dns".into(), Protocol::Udp, DNS_PORT), ("dns-tcp".into(), Protocol::Tcp, DNS_PORT)];
            table.named.insert(*dns.ip(), ports);
        }
        if let Some(ip) = ingress {
            let labels = INGRESS_LABELS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            members.push(Member { ip, namespace: INGRESS_NAMESPACE.into(), labels });
        }
        let mut namespace_labels: HashMap<&str, BTreeMap<String, String>> = namespaces
            .iter()
            .filter_map(|ns| {
                let name = ns.metadata.name.as_deref()?;
                let mut labels = ns.metadata.labels.clone().unwrap_or_default();
                labels.entry(NAMESPACE_NAME.into()).or_insert_with(|| name.into());
                Some((name, labels))
            })
            .collect();
        // The controller's namespace, as ingress-nginx's manifests make it.
        namespace_labels.entry(INGRESS_NAMESPACE).or_insert_with(|| {
            let labels = [(NAMESPACE_NAME, INGRESS_NAMESPACE), INSTANCE, NAME];
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        });
        for policy in policies {
            let Some(spec) = &policy.spec else { continue };
            let namespace = policy.metadata.namespace.as_deref().unwrap_or("default");
            let rule = |peers: Option<&Vec<NetworkPolicyPeer>>, ports: Option<&Vec<NetworkPolicyPort>>| Rule {
                peers: peers.filter(|p| !p.is_empty()).map(|peers| {
                    peers.iter().filter_map(|p| peer(p, namespace, &members, &namespace_labels)).collect()
                }),
                ports: ports.filter(|p| !p.is_empty()).map(|ports| ports.iter().filter_map(port_range).collect()),
            };
            let selected = |selector: &Selector| {
                members[..targets]
                    .iter()
                    .filter(|m| m.namespace == namespace && selector.matches(&m.labels))
                    .map(|m| m.ip)
                    .collect::<Vec<_>>()
            };
            if let Some(selector) = svclab_shared::netpol::ingress_selector(policy) {
                for ip in selected(&selector) {
                    let rules = table.ingress.entry(ip).or_default();
                    rules.extend(spec.ingress.iter().flatten().map(|r| rule(r.from.as_ref(), r.ports.as_ref())));
                }
            }
            if let Some(selector) = svclab_shared::netpol::egress_selector(policy) {
                for ip in selected(&selector) {
                    let rules = table.egress.entry(ip).or_default();
                    rules.extend(spec.egress.iter().flatten().map(|r| rule(r.to.as_ref(), r.ports.as_ref())));
                }
            }
        }
        table
    }

    /// Where a connection to `to` goes, as policies see it: the DNS server is CoreDNS's pod.
    fn seen(&self, to: SocketAddrV4) -> SocketAddrV4 {
        match self.dns {
            Some(dns) if dns == to => SocketAddrV4::new(*dns.ip(), DNS_PORT),
            _ => to,
        }
    }
}

/// A pod's named container ports.
fn named_ports(pod: &Pod) -> Vec<(String, Protocol, u16)> {
    let containers = pod.spec.iter().flat_map(|s| &s.containers);
    let declared = containers.flat_map(|c| c.ports.iter().flatten());
    declared
        .filter_map(|p| {
            let protocol = Protocol::parse(p.protocol.as_deref())?;
            Some((p.name.clone()?, protocol, u16::try_from(p.container_port).ok()?))
        })
        .collect()
}

/// A peer's pods or addresses, as seen from a policy in `namespace`.
fn peer(
    peer: &NetworkPolicyPeer,
    namespace: &str,
    members: &[Member],
    namespace_labels: &HashMap<&str, BTreeMap<String, String>>,
) -> Option<Peer> {
    if let Some(block) = &peer.ip_block {
        let except = block.except.iter().flatten().filter_map(|c| Cidr::parse(c)).collect();
        return Some(Peer::Block { cidr: Cidr::parse(&block.cidr)?, except });
    }
    let pods = peer.pod_selector.as_ref().map(Selector::from_label_selector).transpose().ok()?;
    let namespaces = peer.namespace_selector.as_ref().map(Selector::from_label_selector).transpose().ok()?;
    let in_namespace = |m: &Member| match &namespaces {
        None => m.namespace == namespace,
        Some(selector) => namespace_labels.get(m.namespace.as_str()).is_some_and(|labels| selector.matches(labels)),
    };
    let ips = members
        .iter()
        .filter(|m| in_namespace(m) && pods.as_ref().is_none_or(|s| s.matches(&m.labels)))
        .map(|m| m.ip)
        .collect();
    Some(Peer::Pods(ips))
}

/// A rule's port: a number or range, a name (the destination's), or every port.
fn port_range(port: &NetworkPolicyPort) -> Option<Ports> {
    let protocol = Protocol::parse(port.protocol.as_deref())?;
    let range = match &port.port {
        None => Range::Any,
        Some(IntOrString::Int(n)) => {
            let first = u16::try_from(*n).ok()?;
            Range::Numbers(first, port.end_port.and_then(|e| u16::try_from(e).ok()).unwrap_or(first).max(first))
        }
        Some(IntOrString::String(name)) => Range::Named(name.clone()),
    };
    Some(Ports { protocol, range })
}

impl Rule {
    /// Whether the rule lets traffic between `peer` and `dest` through (`dest` is where the
    /// connection goes: its port, a named one resolved with `named`, is the rule's port).
    fn allows(
        &self,
        peer: Ipv4Addr,
        dest: SocketAddrV4,
        protocol: Protocol,
        named: &HashMap<Ipv4Addr, Vec<(String, Protocol, u16)>>,
    ) -> bool {
        let with = self.peers.as_ref().is_none_or(|peers| {
            peers.iter().any(|p| match p {
                Peer::Pods(ips) => ips.contains(&peer),
                Peer::Block { cidr, except } => cidr.contains(peer) && !except.iter().any(|e| e.contains(peer)),
            })
        });
        let on = self.ports.as_ref().is_none_or(|ports| {
            ports.iter().filter(|p| p.protocol == protocol).any(|p| match &p.range {
                Range::Any => true,
                Range::Numbers(a, b) => (*a..=*b).contains(&dest.port()),
                Range::Named(name) => named.get(dest.ip()).is_some_and(|ports| {
                    ports.iter().any(|(n, pr, num)| n == name && *pr == protocol && *num == dest.port())
                }),
            })
        });
        with && on
    }
}

impl Filter for PolicyTable {
    /// Traffic goes through when the destination, if isolated for ingress, lets it in, and the
    /// source, if isolated for egress, lets it out. A pod always reaches itself.
    fn allows(&self, from: Ipv4Addr, to: SocketAddrV4, protocol: Protocol) -> bool {
        if from == *to.ip() {
            return true;
        }
        let dest = self.seen(to);
        let inbound = self
            .ingress
            .get(to.ip())
            .is_none_or(|rules| rules.iter().any(|r| r.allows(from, dest, protocol, &self.named)));
        let outbound = self
            .egress
            .get(&from)
            .is_none_or(|rules| rules.iter().any(|r| r.allows(*dest.ip(), dest, protocol, &self.named)));
        inbound && outbound
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
    const DNS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5353);
    const INGRESS: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 254);

    fn table(policies: &[NetworkPolicy]) -> PolicyTable {
        let pods = [
            pod("web", "default", "10.244.1.2", json!({"app": "web"})),
            pod("client", "default", "10.244.2.2", json!({"role": "client"})),
            pod("other", "default", "10.244.3.2", json!({})),
            pod("monitor", "ops", "10.244.3.3", json!({"app": "prometheus"})),
        ];
        let namespaces = [ns("default", json!({})), ns("ops", json!({"team": "ops"})), ns("kube-system", json!({}))];
        PolicyTable::compile(policies, &pods, &namespaces, Some(DNS), Some(INGRESS))
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
        assert!(!allows(&egress_only, CLIENT, 8080), "the client may not send");
        assert!(allows(&egress_only, MONITOR, 8080), "a pod of another namespace may");
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

    #[test]
    fn egress_rules_allow_by_destination_and_see_dns_as_corednss_pod() {
        let t = table(&[policy(
            "default",
            json!({"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"], "egress": [
                {"to": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "http", "protocol": "TCP"}]},
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"port": 53, "protocol": "UDP"}]}]}),
        )]);
        let out = |to: SocketAddrV4, protocol| t.allows(CLIENT, to, protocol);
        assert!(out(SocketAddrV4::new(WEB, 8080), Protocol::Tcp), "web's named port");
        assert!(!out(SocketAddrV4::new(WEB, 9090), Protocol::Tcp));
        assert!(!out(SocketAddrV4::new(OTHER, 8080), Protocol::Tcp), "not web");
        assert!(out(DNS, Protocol::Udp), "DNS is CoreDNS's pod on port 53");
        assert!(!out(DNS, Protocol::Tcp), "only UDP was let out");
        assert!(!out(SocketAddrV4::new(Ipv4Addr::new(127, 0, 1, 1), 30000), Protocol::Tcp), "a node");
        assert!(t.allows(OTHER, SocketAddrV4::new(WEB, 9090), Protocol::Tcp), "other pods are not isolated");
        let deny_all = table(&[policy("default", json!({"podSelector": {}, "policyTypes": ["Egress"]}))]);
        assert!(!deny_all.allows(CLIENT, DNS, Protocol::Udp), "no DNS either, as in a real cluster");
    }

    #[test]
    fn the_ingress_controller_is_ingress_nginxs_pod() {
        let t = table(&[policy(
            "default",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                           "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}]}]}),
        )]);
        assert!(allows(&t, INGRESS, 8080));
        assert!(!allows(&t, CLIENT, 8080));
    }
}

//! The service doctor: the chapter's troubleshooting checklist for a service that does not
//! answer (section 5.7), run over the service's objects and what the network knows of its pods,
//! each finding explained and linked to the objects it is about.

mod policies;
mod routes;
mod selectorless;
mod stand_in;
mod topology;

pub use routes::{RouteEvidence, diagnose_route};
pub use topology::TopologyEvidence;

use crate::pod::is_ready;
use crate::ports::resolve_target_port;
use crate::selector::Selector;
use crate::service::{Facts, ServiceType};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Explains how this kind of service works (and what not to expect of it).
    Info,
    /// A check that passed.
    Ok,
    Warning,
    /// A reason the service does not answer (or not from every pod).
    Error,
}

/// An object a finding is about, for the dashboard to link to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLink {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One result of the checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// Which check: `type`, `selector`, `endpoints`, `readiness`, `target-port`, `listening`, `clients`.
    pub check: String,
    pub title: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectLink>,
}

/// The answer to `GET /lab/v1/namespaces/{ns}/services/{name}/diagnosis`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// `namespace/name`.
    pub service: String,
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// The worst severity among the findings.
    pub fn worst(&self) -> Severity {
        self.findings.iter().map(|f| f.severity).max().unwrap_or(Severity::Ok)
    }
}

/// What the checklist looks at, gathered by the backend.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    pub service: Service,
    pub endpoints: Option<Endpoints>,
    /// There is no Endpoints object: `endpoints` are those the user's EndpointSlices stand for.
    pub sliced: bool,
    /// What its EndpointSlices and events say of its topology hints.
    pub topology: TopologyEvidence,
    /// Pods of every namespace (a near miss may be a pod in the wrong one).
    pub pods: Vec<Pod>,
    /// For each pod (`namespace/name`), the ports something in it listens on at the pod's IP,
    /// as `(port, protocol)`.
    pub listening: BTreeMap<String, Vec<(i32, String)>>,
    /// For each pod, the ports something listens on at the pod's 127.0.0.1 only.
    pub loopback: BTreeMap<String, Vec<(i32, String)>>,
    /// For each pod (`namespace/name`), the last readiness probe failure the kubelet reported.
    pub probe_failures: BTreeMap<String, String>,
    /// The HTTPRoutes of every namespace (those that send to the service are about it).
    pub routes: Vec<crate::gateway::HttpRoute>,
    /// The NetworkPolicies of the service's namespace.
    pub policies: Vec<k8s_openapi::api::networking::v1::NetworkPolicy>,
}

fn link(kind: &str, namespace: &str, name: &str) -> ObjectLink {
    ObjectLink { kind: kind.into(), namespace: namespace.into(), name: name.into() }
}

fn pod_link(pod: &Pod) -> ObjectLink {
    link("Pod", pod.metadata.namespace.as_deref().unwrap_or_default(), pod.metadata.name.as_deref().unwrap_or_default())
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

fn finding(severity: Severity, check: &str, title: String, detail: String, objects: Vec<ObjectLink>) -> Finding {
    Finding { severity, check: check.into(), title, detail, objects }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "no labels".into();
    }
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The service the checklist is about, read once.
struct Subject<'a> {
    evidence: &'a Evidence,
    ns: String,
    name: String,
    spec: ServiceSpec,
    ports: Vec<ServicePort>,
}

impl Subject<'_> {
    fn endpoints_link(&self) -> Vec<ObjectLink> {
        vec![link("Endpoints", &self.ns, &self.name)]
    }
}

/// Runs the checklist: what kind of service it is, its selector, the pods' readiness, the
/// Endpoints, then each port.
pub fn diagnose(evidence: &Evidence) -> Diagnosis {
    let svc = &evidence.service;
    let spec = svc.spec.clone().unwrap_or_default();
    let s = Subject {
        evidence,
        ns: svc.metadata.namespace.clone().unwrap_or_default(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        ports: spec.ports.clone().unwrap_or_default(),
        spec,
    };
    let mut findings = findings(&s);
    findings.extend(routes::routes_to(&s.ns, &s.name, &s.ports, &evidence.routes));
    Diagnosis { service: format!("{}/{}", s.ns, s.name), findings }
}

fn findings(s: &Subject) -> Vec<Finding> {
    let facts = Facts::of(&s.evidence.service);
    if facts.type_ == ServiceType::ExternalName {
        return vec![external_name(s)];
    }
    let mut findings = vec![addressing(s, &facts)];
    let Some(selector) = s.spec.selector.clone().filter(|sel| !sel.is_empty()) else {
        findings.push(selectorless::selectorless(s));
        return findings;
    };
    let wanted = Selector::from_map(&selector);
    let selector_text = labels_text(&selector);
    let live = |p: &&Pod| p.metadata.deletion_timestamp.is_none();
    let matching: Vec<&Pod> = (s.evidence.pods.iter().filter(live))
        .filter(|p| p.metadata.namespace.as_deref() == Some(s.ns.as_str()))
        .filter(|p| wanted.matches_opt(p.metadata.labels.as_ref()))
        .collect();
    if matching.is_empty() {
        findings.push(no_match(s.evidence, &s.ns, &selector, &selector_text));
        return findings;
    }
    findings.push(finding(
        Severity::Ok,
        "selector",
        format!("{} pod{} match the selector {selector_text}", matching.len(), plural(matching.len())),
        format!("The endpoints controller considers {}.", names(&matching)),
        matching.iter().map(|p| pod_link(p)).collect(),
    ));
    let publish_all = facts.publishes_unready;
    let (ready, unready): (Vec<&Pod>, Vec<&Pod>) = matching.iter().copied().partition(|p| is_ready(p));
    findings.extend(readiness(s, &ready, &unready, publish_all));
    findings.extend(stand_in::stand_in(&matching));
    let serving: Vec<&Pod> = if publish_all { matching.clone() } else { ready.clone() };
    findings.push(endpoints(s, &serving));
    findings.extend(topology::topology(&s.evidence.service, &s.evidence.topology));
    findings.extend(policies::policies(&s.evidence.policies, &matching));
    // Ports: each service port must reach something listening in every serving pod.
    for port in &s.ports {
        findings.extend(check_port(s.evidence, port, &serving));
    }
    findings
}

fn external_name(s: &Subject) -> Finding {
    let (ns, svc_name) = (&s.ns, &s.name);
    let target = s.spec.external_name.clone().unwrap_or_default();
    finding(
        Severity::Info,
        "type",
        "ExternalName: nothing is proxied".into(),
        format!(
            "{svc_name} has no cluster IP, no endpoints and no proxy rules. The cluster DNS answers \
             {svc_name}.{ns}.svc.cluster.local with a CNAME to {target}, and clients connect to {target} \
             themselves, on whatever port they choose; the service's ports are not used."
        ),
        vec![],
    )
}

/// How clients reach it: a headless service's pods directly, or a virtual IP.
fn addressing(s: &Subject, facts: &Facts) -> Finding {
    let (ns, svc_name, ports) = (&s.ns, &s.name, &s.ports);
    if facts.headless {
        let pairs: Vec<String> = ports.iter().map(|p| format!("{} → {}", p.port, target_text(p))).collect();
        return finding(
            Severity::Info,
            "type",
            "Headless: no virtual IP, nothing proxied".into(),
            format!(
                "clusterIP: None. The cluster DNS answers {svc_name}.{ns}.svc.cluster.local with one A record \
                 per ready pod, and a client connects straight to a pod, on the pod's own port (the targetPort), \
                 not the service's port ({}). Nothing balances the connections: the client picks an address.",
                if pairs.is_empty() { "no ports".into() } else { pairs.join(", ") }
            ),
            vec![],
        );
    }
    let ip = s.spec.cluster_ip.clone().unwrap_or_default();
    let outside = match facts.type_ {
        ServiceType::NodePort | ServiceType::LoadBalancer => {
            let node_ports: Vec<String> = ports.iter().filter_map(|p| p.node_port).map(|n| n.to_string()).collect();
            format!(
                "From outside the cluster use a node's address on its node port ({}){}.",
                node_ports.join(", "),
                if facts.type_ == ServiceType::LoadBalancer { " or the load balancer's address" } else { "" }
            )
        }
        _ => "From outside the cluster it is not reachable at all: expose it as a NodePort or \
              LoadBalancer service, or through an Ingress."
            .into(),
    };
    finding(
        Severity::Info,
        "clients",
        format!("{ip} is a virtual IP: reachable from inside the cluster only, and never answers ping"),
        format!(
            "The cluster IP is only a rule in the service proxy: it works with the service's ports from a pod \
             or a node (curl http://{ip}:{} from a pod), and a ping to it gets no reply even when the \
             service works. {outside}",
            ports.first().map_or(80, |p| p.port)
        ),
        vec![],
    )
}

/// Each selected pod that is not ready, and whether any is.
fn readiness(s: &Subject, ready: &[&Pod], unready: &[&Pod], publish_all: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    for pod in unready {
        let status = crate::printers::pod_status(pod);
        let why = s
            .evidence
            .probe_failures
            .get(&key(pod))
            .cloned()
            .unwrap_or_else(|| format!("its status is {status} and its Ready condition is not True"));
        let consequence = if publish_all {
            "The service publishes not-ready addresses, so it gets traffic all the same."
        } else {
            "It is listed under notReadyAddresses and gets no traffic until its readiness probe succeeds."
        };
        findings.push(finding(
            if publish_all { Severity::Info } else { Severity::Warning },
            "readiness",
            format!("{} is not ready", name(pod)),
            format!("{why}. {consequence}"),
            vec![pod_link(pod)],
        ));
    }
    if ready.is_empty() && !publish_all {
        findings.push(finding(
            Severity::Error,
            "readiness",
            "No matching pod is ready: connections are refused".into(),
            format!(
                "All {} matching pod{} fail their readiness checks, so the Endpoints object has no ready \
                 address and the proxy refuses connections to {}. Fix the probe or what it checks.",
                unready.len(),
                plural(unready.len()),
                s.name
            ),
            unready.iter().map(|p| pod_link(p)).collect(),
        ));
    } else if unready.is_empty() {
        findings.push(finding(
            Severity::Ok,
            "readiness",
            format!("All {} matching pod{} are ready", ready.len(), plural(ready.len())),
            "Each one is an endpoint address and receives traffic.".into(),
            vec![],
        ));
    }
    findings
}

/// The Endpoints as the controller wrote them, against the pods that could serve.
fn endpoints(s: &Subject, serving: &[&Pod]) -> Finding {
    let svc_name = &s.name;
    let (ready_addresses, unready_addresses) = count_addresses(s.evidence.endpoints.as_ref());
    match &s.evidence.endpoints {
        None => finding(
            Severity::Error,
            "endpoints",
            format!("No Endpoints object named {svc_name}"),
            "The endpoints controller has not written one yet; the proxy has nowhere to send traffic.".into(),
            vec![],
        ),
        Some(_) if ready_addresses == 0 && !serving.is_empty() => finding(
            Severity::Error,
            "endpoints",
            format!("The Endpoints object {svc_name} lists no ready address"),
            format!(
                "{} pod{} could serve, but none is an endpoint: see the port findings below (a targetPort \
                 name a pod does not define leaves it out).",
                serving.len(),
                plural(serving.len())
            ),
            s.endpoints_link(),
        ),
        Some(_) => finding(
            if ready_addresses == 0 { Severity::Error } else { Severity::Ok },
            "endpoints",
            format!(
                "The Endpoints object {svc_name} lists {ready_addresses} ready and {unready_addresses} not-ready address{}",
                if ready_addresses + unready_addresses == 1 { "" } else { "es" }
            ),
            "The proxy balances new connections over the ready ones only.".into(),
            s.endpoints_link(),
        ),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn names(pods: &[&Pod]) -> String {
    pods.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")
}

fn target_text(port: &ServicePort) -> String {
    match &port.target_port {
        None => port.port.to_string(),
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
    }
}

fn count_addresses(endpoints: Option<&Endpoints>) -> (usize, usize) {
    let subsets = endpoints.and_then(|e| e.subsets.as_ref()).into_iter().flatten();
    subsets.fold((0, 0), |(r, u), s| {
        (r + s.addresses.as_ref().map_or(0, Vec::len), u + s.not_ready_addresses.as_ref().map_or(0, Vec::len))
    })
}

/// No pod matches: show the pods that nearly do, and pods that match in other namespaces.
fn no_match(evidence: &Evidence, ns: &str, selector: &BTreeMap<String, String>, selector_text: &str) -> Finding {
    let mut near = Vec::new();
    let mut objects = Vec::new();
    let mut elsewhere = Vec::new();
    for pod in evidence.pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let pod_ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        if pod_ns != ns {
            if Selector::from_map(selector).matches(&labels) {
                elsewhere.push(format!("{pod_ns}/{}", name(pod)));
                objects.push(pod_link(pod));
            }
            continue;
        }
        // A near miss has every selector label, or one very like it (a typo, a suffix, the value
        // under a similar key).
        let near_label = |(k, v): (&String, &String)| {
            labels.iter().any(|(lk, lv)| (lk == k && close(lv, v)) || (lv == v && close(lk, k)))
        };
        if !selector.iter().all(near_label) {
            continue;
        }
        let misses: Vec<String> = selector
            .iter()
            .filter(|(k, v)| labels.get(*k) != Some(v))
            .map(|(k, v)| match labels.get(k) {
                Some(has) => format!("{k}={has} (the selector wants {k}={v})"),
                None => format!("no {k} label (the selector wants {k}={v})"),
            })
            .collect();
        near.push(format!("{} has {}", name(pod), misses.join(", ")));
        objects.push(pod_link(pod));
    }
    let mut detail = format!(
        "The endpoints controller finds no pod in {ns} labelled {selector_text}, so the service has no \
         endpoints and connections to it are refused."
    );
    if !near.is_empty() {
        detail.push_str(&format!(" Near misses: {}.", near.join("; ")));
    }
    if !elsewhere.is_empty() {
        detail.push_str(&format!(
            " Pods with these labels run in other namespaces ({}), but a service selects pods of its own \
             namespace only.",
            elsewhere.join(", ")
        ));
    }
    if near.is_empty() && elsewhere.is_empty() {
        detail.push_str(" No pod carries any of these labels: check the pod template's labels against the selector.");
    }
    finding(Severity::Error, "selector", format!("No pod matches the selector {selector_text}"), detail, objects)
}

/// Whether `found` looks like a slip for `wanted`: equal, one an extension of the other
/// (`kubia-v2` for `kubia`), or a few typing mistakes apart (`kubai`, `dco`).
fn close(found: &str, wanted: &str) -> bool {
    let shorter = found.len().min(wanted.len());
    if found == wanted || (shorter >= 3 && (found.starts_with(wanted) || wanted.starts_with(found))) {
        return true;
    }
    typos(found, wanted) <= (wanted.chars().count() / 2).max(1)
}

/// The edit distance between two strings, a swap of neighbours counting as one edit.
fn typos(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Why a pod does not answer on `target`, the service port's target port there: bound to
/// localhost only, or listening elsewhere (or nowhere), given what it listens on.
fn not_listening(
    evidence: &Evidence,
    port: &ServicePort,
    label: &str,
    pod: &Pod,
    target: i32,
    listening: &[(i32, String)],
) -> Finding {
    let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
    let on_loopback =
        evidence.loopback.get(&key(pod)).is_some_and(|l| l.iter().any(|(p, proto)| *p == target && *proto == protocol));
    if on_loopback {
        return finding(
            Severity::Error,
            "listening",
            format!("{} listens on 127.0.0.1:{target} only", name(pod)),
            format!(
                "The app in {} is bound to localhost: `curl localhost:{target}` works inside the pod, but \
                 connections to {ip}:{target}, which is where the service sends them, are refused. Make it \
                 listen on 0.0.0.0 (all addresses).",
                name(pod)
            ),
            vec![pod_link(pod)],
        );
    }
    let mut detail = format!(
        "The service's {label} forwards to {ip}:{target} ({protocol}), but nothing in {} listens on port \
         {target}: connections the proxy sends there are refused.",
        name(pod)
    );
    if target == port.port {
        detail.push_str(&format!(
            " targetPort is {target}, the same as port: it defaults to the service's port ({}) when left out.",
            port.port
        ));
    }
    let open: Vec<String> =
        listening.iter().filter(|(_, proto)| *proto == protocol).map(|(p, _)| p.to_string()).collect();
    match open.as_slice() {
        [] => detail.push_str(&format!(" Nothing in the pod listens on any {protocol} port at its IP.")),
        [only] => detail.push_str(&format!(
            " The container listens on {only}: port is what clients use, targetPort is where the container \
             listens — set targetPort: {only}."
        )),
        many => detail.push_str(&format!(" The container listens on {}.", many.join(", "))),
    }
    finding(
        Severity::Error,
        "listening",
        format!("Nothing listens on {} port {target} in {}", protocol, name(pod)),
        detail,
        vec![pod_link(pod)],
    )
}

/// One service port against the pods that should serve it.
fn check_port(evidence: &Evidence, port: &ServicePort, serving: &[&Pod]) -> Vec<Finding> {
    let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
    let label = match &port.name {
        Some(n) if !n.is_empty() => format!("port {} ({n})", port.port),
        _ => format!("port {}", port.port),
    };
    let mut out = Vec::new();
    let mut fine = Vec::new();
    for pod in serving {
        let Some(target) = resolve_target_port(port, pod) else {
            let wanted = target_text(port);
            out.push(finding(
                Severity::Error,
                "target-port",
                format!("{} defines no container port named {wanted}", name(pod)),
                format!(
                    "The service's {label} forwards to targetPort {wanted}, a name; {} has no {protocol} \
                     container port of that name, so it is left out of the endpoints for this port. Name the \
                     container port {wanted}, or give targetPort as a number.",
                    name(pod)
                ),
                vec![pod_link(pod)],
            ));
            continue;
        };
        let listening = evidence.listening.get(&key(pod)).cloned().unwrap_or_default();
        let listens = |n: i32| listening.iter().any(|(p, proto)| *p == n && *proto == protocol);
        if listens(target) {
            fine.push(*pod);
            continue;
        }
        out.push(not_listening(evidence, port, &label, pod, target, &listening));
    }
    if !fine.is_empty() && out.is_empty() {
        let targets: Vec<String> = fine
            .iter()
            .filter_map(|p| resolve_target_port(port, p))
            .map(|n| n.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        out.push(finding(
            Severity::Ok,
            "listening",
            format!("{label}: every serving pod listens on targetPort {}", target_text(port)),
            format!(
                "{} {} on {protocol} port {} at {} IP.",
                names(&fine),
                if fine.len() == 1 { "listens" } else { "listen" },
                targets.join("/"),
                if fine.len() == 1 { "its" } else { "their" }
            ),
            vec![],
        ));
    }
    out
}

#[cfg(test)]
mod tests;

//! The chapter's sections as steps: what each shows, what it does (the book's commands, run for
//! real), and the checks that say it worked, read live from the cluster and from what the
//! commands printed.

use crate::state::Cluster;
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use std::collections::BTreeSet;
use svclab_shared::doctor::{Diagnosis, Severity};
use svclab_shared::lab::{ApplyOutcome, ApplyResponse, ExecResponse, TestReport};

/// `kubectl apply -f <file>` of one of svclab's examples (`examples/<file>`).
macro_rules! apply {
    ($file:literal) => {
        Action::Apply { file: $file, yaml: include_str!(concat!("../../../../examples/", $file)) }
    };
}

/// `kubectl delete -f <file>` of one of svclab's examples.
macro_rules! delete {
    ($file:literal) => {
        Action::Delete { file: $file, yaml: include_str!(concat!("../../../../examples/", $file)) }
    };
}

/// Every step runs in this namespace.
pub const NAMESPACE: &str = "default";

/// A step of the tour: one section of the chapter.
pub struct Step {
    /// The section, `5.1`.
    pub id: &'static str,
    pub title: &'static str,
    /// What the step shows, in two or three sentences.
    pub shows: &'static str,
    pub actions: &'static [Action],
    pub checks: &'static [Check],
    /// Where to look in the dashboard: (label, URL).
    pub look: &'static [(&'static str, &'static str)],
    /// What resetting the step runs: deletes what it made, or puts back what it changed.
    pub reset: &'static [Action],
}

/// Which pod a command runs in: the `n`th running pod (by name) with label `app=<app>`, among
/// those not ready yet when `unready`.
#[derive(Clone, Copy)]
pub struct InPod {
    pub app: &'static str,
    pub n: usize,
    pub unready: bool,
}

/// Where test requests go.
#[derive(Clone, Copy)]
pub enum Url {
    Fixed(&'static str),
    /// `http://<the first node's address>:<port>/`.
    NodePort(i32),
    /// `http://<the service's load-balancer address>/`.
    LoadBalancer(&'static str),
}

/// One thing a step does, as the book does it.
#[derive(Clone, Copy)]
pub enum Action {
    /// `kubectl apply -f <file>`.
    Apply { file: &'static str, yaml: &'static str },
    /// `kubectl delete -f <file>`.
    Delete { file: &'static str, yaml: &'static str },
    /// `kubectl delete po -l app=<app>`.
    DeletePods { app: &'static str },
    /// `kubectl exec <pod> -- <command>`.
    Exec { pod: InPod, command: &'static [&'static str] },
    /// `curl` `count` times, from a pod (`Some`) or from outside the cluster (`None`).
    Requests { from: Option<InPod>, url: Url, count: u32 },
    /// The service doctor's checklist for a service.
    Doctor { service: &'static str },
}

/// What an action printed.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Applied(ApplyResponse),
    Deleted(Vec<String>),
    Exec {
        pod: String,
        response: ExecResponse,
    },
    Requests(TestReport),
    Doctor(Diagnosis),
    /// The action could not run: why.
    Failed(String),
}

/// What a check sees: the cluster (live) and what each of the step's actions printed last.
pub struct Seen<'a> {
    pub cluster: Cluster,
    pub outputs: &'a [Option<Output>],
}

/// An endpoint address: (IP, pod name).
type Address = (String, String);

/// A check's verdict: passed (with what was seen), or not yet (with what is awaited).
pub type Verdict = Result<String, String>;

pub struct Check {
    pub text: &'static str,
    pub test: fn(&Seen) -> Verdict,
}

impl Seen<'_> {
    fn output(&self, action: usize) -> Option<&Output> {
        self.outputs.get(action).and_then(Option::as_ref)
    }

    fn service(&self, name: &str) -> Option<Service> {
        self.cluster.get::<Service>(NAMESPACE, name)
    }

    /// The service's endpoints: (ready, not ready), each as (IP, pod name), sorted.
    fn endpoints(&self, name: &str) -> (Vec<Address>, Vec<Address>) {
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        let endpoints = self.cluster.get::<Endpoints>(NAMESPACE, name);
        for subset in endpoints.iter().flat_map(|e| e.subsets.iter().flatten()) {
            for (list, out) in [(&subset.addresses, &mut ready), (&subset.not_ready_addresses, &mut not_ready)] {
                for a in list.iter().flatten() {
                    let pod = a.target_ref.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
                    out.push((a.ip.clone(), pod));
                }
            }
        }
        ready.sort();
        not_ready.sort();
        (ready, not_ready)
    }

    /// The answers of a request run: the pods that answered, and how many requests failed.
    fn answered(&self, action: usize) -> Option<(BTreeSet<String>, usize)> {
        match self.output(action)? {
            Output::Requests(report) => {
                let mut pods = BTreeSet::new();
                let mut failed = 0;
                for r in &report.results {
                    match r.body.trim().strip_prefix("You've hit ") {
                        Some(pod) if r.status == Some(200) => {
                            pods.insert(pod.to_string());
                        }
                        _ => failed += 1,
                    }
                }
                Some((pods, failed))
            }
            _ => None,
        }
    }

    fn exec(&self, action: usize) -> Option<(&str, &ExecResponse)> {
        match self.output(action)? {
            Output::Exec { pod, response } => Some((pod, response)),
            _ => None,
        }
    }
}

/// The running pods labelled `app=<app>` in the tour's namespace, by name (only those are
/// decoded).
pub fn running_pods(cluster: Cluster, app: &str) -> Vec<Pod> {
    let selector = std::collections::BTreeMap::from([("app".to_string(), app.to_string())]);
    cluster
        .selected::<Pod>(NAMESPACE, &selector)
        .into_iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// The address of the first node, as a client outside the cluster reaches it.
pub fn node_address(cluster: Cluster) -> Option<String> {
    let nodes = cluster.list::<Node>();
    let node = nodes.first()?;
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses.iter().find(|a| a.type_ == "InternalIP").map(|a| a.address.clone())
}

/// A service's load-balancer address, once it has one.
pub fn load_balancer_address(cluster: Cluster, service: &str) -> Option<String> {
    let svc = cluster.get::<Service>(NAMESPACE, service)?;
    let ingress = svc.status?.load_balancer?.ingress?;
    ingress.into_iter().find_map(|i| i.ip.or(i.hostname))
}

fn applied(seen: &Seen, action: usize) -> Verdict {
    match seen.output(action) {
        Some(Output::Applied(response)) => {
            let failed = response.results.iter().filter(|r| r.outcome == ApplyOutcome::Failed).count();
            if failed == 0 {
                Ok(response.results.iter().map(|r| r.message.clone()).collect::<Vec<_>>().join(", "))
            } else {
                Err(format!("{failed} of the documents were refused"))
            }
        }
        _ => Err("not applied yet".into()),
    }
}

fn ready_count(seen: &Seen, service: &str, want: usize) -> Verdict {
    if seen.service(service).is_none() {
        return Err(format!("there is no service {service} yet"));
    }
    let (ready, not_ready) = seen.endpoints(service);
    let pods: Vec<&str> = ready.iter().map(|(_, p)| p.as_str()).collect();
    if ready.len() >= want {
        Ok(format!("{} ready: {}", ready.len(), pods.join(", ")))
    } else {
        Err(format!("{} ready, {} not ready", ready.len(), not_ready.len()))
    }
}

fn answered_by_kubia(seen: &Seen, action: usize, at_least: usize) -> Verdict {
    let Some((pods, failed)) = seen.answered(action) else { return Err("no requests sent yet".into()) };
    if failed > 0 {
        return Err(format!("{failed} requests got no answer from a kubia pod"));
    }
    if pods.len() < at_least {
        return Err(format!(
            "answered by {} pod(s) only: {}",
            pods.len(),
            pods.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(format!("answered by {}", pods.into_iter().collect::<Vec<_>>().join(", ")))
}

pub const STEPS: &[Step] = &[
    Step {
        id: "5.1",
        title: "A service in front of three pods",
        shows: "A ReplicationController keeps three kubia pods running; the kubia Service gives them one \
                stable cluster IP and name. Every connection to that IP goes to one of the pods, picked \
                at random, so requests spread over all three.",
        actions: &[
            apply!("kubia.yaml"),
            Action::Exec {
                pod: InPod { app: "kubia", n: 0, unready: false },
                command: &["curl", "-s", "http://kubia"],
            },
            Action::Requests {
                from: Some(InPod { app: "kubia", n: 0, unready: false }),
                url: Url::Fixed("http://kubia"),
                count: 30,
            },
        ],
        checks: &[
            Check { text: "The Service and the ReplicationController are created", test: |s| applied(s, 0) },
            Check {
                text: "kubia has a cluster IP",
                test: |s| match s.service("kubia").and_then(|svc| svc.spec?.cluster_ip) {
                    Some(ip) if ip != "None" => Ok(ip),
                    _ => Err("no cluster IP yet".into()),
                },
            },
            Check { text: "3 endpoints are ready", test: |s| ready_count(s, "kubia", 3) },
            Check {
                text: "curl from a pod reaches a kubia pod by the service's name",
                test: |s| match s.exec(1) {
                    Some((_, r)) if r.exit_code == 0 && r.stdout.contains("You've hit kubia-") => {
                        Ok(r.stdout.trim().into())
                    }
                    Some((_, r)) => Err(format!("curl exited {}: {}", r.exit_code, r.stderr.trim())),
                    None => Err("not run yet".into()),
                },
            },
            Check { text: "30 requests spread over all 3 pods", test: |s| answered_by_kubia(s, 2, 3) },
        ],
        look: &[("the kubia service's page", "/services/default/kubia"), ("the pods", "/pods")],
        reset: &[delete!("kubia.yaml")],
    },
    Step {
        id: "5.2",
        title: "A service for something outside the cluster",
        shows: "A service without a selector gets no endpoints from the cluster: you write its Endpoints \
                yourself, here two outside addresses, and the service proxy spreads connections over \
                them like over pods. An ExternalName service is only a DNS alias (a CNAME).",
        actions: &[
            apply!("external-service.yaml"),
            apply!("external-service-endpoints.yaml"),
            Action::Exec {
                pod: InPod { app: "kubia", n: 0, unready: false },
                command: &["nslookup", "external-service"],
            },
        ],
        checks: &[
            Check {
                text: "external-service has no selector, so the cluster leaves its Endpoints alone",
                test: |s| match s.service("external-service") {
                    Some(svc)
                        if svc.spec.as_ref().and_then(|sp| sp.selector.as_ref()).is_none_or(|sel| sel.is_empty()) =>
                    {
                        Ok("no selector".into())
                    }
                    Some(_) => Err("it has a selector".into()),
                    None => Err("there is no service external-service yet".into()),
                },
            },
            Check {
                text: "its endpoints are the two addresses written by hand",
                test: |s| {
                    let (ready, _) = s.endpoints("external-service");
                    let ips: Vec<&str> = ready.iter().map(|(ip, _)| ip.as_str()).collect();
                    if ips == ["11.11.11.11", "22.22.22.22"] {
                        Ok(ips.join(", "))
                    } else {
                        Err(format!("endpoints: {ips:?}"))
                    }
                },
            },
            Check {
                text: "its name resolves to its cluster IP in a pod",
                test: |s| {
                    let ip = s.service("external-service").and_then(|svc| svc.spec?.cluster_ip);
                    match (s.exec(2), ip) {
                        (Some((_, r)), Some(ip)) if r.stdout.contains(&ip) => Ok(format!("Address: {ip}")),
                        (Some((_, r)), _) => Err(format!("the answer: {}", r.stdout.trim())),
                        (None, _) => Err("not looked up yet".into()),
                    }
                },
            },
        ],
        look: &[("external-service's page", "/services/default/external-service"), ("DNS", "/dns")],
        reset: &[delete!("external-service.yaml")],
    },
    Step {
        id: "5.3",
        title: "From outside: NodePort and LoadBalancer",
        shows: "A NodePort service opens the same port (30123) on every node, so a client outside the \
                cluster reaches the pods through any node's address. A LoadBalancer service adds an \
                outside address of its own in front of the node ports.",
        actions: &[
            apply!("kubia-nodeport.yaml"),
            Action::Requests { from: None, url: Url::NodePort(30123), count: 10 },
            apply!("kubia-loadbalancer.yaml"),
            Action::Requests { from: None, url: Url::LoadBalancer("kubia-loadbalancer"), count: 10 },
        ],
        checks: &[
            Check {
                text: "kubia-nodeport has node port 30123",
                test: |s| {
                    let ports = s.service("kubia-nodeport").and_then(|svc| svc.spec?.ports).unwrap_or_default();
                    if ports.iter().any(|p| p.node_port == Some(30123)) {
                        Ok("80:30123/TCP".into())
                    } else {
                        Err("not yet".into())
                    }
                },
            },
            Check {
                text: "a node's port 30123 is answered by the kubia pods, from outside",
                test: |s| answered_by_kubia(s, 1, 1),
            },
            Check {
                text: "kubia-loadbalancer has an external address",
                test: |s| load_balancer_address(s.cluster, "kubia-loadbalancer").ok_or_else(|| "<pending>".into()),
            },
            Check {
                text: "the load balancer's address is answered by the kubia pods",
                test: |s| answered_by_kubia(s, 3, 1),
            },
        ],
        look: &[("kubia-nodeport's page", "/services/default/kubia-nodeport"), ("the nodes", "/nodes")],
        reset: &[delete!("kubia-nodeport.yaml"), delete!("kubia-loadbalancer.yaml")],
    },
    Step {
        id: "5.4",
        title: "Ingress: one address, routed by host and path",
        shows: "An Ingress routes HTTP by host name and path to services, all through the ingress \
                controller's one address. Here kubia.example.com goes to kubia-nodeport (from 5.3).",
        actions: &[
            apply!("kubia-nodeport.yaml"),
            apply!("kubia-ingress.yaml"),
            Action::Requests { from: None, url: Url::Fixed("http://kubia.example.com/"), count: 10 },
        ],
        checks: &[
            Check { text: "the Ingress is created", test: |s| applied(s, 1) },
            Check {
                text: "the Ingress has an address",
                test: |s| {
                    let ingress = s.cluster.get::<Ingress>(NAMESPACE, "kubia");
                    let address = ingress
                        .and_then(|i| i.status?.load_balancer?.ingress?.into_iter().find_map(|a| a.ip.or(a.hostname)));
                    address.ok_or_else(|| "no address yet".into())
                },
            },
            Check {
                text: "http://kubia.example.com/ is answered by the kubia pods",
                test: |s| answered_by_kubia(s, 2, 1),
            },
        ],
        look: &[("the ingresses", "/ingresses"), ("the ingress's page", "/ingresses/default/kubia")],
        reset: &[delete!("kubia-ingress.yaml")],
    },
    Step {
        id: "5.5",
        title: "Readiness probes decide who gets traffic",
        shows: "A readiness probe (here: does /var/ready exist?) tells the endpoints controller whether a \
                pod may receive connections. Changing the template does not change running pods, so \
                they are deleted and recreated; none is ready until its file exists.",
        actions: &[
            apply!("kubia-rc-readinessprobe.yaml"),
            Action::DeletePods { app: "kubia" },
            Action::Exec { pod: InPod { app: "kubia", n: 0, unready: false }, command: &["touch", "/var/ready"] },
        ],
        checks: &[
            Check {
                text: "every kubia pod has the readiness probe",
                test: |s| {
                    let pods = running_pods(s.cluster, "kubia");
                    let probed = pods
                        .iter()
                        .filter(|p| {
                            p.spec.as_ref().is_some_and(|sp| sp.containers.iter().any(|c| c.readiness_probe.is_some()))
                        })
                        .count();
                    if !pods.is_empty() && probed == pods.len() {
                        Ok(format!("{probed} pods"))
                    } else {
                        Err(format!("{probed} of {} running pods have it: delete the old ones", pods.len()))
                    }
                },
            },
            Check {
                text: "the pod with /var/ready became ready and is kubia's only ready endpoint",
                test: |s| {
                    let Some((touched, r)) = s.exec(2) else { return Err("no file touched yet".into()) };
                    if r.exit_code != 0 {
                        return Err(format!("touch failed: {}", r.stderr.trim()));
                    }
                    let (ready, not_ready) = s.endpoints("kubia");
                    match ready.as_slice() {
                        [(ip, pod)] if pod == touched => Ok(format!("{pod} ({ip}); {} not ready", not_ready.len())),
                        _ => Err(format!(
                            "ready: {}; the probe runs every 10 s",
                            ready.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>().join(", ")
                        )),
                    }
                },
            },
        ],
        look: &[("the kubia service's page", "/services/default/kubia"), ("the pods", "/pods")],
        reset: &[apply!("kubia.yaml"), Action::DeletePods { app: "kubia" }],
    },
    Step {
        id: "5.6",
        title: "A headless service: a DNS record per pod",
        shows: "With clusterIP: None the service has no virtual IP: the cluster DNS answers its name \
                with the address of each ready pod instead, so a client can reach them one by one.",
        actions: &[
            apply!("kubia-svc-headless.yaml"),
            Action::Exec { pod: InPod { app: "kubia", n: 0, unready: true }, command: &["touch", "/var/ready"] },
            Action::Exec {
                pod: InPod { app: "kubia", n: 0, unready: false },
                command: &["nslookup", "kubia-headless"],
            },
        ],
        checks: &[
            Check {
                text: "kubia-headless has no cluster IP",
                test: |s| match s.service("kubia-headless").and_then(|svc| svc.spec?.cluster_ip) {
                    Some(ip) if ip == "None" => Ok("ClusterIP: None".into()),
                    Some(ip) => Err(format!("cluster IP {ip}")),
                    None => Err("there is no service kubia-headless yet".into()),
                },
            },
            Check { text: "at least two pods are ready", test: |s| ready_count(s, "kubia-headless", 2) },
            Check {
                text: "nslookup answers with each ready pod's address, and no other",
                test: |s| {
                    let Some((_, r)) = s.exec(2) else { return Err("not looked up yet".into()) };
                    let answered: BTreeSet<&str> =
                        r.stdout.lines().filter_map(|l| l.strip_prefix("Address: ")).map(str::trim).collect();
                    let (ready, _) = s.endpoints("kubia-headless");
                    let expected: BTreeSet<&str> = ready.iter().map(|(ip, _)| ip.as_str()).collect();
                    if !expected.is_empty() && answered == expected {
                        Ok(expected.into_iter().collect::<Vec<_>>().join(", "))
                    } else {
                        Err(format!("the answer had {answered:?}, the ready pods are {expected:?}: look it up again"))
                    }
                },
            },
        ],
        look: &[("kubia-headless's page", "/services/default/kubia-headless"), ("DNS", "/dns")],
        reset: &[delete!("kubia-svc-headless.yaml")],
    },
    Step {
        id: "5.7",
        title: "When a service does not answer",
        shows: "The usual reasons a service gives no answer: no endpoints, pods not ready, or a targetPort \
                the pods don't listen on. The doctor runs the checklist; here it finds the wrong port, \
                and the mended service answers.",
        actions: &[
            apply!("kubia-wrong-port.yaml"),
            Action::Doctor { service: "kubia-wrong-port" },
            apply!("kubia-right-port.yaml"),
            Action::Requests {
                from: Some(InPod { app: "kubia", n: 0, unready: false }),
                url: Url::Fixed("http://kubia-wrong-port"),
                count: 5,
            },
        ],
        checks: &[
            Check { text: "kubia-wrong-port selects the kubia pods", test: |s| ready_count(s, "kubia-wrong-port", 1) },
            Check {
                text: "the doctor names the target port as the problem",
                test: |s| match s.output(1) {
                    Some(Output::Doctor(d)) => d
                        .findings
                        .iter()
                        .find(|f| f.severity == Severity::Error && (f.check == "listening" || f.check == "target-port"))
                        .map(|f| f.title.clone())
                        .ok_or_else(|| "the doctor found no port problem".into()),
                    _ => Err("the doctor has not run yet".into()),
                },
            },
            Check { text: "with targetPort 8080 the service answers", test: |s| answered_by_kubia(s, 3, 1) },
        ],
        look: &[("kubia-wrong-port's page", "/services/default/kubia-wrong-port")],
        reset: &[delete!("kubia-wrong-port.yaml")],
    },
];

//! Probes: readiness, liveness and startup, of kinds exec, httpGet, tcpSocket and grpc, with
//! Kubernetes' timing fields and defaults. The schedule and the threshold counting are pure;
//! [`execute`] runs one probe against the container as the kubelet does (from the node).

use super::PodSandbox;
use super::container::ContainerRuntime;
use crate::network::http::{self, Request};
use crate::network::{Dial, To};
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::resources::KUBERNETES_MINOR;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    /// How kubelet names it in events: `Readiness probe failed: …`.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Exec(Vec<String>),
    Http { scheme: String, host: Option<String>, path: String, port: IntOrString, headers: Vec<(String, String)> },
    Tcp { host: Option<String>, port: IntOrString },
    Grpc { port: i32, service: String },
    Unsupported(&'static str),
}

impl Action {
    pub fn http(h: &HTTPGetAction) -> Self {
        Action::Http {
            scheme: h.scheme.clone().unwrap_or_else(|| "HTTP".into()),
            host: h.host.clone().filter(|h| !h.is_empty()),
            path: h.path.clone().unwrap_or_else(|| "/".into()),
            port: h.port.clone(),
            headers: h.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
        }
    }

    pub fn tcp(t: &TCPSocketAction) -> Self {
        Action::Tcp { host: t.host.clone().filter(|h| !h.is_empty()), port: t.port.clone() }
    }
}

/// A probe with its defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub kind: Kind,
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(v.unwrap_or(default).max(0) as u64)
}

impl Spec {
    pub fn new(kind: Kind, probe: &Probe) -> Self {
        let action = if let Some(exec) = &probe.exec {
            Action::Exec(exec.command.clone().unwrap_or_default())
        } else if let Some(h) = &probe.http_get {
            Action::http(h)
        } else if let Some(t) = &probe.tcp_socket {
            Action::tcp(t)
        } else if let Some(g) = &probe.grpc {
            Action::Grpc { port: g.port, service: g.service.clone().unwrap_or_default() }
        } else {
            Action::Unsupported("the probe has no handler")
        };
        Spec {
            kind,
            action,
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            // Liveness and startup probes must use 1; validation says so, the kubelet assumes it.
            success_threshold: if kind == Kind::Readiness {
                probe.success_threshold.unwrap_or(1).max(1) as u32
            } else {
                1
            },
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// What a run of probes concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing changed.
    Same,
    Ready(bool),
    Started,
    /// Liveness or startup failed `failureThreshold` times: restart the container.
    Restart,
}

/// One probe's schedule and consecutive-result counters.
#[derive(Debug, Clone)]
pub struct Worker {
    pub spec: Spec,
    pub due: Instant,
    successes: u32,
    failures: u32,
    /// The current result: readiness starts failed, liveness starts succeeded.
    passing: bool,
}

impl Worker {
    pub fn new(spec: Spec, started: Instant) -> Self {
        let due = started + spec.initial_delay;
        let passing = spec.kind == Kind::Liveness;
        Worker { spec, due, successes: 0, failures: 0, passing }
    }

    /// Records a result taken at `now` and schedules the next one.
    pub fn record(&mut self, ok: bool, now: Instant) -> Verdict {
        self.due = now + self.spec.period;
        if ok {
            self.failures = 0;
            self.successes += 1;
            if !self.passing && self.successes >= self.spec.success_threshold {
                self.passing = true;
                return match self.spec.kind {
                    Kind::Readiness => Verdict::Ready(true),
                    Kind::Startup => Verdict::Started,
                    Kind::Liveness => Verdict::Same,
                };
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.failures >= self.spec.failure_threshold && (self.passing || self.spec.kind != Kind::Readiness) {
                self.passing = false;
                return match self.spec.kind {
                    Kind::Readiness => Verdict::Ready(false),
                    Kind::Liveness | Kind::Startup => {
                        self.failures = 0;
                        Verdict::Restart
                    }
                };
            }
        }
        Verdict::Same
    }
}

/// The probe workers of a container as it starts: startup first, the others once it has started.
pub fn workers(container: &Container, started: Instant) -> Vec<Worker> {
    let probes = [
        (Kind::Startup, &container.startup_probe),
        (Kind::Liveness, &container.liveness_probe),
        (Kind::Readiness, &container.readiness_probe),
    ];
    probes.into_iter().filter_map(|(k, p)| p.as_ref().map(|p| Worker::new(Spec::new(k, p), started))).collect()
}

/// Why a probe or hook failed, worded as the kubelet words it in its events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    /// An exec action's command exited non-zero: its output.
    #[error("{output}")]
    Exec { output: String },
    #[error("command {command:?} timed out")]
    ExecTimedOut { command: String },
    #[error("invalid port number: {0}")]
    InvalidPort(i32),
    #[error("unable to find port {name:?} in container {container}")]
    NoSuchPort { name: String, container: String },
    #[error("dial tcp: lookup {0}: no such host")]
    NoSuchHost(String),
    #[error("Get {url:?}: svclab's built-in images serve no HTTPS")]
    Https { url: String },
    #[error("Get {url:?}: dial tcp {addr}: connect: {reason}")]
    HttpConnect { url: String, addr: SocketAddrV4, reason: String },
    /// The connection was made but no HTTP response came back.
    #[error("Get {url:?}: {error}")]
    HttpFailed { url: String, error: String },
    #[error("HTTP probe failed with statuscode: {0}")]
    Status(u16),
    #[error("Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)")]
    HttpTimedOut { url: String },
    #[error("dial tcp {addr}: connect: {reason}")]
    TcpConnect { addr: SocketAddrV4, reason: String },
    #[error("dial tcp {addr}: i/o timeout")]
    TcpTimedOut { addr: SocketAddrV4 },
    /// Kubelet's words for a gRPC probe that failed (`service unhealthy (responded with …)`).
    #[error("{0}")]
    Grpc(String),
    /// A kind of action the built-in images cannot answer.
    #[error("{0}")]
    Unsupported(&'static str),
}

fn port_number(port: &IntOrString, container: &Container) -> Result<u16, ProbeFailure> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| ProbeFailure::InvalidPort(*n)),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port as u16)
            .ok_or_else(|| ProbeFailure::NoSuchPort { name: name.clone(), container: container.name.clone() }),
    }
}

/// How a dial failure reads in Go's error text (`connection refused`).
fn go_reason(e: &crate::network::DialError) -> String {
    e.to_string().to_lowercase()
}

/// Runs a probe once: `Ok` or why it failed.
pub async fn execute(
    spec: &Spec,
    sandbox: &Arc<PodSandbox>,
    container: &ContainerRuntime,
    node_ip: Ipv4Addr,
) -> Result<(), ProbeFailure> {
    perform(&spec.action, spec.timeout, sandbox, container, node_ip).await
}

/// Runs a probe's or lifecycle hook's action against the container, within `timeout`.
pub async fn perform(
    action: &Action,
    timeout: Duration,
    sandbox: &Arc<PodSandbox>,
    container: &ContainerRuntime,
    node_ip: Ipv4Addr,
) -> Result<(), ProbeFailure> {
    match action {
        Action::Exec(command) => {
            let run = super::exec::run(sandbox, container.name(), command);
            match tokio::time::timeout(timeout, run).await {
                Ok(out) if out.code == 0 => Ok(()),
                Ok(out) => Err(ProbeFailure::Exec {
                    output: format!("{}{}", out.stdout_text(), out.stderr).trim_end().to_string(),
                }),
                Err(_) => Err(ProbeFailure::ExecTimedOut { command: command.join(" ") }),
            }
        }
        Action::Http { scheme, host, path, port, headers } => {
            let port = port_number(port, &container.definition().spec)?;
            let ip = host.as_deref().map_or(Some(sandbox.ip), |h| h.parse().ok());
            let ip = ip.ok_or_else(|| ProbeFailure::NoSuchHost(host.clone().unwrap_or_default()))?;
            let url = format!("{}://{ip}:{port}{path}", scheme.to_ascii_lowercase());
            if scheme.eq_ignore_ascii_case("HTTPS") {
                return Err(ProbeFailure::Https { url });
            }
            let addr = SocketAddrV4::new(ip, port);
            let work = async {
                let conn = sandbox.network.dial(To::Cluster(addr), Dial::from_node(node_ip)).await;
                let conn =
                    conn.map_err(|e| ProbeFailure::HttpConnect { url: url.clone(), addr, reason: go_reason(&e) })?;
                let mut request = Request::get(&format!("{ip}:{port}"), path);
                request.headers.push(("User-Agent".into(), format!("kube-probe/1.{KUBERNETES_MINOR}")));
                request.headers.push(("Accept".into(), "*/*".into()));
                request.headers.extend(headers.iter().cloned());
                let response = http::send(conn.stream, &request)
                    .await
                    .map_err(|e| ProbeFailure::HttpFailed { url: url.clone(), error: e.to_string() })?;
                if (200..400).contains(&response.status) { Ok(()) } else { Err(ProbeFailure::Status(response.status)) }
            };
            match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(ProbeFailure::HttpTimedOut { url }),
            }
        }
        Action::Tcp { host, port } => {
            let port = port_number(port, &container.definition().spec)?;
            let ip: Ipv4Addr = host.as_deref().and_then(|h| h.parse().ok()).unwrap_or(sandbox.ip);
            let addr = SocketAddrV4::new(ip, port);
            let dial = sandbox.network.dial(To::Cluster(addr), Dial::from_node(node_ip));
            match tokio::time::timeout(timeout, dial).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(ProbeFailure::TcpConnect { addr, reason: go_reason(&e) }),
                Err(_) => Err(ProbeFailure::TcpTimedOut { addr }),
            }
        }
        Action::Grpc { port, service } => {
            let port = u16::try_from(*port).map_err(|_| ProbeFailure::InvalidPort(*port))?;
            grpc_probe(SocketAddrV4::new(sandbox.ip, port), service, timeout, sandbox, node_ip).await
        }
        Action::Unsupported(why) => Err(ProbeFailure::Unsupported(why)),
    }
}

/// A `grpc` probe, worded as the kubelet's (`pkg/probe/grpc`).
async fn grpc_probe(
    addr: SocketAddrV4,
    service: &str,
    timeout: Duration,
    sandbox: &Arc<PodSandbox>,
    node_ip: Ipv4Addr,
) -> Result<(), ProbeFailure> {
    use super::grpc::{self, CheckError};
    let seconds = format!("{}s", timeout.as_secs());
    let started = tokio::time::Instant::now();
    let dial = tokio::time::timeout(timeout, sandbox.network.dial(To::Cluster(addr), Dial::from_node(node_ip))).await;
    let Ok(Ok(conn)) = dial else {
        // grpc-go keeps dialling until the deadline: a refusal reads as a timeout.
        return Err(ProbeFailure::Grpc(format!(
            "timeout: failed to connect service \"{addr}\" within {seconds}: context deadline exceeded"
        )));
    };
    let left = timeout.saturating_sub(started.elapsed());
    match grpc::check(conn.stream, &addr.to_string(), service, left).await {
        Ok(tonic_health::pb::health_check_response::ServingStatus::Serving) => Ok(()),
        Ok(status) => {
            Err(ProbeFailure::Grpc(format!("service unhealthy (responded with \"{}\")", grpc::status_name(status))))
        }
        Err(CheckError::Rpc(s)) if s.code() == tonic::Code::Unimplemented => Err(ProbeFailure::Grpc(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
            s.message()
        ))),
        Err(CheckError::Timeout) => {
            Err(ProbeFailure::Grpc(format!("timeout: health rpc did not complete within {seconds}")))
        }
        Err(e) => Err(ProbeFailure::Grpc(format!("error: health rpc probe failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ExecAction;

    fn probe(period: i32, success: i32, failure: i32) -> Probe {
        Probe {
            exec: Some(ExecAction { command: Some(vec!["ls".into(), "/var/ready".into()]) }),
            period_seconds: Some(period),
            success_threshold: Some(success),
            failure_threshold: Some(failure),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let spec = Spec::new(Kind::Readiness, &Probe { exec: Some(ExecAction::default()), ..Default::default() });
        assert_eq!(spec.period, Duration::from_secs(10));
        assert_eq!(spec.timeout, Duration::from_secs(1));
        assert_eq!((spec.success_threshold, spec.failure_threshold), (1, 3));
        assert_eq!(spec.initial_delay, Duration::ZERO);
    }

    #[test]
    fn readiness_needs_its_thresholds_both_ways() {
        let t0 = Instant::now();
        let mut w = Worker::new(Spec::new(Kind::Readiness, &probe(1, 2, 3)), t0);
        assert_eq!(w.record(false, t0), Verdict::Same, "starts unready; a failure changes nothing");
        assert_eq!(w.record(true, t0), Verdict::Same);
        assert_eq!(w.record(true, t0), Verdict::Ready(true), "two successes");
        assert_eq!(w.record(false, t0), Verdict::Same);
        assert_eq!(w.record(false, t0), Verdict::Same);
        assert_eq!(w.record(false, t0), Verdict::Ready(false), "three failures");
        assert_eq!(w.record(false, t0), Verdict::Same, "no repeat");
        assert_eq!(w.due, t0 + Duration::from_secs(1));
    }

    #[test]
    fn liveness_restarts_after_consecutive_failures_only() {
        let t0 = Instant::now();
        let mut w = Worker::new(Spec::new(Kind::Liveness, &probe(1, 1, 2)), t0);
        assert_eq!(w.record(false, t0), Verdict::Same);
        assert_eq!(w.record(true, t0), Verdict::Same, "a success resets the count");
        assert_eq!(w.record(false, t0), Verdict::Same);
        assert_eq!(w.record(false, t0), Verdict::Restart);
    }

    #[test]
    fn startup_gates_the_others() {
        let t0 = Instant::now();
        let mut w = Worker::new(Spec::new(Kind::Startup, &probe(1, 1, 2)), t0);
        assert_eq!(w.record(true, t0), Verdict::Started);
        let mut w = Worker::new(Spec::new(Kind::Startup, &probe(1, 1, 2)), t0);
        assert_eq!(w.record(false, t0), Verdict::Same);
        assert_eq!(w.record(false, t0), Verdict::Restart);
    }
}

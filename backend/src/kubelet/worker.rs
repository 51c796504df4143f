//! A running pod's workers: one task per container that starts its program, runs its probes,
//! and restarts it (with back-off) when it ends or fails its liveness probe; and the status
//! writer that reports the containers' states to the API server whenever they change; and a
//! pod's graceful termination (preStop hooks, then the containers stop, then the pod is removed).

use super::container::{Backoff, ContainerRuntime, Phase, restarts};
use super::prober::{self, Kind, Verdict};
use super::{PodSandbox, images, status};
use crate::network::Network;
use crate::registry::Registry;
use k8s_openapi::api::core::v1::Pod;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::Object;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// What a pod's workers need from their kubelet.
#[derive(Clone)]
pub(super) struct Deps {
    pub registry: Registry,
    pub network: Network,
    pub tracker: TaskTracker,
    pub node_ip: Ipv4Addr,
    /// The pod as it was when the kubelet started it: what events are about.
    pub pod: Arc<Object>,
}

impl Deps {
    fn event(&self, type_: &str, reason: &str, message: &str) {
        self.registry.record_event(&self.pod, type_, reason, message, "kubelet");
    }
}

/// Starts the pod's container workers and its status writer.
pub(super) fn start_pod(sandbox: &Arc<PodSandbox>, deps: &Deps) {
    for container in &sandbox.containers {
        deps.tracker.spawn(run_container(sandbox.clone(), container.clone(), deps.clone()));
    }
    deps.tracker.spawn(write_status(sandbox.clone(), deps.clone()));
}

/// Why a container's run ended.
enum Ended {
    /// The pod is stopping.
    PodStopped,
    Exited(i32),
    /// Liveness or startup probe failed: the kubelet kills it.
    Unhealthy(Kind),
}

async fn run_container(sandbox: Arc<PodSandbox>, container: Arc<ContainerRuntime>, deps: Deps) {
    let pod_stop = sandbox.cancelled();
    let policy = sandbox.spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
    let mut backoff = Backoff::default();
    let name = container.name().to_string();
    loop {
        let run = pod_stop.child_token();
        let fs = images::filesystem(container.program, &sandbox);
        let pulled = format!("Container image \"{}\" already present on machine", container.image);
        deps.event("Normal", "Pulled", &pulled);
        if !container.program.is_builtin() {
            let msg = format!(
                "Image \"{}\" is not built into svclab: the container runs the default program (HTTP on its declared ports)",
                container.image
            );
            deps.event("Normal", "DefaultProgram", &msg);
        }
        let started_at = Instant::now();
        container.begin_log();
        let ended = match images::start(&sandbox, &container, &run, &deps.tracker).await {
            Ok(started) => {
                container.started(fs, container.spec.startup_probe.is_some());
                deps.event("Normal", "Created", &format!("Created container {name}"));
                deps.event("Normal", "Started", &format!("Started container {name}"));
                let bind = |open: bool| {
                    for (port, protocol, real) in &started.ports {
                        match (open, started.loopback_only) {
                            (false, _) => deps.network.unbind(sandbox.ip, *port, *protocol),
                            (true, true) => deps.network.bind_loopback(sandbox.ip, *port, *protocol, *real),
                            (true, false) => deps.network.bind(sandbox.ip, *port, *protocol, *real),
                        }
                    }
                };
                let closed = || container.read_fs(|fs| fs.stat(svclab_shared::pod::CLOSED_FILE).is_some());
                bind(!closed());
                sandbox.status_changed();
                // While the closed file exists the container's ports take no connections.
                let ports_follow_the_closed_file = async {
                    let mut was = closed();
                    loop {
                        // Listen before looking, so a change in between is not missed.
                        let changed = container.fs_changes().notified();
                        tokio::pin!(changed);
                        changed.as_mut().enable();
                        let now = closed();
                        if now != was {
                            bind(!now);
                            was = now;
                        }
                        changed.await;
                    }
                };
                let ended = tokio::select! {
                    ended = supervise(&sandbox, &container, started.main, &run, &deps) => ended,
                    never = ports_follow_the_closed_file => never,
                };
                bind(false);
                ended
            }
            Err(e) => {
                container.started(fs, false);
                deps.event("Warning", "Failed", &format!("Error: failed to start container {name}: {e}"));
                Ended::Exited(128)
            }
        };
        run.cancel();
        let code = match ended {
            Ended::PodStopped => {
                container.log().close();
                return;
            }
            Ended::Exited(code) => {
                container.terminated(code, if code == 0 { "Completed" } else { "Error" }, None);
                code
            }
            Ended::Unhealthy(kind) => {
                let msg = format!("Container {name} failed {} probe, will be restarted", kind.title().to_lowercase());
                deps.event("Normal", "Killing", &msg);
                container.terminated(137, "Error", None);
                137
            }
        };
        sandbox.status_changed();
        if !restarts(&policy, code) {
            pod_stop.cancelled().await;
            return;
        }
        let delay = backoff.delay(started_at.elapsed());
        if !delay.is_zero() {
            let message = format!(
                "back-off {}s restarting failed container={name} pod={}_{}({})",
                delay.as_secs(),
                sandbox.name,
                sandbox.namespace,
                sandbox.uid
            );
            container
                .update(|s| s.phase = Phase::Waiting { reason: "CrashLoopBackOff".into(), message: Some(message) });
            let msg = format!(
                "Back-off restarting failed container {name} in pod {}_{}({})",
                sandbox.name, sandbox.namespace, sandbox.uid
            );
            deps.event("Warning", "BackOff", &msg);
            sandbox.status_changed();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = pod_stop.cancelled() => return,
            }
        }
    }
}

/// Runs the container's probes until its main process ends, a probe says to restart it, or
/// the pod stops.
async fn supervise(
    sandbox: &Arc<PodSandbox>,
    container: &ContainerRuntime,
    mut main: futures::future::BoxFuture<'static, i32>,
    run: &tokio_util::sync::CancellationToken,
    deps: &Deps,
) -> Ended {
    let mut workers = prober::workers(&container.spec, Instant::now());
    if !workers.iter().any(|w| w.spec.kind == Kind::Readiness) && container.spec.startup_probe.is_none() {
        container.update(|s| s.ready = true);
        sandbox.status_changed();
    }
    loop {
        let started = container.snapshot().started;
        // Until the startup probe passes, only it runs.
        let due = workers
            .iter()
            .enumerate()
            .filter(|(_, w)| started != (w.spec.kind == Kind::Startup))
            .min_by_key(|(_, w)| w.due)
            .map(|(i, w)| (i, w.due));
        let wait = async {
            match due {
                Some((_, at)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = run.cancelled() => return Ended::PodStopped,
            code = &mut main => return Ended::Exited(code),
            _ = wait => {}
        }
        let Some((index, _)) = due else { continue };
        let spec = workers[index].spec.clone();
        let result = tokio::select! {
            _ = run.cancelled() => return Ended::PodStopped,
            code = &mut main => return Ended::Exited(code),
            r = prober::execute(&spec, sandbox, container, deps.node_ip) => r,
        };
        if let Err(why) = &result {
            deps.event("Warning", "Unhealthy", &format!("{} probe failed: {why}", spec.kind.title()));
        }
        match workers[index].record(result.is_ok(), Instant::now()) {
            Verdict::Same => {}
            Verdict::Ready(ready) => {
                container.update(|s| s.ready = ready);
                sandbox.status_changed();
            }
            Verdict::Started => {
                let has_readiness = workers.iter().any(|w| w.spec.kind == Kind::Readiness);
                container.update(|s| {
                    s.started = true;
                    s.ready = !has_readiness;
                });
                // The other probes start counting their initial delay now.
                let now = Instant::now();
                for w in workers.iter_mut().filter(|w| w.spec.kind != Kind::Startup) {
                    w.due = now + w.spec.initial_delay;
                }
                sandbox.status_changed();
            }
            Verdict::Restart => return Ended::Unhealthy(spec.kind),
        }
    }
}

/// Reports the pod's status whenever its containers change, until the pod stops.
async fn write_status(sandbox: Arc<PodSandbox>, deps: Deps) {
    let stop = sandbox.cancelled();
    loop {
        post_status(&sandbox, &deps).await;
        tokio::select! {
            _ = sandbox.next_status_change() => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Writes the pod's status, retrying on conflicts with other writers.
async fn post_status(sandbox: &PodSandbox, deps: &Deps) {
    if !sandbox.kubelet_up() {
        return;
    }
    for _ in 0..20 {
        let Some(pod) = deps.registry.store().get_typed::<Pod>(&sandbox.namespace, &sandbox.name) else { return };
        if pod.metadata.uid.as_deref() != Some(sandbox.uid.as_str()) {
            return;
        }
        let status = status::pod_status(&pod, sandbox, deps.node_ip);
        if pod.status.as_ref() == Some(&status) {
            return;
        }
        let mut updated = pod;
        updated.status = Some(status);
        match deps.registry.update_status(&Object::Pod(updated)) {
            Ok(_) | Err(crate::error::ApiError::NotFound { .. }) => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// A pod's graceful termination, once the API server has marked it for deletion: each
/// container's preStop hook runs, then the containers are stopped, all within the grace period;
/// then the kubelet removes the pod from the API.
pub(super) async fn terminate(sandbox: Arc<PodSandbox>, deps: Deps, grace: Duration) {
    let hooks = sandbox.containers.iter().map(|container| {
        let (sandbox, deps) = (sandbox.clone(), deps.clone());
        async move {
            deps.event("Normal", "Killing", &format!("Stopping container {}", container.name()));
            let Some(hook) = container.spec.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()) else { return };
            let action = if let Some(exec) = &hook.exec {
                prober::Action::Exec(exec.command.clone().unwrap_or_default())
            } else if let Some(h) = &hook.http_get {
                prober::Action::http(h)
            } else if let Some(t) = &hook.tcp_socket {
                prober::Action::tcp(t)
            } else if let Some(sleep) = &hook.sleep {
                tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64)).await;
                return;
            } else {
                return;
            };
            if let Err(why) = prober::perform(&action, grace, &sandbox, container, deps.node_ip).await {
                let msg = format!("PreStopHook failed: {why}");
                deps.event("Warning", "FailedPreStopHook", &msg);
            }
        }
    });
    let _ = tokio::time::timeout(grace, futures::future::join_all(hooks)).await;
    sandbox.stop();
    let key = crate::store::ObjectKey::new(svclab_shared::Kind::Pod, &sandbox.namespace, &sandbox.name);
    let current = deps.registry.store().get_typed::<Pod>(&sandbox.namespace, &sandbox.name);
    if current.is_some_and(|p| p.metadata.uid.as_deref() == Some(sandbox.uid.as_str())) {
        let _ = deps.registry.delete_now(&key, None);
    }
}

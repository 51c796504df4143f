//! A running pod's workers: one task per container that starts its program, runs its probes,
//! and restarts it (with back-off) when it ends or fails its liveness probe; and the status
//! writer that reports the containers' states to the API server whenever they change; and a
//! pod's graceful termination (preStop hooks, then the containers stop, then the pod is removed).

use super::container::{Backoff, ContainerRuntime, Definition, Phase, restarts};
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
    pub node: String,
    pub node_ip: Ipv4Addr,
    pub storage: super::config::Storage,
    /// The pod as it was when the kubelet started it: what events are about.
    pub pod: Arc<Object>,
    pub tokens: super::Tokens,
}

impl Deps {
    fn event(&self, type_: &str, reason: &str, message: &str) {
        self.registry.record_event(&self.pod, type_, reason, message, "kubelet");
    }

    /// The pod as the API has it now (labels may have changed since it started).
    fn current_pod(&self) -> Pod {
        let started = self.pod.downcast::<Pod>().cloned().unwrap_or_default();
        let (ns, name) = (started.metadata.namespace.as_deref(), started.metadata.name.as_deref());
        let now = self.registry.store().get_typed::<Pod>(ns.unwrap_or_default(), name.unwrap_or_default());
        now.filter(|p| p.metadata.uid == started.metadata.uid).unwrap_or(started)
    }

    fn lookup(&self) -> super::ApiLookup<'_> {
        super::ApiLookup { store: self.registry.store(), node: &self.node, tokens: &self.tokens }
    }
}

/// How long the kubelet waits before trying again a configuration it could not read (it tries
/// at once when an object the pod reads changes).
const CONFIG_RETRY: Duration = Duration::from_secs(10);

/// Starts the pod's status writer, sets up its volumes, then starts its container workers.
pub(super) fn start_pod(sandbox: &Arc<PodSandbox>, deps: &Deps) {
    deps.tracker.spawn(write_status(sandbox.clone(), deps.clone()));
    let (sandbox, deps) = (sandbox.clone(), deps.clone());
    deps.tracker.clone().spawn(async move {
        if !set_up_volumes(&sandbox, &deps).await || !initialize(&sandbox, &deps).await {
            return;
        }
        for container in &sandbox.containers {
            deps.tracker.spawn(run_container(sandbox.clone(), container.clone(), deps.clone()));
        }
    });
}

/// Starts the ephemeral containers `pod` has that the sandbox has not started yet (`kubectl
/// debug` added them); each runs once, never restarted.
pub(super) fn start_ephemeral(sandbox: &Arc<PodSandbox>, pod: &Pod, deps: &Deps) {
    let added = sandbox.add_ephemeral(pod);
    if added.is_empty() {
        return;
    }
    sandbox.status_changed();
    for container in added {
        let (sandbox, deps) = (sandbox.clone(), deps.clone());
        deps.tracker.clone().spawn(async move {
            run_container_as(&sandbox, &container, &deps, Role::Ephemeral).await;
        });
    }
}

/// Runs the init containers in order, each to success before the next; a sidecar (an init
/// container with `restartPolicy: Always`) starts and keeps running. False when one failed for
/// good (the pod never restarts) or the pod stopped.
async fn initialize(sandbox: &Arc<PodSandbox>, deps: &Deps) -> bool {
    for init in &sandbox.init_containers {
        if init.definition().spec.restart_policy.as_deref() == Some("Always") {
            deps.tracker.spawn(run_container(sandbox.clone(), init.clone(), deps.clone()));
            if !init.wait_running(&sandbox.cancelled()).await {
                return false;
            }
            continue;
        }
        if run_container_as(sandbox, init, deps, Role::Init).await != Some(0) {
            return false;
        }
    }
    true
}

/// Sets up the pod's volumes, retrying (with a `FailedMount` event) until they can be; false
/// when the pod stopped first.
async fn set_up_volumes(sandbox: &Arc<PodSandbox>, deps: &Deps) -> bool {
    loop {
        let pod = deps.current_pod();
        let info = super::config::PodInfo { pod: &pod, pod_ip: sandbox.pod_ip, host_ip: deps.node_ip };
        match super::config::PodVolumes::set_up(&info, &deps.node, &deps.storage, &deps.lookup()) {
            Ok(volumes) => {
                let _ = sandbox.volumes.set(volumes);
                return true;
            }
            Err(e) => deps.event("Warning", "FailedMount", &e.to_string()),
        }
        if !sandbox.next_config_change(CONFIG_RETRY).await {
            return false;
        }
    }
}

/// Resolves the container's environment, waiting in `CreateContainerConfigError` (with kubelet's
/// message) until it can be; `None` when the pod stopped first.
async fn resolve_environment(sandbox: &Arc<PodSandbox>, container: &ContainerRuntime, deps: &Deps) -> Option<()> {
    loop {
        let pod = deps.current_pod();
        let info = super::config::PodInfo { pod: &pod, pod_ip: sandbox.pod_ip, host_ip: deps.node_ip };
        let service = sandbox.service_variables();
        match super::config::environment(&info, &container.definition().spec, &service, &deps.lookup()) {
            Ok(env) => {
                container.set_env(env);
                return Some(());
            }
            Err(e) => {
                container.waiting("CreateContainerConfigError", Some(e.to_string()));
                sandbox.status_changed();
                deps.event("Warning", "Failed", &format!("Error: {e}"));
            }
        }
        if !sandbox.next_config_change(CONFIG_RETRY).await {
            return None;
        }
    }
}

/// Why a container's run ended.
enum Ended {
    /// The pod is stopping.
    PodStopped,
    Exited(i32),
    /// Liveness or startup probe failed: the kubelet kills it.
    Unhealthy(Kind),
    /// The pod's update changed the container's image: the kubelet kills it.
    Redefined,
}

/// How one run of a container ended, for the loop that restarts it.
enum Exit {
    /// Its main process exited, or was killed for failing a probe, with this code.
    Code(i32),
    /// Killed because its definition changed: it starts again at once, whatever the restart
    /// policy, as the kubelet restarts a container whose spec hash changed.
    Redefined,
}

async fn run_container(sandbox: Arc<PodSandbox>, container: Arc<ContainerRuntime>, deps: Deps) {
    run_container_as(&sandbox, &container, &deps, Role::App).await;
}

/// What a container is to its pod.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// An app container (or a sidecar: an init container with `restartPolicy: Always`).
    App,
    /// An init container: it runs to completion before the next one starts.
    Init,
    /// An ephemeral container: it runs once.
    Ephemeral,
}

/// Runs a container again and again as its restart policy says, with back-off; the exit code
/// that ended it for good, `None` when the pod stopped first.
async fn run_container_as(
    sandbox: &Arc<PodSandbox>,
    container: &Arc<ContainerRuntime>,
    deps: &Deps,
    role: Role,
) -> Option<i32> {
    let pod_policy = sandbox.spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
    let policy = match (role, container.definition().spec.restart_policy.clone()) {
        (Role::App, Some(own)) => own,
        (Role::App, None) => pod_policy,
        // An init container is run again until it succeeds, unless the pod never restarts.
        (Role::Init, _) if pod_policy == "Never" => pod_policy,
        (Role::Init, _) => "OnFailure".into(),
        (Role::Ephemeral, _) => "Never".into(),
    };
    let mut backoff = Backoff::default();
    let mut last = container.definition();
    loop {
        // A new definition starts its back-off afresh (the kubelet keys it by the spec's hash).
        let current = container.definition();
        if !Arc::ptr_eq(&current, &last) {
            backoff = Backoff::default();
            last = current;
        }
        resolve_environment(sandbox, container, deps).await?;
        let started_at = Instant::now();
        let exit = run_once(sandbox, container, deps, role).await?;
        sandbox.status_changed();
        let Exit::Code(code) = exit else { continue };
        if !restarts(&policy, code) {
            return Some(code);
        }
        back_off(sandbox, container, deps, backoff.delay(started_at.elapsed())).await?;
    }
}

/// The container's filesystem for a new run: the image's files and its volume mounts.
fn fresh_filesystem(sandbox: &PodSandbox, definition: &Definition) -> super::fs::Fs {
    let mut fs = images::filesystem(definition, sandbox);
    if let Some(volumes) = sandbox.volumes.get() {
        volumes.mount(&mut fs, &definition.spec);
    }
    fs
}

/// One run of the container: it starts, serves and is probed until it ends; how it ended, or
/// `None` when the pod stopped.
async fn run_once(
    sandbox: &Arc<PodSandbox>,
    container: &Arc<ContainerRuntime>,
    deps: &Deps,
    role: Role,
) -> Option<Exit> {
    let name = container.name().to_string();
    let run = sandbox.cancelled().child_token();
    let (definition, changes) = container.watch_definition();
    let fs = fresh_filesystem(sandbox, &definition);
    let pulled = format!("Container image \"{}\" already present on machine", definition.image);
    deps.event("Normal", "Pulled", &pulled);
    if !definition.program.is_builtin() {
        let msg = format!(
            "Image \"{}\" is not built into svclab: the container runs the default program (HTTP, h2c and gRPC health on its declared ports)",
            definition.image
        );
        deps.event("Normal", "DefaultProgram", &msg);
    }
    container.begin_log();
    let ended = match images::start(sandbox, container, &definition, role == Role::Init, &run, &deps.tracker).await {
        Ok(started) => {
            container.started(fs, definition.spec.startup_probe.is_some());
            deps.event("Normal", "Created", &format!("Created container {name}"));
            deps.event("Normal", "Started", &format!("Started container {name}"));
            serve(sandbox, container, deps, started, Run { cancel: &run, definition: &definition, changes }).await
        }
        Err(e) => {
            container.started(fs, false);
            deps.event("Warning", "Failed", &format!("Error: failed to start container {name}: {e}"));
            Ended::Exited(128)
        }
    };
    run.cancel();
    match ended {
        Ended::PodStopped => {
            container.log().close();
            None
        }
        Ended::Exited(code) => {
            container.terminated(code, if code == 0 { "Completed" } else { "Error" }, None);
            Some(Exit::Code(code))
        }
        Ended::Unhealthy(kind) => {
            let msg = format!("Container {name} failed {} probe, will be restarted", kind.title().to_lowercase());
            deps.event("Normal", "Killing", &msg);
            container.terminated(137, "Error", None);
            Some(Exit::Code(137))
        }
        Ended::Redefined => {
            deps.event("Normal", "Killing", &format!("Container {name} definition changed, will be restarted"));
            container.terminated(137, "Error", None);
            Some(Exit::Redefined)
        }
    }
}

/// One run as its supervisor sees it: what stops it, what it runs, and where a change to its
/// definition shows.
struct Run<'a> {
    cancel: &'a tokio_util::sync::CancellationToken,
    definition: &'a Definition,
    changes: tokio::sync::watch::Receiver<Arc<Definition>>,
}

/// A started container on the network: its ports bound (and unbound while the closed file
/// exists), supervised until it ends.
async fn serve(
    sandbox: &Arc<PodSandbox>,
    container: &Arc<ContainerRuntime>,
    deps: &Deps,
    started: images::Started,
    run: Run<'_>,
) -> Ended {
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
        ended = supervise(sandbox, container, started.main, run, deps) => ended,
        never = ports_follow_the_closed_file => never,
    };
    bind(false);
    ended
}

/// Waits out a restart's back-off in `CrashLoopBackOff`, or until the container's image
/// changes; `None` when the pod stopped.
async fn back_off(sandbox: &PodSandbox, container: &ContainerRuntime, deps: &Deps, delay: Duration) -> Option<()> {
    if delay.is_zero() {
        return Some(());
    }
    let name = container.name();
    let message = format!(
        "back-off {}s restarting failed container={name} pod={}_{}({})",
        delay.as_secs(),
        sandbox.name,
        sandbox.namespace,
        sandbox.uid
    );
    container.update(|s| s.phase = Phase::Waiting { reason: "CrashLoopBackOff".into(), message: Some(message) });
    let msg = format!(
        "Back-off restarting failed container {name} in pod {}_{}({})",
        sandbox.name, sandbox.namespace, sandbox.uid
    );
    deps.event("Warning", "BackOff", &msg);
    sandbox.status_changed();
    let stop = sandbox.cancelled();
    // A new image ends the wait: the container starts again at once with it.
    let (_, mut changes) = container.watch_definition();
    tokio::select! {
        _ = tokio::time::sleep(delay) => Some(()),
        Ok(()) = changes.changed() => Some(()),
        _ = stop.cancelled() => None,
    }
}

/// Runs the container's probes until its main process ends, a probe says to restart it, its
/// definition changes, or the pod stops.
async fn supervise(
    sandbox: &Arc<PodSandbox>,
    container: &ContainerRuntime,
    mut main: futures::future::BoxFuture<'static, i32>,
    mut run: Run<'_>,
    deps: &Deps,
) -> Ended {
    let mut workers = prober::workers(&run.definition.spec, Instant::now());
    if !workers.iter().any(|w| w.spec.kind == Kind::Readiness) && run.definition.spec.startup_probe.is_none() {
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
            _ = run.cancel.cancelled() => return Ended::PodStopped,
            code = &mut main => return Ended::Exited(code),
            Ok(()) = run.changes.changed() => return Ended::Redefined,
            _ = wait => {}
        }
        let Some((index, _)) = due else { continue };
        let spec = workers[index].spec.clone();
        let result = tokio::select! {
            _ = run.cancel.cancelled() => return Ended::PodStopped,
            code = &mut main => return Ended::Exited(code),
            Ok(()) = run.changes.changed() => return Ended::Redefined,
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
            let definition = container.definition();
            let Some(hook) = definition.spec.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()) else { return };
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

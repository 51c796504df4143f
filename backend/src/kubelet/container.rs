//! One container's runtime state: its definition (the spec, whose image may change), its
//! filesystem, whether it is waiting, running or terminated, readiness, restarts, its logs (this
//! run's and the previous run's); and the restart back-off (pure).

use super::fs::Fs;
use super::logs::Log;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use svclab_shared::program::{Program, program_for};

/// A container's state, as `containerStatuses[].state` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Waiting { reason: String, message: Option<String> },
    Running { since: Timestamp },
    Terminated(Terminated),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started: Timestamp,
    pub finished: Timestamp,
}

/// What the status of a container shows: a copy of its state without the filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub phase: Phase,
    pub last: Option<Terminated>,
    pub restart_count: i32,
    pub ready: bool,
    pub started: bool,
}

struct State {
    fs: Fs,
    /// The variables the kubelet resolved for this run (`env`, `envFrom`).
    env: Vec<(String, String)>,
    snapshot: Snapshot,
    /// This run's log and the previous run's.
    log: Arc<Log>,
    previous_log: Option<Arc<Log>>,
    /// This run's standard input, while open (`stdin: true` in the spec): what attached
    /// clients type goes here.
    stdin: Option<StdinSender>,
}

/// The writing end of a container's standard input: chunks, then `None` when it closes.
pub type StdinSender = tokio::sync::mpsc::Sender<Option<Vec<u8>>>;

/// What a container runs: its spec, image and the program that image is. A pod's update may
/// change the image (the only field of a container it may change); the kubelet then restarts
/// the container with the new definition.
#[derive(Debug)]
pub struct Definition {
    pub spec: Container,
    pub image: String,
    pub program: Program,
}

impl Definition {
    fn of(spec: Container) -> Arc<Self> {
        let image = spec.image.clone().unwrap_or_default();
        Arc::new(Definition { program: program_for(&image), image, spec })
    }
}

/// A container of a running pod.
pub struct ContainerRuntime {
    name: String,
    /// The definition its next run starts from; a run watches it to be restarted on a change.
    definition: tokio::sync::watch::Sender<Arc<Definition>>,
    /// An ephemeral container's `targetContainerName`: whose processes it sees.
    pub target: Option<String>,
    state: Mutex<State>,
    /// Woken whenever the filesystem may have changed (exec and servers write through `with_fs`).
    fs_changed: tokio::sync::Notify,
    /// Woken when a run starts.
    run_started: tokio::sync::Notify,
}

impl ContainerRuntime {
    pub fn new(spec: Container) -> Self {
        let snapshot = Snapshot {
            phase: Phase::Waiting { reason: "ContainerCreating".into(), message: None },
            last: None,
            restart_count: 0,
            ready: false,
            started: false,
        };
        let state = Mutex::new(State {
            fs: Fs::default(),
            env: Vec::new(),
            snapshot,
            log: Arc::default(),
            previous_log: None,
            stdin: None,
        });
        ContainerRuntime {
            name: spec.name.clone(),
            definition: tokio::sync::watch::Sender::new(Definition::of(spec)),
            target: None,
            state,
            fs_changed: tokio::sync::Notify::new(),
            run_started: tokio::sync::Notify::new(),
        }
    }

    /// An ephemeral container (`kubectl debug`): the same fields as a container's, and the
    /// container whose processes it means to see (`targetContainerName`).
    pub fn ephemeral(spec: &k8s_openapi::api::core::v1::EphemeralContainer) -> Self {
        let as_container = serde_json::to_value(spec).ok().and_then(|v| serde_json::from_value(v).ok());
        ContainerRuntime {
            target: spec.target_container_name.clone(),
            ..ContainerRuntime::new(as_container.unwrap_or_default())
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the container runs (its current run, or the next one).
    pub fn definition(&self) -> Arc<Definition> {
        self.definition.borrow().clone()
    }

    /// The definition a run starts from, and a receiver that sees it change.
    pub fn watch_definition(&self) -> (Arc<Definition>, tokio::sync::watch::Receiver<Arc<Definition>>) {
        let mut rx = self.definition.subscribe();
        let current = rx.borrow_and_update().clone();
        (current, rx)
    }

    /// The pod's spec now gives the container `spec`: when its image differs from the one it
    /// runs, the definition changes (and a running container is restarted by its worker). True
    /// when it changed.
    pub fn redefine(&self, spec: &Container) -> bool {
        self.definition.send_if_modified(|current| {
            let changed = current.spec.image != spec.image;
            if changed {
                *current = Definition::of(spec.clone());
            }
            changed
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn with_fs<R>(&self, f: impl FnOnce(&mut Fs) -> R) -> R {
        let out = f(&mut self.state().fs);
        self.fs_changed.notify_waiters();
        out
    }

    /// A new run begins: its log starts empty, and the last run's becomes the previous one.
    pub fn begin_log(&self) -> Arc<Log> {
        let mut state = self.state();
        let fresh: Arc<Log> = Arc::default();
        let last = std::mem::replace(&mut state.log, fresh.clone());
        last.close();
        if state.snapshot.last.is_some() {
            state.previous_log = Some(last);
        }
        fresh
    }

    /// This run's log.
    pub fn log(&self) -> Arc<Log> {
        self.state().log.clone()
    }

    /// The previous run's log, once the container has restarted.
    pub fn previous_log(&self) -> Option<Arc<Log>> {
        self.state().previous_log.clone()
    }

    /// Opens this run's standard input (a container whose spec has `stdin: true`): the main
    /// process reads the other end.
    pub fn open_stdin(&self) -> super::exec::interactive::Stdin {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        self.state().stdin = Some(tx);
        rx
    }

    /// Where what an attached client types goes, while the standard input is open.
    pub fn stdin(&self) -> Option<StdinSender> {
        self.state().stdin.clone()
    }

    /// Closes the standard input (`stdinOnce` after the first attach): the process reads its end.
    pub fn close_stdin(&self) {
        if let Some(tx) = self.state().stdin.take() {
            let _ = tx.try_send(None);
        }
    }

    /// The variables resolved for this run.
    pub fn env(&self) -> Vec<(String, String)> {
        self.state().env.clone()
    }

    pub fn set_env(&self, env: Vec<(String, String)>) {
        self.state().env = env;
    }

    /// Waiting to be created, and why (`CreateContainerConfigError` and kubelet's message).
    pub fn waiting(&self, reason: &str, message: Option<String>) {
        self.update(|s| s.phase = Phase::Waiting { reason: reason.into(), message });
    }

    /// Looks at the filesystem without counting as a change.
    pub fn read_fs<R>(&self, f: impl FnOnce(&Fs) -> R) -> R {
        f(&self.state().fs)
    }

    /// Woken whenever the filesystem may have changed.
    pub fn fs_changes(&self) -> &tokio::sync::Notify {
        &self.fs_changed
    }

    /// Whether its main process runs now (exec can enter it).
    pub fn is_running(&self) -> bool {
        matches!(self.state().snapshot.phase, Phase::Running { .. })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state().snapshot.clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.state().snapshot)
    }

    /// Picks up where a container stopped when svclab did (a node reboot, to the container): its
    /// restarts so far, and a last state that ended for an unknown reason, so the next start
    /// counts one more restart.
    pub fn resume_after_reboot(&self, before: &k8s_openapi::api::core::v1::ContainerStatus) {
        let started = before.state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.as_ref());
        let started = started.map_or_else(Timestamp::now, |t| t.0);
        self.update(|s| {
            s.restart_count = before.restart_count;
            s.last = Some(Terminated {
                exit_code: 255,
                reason: "Unknown".into(),
                message: None,
                started,
                finished: Timestamp::now(),
            });
        });
    }

    /// A (re)start: a fresh writable layer from the image, running, not ready until probed.
    pub fn started(&self, fs: Fs, has_startup_probe: bool) {
        let mut state = self.state();
        state.fs = fs;
        let s = &mut state.snapshot;
        if matches!(s.phase, Phase::Terminated(_) | Phase::Waiting { .. }) && s.last.is_some() {
            s.restart_count += 1;
        }
        s.phase = Phase::Running { since: Timestamp::now() };
        s.ready = false;
        s.started = !has_startup_probe;
        drop(state);
        self.run_started.notify_waiters();
    }

    /// Waits until the container runs; false when `stop` fires first.
    pub async fn wait_running(&self, stop: &tokio_util::sync::CancellationToken) -> bool {
        loop {
            let started = self.run_started.notified();
            tokio::pin!(started);
            started.as_mut().enable();
            if self.is_running() {
                return true;
            }
            tokio::select! {
                _ = started => {}
                _ = stop.cancelled() => return false,
            }
        }
    }

    /// The container's main process ended (or was killed).
    pub fn terminated(&self, exit_code: i32, reason: &str, message: Option<String>) -> Terminated {
        let mut state = self.state();
        state.log.close();
        state.stdin = None;
        let s = &mut state.snapshot;
        let started = match &s.phase {
            Phase::Running { since } => *since,
            _ => Timestamp::now(),
        };
        let t = Terminated { exit_code, reason: reason.into(), message, started, finished: Timestamp::now() };
        s.phase = Phase::Terminated(t.clone());
        s.last = Some(t.clone());
        s.ready = false;
        t
    }
}

/// The kubelet's restart back-off: the first restart is immediate, then 10 s doubling to 5 min;
/// a container that ran for 10 minutes starts over.
#[derive(Debug, Default)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const INITIAL: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(300);
    const RESET_AFTER: Duration = Duration::from_secs(600);

    /// How long to wait before restarting a container that ran for `ran`.
    pub fn delay(&mut self, ran: Duration) -> Duration {
        if ran >= Self::RESET_AFTER {
            self.next = None;
        }
        let delay = self.next.unwrap_or_default();
        self.next = Some(match self.next {
            None => Self::INITIAL,
            Some(d) => (d * 2).min(Self::MAX),
        });
        delay
    }
}

/// Whether a container that exited with `code` is restarted under the pod's `restartPolicy`.
pub fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_ten_seconds_to_five_minutes() {
        let mut b = Backoff::default();
        let ran = Duration::from_secs(1);
        let delays: Vec<u64> = (0..8).map(|_| b.delay(ran).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(b.delay(Duration::from_secs(601)).as_secs(), 0, "a long run resets it");
    }

    #[test]
    fn restart_policies() {
        assert!(restarts("Always", 0) && restarts("Always", 1));
        assert!(!restarts("OnFailure", 0) && restarts("OnFailure", 2));
        assert!(!restarts("Never", 1));
    }

    #[test]
    fn restarts_count_and_reset_readiness() {
        let c = ContainerRuntime::new(Container { name: "c".into(), ..Default::default() });
        c.started(Fs::default(), false);
        c.update(|s| s.ready = true);
        assert_eq!(c.snapshot().restart_count, 0);
        c.terminated(137, "Error", None);
        assert!(!c.snapshot().ready);
        c.started(Fs::default(), true);
        let s = c.snapshot();
        assert_eq!(s.restart_count, 1);
        assert!(!s.started && !s.ready);
        assert_eq!(s.last.unwrap().exit_code, 137);
    }
}

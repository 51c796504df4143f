//! Worker threads for the data plane's servers (the service proxy, the ingress), each with a
//! single-threaded runtime of its own (HAProxy's, nginx's and pingora's shape): a server gives
//! each worker its own `SO_REUSEPORT` socket of a port (see [`super::sockets`]), so the kernel
//! spreads connections over the workers and each is served start to finish on one thread, never
//! handed across.

use std::future::Future;
use std::io;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One worker thread: where to spawn onto it, and the tasks it still runs.
#[derive(Clone)]
pub struct Worker {
    handle: Handle,
    tasks: TaskTracker,
}

impl Worker {
    /// Runs `task` on this worker's thread.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn_on(task, &self.handle);
    }
}

/// Starts `n` workers, threads called `name`. They run until `cancel` fires and then until
/// their tasks have finished; `tracker` (the caller's) learns when each thread is done.
pub fn start(n: usize, name: &str, tracker: &TaskTracker, cancel: &CancellationToken) -> io::Result<Vec<Worker>> {
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let worker = Worker { handle: runtime.handle().clone(), tasks: TaskTracker::new() };
        let (tasks, cancel) = (worker.tasks.clone(), cancel.clone());
        // A thread of its own (not the blocking pool, which a runtime waits for on drop).
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name(name.into()).spawn(move || {
            runtime.block_on(async move {
                cancel.cancelled().await;
                tasks.close();
                tasks.wait().await;
            });
            let _ = done_tx.send(());
        })?;
        tracker.spawn(async move {
            let _ = done_rx.await;
        });
        workers.push(worker);
    }
    Ok(workers)
}

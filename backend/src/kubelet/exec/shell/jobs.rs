//! Background jobs: a list ended by `&` runs in a copy of the shell on a task of its own (its
//! output, with a terminal or a log, shows as it comes), `$!` names the last one, and `wait`
//! waits for them. A job ends with its container, as its processes would.

use super::syntax::{AndOr, Script};
use crate::kubelet::exec::{Ctx, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::task::JoinHandle;

/// The process ids jobs are given, as a container's processes count up from its first.
static NEXT_PID: AtomicU32 = AtomicU32::new(100);

/// A shell's background jobs.
#[derive(Default)]
pub struct Jobs {
    running: Vec<(u32, JoinHandle<Output>)>,
    /// `$!`: the last job started.
    pub(crate) last: Option<u32>,
}

impl Ctx {
    /// Starts `and_or` in the background.
    pub(super) fn background(&mut self, and_or: &AndOr) {
        let mut copy = self.fork();
        let script = Script(vec![AndOr { background: false, ..and_or.clone() }]);
        let stop = self.sandbox.cancelled();
        let handle = tokio::spawn(async move {
            tokio::select! {
                out = copy.run_script(&script, Vec::new()) => Output { code: copy.exited.unwrap_or(out.code), ..out },
                // Killed with its container.
                _ = stop.cancelled() => Output { code: 137, ..Default::default() },
            }
        });
        let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
        self.jobs.running.push((pid, handle));
        self.jobs.last = Some(pid);
    }

    /// `wait [PID…]`: until the jobs named (all, by default) end; what they left unwritten, and
    /// the last one's exit code (0 for a bare `wait`, as POSIX says).
    pub(super) async fn wait(&mut self, args: &[String]) -> Output {
        let mut out = Output::default();
        let wanted: Vec<Option<u32>> = args.iter().map(|a| a.parse().ok()).collect();
        let mut code = 0;
        for (arg, pid) in args.iter().zip(&wanted) {
            if !pid.is_some_and(|p| self.jobs.running.iter().any(|(id, _)| *id == p)) {
                let msg = format!("{}: wait: pid {arg} is not a child of this shell\n", self.shell_name);
                return Output::fail(127, msg);
            }
        }
        let running = std::mem::take(&mut self.jobs.running);
        for (pid, handle) in running {
            if !wanted.is_empty() && !wanted.contains(&Some(pid)) {
                self.jobs.running.push((pid, handle));
                continue;
            }
            let done = handle.await.unwrap_or_else(|_| Output { code: 137, ..Default::default() });
            out.stdout.extend_from_slice(&done.stdout);
            out.stderr.push_str(&done.stderr);
            if !wanted.is_empty() {
                code = done.code;
            }
        }
        out.code = code;
        out
    }
}

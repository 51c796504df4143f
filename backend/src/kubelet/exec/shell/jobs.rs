//! Background jobs: a list ended by `&` runs in a copy of the shell on a task of its own (its
//! output, with a terminal or a log, shows as it comes), `$!` names the last one, and `wait`
//! waits for them. A job ends with its container, as its processes would. A job that writes to
//! an exec session holds it open, as a process holding the session's output pipe does, unless
//! all it writes is redirected (`server > /dev/null 2>&1 &`).

use super::lex::RedirKind;
use super::syntax::{AndOr, Command, Pipeline, Script};
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
        if !holds_terminal(and_or) {
            copy.console = None;
        }
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

/// Whether a job writes to the terminal (or log) it was started from: unless the standard error
/// of each command, and the standard output of each pipeline's last, is redirected.
fn holds_terminal(and_or: &AndOr) -> bool {
    let pipelines = std::iter::once(&and_or.first).chain(and_or.rest.iter().map(|(_, p)| p));
    pipelines
        .flat_map(|p: &Pipeline| {
            let last = p.commands.len().saturating_sub(1);
            p.commands.iter().enumerate().map(move |(i, command)| (i == last, command))
        })
        .any(|(last, command)| {
            let [_, out, err] = redirected(command);
            !err || (last && !out)
        })
}

/// Which of a command's standard streams (0, 1, 2) its redirections send away from the
/// terminal, applied in order (`> f 2>&1` sends both; `2>&1 > f` only standard output).
fn redirected(command: &Command) -> [bool; 3] {
    let redirs = match command {
        Command::Simple(simple) => &simple.redirs,
        Command::Redirected { redirs, .. } => redirs,
        _ => return [false; 3],
    };
    let mut away = [false; 3];
    for redir in redirs.iter().filter(|r| r.fd < 3) {
        match redir.kind {
            RedirKind::Out { .. } => away[usize::from(redir.fd)] = true,
            RedirKind::Dup(to) if to < 3 => away[usize::from(redir.fd)] = away[usize::from(to)],
            _ => {}
        }
    }
    away
}

#[cfg(test)]
mod tests {
    use super::super::syntax::parse;
    use super::holds_terminal;

    #[test]
    fn a_job_holds_the_terminal_unless_all_it_writes_goes_elsewhere() {
        let holds = |src: &str| holds_terminal(&parse(src).unwrap().0[0]);
        assert!(holds("sleep 1"));
        assert!(holds("server > /dev/null"), "standard error still reaches the terminal");
        assert!(holds("server 2>&1 > /dev/null"), "2>&1 first: standard error went to the terminal");
        assert!(holds("a > /dev/null 2>&1 | b 2>/dev/null"), "the pipeline's last writes to it");
        assert!(holds("{ a; } > /dev/null 2>&1 && b"));
        assert!(!holds("server > /dev/null 2>&1"));
        assert!(!holds("a 2>/dev/null | b > log 2>&1"));
        assert!(!holds("while true; do date; done > log 2> errors"));
    }
}

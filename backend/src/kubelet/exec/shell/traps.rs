//! `trap`: what the shell runs on a signal or when it exits. `EXIT` (or `0`) runs when the
//! shell ends, by `exit` or at the end of its script, with `$?` its exit status; the signals'
//! actions are kept and listed (`trap` alone), for scripts that set them (`trap 'exit 0' TERM`),
//! though svclab sends a container's processes none.

use crate::kubelet::exec::{Ctx, Output};

/// The signals `trap` takes, by name and number.
const SIGNALS: &[(&str, u8)] =
    &[("EXIT", 0), ("HUP", 1), ("INT", 2), ("QUIT", 3), ("USR1", 10), ("USR2", 12), ("TERM", 15), ("CHLD", 17)];

/// A shell's traps: each signal's action, in the order set.
#[derive(Clone, Default)]
pub struct Traps(Vec<(&'static str, String)>);

/// A signal as `trap` names it: `TERM`, `SIGTERM`, `term`, `15`.
fn signal(spec: &str) -> Option<&'static str> {
    let upper = spec.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.iter().find(|(n, number)| *n == name || number.to_string() == name).map(|(n, _)| *n)
}

impl Ctx {
    /// `trap [-p] [ACTION] SIGNAL…`, `trap - SIGNAL…` (back to the default), `trap` (list).
    pub(crate) fn trap(&mut self, args: &[String]) -> Output {
        let args: Vec<&String> = args.iter().filter(|a| *a != "--" && *a != "-p").collect();
        if args.is_empty() {
            let listed =
                self.traps.0.iter().map(|(sig, action)| format!("trap -- '{}' {sig}\n", action.replace('\'', "'\\''")));
            return Output::ok(listed.collect::<String>());
        }
        // One operand that is a signal resets it, as `-` does.
        let (action, specs) = match args.as_slice() {
            [only] if signal(only).is_some() => (None, &args[..]),
            [action, specs @ ..] => ((action.as_str() != "-").then(|| action.to_string()), specs),
            [] => unreachable!("handled above"),
        };
        for spec in specs {
            let Some(sig) = signal(spec) else {
                return Output::fail(1, format!("{}: trap: {spec}: bad trap\n", self.shell_name));
            };
            self.traps.0.retain(|(s, _)| *s != sig);
            if let Some(action) = &action {
                self.traps.0.push((sig, action.clone()));
            }
        }
        Output::default()
    }

    /// The shell is ending with `out`: its `EXIT` trap runs (once), with `$?` the status; an
    /// `exit` inside it sets the shell's.
    pub(crate) async fn exiting(&mut self, mut out: Output) -> Output {
        let Some(i) = self.traps.0.iter().position(|(s, _)| *s == "EXIT") else { return out };
        let (_, action) = self.traps.0.remove(i);
        let status = self.exited.unwrap_or(out.code);
        (self.last_code, self.exited) = (status, None);
        let ran = Box::pin(self.run_script_text(&action, Vec::new())).await;
        out.stdout.extend_from_slice(&ran.stdout);
        out.stderr.push_str(&ran.stderr);
        out.code = self.exited.unwrap_or(status);
        self.exited = Some(out.code);
        out
    }
}

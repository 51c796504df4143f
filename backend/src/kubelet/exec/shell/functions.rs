//! Shell functions: definitions, calls (with positional parameters of their own), `return`, and
//! `local` variables restored when the call ends.

use super::{MAX_DEPTH, Script};
use crate::kubelet::exec::{Ctx, Output};
use std::sync::Arc;

/// The functions a shell has defined, and the calls running.
#[derive(Clone, Default)]
pub struct Functions {
    defined: Vec<(String, Arc<Script>)>,
    /// Per running call, the variables `local` shadowed, with their values before it.
    frames: Vec<Vec<(String, Option<String>)>>,
    /// Set by `return`: the code the running call ends with. The shell unwinds to the call as
    /// it unwinds for `exit`.
    returning: Option<i32>,
}

impl Ctx {
    /// `name() { … }`: defines (or redefines) a function.
    pub(super) fn define(&mut self, name: &str, body: Arc<Script>) {
        let defined = &mut self.functions.defined;
        match defined.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = body,
            None => defined.push((name.to_string(), body)),
        }
    }

    pub(super) fn function(&self, name: &str) -> Option<Arc<Script>> {
        self.functions.defined.iter().find(|(n, _)| n == name).map(|(_, body)| body.clone())
    }

    /// Runs a function with `args` as its positional parameters; the caller's come back after,
    /// as do the variables it made `local`.
    pub(super) async fn call(&mut self, body: Arc<Script>, args: &[String], stdin: Vec<u8>) -> Output {
        if self.depth >= MAX_DEPTH {
            self.last_code = 2;
            return Output::fail(2, format!("{}: too many nested function calls\n", self.shell_name));
        }
        let caller_args = std::mem::replace(&mut self.args, args.to_vec());
        self.functions.frames.push(Vec::new());
        self.depth += 1;
        let mut out = Box::pin(self.run_script(&body, stdin)).await;
        self.depth -= 1;
        if let Some(code) = self.functions.returning.take() {
            self.exited = None;
            out.code = code;
        }
        for (name, before) in self.functions.frames.pop().unwrap_or_default().into_iter().rev() {
            match before {
                Some(value) => self.set_var(&name, value),
                None => self.unexport(&name),
            }
        }
        self.args = caller_args;
        self.last_code = out.code;
        out
    }

    /// `return [n]`: ends the running function with `n` (the last command's code without).
    pub(crate) fn return_from_function(&mut self, args: &[String]) -> Output {
        if self.functions.frames.is_empty() {
            return Output::fail(1, format!("{}: return: not in a function\n", self.shell_name));
        }
        let code = args.first().and_then(|a| a.parse().ok()).unwrap_or(self.last_code);
        self.functions.returning = Some(code);
        self.exited = Some(code);
        Output { code, ..Output::default() }
    }

    /// `local name[=value]…`: the variables are the running function's until it returns.
    pub(crate) fn local(&mut self, args: &[String]) -> Output {
        if self.functions.frames.is_empty() {
            return Output::fail(2, format!("{}: local: not in a function\n", self.shell_name));
        }
        for arg in args {
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            let before = self.var(name);
            if let Some(frame) = self.functions.frames.last_mut()
                && !frame.iter().any(|(n, _)| n == name)
            {
                frame.push((name.to_string(), before));
            }
            if let Some(value) = value {
                self.set_var(name, value);
            }
        }
        Output::default()
    }
}

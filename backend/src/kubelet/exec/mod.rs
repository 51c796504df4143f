//! `exec`: the built-in commands a container runs (never host processes), and the process context
//! they run in (working directory, environment, the container's filesystem). The interpreter is
//! independent of the transport: the JSON exec endpoint, the exec websocket and exec probes all
//! call [`run`] or drive a [`Ctx`].

mod archive;
mod awk;
mod curl;
mod dnstools;
mod expr;
mod files;
mod format;
mod grpc;
pub mod interactive;
mod net;
pub mod resolver;
pub mod shell;
pub mod terminal;
mod text;

use super::PodSandbox;
use super::fs::{self, FsError};
use super::logs::Stream;
use std::sync::Arc;
use svclab_shared::lab::ExecResponse;

/// What a command printed and how it exited. Standard output is bytes, as a process's is
/// (`cat` of an image, `tar cf -`); what goes to standard error is text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub code: i32,
}

impl Output {
    pub fn ok(stdout: impl Into<Vec<u8>>) -> Self {
        Output { stdout: stdout.into(), ..Default::default() }
    }

    /// Writes `text` to standard output.
    pub fn print(&mut self, text: &str) {
        self.stdout.extend_from_slice(text.as_bytes());
    }

    /// Standard output read as text (what is not UTF-8 shown as U+FFFD).
    pub fn stdout_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    pub fn fail(code: i32, stderr: impl Into<String>) -> Self {
        Output { stderr: stderr.into(), code, ..Default::default() }
    }
}

impl From<Output> for ExecResponse {
    fn from(o: Output) -> Self {
        let stdout = String::from_utf8(o.stdout).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        ExecResponse { stdout, stderr: o.stderr, exit_code: o.code }
    }
}

/// Where a process's output goes as it is written.
#[derive(Clone)]
pub enum Console {
    /// A container's main process: its log.
    Log(Arc<super::logs::Log>),
    /// An exec session: chunks in the order written, for its terminal to show as they come.
    Session(tokio::sync::mpsc::UnboundedSender<(Stream, Vec<u8>)>),
}

impl Console {
    fn write(&self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self {
            Console::Log(log) => log.write(stream, &String::from_utf8_lossy(bytes)),
            // The session's end drops the receiver; what is written after it goes nowhere.
            Console::Session(chunks) => drop(chunks.send((stream, bytes.to_vec()))),
        }
    }
}

/// A process's context inside a container: what `cd`, `export` and assignments change.
pub struct Ctx {
    pub sandbox: Arc<PodSandbox>,
    pub container: String,
    pub cwd: String,
    /// The exported environment, in the order `env` prints it.
    env: Vec<(String, String)>,
    /// Shell variables that are not exported.
    locals: Vec<(String, String)>,
    /// The positional parameters, `$1`…: what follows `sh -c SCRIPT NAME`, or `set --` gave.
    pub(crate) args: Vec<String>,
    /// The shell's functions, and the calls running.
    pub(crate) functions: shell::Functions,
    /// The input the running loops' commands share, a line per `read`.
    pub(crate) input: shell::SharedInput,
    /// The jobs started with `&`.
    pub(crate) jobs: shell::Jobs,
    /// What `trap` set.
    pub(crate) traps: shell::Traps,
    pub last_code: i32,
    /// Set by `exit`: the shell stops with this code.
    pub exited: Option<i32>,
    /// How the shell names itself in its messages (`sh`, `bash`).
    pub shell_name: String,
    /// How many scripts run inside one another here (`$(…)`, `sh -c`), to stop runaway nesting
    /// before it exhausts the stack.
    pub(crate) depth: usize,
    /// What `$(…)` substitutions wrote to standard error, for the command they are part of.
    pub(crate) substitution_stderr: String,
    /// Where output goes as it is written: a container's main process's log, or an exec
    /// session's terminal; `None` where the output is wanted when the command ends (the JSON
    /// exec endpoint, exec probes).
    pub(crate) console: Option<Console>,
    /// How many enclosing constructs capture standard output (`$(…)`, the left of a pipe, a
    /// redirection): while any does, standard output is not the console's.
    pub(crate) capturing: usize,
    /// How many enclosing redirections capture standard error (`2> file`, `2>&1`).
    pub(crate) capturing_err: usize,
    /// `set -e`: the shell exits when a command fails (outside a condition).
    pub(crate) errexit: bool,
    /// `set -x`: each command is written to standard error before it runs.
    pub(crate) xtrace: bool,
    /// How many `if`/`while` conditions are being evaluated (where `-e` does not apply).
    pub(crate) condition: usize,
}

const NOT_FOUND_PREFIX: &str = "OCI runtime exec failed: exec failed: unable to start container process: exec:";

impl Ctx {
    pub fn new(sandbox: Arc<PodSandbox>, container: &str) -> Self {
        let env = sandbox.environment(container);
        Ctx {
            sandbox,
            container: container.to_string(),
            cwd: "/".into(),
            env,
            locals: Vec::new(),
            args: Vec::new(),
            functions: shell::Functions::default(),
            input: shell::SharedInput::default(),
            jobs: shell::Jobs::default(),
            traps: shell::Traps::default(),
            last_code: 0,
            exited: None,
            shell_name: "sh".into(),
            depth: 0,
            substitution_stderr: String::new(),
            console: None,
            capturing: 0,
            capturing_err: 0,
            errexit: false,
            xtrace: false,
            condition: 0,
        }
    }

    /// The context of a container's main process, writing to its log as it goes.
    pub fn main_process(sandbox: Arc<PodSandbox>, container: &str, log: Arc<super::logs::Log>) -> Self {
        Ctx { console: Some(Console::Log(log)), ..Ctx::new(sandbox, container) }
    }

    /// Writes what a command printed: to the console when there is one and nothing captures
    /// it, otherwise into `out`.
    pub(crate) fn emit(&self, out: &mut Output, stdout: &[u8], stderr: &str) {
        match &self.console {
            Some(console) => {
                if self.capturing_err == 0 {
                    console.write(Stream::Stderr, stderr.as_bytes());
                } else {
                    out.stderr.push_str(stderr);
                }
                if self.capturing == 0 {
                    console.write(Stream::Stdout, stdout);
                } else {
                    out.stdout.extend_from_slice(stdout);
                }
            }
            None => {
                out.stdout.extend_from_slice(stdout);
                out.stderr.push_str(stderr);
            }
        }
    }

    /// The context of an interactive shell named `name` (`sh`, `bash`).
    pub fn shell(sandbox: Arc<PodSandbox>, container: &str, name: &str) -> Self {
        let mut ctx = Ctx::new(sandbox, container);
        ctx.locals.push(("0".into(), name.to_string()));
        ctx.shell_name = name.to_string();
        ctx
    }

    /// Back at the prompt after Ctrl-C dropped a running script: nothing is nested any more.
    pub fn interrupted(&mut self) {
        self.depth = 0;
        self.substitution_stderr.clear();
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.locals.iter().chain(&self.env).find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn env_var(&self, name: &str) -> Option<String> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn set_var(&mut self, name: &str, value: String) {
        if let Some(slot) = self.env.iter_mut().find(|(k, _)| k == name) {
            slot.1 = value;
        } else if let Some(slot) = self.locals.iter_mut().find(|(k, _)| k == name) {
            slot.1 = value;
        } else {
            self.locals.push((name.to_string(), value));
        }
    }

    fn export(&mut self, name: &str, value: String) {
        self.locals.retain(|(k, _)| k != name);
        match self.env.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.env.push((name.to_string(), value)),
        }
    }

    fn unexport(&mut self, name: &str) {
        self.env.retain(|(k, _)| k != name);
        self.locals.retain(|(k, _)| k != name);
    }

    pub fn path(&self, path: &str) -> String {
        fs::normalize(&self.cwd, path)
    }

    /// Runs `f` on this container's filesystem.
    pub fn with_fs<R>(&self, f: impl FnOnce(&mut fs::Fs) -> R) -> R {
        self.sandbox.with_fs(&self.container, f)
    }

    pub(crate) fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let path = self.path(path);
        self.with_fs(|fs| fs.read(&path))
    }

    fn write_file(&self, path: &str, data: &[u8], append: bool) -> Result<(), FsError> {
        let path = self.path(path);
        self.with_fs(|fs| fs.write(&path, data, append))
    }

    /// The shell's `cd`: to the directory given, or `$HOME`.
    fn cd(&mut self, args: &[String]) -> Output {
        let target = args.first().cloned().or_else(|| self.var("HOME")).unwrap_or_else(|| "/".into());
        let path = self.path(&target);
        match self.with_fs(|fs| fs.stat(&path).map(|n| n.is_dir())) {
            Some(true) => {
                self.cwd = path.clone();
                self.export("PWD", path);
                Output::default()
            }
            Some(false) => Output::fail(2, format!("{}: cd: can't cd to {target}: Not a directory\n", self.shell_name)),
            None => {
                Output::fail(2, format!("{}: cd: can't cd to {target}: No such file or directory\n", self.shell_name))
            }
        }
    }

    /// The shell's own commands (they change the shell itself); `None` for any other.
    fn builtin(&mut self, name: &str, args: &[String], stdin: &[u8]) -> Option<Output> {
        Some(match name {
            "cd" => self.cd(args),
            "pwd" => Output::ok(format!("{}\n", self.cwd)),
            "export" => {
                for arg in args {
                    match arg.split_once('=') {
                        Some((k, v)) => self.export(k, v.to_string()),
                        None => {
                            let value = self.var(arg).unwrap_or_default();
                            self.export(arg, value);
                        }
                    }
                }
                Output::default()
            }
            "unset" => {
                for arg in args {
                    self.unexport(arg);
                }
                Output::default()
            }
            "exit" => {
                let code = args.first().and_then(|a| a.parse().ok()).unwrap_or(self.last_code);
                self.exited = Some(code);
                Output { code, ..Default::default() }
            }
            "return" => self.return_from_function(args),
            "read" => self.read(args, stdin),
            "local" => self.local(args),
            "trap" => self.trap(args),
            "shift" => {
                let n = args.first().map_or(Some(1), |a| a.parse::<usize>().ok());
                match n.filter(|n| *n <= self.args.len()) {
                    Some(n) => {
                        self.args.drain(..n);
                        Output::default()
                    }
                    None => Output::fail(1, format!("{}: shift: can't shift that many\n", self.shell_name)),
                }
            }
            "set" => {
                if let Some(i) = args.iter().position(|a| a == "--") {
                    self.args = args[i + 1..].to_vec();
                }
                for arg in args.iter().take_while(|a| *a != "--") {
                    let on = arg.starts_with('-');
                    for flag in arg.trim_start_matches(['-', '+']).chars() {
                        match flag {
                            'e' => self.errexit = on,
                            'x' => self.xtrace = on,
                            _ => {}
                        }
                    }
                }
                Output::default()
            }
            _ => return None,
        })
    }

    /// Runs one command (a builtin of the shell or a program), `argv[0]` resolved as `$PATH` would.
    pub async fn command(&mut self, argv: &[String], stdin: Vec<u8>) -> Output {
        let Some(program) = argv.first() else { return Output::default() };
        let name = program.rsplit('/').next().unwrap_or(program).to_string();
        let args = &argv[1..];
        if let Some(out) = self.builtin(&name, args, &stdin) {
            return out;
        }
        match name.as_str() {
            "seq" => awk::seq(args),
            "expr" => expr::expr(args),
            "awk" => awk::awk(self, args, stdin),
            ":" | "true" => Output::default(),
            "false" => Output::fail(1, ""),
            "sh" | "bash" | "ash" => self.subshell(&name, args, stdin).await,
            "curl" => curl::run(self, args).await,
            "wget" => curl::wget(self, args).await,
            "ping" => net::ping(self, args).await,
            "grpc_health_probe" => grpc::health_probe(self, args).await,
            "grpcurl" => grpc::grpcurl(self, args).await,
            "dig" => dnstools::dig(self, args).await,
            "nslookup" => dnstools::nslookup(self, args).await,
            "sleep" => net::sleep(self, args).await,
            "hostname" => net::hostname(self, args),
            "env" if !args.is_empty() => self.env_run(args, stdin).await,
            "env" | "printenv" => self.env_command(&name, args),
            "echo" => echo(args),
            "test" | "[" => text::test(self, &name, args),
            "cat" | "ls" | "touch" | "rm" | "rmdir" | "mkdir" => files::run(self, &name, args, stdin),
            "tar" => archive::tar(self, args, stdin),
            "grep" | "wc" | "head" | "tail" | "sort" | "uniq" | "tr" => text::run(self, &name, args, stdin),
            "whoami" => Output::ok("root\n"),
            "id" => Output::ok("uid=0(root) gid=0(root) groups=0(root)\n"),
            "uname" => uname(args),
            "date" => format::date(args),
            "printf" => format::printf(args),
            "ps" => self.ps(),
            _ => {
                let in_shell = self.shell_name_active();
                if in_shell {
                    Output::fail(127, format!("{}: {program}: not found\n", self.shell_name))
                } else {
                    Output::fail(
                        127,
                        format!("{NOT_FOUND_PREFIX} \"{program}\": executable file not found in $PATH: unknown\n"),
                    )
                }
            }
        }
    }

    /// Whether commands run under a shell (errors are then the shell's, not the runtime's).
    fn shell_name_active(&self) -> bool {
        self.var("0").is_some()
    }

    /// A copy of this shell, for `( … )`: its variables, functions, directory and options, whose
    /// changes stay in the copy.
    pub(crate) fn fork(&self) -> Ctx {
        Ctx {
            sandbox: self.sandbox.clone(),
            container: self.container.clone(),
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            locals: self.locals.clone(),
            args: self.args.clone(),
            functions: self.functions.clone(),
            input: self.input.clone(),
            jobs: shell::Jobs::default(),
            traps: shell::Traps::default(),
            last_code: self.last_code,
            exited: None,
            shell_name: self.shell_name.clone(),
            depth: self.depth + 1,
            substitution_stderr: String::new(),
            console: self.console.clone(),
            capturing: self.capturing,
            capturing_err: self.capturing_err,
            errexit: self.errexit,
            xtrace: self.xtrace,
            condition: self.condition,
        }
    }

    /// `sh -c 'script'`, `sh script-file`, or `sh` reading its script from standard input.
    async fn subshell(&mut self, name: &str, args: &[String], stdin: Vec<u8>) -> Output {
        // A new shell process: the environment, directory and console carry over; variables,
        // functions, arguments, input and options start afresh.
        let mut child = Ctx {
            locals: vec![("0".into(), name.to_string())],
            args: Vec::new(),
            functions: shell::Functions::default(),
            input: shell::SharedInput::default(),
            last_code: 0,
            shell_name: name.to_string(),
            depth: self.depth,
            errexit: false,
            xtrace: false,
            condition: 0,
            ..self.fork()
        };
        // Option letters may come together (`sh -exc script`).
        let mut args = args;
        let mut command_string = false;
        while let Some(flags) =
            args.first().filter(|a| a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| "ecxu".contains(c)))
        {
            for flag in flags[1..].chars() {
                match flag {
                    'e' => child.errexit = true,
                    'x' => child.xtrace = true,
                    'c' => command_string = true,
                    _ => {}
                }
            }
            args = &args[1..];
        }
        // `sh -c SCRIPT NAME ARG…`: NAME is `$0`, the rest `$1`…; `sh FILE ARG…`: FILE is `$0`.
        let (zero, positional) = match command_string {
            true => (args.get(1), args.get(2..)),
            false => (args.first().filter(|f| !f.starts_with('-')), args.get(1..)),
        };
        if let Some(zero) = zero {
            child.set_var("0", zero.clone());
        }
        child.args = positional.unwrap_or_default().to_vec();
        let out = match (command_string, args.first().map(String::as_str)) {
            (true, Some(script)) => child.run_script_text(script, stdin).await,
            (true, None) => Output::fail(2, format!("{name}: -c requires an argument\n")),
            (false, first) => match first {
                Some(file) if !file.starts_with('-') => match self.read_file(file) {
                    Ok(script) => child.run_script_text(&String::from_utf8_lossy(&script), Vec::new()).await,
                    Err(e) => Output::fail(127, format!("{name}: can't open '{file}': {e}\n")),
                },
                _ => child.run_script_text(&String::from_utf8_lossy(&stdin), Vec::new()).await,
            },
        };
        let out = Output { code: child.exited.unwrap_or(out.code), ..out };
        child.exiting(out).await
    }

    /// `env [-i] [-u NAME] [NAME=VALUE]… [COMMAND [ARG]…]`: the command runs with the
    /// environment changed (printed when there is no command); the shell's own is kept.
    async fn env_run(&mut self, args: &[String], stdin: Vec<u8>) -> Output {
        let saved = self.env.clone();
        let mut rest = args;
        while let Some(arg) = rest.first() {
            match arg.as_str() {
                "-i" | "-" => self.env.clear(),
                "-u" => {
                    if let Some(name) = rest.get(1) {
                        self.env.retain(|(k, _)| k != name);
                        rest = &rest[1..];
                    }
                }
                a if a.contains('=') && !a.starts_with('=') => {
                    let (k, v) = a.split_once('=').unwrap_or_default();
                    self.export(k, v.to_string());
                }
                _ => break,
            }
            rest = &rest[1..];
        }
        let out =
            if rest.is_empty() { self.env_command("env", &[]) } else { Box::pin(self.command(rest, stdin)).await };
        self.env = saved;
        out
    }

    fn env_command(&self, name: &str, args: &[String]) -> Output {
        if name == "printenv" && !args.is_empty() {
            let found: Vec<&str> =
                args.iter().filter_map(|a| self.env.iter().find(|(k, _)| k == a).map(|(_, v)| v.as_str())).collect();
            let code = if found.len() == args.len() { 0 } else { 1 };
            let stdout: String = found.iter().map(|v| format!("{v}\n")).collect();
            return Output { stdout: stdout.into(), stderr: String::new(), code };
        }
        Output::ok(self.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>())
    }

    /// The processes the container sees: its main process; an ephemeral container with a
    /// target shares the target's process namespace, whose main process is PID 1.
    fn ps(&self) -> Output {
        let target = self.sandbox.container(&self.container).and_then(|c| c.target.clone());
        let processes = target.iter().chain(std::iter::once(&self.container));
        let mut out = String::from("PID   USER     TIME  COMMAND\n");
        for (pid, container) in [1, 7].into_iter().zip(processes) {
            out.push_str(&format!("{pid:>5} root      0:00 {}\n", self.sandbox.main_command(container)));
        }
        Output::ok(out)
    }
}

fn uname(args: &[String]) -> Output {
    let all = args.iter().any(|a| a == "-a");
    if all {
        Output::ok(format!("Linux svclab 6.1.0-svclab #1 SMP {} GNU/Linux\n", std::env::consts::ARCH))
    } else {
        Output::ok("Linux\n")
    }
}

fn echo(args: &[String]) -> Output {
    let (newline, words) = match args.first().map(String::as_str) {
        Some("-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let mut out = words.join(" ");
    if newline {
        out.push('\n');
    }
    Output::ok(out)
}

/// Runs `argv` in `container` of the pod, as `kubectl exec pod -- argv…` does.
pub async fn run(sandbox: &Arc<PodSandbox>, container: &str, argv: &[String]) -> Output {
    run_with_stdin(sandbox, container, argv, Vec::new()).await
}

/// [`run`] with standard input.
pub async fn run_with_stdin(sandbox: &Arc<PodSandbox>, container: &str, argv: &[String], stdin: Vec<u8>) -> Output {
    if argv.is_empty() {
        return Output::fail(126, format!("{NOT_FOUND_PREFIX} no command: unknown\n"));
    }
    let mut ctx = Ctx::new(sandbox.clone(), container);
    let stop = sandbox.cancelled();
    tokio::select! {
        out = ctx.command(argv, stdin) => out,
        _ = stop.cancelled() => Output::fail(137, ""),
    }
}

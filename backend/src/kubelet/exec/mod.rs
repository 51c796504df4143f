//! `exec`: the built-in commands a container runs (never host processes). The interpreter is
//! independent of the transport: the JSON exec endpoint calls [`run`], and so will a websocket.

mod curl;

use super::PodSandbox;
use svclab_shared::lab::ExecResponse;

/// What a command printed and how it exited.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Output {
    pub fn ok(stdout: impl Into<String>) -> Self {
        Output { stdout: stdout.into(), ..Default::default() }
    }

    pub fn fail(code: i32, stderr: impl Into<String>) -> Self {
        Output { stderr: stderr.into(), code, ..Default::default() }
    }
}

impl From<Output> for ExecResponse {
    fn from(o: Output) -> Self {
        ExecResponse { stdout: o.stdout, stderr: o.stderr, exit_code: o.code }
    }
}

/// Runs `argv` in `container` of the pod.
pub async fn run(sandbox: &PodSandbox, container: &str, argv: &[String]) -> Output {
    let Some(program) = argv.first() else {
        return Output::fail(
            126,
            "OCI runtime exec failed: exec failed: unable to start container process: exec: no command: unknown\n",
        );
    };
    let name = program.rsplit('/').next().unwrap_or(program);
    let args = &argv[1..];
    match name {
        "curl" => curl::run(sandbox, args).await,
        "env" | "printenv" => env(sandbox, container, name, args),
        "hostname" => Output::ok(format!("{}\n", sandbox.hostname)),
        "echo" => echo(args),
        "cat" => cat(sandbox, args),
        "true" => Output::default(),
        "false" => Output::fail(1, ""),
        _ => Output::fail(
            127,
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": executable file not found in $PATH: unknown\n"
            ),
        ),
    }
}

fn env(sandbox: &PodSandbox, container: &str, name: &str, args: &[String]) -> Output {
    let vars = sandbox.environment(container);
    if name == "printenv" && !args.is_empty() {
        let found: Vec<&str> =
            args.iter().filter_map(|a| vars.iter().find(|(k, _)| k == a).map(|(_, v)| v.as_str())).collect();
        let code = if found.len() == args.len() { 0 } else { 1 };
        let stdout: String = found.iter().map(|v| format!("{v}\n")).collect();
        return Output { stdout, stderr: String::new(), code };
    }
    Output::ok(vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>())
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

fn cat(sandbox: &PodSandbox, args: &[String]) -> Output {
    let mut out = Output::default();
    for path in args {
        match path.as_str() {
            "/etc/hostname" => out.stdout.push_str(&format!("{}\n", sandbox.hostname)),
            "/etc/hosts" => out.stdout.push_str(&sandbox.etc_hosts()),
            other => {
                out.stderr.push_str(&format!("cat: {other}: No such file or directory\n"));
                out.code = 1;
            }
        }
    }
    out
}

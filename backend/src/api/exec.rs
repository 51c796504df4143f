//! Pod exec at Kubernetes' path, `…/namespaces/{ns}/pods/{name}/exec`:
//! - `GET` with a websocket upgrade speaks the `v5.channel.k8s.io` (or `v4`) channel protocol, as
//!   kubectl and the dashboard's terminal do: channel 0 stdin, 1 stdout, 2 stderr, 3 the final
//!   `metav1.Status`, 4 resize, 255 close (v5: the client's stdin is done). A shell with `stdin`
//!   runs interactively (with `tty`: echo, line editing, a prompt, Ctrl-C);
//! - `POST` with a JSON body (`{"command": [...]}`) or kubectl's query runs one command and
//!   answers with its output and exit code.

use super::ApiState;
use crate::error::ApiError;
use crate::kubelet::PodSandbox;
use crate::kubelet::exec::terminal::{self, Input, LineEditor};
use crate::kubelet::exec::{self, Ctx, Output};
use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use svclab_shared::Kind;
use svclab_shared::lab::{ExecRequest, ExecResponse};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

/// `PodExecOptions` from the query (`command` repeats).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub container: Option<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecOptions {
    pub fn from_query(query: &str) -> Self {
        let mut o =
            ExecOptions { command: vec![], container: None, stdin: false, stdout: true, stderr: true, tty: false };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let yes = v == "true" || v == "1";
            match k.as_ref() {
                "command" => o.command.push(v.into_owned()),
                "container" => o.container = Some(v.into_owned()).filter(|c| !c.is_empty()),
                "stdin" => o.stdin = yes,
                "stdout" => o.stdout = yes,
                "stderr" => o.stderr = yes,
                "tty" => o.tty = yes,
                _ => {}
            }
        }
        o
    }
}

/// The running container an exec (or an attach) goes to, with the API server's refusals.
pub(super) fn target(
    state: &ApiState,
    ns: &str,
    name: &str,
    container: Option<String>,
) -> Result<(Arc<PodSandbox>, String), ApiError> {
    let pod: Pod = state.store().get_typed(ns, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
    let (containers, init) = svclab_shared::pod::container_names(&pod);
    let container = match container {
        Some(c) if containers.contains(&c) || init.contains(&c) => c,
        Some(c) => return Err(ApiError::BadRequest(format!("container {c} is not valid for pod {name}"))),
        None => containers.first().cloned().unwrap_or_default(),
    };
    let not_found =
        || ApiError::BadRequest(format!("unable to upgrade connection: container not found (\"{container}\")"));
    let sandbox = state.sandboxes.get(ns, name).ok_or_else(not_found)?;
    let running = sandbox.container(&container).is_some_and(|c| c.is_running());
    if !running {
        return Err(not_found());
    }
    Ok((sandbox, container))
}

/// `POST …/exec`: one command, its output as JSON.
pub async fn post(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<ExecResponse>, ApiError> {
    let request: ExecRequest = if body.iter().all(u8::is_ascii_whitespace) {
        let o = ExecOptions::from_query(uri.query().unwrap_or_default());
        ExecRequest { command: o.command, container: o.container }
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid exec request: {e}")))?
    };
    let (sandbox, container) = target(&state, &ns, &name, request.container)?;
    Ok(Json(exec::run(&sandbox, &container, &request.command).await.into()))
}

/// A WebSocket upgrade speaking the channel protocol (`v5.channel.k8s.io`, or `v4`), as exec
/// and attach do.
pub(super) fn channels(
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, ApiError> {
    let upgrade = upgrade.map_err(|_| ApiError::BadRequest("Upgrade request required".into()))?;
    Ok(upgrade.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"]))
}

/// `GET …/exec` with a websocket upgrade.
pub async fn socket(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let options = ExecOptions::from_query(uri.query().unwrap_or_default());
    if options.command.is_empty() {
        return Err(ApiError::BadRequest("you must specify at least 1 command".into()));
    }
    let (sandbox, container) = target(&state, &ns, &name, options.container.clone())?;
    let upgrade = channels(upgrade)?;
    let cancel = state.cancel.clone();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            let session = Session::new(socket, options, sandbox, container);
            tokio::select! {
                _ = session.run() => {}
                _ = cancel.cancelled() => {}
            }
        })
        .into_response())
}

/// One exec websocket: the frames out, stdin in.
struct Session {
    options: ExecOptions,
    sandbox: Arc<PodSandbox>,
    container: String,
    sink: futures::stream::SplitSink<WebSocket, Message>,
    /// Stdin chunks; `None` once the client closed stdin.
    stdin: mpsc::Receiver<Option<Vec<u8>>>,
    /// Fires when the client goes away.
    gone: CancellationToken,
    reader: tokio::task::JoinHandle<()>,
}

impl Session {
    fn new(socket: WebSocket, options: ExecOptions, sandbox: Arc<PodSandbox>, container: String) -> Self {
        let (sink, mut stream) = socket.split();
        let (tx, stdin) = mpsc::channel(64);
        let gone = CancellationToken::new();
        let signal = gone.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let data = match message {
                    Message::Binary(b) => b.to_vec(),
                    // Some clients send text frames with the same framing.
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let sent = match data.split_first() {
                    Some((&STDIN, rest)) => tx.send(Some(rest.to_vec())).await,
                    Some((&CLOSE, [STDIN, ..])) => tx.send(None).await,
                    // Resize (4) and anything else: a simulated terminal has no size to change.
                    _ => Ok(()),
                };
                if sent.is_err() {
                    break;
                }
            }
            let _ = tx.send(None).await;
            signal.cancel();
        });
        Session { options, sandbox, container, sink, stdin, gone, reader }
    }

    async fn frame(&mut self, channel: u8, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 1);
        frame.push(channel);
        frame.extend_from_slice(data);
        let _ = self.sink.send(Message::Binary(frame.into())).await;
    }

    /// Writes a command's output: on a tty everything goes to stdout with CR LF.
    async fn output(&mut self, out: &Output) {
        if self.options.tty {
            let text = format!("{}{}", out.stdout_text(), out.stderr);
            self.frame(STDOUT, &terminal::to_terminal(&text)).await;
            return;
        }
        if self.options.stdout {
            self.frame(STDOUT, &out.stdout).await;
        }
        if self.options.stderr {
            self.frame(STDERR, out.stderr.as_bytes()).await;
        }
    }

    async fn run(mut self) {
        let argv = self.options.command.clone();
        let program = argv[0].rsplit('/').next().unwrap_or_default().to_string();
        let shell =
            matches!(program.as_str(), "sh" | "bash" | "ash") && argv[1..].iter().all(|a| a == "-i" || a == "-l");
        let code = if shell && self.options.stdin { self.shell(&program).await } else { self.command(&argv).await };
        let status = if code == 0 {
            json!({"metadata": {}, "status": "Success"})
        } else {
            json!({
                "metadata": {},
                "status": "Failure",
                "message": format!(
                    "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                    argv.join(" ")
                ),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
            })
        };
        self.frame(STATUS, status.to_string().as_bytes()).await;
        // A normal closure (1000) ends the session; without a code kubectl reports an error.
        let close = axum::extract::ws::CloseFrame { code: 1000, reason: "".into() };
        let _ = self.sink.send(Message::Close(Some(close))).await;
        self.reader.abort();
    }

    /// The shell's prompt, on a tty only.
    async fn prompt(&mut self, shell: &str, ctx: &Ctx) {
        if self.options.tty {
            let prompt = terminal::prompt(shell, &self.sandbox.hostname, &ctx.cwd);
            self.frame(STDOUT, prompt.as_bytes()).await;
        }
    }

    /// A single command; its stdin is what the client sends until it closes stdin.
    async fn command(&mut self, argv: &[String]) -> i32 {
        let mut input = Vec::new();
        if self.options.stdin {
            while let Some(Some(chunk)) = self.stdin.recv().await {
                // On a tty, Ctrl-D ends the input.
                if self.options.tty && chunk.contains(&0x04) {
                    input.extend(chunk.split(|b| *b == 0x04).next().unwrap_or_default());
                    break;
                }
                input.extend(chunk);
            }
        }
        let mut ctx = Ctx::new(self.sandbox.clone(), &self.container);
        let stop = self.sandbox.cancelled();
        let out = tokio::select! {
            out = ctx.command(argv, input) => out,
            _ = self.gone.cancelled() => return 130,
            _ = stop.cancelled() => Output::fail(137, ""),
        };
        self.output(&out).await;
        out.code
    }

    /// An interactive shell: lines in, output and prompts out, until `exit` or end of input.
    async fn shell(&mut self, name: &str) -> i32 {
        let mut ctx = Ctx::shell(self.sandbox.clone(), &self.container, name);
        let tty = self.options.tty;
        let mut editor = LineEditor::default();
        let mut raw_line = Vec::new();
        let mut typeahead: VecDeque<Option<Vec<u8>>> = VecDeque::new();
        self.prompt(name, &ctx).await;
        loop {
            let chunk = match typeahead.pop_front() {
                Some(c) => c,
                None => self.stdin.recv().await.unwrap_or(None),
            };
            // Without a tty, input is read line by line with no echo.
            let inputs = match (&chunk, tty) {
                (None, _) => vec![Input::Eof],
                (Some(bytes), true) => editor.feed(bytes),
                (Some(bytes), false) => {
                    raw_line.extend_from_slice(bytes);
                    let mut lines = Vec::new();
                    while let Some(i) = raw_line.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = raw_line.drain(..=i).collect();
                        lines.push(Input::Line(String::from_utf8_lossy(&line[..i]).into_owned()));
                    }
                    lines
                }
            };
            for input in inputs {
                match input {
                    Input::Echo(bytes) => self.frame(STDOUT, &bytes).await,
                    Input::Interrupt => {
                        ctx.last_code = 130;
                        self.prompt(name, &ctx).await;
                    }
                    Input::Eof => {
                        if !tty && !raw_line.is_empty() {
                            let line = String::from_utf8_lossy(&std::mem::take(&mut raw_line)).into_owned();
                            let out = ctx.run_script_text(&line, Vec::new()).await;
                            self.output(&out).await;
                        }
                        if tty {
                            self.frame(STDOUT, b"exit\r\n").await;
                        }
                        return ctx.exited.unwrap_or(ctx.last_code);
                    }
                    Input::Line(line) => {
                        let out = {
                            let run = ctx.run_script_text(&line, Vec::new());
                            let interrupted = interrupted(&mut self.stdin, &mut typeahead);
                            tokio::select! {
                                out = run => out,
                                _ = interrupted => {
                                    self.frame(STDOUT, b"^C\r\n").await;
                                    Output { code: 130, ..Default::default() }
                                }
                            }
                        };
                        if out.code == 130 {
                            // The interrupted script's frames were dropped mid-way.
                            ctx.interrupted();
                        }
                        ctx.last_code = out.code;
                        self.output(&out).await;
                        if let Some(code) = ctx.exited {
                            return code;
                        }
                        self.prompt(name, &ctx).await;
                    }
                }
            }
            if self.gone.is_cancelled() && typeahead.is_empty() {
                return ctx.last_code;
            }
        }
    }
}

/// Reads input while a command runs: resolves on Ctrl-C; other input waits its turn.
async fn interrupted(stdin: &mut mpsc::Receiver<Option<Vec<u8>>>, typeahead: &mut VecDeque<Option<Vec<u8>>>) {
    loop {
        match stdin.recv().await {
            Some(Some(chunk)) if chunk.contains(&0x03) => return,
            Some(chunk) => typeahead.push_back(chunk),
            None => std::future::pending::<()>().await,
        }
    }
}

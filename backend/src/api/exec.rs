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
use crate::kubelet::exec::interactive::{self, Stdin, Terminal};
use crate::kubelet::exec::{self, Ctx};
use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
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

/// What a session does to a container, as the API server's refusals name it.
#[derive(Clone, Copy)]
pub(super) enum Verb {
    Exec,
    Attach,
}

/// The running container an exec (or an attach) goes to, with the API server's refusals.
pub(super) fn target(
    state: &ApiState,
    ns: &str,
    name: &str,
    container: Option<String>,
    verb: Verb,
) -> Result<(Arc<PodSandbox>, String), ApiError> {
    let pod: Pod = state.store().get_typed(ns, name).ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
    if let Some(phase) =
        pod.status.as_ref().and_then(|s| s.phase.as_deref()).filter(|p| matches!(*p, "Succeeded" | "Failed"))
    {
        let what = match verb {
            Verb::Exec => "exec into",
            Verb::Attach => "attach to",
        };
        return Err(ApiError::BadRequest(format!(
            "cannot {what} a container in a completed pod; current phase is {phase}"
        )));
    }
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
    let (sandbox, container) = target(&state, &ns, &name, request.container, Verb::Exec)?;
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
    let (sandbox, container) = target(&state, &ns, &name, options.container.clone(), Verb::Exec)?;
    let upgrade = channels(upgrade)?;
    let cancel = state.cancel.clone();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            tokio::select! {
                _ = session(socket, options, sandbox, container) => {}
                _ = cancel.cancelled() => {}
            }
        })
        .into_response())
}

/// One channel-protocol websocket, split: frames out ([`Frames`]), the client's standard input
/// in, and a token that fires when the client goes away.
pub(super) struct Channels {
    pub frames: Frames,
    /// Stdin chunks; `None` once the client closed stdin (or left).
    pub stdin: Stdin,
    pub gone: CancellationToken,
    reader: tokio::task::JoinHandle<()>,
}

impl Channels {
    pub fn new(socket: WebSocket, options: &ExecOptions) -> Self {
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
        let frames = Frames { sink, tty: options.tty, stdout: options.stdout, stderr: options.stderr };
        Channels { frames, stdin, gone, reader }
    }

    /// Sends the final status (channel 3) and closes the websocket normally.
    pub async fn finish(mut self, status: serde_json::Value) {
        self.frames.frame(STATUS, status.to_string().as_bytes()).await;
        // A normal closure (1000) ends the session; without a code kubectl reports an error.
        let close = axum::extract::ws::CloseFrame { code: 1000, reason: "".into() };
        let _ = self.frames.sink.send(Message::Close(Some(close))).await;
        self.reader.abort();
    }
}

/// The way out of a channel-protocol websocket.
pub(super) struct Frames {
    sink: futures::stream::SplitSink<WebSocket, Message>,
    tty: bool,
    stdout: bool,
    stderr: bool,
}

impl Frames {
    async fn frame(&mut self, channel: u8, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 1);
        frame.push(channel);
        frame.extend_from_slice(data);
        let _ = self.sink.send(Message::Binary(frame.into())).await;
    }
}

impl Terminal for Frames {
    fn tty(&self) -> bool {
        self.tty
    }

    async fn write(&mut self, stdout: bool, bytes: &[u8]) {
        match stdout {
            true if self.stdout || self.tty => self.frame(STDOUT, bytes).await,
            false if self.stderr => self.frame(STDERR, bytes).await,
            _ => {}
        }
    }
}

/// The final status of a command that exited with `code`, as the kubelet reports it.
pub(super) fn exit_status(code: i32, argv: &[String]) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
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
}

/// One exec: the command runs in the container, its input and output on the websocket.
async fn session(socket: WebSocket, options: ExecOptions, sandbox: Arc<PodSandbox>, container: String) {
    let mut channels = Channels::new(socket, &options);
    let argv = &options.command;
    let code = if options.stdin {
        interactive::run(sandbox, &container, argv, &mut channels.stdin, &mut channels.frames, &channels.gone).await
    } else {
        // No input: a shell named alone reads none and ends, as `kubectl exec pod -- sh` does.
        let (_, mut closed) = mpsc::channel(1);
        let mut ctx = Ctx::new(sandbox, &container);
        interactive::command(&mut ctx, argv, &mut closed, &mut channels.frames, &channels.gone).await
    };
    channels.finish(exit_status(code, argv)).await;
}

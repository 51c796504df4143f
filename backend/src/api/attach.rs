//! `kubectl attach` (and `kubectl run -i`, `kubectl debug -i`): `…/pods/{name}/attach` upgraded
//! to a WebSocket of the exec channel protocol (`v5.channel.k8s.io`): what the container's main
//! process writes from now on, stdout on channel 1 and stderr on 2 (both on 1 with a terminal),
//! until it exits or the client goes. A container with `stdin: true` reads what the client types
//! (its shell runs interactively); another's programs read no input, so typing is dropped.

use super::ApiState;
use super::exec::{Channels, ExecOptions, Verb};
use crate::error::ApiError;
use crate::kubelet::container::ContainerRuntime;
use crate::kubelet::exec::interactive::Terminal;
use crate::kubelet::logs::Stream;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::broadcast;

/// `GET …/attach` with a WebSocket upgrade.
pub async fn socket(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let options = ExecOptions::from_query(uri.query().unwrap_or_default());
    let (sandbox, container) = super::exec::target(&state, &ns, &name, options.container.clone(), Verb::Attach)?;
    let container = sandbox.container(&container).ok_or_else(|| {
        ApiError::BadRequest(format!("unable to upgrade connection: container not found (\"{container}\")"))
    })?;
    let upgrade = super::exec::channels(upgrade)?;
    let cancel = state.cancel.clone();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            tokio::select! {
                _ = attach(socket, options, container) => {}
                _ = cancel.cancelled() => {}
            }
        })
        .into_response())
}

/// `POST …/attach`, the SPDY upgrade kubectl falls back to when the WebSocket one is refused:
/// the same refusals (a completed pod, say: kubectl then streams the logs instead, saying why);
/// SPDY itself is not served.
pub async fn spdy(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let options = ExecOptions::from_query(uri.query().unwrap_or_default());
    super::exec::target(&state, &ns, &name, options.container, Verb::Attach)?;
    Err(ApiError::BadRequest("attach over SPDY is not served: upgrade to a WebSocket (v5.channel.k8s.io)".into()))
}

/// Streams what the main process writes from now on until its run ends or the client leaves;
/// with `stdin`, what the client types goes to the process's standard input, which closes when
/// this session's input does if the container has `stdinOnce`.
async fn attach(socket: WebSocket, options: ExecOptions, container: Arc<ContainerRuntime>) {
    let mut channels = Channels::new(socket, &options);
    let Some(mut tail) = container.log().follow() else {
        channels.finish(json!({"metadata": {}, "status": "Success"})).await;
        return;
    };
    let stdin = if options.stdin { container.stdin() } else { None };
    let once = container.definition().spec.stdin_once == Some(true);
    let ended = {
        let typed = &mut channels.stdin;
        let forward = async {
            if let Some(process) = &stdin {
                while let Some(Some(chunk)) = typed.recv().await {
                    if process.send(Some(chunk)).await.is_err() {
                        break;
                    }
                }
                if once {
                    container.close_stdin();
                }
            }
            std::future::pending::<()>().await
        };
        tokio::pin!(forward);
        let (frames, gone) = (&mut channels.frames, &channels.gone);
        loop {
            tokio::select! {
                written = tail.recv() => match written {
                    Ok((stream, text)) => frames.write(options.tty || stream == Stream::Stdout, text.as_bytes()).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break true,
                },
                _ = gone.cancelled() => break false,
                _ = &mut forward => {}
            }
        }
    };
    if ended {
        channels.finish(json!({"metadata": {}, "status": "Success"})).await;
    } else if stdin.is_some() && once {
        container.close_stdin();
    }
}

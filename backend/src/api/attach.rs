//! `kubectl attach`: `…/namespaces/{ns}/pods/{name}/attach` upgraded to a WebSocket of the exec
//! channel protocol (`v5.channel.k8s.io`): what the container's main process writes from now on,
//! stdout on channel 1 and stderr on 2 (both on 1 with a terminal), until it exits or the client
//! goes. The built-in programs read no standard input, so what the client types is dropped.

use super::ApiState;
use super::exec::ExecOptions;
use crate::error::ApiError;
use crate::kubelet::logs::Stream;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;

/// `GET …/attach` with a WebSocket upgrade.
pub async fn socket(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let options = ExecOptions::from_query(uri.query().unwrap_or_default());
    let (sandbox, container) = super::exec::target(&state, &ns, &name, options.container.clone())?;
    let log = sandbox.container(&container).map(|c| c.log()).ok_or_else(|| {
        ApiError::BadRequest(format!("unable to upgrade connection: container not found (\"{container}\")"))
    })?;
    let upgrade = super::exec::channels(upgrade)?;
    let cancel = state.cancel.clone();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            tokio::select! {
                _ = attach(socket, log, options.tty) => {}
                _ = cancel.cancelled() => {}
            }
        })
        .into_response())
}

/// Streams the log from its end now, until the container's run ends or the client leaves.
async fn attach(socket: WebSocket, log: Arc<crate::kubelet::logs::Log>, tty: bool) {
    let (mut sink, mut incoming) = socket.split();
    // The client's side: stdin and resizes are dropped; a close or a dropped connection ends it.
    let (left, mut gone) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        drop(left);
    });
    let (_, mut next, _) = log.read_from(0);
    loop {
        let changed = log.changed();
        let (lines, after, closed) = log.read_from(next);
        next = after;
        for line in lines {
            let channel = if tty || line.stream == Stream::Stdout { 1 } else { 2 };
            let mut frame = vec![channel];
            frame.extend_from_slice(line.text.as_bytes());
            if sink.send(Message::Binary(frame.into())).await.is_err() {
                reader.abort();
                return;
            }
        }
        if closed {
            let mut status = vec![3];
            status.extend_from_slice(json!({"metadata": {}, "status": "Success"}).to_string().as_bytes());
            let _ = sink.send(Message::Binary(status.into())).await;
            let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
            break;
        }
        tokio::select! {
            _ = changed => {}
            _ = &mut gone => break,
        }
    }
    reader.abort();
}

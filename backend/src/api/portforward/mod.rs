//! `kubectl port-forward`: `…/namespaces/{ns}/pods/{name}/portforward` upgraded to a WebSocket
//! of subprotocol `SPDY/3.1+portforward.k8s.io`, which carries SPDY (kubectl 1.31 and later
//! tunnel it so). Each forwarded connection is a pair of streams the client opens, `error` and
//! `data`, tied by a `requestID` and naming a `port`; the kubelet's side, here, connects to that
//! port on the pod and copies both ways, and writes to the error stream if it cannot.

mod spdy;

use super::ApiState;
use crate::error::ApiError;
use crate::network::{Dial, To};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use spdy::{FLAG_FIN, Frame, Headers};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use svclab_shared::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a forwarded connection holds of the client's data before the session stops reading
/// (chunks of a WebSocket message each).
const UPLOAD_CHUNKS: usize = 64;

/// The WebSocket subprotocol client-go's tunnelling dialer asks for.
const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// `GET …/portforward` with a WebSocket upgrade.
pub async fn socket(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let pod: Pod = state.store().get_typed(&ns, &name).ok_or_else(|| ApiError::not_found(Kind::Pod, &name))?;
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse::<Ipv4Addr>().ok());
    let Some(ip) = ip.filter(|_| phase == "Running") else {
        let why = format!("unable to upgrade connection: pod {name} is not running (phase {phase:?})");
        return Err(ApiError::BadRequest(why));
    };
    let upgrade = upgrade.map_err(|_| ApiError::BadRequest("Upgrade request required".into()))?;
    let cancel = state.cancel.clone();
    let pod = Target { ip, name, namespace: ns, uid: pod.metadata.uid.unwrap_or_default() };
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            tokio::select! {
                _ = session(socket, state, pod) => {}
                _ = cancel.cancelled() => {}
            }
        })
        .into_response())
}

/// The pod being forwarded to.
#[derive(Clone)]
struct Target {
    ip: Ipv4Addr,
    name: String,
    namespace: String,
    uid: String,
}

/// A forwarded connection: its two streams, as they are opened.
#[derive(Default)]
struct Pair {
    port: u16,
    error: Option<u32>,
    data: Option<u32>,
    /// What the client sends on the data stream, for the pod; `None` once it is done sending.
    to_pod: Option<mpsc::Sender<Vec<u8>>>,
}

/// One SPDY session over the WebSocket: frames in, handled one at a time; frames out through
/// two channels, the session's control frames ahead of the copies' data (whose channel is
/// bounded, so a client that reads slowly slows the pod's side down instead of filling memory).
struct Session {
    state: ApiState,
    pod: Target,
    headers: Headers,
    /// The forwarded connections by `requestID`, and which request each stream belongs to.
    pairs: HashMap<String, Pair>,
    streams: HashMap<u32, String>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    data_out: mpsc::Sender<Vec<u8>>,
    /// Fires when the client goes away, ending the copies.
    gone: CancellationToken,
}

async fn session(socket: WebSocket, state: ApiState, pod: Target) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut control) = mpsc::unbounded_channel::<Vec<u8>>();
    let (data_out, mut data) = mpsc::channel::<Vec<u8>>(16);
    let writer = tokio::spawn(async move {
        loop {
            let bytes = tokio::select! {
                biased;
                Some(bytes) = control.recv() => bytes,
                Some(bytes) = data.recv() => bytes,
                else => break,
            };
            if sink.send(Message::Binary(bytes.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let gone = CancellationToken::new();
    let mut session = Session {
        state,
        pod,
        headers: Headers::default(),
        pairs: HashMap::new(),
        streams: HashMap::new(),
        out,
        data_out,
        gone: gone.clone(),
    };
    let mut buf = Vec::new();
    'read: while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Binary(bytes) => buf.extend_from_slice(&bytes),
            Message::Close(_) => break,
            _ => continue,
        }
        loop {
            let handled = match spdy::next_frame(&mut buf) {
                Ok(Some(frame)) => session.handle(frame),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            match handled {
                // Waits while the pod's side is behind: the client is then no longer read, and
                // TCP holds it back (spdystream sends without regard to SPDY's windows).
                Ok(Some((to_pod, data))) => {
                    let _ = to_pod.send(data).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "port-forward: not SPDY as client-go speaks it");
                    break 'read;
                }
            }
        }
    }
    gone.cancel();
    drop(session);
    let _ = writer.await;
}

/// Bytes for a pod, and the channel to its connection.
type ForPod = (mpsc::Sender<Vec<u8>>, Vec<u8>);

impl Session {
    fn send(&self, frame: Vec<u8>) {
        let _ = self.out.send(frame);
    }

    /// Handles one frame; data for a pod comes back to be sent on, which may have to wait.
    fn handle(&mut self, frame: Frame) -> Result<Option<ForPod>, spdy::SpdyError> {
        let mut for_pod = None;
        match frame {
            Frame::Control { kind: spdy::SYN_STREAM, payload, .. } => self.open(&payload)?,
            Frame::Data { stream, flags, data } => {
                let Some(pair) = self.streams.get(&stream).and_then(|r| self.pairs.get_mut(r)) else { return Ok(None) };
                if pair.data != Some(stream) {
                    return Ok(None);
                }
                if let Some(to_pod) = pair.to_pod.as_ref().filter(|_| !data.is_empty()) {
                    for_pod = Some((to_pod.clone(), data));
                }
                if flags & FLAG_FIN != 0 {
                    pair.to_pod = None;
                }
            }
            Frame::Control { kind: spdy::RST_STREAM, payload, .. } => {
                let id = spdy::stream_id(&payload)?;
                if let Some(pair) = self.streams.remove(&id).and_then(|r| self.pairs.get_mut(&r))
                    && pair.data == Some(id)
                {
                    pair.to_pod = None;
                }
            }
            Frame::Control { kind: spdy::PING, payload, .. } => self.send(spdy::control(spdy::PING, 0, &payload)),
            // SETTINGS, WINDOW_UPDATE, HEADERS and GOAWAY need nothing (the client closes the socket).
            Frame::Control { .. } => {}
        }
        Ok(for_pod)
    }

    /// A stream the client opens: replied to, and paired with its request's other stream; the
    /// copy starts once both are there.
    fn open(&mut self, payload: &[u8]) -> Result<(), spdy::SpdyError> {
        let id = spdy::stream_id(payload)?;
        let fields = self.headers.read_syn_stream(payload)?;
        let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let (Some(kind), Some(port), Some(request)) = (get("streamtype"), get("port"), get("requestid")) else {
            self.send(spdy::control(spdy::RST_STREAM, 0, &rst(id, spdy::REFUSED_STREAM)));
            return Ok(());
        };
        let reply = self.headers.syn_reply(id)?;
        self.send(reply);
        let pair = self.pairs.entry(request.clone()).or_default();
        pair.port = port.parse().unwrap_or(0);
        match kind.as_str() {
            "error" => pair.error = Some(id),
            "data" => pair.data = Some(id),
            _ => {}
        }
        self.streams.insert(id, request);
        if let (Some(error), Some(data), None) = (pair.error, pair.data, &pair.to_pod) {
            let (tx, rx) = mpsc::channel(UPLOAD_CHUNKS);
            pair.to_pod = Some(tx);
            let copy =
                forward(self.state.clone(), self.pod.clone(), pair.port, (error, data), rx, self.data_out.clone());
            let gone = self.gone.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = copy => {}
                    _ = gone.cancelled() => {}
                }
            });
        }
        Ok(())
    }
}

fn rst(stream: u32, status: u32) -> Vec<u8> {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&status.to_be_bytes());
    payload
}

/// Connects to the pod's port and copies both ways; the data and error streams end when the
/// pod's side does. A port nothing listens on is reported on the error stream, in the kubelet's
/// words.
async fn forward(
    state: ApiState,
    pod: Target,
    port: u16,
    (error, data): (u32, u32),
    mut from_client: mpsc::Receiver<Vec<u8>>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let end = async |out: &mpsc::Sender<Vec<u8>>| {
        let _ = out.send(spdy::data(data, FLAG_FIN, &[])).await;
        let _ = out.send(spdy::data(error, FLAG_FIN, &[])).await;
    };
    let dialed = state.network.dial(To::Cluster(SocketAddrV4::new(pod.ip, port)), Dial::from_host()).await;
    let connection = match dialed {
        Ok(dialed) => dialed.into_parts(),
        Err(e) => {
            let message = format!(
                "error forwarding port {port} to pod {}/{}, uid {}: failed to connect to localhost:{port} inside namespace of pod: {e}",
                pod.namespace, pod.name, pod.uid
            );
            let _ = out.send(spdy::data(error, 0, message.as_bytes())).await;
            end(&out).await;
            return;
        }
    };
    let (stream, _keep) = connection;
    let (mut read, mut write) = stream.into_split();
    let upload = async move {
        while let Some(bytes) = from_client.recv().await {
            if write.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    };
    let download = async {
        let mut chunk = vec![0u8; 32 * 1024];
        loop {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.send(spdy::data(data, 0, &chunk[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
        end(&out).await;
    };
    let upload = tokio::spawn(upload);
    download.await;
    upload.abort();
}

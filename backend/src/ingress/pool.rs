//! Keep-alive connections from the ingress to pods, per endpoint and per worker, through the
//! virtual network with the controller's pod address as their source (its node's, to addresses
//! outside the pod network); hyper's client on top, for the
//! requests the fast path ([`super::upstream`]) does not take.

use super::upstream;
use crate::network::dialer::Keep;
use crate::network::{Dial, DialError, Network, To};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection to a pod, opened through the virtual network with the controller's address as
/// its source; the source is forgotten when the connection closes.
pub struct PodStream {
    stream: TcpStream,
    _keep: Keep,
}

impl upstream::Stream for PodStream {
    fn closed_while_idle(&self) -> io::Result<bool> {
        self.stream.closed_while_idle()
    }
}

impl AsyncRead for PodStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PodStream {
    write_through!(stream);
}

/// Why a request to a pod got no response (the client gets 502).
#[derive(Debug, thiserror::Error)]
pub(super) enum UpstreamError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// Keep-alive connections to pods, per endpoint, for one worker. A request takes a connection
/// that is ready (its previous response fully read) or opens one; the connection goes back
/// after the response head arrives and serves again once its body has been read, so a long
/// response never holds up other requests. Upgraded connections leave the pool.
pub(super) struct Pool {
    network: Network,
    /// The address pods see connections come from (the node the controller runs on).
    source: Ipv4Addr,
    idle: Mutex<HashMap<SocketAddrV4, Vec<SendRequest<Incoming>>>>,
}

/// At most this many connections are kept per endpoint.
const POOL_PER_ENDPOINT: usize = 256;

impl Pool {
    pub(super) fn new(network: Network, source: Ipv4Addr) -> Self {
        Pool { network, source, idle: Mutex::default() }
    }

    fn take(&self, to: SocketAddrV4) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let senders = idle.get_mut(&to)?;
        senders.retain(|s| !s.is_closed());
        let ready = senders.iter().position(|s| s.is_ready())?;
        Some(senders.swap_remove(ready))
    }

    fn give_back(&self, to: SocketAddrV4, sender: SendRequest<Incoming>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let senders = idle.entry(to).or_default();
        if senders.len() < POOL_PER_ENDPOINT {
            senders.push(sender);
        }
    }

    /// Where connections to `to` come from: the controller's pod address; for an address
    /// outside the pod network (a selectorless service's host server), its node's, where
    /// `127.0.0.1` is the host's and not the controller pod's own.
    pub(super) fn source_for(&self, to: SocketAddrV4) -> Ipv4Addr {
        let plan = self.network.plan();
        if plan.is_pod_ip(*to.ip()) { self.source } else { plan.node_ip(self.source.octets()[2]) }
    }

    /// A new connection to the pod at `to`.
    pub(super) async fn open(&self, to: SocketAddrV4) -> Result<PodStream, DialError> {
        let dialed = self.network.dial(To::Cluster(to), Dial::from(self.source_for(to))).await?;
        let (stream, keep) = dialed.into_parts();
        Ok(PodStream { stream, _keep: keep })
    }

    async fn connect(&self, to: SocketAddrV4) -> Result<SendRequest<Incoming>, UpstreamError> {
        let io = TokioIo::new(self.open(to).await?);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "ingress: connection to a pod ended");
            }
        });
        Ok(sender)
    }

    pub(super) async fn send(
        &self,
        to: SocketAddrV4,
        req: Request<Incoming>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut sender = match self.take(to) {
            Some(s) => s,
            None => self.connect(to).await?,
        };
        let response = sender.send_request(req).await?;
        if !upgrade && !sender.is_closed() {
            self.give_back(to, sender);
        }
        Ok(response)
    }
}

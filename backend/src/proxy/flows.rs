//! UDP flows through a node port or load-balancer address: each client's datagrams go through
//! one onward socket (so to one endpoint) until the flow has carried nothing, either way, for
//! [`UDP_IDLE`], as conntrack forgets a UDP flow.

use crate::network::Tracked;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a UDP flow lives without traffic (conntrack's UDP timeout).
pub const UDP_IDLE: Duration = Duration::from_secs(30);

/// The flows of one address: client → its flow.
pub type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<Flow>>>>;

/// One client's flow: the socket connected to its endpoint, and when it last carried a datagram.
pub struct Flow {
    pub upstream: UdpSocket,
    opened: Instant,
    /// Milliseconds from `opened` to the last datagram either way.
    last: AtomicU64,
}

impl Flow {
    pub fn new(upstream: UdpSocket) -> Flow {
        Flow { upstream, opened: Instant::now(), last: AtomicU64::new(0) }
    }

    /// Notes a datagram through the flow, now.
    pub fn touch(&self) {
        self.last.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the flow is forgotten unless it carries a datagram before.
    fn expires(&self) -> Instant {
        self.opened + Duration::from_millis(self.last.load(Ordering::Relaxed)) + UDP_IDLE
    }
}

/// Sends what `flow`'s endpoint answers back to `client` from `front` (the address the client
/// sent to), until the flow is idle for [`UDP_IDLE`] or `stop` fires; then forgets the flow
/// (and, with `tracked`, the source its endpoint saw).
pub async fn forward_replies(
    flow: Arc<Flow>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    flows: Flows,
    stop: CancellationToken,
    tracked: Tracked,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            // A datagram from the client since the timer was set moves the deadline on.
            _ = tokio::time::sleep_until(flow.expires()) => if Instant::now() >= flow.expires() { break },
            got = flow.upstream.recv(&mut buf) => match got {
                Ok(n) => {
                    flow.touch();
                    let _ = front.send_to(&buf[..n], client).await;
                }
                Err(_) => break,
            },
        }
    }
    flows.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
    drop(tracked);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{AddressPlan, Network};
    use crate::proxy::ProxyTable;

    async fn socket() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.unwrap()
    }

    /// Lets the flow's task run after the clock moved.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_flow_lives_while_either_side_sends_and_is_forgotten_when_both_are_quiet() {
        let (front, client, endpoint) = (Arc::new(socket().await), socket().await, socket().await);
        let upstream = socket().await;
        upstream.connect(endpoint.local_addr().unwrap()).await.unwrap();
        let flow = Arc::new(Flow::new(upstream));
        let client_addr = client.local_addr().unwrap();
        let flows: Flows = Arc::default();
        flows.lock().unwrap().insert(client_addr, flow.clone());
        let (_table, table) = tokio::sync::watch::channel(Arc::new(ProxyTable::default()));
        let router = Arc::new(crate::proxy::ServiceRouter::new(AddressPlan::default(), table));
        let network = Network::new(AddressPlan::default(), router);
        let upstream_addr = flow.upstream.local_addr().unwrap();
        let client_ip = std::net::Ipv4Addr::new(127, 0, 0, 9);
        let endpoint_addr = endpoint.local_addr().unwrap();
        let tracked = network.tracked(upstream_addr, endpoint_addr, client_ip);
        tokio::spawn(forward_replies(
            flow.clone(),
            front.clone(),
            client_addr,
            flows.clone(),
            CancellationToken::new(),
            tracked,
        ));
        let alive = || flows.lock().unwrap().contains_key(&client_addr);
        // The client sends every 20 s and the endpoint never answers: the flow stays.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(20)).await;
            settle().await;
            assert!(alive(), "a client that keeps sending keeps its flow");
            flow.touch();
        }
        // Answers keep it too, and reach the client from the address it sent to.
        tokio::time::advance(Duration::from_secs(20)).await;
        let mut buf = [0u8; 16];
        endpoint.send_to(b"answer", upstream_addr).await.unwrap();
        let (n, from) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"answer"[..], front.local_addr().unwrap()));
        tokio::time::advance(Duration::from_secs(20)).await;
        settle().await;
        assert!(alive(), "an endpoint that answers keeps the flow");
        assert_eq!(network.source_of(upstream_addr, endpoint_addr), client_ip, "the endpoint sees the client");
        // Quiet both ways for as long as conntrack waits: forgotten.
        tokio::time::advance(UDP_IDLE).await;
        settle().await;
        assert!(!alive(), "a flow idle for {UDP_IDLE:?} is forgotten");
        assert_ne!(network.source_of(upstream_addr, endpoint_addr), client_ip, "and so is the source it carried");
    }
}

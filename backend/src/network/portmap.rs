//! Host ports, as the CNI portmap plugin maps them: for each `hostPort` of a pod (every port of
//! a `hostNetwork` pod) a real listener on its node's address, whose connections and datagrams
//! go on to the pod's port with the client's source kept (DNAT), until the pod stops.

use super::{Dial, Network, To};
use crate::addr::Protocol;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a datagram sent on to a pod waits for its answer.
const UDP_ANSWER: Duration = Duration::from_secs(5);

impl Network {
    /// Listens on `host` (a node's address and a host port) and sends what arrives to `pod`
    /// until `stop` fires. Fails as binding the port fails (`Address already in use`).
    pub fn map_host_port(
        &self,
        host: SocketAddrV4,
        pod: SocketAddrV4,
        protocol: Protocol,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) -> io::Result<()> {
        match protocol {
            Protocol::Tcp => {
                let listener = std::net::TcpListener::bind(host)?;
                listener.set_nonblocking(true)?;
                let listener = TcpListener::from_std(listener)?;
                tracker.spawn(forward_tcp(self.clone(), listener, pod, stop, tracker.clone()));
            }
            Protocol::Udp => {
                let socket = std::net::UdpSocket::bind(host)?;
                socket.set_nonblocking(true)?;
                let socket = std::sync::Arc::new(UdpSocket::from_std(socket)?);
                tracker.spawn(forward_udp(self.clone(), socket, pod, stop, tracker.clone()));
            }
        }
        Ok(())
    }
}

async fn forward_tcp(
    network: Network,
    listener: TcpListener,
    pod: SocketAddrV4,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => return,
        };
        let Ok((client, peer)) = accepted else { continue };
        tracker.spawn(relay(network.clone(), client, peer, pod, stop.clone()));
    }
}

/// One connection to a host port, relayed to the pod; a refused or unreachable pod closes the
/// client's connection at once.
async fn relay(network: Network, mut client: TcpStream, peer: SocketAddr, pod: SocketAddrV4, stop: CancellationToken) {
    let Ok(local) = client.local_addr() else { return };
    let source = network.source_of(peer, local);
    let Ok(dialed) = network.dial(To::Cluster(pod), Dial::from(source).following(peer)).await else { return };
    let (mut upstream, _keep) = dialed.into_parts();
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = stop.cancelled() => {}
    }
}

async fn forward_udp(
    network: Network,
    socket: std::sync::Arc<UdpSocket>,
    pod: SocketAddrV4,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let Ok(local) = socket.local_addr() else { return };
    let mut buf = vec![0u8; 65535];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buf) => received,
            _ = stop.cancelled() => return,
        };
        let Ok((n, peer)) = received else { continue };
        let (network, socket, payload, stop) = (network.clone(), socket.clone(), buf[..n].to_vec(), stop.clone());
        tracker.spawn(async move {
            let source = network.source_of(peer, local);
            let answered = tokio::select! {
                answered = network.exchange(pod, source, &payload, UDP_ANSWER) => answered,
                _ = stop.cancelled() => return,
            };
            if let Ok(answer) = answered {
                let _ = socket.send_to(&answer, peer).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::AddressPlan;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_host_port_reaches_the_pods_port_and_closes_with_the_pod() {
        let network = Network::new(AddressPlan::isolated(), std::sync::Arc::new(crate::network::tests::NoServices));
        let pod_ip = Ipv4Addr::new(10, 244, 1, 5);
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        network.attach_pod(pod_ip);
        network.bind(pod_ip, 8080, Protocol::Tcp, server.local_addr().unwrap());
        let node = network.plan().node_ip(1);
        // The port the kernel picks, then released, is the host port.
        let free = std::net::TcpListener::bind((node, 0)).unwrap().local_addr().unwrap().port();
        let host = SocketAddrV4::new(node, free);
        let (stop, tracker) = (CancellationToken::new(), TaskTracker::new());
        network.map_host_port(host, SocketAddrV4::new(pod_ip, 8080), Protocol::Tcp, stop.clone(), &tracker).unwrap();
        let taken = network.map_host_port(host, SocketAddrV4::new(pod_ip, 8080), Protocol::Tcp, stop.clone(), &tracker);
        assert_eq!(taken.unwrap_err().kind(), io::ErrorKind::AddrInUse);

        let mut client = TcpStream::connect(host).await.unwrap();
        let (mut accepted, _) = server.accept().await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        accepted.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        // The pod sees the client's address, as after DNAT.
        let seen = network.source_of(accepted.peer_addr().unwrap(), accepted.local_addr().unwrap());
        assert_eq!(seen, Ipv4Addr::LOCALHOST);

        stop.cancel();
        tracker.close();
        tracker.wait().await;
        assert!(TcpStream::connect(host).await.is_err(), "the host port closes with the pod");
    }
}

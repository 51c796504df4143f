//! Listening sockets shared by one receive loop per core (`SO_REUSEPORT`: the kernel spreads
//! connections and datagrams over them). The address is first checked to be free with an
//! ordinary bind, so that svclab never silently shares a port with another process. TCP
//! listeners have `TCP_NODELAY` set, which the connections they accept inherit (as HAProxy
//! relies on: one system call fewer per connection than setting it after `accept`).

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// How many sockets share a port: one per core, at most 8.
pub fn per_core() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
}

fn shared(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    socket.set_reuse_port(true)?;
    if ty == Type::STREAM {
        socket.set_reuse_address(true)?;
        socket.set_tcp_nodelay(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Fails with `AddrInUse` when something already holds `addr` (checked with a plain bind).
fn ensure_free(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if ty == Type::STREAM {
        probe.set_reuse_address(true)?;
    }
    probe.bind(&addr.into())
}

/// `n` UDP sockets on one address (the first picks the port when it is 0).
pub fn udp(addr: SocketAddr, n: usize) -> io::Result<Vec<tokio::net::UdpSocket>> {
    ensure_free(addr, Type::DGRAM, Protocol::UDP)?;
    let first = shared(addr, Type::DGRAM, Protocol::UDP)?;
    let bound = first.local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))?;
    let mut sockets = vec![first];
    for _ in 1..n {
        sockets.push(shared(bound, Type::DGRAM, Protocol::UDP)?);
    }
    sockets.into_iter().map(|s| tokio::net::UdpSocket::from_std(s.into())).collect()
}

/// `n` TCP listeners on one address (the first picks the port when it is 0), not yet tied to a
/// runtime (for workers that each run their own).
pub fn tcp_std(addr: SocketAddr, n: usize) -> io::Result<Vec<std::net::TcpListener>> {
    ensure_free(addr, Type::STREAM, Protocol::TCP)?;
    let first = shared(addr, Type::STREAM, Protocol::TCP)?;
    let bound = first.local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))?;
    let mut sockets = vec![first];
    for _ in 1..n {
        sockets.push(shared(bound, Type::STREAM, Protocol::TCP)?);
    }
    sockets
        .into_iter()
        .map(|s| {
            s.listen(1024)?;
            Ok(s.into())
        })
        .collect()
}

/// Sets `TCP_NODELAY` on a connection accepted from one of these listeners where it is not
/// inherited (Linux passes the listener's on).
pub fn accepted_nodelay(stream: &socket2::SockRef<'_>) {
    if !cfg!(target_os = "linux") {
        let _ = stream.set_tcp_nodelay(true);
    }
}

/// How long an accept loop waits after the system refused it a connection for want of
/// descriptors or memory (as axum's own loop does).
pub const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// For an accept loop whose `accept` failed: returns at once when the failure was the one
/// connection's (reset or aborted before it was taken: the next is there to accept), and after
/// [`ACCEPT_BACKOFF`] when the system is out of descriptors or memory (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`). Then the connection stays queued and the listener readable, so
/// retrying at once would spin a core until a descriptor is freed.
pub async fn after_accept_error(e: &io::Error, listener: &str) {
    #[cfg(unix)]
    let exhausted = [nix::libc::EMFILE, nix::libc::ENFILE, nix::libc::ENOBUFS, nix::libc::ENOMEM];
    #[cfg(not(unix))]
    let exhausted: [i32; 0] = [];
    if e.raw_os_error().is_some_and(|errno| exhausted.contains(&errno)) {
        tracing::warn!(error = %e, "{listener}: cannot accept a connection; trying again in {ACCEPT_BACKOFF:?}");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    } else {
        tracing::debug!(error = %e, "{listener}: accept failed");
    }
}

/// `n` TCP listeners on one address (the first picks the port when it is 0).
pub fn tcp(addr: SocketAddr, n: usize) -> io::Result<Vec<tokio::net::TcpListener>> {
    tcp_std(addr, n)?.into_iter().map(tokio::net::TcpListener::from_std).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_share_a_port_but_never_one_another_process_holds() {
        let group = tcp("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = group[0].local_addr().unwrap();
        assert_eq!(group[1].local_addr().unwrap(), addr, "one port for the group");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = tcp(taken.local_addr().unwrap(), 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = udp(taken.local_addr().unwrap(), 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(udp("127.0.0.1:0".parse().unwrap(), 3).unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn accepting_waits_out_a_full_descriptor_table_but_not_a_lost_connection() {
        let started = tokio::time::Instant::now();
        after_accept_error(&io::Error::from(io::ErrorKind::ConnectionAborted), "test").await;
        assert_eq!(started.elapsed(), std::time::Duration::ZERO, "the next connection is taken at once");
        after_accept_error(&io::Error::from_raw_os_error(nix::libc::EMFILE), "test").await;
        assert_eq!(started.elapsed(), ACCEPT_BACKOFF, "no spinning while no descriptor is free");
    }

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let group = tcp("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let _client = tokio::net::TcpStream::connect(group[0].local_addr().unwrap()).await.unwrap();
        let (accepted, _) = group[0].accept().await.unwrap();
        accepted_nodelay(&socket2::SockRef::from(&accepted));
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY on an accepted connection");
    }
}

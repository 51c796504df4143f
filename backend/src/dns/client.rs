//! One DNS exchange over real sockets: a UDP datagram, or a TCP message with its two-byte length
//! prefix. Used by the forwarder and by tests; pods' resolvers go over the virtual network.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `query` to `server` over UDP and waits up to `timeout` for the reply.
pub async fn exchange_udp(server: SocketAddr, query: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("valid");
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    socket.connect(server).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(timeout, socket.recv(&mut buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out; no servers could be reached"))??;
    buf.truncate(n);
    Ok(buf)
}

/// Sends `query` to `server` over TCP and reads one reply.
pub async fn exchange_tcp(server: SocketAddr, query: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        exchange_stream(&mut stream, query).await
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))?
}

/// One length-prefixed exchange on a connected stream.
pub async fn exchange_stream<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    query: &[u8],
) -> io::Result<Vec<u8>> {
    let len = u16::try_from(query.len()).map_err(|_| io::Error::other("query too large"))?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(query).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

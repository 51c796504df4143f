//! Accepted TCP connections that join the reactor only once something has to wait for them.
//! A proxied short connection's client often never makes the proxy wait: its bytes and its close
//! are there by the time it is accepted and the reply fits its socket's buffer. Registering it
//! with epoll and deregistering it before the close would then be two system calls spent for
//! nothing (HAProxy likewise subscribes a socket only once an operation finds it not ready).

use socket2::SockRef;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::OnceLock;
use tokio::io::unix::AsyncFd;
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;

/// A connected, non-blocking TCP socket, registered with the current runtime's reactor the
/// first time [`LazyStream::ready`] is awaited. Meant for one task at a time (as the relay's two
/// directions take turns): two first waits at once on different threads would both register.
pub struct LazyStream {
    // Declared before the socket, so dropped before it: deregistered while the descriptor is
    // still open.
    registered: OnceLock<AsyncFd<RawFd>>,
    socket: std::net::TcpStream,
}

impl LazyStream {
    /// `socket` must be non-blocking.
    pub fn new(socket: std::net::TcpStream) -> Self {
        LazyStream { registered: OnceLock::new(), socket }
    }

    fn registered(&self) -> io::Result<&AsyncFd<RawFd>> {
        if let Some(registered) = self.registered.get() {
            return Ok(registered);
        }
        let fd = self.socket.as_raw_fd();
        // SAFETY: the descriptor is this stream's socket, which stays open, and the same
        // socket, until the registration is dropped (before the socket, or in `into_tokio`).
        let registration = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }?;
        Ok(self.registered.get_or_init(|| registration))
    }

    /// Waits until the reactor finds the socket ready for `interest` (registering it first if
    /// it is not yet).
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        Ok(self.registered()?.ready(interest).await?.ready())
    }

    /// Runs `f`, an operation on the socket; when it would block, the reactor's readiness for
    /// `interest` is cleared (so that [`LazyStream::ready`] waits for the next event).
    pub fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        match self.registered.get() {
            Some(registered) => registered.try_io(interest, |_| f()),
            None => f(),
        }
    }

    /// The connection as a Tokio stream, for code that wants one.
    pub fn into_tokio(self) -> io::Result<TcpStream> {
        let LazyStream { registered, socket } = self;
        // Deregistered first, if it was registered: Tokio registers it anew.
        drop(registered);
        TcpStream::from_std(socket)
    }
}

impl AsFd for LazyStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for LazyStream {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Accepts a connection from `listener` (made by [`super::sockets::tcp_std`], registered
/// with this runtime), without registering the connection: one system call per connection on
/// Linux, where it inherits the listener's `TCP_NODELAY`.
pub async fn accept(listener: &AsyncFd<std::net::TcpListener>) -> io::Result<(LazyStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        let accepted = ready.try_io(|listener| {
            let listener = SockRef::from(listener.get_ref());
            accept_nonblocking(&listener)
        });
        let Ok(accepted) = accepted else { continue };
        let (socket, peer) = accepted?;
        super::sockets::accepted_nodelay(&SockRef::from(&socket));
        let peer = peer.as_socket().ok_or_else(|| io::Error::other("accepted a connection that is not IP"))?;
        return Ok((LazyStream::new(socket.into()), peer));
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn accept_nonblocking(listener: &socket2::Socket) -> io::Result<(socket2::Socket, socket2::SockAddr)> {
    listener.accept4(nix::libc::SOCK_NONBLOCK | nix::libc::SOCK_CLOEXEC)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn accept_nonblocking(listener: &socket2::Socket) -> io::Result<(socket2::Socket, socket2::SockAddr)> {
    let (socket, peer) = listener.accept()?;
    socket.set_nonblocking(true)?;
    Ok((socket, peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test]
    async fn a_connection_joins_the_reactor_only_to_wait() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        // SAFETY: the descriptor is owned by the registration from here on.
        let listener = unsafe { AsyncFd::register(listener) }.unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, peer) = accept(&listener).await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        // Nothing to read yet: the operation says so, unregistered.
        let mut buf = [0u8; 8];
        let read = || (&*SockRef::from(&stream)).read(&mut buf);
        assert_eq!(stream.try_io(Interest::READABLE, read).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert!(stream.registered.get().is_none(), "not registered before anything waits");
        // Waiting registers it, and the bytes sent meanwhile wake it.
        let waiting = async {
            let ready = stream.ready(Interest::READABLE).await.unwrap();
            assert!(ready.is_readable());
            let mut buf = [0u8; 8];
            let n = stream.try_io(Interest::READABLE, || (&*SockRef::from(&stream)).read(&mut buf)).unwrap();
            buf[..n].to_vec()
        };
        let (got, ()) = tokio::join!(waiting, async { client.write_all(b"hello").unwrap() });
        assert_eq!(got, b"hello");
        // Still a working socket once handed to Tokio.
        let mut stream = stream.into_tokio().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, b"back").await.unwrap();
        let mut back = [0u8; 4];
        client.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"back");
    }
}

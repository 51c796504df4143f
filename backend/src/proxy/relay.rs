//! Relaying a proxied connection's bytes both ways. On Linux, once a direction has carried some
//! volume, its bytes move socket → pipe → socket inside the kernel with splice(2), never copied
//! through svclab; short exchanges (and everything elsewhere) stay on a small buffered copy,
//! which costs fewer system calls than setting up a pipe.

use crate::network::stream::LazyStream;
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, Shutdown, send, shutdown};
use socket2::SockRef;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;

/// What the relay needs of a connection's socket besides its descriptor: the reactor's word on
/// it. A client's socket may not be registered with the reactor at all until something waits
/// ([`LazyStream`]).
pub trait Socket: AsFd + AsRawFd + Sync {
    /// Waits until the socket is ready for `interest`.
    fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send;
    /// Runs `f`, an operation on the socket, clearing the readiness for `interest` when it
    /// would block.
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

impl Socket for TcpStream {
    fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send {
        TcpStream::ready(self, interest)
    }
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        TcpStream::try_io(self, interest, f)
    }
}

impl Socket for LazyStream {
    fn ready(&self, interest: Interest) -> impl Future<Output = io::Result<Ready>> + Send {
        LazyStream::ready(self, interest)
    }
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        LazyStream::try_io(self, interest, f)
    }
}

/// Relays until both directions have ended; each end's close is passed on as a half-close.
/// `a` is the end that speaks first (the client), whose first bytes are read without waiting
/// for the reactor (they are usually there already).
pub async fn relay(a: &impl Socket, b: &impl Socket) -> io::Result<()> {
    let ended = AtomicBool::new(false);
    tokio::try_join!(one_way(a, b, true, &ended), one_way(b, a, false, &ended)).map(|_| ())
}

/// Writes all of `bytes`, trying the socket before the reactor: a socket just connected is
/// writable long before its first event comes, and while connecting the kernel answers
/// `EAGAIN` (or the connection's error, for one refused). With `last` (the close follows at
/// once) the bytes are sent with `MSG_MORE` on Linux, so that they leave with the FIN in one
/// segment.
async fn write_all(to: &impl Socket, bytes: &[u8], last: bool) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    let more = if last { MsgFlags::from_bits_retain(nix::libc::MSG_MORE) } else { MsgFlags::empty() };
    #[cfg(not(target_os = "linux"))]
    let more = {
        let _ = last;
        MsgFlags::empty()
    };
    let send_now = |bytes: &[u8]| match send(to.as_raw_fd(), bytes, more | MsgFlags::MSG_DONTWAIT) {
        Err(Errno::EAGAIN) => Err(io::ErrorKind::WouldBlock.into()),
        sent => sent.map_err(io::Error::from),
    };
    // Tried before the reactor is asked (which may not have reported the socket writable yet).
    let mut sent = match send_now(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    while sent < bytes.len() {
        to.ready(Interest::WRITABLE).await?;
        let (left, mut took) = (&bytes[sent..], 0);
        // A write that took less than it was given filled the socket: its readiness is cleared
        // (as for a short read, below).
        let written = to.try_io(Interest::WRITABLE, || {
            took = send_now(left)?;
            if took < left.len() { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(took) }
        });
        match written {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sent += took,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A read straight from the socket.
fn read_now(from: &impl Socket, buf: &mut [u8]) -> io::Result<usize> {
    std::io::Read::read(&mut &*SockRef::from(from), buf)
}

/// A copy buffer from this thread's spares (a new one would be allocated and zeroed for
/// every connection), going back to them when dropped. On the heap: a buffer in the future
/// itself would make every connection's task larger, to allocate and move when spawned.
struct Buffer(Vec<u8>);

const BUFFER: usize = 8 * 1024;
/// Spares kept per thread, at most (2 MiB).
const SPARES: usize = 256;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Buffer {
    fn take() -> Self {
        Buffer(SPARE.with_borrow_mut(Vec::pop).unwrap_or_else(|| vec![0u8; BUFFER]))
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARES {
                spare.push(buf);
            }
        });
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

fn half_close(to: &impl Socket) {
    // Pass the sender's close on; the peer may already be gone.
    let _ = shutdown(to.as_raw_fd(), Shutdown::Write);
}

/// Moves everything `from` sends to `to`, then half-closes `to`, unless the other direction
/// (sharing `ended`) has ended already: the sockets are closed at once then, which sends
/// the same FIN without the system call.
async fn one_way(from: &impl Socket, to: &impl Socket, mut speculate: bool, ended: &AtomicBool) -> io::Result<()> {
    let pass_close_on = || {
        if !ended.swap(true, Ordering::Relaxed) {
            half_close(to);
        }
    };
    let mut buf = Buffer::take();
    let mut copied = 0;
    // With `speculate`, reads are tried before asking the reactor, until one finds nothing:
    // a client's first bytes (and often its close) are there by the time its connection is
    // accepted, and waiting for the event would cost a round trip through epoll (HAProxy's
    // speculative I/O).
    let would_block = |e: &io::Error| e.kind() == io::ErrorKind::WouldBlock;
    while copied < splice::AFTER {
        // What was read, and whether the end came with it.
        let (n, end) = if speculate {
            match read_now(from, &mut buf) {
                Ok(0) => (0, true),
                // The close may be there too: looked for before the bytes are passed on,
                // so that both go in one segment.
                Ok(n) if n < buf.len() => match read_now(from, &mut buf[n..]) {
                    Ok(0) => (n, true),
                    Ok(m) => (n + m, false),
                    Err(e) if would_block(&e) => {
                        speculate = false;
                        (n, false)
                    }
                    Err(e) => return Err(e),
                },
                Ok(n) => (n, false),
                // From the first time the socket runs dry, the reactor says when to read.
                Err(e) if would_block(&e) => {
                    speculate = false;
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            let ready = from.ready(Interest::READABLE).await?;
            let mut took = 0;
            let read = from.try_io(Interest::READABLE, || {
                took = read_now(from, &mut buf)?;
                // A read that took less than it could emptied the socket (the reactor's events
                // are edge-triggered): answered as "would block", so that the readiness is
                // cleared and the next read waits for the next event instead of failing first
                // (as Tokio's own reads and HAProxy's take a short read).
                if took > 0 && took < buf.len() { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(took) }
            });
            let n = match read {
                Ok(n) => n,
                Err(e) if would_block(&e) && took > 0 => took,
                Err(e) if would_block(&e) => continue,
                Err(e) => return Err(e),
            };
            // With the peer's FIN seen when the reactor last looked, a read that took less than
            // it could took everything up to the FIN: the end is known without reading it
            // (HAProxy reads EPOLLRDHUP the same way).
            (n, n == 0 || (n < buf.len() && ready.is_read_closed()))
        };
        if n > 0 {
            write_all(to, &buf[..n], end).await?;
            copied += n;
        }
        if end {
            pass_close_on();
            return Ok(());
        }
    }
    drop(buf);
    splice::rest(from, to).await?;
    pass_close_on();
    Ok(())
}

/// Past [`AFTER`] bytes, a direction's bytes go socket → pipe → socket inside the kernel.
#[cfg(target_os = "linux")]
mod splice {
    use super::Socket;
    use nix::fcntl::{OFlag, SpliceFFlags, splice};
    use std::io;
    use std::os::fd::AsFd;
    use tokio::io::Interest;

    /// A direction switches from copying to splicing after this many bytes.
    pub(super) const AFTER: usize = 256 * 1024;
    /// The pipe's size asked for, and so how much one splice call moves at most.
    const PIPE_SIZE: usize = 1024 * 1024;

    fn flags() -> SpliceFFlags {
        SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
    }

    /// Moves the rest of what `from` sends to `to`, until `from` ends.
    pub(super) async fn rest(from: &impl Socket, to: &impl Socket) -> io::Result<()> {
        let (pipe_out, pipe_in) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // A bigger pipe moves more per splice call (fewer system calls per byte); the default
        // 64 KiB stays when the system refuses more.
        let _ = nix::fcntl::fcntl(&pipe_in, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32));
        loop {
            // The pipe is empty here, so EAGAIN can only mean the socket has nothing yet.
            from.ready(Interest::READABLE).await?;
            let moved = from.try_io(Interest::READABLE, || {
                splice(from.as_fd(), None, pipe_in.as_fd(), None, PIPE_SIZE, flags()).map_err(io::Error::from)
            });
            let mut left = match moved {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            while left > 0 {
                to.ready(Interest::WRITABLE).await?;
                let written = to.try_io(Interest::WRITABLE, || {
                    splice(pipe_out.as_fd(), None, to.as_fd(), None, left, flags()).map_err(io::Error::from)
                });
                match written {
                    Ok(n) => left -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// Elsewhere the buffered copy carries everything.
#[cfg(not(target_os = "linux"))]
mod splice {
    pub(super) const AFTER: usize = usize::MAX;

    pub(super) async fn rest(_: &impl super::Socket, _: &impl super::Socket) -> std::io::Result<()> {
        unreachable!("a copy never gets this far")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair of sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn bytes_and_half_closes_pass_both_ways() {
        let (mut client, proxy_in) = pair().await;
        let (proxy_out, mut server) = pair().await;
        let relaying = tokio::spawn(async move { relay(&proxy_in, &proxy_out).await });
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let sending = tokio::spawn(async move {
            client.write_all(&payload).await.unwrap();
            client.shutdown().await.unwrap();
            let mut reply = String::new();
            client.read_to_string(&mut reply).await.unwrap();
            reply
        });
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        assert!(received == expected, "every byte arrives, in order");
        server.write_all(b"got it").await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(sending.await.unwrap(), "got it");
        relaying.await.unwrap().unwrap();
    }

    /// The proxy's end of a client's connection as the listeners accept it: not registered.
    fn lazy(stream: TcpStream) -> LazyStream {
        LazyStream::new(stream.into_std().unwrap())
    }

    #[tokio::test]
    async fn short_exchanges_keep_every_byte_and_end_with_the_close() {
        // Both ends speak and close at once (read speculatively, the end seen with the bytes,
        // and each side's bytes sent along with its FIN; the client's end never has to wait).
        let (mut client, proxy_in) = pair().await;
        let proxy_in = lazy(proxy_in);
        let (proxy_out, mut server) = pair().await;
        client.write_all(b"x").await.unwrap();
        client.shutdown().await.unwrap();
        let relaying = tokio::spawn(async move { relay(&proxy_in, &proxy_out).await });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"x");
        server.write_all(b"12345678").await.unwrap();
        drop(server);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"12345678");
        relaying.await.unwrap().unwrap();

        // Back and forth: a short read while the other side stays open does not end anything
        // (and the client's end joins the reactor once it has to wait).
        let (mut client, proxy_in) = pair().await;
        let proxy_in = lazy(proxy_in);
        let (proxy_out, mut server) = pair().await;
        let relaying = tokio::spawn(async move { relay(&proxy_in, &proxy_out).await });
        let mut four = [0u8; 4];
        for _ in 0..5 {
            client.write_all(b"ping").await.unwrap();
            server.read_exact(&mut four).await.unwrap();
            assert_eq!(&four, b"ping");
            server.write_all(b"pong").await.unwrap();
            client.read_exact(&mut four).await.unwrap();
            assert_eq!(&four, b"pong");
        }
        client.shutdown().await.unwrap();
        assert_eq!(server.read(&mut four).await.unwrap(), 0, "the client's close arrives");
        server.write_all(b"last").await.unwrap();
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"last", "the half-closed client still hears the server");
        relaying.await.unwrap().unwrap();
    }
}

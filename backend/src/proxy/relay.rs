//! Relaying a proxied connection's bytes both ways. On Linux, once a direction has carried some
//! volume, its bytes move socket → pipe → socket inside the kernel with splice(2), never copied
//! through svclab; short exchanges stay on a small buffered copy, which costs fewer system calls
//! than setting up a pipe. Elsewhere a buffered copy does the whole job.

use tokio::net::TcpStream;

/// Relays until both directions have ended; each end's close is passed on as a half-close.
/// `a` is the end that speaks first (the client), whose first bytes are read without waiting
/// for the reactor (they are usually there already).
#[cfg(target_os = "linux")]
pub async fn relay(a: &mut TcpStream, b: &mut TcpStream) -> std::io::Result<()> {
    let (a, b) = (&*a, &*b);
    let ended = std::sync::atomic::AtomicBool::new(false);
    tokio::try_join!(linux::one_way(a, b, true, &ended), linux::one_way(b, a, false, &ended)).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
pub async fn relay(a: &mut TcpStream, b: &mut TcpStream) -> std::io::Result<()> {
    tokio::io::copy_bidirectional_with_sizes(a, b, 32 * 1024, 32 * 1024).await.map(|_| ())
}

#[cfg(target_os = "linux")]
mod linux {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, SpliceFFlags, splice};
    use nix::sys::socket::{MsgFlags, Shutdown, send, shutdown};
    use socket2::SockRef;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Writes all of `bytes`, trying the socket before the reactor: a socket just connected is
    /// writable long before its first event comes, and while connecting the kernel answers
    /// `EAGAIN` (or the connection's error, for one refused). With `last` (the close follows at
    /// once) the bytes are sent with `MSG_MORE`, so that they leave with the FIN in one segment.
    async fn write_all(to: &TcpStream, bytes: &[u8], last: bool) -> io::Result<()> {
        let flags = if last { MsgFlags::from_bits_retain(nix::libc::MSG_MORE) } else { MsgFlags::empty() };
        let mut sent = match send(to.as_raw_fd(), bytes, flags | MsgFlags::MSG_DONTWAIT) {
            Ok(n) => n,
            Err(Errno::EAGAIN) => 0,
            Err(e) => return Err(e.into()),
        };
        while sent < bytes.len() {
            to.writable().await?;
            match to.try_write(&bytes[sent..]) {
                Ok(m) => sent += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A read straight from the socket, without the reactor.
    fn read_now(from: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
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

    /// The pipe's size asked for, and so how much one splice call moves at most.
    const PIPE_SIZE: usize = 1024 * 1024;
    const CHUNK: usize = PIPE_SIZE;
    /// A direction switches from copying to splicing after this many bytes.
    const SPLICE_AFTER: usize = 256 * 1024;

    fn flags() -> SpliceFFlags {
        SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
    }

    fn half_close(to: &TcpStream) {
        // Pass the sender's close on; the peer may already be gone.
        let _ = shutdown(to.as_raw_fd(), Shutdown::Write);
    }

    /// Moves everything `from` sends to `to`, then half-closes `to`, unless the other direction
    /// (sharing `ended`) has ended already: the sockets are closed at once then, which sends
    /// the same FIN without the system call.
    pub(super) async fn one_way(
        from: &TcpStream,
        to: &TcpStream,
        mut speculate: bool,
        ended: &AtomicBool,
    ) -> io::Result<()> {
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
        while copied < SPLICE_AFTER {
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
                match from.try_read(&mut buf) {
                    // With the peer's FIN seen when the reactor last looked, a read that took
                    // less than it could took everything up to the FIN: the end is known without
                    // reading it (HAProxy reads EPOLLRDHUP the same way).
                    Ok(n) => (n, n == 0 || (n < buf.len() && ready.is_read_closed())),
                    Err(e) if would_block(&e) => continue,
                    Err(e) => return Err(e),
                }
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
        let (pipe_out, pipe_in) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // A bigger pipe moves more per splice call (fewer system calls per byte); the default
        // 64 KiB stays when the system refuses more.
        let _ = nix::fcntl::fcntl(&pipe_in, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32));
        loop {
            // The pipe is empty here, so EAGAIN can only mean the socket has nothing yet.
            from.readable().await?;
            let moved = from.try_io(Interest::READABLE, || {
                splice(from.as_fd(), None, pipe_in.as_fd(), None, CHUNK, flags()).map_err(io::Error::from)
            });
            let mut left = match moved {
                Ok(0) => {
                    pass_close_on();
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            while left > 0 {
                to.writable().await?;
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
        let (mut client, mut proxy_in) = pair().await;
        let (mut proxy_out, mut server) = pair().await;
        let relaying = tokio::spawn(async move { relay(&mut proxy_in, &mut proxy_out).await });
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

    #[tokio::test]
    async fn short_exchanges_keep_every_byte_and_end_with_the_close() {
        // Both ends speak and close at once (read speculatively, the end seen with the bytes,
        // and each side's bytes sent along with its FIN).
        let (mut client, mut proxy_in) = pair().await;
        let (mut proxy_out, mut server) = pair().await;
        client.write_all(b"x").await.unwrap();
        client.shutdown().await.unwrap();
        let relaying = tokio::spawn(async move { relay(&mut proxy_in, &mut proxy_out).await });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"x");
        server.write_all(b"12345678").await.unwrap();
        drop(server);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"12345678");
        relaying.await.unwrap().unwrap();

        // Back and forth: a short read while the other side stays open does not end anything.
        let (mut client, mut proxy_in) = pair().await;
        let (mut proxy_out, mut server) = pair().await;
        let relaying = tokio::spawn(async move { relay(&mut proxy_in, &mut proxy_out).await });
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

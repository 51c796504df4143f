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
    use nix::fcntl::{OFlag, SpliceFFlags, splice};
    use nix::sys::socket::{Shutdown, shutdown};
    use socket2::SockRef;
    use std::io;
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Writes all of `bytes`, trying the socket before the reactor: a socket just connected is
    /// writable long before its first event comes, and while connecting the kernel answers
    /// `EAGAIN` (or the connection's error, for one refused).
    async fn write_all(to: &TcpStream, bytes: &[u8]) -> io::Result<()> {
        let mut sent = match SockRef::from(to).send(bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
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
        let _ = shutdown(std::os::fd::AsRawFd::as_raw_fd(to), Shutdown::Write);
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
        // On the heap: a buffer in the future itself would make every connection's task larger,
        // to allocate and move when it is spawned.
        let mut buf = vec![0u8; 8 * 1024];
        let mut copied = 0;
        // With `speculate`, reads are tried before asking the reactor, until one finds nothing:
        // a client's first bytes (and often its close) are there by the time its connection is
        // accepted, and waiting for the event would cost a round trip through epoll (HAProxy's
        // speculative I/O).
        while copied < SPLICE_AFTER {
            let read = if speculate {
                let read = std::io::Read::read(&mut &*SockRef::from(from), &mut buf);
                // Until the socket first runs dry; from then on the reactor says when to read.
                speculate = !matches!(&read, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
                read
            } else {
                from.readable().await?;
                from.try_read(&mut buf)
            };
            let n = match read {
                Ok(0) => {
                    pass_close_on();
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            write_all(to, &buf[..n]).await?;
            copied += n;
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
}

//! Relaying a proxied connection's bytes both ways. On Linux, once a direction has carried some
//! volume, its bytes move socket → pipe → socket inside the kernel with splice(2), never copied
//! through svclab; short exchanges stay on a small buffered copy, which costs fewer system calls
//! than setting up a pipe. Elsewhere a buffered copy does the whole job.

use tokio::net::TcpStream;

/// Relays until both directions have ended; each end's close is passed on as a half-close.
#[cfg(target_os = "linux")]
pub async fn relay(a: &mut TcpStream, b: &mut TcpStream) -> std::io::Result<()> {
    let (a, b) = (&*a, &*b);
    tokio::try_join!(linux::one_way(a, b), linux::one_way(b, a)).map(|_| ())
}

#[cfg(not(target_os = "linux"))]
pub async fn relay(a: &mut TcpStream, b: &mut TcpStream) -> std::io::Result<()> {
    tokio::io::copy_bidirectional_with_sizes(a, b, 32 * 1024, 32 * 1024).await.map(|_| ())
}

#[cfg(target_os = "linux")]
mod linux {
    use nix::fcntl::{OFlag, SpliceFFlags, splice};
    use nix::sys::socket::{Shutdown, shutdown};
    use std::io;
    use std::os::fd::AsFd;
    use tokio::io::Interest;
    use tokio::net::TcpStream;

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

    /// Moves everything `from` sends to `to`, then half-closes `to`.
    pub(super) async fn one_way(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
        // On the heap and never zeroed: buffers in the future itself would make every
        // connection's task 32 KiB larger, to allocate and move when it is spawned.
        let mut buf = Vec::with_capacity(16 * 1024);
        let mut copied = 0;
        while copied < SPLICE_AFTER {
            from.readable().await?;
            buf.clear();
            let n = match from.try_read_buf(&mut buf) {
                Ok(0) => {
                    half_close(to);
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            let mut sent = 0;
            while sent < n {
                to.writable().await?;
                match to.try_write(&buf[sent..n]) {
                    Ok(m) => sent += m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
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
                    half_close(to);
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

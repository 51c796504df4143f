//! The load: clients and backends on a single-threaded runtime per core, and the bulk sender.

use crate::{BACKENDS, BULK_BYTES, KEPT_ALIVE, MESSAGE, SHORT_SECONDS, SHORT_WORKERS};
use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

/// The load's threads: one per core, each with a single-threaded runtime (as wrk runs an event
/// loop per thread). Clients and backends are spread over them. On Tokio's multi-threaded
/// runtime the load cost more CPU per connection than either proxy (its idle workers are woken
/// through futexes and steal each other's tasks), and on a machine whose cores the load shares
/// with the proxy that cost dilutes the proxies' difference.
pub(crate) fn load_threads() -> Result<Vec<Handle>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..n)
        .map(|i| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("load-{i}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            Ok(handle)
        })
        .collect()
}

/// The backends, at 127.0.3.1…4 over the load's threads: counting ones on one port, echoing
/// ones on another.
pub(crate) fn backends(threads: &[Handle]) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>)> {
    let on = |i: u8| &threads[usize::from(i) % threads.len()];
    let (first, first_echo) = (backend("127.0.3.1:0".parse()?, on(0))?, echo("127.0.3.1:0".parse()?, on(0))?);
    let (mut all, mut echoes) = (vec![first], vec![first_echo]);
    for i in 2..=BACKENDS {
        all.push(backend(SocketAddr::from(([127, 0, 3, i], first.port())), on(i))?);
        echoes.push(echo(SocketAddr::from(([127, 0, 3, i], first_echo.port())), on(i))?);
    }
    Ok((all, echoes))
}

/// A listener at `at`, served on `thread` by `serve` per connection.
fn serve<F, Fut>(at: SocketAddr, thread: &Handle, serve: F) -> Result<SocketAddr>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind(at)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    thread.spawn(async move {
        let listener = TcpListener::from_std(listener).expect("a listener");
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    Ok(addr)
}

/// An echo backend: sends back whatever it reads, until the client closes.
fn echo(at: SocketAddr, thread: &Handle) -> Result<SocketAddr> {
    serve(at, thread, |mut stream| async move {
        let _ = stream.set_nodelay(true);
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            if stream.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    })
}

/// A backend: reads until the client closes its side, then answers with the byte count.
fn backend(at: SocketAddr, thread: &Handle) -> Result<SocketAddr> {
    serve(at, thread, |mut stream| async move {
        // A short connection's byte fits a small buffer; a large one is made only for a
        // connection that fills it (zeroing 256 KiB per short connection cost the load
        // generator more than a proxy spends on the connection).
        let (mut small, mut large) = ([0u8; 4096], Vec::new());
        let mut total: u64 = 0;
        loop {
            let buf = if large.is_empty() { &mut small[..] } else { &mut large[..] };
            let n = match stream.read(buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if n == buf.len() && large.is_empty() {
                large = vec![0u8; 256 * 1024];
            }
            total += n as u64;
        }
        let _ = stream.write_all(&total.to_be_bytes()).await;
    })
}

/// One connection sending `BULK_BYTES`, from a thread of its own with blocking writes (as
/// iperf sends), so that the sender never shares a thread with the backend receiving.
pub(crate) fn bulk(target: SocketAddr) -> Result<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(target)?;
    stream.set_nodelay(true)?;
    let chunk = vec![7u8; 256 * 1024];
    let started = Instant::now();
    let mut sent = 0;
    while sent < BULK_BYTES {
        stream.write_all(&chunk)?;
        sent += chunk.len() as u64;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count)?;
    let elapsed = started.elapsed().as_secs_f64();
    if u64::from_be_bytes(count) != sent {
        bail!("the backend counted {} bytes, {sent} were sent", u64::from_be_bytes(count));
    }
    Ok(sent as f64 / elapsed / 1e9 * 8.0)
}

/// A connection from `source` (its port picked at connect time, per destination).
async fn connect_from(source: std::net::Ipv4Addr, target: SocketAddr) -> Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::IpBindAddressNoPort, &true)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    Ok(socket.connect(target).await?)
}

/// Runs `clients` clients over the load's threads, client `i` from 127.0.4.(i+1) to
/// `targets[i % len]`: each is `each` (given its source, target and the deadline
/// `SHORT_SECONDS` away), which repeats its exchange until the deadline and returns how long
/// each took, in microseconds. Returns how many a second, and all those times.
async fn load<F, Fut>(threads: &[Handle], targets: &[SocketAddr], clients: usize, each: F) -> Result<(f64, Vec<u32>)>
where
    F: Fn(std::net::Ipv4Addr, SocketAddr, Instant) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u32>>> + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(SHORT_SECONDS);
    let mut workers = Vec::new();
    for i in 0..clients {
        let (target, source) = (targets[i % targets.len()], std::net::Ipv4Addr::new(127, 0, 4, i as u8 + 1));
        workers.push(threads[i % threads.len()].spawn(each(source, target, deadline)));
    }
    let mut took = Vec::new();
    for w in workers {
        took.extend(w.await??);
    }
    Ok((took.len() as f64 / SHORT_SECONDS as f64, took))
}

fn micros_since(started: Instant) -> u32 {
    started.elapsed().as_micros().min(u32::MAX as u128) as u32
}

/// Short connections: connect, send a byte, half-close, read the reply (timed connect to reply).
pub(crate) async fn short_connections(threads: &[Handle], targets: &[SocketAddr]) -> Result<(f64, Vec<u32>)> {
    load(threads, targets, SHORT_WORKERS, |source, target, deadline| async move {
        let mut took = Vec::new();
        while Instant::now() < deadline {
            let started = Instant::now();
            let mut stream = connect_from(source, target).await?;
            stream.write_all(b"x").await?;
            stream.shutdown().await?;
            let mut count = [0u8; 8];
            stream.read_exact(&mut count).await?;
            took.push(micros_since(started));
        }
        Ok(took)
    })
    .await
}

/// Kept-alive requests: each client connects once, then sends `MESSAGE` bytes and reads their
/// echo, in turn (timed request to echo).
pub(crate) async fn kept_alive(threads: &[Handle], targets: &[SocketAddr]) -> Result<(f64, Vec<u32>)> {
    load(threads, targets, KEPT_ALIVE, |source, target, deadline| async move {
        let mut stream = connect_from(source, target).await?;
        stream.set_nodelay(true)?;
        let (request, mut reply) = ([b'r'; MESSAGE], [0u8; MESSAGE]);
        let mut took = Vec::new();
        while Instant::now() < deadline {
            let started = Instant::now();
            stream.write_all(&request).await?;
            stream.read_exact(&mut reply).await?;
            took.push(micros_since(started));
        }
        Ok(took)
    })
    .await
}

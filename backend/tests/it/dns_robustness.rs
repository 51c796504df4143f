//! The DNS server against malformed input: mutated and random packets over UDP and broken frames
//! over TCP must never crash or wedge it. A quick run here; `cargo xtask fuzz dns --seconds N`
//! runs it for longer (it sets `SVCLAB_FUZZ_SECONDS`).

use crate::common;

use common::{KUBIA, Lab, eventually};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

/// A packet made from a valid one by the kinds of damage fuzzers find useful.
fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut p = seeds[rng.random_range(0..seeds.len())].clone();
    match rng.random_range(0..7) {
        0 => p = (0..rng.random_range(0..600)).map(|_| rng.random()).collect(),
        1 => p.truncate(rng.random_range(0..p.len())),
        2 => {
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..p.len());
                p[i] ^= 1 << rng.random_range(0..8);
            }
        }
        3 => {
            // Section counts that lie.
            let i = rng.random_range(2..6) * 2;
            p[i] = rng.random();
            p[i + 1] = rng.random();
        }
        4 => {
            // A compression pointer to itself, or past the end.
            let at = 12.min(p.len() - 2);
            p[at] = 0xC0;
            p[at + 1] = if rng.random() { at as u8 } else { 0xFF };
        }
        5 => p.extend((0..rng.random_range(1..2000)).map(|_| rng.random::<u8>())),
        _ => {
            // A label longer than the packet.
            if p.len() > 12 {
                p[12] = 63;
            }
        }
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_never_crash_or_wedge_the_server() {
    let lab = Lab::start().await;
    lab.apply(KUBIA).await;
    let dns = lab.app.dns_addr;
    let seconds: u64 = std::env::var("SVCLAB_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let seed: u64 = std::env::var("SVCLAB_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = vec![
        query("kubia.default.svc.cluster.local.", RecordType::A),
        query("_http._tcp.kubia.default.svc.cluster.local.", RecordType::SRV),
        query("1.0.96.10.in-addr.arpa.", RecordType::PTR),
        query("example.com.", RecordType::ANY),
    ];
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(dns).await.unwrap();
    let started = Instant::now();
    let (mut sent, mut tcp_frames) = (0u64, 0u64);
    while sent < 5_000 || started.elapsed() < Duration::from_secs(seconds) {
        let packet = mutate(&mut rng, &seeds);
        let _ = socket.send(&packet).await;
        sent += 1;
        if sent % 50 == 0 {
            // Over TCP: a frame whose length prefix may lie, then a hang-up.
            let mut stream = tokio::net::TcpStream::connect(dns).await.unwrap();
            let claimed: u16 = if rng.random() { packet.len() as u16 } else { rng.random() };
            let _ = stream.write_all(&claimed.to_be_bytes()).await;
            let _ = stream.write_all(&packet).await;
            tcp_frames += 1;
        }
        if sent % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Still answering, over both transports.
    let good = query("kubia.default.svc.cluster.local.", RecordType::A);
    let answer = eventually(Duration::from_secs(10), "a valid answer after the fuzzing", || async {
        let raw = svclab::dns::client::exchange_udp(dns, &good, Duration::from_millis(500)).await.ok()?;
        Message::from_vec(&raw).ok().filter(|m| m.metadata.id == 0x1234)
    })
    .await;
    assert_eq!(answer.answers.len(), 1);
    let raw = svclab::dns::client::exchange_tcp(dns, &good, Duration::from_secs(2)).await.unwrap();
    assert_eq!(Message::from_vec(&raw).unwrap().answers.len(), 1);
    println!("sent {sent} packets and {tcp_frames} TCP frames in {:?} (seed {seed})", started.elapsed());
    lab.app.shutdown().await;
}

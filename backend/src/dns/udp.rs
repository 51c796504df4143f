//! The DNS server's UDP side: a thread per socket (the sockets share the port, one per core)
//! that blocks reading a datagram, parses it with hickory, answers it through the same
//! [`RequestHandler`] the TCP side uses and writes the answer back, all on that thread.
//!
//! hickory's own UDP server spawns a task for every datagram and hands each answer to the
//! socket through a channel, and a tokio socket goes back to epoll whenever its queue is empty;
//! at a hundred thousand queries a second the wake-ups between the runtime's threads cost more
//! than answering from the snapshot (a profile showed a third of the time in the scheduler).
//! Questions that go upstream are handed to the runtime, so a slow upstream never holds up the
//! cluster's answers.

use super::answers::{self, Answers};
use hickory_proto::op::{Header, MessageType, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Whether a request can be answered without waiting on anything (so on the socket's thread).
pub trait Inline {
    fn answers_inline(&self, request: &Request) -> bool;

    /// Which zone inline answers come from now: answers kept from an earlier generation are not
    /// sent again.
    fn zone_generation(&self) -> u64;
}

/// Serves each socket on a thread of its own until `cancel` fires, then shuts the sockets down
/// (which wakes a thread blocked reading) and waits for the threads, as a task of `tracker`.
pub fn serve<H>(
    sockets: Vec<tokio::net::UdpSocket>,
    handler: Arc<H>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> io::Result<()>
where
    H: RequestHandler + Inline,
{
    let runtime = tokio::runtime::Handle::current();
    let mut threads = Vec::new();
    let mut stops = Vec::new();
    for socket in sockets {
        let socket = socket.into_std()?;
        socket.set_nonblocking(false)?;
        let socket = Arc::new(socket);
        stops.push(socket.clone());
        let (handler, tracker, cancel, runtime) = (handler.clone(), tracker.clone(), cancel.clone(), runtime.clone());
        threads.push(
            std::thread::Builder::new()
                .name("dns-udp".into())
                .spawn(move || serve_socket(socket, handler, tracker, cancel, runtime))?,
        );
    }
    tracker.spawn(async move {
        cancel.cancelled().await;
        for socket in stops {
            // On an unconnected UDP socket Linux answers ENOTCONN yet marks it shut for reading
            // and wakes its readers, whose receive then returns at once.
            let _ = socket2::SockRef::from(&*socket).shutdown(std::net::Shutdown::Read);
        }
        let joined = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join())));
        let _ = joined.await;
    });
    Ok(())
}

fn serve_socket<H>(
    socket: Arc<UdpSocket>,
    handler: Arc<H>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    runtime: tokio::runtime::Handle,
) where
    H: RequestHandler + Inline,
{
    // The largest datagram a client may send; anything longer is cut and fails to parse.
    let mut buf = vec![0u8; 65_535];
    let mut answers = Answers::default();
    let (mut key, mut out) = (Vec::with_capacity(128), Vec::with_capacity(512));
    loop {
        // Once the socket is shut for reading, every receive fails or comes back empty at once,
        // so the token is looked at only then (it is a lock both threads would otherwise take
        // for every query).
        let (len, src) = match socket.recv_from(&mut buf) {
            Ok((0, _)) | Err(_) if cancel.is_cancelled() => return,
            Ok(received) => received,
            Err(e) => {
                // ICMP errors from an earlier send (a client that went away) surface here.
                tracing::debug!(error = %e, "DNS UDP receive failed");
                continue;
            }
        };
        if src.port() == 0 || src.ip().is_unspecified() {
            continue;
        }
        let query = &buf[..len];
        // A question answered before, from the same zone: the same bytes again.
        let zone = handler.zone_generation();
        let plain = answers::parse(query, &mut key);
        if let Some(name_end) = plain
            && answers.answer(zone, query, &key, name_end, &mut out)
        {
            if let Err(e) = socket.send_to(&out, src) {
                tracing::debug!(error = %e, "DNS UDP send failed");
            }
            continue;
        }
        let reply = Reply { socket: socket.clone(), dst: src, sent: None };
        let Some(request) = parse(query, src, &reply) else { continue };
        if handler.answers_inline(&request) {
            // Nothing in it waits: the answer comes from memory and the socket blocks to send.
            let sent = plain.as_ref().map(|_| Arc::new(std::sync::Mutex::new(Vec::new())));
            let reply = Reply { sent: sent.clone(), ..reply };
            futures::executor::block_on(handler.handle_request::<_, TokioTime>(&request, reply));
            // Kept for the next time the question comes, unless it failed.
            if let Some(sent) = sent {
                let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
                if sent.len() >= 4 && sent[3] & 0x0F != 2 {
                    answers.keep(zone, &key, &sent);
                }
            }
        } else {
            let handler = handler.clone();
            tracker.spawn_on(
                async move {
                    handler.handle_request::<_, TokioTime>(&request, reply).await;
                },
                &runtime,
            );
        }
    }
}

/// Parses a datagram as hickory's server does: too short for a header is dropped, responses are
/// dropped (no reflection), a query that does not parse is answered FORMERR.
fn parse(bytes: &[u8], src: SocketAddr, reply: &Reply) -> Option<Request> {
    let mut decoder = BinDecoder::new(bytes);
    let header = Header::read(&mut decoder).ok()?;
    if header.metadata.message_type == MessageType::Response {
        return None;
    }
    match Request::from_bytes(bytes.to_vec(), src, Protocol::Udp) {
        Ok(request) => Some(request),
        Err(e) => {
            tracing::debug!(%src, error = %e, "malformed DNS query");
            let mut empty = BinDecoder::new(&[]);
            let queries = Queries::read(&mut empty, 0).ok()?;
            let response =
                MessageResponseBuilder::new(&queries, None).error_msg(&header.metadata, ResponseCode::FormErr);
            let _ = futures::executor::block_on(reply.clone().send_response(response));
            None
        }
    }
}

/// Writes an answer straight to the socket it came in on, and (when `sent` is given) leaves a
/// copy of the bytes there to be kept.
#[derive(Clone)]
struct Reply {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
    sent: Option<Arc<std::sync::Mutex<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Reply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let id = response.metadata().id;
        // No EDNS: the client advertised no buffer, and RFC 1035 §4.2.1 limits it to 512 bytes.
        let max = response.edns().map_or(512, |e| e.max_payload().max(512));
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(max);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "encoding a DNS answer failed");
                bytes.clear();
                servfail(id, &mut bytes)?
            }
        };
        self.socket.send_to(&bytes, self.dst)?;
        if let Some(sent) = &self.sent {
            *sent.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
        }
        Ok(info)
    }
}

fn servfail(id: u16, bytes: &mut Vec<u8>) -> Result<ResponseInfo, NetError> {
    use hickory_proto::op::{HeaderCounts, Metadata, OpCode};
    use hickory_proto::serialize::binary::BinEncodable;
    let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header { metadata, counts: HeaderCounts::default() };
    header.emit(&mut BinEncoder::new(bytes))?;
    Ok(ResponseInfo::from(header))
}

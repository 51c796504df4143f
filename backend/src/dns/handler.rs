//! The DNS request handler: questions about the cluster zone and the reverse zone are answered
//! from the current [`Snapshot`] straight into hickory's response builder; other names go to the
//! upstream when one is set, and are refused otherwise. (hickory's `Catalog` of zone handlers
//! would do the same dispatch, at a cost per query that showed in the benchmark: it walks the
//! name label by label and builds an intermediate message for every answer.)

use super::records::{Answer, Snapshot};
use hickory_proto::op::{Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The snapshot the server answers from, swapped whole when the cluster changes: published
/// through a `watch` channel, as the proxy table and the ingress routes are.
#[derive(Clone)]
pub struct SharedSnapshot(Arc<Published>);

struct Published {
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// How many snapshots have replaced the first.
    generation: AtomicU64,
}

impl SharedSnapshot {
    pub fn new(snapshot: Snapshot) -> Self {
        let snapshot = watch::Sender::new(Arc::new(snapshot));
        SharedSnapshot(Arc::new(Published { snapshot, generation: AtomicU64::new(0) }))
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.0.snapshot.borrow().clone()
    }

    /// The zone's generation. Read before answering, an answer is from this generation or a
    /// later one (a snapshot is published before the count moves).
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    pub fn replace(&self, snapshot: Snapshot) {
        self.0.snapshot.send_replace(Arc::new(snapshot));
        self.0.generation.fetch_add(1, Ordering::Release);
    }
}

/// Answers DNS requests for the cluster.
#[derive(Clone)]
pub struct ClusterDns {
    zones: [Name; 2],
    snapshot: SharedSnapshot,
    forwarder: Option<Forwarder>,
}

impl ClusterDns {
    pub fn new(domain: Name, snapshot: SharedSnapshot, upstream: Option<SocketAddr>) -> Self {
        let arpa = Name::from_ascii("in-addr.arpa.").expect("valid");
        ClusterDns { zones: [domain, arpa], snapshot, forwarder: upstream.map(Forwarder::new) }
    }
}

/// Sends a response; a failure to send is reported as SERVFAIL in the server's accounting.
async fn send<'q, 'a, R, A, N, S, D>(
    mut handle: R,
    response: MessageResponse<'q, 'a, A, N, S, D>,
    metadata: Metadata,
) -> ResponseInfo
where
    R: ResponseHandler,
    A: Iterator<Item = &'a Record> + Send + 'a,
    N: Iterator<Item = &'a Record> + Send + 'a,
    S: Iterator<Item = &'a Record> + Send + 'a,
    D: Iterator<Item = &'a Record> + Send + 'a,
{
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(e) => {
            tracing::debug!(error = %e, "sending a DNS response failed");
            let mut failed = metadata;
            failed.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header { metadata: failed, counts: HeaderCounts::default() })
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for ClusterDns {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, handle: R) -> ResponseInfo {
        let response_edns = request.edns.as_ref().map(|e| {
            let mut edns = Edns::new();
            edns.set_max_payload(e.max_payload().max(512));
            edns.set_version(0);
            edns
        });
        let builder = MessageResponseBuilder::new(&request.queries, response_edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let error = |mut metadata: Metadata, code: ResponseCode| {
            metadata.response_code = code;
            metadata
        };
        if request.metadata.message_type != MessageType::Query {
            let metadata = error(metadata, ResponseCode::FormErr);
            return send(handle, builder.build_no_records(metadata), metadata).await;
        }
        if request.metadata.op_code != OpCode::Query {
            let metadata = error(metadata, ResponseCode::NotImp);
            return send(handle, builder.build_no_records(metadata), metadata).await;
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            let metadata = error(metadata, ResponseCode::BADVERS);
            return send(handle, builder.build_no_records(metadata), metadata).await;
        }
        let Ok(info) = request.request_info() else {
            let metadata = error(metadata, ResponseCode::FormErr);
            return send(handle, builder.build_no_records(metadata), metadata).await;
        };
        let query = info.query.original();
        let name = query.name();
        let Some(zone) = self.zones.iter().find(|z| z.zone_of(name)) else {
            return match &self.forwarder {
                Some(forwarder) if request.metadata.recursion_desired => {
                    metadata.recursion_available = true;
                    match forwarder.forward(query).await {
                        Ok(reply) => {
                            metadata.response_code = reply.metadata.response_code;
                            let response =
                                builder.build(metadata, reply.answers.iter(), reply.authorities.iter(), [], []);
                            send(handle, response, metadata).await
                        }
                        Err(_) => {
                            let metadata = error(metadata, ResponseCode::ServFail);
                            send(handle, builder.build_no_records(metadata), metadata).await
                        }
                    }
                }
                _ => {
                    let metadata = error(metadata, ResponseCode::Refused);
                    send(handle, builder.build_no_records(metadata), metadata).await
                }
            };
        };
        metadata.authoritative = true;
        let snapshot = self.snapshot.current();
        match snapshot.answer(name, query.query_type()) {
            Answer::Records(records) => {
                send(handle, builder.build(metadata, records.iter(), [], [], []), metadata).await
            }
            negative => {
                if negative == Answer::NxDomain {
                    metadata.response_code = ResponseCode::NXDomain;
                }
                // Negative answers carry the zone's SOA (RFC 2308).
                let soa = [snapshot.soa(zone)];
                send(handle, builder.build(metadata, [], soa.iter(), [], []), metadata).await
            }
        }
    }
}

impl super::udp::Inline for ClusterDns {
    /// Everything but a question forwarded upstream is answered from memory.
    fn answers_inline(&self, request: &Request) -> bool {
        let forwards = self.forwarder.is_some()
            && request.metadata.recursion_desired
            && request.queries.queries().first().is_some_and(|q| !self.zones.iter().any(|z| z.zone_of(q.name())));
        !forwards
    }

    fn zone_generation(&self) -> u64 {
        self.snapshot.generation()
    }
}

/// Forwards names outside the cluster to an upstream server over UDP (TCP when truncated).
#[derive(Clone)]
pub struct Forwarder {
    upstream: SocketAddr,
}

impl Forwarder {
    pub fn new(upstream: SocketAddr) -> Self {
        Forwarder { upstream }
    }

    async fn forward(&self, query: &Query) -> Result<Message, std::io::Error> {
        let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(query.clone());
        let bytes = message.to_vec().map_err(|e| std::io::Error::other(e.to_string()))?;
        let reply = super::client::exchange_udp(self.upstream, &bytes, Duration::from_secs(2)).await?;
        let reply = Message::from_vec(&reply).map_err(|e| std::io::Error::other(e.to_string()))?;
        if reply.metadata.truncation {
            let reply = super::client::exchange_tcp(self.upstream, &bytes, Duration::from_secs(2)).await?;
            return Message::from_vec(&reply).map_err(|e| std::io::Error::other(e.to_string()));
        }
        Ok(reply)
    }
}

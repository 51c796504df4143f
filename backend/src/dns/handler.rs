//! hickory-server zone handlers: the cluster zone and the reverse zone answered from the
//! current [`Snapshot`], and a forwarder for names outside the cluster (when an upstream is set;
//! without one the catalog refuses them).

use super::records::{Answer, Snapshot};
use hickory_proto::op::ResponseCode;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{LowerName, Name, RecordType, TSigResponseContext};
use hickory_server::server::{Request, RequestInfo};
use hickory_server::zone_handler::{
    AuthLookup, AxfrPolicy, LookupControlFlow, LookupError, LookupOptions, LookupRecords, ZoneHandler, ZoneType,
};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The snapshot the server answers from, swapped whole when the cluster changes.
#[derive(Clone)]
pub struct SharedSnapshot(Arc<RwLock<Arc<Snapshot>>>);

impl SharedSnapshot {
    pub fn new(snapshot: Snapshot) -> Self {
        SharedSnapshot(Arc::new(RwLock::new(Arc::new(snapshot))))
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, snapshot: Snapshot) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}

/// A zone answered from the snapshot: the cluster domain, or `in-addr.arpa.`.
pub struct ClusterZone {
    origin: LowerName,
    snapshot: SharedSnapshot,
}

impl ClusterZone {
    pub fn new(origin: Name, snapshot: SharedSnapshot) -> Self {
        ClusterZone { origin: LowerName::new(&origin), snapshot }
    }

    fn answer(&self, name: &Name, rtype: RecordType) -> LookupControlFlow<AuthLookup> {
        match self.snapshot.current().answer(name, rtype) {
            Answer::Records(records) => {
                LookupControlFlow::Break(Ok(AuthLookup::answers(LookupRecords::Section(records), None)))
            }
            Answer::NoData => LookupControlFlow::Break(Err(LookupError::NameExists)),
            Answer::NxDomain => LookupControlFlow::Break(Err(LookupError::ResponseCode(ResponseCode::NXDomain))),
        }
    }
}

#[async_trait::async_trait]
impl ZoneHandler for ClusterZone {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.origin
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        self.answer(&Name::from(name.clone()), rtype)
    }

    async fn search(
        &self,
        request: &Request,
        _lookup_options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(e) => return (LookupControlFlow::Break(Err(e)), None),
        };
        let query = info.query.original();
        (self.answer(query.name(), query.query_type()), None)
    }

    async fn nsec_records(&self, _name: &LowerName, _options: LookupOptions) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Break(Ok(AuthLookup::default()))
    }
}

/// Forwards names outside the cluster to an upstream server over UDP (TCP when truncated).
pub struct Forwarder {
    origin: LowerName,
    upstream: SocketAddr,
}

impl Forwarder {
    pub fn new(upstream: SocketAddr) -> Self {
        Forwarder { origin: LowerName::new(&Name::root()), upstream }
    }

    async fn forward(&self, query: &Query) -> Result<Message, LookupError> {
        let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(query.clone());
        let bytes = message.to_vec().map_err(|e| LookupError::Io(std::io::Error::other(e.to_string())))?;
        let reply = super::client::exchange_udp(self.upstream, &bytes, Duration::from_secs(2)).await?;
        let reply = Message::from_vec(&reply).map_err(|e| LookupError::Io(std::io::Error::other(e.to_string())))?;
        if reply.metadata.truncation {
            let reply = super::client::exchange_tcp(self.upstream, &bytes, Duration::from_secs(2)).await?;
            return Message::from_vec(&reply).map_err(|e| LookupError::Io(std::io::Error::other(e.to_string())));
        }
        Ok(reply)
    }
}

#[async_trait::async_trait]
impl ZoneHandler for Forwarder {
    fn zone_type(&self) -> ZoneType {
        ZoneType::External
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        &self.origin
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        _lookup_options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        let query = Query::query(Name::from(name.clone()), rtype);
        match self.forward(&query).await {
            Ok(reply) if reply.metadata.response_code == ResponseCode::NXDomain => {
                LookupControlFlow::Break(Err(LookupError::ResponseCode(ResponseCode::NXDomain)))
            }
            Ok(reply) if reply.metadata.response_code != ResponseCode::NoError => {
                LookupControlFlow::Break(Err(LookupError::ResponseCode(reply.metadata.response_code)))
            }
            Ok(reply) => {
                let answers = reply.answers.to_vec();
                LookupControlFlow::Break(Ok(AuthLookup::answers(LookupRecords::Section(answers), None)))
            }
            Err(e) => LookupControlFlow::Break(Err(e)),
        }
    }

    async fn search(
        &self,
        request: &Request,
        options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(e) => return (LookupControlFlow::Break(Err(e)), None),
        };
        (self.lookup(info.query.name(), info.query.query_type(), None, options).await, None)
    }

    async fn nsec_records(&self, _name: &LowerName, _options: LookupOptions) -> LookupControlFlow<AuthLookup> {
        LookupControlFlow::Break(Ok(AuthLookup::default()))
    }
}

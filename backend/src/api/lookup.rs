//! `POST /lab/v1/dns-lookups`: the dashboard's DNS panel. Through a pod's resolver each name of
//! its search path is asked in glibc's order over the virtual network, as the pod's own tools
//! would; without a pod the name is asked once, as given, straight at the cluster DNS server.

use super::ApiState;
use crate::dns::client;
use crate::error::ApiError;
use crate::kubelet::exec::Ctx;
use crate::kubelet::exec::resolver::{self, ResolveError};
use axum::Json;
use axum::extract::State;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{Duration, Instant};
use svclab_shared::lab::{DnsLookup, DnsLookupRequest, DnsQueryTrace, DnsRecordLine};

const SERVER_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn lookup(
    State(state): State<ApiState>,
    Json(request): Json<DnsLookupRequest>,
) -> Result<Json<DnsLookup>, ApiError> {
    let name = request.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::BadRequest("name: Required value: a name to look up".into()));
    }
    let type_text = request.type_.as_deref().unwrap_or("A").trim().to_ascii_uppercase();
    let rtype = RecordType::from_str(&type_text)
        .map_err(|_| ApiError::BadRequest(format!("type: Unsupported value: \"{type_text}\"")))?;
    // As dig -x: a PTR lookup of an address asks its reverse name.
    let name = match (rtype, name.parse::<Ipv4Addr>()) {
        (RecordType::PTR, Ok(ip)) => resolver::reverse_name(ip),
        _ => name,
    };
    let lookup = match &request.from_pod {
        Some(pod) => {
            let sandbox = state
                .sandboxes
                .get(&pod.namespace, &pod.name)
                .ok_or_else(|| ApiError::BadRequest(format!("pod {}/{} is not running", pod.namespace, pod.name)))?;
            let container = sandbox.spec.containers.first().map(|c| c.name.clone());
            let ctx = Ctx::new(sandbox.clone(), &container.unwrap_or_default());
            through_resolver(&ctx, &format!("{}/{}", pod.namespace, pod.name), &name, rtype).await
        }
        None => straight(&state, &name, rtype).await?,
    };
    Ok(Json(lookup))
}

/// glibc's search: each candidate until one answers with records.
pub(crate) async fn through_resolver(ctx: &Ctx, pod: &str, name: &str, rtype: RecordType) -> DnsLookup {
    let conf = resolver::conf_of(ctx);
    let via = format!(
        "pod {pod}'s resolver: nameserver {}, search {}, ndots:{}",
        conf.nameservers.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(" "),
        if conf.search.is_empty() { "(none)".into() } else { conf.search.join(" ") },
        conf.ndots
    );
    let mut lookup = DnsLookup { via, ..DnsLookup::default() };
    let mut failure = "NXDOMAIN for every name tried".to_string();
    for candidate in conf.candidates(name) {
        let Ok(qname) = Name::from_ascii(&candidate) else {
            failure = format!("{candidate} is not a valid name");
            continue;
        };
        let started = Instant::now();
        match resolver::ask(ctx, &conf, &qname, rtype).await {
            Ok(exchange) => {
                let trace = trace(&candidate, rtype, exchange.server.to_string(), &exchange.reply, started);
                let answered =
                    exchange.reply.metadata.response_code == ResponseCode::NoError && !trace.answers.is_empty();
                if !answered && exchange.reply.metadata.response_code != ResponseCode::NXDomain {
                    failure = format!("{} for {candidate}", trace.rcode);
                }
                lookup.queries.push(trace);
                if answered {
                    lookup.answers = lookup.queries.last().map(|q| q.answers.clone()).unwrap_or_default();
                    return lookup;
                }
            }
            Err(e) => {
                lookup.queries.push(DnsQueryTrace {
                    name: candidate.clone(),
                    type_: rtype.to_string(),
                    server: conf.nameservers.first().map(|s| format!("{s}:53")).unwrap_or_default(),
                    rcode: match e {
                        ResolveError::Timeout => "timeout".into(),
                        ResolveError::Server(code) => resolver::rcode_name(code),
                        ResolveError::NotFound => "NXDOMAIN".into(),
                    },
                    answers: vec![],
                    micros: started.elapsed().as_micros() as u64,
                });
                if e == ResolveError::Timeout {
                    failure = "connection timed out; no servers could be reached".into();
                }
            }
        }
    }
    lookup.error = Some(failure);
    lookup
}

/// One query, as given, to the cluster DNS server's own address (UDP, TCP when truncated).
async fn straight(state: &ApiState, name: &str, rtype: RecordType) -> Result<DnsLookup, ApiError> {
    let fqdn = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
    let qname =
        Name::from_ascii(&fqdn).map_err(|e| ApiError::BadRequest(format!("name: Invalid value: \"{name}\": {e}")))?;
    let query = resolver::query_message(&qname, rtype);
    let bytes = query.to_vec().map_err(|e| ApiError::Internal(e.to_string()))?;
    let server = state.dns_addr;
    let mut lookup =
        DnsLookup { via: format!("the cluster DNS server at {server}, no search path"), ..DnsLookup::default() };
    let started = Instant::now();
    let reply = match client::exchange_udp(server, &bytes, SERVER_TIMEOUT).await {
        Ok(raw) => match Message::from_vec(&raw) {
            Ok(m) if m.metadata.truncation => client::exchange_tcp(server, &bytes, SERVER_TIMEOUT)
                .await
                .ok()
                .and_then(|raw| Message::from_vec(&raw).ok()),
            Ok(m) => Some(m),
            Err(_) => None,
        },
        Err(_) => None,
    };
    let Some(reply) = reply else {
        lookup.queries.push(DnsQueryTrace {
            name: fqdn,
            type_: rtype.to_string(),
            server: server.to_string(),
            rcode: "timeout".into(),
            answers: vec![],
            micros: started.elapsed().as_micros() as u64,
        });
        lookup.error = Some("connection timed out; no servers could be reached".into());
        return Ok(lookup);
    };
    let trace = trace(&fqdn, rtype, server.to_string(), &reply, started);
    if trace.answers.is_empty() {
        lookup.error = Some(format!("{} for {fqdn}", trace.rcode));
    }
    lookup.answers = trace.answers.clone();
    lookup.queries.push(trace);
    Ok(lookup)
}

fn trace(name: &str, rtype: RecordType, server: String, reply: &Message, started: Instant) -> DnsQueryTrace {
    DnsQueryTrace {
        name: name.to_string(),
        type_: rtype.to_string(),
        server,
        rcode: resolver::rcode_name(reply.metadata.response_code),
        answers: reply.answers.iter().map(record_line).collect(),
        micros: started.elapsed().as_micros() as u64,
    }
}

fn record_line(r: &Record) -> DnsRecordLine {
    DnsRecordLine { name: r.name.to_string(), ttl: r.ttl, type_: r.record_type().to_string(), data: r.data.to_string() }
}

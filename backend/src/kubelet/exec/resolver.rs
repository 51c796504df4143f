//! The resolver inside a container, as glibc's: `/etc/hosts` first, then the nameservers of
//! `/etc/resolv.conf` over the virtual network (UDP, TCP when the answer is truncated), trying
//! the search domains before or after the name itself as `ndots` says.

use super::Ctx;
use crate::network::{DialError, To};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// A container's `/etc/resolv.conf`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvConf {
    pub nameservers: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    pub ndots: usize,
    pub timeout: Duration,
    pub attempts: usize,
}

impl ResolvConf {
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf =
            ResolvConf { nameservers: vec![], search: vec![], ndots: 1, timeout: Duration::from_secs(5), attempts: 2 };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => conf.nameservers.extend(words.next().and_then(|w| w.parse::<Ipv4Addr>().ok())),
                Some("search") | Some("domain") => conf.search = words.map(String::from).collect(),
                Some("options") => {
                    for option in words {
                        match option.split_once(':') {
                            Some(("ndots", n)) => conf.ndots = n.parse().unwrap_or(1).min(15),
                            Some(("timeout", n)) => conf.timeout = Duration::from_secs(n.parse().unwrap_or(5)),
                            Some(("attempts", n)) => conf.attempts = n.parse().unwrap_or(2).max(1),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// The names to try, in glibc's order: an absolute name alone; a name with at least
    /// `ndots` dots as it is first; otherwise the search domains first.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![format!("{absolute}.")];
        }
        let searched = self.search.iter().map(|d| format!("{name}.{}.", d.trim_end_matches('.')));
        let as_is = format!("{name}.");
        if name.matches('.').count() >= self.ndots {
            std::iter::once(as_is).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(as_is)).collect()
        }
    }
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveError {
    /// NXDOMAIN (or no address) for every candidate.
    NotFound,
    /// No server answered.
    Timeout,
    /// A server answered with an error (SERVFAIL, REFUSED…).
    Server(ResponseCode),
}

/// One DNS exchange from the container: the server's reply, the time it took, over TCP or not.
pub struct Exchange {
    pub reply: Message,
    pub took: Duration,
    pub server: SocketAddrV4,
}

/// A response code as dig prints it.
pub fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// The PTR name of an address: `4.3.2.1.in-addr.arpa.`.
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
}

/// Builds a query message (recursion desired, as stub resolvers send).
pub fn query_message(name: &Name, rtype: RecordType) -> Message {
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), rtype));
    message
}

/// Sends `message` to `server` from the pod: UDP, then TCP when the reply is truncated or `tcp`.
pub async fn exchange(
    ctx: &Ctx,
    server: SocketAddrV4,
    message: &Message,
    timeout: Duration,
    tcp: bool,
) -> Result<Exchange, DialError> {
    let started = Instant::now();
    let result = exchange_once(ctx, server, message, timeout, tcp, started).await;
    if matches!(result, Err(DialError::Dropped)) {
        // A query a NetworkPolicy drops gets no answer: the resolver waits its timeout out.
        tokio::time::sleep(timeout.saturating_sub(started.elapsed())).await;
    }
    result
}

async fn exchange_once(
    ctx: &Ctx,
    server: SocketAddrV4,
    message: &Message,
    timeout: Duration,
    tcp: bool,
    started: Instant,
) -> Result<Exchange, DialError> {
    let bytes = message.to_vec().map_err(|e| DialError::Io(std::io::Error::other(e.to_string())))?;
    let network = &ctx.sandbox.network;
    let decode =
        |raw: Vec<u8>| Message::from_vec(&raw).map_err(|e| DialError::Io(std::io::Error::other(e.to_string())));
    if !tcp {
        let reply = decode(network.exchange(server, ctx.sandbox.pod_ip, &bytes, timeout).await?)?;
        if !reply.metadata.truncation {
            return Ok(Exchange { reply, took: started.elapsed(), server });
        }
    }
    let work = async {
        let mut conn = network.dial(To::Cluster(server), ctx.sandbox.dial_to(*server.ip())).await?;
        crate::dns::client::exchange_stream(&mut conn.stream, &bytes).await.map_err(DialError::from)
    };
    let raw = tokio::time::timeout(timeout, work).await.map_err(|_| DialError::Dropped)??;
    Ok(Exchange { reply: decode(raw)?, took: started.elapsed(), server })
}

/// Asks the configured nameservers, each `attempts` times, until one answers.
pub async fn ask(ctx: &Ctx, conf: &ResolvConf, name: &Name, rtype: RecordType) -> Result<Exchange, ResolveError> {
    let message = query_message(name, rtype);
    for _ in 0..conf.attempts {
        for server in &conf.nameservers {
            match exchange(ctx, SocketAddrV4::new(*server, 53), &message, conf.timeout, false).await {
                Ok(e) => return Ok(e),
                Err(_) => continue,
            }
        }
    }
    Err(ResolveError::Timeout)
}

/// The container's resolver configuration, read from its `/etc/resolv.conf`.
pub fn conf_of(ctx: &Ctx) -> ResolvConf {
    ResolvConf::parse(&String::from_utf8_lossy(&ctx.read_file("/etc/resolv.conf").unwrap_or_default()))
}

fn from_hosts(ctx: &Ctx, host: &str) -> Option<Ipv4Addr> {
    let hosts = ctx.read_file("/etc/hosts").unwrap_or_default();
    let hosts = String::from_utf8_lossy(&hosts);
    hosts.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|line| {
        let mut fields = line.split_whitespace();
        let ip: Ipv4Addr = fields.next()?.parse().ok()?;
        fields.any(|name| name.eq_ignore_ascii_case(host)).then_some(ip)
    })
}

/// `getaddrinfo` for IPv4: a literal, `/etc/hosts`, then DNS with the search path; CNAMEs
/// are followed.
pub async fn resolve(ctx: &Ctx, host: &str) -> Result<Vec<Ipv4Addr>, ResolveError> {
    if let Ok(ip) = host.parse() {
        return Ok(vec![ip]);
    }
    if let Some(ip) = from_hosts(ctx, host.trim_end_matches('.')) {
        return Ok(vec![ip]);
    }
    let conf = conf_of(ctx);
    let mut failure = ResolveError::NotFound;
    for candidate in conf.candidates(host) {
        let Ok(mut name) = Name::from_ascii(&candidate) else { continue };
        // Follow aliases a few times.
        for _ in 0..8 {
            let reply = match ask(ctx, &conf, &name, RecordType::A).await {
                Ok(e) => e.reply,
                Err(e) => {
                    failure = e;
                    break;
                }
            };
            match reply.metadata.response_code {
                ResponseCode::NoError => {}
                ResponseCode::NXDomain => break,
                code => {
                    failure = ResolveError::Server(code);
                    break;
                }
            }
            let addresses: Vec<Ipv4Addr> = reply
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            if !addresses.is_empty() {
                return Ok(addresses);
            }
            let alias = reply.answers.iter().find_map(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
            match alias {
                Some(target) => name = target,
                None => break,
            }
        }
    }
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_conf() -> ResolvConf {
        ResolvConf::parse(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        )
    }

    #[test]
    fn resolv_conf_parses() {
        let conf = pod_conf();
        assert_eq!(conf.nameservers, [Ipv4Addr::new(10, 96, 0, 10)]);
        assert_eq!(conf.ndots, 5);
        assert_eq!(conf.search.len(), 3);
    }

    #[test]
    fn candidates_follow_ndots_like_glibc() {
        let conf = pod_conf();
        assert_eq!(
            conf.candidates("kubia"),
            ["kubia.default.svc.cluster.local.", "kubia.svc.cluster.local.", "kubia.cluster.local.", "kubia."]
        );
        assert_eq!(conf.candidates("kubia.default")[0], "kubia.default.default.svc.cluster.local.");
        assert_eq!(conf.candidates("kubia.default.svc.cluster.local.")[..], ["kubia.default.svc.cluster.local."]);
        let few = ResolvConf { ndots: 1, ..pod_conf() };
        assert_eq!(few.candidates("example.com")[0], "example.com.", "enough dots: as it is first");
    }
}

//! `nslookup` and `dig` (BIND 9's, as `tutum/dnsutils` has them): real queries to the
//! container's nameserver over the virtual network, printed as those tools print them.

use super::resolver::{self, ResolvConf};
use super::{Ctx, Output};
use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::time::Duration;

/// `dig`'s line for a record: owner, TTL, class, type, data.
fn record_line(r: &Record) -> String {
    let owner = r.name.to_string();
    let pad = if owner.len() < 24 { "\t".repeat((24 - owner.len()).div_ceil(8)) } else { " ".into() };
    format!("{owner}{pad}{}\tIN\t{}\t{}\n", r.ttl, r.record_type(), r.data)
}

fn flags(m: &Message) -> String {
    let meta = &m.metadata;
    let pairs = [
        ("qr", meta.message_type == hickory_proto::op::MessageType::Response),
        ("aa", meta.authoritative),
        ("tc", meta.truncation),
        ("rd", meta.recursion_desired),
        ("ra", meta.recursion_available),
        ("ad", meta.authentic_data),
        ("cd", meta.checking_disabled),
    ];
    pairs.iter().filter(|(_, on)| *on).map(|(f, _)| *f).collect::<Vec<_>>().join(" ")
}

/// `dig [@server] [-p port] [-t type] [-x addr] name [type] [+short] [+tcp] [+search] [+noall] [+answer]…`
pub(super) async fn dig(ctx: &mut Ctx, args: &[String]) -> Output {
    let conf = resolver::conf_of(ctx);
    let o = match DigOptions::parse(args) {
        Ok(options) => options,
        Err(failed) => return failed,
    };
    let name = o.name.clone().unwrap_or_else(|| ".".into());
    let rtype = o.rtype.unwrap_or(if name == "." { RecordType::NS } else { RecordType::A });
    let Some(server) = o.server.or(conf.nameservers.first().copied()) else {
        return Output::fail(9, ";; no servers could be reached\n");
    };
    let candidates = if o.search { conf.candidates(&name) } else { vec![format!("{}.", name.trim_end_matches('.'))] };
    let mut out = String::new();
    if !o.short && o.sections[COMMENTS] {
        out.push_str(&format!(
            "\n; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> {}\n;; global options: +cmd\n",
            args.join(" ")
        ));
    }
    let mut last = None;
    for candidate in &candidates {
        let Ok(qname) = Name::from_ascii(candidate) else {
            return Output::fail(1, format!("dig: '{name}' is not a legal name (label too long)\n"));
        };
        let mut message = resolver::query_message(&qname, rtype);
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        message.set_edns(edns);
        message.metadata.authentic_data = true;
        let target = SocketAddrV4::new(server, o.port);
        match resolver::exchange(ctx, target, &message, Duration::from_secs(5), o.tcp).await {
            Ok(exchange) => {
                let nx = exchange.reply.metadata.response_code == ResponseCode::NXDomain;
                last = Some((exchange, message));
                if !nx {
                    break;
                }
            }
            Err(_) => {
                out.push_str(&format!(
                    ";; communications error to {server}#{}: timed out\n;; no servers could be reached\n",
                    o.port
                ));
                return Output { stdout: out.into(), stderr: String::new(), code: 9 };
            }
        }
    }
    let Some((exchange, query)) = last else { return Output::fail(1, "dig: nothing to query\n") };
    if o.short {
        let lines: String = exchange.reply.answers.iter().map(|r| format!("{}\n", r.data)).collect();
        return Output::ok(lines);
    }
    o.print(&mut out, &exchange, &query, SocketAddrV4::new(server, o.port));
    Output::ok(out)
}

/// dig's sections, as `+[no]comments`, `+[no]question`, … switch them.
const COMMENTS: usize = 0;
const QUESTION: usize = 1;
const ANSWER: usize = 2;
const AUTHORITY: usize = 3;
const STATS: usize = 4;

/// What dig's command line asks.
struct DigOptions {
    server: Option<Ipv4Addr>,
    port: u16,
    rtype: Option<RecordType>,
    name: Option<String>,
    short: bool,
    tcp: bool,
    search: bool,
    /// Comments, question, answer, authority, stats: which are printed.
    sections: [bool; 5],
}

impl DigOptions {
    /// Reads dig's arguments in any order, as dig does; a bad server or `-x` address fails.
    fn parse(args: &[String]) -> Result<DigOptions, Output> {
        let mut o = DigOptions {
            server: None,
            port: 53,
            rtype: None,
            name: None,
            short: false,
            tcp: false,
            search: false,
            sections: [true; 5],
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let a = arg.as_str();
            if let Some(s) = a.strip_prefix('@') {
                match s.parse() {
                    Ok(ip) => o.server = Some(ip),
                    Err(_) => return Err(Output::fail(1, format!("dig: couldn't get address for '{s}': not found\n"))),
                }
            } else if let Some(opt) = a.strip_prefix('+') {
                o.option(opt);
            } else if a == "-p" {
                o.port = it.next().and_then(|p| p.parse().ok()).unwrap_or(53);
            } else if a == "-t" {
                o.rtype = it.next().and_then(|t| RecordType::from_str(&t.to_uppercase()).ok());
            } else if a == "-x" {
                match it.next().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) {
                    Some(ip) => {
                        o.name = Some(resolver::reverse_name(ip));
                        o.rtype = Some(RecordType::PTR);
                    }
                    None => return Err(Output::fail(1, "dig: invalid IP address\n")),
                }
            } else if let Some(t) = RecordType::from_str(&a.to_uppercase()).ok().filter(|_| o.rtype.is_none()) {
                o.rtype = Some(t); // as dig reads it: a type's name is the type, before the name or after
            } else if o.name.is_none() {
                o.name = Some(a.to_string());
            }
        }
        Ok(o)
    }

    /// One `+option` (those dig does not know are ignored, as here).
    fn option(&mut self, opt: &str) {
        let (on, name) = opt.strip_prefix("no").map_or((true, opt), |rest| (false, rest));
        match name {
            "short" => self.short = on,
            "tcp" | "vc" => self.tcp = on,
            "search" => self.search = on,
            "all" => self.sections = [on; 5],
            "comments" => self.sections[COMMENTS] = on,
            "question" => self.sections[QUESTION] = on,
            "answer" => self.sections[ANSWER] = on,
            "authority" => self.sections[AUTHORITY] = on,
            "stats" => self.sections[STATS] = on,
            _ => {}
        }
    }

    /// The reply to `query` as dig prints it, section by section.
    fn print(&self, out: &mut String, exchange: &resolver::Exchange, query: &Message, server: SocketAddrV4) {
        let (reply, sections) = (&exchange.reply, &self.sections);
        if sections[COMMENTS] {
            out.push_str(&format!(
                ";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: {}, id: {}\n;; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}\n",
                resolver::rcode_name(reply.metadata.response_code),
                reply.metadata.id,
                flags(reply),
                reply.queries.len(),
                reply.answers.len(),
                reply.authorities.len(),
                reply.additionals.len() + reply.edns.is_some() as usize,
            ));
            if query.metadata.recursion_desired && !reply.metadata.recursion_available {
                out.push_str(";; WARNING: recursion requested but not available\n");
            }
            if let Some(edns) = &reply.edns {
                out.push_str(&format!(
                    "\n;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: {}\n",
                    edns.max_payload()
                ));
            }
        }
        if sections[QUESTION] {
            out.push_str(";; QUESTION SECTION:\n");
            for q in &reply.queries {
                out.push_str(&format!(";{}\t\tIN\t{}\n", q.name(), q.query_type()));
            }
            out.push('\n');
        }
        for (i, title, records) in [(ANSWER, "ANSWER", &reply.answers), (AUTHORITY, "AUTHORITY", &reply.authorities)] {
            if sections[i] && !records.is_empty() {
                if sections[COMMENTS] {
                    out.push_str(&format!(";; {title} SECTION:\n"));
                }
                out.extend(records.iter().map(record_line));
                if sections[COMMENTS] {
                    out.push('\n');
                }
            }
        }
        if sections[STATS] {
            let proto = if self.tcp || exchange.took.is_zero() { "TCP" } else { "UDP" };
            let size = reply.to_vec().map(|v| v.len()).unwrap_or(0);
            let ip = server.ip();
            out.push_str(&format!(
                ";; Query time: {} msec\n;; SERVER: {ip}#{}({ip}) ({proto})\n;; WHEN: {}\n;; MSG SIZE  rcvd: {size}\n\n",
                exchange.took.as_millis(),
                server.port(),
                jiff::Zoned::now().strftime("%a %b %d %H:%M:%S %Z %Y"),
            ));
        }
    }
}

/// `nslookup [-type=T] name [server]`: the search path applies, answers are listed as
/// BIND's nslookup lists them.
pub(super) async fn nslookup(ctx: &mut Ctx, args: &[String]) -> Output {
    let mut conf: ResolvConf = resolver::conf_of(ctx);
    let (mut rtype, mut positional) = (RecordType::A, Vec::new());
    for arg in args {
        if let Some(t) =
            arg.strip_prefix("-type=").or_else(|| arg.strip_prefix("-query=")).or_else(|| arg.strip_prefix("-q="))
        {
            match RecordType::from_str(&t.to_uppercase()) {
                Ok(t) => rtype = t,
                Err(_) => return Output::fail(1, format!("unknown query type: {t}\n")),
            }
        } else if !arg.starts_with('-') {
            positional.push(arg.clone());
        }
    }
    let Some(name) = positional.first().cloned() else {
        return Output::fail(1, "nslookup: interactive mode is not supported; give a name\n");
    };
    if let Some(server) = positional.get(1) {
        match server.parse() {
            Ok(ip) => conf.nameservers = vec![ip],
            Err(_) => return Output::fail(1, format!(";; Got bad address for server {server}\n")),
        }
    }
    let Some(server) = conf.nameservers.first().copied() else {
        return Output::fail(1, ";; no servers could be reached\n\n");
    };
    let (candidates, rtype) = match name.parse::<Ipv4Addr>() {
        Ok(ip) => (vec![resolver::reverse_name(ip)], RecordType::PTR),
        Err(_) => (conf.candidates(&name), rtype),
    };
    let mut out = format!("Server:\t\t{server}\nAddress:\t{server}#53\n\n");
    let mut failure = None;
    for candidate in candidates {
        let Ok(qname) = Name::from_ascii(&candidate) else { continue };
        let exchange =
            match resolver::ask(ctx, &ResolvConf { nameservers: vec![server], ..conf.clone() }, &qname, rtype).await {
                Ok(e) => e,
                Err(_) => {
                    out.push_str(";; connection timed out; no servers could be reached\n\n");
                    return Output { stdout: out.into(), stderr: String::new(), code: 1 };
                }
            };
        let reply = exchange.reply;
        match reply.metadata.response_code {
            ResponseCode::NoError if !reply.answers.is_empty() => {
                if !reply.metadata.authoritative {
                    out.push_str("Non-authoritative answer:\n");
                }
                for r in &reply.answers {
                    let owner = r.name.to_string();
                    let owner = owner.trim_end_matches('.');
                    match &r.data {
                        RData::A(a) => out.push_str(&format!("Name:\t{owner}\nAddress: {}\n", a.0)),
                        RData::AAAA(a) => out.push_str(&format!("Name:\t{owner}\nAddress: {}\n", a.0)),
                        RData::CNAME(c) => out.push_str(&format!("{owner}\tcanonical name = {}\n", c.0)),
                        RData::PTR(p) => out.push_str(&format!("{owner}\tname = {}\n", p.0)),
                        RData::SRV(s) => out.push_str(&format!("{owner}\tservice = {s}\n")),
                        RData::TXT(t) => out.push_str(&format!("{owner}\ttext = {t}\n")),
                        other => out.push_str(&format!("{owner}\t{} = {other}\n", r.record_type())),
                    }
                }
                out.push('\n');
                return Output::ok(out);
            }
            ResponseCode::NoError => {
                failure.get_or_insert(format!("*** Can't find {name}: No answer\n\n"));
            }
            ResponseCode::NXDomain => {
                failure.get_or_insert(format!("** server can't find {name}: NXDOMAIN\n\n"));
            }
            // The first failure of the search path is the one reported (the last candidate, the
            // bare name, is refused when no upstream is set).
            code => {
                failure.get_or_insert(format!("** server can't find {name}: {}\n\n", resolver::rcode_name(code)));
            }
        }
    }
    out.push_str(&failure.unwrap_or_default());
    let code = if out.contains("No answer") { 0 } else { 1 };
    Output { stdout: out.into(), stderr: String::new(), code }
}

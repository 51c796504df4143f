//! `curl` and `wget` inside a pod: an HTTP/1.1 client over the virtual network, with their options,
//! output and exit codes (curl's `-s -S -i -I -v -k -m -H -X -d -o -w`, busybox wget's `-q -O -T`).

use super::{Ctx, Output};
use crate::network::http::{self, Request};
use crate::network::{DialError, To};
use bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Options {
    silent: bool,
    show_error: bool,
    include: bool,
    verbose: bool,
    max_time: Option<Duration>,
    method: Option<String>,
    headers: Vec<(String, String)>,
    data: Option<String>,
    output: Option<String>,
    write_out: Option<String>,
    head: bool,
    url: Option<String>,
    /// `-k`: any server certificate is accepted.
    insecure: bool,
    /// `--cacert FILE`: the roots a server's certificate must chain to (none by default: no
    /// public CA signs what runs in the cluster).
    cacert: Option<String>,
}

/// A command line curl refuses (exit code 2), in curl's words.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum UsageError {
    #[error("curl: option {0}: requires parameter")]
    MissingParameter(String),
    #[error("curl: option {0}: expected a proper numerical parameter")]
    NotANumber(String),
    #[error("curl: option -H: invalid header {0:?}")]
    InvalidHeader(String),
    #[error("curl: option {0}: is unknown")]
    UnknownOption(String),
}

fn parse(args: &[String]) -> Result<Options, UsageError> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or_else(|| UsageError::MissingParameter(flag.to_string()));
        match arg.as_str() {
            "-s" | "--silent" => o.silent = true,
            "-S" | "--show-error" => o.show_error = true,
            "-i" | "--include" => o.include = true,
            "-v" | "--verbose" => o.verbose = true,
            "-I" | "--head" => o.head = true,
            "-k" | "--insecure" => o.insecure = true,
            "--cacert" => o.cacert = Some(value(arg)?),
            "-L" | "--location" => {}
            "-o" | "--output" => o.output = Some(value(arg)?),
            "-w" | "--write-out" => o.write_out = Some(value(arg)?),
            "-m" | "--max-time" | "--connect-timeout" => {
                let v = value(arg)?;
                let secs: f64 = v.parse().map_err(|_| UsageError::NotANumber(arg.clone()))?;
                o.max_time = Some(super::net::seconds(secs.max(0.001)));
            }
            "-X" | "--request" => o.method = Some(value(arg)?),
            "-H" | "--header" => {
                let v = value(arg)?;
                let (k, val) = v.split_once(':').ok_or_else(|| UsageError::InvalidHeader(v.clone()))?;
                o.headers.push((k.trim().to_string(), val.trim().to_string()));
            }
            "-d" | "--data" => o.data = Some(value(arg)?),
            flag if flag.starts_with('-') && flag.len() > 2 && !flag.starts_with("--") => {
                // Combined short flags such as -sS or -si.
                for c in flag[1..].chars() {
                    match c {
                        's' => o.silent = true,
                        'S' => o.show_error = true,
                        'i' => o.include = true,
                        'v' => o.verbose = true,
                        'I' => o.head = true,
                        'k' => o.insecure = true,
                        'L' => {}
                        other => return Err(UsageError::UnknownOption(format!("-{other}"))),
                    }
                }
            }
            flag if flag.starts_with('-') => return Err(UsageError::UnknownOption(flag.to_string())),
            url => o.url = Some(url.to_string()),
        }
    }
    Ok(o)
}

struct Target {
    host: String,
    port: u16,
    path: String,
    /// `https`: TLS before the request.
    tls: bool,
}

fn parse_url(url: &str) -> Result<Target, (i32, String)> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), url),
    };
    if scheme != "http" && scheme != "https" {
        return Err((1, format!("Protocol \"{scheme}\" not supported")));
    }
    let tls = scheme == "https";
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| {
                (3, "URL rejected: Port number was not a decimal number between 0 and 65535".to_string())
            })?,
        ),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err((3, "URL rejected: No host part in the URL".to_string()));
    }
    Ok(Target { host: host.to_string(), port, path, tls })
}

/// Which servers curl trusts: any with `-k`, else those `--cacert` vouches for (no others: the
/// image's bundle holds public CAs only, which sign nothing in the cluster).
fn trust(ctx: &Ctx, opts: &Options) -> Result<http::Trust, (i32, String)> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    if opts.insecure {
        return Ok(http::Trust::Any);
    }
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &opts.cacert {
        let unusable = || (77, format!("error setting certificate file: {path}"));
        let pem = ctx.read_file(path).map_err(|_| unusable())?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.map_err(|_| unusable())?).map_err(|_| unusable())?;
        }
        if roots.is_empty() {
            return Err(unusable());
        }
    }
    Ok(http::Trust::Roots(roots))
}

/// Why a TLS handshake failed, as curl (with OpenSSL) says it.
fn tls_failure(e: &http::HttpError, host: &str) -> (i32, String) {
    use rustls::{CertificateError, Error};
    let cause = match e {
        http::HttpError::Tls(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<Error>()),
        _ => None,
    };
    match cause {
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => (
            60,
            "SSL certificate problem: unable to get local issuer certificate\nMore details here: https://curl.se/docs/sslcerts.html\n\ncurl failed to verify the legitimacy of the server and therefore could not\nestablish a secure connection to it. To learn more about this situation and\nhow to fix it, please visit the web page mentioned above.".into(),
        ),
        Some(Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
            (60, format!("SSL: no alternative certificate subject name matches target host name '{host}'"))
        }
        Some(Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })) => {
            (60, "SSL certificate problem: certificate has expired".into())
        }
        _ => (35, format!("OpenSSL SSL_connect: {e}")),
    }
}

/// A refused command line: curl's message and its hint, exit code 2.
fn usage(e: UsageError) -> Output {
    Output::fail(2, format!("{e}\ncurl: try 'curl --help' or 'curl --manual' for more information\n"))
}

/// Resolves `host` before curl's time (`-m`, from `started`) runs out: its address, or curl's
/// exit code and message.
async fn resolve_within(
    ctx: &Ctx,
    host: &str,
    deadline: Duration,
    started: Instant,
) -> Result<Ipv4Addr, (i32, String)> {
    match tokio::time::timeout(deadline, super::net::resolve(ctx, host)).await {
        Ok(Some(ip)) => Ok(ip),
        Ok(None) => Err((6, format!("Could not resolve host: {host}"))),
        Err(_) => Err((28, format!("Resolving timed out after {} milliseconds", started.elapsed().as_millis()))),
    }
}

pub(super) async fn run(ctx: &mut Ctx, args: &[String]) -> Output {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    let started = Instant::now();
    // A failure prints its message (unless silenced) and still writes `-w` out, with the status
    // code curl reports when no response came: 000.
    let fail = |opts: &Options, code: i32, msg: String, ip: Option<Ipv4Addr>, port: u16| {
        let stderr = if opts.silent && !opts.show_error { String::new() } else { format!("curl: ({code}) {msg}\n") };
        let stdout = opts.write_out.as_deref().map_or(String::new(), |format| {
            let facts = WriteOut { status: 0, ip, port, size: 0, took: started.elapsed(), exit: code, error: &msg };
            write_out(format, &facts)
        });
        Output { stdout: stdout.into(), stderr, code }
    };
    let Some(url) = opts.url.clone() else {
        return Output::fail(
            2,
            "curl: no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n",
        );
    };
    let target = match parse_url(&url) {
        Ok(t) => t,
        Err((code, msg)) => return fail(&opts, code, msg, None, 0),
    };
    let deadline = opts.max_time.unwrap_or(Duration::from_secs(300));
    let ip = match resolve_within(ctx, &target.host, deadline, started).await {
        Ok(ip) => ip,
        Err((code, msg)) => return fail(&opts, code, msg, None, target.port),
    };
    let resolved = Some(ip);
    let mut stderr = String::new();
    if opts.verbose {
        stderr.push_str(&format!("*   Trying {ip}:{}...\n", target.port));
    }
    let work = exchange(ctx, &opts, &target, ip, started);
    match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), work).await {
        Err(_) => {
            let ms = started.elapsed().as_millis();
            let msg = format!("Operation timed out after {ms} milliseconds with 0 bytes received");
            fail(&opts, 28, msg, resolved, target.port)
        }
        Ok(Err((code, msg))) => {
            let mut out = fail(&opts, code, msg, resolved, target.port);
            out.stderr = stderr + &out.stderr;
            out
        }
        Ok(Ok((request, response))) => {
            let version = match response.version {
                hyper::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            };
            let head: String = std::iter::once(format!("{version} {} {}\r\n", response.status, response.reason))
                .chain(response.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")))
                .chain(std::iter::once("\r\n".to_string()))
                .collect();
            if opts.verbose {
                stderr.push_str(&format!("* Connected to {} ({ip}) port {}\n", target.host, target.port));
                stderr.push_str(&format!(
                    "> {} {} HTTP/1.1\r\n> Host: {}\r\n> User-Agent: curl/7.88.1\r\n> Accept: */*\r\n>\r\n",
                    request.method, request.target, request.host
                ));
                stderr.push_str(&head.lines().map(|l| format!("< {l}\n")).collect::<String>());
            }
            let mut out = Output::ok(if opts.include || opts.head { head } else { String::new() });
            let body = &response.body;
            match &opts.output {
                Some(path) if path != "-" => {
                    if let Err(e) = ctx.write_file(path, body, false) {
                        let msg = format!("Failure writing output to destination, passed 0 returned {e}");
                        return fail(&opts, 23, msg, resolved, target.port);
                    }
                }
                _ => out.stdout.extend_from_slice(body),
            }
            if let Some(format) = &opts.write_out {
                let facts = WriteOut {
                    status: response.status,
                    ip: Some(ip),
                    port: target.port,
                    size: response.body.len(),
                    took: started.elapsed(),
                    exit: 0,
                    error: "",
                };
                out.print(&write_out(format, &facts));
            }
            Output { stderr, ..out }
        }
    }
}

/// One exchange with the server: the connection, TLS for `https`, the request and its response;
/// or curl's exit code and message.
async fn exchange(
    ctx: &Ctx,
    opts: &Options,
    target: &Target,
    ip: Ipv4Addr,
    started: Instant,
) -> Result<(Request, http::Response), (i32, String)> {
    let conn = ctx.sandbox.network.dial(To::Cluster(SocketAddrV4::new(ip, target.port)), ctx.sandbox.dial_to(ip)).await;
    let conn = match conn {
        Ok(c) => c,
        // A Local traffic policy dropped it: curl waits until its time runs out.
        Err(DialError::Dropped) => std::future::pending().await,
        Err(e) => {
            let why = match e {
                DialError::Refused => "Couldn't connect to server".to_string(),
                other => other.to_string(),
            };
            let ms = started.elapsed().as_millis();
            return Err((7, format!("Failed to connect to {} port {} after {ms} ms: {why}", target.host, target.port)));
        }
    };
    let default_port = if target.tls { 443 } else { 80 };
    let host_header =
        if target.port == default_port { target.host.clone() } else { format!("{}:{}", target.host, target.port) };
    let method = opts.method.clone().unwrap_or_else(|| match (opts.head, opts.data.is_some()) {
        (true, _) => "HEAD".into(),
        (false, true) => "POST".into(),
        (false, false) => "GET".into(),
    });
    let mut headers = opts.headers.clone();
    if opts.data.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
    }
    let request = Request {
        method,
        host: host_header,
        target: target.path.clone(),
        headers,
        body: opts.data.clone().map(Bytes::from).unwrap_or_default(),
    };
    let sent = if target.tls {
        let (tls, _) = http::tls_connect_with(conn.stream, &target.host, trust(ctx, opts)?)
            .await
            .map_err(|e| tls_failure(&e, &target.host))?;
        http::send(tls, &request).await
    } else {
        http::send(conn.stream, &request).await
    };
    sent.map(|r| (request, r)).map_err(|e| (56, format!("Recv failure: {e}")))
}

/// What curl's `-w` variables tell of a transfer (status 0 when no response came).
struct WriteOut<'a> {
    status: u16,
    ip: Option<Ipv4Addr>,
    port: u16,
    size: usize,
    took: Duration,
    exit: i32,
    error: &'a str,
}

/// curl's `-w` variables that svclab knows.
fn write_out(format: &str, facts: &WriteOut) -> String {
    let status = format!("{:03}", facts.status);
    format
        .replace("%{http_code}", &status)
        .replace("%{response_code}", &status)
        .replace("%{remote_ip}", &facts.ip.map(|ip| ip.to_string()).unwrap_or_default())
        .replace("%{remote_port}", &facts.port.to_string())
        .replace("%{size_download}", &facts.size.to_string())
        .replace("%{time_total}", &format!("{:.6}", facts.took.as_secs_f64()))
        .replace("%{exitcode}", &facts.exit.to_string())
        .replace("%{errormsg}", facts.error)
        .replace("\\n", "\n")
}

/// busybox `wget [-q] [-O file|-] [-T secs] URL`: the body to a file (by default the URL's last
/// path segment, `index.html`) or to standard output.
pub(super) async fn wget(ctx: &mut Ctx, args: &[String]) -> Output {
    let (mut quiet, mut output, mut timeout, mut url) = (false, None::<String>, None::<String>, None::<String>);
    let mut headers = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-q" => quiet = true,
            "-S" | "--server-response" => headers = true,
            "-O" => output = it.next().cloned(),
            "-T" => timeout = it.next().cloned(),
            "--no-check-certificate" => {}
            "-qO-" | "-qO" => {
                quiet = true;
                output = Some(if arg == "-qO-" { "-".into() } else { it.next().cloned().unwrap_or_default() });
            }
            a if a.starts_with("-O") => output = Some(a[2..].to_string()),
            a if a.starts_with('-') => return Output::fail(1, format!("wget: unrecognized option '{a}'\n")),
            u => url = Some(u.to_string()),
        }
    }
    let Some(url) = url else {
        return Output::fail(1, "BusyBox v1.36.1 multi-call binary.\n\nUsage: wget [-cqS] [-O FILE] URL\n");
    };
    // BusyBox's TLS client does not verify the server's certificate.
    let mut curl_args = vec!["-sS".to_string(), "-i".to_string(), "-k".to_string(), url.clone()];
    if let Some(t) = timeout {
        curl_args.extend(["-m".to_string(), t]);
    }
    let reply = run(ctx, &curl_args).await;
    let host = url.split("://").last().unwrap_or(&url).split('/').next().unwrap_or_default().to_string();
    if reply.code != 0 {
        let why = reply.stderr.rsplit(": ").next().unwrap_or_default().trim().to_string();
        return Output::fail(1, format!("wget: can't connect to remote host ({host}): {why}\n"));
    }
    let end = reply.stdout.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match end {
        Some(at) => (String::from_utf8_lossy(&reply.stdout[..at]), &reply.stdout[at + 4..]),
        None => (reply.stdout_text(), &[][..]),
    };
    let status_line = head.lines().next().unwrap_or_default().to_string();
    let code: u16 = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    if !(200..300).contains(&code) {
        return Output::fail(1, format!("wget: server returned error: {status_line}\n"));
    }
    let mut out = Output::default();
    let file = output.unwrap_or_else(|| {
        let last = url.rsplit('/').next().filter(|s| !s.is_empty() && !s.contains(':') && url.matches('/').count() > 2);
        last.unwrap_or("index.html").to_string()
    });
    if !quiet {
        out.stderr.push_str(&format!("Connecting to {host} ({host})\n"));
    }
    if headers {
        // `-S`: the response's head, each line indented by two spaces, as BusyBox prints it.
        for line in head.lines() {
            out.stderr.push_str(&format!("  {}\n", line.trim_end_matches('\r')));
        }
    }
    if !quiet {
        let to = if file == "-" { "stdout".to_string() } else { format!("'{file}'") };
        out.stderr.push_str(&format!("writing to {to}\n"));
    }
    if file == "-" {
        out.stdout.extend_from_slice(body);
    } else if let Err(e) = ctx.write_file(&file, body, false) {
        return Output::fail(1, format!("wget: can't open '{file}': {e}\n"));
    }
    if !quiet {
        let to = if file == "-" { "stdout".to_string() } else { format!("'{file}'") };
        out.stderr.push_str(&format!("written to {to}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_parse_like_curl() {
        let o = parse(&args("-sS -m 2 -H X-A:1 -X PUT -d x http://10.96.0.1/a")).unwrap();
        assert!(o.silent && o.show_error);
        assert_eq!(o.max_time, Some(Duration::from_secs(2)));
        assert_eq!(o.headers, [("X-A".to_string(), "1".to_string())]);
        assert_eq!((o.method.as_deref(), o.data.as_deref()), (Some("PUT"), Some("x")));
        assert!(parse(&args("--bogus")).is_err());
    }

    #[test]
    fn urls_default_to_http_port_80_and_root() {
        let t = parse_url("10.96.0.1").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("10.96.0.1", 80, "/"));
        let t = parse_url("http://kubia:8080/x?y").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("kubia", 8080, "/x?y"));
        assert_eq!(parse_url("ftp://x").err().unwrap().0, 1);
    }

    #[test]
    fn write_out_reports_000_when_no_response_came() {
        let failed = WriteOut {
            status: 0,
            ip: Some(Ipv4Addr::new(10, 96, 0, 7)),
            port: 80,
            size: 0,
            took: Duration::from_millis(1),
            exit: 7,
            error: "Failed to connect",
        };
        assert_eq!(write_out("%{http_code} %{remote_ip} %{exitcode}\\n", &failed), "000 10.96.0.7 7\n");
        let ok = WriteOut { status: 200, size: 12, exit: 0, error: "", ..failed };
        assert_eq!(write_out("%{http_code}:%{size_download}", &ok), "200:12");
    }
}

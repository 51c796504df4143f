//! `curl` inside a pod: an HTTP/1.1 client over the virtual network, with curl's options, output
//! and exit codes (`-s -S -i -v -m -H -X -d`).

use super::Output;
use crate::kubelet::PodSandbox;
use crate::network::DialError;
use crate::network::http::{self, Request};
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
    url: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value =
            |flag: &str| it.next().cloned().ok_or_else(|| format!("curl: option {flag}: requires parameter"));
        match arg.as_str() {
            "-s" | "--silent" => o.silent = true,
            "-S" | "--show-error" => o.show_error = true,
            "-i" | "--include" => o.include = true,
            "-v" | "--verbose" => o.verbose = true,
            "-m" | "--max-time" => {
                let v = value(arg)?;
                let secs: f64 =
                    v.parse().map_err(|_| format!("curl: option {arg}: expected a proper numerical parameter"))?;
                o.max_time = Some(Duration::from_secs_f64(secs.max(0.001)));
            }
            "-X" | "--request" => o.method = Some(value(arg)?),
            "-H" | "--header" => {
                let v = value(arg)?;
                let (k, val) = v.split_once(':').ok_or_else(|| format!("curl: option -H: invalid header {v:?}"))?;
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
                        other => return Err(format!("curl: option -{other}: is unknown")),
                    }
                }
            }
            flag if flag.starts_with('-') => return Err(format!("curl: option {flag}: is unknown")),
            url => o.url = Some(url.to_string()),
        }
    }
    Ok(o)
}

struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, (i32, String)> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), url),
    };
    if scheme != "http" {
        return Err((1, format!("Protocol \"{scheme}\" not supported")));
    }
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
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err((3, "URL rejected: No host part in the URL".to_string()));
    }
    Ok(Target { host: host.to_string(), port, path })
}

pub(super) async fn run(sandbox: &PodSandbox, args: &[String]) -> Output {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            return Output::fail(2, format!("{e}\ncurl: try 'curl --help' or 'curl --manual' for more information\n"));
        }
    };
    let fail = |opts: &Options, code: i32, msg: String| {
        let stderr = if opts.silent && !opts.show_error { String::new() } else { format!("curl: ({code}) {msg}\n") };
        Output { stdout: String::new(), stderr, code }
    };
    let Some(url) = opts.url.clone() else {
        return Output::fail(
            2,
            "curl: no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n",
        );
    };
    let target = match parse_url(&url) {
        Ok(t) => t,
        Err((code, msg)) => return fail(&opts, code, msg),
    };
    let ip = match resolve(sandbox, &target.host) {
        Some(ip) => ip,
        None => return fail(&opts, 6, format!("Could not resolve host: {}", target.host)),
    };
    let started = Instant::now();
    let deadline = opts.max_time.unwrap_or(Duration::from_secs(300));
    let mut stderr = String::new();
    if opts.verbose {
        stderr.push_str(&format!("*   Trying {ip}:{}...\n", target.port));
    }
    let work = async {
        let conn = sandbox.network.connect(sandbox.ip, SocketAddrV4::new(ip, target.port)).await;
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
                return Err((
                    7,
                    format!("Failed to connect to {} port {} after {ms} ms: {why}", target.host, target.port),
                ));
            }
        };
        let host_header =
            if target.port == 80 { target.host.clone() } else { format!("{}:{}", target.host, target.port) };
        let method =
            opts.method.clone().unwrap_or_else(|| if opts.data.is_some() { "POST".into() } else { "GET".into() });
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
        http::send(conn.stream, &request).await.map(|r| (request, r)).map_err(|e| (56, format!("Recv failure: {e}")))
    };
    match tokio::time::timeout(deadline, work).await {
        Err(_) => {
            let ms = started.elapsed().as_millis();
            fail(&opts, 28, format!("Operation timed out after {ms} milliseconds with 0 bytes received"))
        }
        Ok(Err((code, msg))) => {
            let mut out = fail(&opts, code, msg);
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
            let mut stdout = if opts.include { head } else { String::new() };
            stdout.push_str(&String::from_utf8_lossy(&response.body));
            Output { stdout, stderr, code: 0 }
        }
    }
}

/// Resolves a host name: an IPv4 literal, `localhost`, or the pod's own hostname (`/etc/hosts`).
/// Cluster DNS names are not resolved yet.
fn resolve(sandbox: &PodSandbox, host: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    match host {
        "localhost" => Some(Ipv4Addr::LOCALHOST),
        h if h == sandbox.hostname => Some(sandbox.ip),
        _ => None,
    }
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
}

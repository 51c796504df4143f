//! The ingress's HTTP/1.1 with raw sockets, as a proxy must speak it: pipelined requests,
//! hop-by-hop headers, bodies framed by length, by chunks or by the pod's close, HTTP/1.0
//! keep-alive, a request body handed on, and the answers to heads it cannot serve.

use crate::common;

use common::{Lab, eventually, ingress_to_host};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

/// A server on the host answering by path, for what a proxy must do with framing and headers:
/// `/length` (Content-Length, a hop-by-hop header its Connection names), `/chunked`, `/close`
/// (a body ended by closing), `/echo` (the request body back). Every request head it got is
/// kept, in order.
async fn scripted_server() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heads = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let end = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break end + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < length {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buf.drain(..length).collect();
                    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                    heads.lock().unwrap().push(head);
                    let answer: Vec<u8> = match path.as_str() {
                        "/length" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\nhello".to_vec(),
                        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n".to_vec(),
                        "/close" => b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the pod closes".to_vec(),
                        _ => [format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(), body].concat(),
                    };
                    if stream.write_all(&answer).await.is_err() || path == "/close" {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// One response read off `stream` (framed as HTTP/1.1 says, or until the close): status, head
/// lines lower-cased, body.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> (u16, Vec<String>, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    async fn more(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("an answer in time").unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        n > 0
    }
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        assert!(more(stream, buf).await, "closed before a whole head: {:?}", String::from_utf8_lossy(buf));
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    buf.drain(..end);
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let lines: Vec<String> = head.lines().skip(1).filter(|l| !l.is_empty()).map(str::to_string).collect();
    let value = |name: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string));
    let mut body = Vec::new();
    if let Some(length) = value("content-length") {
        let length: usize = length.parse().unwrap();
        while buf.len() < length {
            assert!(more(stream, buf).await, "closed mid-body");
        }
        body = buf.drain(..length).collect();
    } else if value("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let line_end = loop {
                if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                assert!(more(stream, buf).await, "closed mid-chunk");
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).unwrap(), 16).unwrap();
            while buf.len() < line_end + 2 + size + 2 {
                assert!(more(stream, buf).await, "closed mid-chunk");
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        while more(stream, buf).await {}
        body = std::mem::take(buf);
    }
    (status, lines, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_fast_path() {
    requests_are_proxied_as_http_1_1_says_pipelined_chunked_closed_and_with_bodies(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_hyper() {
    requests_are_proxied_as_http_1_1_says_pipelined_chunked_closed_and_with_bodies(false).await
}

/// The same requests and the same answers whichever path the ingress takes.
async fn requests_are_proxied_as_http_1_1_says_pipelined_chunked_closed_and_with_bodies(fast_path: bool) {
    use tokio::io::AsyncWriteExt;
    let mut config = svclab::app::Config::ephemeral();
    config.ingress.fast_path = fast_path;
    let lab = Lab::start_with(config).await;
    let (server, seen) = scripted_server().await;
    let manifest = ingress_to_host("scripted", "s.example.com", server, "");
    let (code, out) = lab.apply(&manifest).await;
    assert_eq!(code, 200, "{out}");
    let http = lab.app.ingress.addresses().await.expect("the ingress add-on is enabled").http.to_string();
    eventually(PATIENCE, "the route to the scripted server", || async {
        let mut probe = tokio::net::TcpStream::connect(&http).await.ok()?;
        probe.write_all(b"GET /length HTTP/1.1\r\nHost: s.example.com\r\n\r\n").await.ok()?;
        let (status, _, body) = read_response(&mut probe, &mut Vec::new()).await;
        (status == 200 && body == b"hello").then_some(())
    })
    .await;
    seen.lock().unwrap().clear();
    let mut client = tokio::net::TcpStream::connect(&http).await.unwrap();
    let mut buf = Vec::new();

    // Two requests in one write are answered in order; the pod's hop-by-hop headers (and the
    // one its Connection names) stop at the ingress, and chunks are passed on as chunks.
    client
        .write_all(b"GET /length HTTP/1.1\r\nHost: s.example.com\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: X-Mine\r\nX-Mine: private\r\n\r\nGET /chunked HTTP/1.1\r\nHost: s.example.com\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = read_response(&mut client, &mut buf).await;
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
    assert!(head.contains(&"x-kept: yes".to_string()) && head.iter().any(|l| l.starts_with("date: ")), "{head:?}");
    for gone in ["x-hop", "connection", "keep-alive"] {
        assert!(!head.iter().any(|l| l.starts_with(&format!("{gone}:"))), "{gone} in {head:?}");
    }
    let (status, head, body) = read_response(&mut client, &mut buf).await;
    assert_eq!((status, &body[..]), (200, &b"chunked"[..]));
    assert!(head.contains(&"transfer-encoding: chunked".to_string()), "{head:?}");
    {
        let seen = seen.lock().unwrap();
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("get /length http/1.1\r\n"), "{first}");
        assert!(first.contains("x-forwarded-for: 127.0.0.1\r\n") && !first.contains("6.6.6.6"), "{first}");
        assert!(!first.contains("x-mine") && first.contains("x-real-ip: 127.0.0.1\r\n"), "{first}");
    }

    // A body the pod ends by closing goes on chunked to an HTTP/1.1 client, which keeps its
    // connection; a body goes to the pod (hyper's path), and the connection carries on after it.
    client.write_all(b"GET /close HTTP/1.1\r\nHost: s.example.com\r\n\r\n").await.unwrap();
    let (_, head, body) = read_response(&mut client, &mut buf).await;
    assert_eq!(body, b"until the pod closes", "{head:?}");
    assert!(head.contains(&"transfer-encoding: chunked".to_string()), "{head:?}");
    client.write_all(b"POST /echo HTTP/1.1\r\nHost: s.example.com\r\nContent-Length: 4\r\n\r\nping").await.unwrap();
    assert_eq!(read_response(&mut client, &mut buf).await.2, b"ping");
    client.write_all(b"GET /length HTTP/1.1\r\nHost: s.example.com\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut client, &mut buf).await.2, b"hello");

    // HTTP/1.0: keep-alive only when asked; a body ended by the pod's close ends with ours.
    let mut old = tokio::net::TcpStream::connect(&http).await.unwrap();
    old.write_all(b"GET /length HTTP/1.0\r\nHost: s.example.com\r\nConnection: keep-alive\r\n\r\n").await.unwrap();
    let (_, head, body) = read_response(&mut old, &mut buf).await;
    assert_eq!(body, b"hello");
    assert!(head.contains(&"connection: keep-alive".to_string()), "{head:?}");
    old.write_all(b"GET /close HTTP/1.0\r\nHost: s.example.com\r\n\r\n").await.unwrap();
    let (_, head, body) = read_response(&mut old, &mut buf).await;
    assert_eq!(body, b"until the pod closes", "{head:?}");
    assert!(!head.iter().any(|l| l.starts_with("transfer-encoding")), "{head:?}");

    // The ingress's own answers: a HEAD without a body, a bad head refused with the connection
    // closed, too many headers refused.
    client.write_all(b"HEAD / HTTP/1.1\r\nHost: nowhere.example.com\r\n\r\n").await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut client, &mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).into_owned();
    assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n") && reply.ends_with("\r\n\r\n"), "{reply:?}");
    assert!(reply.contains("content-length: 22\r\n"), "{reply:?}");
    let mut bad = tokio::net::TcpStream::connect(&http).await.unwrap();
    bad.write_all(b"GET /length HTTP/1.1\r\nHost s.example.com\r\n\r\n").await.unwrap();
    let (status, head, _) = read_response(&mut bad, &mut Vec::new()).await;
    assert_eq!(status, 400);
    assert!(head.contains(&"connection: close".to_string()), "{head:?}");
    let mut many = tokio::net::TcpStream::connect(&http).await.unwrap();
    let headers: String = (0..101).map(|i| format!("X-{i}: {i}\r\n")).collect();
    many.write_all(format!("GET / HTTP/1.1\r\nHost: s.example.com\r\n{headers}\r\n").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut many, &mut Vec::new()).await.0, 431);
}

//! Built-in container images: the program a container runs and the files its image has, chosen
//! by the image name.
//!
//! - `luksa/kubia`: an HTTP server on port 8080 answering `You've hit <hostname>` on every path
//!   (its tags `:v1`–`:v3` and `luksa/kubia-unhealthy` as [`super::kubia`] says).
//! - `registry.k8s.io/echoserver` (also under `k8s.gcr.io`): HTTP on 8080 describing the request
//!   as it arrived, with `client_address` the source the pod sees (the client, or a node after SNAT).
//! - `registry.k8s.io/e2e-test-images/agnhost` with `netexec` (Kubernetes' own test server):
//!   HTTP on `--http-port` (8080) with `/hostname`, `/clientip`, `/echo?msg=`, `/healthz`, and a
//!   UDP server on `--udp-port` (8081) answering `hostname`, `clientip` and `echo <text>`.
//! - `nginx`: HTTP on port 80 serving the container's `/usr/share/nginx/html` (edit it with exec).
//! - `busybox`, `tutum/dnsutils`, `alpine`, `ubuntu`, `debian`: tools only. With a `command` the
//!   container runs it (through the built-in shell) and ends when it ends; without one it idles.
//! - With `BIND_ADDRESS=127.0.0.1` in its environment a container's servers listen on the pod's
//!   localhost only: reachable from inside the pod, refused at the pod's IP.
//! - Every built-in HTTP server answers 500 while `/tmp/svclab-unhealthy` exists in its container
//!   (so `touch` and `rm` over exec make an `httpGet` probe fail and pass again), and a
//!   container's ports take no connections while `/tmp/svclab-closed` exists (a `tcpSocket` probe).
//! - Any other image: the default program. On every declared TCP container port it answers HTTP/1.1
//!   and HTTP/2 without TLS (h2c) with a page saying what it is (`svclab default server for
//!   <image>`), and gRPC health checking (`grpc.health.v1.Health`: `SERVING`, or `NOT_SERVING`
//!   while the unhealthy marker exists), so `grpc` probes and `grpc_health_probe` pass as they
//!   would against a real gRPC server; it echoes UDP on declared UDP ports; a `command` runs as
//!   for the tool images. The kubelet records an event saying the image is not built in.

use super::PodSandbox;
use super::access_log::{self, Format, Peer};
use super::container::{ContainerRuntime, Definition};
use super::fs::Fs;
use super::kubia::Kubia;
use crate::addr::Protocol;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use futures::future::BoxFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use svclab_shared::pod::UNHEALTHY_FILE;
pub use svclab_shared::program::{Program, program_for, repository};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const NGINX_INDEX: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking.</p>\n</body>\n</html>\n";

/// A fresh writable layer for a container of `definition` in `sandbox`: the image's files and
/// the files the kubelet mounts (`/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`).
pub fn filesystem(definition: &Definition, sandbox: &PodSandbox) -> Fs {
    let mut files = vec![
        ("/etc/hosts", sandbox.etc_hosts()),
        ("/etc/hostname", format!("{}\n", sandbox.hostname)),
        ("/etc/resolv.conf", sandbox.resolv_conf()),
        ("/etc/os-release", "NAME=\"svclab simulated container\"\nID=svclab\n".to_string()),
    ];
    match definition.program {
        Program::Kubia => files.push(("/app.js", Kubia::of(&definition.image).source())),
        Program::Nginx => {
            files.push(("/usr/share/nginx/html/index.html", NGINX_INDEX.to_string()));
            files.push(("/etc/nginx/conf.d/default.conf", "server {\n    listen 80;\n    location / {\n        root /usr/share/nginx/html;\n        index index.html;\n    }\n}\n".to_string()));
        }
        _ => {}
    }
    Fs::with_files(files)
}

/// A started container: the ports it listens on inside the pod (and the real sockets behind
/// them), and its main process, which ends with the exit code when the program ends.
pub struct Started {
    pub ports: Vec<(u16, Protocol, SocketAddr)>,
    /// The servers listen on the pod's 127.0.0.1 only (`BIND_ADDRESS=127.0.0.1` in the
    /// container's environment), as an app bound to localhost does: reachable from inside the
    /// pod, refused at the pod's IP.
    pub loopback_only: bool,
    pub main: BoxFuture<'static, i32>,
}

/// The environment variable that binds a container's built-in servers to localhost only.
pub const BIND_ENV: &str = "BIND_ADDRESS";

/// The container's main process when it runs a command: the built-in shell interprets it. With
/// `stdin: true` in its spec it reads what attached clients type (see [`interactive_main`]).
fn command_main(
    sandbox: &Arc<PodSandbox>,
    container: &ContainerRuntime,
    definition: &Definition,
) -> Option<BoxFuture<'static, i32>> {
    let argv = main_argv(definition);
    if argv.is_empty() {
        return None;
    }
    if definition.spec.stdin == Some(true) {
        return Some(interactive_main(sandbox, container, definition.spec.tty == Some(true), argv));
    }
    let (sandbox, name, log) = (sandbox.clone(), container.name().to_string(), container.log());
    Some(Box::pin(async move {
        let mut ctx = super::exec::Ctx::main_process(sandbox, &name, log.clone());
        let out = ctx.command(&argv, Vec::new()).await;
        // What did not go to the log as it was written (a command run without a shell).
        log.write(super::logs::Stream::Stdout, &out.stdout_text());
        log.write(super::logs::Stream::Stderr, &out.stderr);
        out.code
    }))
}

/// What the container's main process runs when it runs a command: its `command` and `args`;
/// with neither, a tool image reading standard input runs its shell (svclab's tool images
/// otherwise idle, where a real one's shell would end at once).
pub fn main_argv(definition: &Definition) -> Vec<String> {
    let spec = &definition.spec;
    let argv: Vec<String> = spec.command.iter().flatten().chain(spec.args.iter().flatten()).cloned().collect();
    if argv.is_empty() && spec.stdin == Some(true) && definition.program == Program::Tools {
        let shell = if matches!(repository(&definition.image), "ubuntu" | "debian") { "bash" } else { "sh" };
        return vec![shell.to_string()];
    }
    argv
}

/// A main process reading its standard input, as `kubectl run -i` and `kubectl attach -i` use
/// it: a shell runs interactively (with `tty: true` it echoes and prompts) until `exit` or the
/// end of its input; another command gets all its input, then runs. Its output goes to the log.
fn interactive_main(
    sandbox: &Arc<PodSandbox>,
    container: &ContainerRuntime,
    tty: bool,
    argv: Vec<String>,
) -> BoxFuture<'static, i32> {
    use super::exec::interactive;
    let mut input = container.open_stdin();
    let mut console = interactive::LogTerminal { log: container.log(), tty };
    let (sandbox, name) = (sandbox.clone(), container.name().to_string());
    Box::pin(async move {
        // Nobody leaves a container's console: only the end of its input ends it.
        let stays = CancellationToken::new();
        interactive::run(sandbox, &name, &argv, &mut input, &mut console, &stays).await
    })
}

fn forever() -> BoxFuture<'static, i32> {
    Box::pin(std::future::pending())
}

/// Starts the program of a container's run of `definition`; `run` stops it.
pub async fn start(
    sandbox: &Arc<PodSandbox>,
    container: &Arc<ContainerRuntime>,
    definition: &Definition,
    init: bool,
    run: &CancellationToken,
    tracker: &TaskTracker,
) -> io::Result<Started> {
    let spec = &definition.spec;
    let mut ports = Vec::new();
    let main = match definition.program {
        Program::Kubia => {
            let app = Kubia::of(&definition.image).router(sandbox.hostname.clone());
            ports.push((8080, Protocol::Tcp, serve_http(app, Format::Kubia, sandbox, container, run, tracker).await?));
            forever()
        }
        Program::EchoServer => {
            let (hostname, network) = (sandbox.hostname.clone(), sandbox.network.clone());
            let app = Router::new().fallback(move |ConnectInfo(peer): ConnectInfo<Peer>, request: Request| {
                let (hostname, source) = (hostname.clone(), network.source_of(peer.remote, peer.local));
                async move { echo(&hostname, source, request).await }
            });
            ports.push((8080, Protocol::Tcp, serve_http(app, Format::Nginx, sandbox, container, run, tracker).await?));
            forever()
        }
        Program::NetExec => {
            let args: Vec<String> = spec.command.iter().flatten().chain(spec.args.iter().flatten()).cloned().collect();
            if let Some((http_port, udp_port)) = netexec_ports(&args) {
                ports.push((
                    http_port,
                    Protocol::Tcp,
                    serve_http(netexec_http(sandbox), Format::Agnhost, sandbox, container, run, tracker).await?,
                ));
                ports.push((udp_port, Protocol::Udp, serve_udp_echo(sandbox, run, tracker).await?));
            }
            forever()
        }
        Program::Nginx => {
            let app = nginx(container.clone());
            ports.push((80, Protocol::Tcp, serve_http(app, Format::Nginx, sandbox, container, run, tracker).await?));
            forever()
        }
        Program::Tools => command_main(sandbox, container, definition).unwrap_or_else(forever),
        Program::Default if init => {
            // An unknown image's program in an init container stands in for a step that
            // finishes: it runs its command if it has one, and otherwise ends at once.
            let note =
                "svclab default program: an init container of an image svclab does not know; it finishes at once\n";
            command_main(sandbox, container, definition).unwrap_or_else(|| {
                container.log().write(super::logs::Stream::Stdout, note);
                Box::pin(std::future::ready(0))
            })
        }
        Program::Default => {
            for port in spec.ports.iter().flatten() {
                let number = port.container_port as u16;
                if port.protocol.as_deref() == Some("UDP") {
                    ports.push((number, Protocol::Udp, serve_udp_echo(sandbox, run, tracker).await?));
                } else {
                    let app = default_server(&definition.image, &sandbox.hostname, number)
                        .merge(super::grpc::health_routes(container.clone()));
                    let real = serve_http(app, Format::Default, sandbox, container, run, tracker).await?;
                    ports.push((number, Protocol::Tcp, real));
                }
            }
            command_main(sandbox, container, definition).unwrap_or_else(forever)
        }
    };
    let format = match definition.program {
        Program::Kubia => Some(Format::Kubia),
        Program::EchoServer | Program::Nginx => Some(Format::Nginx),
        Program::NetExec => Some(Format::Agnhost),
        Program::Default if !ports.is_empty() => Some(Format::Default),
        _ => None,
    };
    if let Some(format) = format {
        let tcp: Vec<u16> = ports.iter().filter(|(_, p, _)| *p == Protocol::Tcp).map(|(n, _, _)| *n).collect();
        let log = container.log();
        for line in format.start_lines(&tcp) {
            log.write(super::logs::Stream::Stdout, &format!("{line}\n"));
        }
    }
    let bind = spec.env.iter().flatten().find(|v| v.name == BIND_ENV).and_then(|v| v.value.as_deref());
    let loopback_only = matches!(bind, Some("127.0.0.1" | "localhost"));
    Ok(Started { ports, loopback_only, main })
}

/// The default program's page.
fn default_server(image: &str, hostname: &str, port: u16) -> Router {
    let page = format!(
        "svclab default server for image {image}\nhostname: {hostname}\nport: {port}\n(svclab runs no real image; see the README for the built-in ones)\n"
    );
    Router::new().fallback(move || {
        let page = page.clone();
        async move { page }
    })
}

/// nginx: files under `/usr/share/nginx/html` of the container's own filesystem.
fn nginx(container: Arc<ContainerRuntime>) -> Router {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    Router::new().fallback(move |request: Request| {
        let container = container.clone();
        async move {
            let path = super::fs::normalize("/", request.uri().path());
            let file = format!("/usr/share/nginx/html{}", if path == "/" { String::new() } else { path });
            let body = container.with_fs(|fs| match fs.stat(&file) {
                Some(n) if n.is_dir() => fs.read(&format!("{file}/index.html")).ok(),
                _ => fs.read(&file).ok(),
            });
            let server = [(header::SERVER, "nginx/1.27.3")];
            match body {
                Some(body) => (StatusCode::OK, server, body).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    server,
                    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.27.3</center>\r\n</body>\r\n</html>\r\n",
                )
                    .into_response(),
            }
        }
    })
}

async fn serve_http(
    app: Router,
    format: Format,
    sandbox: &PodSandbox,
    container: &Arc<ContainerRuntime>,
    run: &CancellationToken,
    tracker: &TaskTracker,
) -> io::Result<SocketAddr> {
    let (logged, network) = (container.clone(), sandbox.network.clone());
    let app = app.layer(axum::middleware::from_fn(move |request: Request, next: axum::middleware::Next| {
        access_log::middleware(format, logged.clone(), network.clone(), request, next)
    }));
    let sick = container.clone();
    let app = app.layer(axum::middleware::from_fn(move |request: Request, next: axum::middleware::Next| {
        // gRPC health answers NOT_SERVING instead (see `grpc`).
        let unhealthy =
            !super::grpc::is_grpc(request.headers()) && sick.read_fs(|fs| fs.stat(UNHEALTHY_FILE).is_some());
        async move {
            if unhealthy {
                use axum::response::IntoResponse;
                let why = format!("unhealthy: {UNHEALTHY_FILE} exists in this container\n");
                return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, why).into_response();
            }
            next.run(request).await
        }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let real = listener.local_addr()?;
    let stop = run.clone();
    tracker.spawn(async move {
        let app = app.into_make_service_with_connect_info::<Peer>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::debug!(error = %e, "container server stopped");
        }
    });
    Ok(real)
}

/// `agnhost netexec --http-port=N --udp-port=M`: the ports, or `None` for another subcommand.
pub fn netexec_ports(args: &[String]) -> Option<(u16, u16)> {
    let args: Vec<&str> =
        args.iter().map(String::as_str).skip_while(|a| a.starts_with('/') || *a == "agnhost").collect();
    if args.first().is_some_and(|a| *a != "netexec") {
        return None;
    }
    let (mut http, mut udp) = (8080, 8081);
    let mut it = args.iter().skip(1).peekable();
    while let Some(arg) = it.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (*arg, None),
        };
        let mut value =
            || value.clone().or_else(|| it.next().map(|v| v.to_string())).and_then(|v| v.parse::<u16>().ok());
        match flag {
            "--http-port" => http = value().unwrap_or(http),
            "--udp-port" => udp = value().unwrap_or(udp),
            _ => {}
        }
    }
    Some((http, udp))
}

fn netexec_http(sandbox: &PodSandbox) -> Router {
    use axum::extract::Query;
    use axum::routing::get;
    use std::collections::HashMap;
    let hostname = sandbox.hostname.clone();
    let network = sandbox.network.clone();
    Router::new()
        .route("/", get(|| async { format!("NOW: {}", jiff::Timestamp::now()) }))
        .route("/hostname", get(move || async move { hostname }))
        .route(
            "/clientip",
            get(move |ConnectInfo(peer): ConnectInfo<Peer>| async move {
                format!("{}:{}", network.source_of(peer.remote, peer.local), peer.remote.port())
            }),
        )
        .route(
            "/echo",
            get(|Query(q): Query<HashMap<String, String>>| async move { q.get("msg").cloned().unwrap_or_default() }),
        )
        .route("/healthz", get(|| async { "" }))
}

/// netexec's UDP server: `hostname`, `clientip` and `echo <text>`.
async fn serve_udp_echo(
    sandbox: &PodSandbox,
    run: &CancellationToken,
    tracker: &TaskTracker,
) -> io::Result<SocketAddr> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let real = socket.local_addr()?;
    let (stop, hostname, network) = (run.clone(), sandbox.hostname.clone(), sandbox.network.clone());
    tracker.spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                got = socket.recv_from(&mut buf) => match got { Ok(g) => g, Err(_) => continue },
            };
            let request = String::from_utf8_lossy(&buf[..n]).trim().to_string();
            let reply = match request.split_once(' ') {
                Some(("echo", text)) => text.to_string(),
                _ if request == "hostname" => hostname.clone(),
                _ if request == "clientip" => format!("{}:{}", network.source_of(peer, real), peer.port()),
                _ => continue,
            };
            let _ = socket.send_to(reply.as_bytes(), peer).await;
        }
    });
    Ok(real)
}

/// The page echoserver answers with.
async fn echo(hostname: &str, client: std::net::Ipv4Addr, request: Request) -> String {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default().to_string();
    let mut headers: Vec<String> =
        parts.headers.iter().map(|(k, v)| format!("\t{}={}", k.as_str(), v.to_str().unwrap_or_default())).collect();
    headers.sort();
    let body = if body.is_empty() {
        "\t-no body in request-".to_string()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    format!(
        "\n\nHostname: {hostname}\n\nPod Information:\n\t-no pod information available-\n\nServer values:\n\tserver_version=nginx: 1.13.3 - lua: 10008\n\nRequest Information:\n\tclient_address={client}\n\tmethod={}\n\treal path={}\n\tquery={}\n\trequest_version=1.1\n\trequest_scheme=http\n\trequest_uri=http://{host}{}\n\nRequest Headers:\n{}\n\nRequest Body:\n{body}\n\n",
        parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or_default(),
        parts.uri,
        headers.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_normalised() {
        assert_eq!(repository("luksa/kubia"), "luksa/kubia");
        assert_eq!(repository("docker.io/luksa/kubia:latest"), "luksa/kubia");
        assert_eq!(repository("busybox@sha256:abc"), "busybox");
        assert_eq!(repository("localhost:5000/busybox:1.36"), "localhost:5000/busybox");
        assert_eq!(program_for("luksa/kubia:v2"), Program::Kubia);
        assert_eq!(program_for("busybox"), Program::Tools);
        assert_eq!(program_for("nginx:1.27"), Program::Nginx);
        assert_eq!(program_for("example.com/mine:1"), Program::Default);
        assert_eq!(program_for("registry.k8s.io/echoserver:1.10"), Program::EchoServer);
        assert_eq!(program_for("registry.k8s.io/e2e-test-images/agnhost:2.53"), Program::NetExec);
    }

    #[test]
    fn netexec_reads_its_ports_from_the_arguments() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(netexec_ports(&args("netexec")), Some((8080, 8081)));
        assert_eq!(netexec_ports(&args("netexec --http-port=9090 --udp-port 9091")), Some((9090, 9091)));
        assert_eq!(netexec_ports(&[]), Some((8080, 8081)));
        assert_eq!(netexec_ports(&args("pause")), None);
    }
}

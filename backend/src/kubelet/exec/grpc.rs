//! gRPC clients a container can run: `grpc_health_probe` (grpc-ecosystem's probe, with its
//! flags, messages and exit codes: 1 bad arguments, 2 connection failed, 3 RPC failed, 4 not
//! serving) and `grpcurl` for `grpc.health.v1.Health/Check`. Both really speak gRPC, through
//! [`crate::kubelet::grpc`], over a connection from the pod.

use super::{Ctx, Output};
use crate::kubelet::grpc::{self, CheckError};
use crate::network::To;
use std::net::SocketAddrV4;
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;

/// A Go duration (`1s`, `250ms`, `1.5s`, `2m`).
fn go_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok().filter(|n: &f64| *n >= 0.0)?;
    let factor = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(n * factor).ok()
}

/// Flags by name and value, and the arguments that are not flags.
type Parsed = (Vec<(String, String)>, Vec<String>);

/// Go's flag syntax: `-name=value`, `--name=value`, `-name value`; booleans stand alone.
fn go_flags(args: &[String], booleans: &[&str]) -> Result<Parsed, String> {
    let (mut flags, mut rest) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|f| !f.is_empty()) else {
            rest.push(arg.clone());
            continue;
        };
        match flag.split_once('=') {
            Some((name, value)) => flags.push((name.to_string(), value.to_string())),
            None if booleans.contains(&flag) => flags.push((flag.to_string(), "true".into())),
            None => match it.next() {
                Some(value) => flags.push((flag.to_string(), value.clone())),
                None => return Err(format!("flag needs an argument: -{flag}")),
            },
        }
    }
    Ok((flags, rest))
}

/// A target `host:port` (`:port` is localhost) resolved from inside the pod.
async fn target(ctx: &Ctx, addr: &str) -> Result<SocketAddrV4, String> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("address {addr}: missing port in address"))?;
    let port: u16 = port.parse().map_err(|_| format!("address {addr}: invalid port"))?;
    let host = if host.is_empty() { "localhost" } else { host };
    let ip = super::net::resolve(ctx, host).await.ok_or_else(|| format!("lookup {host}: no such host"))?;
    Ok(SocketAddrV4::new(ip, port))
}

/// Connects from the pod and checks `service`'s health.
async fn check(
    ctx: &Ctx,
    addr: SocketAddrV4,
    service: &str,
    connect: Duration,
    rpc: Duration,
) -> Result<ServingStatus, (bool, CheckError)> {
    let dial = ctx.sandbox.network.dial(To::Cluster(addr), ctx.sandbox.dial_to(*addr.ip()));
    let conn = match tokio::time::timeout(connect, dial).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err((true, CheckError::Connect(e.to_string()))),
        Err(_) => return Err((true, CheckError::Timeout)),
    };
    grpc::check(conn.stream, &addr.to_string(), service, rpc).await.map_err(|e| (false, e))
}

pub(super) async fn health_probe(ctx: &mut Ctx, args: &[String]) -> Output {
    let fail = |code, msg: String| Output::fail(code, format!("{msg}\n"));
    let booleans = ["tls", "tls-no-verify", "alts", "spiffe", "v", "version", "gzip"];
    let (flags, _) = match go_flags(args, &booleans) {
        Ok(parsed) => parsed,
        Err(e) => return fail(1, e),
    };
    let flag = |name: &str| flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    if flag("version").is_some() {
        return Output::ok("grpc_health_probe (svclab built-in)\n");
    }
    let Some(addr) = flag("addr").filter(|a| !a.is_empty()) else {
        return fail(1, "error: -addr not specified".into());
    };
    let mut timeouts = [Duration::from_secs(1); 2];
    for (i, name) in ["connect-timeout", "rpc-timeout"].iter().enumerate() {
        if let Some(value) = flag(name) {
            match go_duration(&value) {
                Some(d) if !d.is_zero() => timeouts[i] = d,
                _ => return fail(1, format!("error: --{name} must be greater than zero (specified: {value})")),
            }
        }
    }
    let [connect, rpc] = timeouts;
    if flag("tls").is_some_and(|v| v == "true") {
        return fail(
            2,
            format!("error: failed to connect service at {addr:?}: svclab's built-in servers speak no TLS"),
        );
    }
    let service = flag("service").unwrap_or_default();
    let target = match target(ctx, &addr).await {
        Ok(t) => t,
        Err(e) => return fail(2, format!("error: failed to connect service at {addr:?}: {e}")),
    };
    match check(ctx, target, &service, connect, rpc).await {
        Ok(ServingStatus::Serving) => Output { stderr: "status: SERVING\n".into(), ..Default::default() },
        Ok(status) => fail(4, format!("service unhealthy (responded with {:?})", grpc::status_name(status))),
        Err((true, _)) => fail(2, format!("timeout: failed to connect service {addr:?} within {connect:?}")),
        Err((false, CheckError::Rpc(s))) if s.code() == tonic::Code::Unimplemented => fail(
            3,
            format!(
                "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                s.message()
            ),
        ),
        Err((false, CheckError::Timeout)) => fail(3, format!("timeout: health rpc did not complete within {rpc:?}")),
        Err((false, e)) => fail(3, format!("error: health rpc failed: {e}")),
    }
}

const HEALTH_CHECK: &str = "grpc.health.v1.Health/Check";

pub(super) async fn grpcurl(ctx: &mut Ctx, args: &[String]) -> Output {
    let fail = |msg: String| Output::fail(1, format!("{msg}\n"));
    let booleans = ["plaintext", "insecure", "v", "vv", "version", "use-reflection", "format-error", "emit-defaults"];
    let (flags, rest) = match go_flags(args, &booleans) {
        Ok(parsed) => parsed,
        Err(e) => return fail(e),
    };
    let flag = |name: &str| flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let (Some(addr), verb) = (rest.first(), rest.get(1).map(String::as_str)) else {
        return fail("Too few arguments.\nTry 'grpcurl -help' for more details.".into());
    };
    if flag("plaintext").is_none() {
        return fail(format!(
            "Failed to dial target host {addr:?}: tls: first record does not look like a TLS handshake"
        ));
    }
    let method = match verb {
        Some("list") | Some("describe") => {
            return fail("Failed to list services: server does not support the reflection API".into());
        }
        // grpcurl takes `service/method` or `service.method`.
        Some("grpc.health.v1.Health.Check") => HEALTH_CHECK,
        Some(m) => m,
        None => return fail("Too few arguments.\nTry 'grpcurl -help' for more details.".into()),
    };
    if method != HEALTH_CHECK {
        return fail(format!(
            "Error invoking method {method:?}: failed to query for service descriptor {:?}: server does not support the reflection API",
            method.rsplit_once("/").map_or(method, |(s, _)| s)
        ));
    }
    let service = match flag("d").as_deref() {
        None | Some("") => String::new(),
        Some(data) => match serde_json::from_str::<serde_json::Value>(data) {
            Ok(v) => v.get("service").and_then(|s| s.as_str()).unwrap_or_default().to_string(),
            Err(e) => return fail(format!("Error invoking method {HEALTH_CHECK:?}: error getting request data: {e}")),
        },
    };
    let max_time = flag("max-time").and_then(|t| t.parse::<f64>().ok()).map(super::net::seconds);
    let connect = flag("connect-timeout").and_then(|t| t.parse::<f64>().ok()).map(super::net::seconds);
    let connect = connect.or(max_time).unwrap_or(Duration::from_secs(10));
    let target = match target(ctx, addr).await {
        Ok(t) => t,
        Err(e) => return fail(format!("Failed to dial target host {addr:?}: {e}")),
    };
    match check(ctx, target, &service, connect, max_time.unwrap_or(Duration::from_secs(60))).await {
        Ok(status) => Output::ok(format!("{{\n  \"status\": \"{}\"\n}}\n", grpc::status_name(status))),
        Err((true, e)) => fail(format!("Failed to dial target host {addr:?}: {e}")),
        Err((false, CheckError::Rpc(s))) => fail(format!("ERROR:\n  Code: {:?}\n  Message: {}", s.code(), s.message())),
        Err((false, e)) => fail(format!("ERROR:\n  Code: DeadlineExceeded\n  Message: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_durations_read_as_go_reads_them() {
        let args: Vec<String> =
            ["-addr=:5000", "-service", "cart", "-v", "--rpc-timeout=250ms"].map(String::from).into();
        let (flags, rest) = go_flags(&args, &["v"]).unwrap();
        assert_eq!(
            flags,
            [("addr", ":5000"), ("service", "cart"), ("v", "true"), ("rpc-timeout", "250ms")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(rest.is_empty());
        assert_eq!(go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("5"), None);
    }
}

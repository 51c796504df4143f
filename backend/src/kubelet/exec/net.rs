//! Network and process utilities: `ping` (busybox's output; pods answer, service IPs never do),
//! `sleep`, `hostname`, and the name lookup the network tools share.

use super::{Ctx, Output};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Resolves a host name as the container's resolver does (`/etc/hosts`, then cluster DNS).
pub(super) async fn resolve(ctx: &Ctx, host: &str) -> Option<Ipv4Addr> {
    super::resolver::resolve(ctx, host).await.ok()?.first().copied()
}

/// Seconds as a duration, saturating: an enormous number waits for ever rather than panicking.
pub(super) fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

/// Parses a duration as `sleep` does: `5`, `0.5`, `2m`, `1h`, `infinity`.
pub(super) fn parse_duration(s: &str) -> Option<Option<Duration>> {
    if s == "infinity" || s == "inf" {
        return Some(None);
    }
    let (number, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = number.parse().ok().filter(|n: &f64| *n >= 0.0)?;
    let factor = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    Some(Some(seconds(n * factor)))
}

pub(super) async fn sleep(_ctx: &mut Ctx, args: &[String]) -> Output {
    let Some(arg) = args.first() else {
        return Output::fail(1, "sleep: missing operand\nTry 'sleep --help' for more information.\n");
    };
    match parse_duration(arg) {
        Some(Some(d)) => {
            tokio::time::sleep(d).await;
            Output::default()
        }
        Some(None) => std::future::pending().await,
        None => Output::fail(1, format!("sleep: invalid time interval '{arg}'\n")),
    }
}

pub(super) fn hostname(ctx: &Ctx, args: &[String]) -> Output {
    match args.first().map(String::as_str) {
        Some("-i") => Output::ok(format!("{}\n", ctx.sandbox.pod_ip)),
        _ => Output::ok(format!("{}\n", ctx.sandbox.hostname)),
    }
}

/// `ping [-c count] [-W timeout] [-w deadline] [-i interval] host`, as busybox prints it.
pub(super) async fn ping(ctx: &mut Ctx, args: &[String]) -> Output {
    let (mut count, mut interval, mut deadline, mut wait) = (None::<u64>, 1.0f64, None::<f64>, 1.0f64);
    let mut host = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next().and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| format!("ping: invalid argument for {flag}\n"))
        };
        let parsed = match arg.as_str() {
            "-c" => value(arg).map(|v| count = Some(v as u64)),
            "-i" => value(arg).map(|v| interval = v.max(0.01)),
            "-w" => value(arg).map(|v| deadline = Some(v)),
            "-W" => value(arg).map(|v| wait = v),
            "-q" | "-4" => Ok(()),
            flag if flag.starts_with('-') => Err(format!("ping: unrecognized option '{flag}'\n")),
            h => {
                host = Some(h.to_string());
                Ok(())
            }
        };
        if let Err(msg) = parsed {
            return Output::fail(1, msg);
        }
    }
    let Some(host) = host else {
        return Output::fail(1, "BusyBox v1.36.1 multi-call binary.\n\nUsage: ping [OPTIONS] HOST\n");
    };
    let Some(ip) = resolve(ctx, &host).await else {
        return Output::fail(1, format!("ping: bad address '{host}'\n"));
    };
    let started = Instant::now();
    // Each line is written as it comes (a terminal shows ping's replies one a second).
    let mut out = Output::default();
    ctx.emit(&mut out, format!("PING {host} ({ip}): 56 data bytes\n").as_bytes(), "");
    let (mut sent, mut received, mut times) = (0u64, 0u64, Vec::new());
    loop {
        if count.is_some_and(|c| sent >= c) || deadline.is_some_and(|d| started.elapsed().as_secs_f64() >= d) {
            break;
        }
        let probe = Instant::now();
        let answered = ctx.sandbox.network.answers_ping(ip);
        sent += 1;
        if answered {
            received += 1;
            let ms = probe.elapsed().as_secs_f64() * 1000.0;
            times.push(ms);
            let line = format!("64 bytes from {ip}: seq={} ttl=64 time={ms:.3} ms\n", sent - 1);
            ctx.emit(&mut out, line.as_bytes(), "");
        } else {
            // No reply: the packet is waited for until -W runs out.
            tokio::time::sleep(seconds(wait)).await;
        }
        if count.is_some_and(|c| sent >= c) {
            break;
        }
        let pause = if answered { interval } else { (interval - wait).max(0.0) };
        tokio::time::sleep(seconds(pause)).await;
    }
    let loss = ((sent - received) * 100).checked_div(sent).unwrap_or(0);
    out.print(&format!(
        "\n--- {host} ping statistics ---\n{sent} packets transmitted, {received} packets received, {loss}% packet loss\n"
    ));
    if !times.is_empty() {
        let min = times.iter().cloned().fold(f64::MAX, f64::min);
        let max = times.iter().cloned().fold(0.0, f64::max);
        let avg = times.iter().sum::<f64>() / times.len() as f64;
        out.print(&format!("round-trip min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms\n"));
    }
    out.code = if received > 0 { 0 } else { 1 };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_durations_parse_like_coreutils() {
        assert_eq!(parse_duration("2"), Some(Some(Duration::from_secs(2))));
        assert_eq!(parse_duration("0.5"), Some(Some(Duration::from_millis(500))));
        assert_eq!(parse_duration("1m"), Some(Some(Duration::from_secs(60))));
        assert_eq!(parse_duration("infinity"), Some(None));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("-1"), None);
        let huge = "9".repeat(40);
        assert_eq!(parse_duration(&huge), Some(Some(Duration::MAX)), "saturates instead of panicking");
    }
}

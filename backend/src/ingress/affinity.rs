//! Cookie-based session affinity (`nginx.ingress.kubernetes.io/affinity: cookie`): the first
//! response carries a cookie naming the chosen endpoint by a hash of its address; later requests
//! with that cookie go to the same pod while it stays ready. A cookie naming an endpoint that is
//! gone gets a new endpoint and a new cookie.

use super::backend::{Backend, CookieAffinity, Endpoint};
use std::hash::{Hash, Hasher};

/// The cookie value for an endpoint: stable for its address across table rebuilds.
pub fn cookie_value(endpoint: &Endpoint) -> String {
    let mut h = rustc_hash::FxHasher::default();
    endpoint.addr.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The value of cookie `name` among the request's `Cookie` header values, if sent.
pub fn find_cookie<'a>(cookie_headers: impl IntoIterator<Item = &'a [u8]>, name: &str) -> Option<&'a str> {
    cookie_headers
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The endpoint for a request that sent the affinity cookie's value `sent` (if it did), and the
/// `Set-Cookie` to send when a new endpoint was chosen.
pub fn pick<'a>(
    affinity: &CookieAffinity,
    backend: &'a Backend,
    sent: Option<&str>,
    matched_path: &str,
) -> (&'a Endpoint, Option<String>) {
    if let Some(value) = sent
        && let Some(endpoint) = backend.endpoints.iter().find(|e| cookie_value(e) == value)
    {
        return (endpoint, None);
    }
    let endpoint = backend.next();
    (endpoint, Some(set_cookie(affinity, &cookie_value(endpoint), matched_path)))
}

/// `INGRESSCOOKIE=…; Path=/; HttpOnly` with the configured attributes.
pub fn set_cookie(affinity: &CookieAffinity, value: &str, matched_path: &str) -> String {
    let path = affinity.path.clone().unwrap_or_else(|| matched_path.to_string());
    let mut cookie = format!("{}={value}; Path={path}", affinity.name);
    if let Some(domain) = &affinity.domain {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    if let Some(seconds) = affinity.expires {
        let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds.min(u32::MAX as u64) as i64);
        cookie.push_str(&format!("; Expires={}", at.strftime("%a, %d-%b-%y %H:%M:%S GMT")));
    }
    if let Some(seconds) = affinity.max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if affinity.secure {
        cookie.push_str("; Secure");
    }
    cookie.push_str("; HttpOnly");
    if let Some(same_site) = &affinity.samesite {
        cookie.push_str(&format!("; SameSite={same_site}"));
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affinity() -> CookieAffinity {
        CookieAffinity {
            name: "INGRESSCOOKIE".into(),
            path: None,
            max_age: Some(60),
            expires: None,
            secure: false,
            samesite: Some("Lax".into()),
            domain: None,
        }
    }

    #[test]
    fn a_cookie_names_its_endpoint_and_keeps_requests_there() {
        let a = Endpoint { addr: "10.244.1.2:8080".parse().unwrap(), pod: None, node: None };
        let b = Endpoint { addr: "10.244.2.2:8080".parse().unwrap(), pod: None, node: None };
        assert_ne!(cookie_value(&a), cookie_value(&b));
        let cookie = set_cookie(&affinity(), &cookie_value(&b), "/kubia");
        assert_eq!(
            cookie,
            format!("INGRESSCOOKIE={}; Path=/kubia; Max-Age=60; HttpOnly; SameSite=Lax", cookie_value(&b))
        );
        let sent = format!("other=1; INGRESSCOOKIE={}", cookie_value(&b));
        let headers = [&b"a=b"[..], sent.as_bytes()];
        assert_eq!(find_cookie(headers, "INGRESSCOOKIE"), Some(cookie_value(&b).as_str()));
        assert_eq!(find_cookie(headers, "missing"), None);
    }
}

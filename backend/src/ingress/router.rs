//! What the data path asks of a route table, whoever built it: the Ingress controller's
//! [`super::routes::RouteTable`] or a Gateway's routes (`crate::gateway::routes`). A request is
//! seen as its host, path, query, method and headers; the answer names a backend, the rule that
//! chose it, and the filters to apply on the way (Gateway API's header modifiers, redirects,
//! rewrites and mirrors), which both HTTP paths apply the same way (filtered requests go through
//! hyper's, [`super::server`]).

use super::backend::Backend;
use std::sync::Arc;
use std::time::Duration;

/// A request's headers, however they were parsed.
pub trait Headers: Sync {
    /// The first value of the header `name` (lower case).
    fn get(&self, name: &str) -> Option<&[u8]>;
}

/// The headers httparse read in place.
pub struct Parsed<'a, 'h>(pub &'a [httparse::Header<'h>]);

impl Headers for Parsed<'_, '_> {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }
}

impl Headers for hyper::HeaderMap {
    fn get(&self, name: &str) -> Option<&[u8]> {
        hyper::HeaderMap::get(self, name).map(|v| v.as_bytes())
    }
}

/// A request as routing sees it.
pub struct Request<'a> {
    pub host: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub method: &'a str,
    pub headers: &'a dyn Headers,
}

/// How a request was routed (borrowed from the table: nothing is counted or copied per request).
#[derive(Clone, Copy, Debug)]
pub struct Match<'t> {
    pub backend: &'t Backend,
    /// `kubia.example.com/kubia (Prefix)`, `default backend`, or a Gateway route's rule.
    pub rule: &'t str,
    /// The matched path (for the affinity cookie's path).
    pub path: &'t str,
    /// What to change on the way, when the rule changes anything.
    pub filters: Option<&'t Filters>,
    /// The chosen backend's weight and the rule's total, when the rule splits traffic.
    pub weight: Option<(u32, u32)>,
}

/// A route table the data path serves from.
pub trait Router: Send + Sync + std::fmt::Debug {
    /// Where the request goes; `None` when no rule matches (404).
    fn route(&self, request: &Request<'_>) -> Option<Match<'_>>;

    /// Whether a default backend answers what no rule matches (an Ingress's does; a Gateway has
    /// none).
    fn default_backend(&self) -> bool {
        true
    }

    /// The body of the 404 when no rule matches: ingress-nginx's default backend's words, or
    /// nothing without a default backend (as Envoy-based Gateways answer).
    fn not_found(&self) -> &'static str {
        if self.default_backend() { super::http::NOT_FOUND } else { "" }
    }
}

/// Header changes, as Gateway API's `RequestHeaderModifier` and `ResponseHeaderModifier` say:
/// `set` replaces, `add` appends, `remove` drops (names compared in any case).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeaderEdits {
    pub set: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub add: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub remove: Vec<hyper::header::HeaderName>,
}

impl HeaderEdits {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    pub fn apply(&self, headers: &mut hyper::HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

/// A new path: the whole of it, or the matched prefix replaced.
#[derive(Clone, Debug, PartialEq)]
pub enum PathChange {
    Full(String),
    /// The rule's prefix (`matched`, without a trailing `/`) becomes `replacement`.
    Prefix {
        matched: String,
        replacement: String,
    },
}

impl PathChange {
    /// The path `path` becomes.
    pub fn apply(&self, path: &str) -> String {
        match self {
            PathChange::Full(p) => p.clone(),
            PathChange::Prefix { matched, replacement } => {
                let rest = path.get(matched.len()..).unwrap_or_default();
                let replacement = replacement.trim_end_matches('/');
                match (replacement.is_empty(), rest.is_empty()) {
                    (true, true) => "/".into(),
                    (true, false) => rest.into(),
                    (false, _) => format!("{replacement}{rest}"),
                }
            }
        }
    }
}

/// `RequestRedirect`: the answer is a redirect, built from the request.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub path: Option<PathChange>,
    pub status: u16,
}

impl Redirect {
    /// The `Location` for a request that came over `scheme` to `port` for `host` (as the client
    /// wrote it, maybe with a port), `path` and `query`: each part the filter does not change is
    /// the request's, and the port is left out when it is the scheme's own.
    pub fn location(&self, scheme: &str, host: &str, port: u16, path: &str, query: Option<&str>) -> String {
        let new_scheme = self.scheme.as_deref().unwrap_or(scheme);
        let hostname = self.hostname.clone().unwrap_or_else(|| super::backend::normalize_host(host).into_owned());
        let well_known = |s: &str| if s == "https" { 443 } else { 80 };
        // A changed scheme without a port takes the new scheme's own port.
        let port = self.port.unwrap_or(if new_scheme != scheme { well_known(new_scheme) } else { port });
        let path = self.path.as_ref().map_or_else(|| path.to_string(), |p| p.apply(path));
        let mut location = format!("{new_scheme}://{hostname}");
        if port != well_known(new_scheme) {
            location.push_str(&format!(":{port}"));
        }
        location.push_str(&path);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            location.push('?');
            location.push_str(q);
        }
        location
    }
}

/// `URLRewrite`: the request goes on with another host or path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rewrite {
    pub hostname: Option<String>,
    pub path: Option<PathChange>,
}

/// `RequestMirror`: a copy goes to another backend (its answer ignored), for a fraction of
/// requests.
#[derive(Clone, Debug)]
pub struct Mirror {
    pub backend: Arc<Backend>,
    /// Requests mirrored out of each `denominator`.
    pub numerator: u32,
    pub denominator: u32,
}

/// What a Gateway route's rule changes on the way.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub request_headers: HeaderEdits,
    pub response_headers: HeaderEdits,
    pub redirect: Option<Redirect>,
    pub rewrite: Option<Rewrite>,
    pub mirrors: Vec<Mirror>,
    /// `timeouts.request`: the whole exchange, from the request to the end of the answer.
    pub request_timeout: Option<Duration>,
}

impl Filters {
    /// Whether the filters change nothing (the fast path can take the request).
    pub fn is_empty(&self) -> bool {
        self.request_headers.is_empty()
            && self.response_headers.is_empty()
            && self.redirect.is_none()
            && self.rewrite.is_none()
            && self.mirrors.is_empty()
            && self.request_timeout.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_replaced_as_the_spec_shows() {
        // HTTPPathModifier's examples.
        let change = |matched: &str, replacement: &str| PathChange::Prefix {
            matched: matched.trim_end_matches('/').into(),
            replacement: replacement.into(),
        };
        assert_eq!(change("/foo", "/xyz").apply("/foo/bar"), "/xyz/bar");
        assert_eq!(change("/foo", "/xyz/").apply("/foo/bar"), "/xyz/bar");
        assert_eq!(change("/foo/", "/xyz").apply("/foo/bar"), "/xyz/bar");
        assert_eq!(change("/foo", "/").apply("/foo/bar"), "/bar");
        assert_eq!(change("/foo", "/").apply("/foo"), "/");
        assert_eq!(change("/foo", "/xyz").apply("/foo"), "/xyz");
        assert_eq!(PathChange::Full("/one".into()).apply("/foo/bar"), "/one");
    }

    #[test]
    fn redirects_keep_what_they_do_not_change() {
        let redirect = |scheme: Option<&str>, hostname: Option<&str>, port: Option<u16>| Redirect {
            scheme: scheme.map(Into::into),
            hostname: hostname.map(Into::into),
            port,
            path: None,
            status: 302,
        };
        let to_https = redirect(Some("https"), None, None);
        assert_eq!(
            to_https.location("http", "a.example.com:8080", 8080, "/x", Some("q=1")),
            "https://a.example.com/x?q=1"
        );
        let elsewhere = redirect(None, Some("b.example.com"), None);
        assert_eq!(elsewhere.location("http", "a.example.com", 8080, "/", None), "http://b.example.com:8080/");
        assert_eq!(elsewhere.location("http", "a.example.com", 80, "/", None), "http://b.example.com/");
        let port = redirect(None, None, Some(8443));
        assert_eq!(port.location("https", "a.example.com", 443, "/p", None), "https://a.example.com:8443/p");
    }
}

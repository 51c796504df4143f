//! A Gateway port's route table, built purely from the routes attached to its listeners, and
//! how a request finds its rule there, as Gateway API specifies: the most specific listener by
//! hostname; then the routes' hostnames (exact before wildcards, longer before shorter, then
//! routes without hostnames); within those, Exact paths, then regular expressions, then the
//! longest PathPrefix; a method match; more header matches; more query matches; the oldest
//! route; the route's name; the rule's order. A rule's backends share its traffic by weight
//! (smooth weighted round-robin, so 90/10 is 90/10 over every 100 requests).

use crate::ingress::backend::Backend;
use crate::ingress::router::{Filters, Match, Request, Router};
use regex::Regex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use svclab_shared::gateway::hostname_matches;

/// How a rule's match tests the path.
#[derive(Clone, Debug)]
pub enum PathMatch {
    Exact(String),
    /// Element-wise, the value without a trailing `/` (empty for `/`).
    Prefix(String),
    Regex(Regex),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => {
                p.is_empty()
                    || path.strip_prefix(p.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
            PathMatch::Regex(r) => r.is_match(path),
        }
    }

    /// Exact first, then expressions (longer first), then longer prefixes: the spec leaves
    /// expressions to the implementation, and Envoy Gateway ranks them so.
    fn rank(&self) -> (u8, usize) {
        match self {
            PathMatch::Exact(p) => (0, usize::MAX - p.len()),
            PathMatch::Regex(r) => (1, usize::MAX - r.as_str().len()),
            PathMatch::Prefix(p) => (2, usize::MAX - p.len()),
        }
    }
}

/// A header or query parameter test.
#[derive(Clone, Debug)]
pub enum ValueMatch {
    Exact(String),
    Regex(Regex),
}

impl ValueMatch {
    fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(v) => v == value,
            ValueMatch::Regex(r) => r.is_match(value),
        }
    }
}

/// One backend of a rule and its share.
#[derive(Clone, Debug)]
pub struct Weighted {
    pub weight: u32,
    pub backend: Arc<Backend>,
}

/// What a rule does with the requests it matches: its backends, weighted, and its filters.
#[derive(Debug)]
pub struct Action {
    pub backends: Vec<Weighted>,
    /// Indexes into `backends`, one per unit of weight, smoothly interleaved.
    schedule: Vec<u16>,
    cursor: AtomicUsize,
    /// `None` when they change nothing (the fast path then takes the request).
    pub filters: Option<Filters>,
    /// Answered when the rule has no backend with weight (500, as the spec asks).
    pub none: Arc<Backend>,
}

impl Action {
    pub fn new(backends: Vec<Weighted>, filters: Filters, none: Arc<Backend>) -> Action {
        let schedule = schedule(&backends.iter().map(|b| b.weight).collect::<Vec<_>>());
        let filters = (!filters.is_empty()).then_some(filters);
        Action { backends, schedule, cursor: AtomicUsize::new(0), filters, none }
    }

    fn total(&self) -> u32 {
        self.backends.iter().map(|b| b.weight).sum()
    }

    /// The next backend by weight; `None` when every weight is 0.
    fn next(&self) -> Option<&Weighted> {
        if self.schedule.is_empty() {
            return None;
        }
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.schedule.len();
        self.backends.get(usize::from(self.schedule[i]))
    }
}

/// nginx's smooth weighted round-robin over `weights`, one cycle (weights scaled down to at most
/// 10,000 slots).
fn schedule(weights: &[u32]) -> Vec<u16> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return Vec::new();
    }
    let scale = total.div_ceil(10_000).max(1);
    let weights: Vec<i64> = weights.iter().map(|w| (u64::from(*w) / scale) as i64).collect();
    let sum: i64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(sum as usize);
    for _ in 0..sum {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let (best, _) = current.iter().enumerate().max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i))).expect("some");
        current[best] -= sum;
        out.push(best as u16);
    }
    out
}

/// One `matches` entry of one rule, with where it came from.
#[derive(Debug)]
pub struct Entry {
    pub path: PathMatch,
    pub method: Option<String>,
    /// Lower-case names.
    pub headers: Vec<(String, ValueMatch)>,
    pub query: Vec<(String, ValueMatch)>,
    /// `httproute default/kubia rule 0` and the match, for traces.
    pub rule: Arc<str>,
    /// The matched prefix (for cookies); `/` otherwise.
    pub matched_path: Arc<str>,
    pub action: Arc<Action>,
    /// The route's age and name, then the rule and match index: the spec's tie-breakers.
    pub order: (Option<jiff::Timestamp>, String, usize, usize),
}

impl Entry {
    fn matches(&self, request: &Request<'_>) -> bool {
        self.path.matches(request.path)
            && self.method.as_deref().is_none_or(|m| m == request.method)
            && self.headers.iter().all(|(name, test)| {
                let value = request.headers.get(name).and_then(|v| std::str::from_utf8(v).ok());
                value.is_some_and(|v| test.matches(v))
            })
            && self.query.iter().all(|(name, test)| query_value(request.query, name).is_some_and(|v| test.matches(&v)))
    }

    /// The precedence key: lower wins.
    fn key(&self) -> impl Ord + '_ {
        (
            self.path.rank(),
            self.method.is_none(),
            usize::MAX - self.headers.len(),
            usize::MAX - self.query.len(),
            &self.order,
        )
    }
}

/// The first value of the query parameter `name` (exact name), percent-decoded.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The entries of the routes attached to one listener, grouped by the hostname they answer.
#[derive(Debug, Default)]
pub struct Hosts {
    exact: std::collections::HashMap<String, Vec<Entry>>,
    /// `*.example.com` entries, the longest suffix first.
    wildcards: Vec<(String, Vec<Entry>)>,
    any: Vec<Entry>,
}

impl Hosts {
    /// Adds an entry for the effective hostname `host` (`""`: any).
    pub fn add(&mut self, host: &str, entry: Entry) {
        if host.is_empty() {
            self.any.push(entry);
        } else if host.starts_with("*.") {
            match self.wildcards.iter_mut().find(|(h, _)| h == host) {
                Some((_, entries)) => entries.push(entry),
                None => self.wildcards.push((host.to_string(), vec![entry])),
            }
        } else {
            self.exact.entry(host.to_string()).or_default().push(entry);
        }
    }

    /// Sorts everything by precedence; called once when built.
    pub fn sort(&mut self) {
        self.wildcards.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        for entries in self
            .exact
            .values_mut()
            .chain(self.wildcards.iter_mut().map(|(_, e)| e))
            .chain(std::iter::once(&mut self.any))
        {
            entries.sort_by(|a, b| a.key().cmp(&b.key()));
        }
    }

    fn find(&self, host: &str, request: &Request<'_>) -> Option<&Entry> {
        fn first<'e>(entries: &'e [Entry], request: &Request<'_>) -> Option<&'e Entry> {
            entries.iter().find(|e| e.matches(request))
        }
        self.exact
            .get(host)
            .and_then(|e| first(e, request))
            .or_else(|| {
                self.wildcards.iter().filter(|(w, _)| hostname_matches(w, host)).find_map(|(_, e)| first(e, request))
            })
            .or_else(|| first(&self.any, request))
    }
}

/// One listener on the port: its hostname and the routes attached to it.
#[derive(Debug, Default)]
pub struct ListenerRoutes {
    pub name: String,
    pub hostname: Option<String>,
    pub hosts: Hosts,
}

/// Everything served on one port of one Gateway.
#[derive(Debug, Default)]
pub struct PortRoutes {
    /// The most specific hostname first (exact, longer wildcards, none).
    pub listeners: Vec<ListenerRoutes>,
}

impl PortRoutes {
    pub fn sort(&mut self) {
        let rank = |l: &ListenerRoutes| match l.hostname.as_deref() {
            None | Some("") => (2, 0),
            Some(h) if h.starts_with("*.") => (1, usize::MAX - h.len()),
            Some(_) => (0, 0),
        };
        self.listeners.sort_by_key(rank);
        for l in &mut self.listeners {
            l.hosts.sort();
        }
    }
}

impl Router for PortRoutes {
    fn route(&self, request: &Request<'_>) -> Option<Match<'_>> {
        let host = crate::ingress::backend::normalize_host(request.host);
        let listener = self.listeners.iter().find(|l| match l.hostname.as_deref() {
            None | Some("") => true,
            Some(h) => hostname_matches(h, &host),
        })?;
        let entry = listener.hosts.find(&host, request)?;
        let action = &entry.action;
        let (backend, weight) = match action.next() {
            Some(w) => (&*w.backend, (action.backends.len() > 1).then(|| (w.weight, action.total()))),
            None => (&*action.none, None),
        };
        Some(Match { backend, rule: &entry.rule, path: &entry.matched_path, filters: action.filters.as_ref(), weight })
    }

    /// A Gateway has no default backend: what no route matches is a plain 404.
    fn default_backend(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_interleave_smoothly_and_exactly() {
        let s = schedule(&[90, 10]);
        assert_eq!(s.len(), 100);
        assert_eq!(s.iter().filter(|i| **i == 1).count(), 10);
        // Never two of the small share in a row.
        assert!(s.windows(2).all(|w| w != [1, 1]));
        assert_eq!(schedule(&[1, 1]), [0, 1]);
        assert!(schedule(&[0, 0]).is_empty());
        assert_eq!(schedule(&[0, 3]), [1, 1, 1]);
        assert_eq!(schedule(&[1_000_000, 1_000_000]).len(), 10_000);
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let p = PathMatch::Prefix("/v2".into());
        assert!(p.matches("/v2") && p.matches("/v2/") && p.matches("/v2/x"));
        assert!(!p.matches("/v2example") && !p.matches("/v"));
        assert!(PathMatch::Prefix(String::new()).matches("/anything"));
        assert_eq!(query_value(Some("a=1&b=x%20y&a=2"), "b").as_deref(), Some("x y"));
        assert_eq!(query_value(Some("a=1&a=2"), "a").as_deref(), Some("1"));
    }
}

//! A route rule's filters (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect,
//! URLRewrite, RequestMirror) read into what the data path applies.

use super::inputs::Inputs;
use super::refs::{Ref, backend};
use crate::ingress::router::{Filters, HeaderEdits, Mirror, PathChange, Redirect, Rewrite};
use std::sync::Arc;
use std::time::Duration;
use svclab_shared::gateway::route as r;

/// A rule's filters as the data path applies them; `matched` is the match's path prefix (for
/// `ReplacePrefixMatch`).
pub fn filters(
    inputs: &Inputs,
    ns: &str,
    owner: &str,
    list: &[r::HttpRouteRulesFilters],
    matched: &str,
    read_timeout: Duration,
) -> Filters {
    let mut out = Filters::default();
    let edits = |set: Vec<(String, String)>, add: Vec<(String, String)>, remove: Vec<String>| {
        let pair = |(n, v): (String, String)| {
            Some((
                hyper::header::HeaderName::from_bytes(n.as_bytes()).ok()?,
                hyper::header::HeaderValue::from_str(&v).ok()?,
            ))
        };
        HeaderEdits {
            set: set.into_iter().filter_map(pair).collect(),
            add: add.into_iter().filter_map(pair).collect(),
            remove: remove.iter().filter_map(|n| hyper::header::HeaderName::from_bytes(n.as_bytes()).ok()).collect(),
        }
    };
    let path_change = |full: Option<&String>, prefix: Option<&String>| match (full, prefix) {
        (Some(f), _) => Some(PathChange::Full(f.clone())),
        (None, Some(p)) => Some(PathChange::Prefix { matched: matched.to_string(), replacement: p.clone() }),
        _ => None,
    };
    for f in list {
        if let Some(m) = &f.request_header_modifier {
            out.request_headers = edits(
                m.set.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
                m.add.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
                m.remove.clone().unwrap_or_default(),
            );
        }
        if let Some(m) = &f.response_header_modifier {
            out.response_headers = edits(
                m.set.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
                m.add.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
                m.remove.clone().unwrap_or_default(),
            );
        }
        if let Some(rd) = &f.request_redirect {
            let path = rd
                .path
                .as_ref()
                .and_then(|p| path_change(p.replace_full_path.as_ref(), p.replace_prefix_match.as_ref()));
            out.redirect = Some(Redirect {
                scheme: rd
                    .scheme
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok())
                    .and_then(|v| v.as_str().map(String::from)),
                hostname: rd.hostname.clone(),
                port: rd.port.map(|p| p as u16),
                path,
                status: rd.status_code.map_or(302, |c| c as u16),
            });
        }
        if let Some(rw) = &f.url_rewrite {
            let path = rw
                .path
                .as_ref()
                .and_then(|p| path_change(p.replace_full_path.as_ref(), p.replace_prefix_match.as_ref()));
            out.rewrite = Some(Rewrite { hostname: rw.hostname.clone(), path });
        }
        if let Some(m) = &f.request_mirror {
            let b = &m.backend_ref;
            let (backend, outcome) = backend(
                inputs,
                ns,
                owner,
                Ref::of(b.kind.as_deref(), b.group.as_deref(), b.namespace.as_deref(), &b.name, b.port),
                read_timeout,
            );
            if outcome.is_ok() {
                let (numerator, denominator) = match (&m.fraction, m.percent) {
                    (Some(f), _) => (f.numerator.max(0) as u32, f.denominator.unwrap_or(100).max(1) as u32),
                    (None, Some(p)) => (p.max(0) as u32, 100),
                    (None, None) => (1, 1),
                };
                out.mirrors.push(Mirror { backend: Arc::new(backend), numerator, denominator });
            }
        }
    }
    out
}

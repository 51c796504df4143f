//! The Gateway API CRDs' validation (their OpenAPI bounds and CEL rules, with the messages
//! apiextensions-apiserver gives): listeners present, uniquely named, on valid ports, TLS exactly
//! where the protocol needs it; hostnames; a Service backendRef with a port; weights; absolute
//! paths; each filter's fields matching its type; redirect status codes.

use super::FieldError;
use crate::gateway::{Gateway, HttpRoute, route as r};

/// `field in body should be greater than or equal to N`, as the OpenAPI bounds read.
fn at_least(field: &str, value: i64, min: i64) -> Option<FieldError> {
    (value < min).then(|| {
        FieldError::invalid(
            field,
            value.to_string(),
            format!("{field} in body should be greater than or equal to {min}"),
        )
    })
}

fn at_most(field: &str, value: i64, max: i64) -> Option<FieldError> {
    (value > max).then(|| {
        FieldError::invalid(field, value.to_string(), format!("{field} in body should be less than or equal to {max}"))
    })
}

/// A hostname as the CRDs' pattern allows it: RFC 1123 labels, optionally `*.` first, no IP.
fn hostname(field: &str, host: &str) -> Option<FieldError> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let ok = !name.is_empty()
        && host.len() <= 253
        && name.split('.').all(label_ok)
        && name.parse::<std::net::IpAddr>().is_err();
    (!ok).then(|| {
        let pattern = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
        FieldError::invalid(field, format!("{host:?}"), format!("{field} in body should match '{pattern}'"))
    })
}

pub fn validate_gateway(g: &Gateway) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if g.spec.gateway_class_name.is_empty() {
        errs.push(FieldError::invalid(
            "spec.gatewayClassName",
            "\"\"",
            "spec.gatewayClassName in body should be at least 1 chars long",
        ));
    }
    let listeners = &g.spec.listeners;
    if listeners.is_empty() {
        errs.push(FieldError::invalid("spec.listeners", "0", "spec.listeners in body should have at least 1 items"));
    }
    for (i, l) in listeners.iter().enumerate() {
        let at = format!("spec.listeners[{i}]");
        if listeners[..i].iter().any(|o| o.name == l.name) {
            errs.push(FieldError::invalid(
                "spec.listeners",
                "\"array\"",
                "Listener name must be unique within the Gateway",
            ));
        }
        errs.extend(at_least(&format!("{at}.port"), l.port.into(), 1));
        errs.extend(at_most(&format!("{at}.port"), l.port.into(), 65535));
        if let Some(h) = l.hostname.as_deref() {
            errs.extend(hostname(&format!("{at}.hostname"), h));
        }
        match (l.protocol.as_str(), l.tls.is_some()) {
            ("HTTPS" | "TLS", false) => {
                errs.push(FieldError::invalid(
                    "spec.listeners",
                    "\"array\"",
                    "tls mode must be set for protocol HTTPS",
                ));
            }
            ("HTTP" | "TCP" | "UDP", true) => errs.push(FieldError::invalid(
                "spec.listeners",
                "\"array\"",
                "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
            )),
            _ => {}
        }
    }
    errs
}

fn path_value(field: &str, m: &r::HttpRouteRulesMatchesPath) -> Option<FieldError> {
    let value = m.value.as_deref().unwrap_or("/");
    let absolute = !matches!(m.r#type, Some(r::HttpRouteRulesMatchesPathType::RegularExpression));
    (absolute && !value.starts_with('/')).then(|| {
        FieldError::invalid(
            field,
            "\"object\"",
            "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
        )
    })
}

/// A filter's own field must be set for its type, and no other.
fn filter(field: &str, f: &r::HttpRouteRulesFilters) -> Vec<FieldError> {
    use r::HttpRouteRulesFiltersType as T;
    let set = [
        ("requestHeaderModifier", f.request_header_modifier.is_some(), matches!(f.r#type, T::RequestHeaderModifier)),
        ("responseHeaderModifier", f.response_header_modifier.is_some(), matches!(f.r#type, T::ResponseHeaderModifier)),
        ("requestMirror", f.request_mirror.is_some(), matches!(f.r#type, T::RequestMirror)),
        ("requestRedirect", f.request_redirect.is_some(), matches!(f.r#type, T::RequestRedirect)),
        ("urlRewrite", f.url_rewrite.is_some(), matches!(f.r#type, T::UrlRewrite)),
        ("extensionRef", f.extension_ref.is_some(), matches!(f.r#type, T::ExtensionRef)),
        ("cors", f.cors.is_some(), matches!(f.r#type, T::Cors)),
    ];
    let mut errs = Vec::new();
    for (name, present, wanted) in set {
        if present && !wanted {
            errs.push(FieldError::invalid(
                field,
                "\"object\"",
                format!("filter.{name} must be nil if the filter.type is not {}", type_name(name)),
            ));
        }
        if wanted && !present {
            errs.push(FieldError::invalid(
                field,
                "\"object\"",
                format!("filter.{name} must be specified for {} filter.type", type_name(name)),
            ));
        }
    }
    let code = f.request_redirect.as_ref().and_then(|rd| rd.status_code);
    if let Some(code) = code.filter(|c| ![301, 302, 303, 307, 308].contains(c)) {
        let supported = ["301", "302", "303", "307", "308"];
        errs.push(FieldError::not_supported(
            format!("{field}.requestRedirect.statusCode"),
            &code.to_string(),
            &supported,
        ));
    }
    errs
}

fn type_name(field: &str) -> String {
    match field {
        "urlRewrite" => "URLRewrite".into(),
        "cors" => "CORS".into(),
        other => {
            let mut c = other.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
    }
}

pub fn validate_http_route(route: &HttpRoute) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, h) in route.spec.hostnames.iter().flatten().enumerate() {
        errs.extend(hostname(&format!("spec.hostnames[{i}]"), h));
    }
    for (i, rule) in route.spec.rules.iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        for (j, m) in rule.matches.iter().flatten().enumerate() {
            if let Some(p) = &m.path {
                errs.extend(path_value(&format!("{at}.matches[{j}].path"), p));
            }
        }
        for (j, f) in rule.filters.iter().flatten().enumerate() {
            errs.extend(filter(&format!("{at}.filters[{j}]"), f));
        }
        for (j, b) in rule.backend_refs.iter().flatten().enumerate() {
            let field = format!("{at}.backendRefs[{j}]");
            let service =
                b.kind.as_deref().unwrap_or("Service") == "Service" && b.group.as_deref().unwrap_or("").is_empty();
            match b.port {
                None if service => {
                    errs.push(FieldError::invalid(&field, "\"object\"", "Must have port for Service reference"))
                }
                Some(p) => {
                    errs.extend(at_least(&format!("{field}.port"), p.into(), 1));
                    errs.extend(at_most(&format!("{field}.port"), p.into(), 65535));
                }
                None => {}
            }
            if let Some(w) = b.weight {
                errs.extend(at_least(&format!("{field}.weight"), w.into(), 0));
                errs.extend(at_most(&format!("{field}.weight"), w.into(), 1_000_000));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_gateways_and_routes_read_as_the_crds_refuse_them() {
        let g: Gateway = serde_json::from_value(json!({"metadata": {"name": "g"}, "spec": {"gatewayClassName": "svclab",
            "listeners": [{"name": "a", "port": 0, "protocol": "HTTPS"}, {"name": "a", "port": 80, "protocol": "HTTP", "hostname": "10.0.0.1"}]}}))
        .unwrap();
        let messages: Vec<String> = validate_gateway(&g).iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "spec.listeners[0].port: Invalid value: 0: spec.listeners[0].port in body should be greater than or equal to 1",
                "spec.listeners: Invalid value: \"array\": tls mode must be set for protocol HTTPS",
                "spec.listeners: Invalid value: \"array\": Listener name must be unique within the Gateway",
                "spec.listeners[1].hostname: Invalid value: \"10.0.0.1\": spec.listeners[1].hostname in body should match '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
            ]
        );
        let route: HttpRoute = serde_json::from_value(json!({"metadata": {"name": "r"}, "spec": {"rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "x"}}],
            "filters": [{"type": "RequestHeaderModifier"}],
            "backendRefs": [{"name": "svc"}, {"name": "svc", "port": 80, "weight": 2000000}]}]}}))
        .unwrap();
        let messages: Vec<String> = validate_http_route(&route).iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "spec.rules[0].matches[0].path: Invalid value: \"object\": value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
                "spec.rules[0].filters[0]: Invalid value: \"object\": filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type",
                "spec.rules[0].backendRefs[0]: Invalid value: \"object\": Must have port for Service reference",
                "spec.rules[0].backendRefs[1].weight: Invalid value: 2000000: spec.rules[0].backendRefs[1].weight in body should be less than or equal to 1000000",
            ]
        );
    }
}

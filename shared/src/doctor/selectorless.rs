//! A service without a selector: the endpoints controller leaves it alone, so its Endpoints (or
//! the EndpointSlices its user wrote) are all it has.

use super::{Finding, Severity, Subject, count_addresses, finding};

/// A service without a selector: its Endpoints, or EndpointSlices, are the user's own.
pub(super) fn selectorless(s: &Subject) -> Finding {
    let svc_name = &s.name;
    let (ready_addresses, _) = count_addresses(s.evidence.endpoints.as_ref());
    let (kept, list) = if s.evidence.sliced {
        let label = crate::service::SERVICE_NAME_LABEL;
        (format!("the EndpointSlices labelled {label}={svc_name} are kept by hand"), "they list")
    } else {
        (format!("the Endpoints object {svc_name} is kept by hand"), "it lists")
    };
    let (severity, detail) = match (&s.evidence.endpoints, ready_addresses) {
        (None, _) => (
            Severity::Error,
            format!(
                "Without a selector the endpoints controller leaves {svc_name} alone, and there is no \
                 Endpoints object named {svc_name} in {}, nor an EndpointSlice labelled {}={svc_name} \
                 with endpoints: connections are refused. Create one by hand with the addresses to \
                 forward to.",
                s.ns,
                crate::service::SERVICE_NAME_LABEL
            ),
        ),
        (Some(_), 0) => (
            Severity::Error,
            format!("Without a selector {kept}, and {list} no ready address: connections are refused."),
        ),
        (Some(_), n) => (
            Severity::Ok,
            format!(
                "Without a selector {kept}; {list} {n} ready address{}, and the proxy forwards to them as \
                 given.",
                if n == 1 { "" } else { "es" }
            ),
        ),
    };
    let links = if s.evidence.sliced { vec![] } else { s.endpoints_link() };
    finding(severity, "selector", "No selector: endpoints managed by hand".into(), detail, links)
}

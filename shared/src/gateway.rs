//! Gateway API kinds (`gateway.networking.k8s.io/v1`, the Standard channel): GatewayClass,
//! Gateway, HTTPRoute and ReferenceGrant, as the `gateway-api` crate types them. They are
//! CustomResources there (kube's `Resource`); here each is wrapped once so it is a `k8s-openapi`
//! `Resource` like every other kind svclab stores, and reads as the crate's type through `Deref`.

pub use gateway_api::gatewayclasses as class;
pub use gateway_api::gateways as gw;
pub use gateway_api::httproutes as route;
pub use gateway_api::referencegrants as grant;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use serde::{Deserialize, Serialize};

/// A Gateway API duration (`10s`, `1m30s`, `500ms`) as a `std` one; `None` when malformed.
pub fn duration(text: &str) -> Option<std::time::Duration> {
    let d: gateway_api::Duration = text.parse().ok()?;
    Some(std::time::Duration::new(d.as_secs(), d.subsec_nanos()))
}

/// The API group of every Gateway API kind.
pub const GROUP: &str = "gateway.networking.k8s.io";

macro_rules! wrapped {
    ($(#[$doc:meta])* $name:ident($inner:ty), kind: $kind:literal, plural: $plural:literal, scope: $scope:ty;) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::ops::Deref for $name {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }

        impl k8s_openapi::Resource for $name {
            const API_VERSION: &'static str = "gateway.networking.k8s.io/v1";
            const GROUP: &'static str = GROUP;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = "v1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $scope;
        }

        impl k8s_openapi::Metadata for $name {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.0.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.0.metadata
            }
        }
    };
}

wrapped! {
    /// A kind of Gateway, served by the controller it names.
    GatewayClass(class::GatewayClass), kind: "GatewayClass", plural: "gatewayclasses",
    scope: k8s_openapi::ClusterResourceScope;
}
wrapped! {
    /// Listeners on an address, which routes attach to.
    Gateway(gw::Gateway), kind: "Gateway", plural: "gateways", scope: k8s_openapi::NamespaceResourceScope;
}
wrapped! {
    /// HTTP routing rules attached to Gateways (their parents).
    HttpRoute(route::HttpRoute), kind: "HTTPRoute", plural: "httproutes", scope: k8s_openapi::NamespaceResourceScope;
}
wrapped! {
    /// Lets objects in other namespaces refer to objects in this one.
    ReferenceGrant(grant::ReferenceGrant), kind: "ReferenceGrant", plural: "referencegrants",
    scope: k8s_openapi::NamespaceResourceScope;
}

/// The controller name of svclab's Gateway implementation, in GatewayClasses.
pub const CONTROLLER: &str = "svclab.io/gateway-controller";
/// The GatewayClass svclab installs.
pub const CLASS: &str = "svclab";

/// A condition as Gateway API statuses carry them.
pub fn condition(type_: &str, ok: bool, reason: &str, message: &str, generation: Option<i64>, now: &Time) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// `conditions` with `new` merged in by type, keeping a condition's transition time while its
/// status stays the same (as `meta.SetStatusCondition` does).
pub fn set_conditions(conditions: &[Condition], new: Vec<Condition>) -> Vec<Condition> {
    new.into_iter()
        .map(|mut c| {
            if let Some(old) = conditions.iter().find(|o| o.type_ == c.type_ && o.status == c.status) {
                c.last_transition_time = old.last_transition_time.clone();
            }
            c
        })
        .collect()
}

/// Whether `hostname` (a request's or a route's; no wildcard) matches `pattern`, which may be a
/// `*.` wildcard of one or more labels (`*.example.com` matches `a.example.com` and
/// `a.b.example.com`, not `example.com`).
pub fn hostname_matches(pattern: &str, hostname: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            hostname.len() > suffix.len() + 1
                && hostname.ends_with(suffix)
                && hostname.as_bytes()[hostname.len() - suffix.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(hostname),
    }
}

/// The hostname a route's hostname and a listener's hostname (either absent, either a
/// wildcard) have in common, the more specific of the two; `None` when they do not intersect.
/// An absent hostname on both sides is `Some("")`: any host.
pub fn intersect(listener: Option<&str>, route: Option<&str>) -> Option<String> {
    match (listener.filter(|h| !h.is_empty()), route.filter(|h| !h.is_empty())) {
        (None, None) => Some(String::new()),
        (Some(h), None) | (None, Some(h)) => Some(h.to_ascii_lowercase()),
        (Some(l), Some(r)) => {
            let (l, r) = (l.to_ascii_lowercase(), r.to_ascii_lowercase());
            let within = |wide: &str, narrow: &str| match narrow.strip_prefix("*.") {
                Some(suffix) => wide.starts_with("*.") && hostname_matches(wide, suffix),
                None => hostname_matches(wide, narrow),
            };
            if l == r || within(&l, &r) {
                Some(r)
            } else if within(&r, &l) {
                Some(l)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_or_more_labels_but_not_the_parent() {
        assert!(hostname_matches("*.example.com", "foo.example.com"));
        assert!(hostname_matches("*.example.com", "foo.bar.example.com"));
        assert!(!hostname_matches("*.example.com", "example.com"));
        assert!(!hostname_matches("*.example.com", "fooexample.com"));
        assert!(hostname_matches("Foo.example.com", "foo.example.com"));
    }

    #[test]
    fn listener_and_route_hostnames_intersect_as_the_spec_says() {
        // The spec's examples (HTTPRouteSpec.hostnames).
        assert_eq!(intersect(Some("test.example.com"), None).as_deref(), Some("test.example.com"));
        assert_eq!(intersect(Some("test.example.com"), Some("test.example.com")).as_deref(), Some("test.example.com"));
        assert_eq!(intersect(Some("test.example.com"), Some("*.example.com")).as_deref(), Some("test.example.com"));
        assert_eq!(intersect(Some("*.example.com"), Some("*.example.com")).as_deref(), Some("*.example.com"));
        assert_eq!(intersect(Some("*.example.com"), Some("test.example.com")).as_deref(), Some("test.example.com"));
        assert_eq!(
            intersect(Some("*.example.com"), Some("foo.test.example.com")).as_deref(),
            Some("foo.test.example.com")
        );
        assert_eq!(intersect(Some("*.example.com"), Some("example.com")), None);
        assert_eq!(intersect(Some("*.example.com"), Some("test.example.net")), None);
        assert_eq!(intersect(Some("*.com"), Some("*.example.com")).as_deref(), Some("*.example.com"));
        assert_eq!(intersect(Some("*.example.com"), Some("*.com")).as_deref(), Some("*.example.com"));
        assert_eq!(intersect(None, None).as_deref(), Some(""));
    }
}

//! Metrics, in Prometheus' text format at `/metrics`: how long a change takes to reach the data
//! plane (kube-proxy's `network_programming_duration_seconds`) and the DNS answers (CoreDNS'
//! `dns_programming_duration_seconds`) and the ingress controller's routes
//! (`svclab_ingress_programming_duration_seconds`), all three measured the same way from the
//! Services informer's updates.

use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::{Registry, Unit};

pub struct Metrics {
    registry: Registry,
    /// From the change that triggered an Endpoints update (its `last-change-trigger-time`) to the
    /// proxy table that carries it being published.
    pub network_programming: Histogram,
    /// From the change that triggered an Endpoints update to the DNS zone that answers with it.
    pub dns_programming: Histogram,
    /// From the change that triggered an Endpoints update to the ingress routes that use it.
    pub ingress_programming: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        // 50µs doubling up to about 26 s.
        let network_programming = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
        let dns_programming = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
        let ingress_programming = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
        let mut registry = Registry::default();
        registry.sub_registry_with_prefix("kubeproxy").register_with_unit(
            "network_programming_duration",
            "In-cluster network programming latency in seconds",
            Unit::Seconds,
            network_programming.clone(),
        );
        registry.sub_registry_with_prefix("coredns_kubernetes").register_with_unit(
            "dns_programming_duration",
            "Time from an endpoint change to the DNS answers carrying it, in seconds",
            Unit::Seconds,
            dns_programming.clone(),
        );
        registry.sub_registry_with_prefix("svclab").register_with_unit(
            "ingress_programming_duration",
            "Time from an endpoint change to the ingress routes carrying it, in seconds",
            Unit::Seconds,
            ingress_programming.clone(),
        );
        Metrics { registry, network_programming, dns_programming, ingress_programming }
    }
}

/// The Endpoints changes a data-plane component has already measured, by service: each
/// `last-change-trigger-time` is observed once, however often the service is looked at again.
#[derive(Default)]
pub struct Triggers(std::collections::HashMap<crate::store::ObjectKey, String>);

impl Triggers {
    /// The trigger time of `eps` when it is one not measured yet for `key`.
    pub fn fresh(
        &mut self,
        key: &crate::store::ObjectKey,
        eps: Option<&k8s_openapi::api::core::v1::Endpoints>,
    ) -> Option<jiff::Timestamp> {
        let annotations = eps?.metadata.annotations.as_ref()?;
        let time = annotations.get(crate::controllers::endpoints::TRIGGER_TIME)?;
        if self.0.get(key) == Some(time) {
            return None;
        }
        self.0.insert(key.clone(), time.clone());
        time.parse().ok()
    }

    /// Forgets a service that is gone.
    pub fn forget(&mut self, key: &crate::store::ObjectKey) {
        self.0.remove(key);
    }
}

/// Records, in `histogram`, how long ago each trigger was.
pub fn observe_since(histogram: &Histogram, triggers: &[jiff::Timestamp]) {
    let now = jiff::Timestamp::now();
    for t in triggers {
        histogram.observe((now - *t).total(jiff::Unit::Second).unwrap_or(0.0).max(0.0));
    }
}

impl Metrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_show_in_the_exposition() {
        let m = Metrics::default();
        m.network_programming.observe(0.0004);
        let text = m.render();
        assert!(text.contains("# TYPE kubeproxy_network_programming_duration_seconds histogram"), "{text}");
        assert!(text.contains("kubeproxy_network_programming_duration_seconds_count 1"), "{text}");
    }
}

//! Metrics, in Prometheus' text format at `/metrics`: how long a change takes to reach the data
//! plane (kube-proxy's `network_programming_duration_seconds`) and the DNS answers (CoreDNS'
//! `dns_programming_duration_seconds`).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub struct Metrics {
    registry: Registry,
    /// From the change that triggered an Endpoints update (its `last-change-trigger-time`) to the
    /// proxy table that carries it being published.
    pub network_programming: Histogram,
    /// From the change that triggered an Endpoints update to the DNS zone that answers with it.
    pub dns_programming: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        // 50µs doubling up to about 26 s.
        let network_programming = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
        let dns_programming = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
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
        Metrics { registry, network_programming, dns_programming }
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

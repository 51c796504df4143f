//! A service's DNS records as the cluster DNS answers them now: its A record (each ready pod's
//! for a headless service, a CNAME for an ExternalName), an SRV record per named port, the PTR
//! of its cluster IP, and each headless pod's own name. Asked again whenever the service or
//! its Endpoints change.

use crate::api;
use crate::state::use_cluster;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::lab::{DnsLookup, DnsLookupRequest};

/// The questions to ask about a service: (name, type).
fn questions(svc: &Service, endpoints: Option<&Endpoints>) -> Vec<(String, &'static str)> {
    let (ns, name) =
        (svc.metadata.namespace.clone().unwrap_or_default(), svc.metadata.name.clone().unwrap_or_default());
    let fqdn = format!("{name}.{ns}.svc.cluster.local");
    let spec = svc.spec.clone().unwrap_or_default();
    let mut out = vec![(fqdn.clone(), "A")];
    for port in spec.ports.iter().flatten() {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let protocol = port.protocol.as_deref().unwrap_or("TCP").to_lowercase();
            out.push((format!("_{port_name}._{protocol}.{fqdn}"), "SRV"));
        }
    }
    if let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok()) {
        let [a, b, c, d] = ip.octets();
        out.push((format!("{d}.{c}.{b}.{a}.in-addr.arpa"), "PTR"));
    }
    let mut hostnames: Vec<String> = endpoints
        .iter()
        .flat_map(|e| e.subsets.iter().flatten())
        .flat_map(|s| s.addresses.iter().flatten())
        .filter_map(|a| a.hostname.clone())
        .collect();
    hostnames.sort();
    hostnames.dedup();
    out.extend(hostnames.into_iter().map(|h| (format!("{h}.{fqdn}"), "A")));
    out
}

#[component]
pub fn DnsRecords(key: Memo<(String, String)>) -> impl IntoView {
    let cluster = use_cluster();
    let answers = RwSignal::new(Vec::<(String, &'static str, Result<DnsLookup, String>)>::new());
    let asked = Memo::new(move |_| {
        key.with(|(ns, n)| {
            let svc = cluster.get::<Service>(ns, n)?;
            let endpoints = cluster.endpoints(ns, n);
            let versions = (
                svc.metadata.resource_version.clone(),
                endpoints.as_ref().and_then(|e| e.metadata.resource_version.clone()),
            );
            Some((questions(&svc, endpoints.as_ref()), versions))
        })
    });
    Effect::new(move |_| {
        let Some((questions, _)) = asked.get() else { return };
        spawn_local(async move {
            let mut out = Vec::new();
            for (name, type_) in questions {
                let request = DnsLookupRequest { name: name.clone(), type_: Some(type_.into()), from_pod: None };
                out.push((name, type_, api::dns_lookup(&request).await));
            }
            answers.set(out);
        });
    });
    view! {
        <section class="panel" data-testid="dns-records">
            <h3>"DNS records"</h3>
            <p class="legend">"As the cluster DNS answers them now (dig @cluster-dns)."</p>
            <ul class="svc-records">
                {move || answers.get().into_iter().map(|(name, type_, result)| {
                    let lines = match result {
                        Ok(lookup) if !lookup.answers.is_empty() => lookup.answers.iter()
                            .map(|r| format!("{} {} IN {} {}", r.name, r.ttl, r.type_, r.data)).collect::<Vec<_>>(),
                        Ok(lookup) => vec![format!(";; no answer: {}", lookup.error.unwrap_or_else(|| "NOERROR, empty".into()))],
                        Err(e) => vec![format!(";; {e}")],
                    };
                    view! {
                        <li data-type=type_>
                            <code class="mono question">{format!("{name} {type_}")}</code>
                            <pre class="mono">{lines.join("\n")}</pre>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

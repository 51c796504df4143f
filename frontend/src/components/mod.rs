//! The dashboard's components, one per file.

pub mod app;
pub mod apply;
pub mod config;
pub mod dns;
pub mod doctor;
pub mod endpoints;
pub mod events;
pub mod gateways;
pub mod header;
pub mod ingresses;
pub mod learn;
pub mod nav;
pub mod nodes;
pub mod pickers;
pub mod pod_page;
pub mod pods;
pub mod records;
pub mod scope;
pub mod search;
pub mod services;
pub mod slices;
pub mod summary;
pub mod terminal;
pub mod test_requests;
pub mod timeline;
pub mod token;
pub mod topology;
pub mod window;
pub mod workloads;

use leptos::prelude::*;
use std::time::Duration;

/// Milliseconds since the epoch, ticking every second, for AGE columns.
#[derive(Clone, Copy)]
pub struct Now(pub RwSignal<f64>);

pub fn provide_now() {
    let now = RwSignal::new(js_sys::Date::now());
    set_interval(move || now.set(js_sys::Date::now()), Duration::from_secs(1));
    provide_context(Now(now));
}

/// A name as kubectl shows it: bare in `default`, `namespace/name` elsewhere.
pub fn qualified(namespace: &str, name: &str) -> String {
    if namespace.is_empty() || namespace == "default" { name.to_string() } else { format!("{namespace}/{name}") }
}

/// AGE of an object created at `created`, reactive on the clock.
pub fn age(created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> impl Fn() -> String + use<> {
    let now = expect_context::<Now>().0;
    let created_ms = created.map(|t| t.0.as_millisecond() as f64);
    move || match created_ms {
        Some(c) => svclab_shared::printers::human_duration(((now.get() - c) / 1000.0) as i64),
        None => "<unknown>".into(),
    }
}

/// The `(namespace, name)` an object's page is at (`/<kind>/:namespace/:name`). Reactive.
pub fn page_key() -> Memo<(String, String)> {
    let params = leptos_router::hooks::use_params_map();
    Memo::new(move |_| params.with(|p| (p.get("namespace").unwrap_or_default(), p.get("name").unwrap_or_default())))
}

//! Test requests: fire requests at a service from a pod, or from outside through the ingress,
//! and show which pod answered each, and how the proxy or the ingress chose it.

use crate::api;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeMap;
use svclab_shared::lab::{TestReport, TestRequest};

/// One run of test requests and its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct TestRun {
    pub service: String,
    pub result: Option<Result<TestReport, String>>,
}

impl TestRun {
    /// Sends `request` and shows it as requests to `target`.
    pub fn start(run: RwSignal<Option<TestRun>>, target: String, request: TestRequest) {
        run.set(Some(TestRun { service: target, result: None }));
        spawn_local(async move {
            let result = api::test_requests(&request).await;
            run.update(|r| {
                if let Some(r) = r {
                    r.result = Some(result);
                }
            });
        });
    }
}

#[component]
pub fn TestRunView(run: RwSignal<Option<TestRun>>) -> impl IntoView {
    move || {
        run.get().map(|r| {
            let body = match r.result {
                None => view! { <p class="progress">"Sending requests…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok(report)) => report_view(report).into_any(),
            };
            view! {
                <div class="test-run" data-testid="test-results" aria-live="polite">
                    <h3>{format!("Requests to {}", r.service)}</h3>
                    {body}
                </div>
            }
        })
    }
}

fn report_view(report: TestReport) -> impl IntoView {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &report.results {
        let who = r.hop.as_ref().and_then(|h| h.pod.clone()).unwrap_or_else(|| "(no answer)".into());
        *counts.entry(who).or_default() += 1;
    }
    let total = report.results.len().max(1);
    let histogram: Vec<_> = counts
        .into_iter()
        .map(|(pod, n)| {
            let width = format!("width: {}%", n * 100 / total);
            let key = pod.clone();
            view! {
                <li data-pod=key>
                    <span class="mono">{pod}</span>
                    <span class="bar"><span style=width></span></span>
                    <span>{n}</span>
                </li>
            }
        })
        .collect();
    let lines: Vec<_> = report
        .results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let outcome = match (&r.error, r.status) {
                (Some(e), _) => e.clone(),
                (None, Some(status)) => format!("{status} {}", r.body.trim()),
                (None, None) => "no answer".into(),
            };
            let hop = r
                .hop
                .map(|h| {
                    format!(
                        "{} → {} ({}) on {}: {}",
                        h.virtual_address,
                        h.endpoint,
                        h.pod.unwrap_or_default(),
                        h.node.unwrap_or_default(),
                        h.reason
                    )
                })
                .unwrap_or_default();
            let hop = match r.certificate {
                Some(subject) => format!("{hop} [certificate {subject}]"),
                None => hop,
            };
            let ms = format!("{:.1} ms", r.micros as f64 / 1000.0);
            view! {
                <li class:failed=r.error.is_some()>
                    <span class="n">{i + 1}</span>
                    <span class="outcome">{outcome}</span>
                    <span class="hop mono">{hop}</span>
                    <span class="ms">{ms}</span>
                </li>
            }
        })
        .collect();
    view! {
        <p class="meta">{format!("from {} to {}", report.source, report.url)}</p>
        <ul class="histogram" aria-label="Which pod answered">{histogram}</ul>
        <ol class="requests" aria-label="Requests">{lines}</ol>
    }
}

//! Learn: the chapter as a guided tour (`/learn/5.1` … `/learn/5.7`). Each step says what it
//! shows, runs the book's commands for real with their output as a terminal prints it, checks
//! the outcome live, and points at where to look. Progress is kept in this browser; a step can
//! be reset (what it made is deleted, or put back as it was).

mod steps;

use crate::api;
use crate::state::{Cluster, use_cluster};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use std::collections::{BTreeSet, HashMap};
use steps::{Action, InPod, NAMESPACE, Output, STEPS, Seen, Step, Url};
use svclab_shared::doctor::Severity;
use svclab_shared::lab::{ApplyOutcome, ExecRequest, TestRequest, TestSource};

const PROGRESS_KEY: &str = "svclab-learn";

/// What the tour remembers: each step's action outputs (for this visit) and the steps done
/// (kept in this browser).
#[derive(Clone, Copy)]
pub struct Tour {
    outputs: RwSignal<HashMap<&'static str, Vec<Option<Output>>>>,
    running: RwSignal<Option<(&'static str, usize)>>,
    done: RwSignal<BTreeSet<String>>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn provide_tour() {
    let saved = storage().and_then(|s| s.get_item(PROGRESS_KEY).ok().flatten()).unwrap_or_default();
    let done = RwSignal::new(saved.split(',').filter(|s| !s.is_empty()).map(String::from).collect::<BTreeSet<_>>());
    Effect::new(move |_| {
        if let Some(s) = storage() {
            let _ = s.set_item(PROGRESS_KEY, &done.with(|d| d.iter().cloned().collect::<Vec<_>>().join(",")));
        }
    });
    provide_context(Tour { outputs: RwSignal::new(HashMap::new()), running: RwSignal::new(None), done });
}

/// The pod a command runs in, once there is one.
fn pick(cluster: Cluster, pod: InPod) -> Option<String> {
    let pods = steps::running_pods(cluster, pod.app);
    let mut candidates = pods.iter().filter(|p| !pod.unready || !svclab_shared::pod::is_ready(p));
    candidates.nth(pod.n).and_then(|p| p.metadata.name.clone())
}

fn url_of(cluster: Cluster, url: Url) -> Option<String> {
    match url {
        Url::Fixed(url) => Some(url.to_string()),
        Url::NodePort(port) => steps::node_address(cluster).map(|ip| format!("http://{ip}:{port}/")),
        Url::LoadBalancer(service) => steps::load_balancer_address(cluster, service).map(|ip| format!("http://{ip}/")),
    }
}

/// The command line the action stands for, as typed at a shell. Reactive (names the pod).
fn command_line(cluster: Cluster, action: Action) -> String {
    let pod = |p: InPod| {
        pick(cluster, p).unwrap_or_else(|| format!("<{} {}pod>", p.app, if p.unready { "not-ready " } else { "" }))
    };
    match action {
        Action::Apply { file, .. } => format!("kubectl apply -f {file}"),
        Action::Delete { file, .. } => format!("kubectl delete -f {file}"),
        Action::DeletePods { app } => format!("kubectl delete po -l app={app}"),
        Action::Exec { pod: p, command } => format!("kubectl exec {} -- {}", pod(p), command.join(" ")),
        Action::Requests { from, url, count } => {
            let url = url_of(cluster, url).unwrap_or_else(|| "<address pending>".into());
            match from {
                Some(p) => format!("for i in $(seq {count}); do kubectl exec {} -- curl -s {url}; done", pod(p)),
                None => format!("for i in $(seq {count}); do curl -s {url}; done"),
            }
        }
        Action::Doctor { service } => format!("svclab doctor service/{service}"),
    }
}

/// Runs an action for real.
async fn run(cluster: Cluster, action: Action) -> Output {
    let failed = |e: String| Output::Failed(e);
    match action {
        Action::Apply { yaml, .. } => api::apply(yaml.to_string()).await.map_or_else(failed, Output::Applied),
        Action::Delete { yaml, .. } => api::delete(yaml.to_string()).await.map_or_else(failed, Output::Applied),
        Action::DeletePods { app } => {
            api::delete_pods(NAMESPACE, &format!("app={app}")).await.map_or_else(failed, Output::Deleted)
        }
        Action::Exec { pod, command } => {
            let Some(name) = pick(cluster, pod) else {
                return failed(format!("no running pod with app={} yet", pod.app));
            };
            let request = ExecRequest { command: command.iter().map(|c| c.to_string()).collect(), container: None };
            match api::exec(NAMESPACE, &name, &request).await {
                Ok(response) => Output::Exec { pod: name, response },
                Err(e) => failed(e),
            }
        }
        Action::Requests { from, url, count } => {
            let Some(url) = url_of(cluster, url) else { return failed("the address is not assigned yet".into()) };
            let source = match from {
                Some(pod) => match pick(cluster, pod) {
                    Some(name) => TestSource::Pod { namespace: NAMESPACE.into(), name },
                    None => return failed(format!("no running pod with app={} yet", pod.app)),
                },
                None => TestSource::Outside,
            };
            let request = TestRequest {
                namespace: NAMESPACE.into(),
                url: Some(url),
                source: Some(source),
                count,
                ..Default::default()
            };
            api::test_requests(&request).await.map_or_else(failed, Output::Requests)
        }
        Action::Doctor { service } => {
            api::diagnosis("services", NAMESPACE, service).await.map_or_else(failed, Output::Doctor)
        }
    }
}

/// What an action printed, as a terminal shows it.
fn printed(output: &Output) -> Vec<(bool, String)> {
    let out = |s: String| (false, s);
    match output {
        Output::Applied(response) => response
            .results
            .iter()
            .map(|r| match (&r.outcome, &r.error) {
                (ApplyOutcome::Failed, Some(e)) => (true, format!("error: {}", e.message)),
                _ => out(r.message.clone()),
            })
            .collect(),
        Output::Deleted(pods) if pods.is_empty() => vec![out("No resources found".into())],
        Output::Deleted(pods) => pods.iter().map(|p| out(format!("pod \"{p}\" deleted"))).collect(),
        Output::Exec { response, .. } => {
            let mut lines: Vec<(bool, String)> = response.stdout.lines().map(|l| out(l.to_string())).collect();
            lines.extend(response.stderr.lines().map(|l| (true, l.to_string())));
            if response.exit_code != 0 {
                lines.push((true, format!("command terminated with exit code {}", response.exit_code)));
            } else if lines.is_empty() {
                lines.push(out("(no output: it succeeded)".into()));
            }
            lines
        }
        Output::Requests(report) => {
            let mut lines = Vec::new();
            let mut tally: Vec<(String, usize)> = Vec::new();
            for r in &report.results {
                let text = match &r.error {
                    Some(e) => format!("curl: {e}"),
                    None => r.body.trim().to_string(),
                };
                match tally.iter_mut().find(|(t, _)| *t == text) {
                    Some((_, n)) => *n += 1,
                    None => tally.push((text.clone(), 1)),
                }
                lines.push((r.error.is_some(), text));
            }
            tally.sort();
            let summary = tally.iter().map(|(t, n)| format!("{n}× {t}")).collect::<Vec<_>>().join(" · ");
            lines.push(out(format!("# {} requests: {summary}", report.results.len())));
            lines
        }
        Output::Doctor(diagnosis) => diagnosis
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| (f.severity == Severity::Error, format!("[{:?}] {} — {}", f.severity, f.title, f.detail)))
            .collect(),
        Output::Failed(e) => vec![(true, format!("error: {e}"))],
    }
}

/// On the overview until a step is done: where a newcomer starts.
#[component]
pub fn LearnInvite() -> impl IntoView {
    let tour = expect_context::<Tour>();
    view! {
        <Show when=move || tour.done.with(BTreeSet::is_empty)>
            <p class="invite" data-testid="learn-invite">
                "New to Services? "
                <A href="/learn">"Learn"</A>
                " walks the chapter on this cluster, from 5.1 to 5.7: each step runs the book's commands and checks what they did."
            </p>
        </Show>
    }
}

#[component]
pub fn LearnPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let tour = expect_context::<Tour>();
    let index = Memo::new(move |_| {
        let wanted = params.with(|p| p.get("step"))?;
        STEPS.iter().position(|s| s.id == wanted)
    });
    // `/learn` opens the first step not done yet, under its own URL.
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if params.with(|p| p.get("step").is_none()) {
            let first = tour.done.with_untracked(|d| STEPS.iter().find(|s| !d.contains(s.id)).unwrap_or(&STEPS[0]).id);
            navigate(
                &format!("/learn/{first}"),
                leptos_router::NavigateOptions { replace: true, ..Default::default() },
            );
        }
    });
    view! {
        <section class="panel learn" data-testid="learn">
            <h2>"Learn: Services, chapter 5 as a tour"</h2>
            <p class="lead">
                "Seven steps, one per section of the chapter. Each runs the book's commands on this cluster and checks what they did, live. "
                {move || format!("{} of {} done.", tour.done.with(|d| STEPS.iter().filter(|s| d.contains(s.id)).count()), STEPS.len())}
            </p>
            <div class="learn-layout">
                <ol class="learn-steps" aria-label="Steps">
                    {STEPS
                        .iter()
                        .map(|s| {
                            let id = s.id;
                            view! {
                                <li class:done=move || tour.done.with(|d| d.contains(id))>
                                    <A href=format!("/learn/{id}")>
                                        <span class="mark" aria-hidden="true">{move || if tour.done.with(|d| d.contains(id)) { "✓" } else { "○" }}</span>
                                        {format!("{id} {}", s.title)}
                                    </A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
                {move || match index.get() {
                    Some(i) => view! { <StepView step=&STEPS[i] /> }.into_any(),
                    None if params.with(|p| p.get("step").is_none()) => ().into_any(),
                    None => view! { <p class="none">"There is no such step: pick one from the list."</p> }.into_any(),
                }}
            </div>
        </section>
    }
}

/// A step's action outputs so far.
fn outputs_of(tour: Tour, id: &'static str) -> Vec<Option<Output>> {
    tour.outputs.with(|o| o.get(id).cloned().unwrap_or_default())
}

/// One action: its command line, Run, and what it printed.
#[component]
fn ActionItem(
    id: &'static str,
    i: usize,
    action: Action,
    start: impl Fn(usize, Action) + Copy + Send + 'static,
) -> impl IntoView {
    let cluster = use_cluster();
    let tour = expect_context::<Tour>();
    let busy = move || tour.running.get().is_some();
    let output = move || outputs_of(tour, id).get(i).cloned().flatten();
    view! {
        <li data-action=i>
            <div class="command">
                <code class="mono">"$ " {move || command_line(cluster, action)}</code>
                <button on:click=move |_| start(i, action) disabled=busy>
                    {move || if tour.running.get() == Some((id, i)) { "Running…" } else { "Run" }}
                </button>
            </div>
            {move || output().map(|o| view! {
                <pre class="terminal-output mono" aria-label="Output">
                    {printed(&o).into_iter().map(|(err, line)| view! { <span class:stderr=err>{line}"\n"</span> }).collect_view()}
                </pre>
            })}
        </li>
    }
}

#[component]
fn StepView(step: &'static Step) -> impl IntoView {
    let cluster = use_cluster();
    let tour = expect_context::<Tour>();
    let id = step.id;
    let outputs = move || outputs_of(tour, id);
    let verdicts = Memo::new(move |_| {
        let outputs = outputs();
        let seen = Seen { cluster, outputs: &outputs };
        step.checks.iter().map(|c| (c.test)(&seen)).collect::<Vec<_>>()
    });
    // A step is done the first time all its checks pass.
    Effect::new(move |_| {
        if verdicts.with(|v| v.iter().all(Result::is_ok)) && !tour.done.with_untracked(|d| d.contains(id)) {
            tour.done.update(|d| {
                d.insert(id.to_string());
            });
        }
    });
    let start = move |i: usize, action: Action| {
        tour.running.set(Some((id, i)));
        spawn_local(async move {
            let output = run(cluster, action).await;
            tour.outputs.update(|o| {
                let list = o.entry(id).or_default();
                if list.len() <= i {
                    list.resize(i + 1, None);
                }
                list[i] = Some(output);
            });
            tour.running.set(None);
        });
    };
    let reset = move |_| {
        tour.running.set(Some((id, usize::MAX)));
        spawn_local(async move {
            for action in step.reset {
                let _ = run(cluster, *action).await;
            }
            tour.outputs.update(|o| {
                o.remove(id);
            });
            tour.done.update(|d| {
                d.remove(id);
            });
            tour.running.set(None);
        });
    };
    let next = STEPS.iter().position(|s| s.id == id).and_then(|i| STEPS.get(i + 1));
    view! {
        <article class="learn-step" data-step=id>
            <h3>{format!("{} {}", step.id, step.title)}</h3>
            <p>{step.shows}</p>
            <ol class="learn-actions">
                {step
                    .actions
                    .iter()
                    .enumerate()
                    .map(|(i, action)| view! { <ActionItem id=id i=i action=*action start=start /> })
                    .collect_view()}
            </ol>
            <h4>"Checks"</h4>
            <ul class="learn-checks" aria-label="Checks">
                {step
                    .checks
                    .iter()
                    .enumerate()
                    .map(|(i, check)| {
                        let verdict = move || verdicts.with(|v| v[i].clone());
                        view! {
                            <li class:passed=move || verdict().is_ok() data-check=i>
                                <span class="mark" aria-hidden="true">{move || if verdict().is_ok() { "✓" } else { "…" }}</span>
                                <span class="text">{check.text}</span>
                                <span class="detail">{move || match verdict() { Ok(seen) | Err(seen) => seen }}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="look">
                "Where to look: "
                {step.look.iter().map(|(label, href)| view! { <A href=*href>{*label}</A>" " }).collect_view()}
            </p>
            <div class="learn-nav">
                <button on:click=reset disabled=move || tour.running.get().is_some()
                    title="Delete what this step made (or put it back as it was) and start it again">
                    "Reset this step"
                </button>
                {next.map(|n| view! { <A href=format!("/learn/{}", n.id) attr:class="next">{format!("Next: {} {} →", n.id, n.title)}</A> })}
            </div>
        </article>
    }
}

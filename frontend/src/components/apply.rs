//! Manifests: a YAML editor (highlighted, line-numbered, each document's error marked at its
//! line), the chapter's examples as templates, Apply, Dry run and Delete (`kubectl apply -f`,
//! `kubectl diff -f` and `kubectl delete -f`), upload of one or many files by picker or drag and
//! drop, and each document's outcome with its located error (and a dry run's diff). Other components put manifests in the editor through the
//! [`Editor`] context (a pod's controller with a probe added, an object to edit in place).

use crate::api;
use crate::state::use_cluster;
use leptos::prelude::*;
use leptos::task::spawn_local;
use svclab_shared::Kind;
use svclab_shared::highlight;
use svclab_shared::lab::{ApplyOutcome, ApplyResponse};

/// The chapter's examples, one click away.
fn templates() -> Vec<(&'static str, String)> {
    let file = |text: &str| text.to_string();
    vec![
        ("kubia Service + ReplicationController", file(include_str!("../../../examples/kubia.yaml"))),
        (
            "kubia NodePort + Ingress",
            [
                include_str!("../../../examples/kubia-nodeport.yaml"),
                include_str!("../../../examples/kubia-ingress.yaml"),
            ]
            .join("---\n"),
        ),
        ("LoadBalancer", file(include_str!("../../../examples/kubia-loadbalancer.yaml"))),
        ("ExternalName", file(include_str!("../../../examples/external-service-externalname.yaml"))),
        (
            "Service + Endpoints by hand",
            [
                include_str!("../../../examples/external-service.yaml"),
                include_str!("../../../examples/external-service-endpoints.yaml"),
            ]
            .join("---\n"),
        ),
    ]
}

/// The manifest box, shared: what it holds, and a note on what applying it will do.
#[derive(Clone, Copy)]
pub struct Editor {
    pub yaml: RwSignal<String>,
    pub hint: RwSignal<Option<String>>,
    outcome: RwSignal<Option<Result<ApplyResponse, String>>>,
    /// Whether the drawer holding the editor is open (remembered in this browser).
    pub open: RwSignal<bool>,
    /// Where live objects come from, for Edit.
    cluster: crate::state::Cluster,
}

impl Editor {
    /// Replaces the editor's text, with a note to show beside it, and brings it into view.
    pub fn load(&self, yaml: String, hint: Option<String>) {
        self.yaml.set(yaml);
        self.hint.set(hint);
        self.outcome.set(None);
        self.open.set(true);
        if let Some(element) =
            web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("manifest"))
        {
            element.scroll_into_view();
        }
    }
}

impl Editor {
    /// Puts a live object in the editor to change and apply again (`kubectl edit`).
    pub fn edit(&self, kind: Kind, namespace: &str, name: &str) {
        let reference = format!("{}/{name}", kind.name().to_lowercase());
        let Some(value) = self.cluster.raw(kind, namespace, name) else {
            self.hint.set(Some(format!("{reference} is gone")));
            return;
        };
        match serde_yaml::to_string(&svclab_shared::object::manifest_of(value)) {
            Ok(yaml) => self.load(yaml, Some(format!("Editing {reference}: change it and Apply (kubectl edit)"))),
            Err(e) => self.hint.set(Some(format!("{reference} can't be shown as YAML: {e}"))),
        }
    }
}

const DRAWER_KEY: &str = "svclab-manifests";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn provide_editor() {
    let closed = storage().and_then(|s| s.get_item(DRAWER_KEY).ok().flatten()).as_deref() == Some("closed");
    let open = RwSignal::new(!closed);
    Effect::new(move |_| {
        if let Some(s) = storage() {
            let _ = s.set_item(DRAWER_KEY, if open.get() { "open" } else { "closed" });
        }
    });
    provide_context(Editor {
        yaml: RwSignal::new(String::new()),
        hint: RwSignal::new(None),
        outcome: RwSignal::new(None),
        open,
        cluster: use_cluster(),
    });
}

/// The editor beside every view, opened and closed from the top bar; what it holds is kept
/// while it is closed.
#[component]
pub fn ManifestsDrawer() -> impl IntoView {
    let editor = use_editor();
    view! {
        <Show when=move || editor.open.get()>
            <aside class="drawer" aria-label="Manifests">
                <ApplyPanel />
            </aside>
        </Show>
    }
}

/// The top bar's switch for the drawer.
#[component]
pub fn ManifestsToggle() -> impl IntoView {
    let editor = use_editor();
    view! {
        <button class="manifests-toggle" aria-pressed=move || editor.open.get().to_string()
            on:click=move |_| editor.open.update(|o| *o = !*o) title="Show or hide the manifests editor">
            "Manifests"
        </button>
    }
}

pub fn use_editor() -> Editor {
    expect_context::<Editor>()
}

/// The lines of the editor's text that an error points at, with the message (for the text
/// typed in the editor, not for uploaded files).
fn error_lines(outcome: &Option<Result<ApplyResponse, String>>) -> Vec<(usize, String)> {
    let Some(Ok(response)) = outcome else { return vec![] };
    response
        .results
        .iter()
        .filter(|r| r.file.is_none())
        .filter_map(|r| r.error.as_ref().map(|e| (e.line.unwrap_or(r.line), e.message.clone())))
        .collect()
}

/// The outcome of the last apply, dry run or delete: a line per document (a dry run's with its
/// diff), or why the request failed.
#[component]
fn Results(outcome: RwSignal<Option<Result<ApplyResponse, String>>>) -> impl IntoView {
    view! {
        <div class="apply-results" data-testid="apply-results" aria-live="polite">
            {move || outcome.get().map(|o| match o {
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Ok(response) => view! {
                    <ul>
                        {response.results.into_iter().map(|r| {
                            let failed = r.outcome == ApplyOutcome::Failed;
                            let file = r.file.clone().map(|f| format!("{f}: ")).unwrap_or_default();
                            let location = r.error.as_ref().and_then(|e| Some(format!("line {}, column {}: ", e.line?, e.column?))).unwrap_or_default();
                            let text = if failed {
                                format!("{file}document {} — {location}{}", r.document, r.error.map(|e| e.message).unwrap_or_default())
                            } else {
                                format!("{file}{}", r.message)
                            };
                            let diff = r.diff.filter(|d| !d.is_empty()).map(|d| view! { <DiffView diff=d /> });
                            view! { <li class:failed=failed class:ok=!failed>{text}{diff}</li> }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            })}
        </div>
    }
}

/// A unified diff, its added, removed and hunk lines marked.
#[component]
fn DiffView(diff: String) -> impl IntoView {
    let lines = diff
        .lines()
        .map(|line| {
            let class = match line.as_bytes().first() {
                Some(b'+') if !line.starts_with("+++") => "add",
                Some(b'-') if !line.starts_with("---") => "del",
                Some(b'@') => "hunk",
                _ => "",
            };
            view! { <span class=class>{format!("{line}\n")}</span> }
        })
        .collect_view();
    view! { <pre class="diff mono" data-testid="diff">{lines}</pre> }
}

/// The manifests' text with YAML colours, line numbers and each line's error (`marked`: line
/// and message) beside it: the copy drawn under the textarea.
fn highlighted(text: &str, marked: &[(usize, String)]) -> impl IntoView + use<> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.is_empty() {
        lines.push("");
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let error = marked.iter().find(|(l, _)| *l == i + 1).map(|(_, m)| m.clone());
            let has_error = error.is_some();
            let pieces = highlight::line(line)
                .into_iter()
                .map(|(class, text)| view! { <span class=class>{text}</span> })
                .collect_view();
            view! {
                <div class="line" class:error-line=has_error>
                    <span class="ln" aria-hidden="true">{i + 1}</span>
                    {pieces}
                    {error.map(|m| view! { <span class="inline-error">{m}</span> })}
                </div>
            }
        })
        .collect_view()
}

/// Runs one request on the manifests at a time: `busy` while it runs, its outcome kept.
#[derive(Clone, Copy)]
struct Runner {
    busy: RwSignal<bool>,
    outcome: RwSignal<Option<Result<ApplyResponse, String>>>,
}

impl Runner {
    fn run(self, work: impl std::future::Future<Output = Result<ApplyResponse, String>> + 'static) {
        self.busy.set(true);
        spawn_local(async move {
            self.outcome.set(Some(work.await));
            self.busy.set(false);
        });
    }

    /// Sends the files picked or dropped (if any), saying which they were.
    fn upload(self, editor: Editor, files: Option<web_sys::FileList>) {
        let Some(files) = files.filter(|f| f.length() > 0) else { return };
        let names: Vec<String> = (0..files.length()).filter_map(|i| files.get(i)).map(|f| f.name()).collect();
        editor.hint.set(Some(format!("Uploaded {}", names.join(", "))));
        self.run(api::upload(files));
    }
}

#[component]
pub fn ApplyPanel() -> impl IntoView {
    let editor = use_editor();
    let yaml = editor.yaml;
    let outcome = editor.outcome;
    let busy = RwSignal::new(false);
    let dragging = RwSignal::new(false);
    let runner = Runner { busy, outcome };
    let apply = move |_| runner.run(api::apply(yaml.get_untracked()));
    let delete = move |_| runner.run(api::delete(yaml.get_untracked()));
    let dry_run = move |_| runner.run(api::apply_dry_run(yaml.get_untracked()));
    let on_pick = move |ev: leptos::ev::Event| {
        runner.upload(editor, event_target::<web_sys::HtmlInputElement>(&ev).files());
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        runner.upload(editor, ev.data_transfer().and_then(|d| d.files()));
    };
    // The highlighted copy under the textarea follows its scrolling.
    let overlay = NodeRef::<leptos::html::Pre>::new();
    let on_scroll = move |ev: leptos::ev::Event| {
        let area = event_target::<web_sys::Element>(&ev);
        if let Some(pre) = overlay.get() {
            pre.set_scroll_top(area.scroll_top());
            pre.set_scroll_left(area.scroll_left());
        }
    };
    let errors = Memo::new(move |_| outcome.with(error_lines));
    let highlighted = move || errors.with(|marked| yaml.with(|text| highlighted(text, marked)));
    let template = move |name: &str, text: String| {
        let label = format!("Template: {name}");
        view! { <button on:click=move |_| editor.load(text.clone(), None)>{label}</button> }
    };
    view! {
        <section class="panel">
            <h2>"Manifests"</h2>
            <div class="templates">
                {templates().into_iter().map(|(name, text)| template(name, text)).collect_view()}
            </div>
            {move || editor.hint.get().map(|h| view! { <p class="hint" data-testid="editor-hint">{h}</p> })}
            <div
                class="editor"
                class:dragging=move || dragging.get()
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <pre class="highlight mono" aria-hidden="true" node_ref=overlay>{highlighted}</pre>
                <label for="manifest" class="visually-hidden">"YAML manifests"</label>
                <textarea
                    id="manifest"
                    class="mono"
                    spellcheck="false"
                    wrap="off"
                    placeholder="Paste or type YAML documents separated by ---, or drop files here"
                    prop:value=move || yaml.get()
                    on:input=move |ev| { yaml.set(event_target_value(&ev)); outcome.set(None); }
                    on:scroll=on_scroll
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        // Ctrl+Enter applies, as in most editors; Tab stays a way out of the box.
                        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                            ev.prevent_default();
                            runner.run(api::apply(yaml.get_untracked()));
                        }
                    }
                ></textarea>
            </div>
            <div class="editor-actions">
                <button class="primary" on:click=apply disabled=move || busy.get() || yaml.with(|y| y.trim().is_empty())>
                    {move || if busy.get() { "Working…" } else { "Apply" }}
                </button>
                <button on:click=dry_run disabled=move || busy.get() || yaml.with(|y| y.trim().is_empty()) title="kubectl diff: what applying would change, with the server's defaults and checks; nothing is stored">
                    "Dry run"
                </button>
                <button on:click=delete disabled=move || busy.get() || yaml.with(|y| y.trim().is_empty()) title="kubectl delete -f: delete every object the manifests name">
                    "Delete"
                </button>
                <label class="upload">
                    "Upload files…"
                    <input
                        id="manifest-files"
                        type="file"
                        multiple
                        accept=".yaml,.yml,.json,application/yaml,application/json"
                        on:change=on_pick
                    />
                </label>
            </div>
            <Results outcome=outcome />
        </section>
    }
}

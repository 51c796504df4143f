//! A terminal: a shell in any pod over the exec websocket, with Kubernetes' channel protocol
//! (`v5.channel.k8s.io`: a leading byte names the stream, 0 stdin, 1 stdout, 2 stderr, 3 the
//! final status). The shell reads line by line; the line being typed, its editing and the
//! history (arrow keys) live here, as a shell's readline would.

use super::pickers::PodPicker;
use crate::state::use_cluster;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;

/// One piece of the session's output.
#[derive(Clone, Debug, PartialEq)]
enum Chunk {
    Out(String),
    Err(String),
    /// What was typed, after the prompt.
    Typed(String),
    Note(String),
}

/// An open session.
struct Session {
    socket: SendWrapper<web_sys::WebSocket>,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.socket.close();
    }
}

fn exec_url(namespace: &str, pod: &str) -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") { "wss" } else { "ws" };
    format!(
        "{scheme}://{}/api/v1/namespaces/{namespace}/pods/{pod}/exec?command=sh&stdin=true&stdout=true&stderr=true",
        location.host().unwrap_or_default()
    )
}

/// What a frame from the exec websocket adds to the output, if anything.
fn chunk_of(frame: &[u8]) -> Option<Chunk> {
    let (&channel, body) = frame.split_first()?;
    let text = String::from_utf8_lossy(body).into_owned();
    match channel {
        STDOUT if !text.is_empty() => Some(Chunk::Out(text)),
        STDERR if !text.is_empty() => Some(Chunk::Err(text)),
        STATUS => {
            let status: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            Some(Chunk::Note(match status["status"].as_str() {
                Some("Success") => "the shell exited".to_string(),
                _ => format!("the shell ended: {}", status["message"].as_str().unwrap_or("unknown error")),
            }))
        }
        _ => None,
    }
}

/// The pods to choose from; one asked for by the URL is offered even before the picker
/// gathers the rest.
#[component]
fn PodOptions(pod: RwSignal<String>, picker: PodPicker) -> impl IntoView {
    let cluster = use_cluster();
    let pods = move || picker.pods(cluster);
    view! {
        {move || {
            let asked = pod.get();
            let listed = pods().iter().any(|(ns, name)| format!("{ns}/{name}") == asked);
            (!asked.is_empty() && !listed).then(|| view! { <option value=asked.clone() selected=true>{asked.clone()}</option> })
        }}
        <For each=pods key=|p| p.clone() let((ns, name))>
            <option value=format!("{ns}/{name}") selected=move || pod.get() == format!("{ns}/{name}")>{super::qualified(&ns, &name)}</option>
        </For>
    }
}

/// A terminal's session and what it shows: the output so far, the line being typed, the
/// history of lines sent (and which is recalled), the websocket.
#[derive(Clone, Copy)]
struct Shell {
    output: RwSignal<Vec<Chunk>>,
    line: RwSignal<String>,
    history: StoredValue<Vec<String>>,
    recalled: StoredValue<Option<usize>>,
    session: StoredValue<Option<Session>>,
    connected: RwSignal<bool>,
}

impl Shell {
    fn new() -> Self {
        Shell {
            output: RwSignal::new(Vec::new()),
            line: RwSignal::new(String::new()),
            history: StoredValue::new(Vec::new()),
            recalled: StoredValue::new(None),
            session: StoredValue::new(None),
            connected: RwSignal::new(false),
        }
    }

    fn note(self, text: String) {
        self.output.update(|o| o.push(Chunk::Note(text)));
    }

    /// Opens a shell in `pod` (`namespace/name`), closing the one open.
    fn connect(self, pod: &str) {
        let Some((namespace, name)) = pod.split_once('/') else { return };
        self.session.set_value(None);
        let protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
        let socket = match crate::auth::websocket(&exec_url(namespace, name), &protocols) {
            Ok(s) => s,
            Err(e) => return self.note(format!("could not open the exec websocket: {e:?}")),
        };
        socket.set_binary_type(web_sys::BinaryType::Arraybuffer);
        self.output.set(vec![Chunk::Note(format!("kubectl exec -it {name} -n {namespace} -- sh"))]);
        let Shell { output, connected, .. } = self;
        let on_open = Closure::<dyn FnMut()>::new(move || connected.set(true));
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(chunk) = chunk_of(&js_sys::Uint8Array::new(&event.data()).to_vec()) {
                output.update(|o| o.push(chunk));
            }
        });
        let on_close = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |event: web_sys::CloseEvent| {
            if connected.get_untracked() || event.code() != 1000 {
                let why = if event.reason().is_empty() { String::new() } else { format!(": {}", event.reason()) };
                self.note(format!("disconnected{why}"));
            }
            connected.set(false);
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_open.forget();
        on_message.forget();
        on_close.forget();
        self.session.set_value(Some(Session { socket: SendWrapper::new(socket) }));
    }

    /// Bytes to the shell's standard input.
    fn send(self, bytes: &[u8]) {
        self.session.with_value(|s| {
            if let Some(s) = s {
                let _ = s.socket.send_with_u8_array(&[&[STDIN], bytes].concat());
            }
        });
    }

    /// Ctrl-C: the running command is interrupted (a loop's output stops), what was typed is dropped.
    fn interrupt(self) {
        self.send(&[0x03]);
        self.line.set(String::new());
    }

    /// Sends the line typed, shows it, and keeps it in the history.
    fn send_line(self) {
        let text = self.line.get_untracked();
        self.send(format!("{text}\n").as_bytes());
        self.output.update(|o| o.push(Chunk::Typed(text.clone())));
        if !text.trim().is_empty() {
            self.history.update_value(|h| {
                if h.last() != Some(&text) {
                    h.push(text);
                }
            });
        }
        self.recalled.set_value(None);
        self.line.set(String::new());
    }

    /// ↑ or ↓: the line before or after the one recalled, as readline steps through its history.
    fn recall(self, up: bool) {
        let len = self.history.with_value(Vec::len);
        let next = match (self.recalled.get_value(), up) {
            (None, true) if len > 0 => Some(len - 1),
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < len => Some(i + 1),
            _ => None,
        };
        self.recalled.set_value(next);
        self.line.set(next.and_then(|i| self.history.with_value(|h| h.get(i).cloned())).unwrap_or_default());
    }
}

#[component]
pub fn TerminalPanel() -> impl IntoView {
    // `/terminal?pod=<namespace>/<name>` (a pod page's "Open a shell") picks the pod.
    let asked = leptos_router::hooks::use_query_map().with_untracked(|q| q.get("pod")).unwrap_or_default();
    let pod = RwSignal::new(asked);
    let shell = Shell::new();
    let Shell { output, line, connected, .. } = shell;
    let log = NodeRef::<leptos::html::Pre>::new();
    let picker = PodPicker::new();
    // Keep the newest output in view.
    Effect::new(move |_| {
        output.track();
        if let Some(pre) = log.get() {
            pre.set_scroll_top(pre.scroll_height());
        }
    });
    let connect = move || shell.connect(&pod.get_untracked());
    let interrupt = move || shell.interrupt();
    let on_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "c" | "C" if ev.ctrl_key() => {
            ev.prevent_default();
            shell.interrupt();
        }
        "Enter" => {
            ev.prevent_default();
            shell.send_line();
        }
        key @ ("ArrowUp" | "ArrowDown") => {
            ev.prevent_default();
            shell.recall(key == "ArrowUp");
        }
        _ => {}
    };
    view! {
        <section class="panel" aria-labelledby="terminal-title">
            <h2 id="terminal-title">"Terminal"</h2>
            <form class="terminal-form" on:submit=move |ev| { ev.prevent_default(); connect(); }>
                <label for="terminal-pod" class="visually-hidden">"Pod"</label>
                <select
                    id="terminal-pod"
                    on:focus=move |_| picker.use_it()
                    on:pointerdown=move |_| picker.use_it()
                    on:change=move |ev| pod.set(event_target_value(&ev))
                >
                    <option value="">"choose a pod"</option>
                    <PodOptions pod=pod picker=picker />
                </select>
                <button type="submit" disabled=move || pod.with(String::is_empty)>
                    {move || if connected.get() { "Reconnect" } else { "Open shell" }}
                </button>
            </form>
            <pre class="terminal mono" role="log" aria-label="Terminal output" aria-live="polite" node_ref=log>
                {move || output.get().into_iter().map(|chunk| match chunk {
                    Chunk::Out(t) => view! { <span>{t}</span> }.into_any(),
                    Chunk::Err(t) => view! { <span class="stderr">{t}</span> }.into_any(),
                    Chunk::Typed(t) => view! { <span class="typed">{format!("$ {t}\n")}</span> }.into_any(),
                    Chunk::Note(t) => view! { <span class="note">{format!("# {t}\n")}</span> }.into_any(),
                }).collect_view()}
            </pre>
            <div class="terminal-input">
                <span class="prompt mono" aria-hidden="true">"$"</span>
                <label for="terminal-line" class="visually-hidden">"Command"</label>
                <input
                    id="terminal-line"
                    class="mono"
                    autocomplete="off"
                    spellcheck="false"
                    placeholder=move || if connected.get() { "a command; ↑ ↓ for history, Ctrl-C to interrupt" } else { "open a shell first" }
                    disabled=move || !connected.get()
                    prop:value=move || line.get()
                    on:input=move |ev| line.set(event_target_value(&ev))
                    on:keydown=on_key
                />
                <button type="button" aria-label="Interrupt (Ctrl-C)" disabled=move || !connected.get() on:click=move |_| interrupt()>"^C"</button>
            </div>
        </section>
    }
}

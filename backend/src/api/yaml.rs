//! YAML from users, the one place the API reads it: nesting depth, node count and alias
//! expansion are capped so that a document's cost grows with its length and a hostile one is
//! refused at once, and every error names the line and column it was found at. Request bodies
//! are decoded on the blocking pool ([`off_runtime`]), a few at a time, never on the runtime's
//! workers, so that reads stay fast whatever writes are sent.

use crate::error::ApiError;
use crate::store::durable;
use serde_json::Value;
use serde_saphyr::Options;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use svclab_shared::{Kind, Object};

/// The deepest nesting of mappings and sequences a document may have. Kubernetes objects nest
/// about 15 deep; every level costs stack, and 64 keeps a debug build's 2 MiB threads safe.
pub const MAX_DEPTH: usize = 64;
/// The most nodes one request's YAML may hold: a 3 MiB body of small scalars stays under it.
pub const MAX_NODES: usize = 500_000;
/// The most events aliases may replay in one request, about 5 ms of work: a YAML bomb stops
/// here. Manifests that share a label map or a container spec through anchors replay hundreds.
pub const MAX_REPLAYED: usize = 5_000;

/// A YAML error and where it is, 1-based, in the text that was read.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub message: String,
    pub location: Option<(usize, usize)>,
}

impl YamlError {
    fn new(text: &str, error: &serde_saphyr::Error, path: Option<String>) -> YamlError {
        let location = error.location().map(|l| (l.line() as usize, l.column() as usize)).filter(|l| l.0 > 0);
        let mut message = error.without_snippet().to_string();
        // The location is kept apart, so that a document can place it in its whole input.
        if let Some((line, column)) = location {
            for suffix in [format!(" at line {line}, column {column}"), format!("line {line} column {column}: ")] {
                message = message.replace(&suffix, "");
            }
        }
        let mut message = message.strip_prefix("error: ").unwrap_or(&message).trim().to_string();
        // "invalid i32": say what was found there.
        if let (Some(expected), Some(found)) =
            (message.strip_prefix("invalid "), location.and_then(|l| scalar_at(text, l)))
            && !expected.contains(' ')
        {
            message = format!("invalid value {found:?}, expected {expected}");
        }
        let message = match path.filter(|p| !p.is_empty() && p != ".") {
            Some(path) => format!("{path}: {message}"),
            None => message,
        };
        YamlError { message, location }
    }

    /// The error in a document that starts at line `first_line` of its input.
    pub fn shifted(mut self, first_line: usize) -> YamlError {
        self.location = self.location.map(|(line, column)| (line + first_line - 1, column));
        self
    }
}

/// The plain scalar that starts at a 1-based line and column, as written.
fn scalar_at(text: &str, (line, column): (usize, usize)) -> Option<String> {
    let rest = text.lines().nth(line - 1)?.get(column - 1..)?;
    let end = rest.find([',', ']', '}', '#']).unwrap_or(rest.len());
    let found = rest[..end].trim().trim_matches(['"', '\'']);
    (!found.is_empty() && found.len() <= 64).then(|| found.to_string())
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(f, "{} at line {line}, column {column}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn options() -> Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH, max_nodes: MAX_NODES },
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: MAX_REPLAYED },
        with_snippet: false,
    }
}

/// One YAML document as a JSON value (an empty document is `null`).
pub fn value(text: &str) -> Result<Value, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| YamlError::new(text, &e, None))
}

/// One YAML document as an object of `kind`; a field of the wrong type is named by its path
/// (`spec.ports[0].port: …`) as well as its place.
pub fn object(kind: Kind, text: &str) -> Result<Object, YamlError> {
    let mut track = serde_path_to_error::Track::new();
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |d| {
        Object::deserialize_as(kind, serde_path_to_error::Deserializer::new(d, &mut track))
    })
    .map_err(|e| YamlError::new(text, &e, Some(track.path().to_string())))
}

/// The decoders: a few threads (half the cores) that decode request bodies and make the writes
/// they ask for, at a lower CPU priority than the runtime's workers, so that when costly input
/// keeps them busy the kernel still runs reads first. Their stacks are large, so nesting up to
/// the limits is safe in any build. They live as long as the process, like tokio's blocking pool.
struct Decoders {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

static DECODERS: LazyLock<Decoders> = LazyLock::new(|| {
    let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let queue = Arc::new(Mutex::new(queue));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).div_ceil(2);
    for i in 0..threads {
        let queue = queue.clone();
        let spawned =
            std::thread::Builder::new().name(format!("svclab-decode-{i}")).stack_size(16 << 20).spawn(move || {
                // Niceness 19: the kernel runs a runtime worker first whenever both want a core (per thread on Linux).
                // SAFETY: setpriority only reads its arguments; `0` names the calling thread.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
                loop {
                    let job = queue.lock().map_err(|_| ()).and_then(|q| q.recv().map_err(|_| ()));
                    match job {
                        Ok(job) => job(),
                        Err(()) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("could not start a decoder thread: {e}");
        }
    }
    Decoders { jobs }
});

/// Runs `work` (decoding a body of `len` bytes and the write it asks for) where it can't hold up
/// the runtime: on the decoders, in turn; inline when there is no body to decode. Either way the
/// writes' commits are awaited here, on the runtime, not by the thread that made them; `Err`
/// when they could not be committed (nothing is answered as done that is not on disk).
pub async fn off_runtime<T: Send + 'static>(
    len: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (value, deferred) = if len == 0 {
        durable::deferring(work)
    } else {
        let (done, result) = tokio::sync::oneshot::channel();
        // The write may start tasks and timers (a graceful deletion): it runs in this runtime's context.
        let runtime = tokio::runtime::Handle::current();
        let job = Box::new(move || {
            let _entered = runtime.enter();
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| durable::deferring(work)));
            let _ = done.send(ran);
        });
        if DECODERS.jobs.send(job).is_err() {
            unreachable!("the decoders' queue is never closed");
        }
        match result.await {
            Ok(Ok(ran)) => ran,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("a decoder thread stopped"),
        }
    };
    deferred.committed().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_at_the_limit_with_its_place() {
        let depth = 100_000;
        let bomb = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let e = value(&bomb).unwrap_err();
        assert!(e.message.contains("recursion limit") || e.message.contains("depth"), "{e}");
        let (line, column) = e.location.expect("located");
        assert_eq!(line, 1);
        assert!(column < 300, "refused near the limit, not at the end: {e}");
        // Just under the limit is fine.
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(value(&deep).is_ok());
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..10u8 {
            let (this, prev) = ((b'a' + i) as char, (b'a' + i - 1) as char);
            let items = vec![format!("*{prev}"); 10].join(",");
            bomb.push_str(&format!("{this}: &{this} [{items}]\n"));
        }
        let e = value(&bomb).unwrap_err();
        assert!(e.location.is_some(), "{e}");
        // A few aliases, as real manifests use them, are fine.
        let v = value("base: &b {app: kubia}\nlabels: *b\n").unwrap();
        assert_eq!(v["labels"]["app"], "kubia");
    }

    #[test]
    fn typed_errors_name_the_field_and_its_place() {
        let doc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n  - port: eighty\n";
        let e = object(Kind::Service, doc).unwrap_err();
        assert_eq!(e.message, "spec.ports[0].port: invalid value \"eighty\", expected i32");
        assert_eq!(e.location, Some((7, 11)));
        assert_eq!(e.clone().shifted(10).location, Some((16, 11)));
        assert!(e.to_string().ends_with(" at line 7, column 11"), "{e}");
        let ok = object(Kind::Service, "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n").unwrap();
        assert_eq!(ok.name(), "x");
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_are_located() {
        let e = value("metadata:\n  name: [x\n").unwrap_err();
        assert_eq!(e.location.map(|l| l.0), Some(2), "{e}");
        let e = value("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        assert_eq!(e.location, Some((2, 1)));
        assert_eq!(value("").unwrap(), Value::Null);
    }

    #[test]
    fn json_is_yaml() {
        let v = value(r#"{"kind": "Service", "spec": {"ports": [{"port": 80}]}, "n": 12345678901234}"#).unwrap();
        assert_eq!(v["spec"]["ports"][0]["port"], 80);
        assert_eq!(v["n"], 12345678901234u64);
    }
}

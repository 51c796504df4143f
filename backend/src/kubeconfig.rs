//! Connecting kubectl as kind does: svclab merges a context named after the cluster (cluster,
//! user and namespace `default`) into the user's kubeconfig and makes it current, and on a clean
//! exit puts back the context that was current before. Or it writes a standalone file
//! (`--kubeconfig PATH`). Everything else in the file is kept as it was; the file is replaced
//! whole (written beside it, then renamed), readable by its owner only.

use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// Why the kubeconfig could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a kubeconfig svclab can read: {why}")]
    Parse { path: PathBuf, why: String },
}

/// The kubeconfig kubectl reads by default: the first file of `$KUBECONFIG`, else
/// `~/.kube/config`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list).next();
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}

/// What svclab adds: a cluster at `server`, its user, and a context joining them.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub server: String,
    /// The bearer token, when the API asks for one.
    pub token: Option<String>,
}

fn named(name: &str, key: &str, body: Value) -> Value {
    let mut item = Mapping::new();
    item.insert(key.into(), body);
    item.insert("name".into(), name.into());
    Value::Mapping(item)
}

/// Puts `item` in the list `list` of the document, replacing the one with the same name.
fn upsert(doc: &mut Mapping, list: &str, name: &str, item: Value) {
    let entry = doc.entry(list.into()).or_insert_with(|| Value::Sequence(vec![]));
    if !entry.is_sequence() {
        *entry = Value::Sequence(vec![]);
    }
    let Value::Sequence(items) = entry else { return };
    match items.iter_mut().find(|i| i.get("name").and_then(Value::as_str) == Some(name)) {
        Some(existing) => *existing = item,
        None => items.push(item),
    }
}

/// The document with svclab's entries merged in and made current; and the context that was
/// current before.
pub fn merge(doc: Value, entry: &Entry) -> (Value, Option<String>) {
    let mut doc = match doc {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    };
    doc.entry("apiVersion".into()).or_insert_with(|| "v1".into());
    doc.entry("kind".into()).or_insert_with(|| "Config".into());
    let mut cluster = Mapping::new();
    cluster.insert("server".into(), entry.server.clone().into());
    upsert(&mut doc, "clusters", &entry.name, named(&entry.name, "cluster", Value::Mapping(cluster)));
    let mut user = Mapping::new();
    if let Some(token) = &entry.token {
        user.insert("token".into(), token.clone().into());
    }
    upsert(&mut doc, "users", &entry.name, named(&entry.name, "user", Value::Mapping(user)));
    let mut context = Mapping::new();
    context.insert("cluster".into(), entry.name.clone().into());
    context.insert("user".into(), entry.name.clone().into());
    context.insert("namespace".into(), "default".into());
    upsert(&mut doc, "contexts", &entry.name, named(&entry.name, "context", Value::Mapping(context)));
    let previous = doc.get("current-context").and_then(Value::as_str).filter(|c| !c.is_empty()).map(String::from);
    doc.insert("current-context".into(), entry.name.clone().into());
    (Value::Mapping(doc), previous.filter(|p| *p != entry.name))
}

/// The document with `previous` current again, if svclab's context still is.
pub fn restore(doc: Value, name: &str, previous: Option<&str>) -> Value {
    let Value::Mapping(mut doc) = doc else { return doc };
    if doc.get("current-context").and_then(Value::as_str) == Some(name) {
        match previous {
            Some(p) => doc.insert("current-context".into(), p.into()),
            None => doc.insert("current-context".into(), "".into()),
        };
    }
    Value::Mapping(doc)
}

fn read(path: &Path) -> Result<Value, KubeconfigError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
        Ok(bytes) => serde_yaml::from_slice(&bytes)
            .map_err(|e| KubeconfigError::Parse { path: path.to_path_buf(), why: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Null),
        Err(source) => Err(KubeconfigError::Io { path: path.to_path_buf(), source }),
    }
}

fn write(path: &Path, doc: &Value) -> Result<(), KubeconfigError> {
    let io = |source| KubeconfigError::Io { path: path.to_path_buf(), source };
    let text = serde_yaml::to_string(doc).map_err(|e| io(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".svclab-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
    }
    std::fs::rename(&temporary, path).map_err(io)
}

/// Merges svclab's context into the kubeconfig at `path` and makes it current; returns the
/// context that was current before.
pub fn install(path: &Path, entry: &Entry) -> Result<Option<String>, KubeconfigError> {
    let (doc, previous) = merge(read(path)?, entry);
    write(path, &doc)?;
    Ok(previous)
}

/// Writes a kubeconfig holding only svclab's context (`--kubeconfig PATH`).
pub fn write_standalone(path: &Path, entry: &Entry) -> Result<(), KubeconfigError> {
    write(path, &merge(Value::Null, entry).0)
}

/// Makes `previous` current again in the kubeconfig at `path`.
pub fn uninstall(path: &Path, name: &str, previous: Option<&str>) -> Result<(), KubeconfigError> {
    write(path, &restore(read(path)?, name, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry { name: "svclab".into(), server: "http://127.0.0.1:7070".into(), token: None }
    }

    #[test]
    fn merging_keeps_what_was_there_and_makes_svclab_current() {
        let existing: Value = serde_yaml::from_str(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {server: https://10.0.0.1:6443}\n  name: kind-kind\n\
             contexts:\n- context: {cluster: kind-kind, user: kind-kind}\n  name: kind-kind\ncurrent-context: kind-kind\n\
             users:\n- name: kind-kind\n  user: {token: abc}\npreferences: {colors: true}\n",
        )
        .unwrap();
        let (merged, previous) = merge(existing, &entry());
        assert_eq!(previous.as_deref(), Some("kind-kind"));
        assert_eq!(merged["current-context"], "svclab");
        assert_eq!(merged["clusters"].as_sequence().unwrap().len(), 2);
        assert_eq!(merged["clusters"][1]["cluster"]["server"], "http://127.0.0.1:7070");
        assert_eq!(merged["contexts"][1]["context"]["namespace"], "default");
        assert_eq!(merged["users"][0]["user"]["token"], "abc");
        assert_eq!(merged["preferences"]["colors"], true);
        // Merging again replaces svclab's entries instead of adding more, and the previous
        // context is not svclab's own.
        let moved = Entry { server: "http://127.0.0.1:7171".into(), ..entry() };
        let (again, previous) = merge(merged, &moved);
        assert_eq!(previous, None);
        assert_eq!(again["clusters"].as_sequence().unwrap().len(), 2);
        assert_eq!(again["clusters"][1]["cluster"]["server"], "http://127.0.0.1:7171");
        let restored = restore(again, "svclab", Some("kind-kind"));
        assert_eq!(restored["current-context"], "kind-kind");
    }

    #[test]
    fn a_missing_file_is_created_and_restored_to_no_context() {
        let dir = std::env::temp_dir().join(format!("svclab-kubeconfig-{}", std::process::id()));
        let path = dir.join("nested").join("config");
        let previous = install(&path, &Entry { token: Some("t0k".into()), ..entry() }).unwrap();
        assert_eq!(previous, None);
        let written = read(&path).unwrap();
        assert_eq!(written["current-context"], "svclab");
        assert_eq!(written["users"][0]["user"]["token"], "t0k");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        uninstall(&path, "svclab", None).unwrap();
        assert_eq!(read(&path).unwrap()["current-context"], "");
        let broken = dir.join("broken");
        std::fs::write(&broken, "clusters: [").unwrap();
        assert!(matches!(install(&broken, &entry()), Err(KubeconfigError::Parse { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! `cargo xtask gen-protobuf`: writes `backend/src/api/protobuf/messages.rs`, the field table of
//! the Kubernetes protobuf messages svclab decodes, from the types the k8s-pb crate generates
//! from Kubernetes' `.proto` files (each field's tag, name and type, read from its `#[prost]`
//! attribute). Messages are those of the API packages svclab serves and everything they refer to.

use crate::setup::root;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whole packages to include (a module path under k8s-pb's `src`).
const PACKAGES: &[&str] = &[
    "api/core/v1",
    "api/apps/v1",
    "api/autoscaling/v1",
    "api/autoscaling/v2",
    "api/batch/v1",
    "api/certificates/v1",
    "api/coordination/v1",
    "api/discovery/v1",
    "api/networking/v1",
    "api/policy/v1",
    "api/rbac/v1",
    "api/scheduling/v1",
    "api/storage/v1",
    "apimachinery/pkg/apis/meta/v1",
];

/// Single messages: of older packages svclab converts, and reviews svclab answers.
const MESSAGES: &[&str] = &[
    "api.extensions.v1beta1.Ingress",
    "api.networking.v1beta1.Ingress",
    "api.authorization.v1.SelfSubjectAccessReview",
    "api.authorization.v1.SelfSubjectRulesReview",
    "api.authentication.v1.TokenRequest",
    "api.authentication.v1.SelfSubjectReview",
];

const OUTPUT: &str = "backend/src/api/protobuf/messages.rs";

/// One field as the table writes it.
#[derive(Debug, Clone)]
struct Field {
    tag: u32,
    name: String,
    repeated: bool,
    /// `String`, `Int32`, … or `Message("a.b.C")`, `Map(V)`.
    kind: String,
    /// The message a field refers to, for the closure.
    refers: Option<String>,
}

fn k8s_pb_source() -> Result<PathBuf> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .current_dir(root())
        .output()
        .context("running cargo metadata")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The manifest of the k8s-pb package: `"manifest_path":"…/k8s-pb-X.Y.Z/Cargo.toml"`.
    let at = text.find("/k8s-pb-").context("k8s-pb is not a dependency")?;
    let start = text[..at].rfind('"').context("a manifest path")? + 1;
    let end = at + text[at..].find('"').context("a manifest path")?;
    // Any path into the package: up to its directory, `k8s-pb-X.Y.Z`.
    let path = PathBuf::from(&text[start..end]);
    let dir = path.ancestors().find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("k8s-pb-")));
    Ok(dir.context("the k8s-pb package's directory")?.join("src"))
}

/// The module path of a `mod.rs` under `src`, dotted: `api.core.v1`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.parent().unwrap_or(file).strip_prefix(src).unwrap_or(file);
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join(".")
}

/// The message a Rust type names, relative to `module`.
fn resolve(module: &str, rust_type: &str) -> String {
    let mut parts: Vec<&str> = module.split('.').collect();
    let mut path = rust_type.trim();
    while let Some(rest) = path.strip_prefix("super::") {
        parts.pop();
        path = rest;
    }
    let segments: Vec<&str> = path.split("::").collect();
    parts.extend(segments);
    parts.join(".")
}

/// The innermost type of `Option<…>`, `Vec<…>`, `Box<…>`, or a map's value type.
fn inner_type(ty: &str) -> String {
    let mut ty = ty.replace(' ', "");
    loop {
        let stripped = ["::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"]
            .iter()
            .find_map(|w| ty.strip_prefix(w).and_then(|r| r.strip_suffix('>')).map(String::from));
        match stripped {
            // rustfmt leaves a trailing comma after a broken-up type argument.
            Some(s) => ty = s.trim_end_matches(',').to_string(),
            None => break,
        }
    }
    if let Some(args) = ty.strip_prefix("::prost::alloc::collections::BTreeMap<").and_then(|r| r.strip_suffix('>')) {
        let value = args.split_once(',').map(|(_, v)| v).unwrap_or(args);
        // rustfmt leaves a trailing comma after the last argument of a broken-up type.
        return value.trim_end_matches(',').to_string();
    }
    ty
}

fn scalar(name: &str) -> Option<&'static str> {
    Some(match name {
        "string" => "String",
        "int32" => "Int32",
        "int64" => "Int64",
        "bool" => "Bool",
        "bytes" => "Bytes",
        // Only apiextensions has doubles; none is in the table (its decoder has no `Double`).
        "double" => "Double",
        _ => return None,
    })
}

/// Parses one `#[prost(...)]` attribute and the field it sits on.
fn field(module: &str, attr: &str, decl: &str) -> Result<Field> {
    let tag = attr.split("tag = \"").nth(1).and_then(|t| t.split('"').next()).context("a tag")?.parse()?;
    let (name, ty) = decl.trim().trim_start_matches("pub ").split_once(':').context("a field declaration")?;
    let name = name.trim().trim_start_matches("r#").to_string();
    let ty = ty.trim().trim_end_matches(',');
    let first = attr.split(',').next().unwrap_or_default().trim();
    let repeated = attr.contains("repeated");
    if let Some(map) = attr.split("btree_map = \"").nth(1).and_then(|m| m.split('"').next()) {
        let value = map.split(',').nth(1).unwrap_or_default().trim();
        let (kind, refers) = match scalar(if value == "bytes" { "bytes" } else { value }) {
            Some(s) => (format!("Map(&{s})"), None),
            None => {
                let message = resolve(module, &inner_type(ty));
                (format!("Map(&Message(\"{message}\"))"), Some(message))
            }
        };
        return Ok(Field { tag, name, repeated: false, kind, refers });
    }
    let first = first.split('=').next().unwrap_or_default().trim();
    match scalar(first) {
        Some(s) => Ok(Field { tag, name, repeated, kind: s.to_string(), refers: None }),
        None if first == "message" => {
            let message = resolve(module, &inner_type(ty));
            Ok(Field { tag, name, repeated, kind: format!("Message(\"{message}\")"), refers: Some(message) })
        }
        None => bail!("unknown field type in #[prost({attr})]"),
    }
}

/// Every message in a `mod.rs`, with its fields.
fn messages_in(src: &Path, file: &Path, out: &mut BTreeMap<String, Vec<Field>>) -> Result<()> {
    let module = module_of(src, file);
    let text = std::fs::read_to_string(file)?;
    let mut lines = text.lines().peekable();
    let mut current: Option<(String, Vec<Field>)> = None;
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("pub struct ").and_then(|r| r.strip_suffix(" {")) {
            current = Some((format!("{module}.{name}"), Vec::new()));
            continue;
        }
        if line == "}" {
            if let Some((name, fields)) = current.take() {
                out.insert(name, fields);
            }
            continue;
        }
        let Some(attr) = trimmed.strip_prefix("#[prost(").and_then(|r| r.strip_suffix(")]")) else { continue };
        let Some((_, fields)) = current.as_mut() else { continue };
        // The declaration may span lines: up to the comma that closes it.
        let mut decl = String::new();
        for next in lines.by_ref() {
            decl.push_str(next.trim());
            let depth = decl.matches('<').count() as i64 - decl.matches('>').count() as i64;
            if depth == 0 && decl.ends_with(',') {
                break;
            }
        }
        fields.push(field(&module, attr, &decl).with_context(|| format!("{module}: {decl}"))?);
    }
    Ok(())
}

fn all_messages(src: &Path) -> Result<BTreeMap<String, Vec<Field>>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "mod.rs") {
                messages_in(src, &path, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The messages to write: the packages', the single ones', and everything they refer to.
fn closure(all: &BTreeMap<String, Vec<Field>>) -> BTreeSet<String> {
    let mut pending: Vec<String> = all
        .keys()
        .filter(|name| {
            let package = name.rsplit_once('.').map_or("", |(p, _)| p);
            PACKAGES.iter().any(|p| p.replace('/', ".") == package)
        })
        .cloned()
        .chain(MESSAGES.iter().map(|m| m.to_string()))
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for f in all.get(&name).into_iter().flatten() {
            pending.extend(f.refers.clone());
        }
    }
    seen
}

pub fn generate() -> Result<()> {
    let src = k8s_pb_source()?;
    let all = all_messages(&src)?;
    let wanted = closure(&all);
    let mut text = String::from(
        "//! The field table of the Kubernetes protobuf messages svclab decodes: generated by `cargo xtask\n\
         //! gen-protobuf` from the k8s-pb crate's types (its `#[prost]` attributes); do not edit.\n\n\
         use super::{Field, FieldType::*, Message};\n\n\
         const fn f(tag: u32, name: &'static str, kind: super::FieldType, repeated: bool) -> Field {\n    \
         Field { tag, name, kind, repeated }\n}\n\n\
         #[rustfmt::skip]\n\
         pub static MESSAGES: &[Message] = &[\n",
    );
    for name in &wanted {
        let Some(fields) = all.get(name) else { bail!("{name} is referred to but not defined in k8s-pb") };
        let list: Vec<String> =
            fields.iter().map(|f| format!("f({}, \"{}\", {}, {})", f.tag, f.name, f.kind, f.repeated)).collect();
        text.push_str(&format!("    Message {{ name: \"{name}\", fields: &[{}] }},\n", list.join(", ")));
    }
    text.push_str("];\n");
    let path = root().join(OUTPUT);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {} messages to {OUTPUT}", wanted.len());
    Ok(())
}

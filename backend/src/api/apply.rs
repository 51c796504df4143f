//! `POST /lab/v1/apply`: one or many YAML (or JSON) documents, as a body or as uploaded files,
//! each created or updated (`kubectl apply`'s three-way strategic merge against the last applied
//! configuration), or with `?dryRun=All` tried and diffed against what is live. A document that
//! fails stores nothing and its error is located by line and column in the input; the others
//! still apply. `POST /lab/v1/delete` takes the same input and
//! deletes each object it names (`kubectl delete -f`).

use super::ApiState;
use super::media::content_type;
use super::yaml::{self, YamlError};
use crate::error::ApiError;
use crate::store::ObjectKey;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::collections::HashMap;
use svclab_shared::lab::{ApplyError, ApplyOutcome, ApplyResponse, ApplyResult};
use svclab_shared::{Kind, Object, legacy};

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One document of a multi-document stream.
#[derive(Debug, PartialEq)]
pub struct Document<'a> {
    /// 1-based line of the document's first line.
    pub line: usize,
    pub text: &'a str,
}

/// Splits a stream on `---` separator lines, as kubectl's YAML reader does.
pub fn split_documents(input: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let (mut start_byte, mut start_line) = (0, 1);
    let mut offset = 0;
    for (i, line) in input.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare.starts_with("---#") {
            docs.push(Document { line: start_line, text: &input[start_byte..offset] });
            start_byte = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push(Document { line: start_line, text: &input[start_byte..] });
    docs.retain(|d| d.text.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

/// Finds the line and column of a field path (`spec.ports[0].port`) in a YAML document by
/// following its block structure: keys at one block's indentation, list items within a key's
/// block. Best effort for block-style YAML: `None` when the path cannot be followed.
pub fn locate_field(text: &str, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let blank = |i: usize| {
        let t = lines[i].trim();
        t.is_empty() || t.starts_with('#')
    };
    let indent = |i: usize| lines[i].len() - lines[i].trim_start().len();
    // Where the key on line i starts: after any "- " list markers.
    let key_col = |i: usize| {
        let mut col = indent(i);
        while lines[i][col..].starts_with("- ") {
            col += 2 + lines[i][col + 2..].len() - lines[i][col + 2..].trim_start().len();
        }
        col
    };
    // The lines below a key (or item) on line `at`, up to the next line at its level or above.
    let block_end = |at: usize, col: usize, end: usize| {
        (at + 1..end)
            .find(|&i| !blank(i) && (indent(i) < col || (indent(i) == col && !lines[i][col..].starts_with("- "))))
            .unwrap_or(end)
    };
    let (mut start, mut end, mut found) = (0, lines.len(), None);
    for segment in path.split('.') {
        let (key, indices) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        let level = (start..end).find(|&i| !blank(i)).map(key_col)?;
        let line = (start..end)
            .find(|&i| !blank(i) && key_col(i) == level && lines[i][level..].starts_with(&format!("{key}:")))?;
        found = Some((line + 1, level + 1));
        // A nested block follows a bare `key:`; a list under it may sit at the key's own indentation.
        let nested = lines[line][level + key.len() + 1..].trim().is_empty();
        (start, end) = if nested { (line + 1, block_end(line, level, end)) } else { (line, line + 1) };
        for index in indices.split(']').filter_map(|s| s.strip_prefix('[')).filter_map(|s| s.parse::<usize>().ok()) {
            let dash = (start..end).find(|&i| !blank(i) && lines[i].trim_start().starts_with("- ")).map(indent)?;
            let items: Vec<usize> = (start..end)
                .filter(|&i| !blank(i) && indent(i) == dash && lines[i][dash..].starts_with("- "))
                .collect();
            let item = *items.get(index)?;
            let item_end = items.iter().find(|&&i| i > item).copied().unwrap_or(end);
            found = Some((item + 1, dash + 1));
            // The item's first key shares its line with the dash.
            (start, end) = (item, item_end);
        }
    }
    found
}

/// The line and column of a field, or of its nearest enclosing field that is written out.
pub fn locate_nearest(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut path = path;
    loop {
        if let Some(found) = locate_field(text, path) {
            return Some(found);
        }
        path = &path[..path.rfind(['.', '['])?];
    }
}

fn failure(doc: &Document, file: Option<&str>, index: usize, err: ApplyError) -> ApplyResult {
    ApplyResult {
        document: index,
        file: file.map(String::from),
        line: doc.line,
        kind: None,
        namespace: None,
        name: None,
        outcome: ApplyOutcome::Failed,
        message: format!("error: {}", err.message),
        error: Some(err),
        diff: None,
    }
}

fn api_failure(e: &ApiError, location: Option<(usize, usize)>) -> ApplyError {
    ApplyError {
        code: e.code(),
        reason: e.reason().into(),
        message: e.to_string(),
        line: location.map(|l| l.0),
        column: location.map(|l| l.1),
    }
}

/// A YAML error, placed in the whole input.
fn yaml_failure(e: YamlError, doc: &Document) -> ApplyError {
    let e = e.shifted(doc.line);
    let (line, column) = (e.location.map(|l| l.0), e.location.map(|l| l.1));
    ApplyError { code: 400, reason: "BadRequest".into(), message: e.to_string(), line, column }
}

/// A document read as an object: its kind, the object (namespace defaulted), and the document as
/// JSON (what `kubectl apply` records as the last applied configuration).
fn decode_document(doc: &Document) -> Result<(Kind, Object, Value), ApplyError> {
    let value = yaml::value(doc.text).map_err(|e| yaml_failure(e, doc))?;
    // Older versions (the chapter's extensions/v1beta1 Ingress) are converted to the stored one.
    let converted = legacy::is_legacy(&value);
    let value = legacy::upgrade(value);
    let kind = Object::kind_of(&value).map_err(|e| {
        let location = locate_field(doc.text, "kind").map(|(l, c)| (doc.line + l - 1, c)).unwrap_or((doc.line, 1));
        ApplyError {
            code: 400,
            reason: "BadRequest".into(),
            message: e.to_string(),
            line: Some(location.0),
            column: Some(location.1),
        }
    })?;
    // A converted document is read from its converted form; others from the text, which keeps
    // the line and column of a decoding error.
    let decoded = if converted {
        Object::from_value_as(kind, value.clone()).map_err(|e| ApplyError {
            code: 400,
            reason: "BadRequest".into(),
            message: e.to_string(),
            line: Some(doc.line),
            column: Some(1),
        })
    } else {
        yaml::object(kind, doc.text).map_err(|e| yaml_failure(e, doc))
    };
    let mut object = decoded?;
    if kind.namespaced() && object.namespace().is_empty() {
        object.metadata_mut().namespace = Some("default".into());
    }
    Ok((kind, object, value))
}

/// What a document's result says of its object before the outcome is known.
fn result_for(doc: &Document, file: Option<&str>, index: usize, kind: Kind, object: &Object) -> ApplyResult {
    ApplyResult {
        document: index,
        file: file.map(String::from),
        line: doc.line,
        kind: Some(kind.name().into()),
        namespace: kind.namespaced().then(|| object.namespace().to_string()),
        name: Some(object.name().to_string()).filter(|n| !n.is_empty()),
        outcome: ApplyOutcome::Failed,
        message: String::new(),
        error: None,
        diff: None,
    }
}

/// Records an API error on a document's result, located at the field it names when it can be found.
fn record_error(result: &mut ApplyResult, doc: &Document, e: &ApiError) {
    let field = match e {
        ApiError::Invalid { causes, .. } => causes.first().map(|c| c.field.clone()),
        _ => None,
    };
    let location =
        field.and_then(|f| locate_nearest(doc.text, &f)).map(|(l, c)| (doc.line + l - 1, c)).unwrap_or((doc.line, 1));
    let err = api_failure(e, Some(location));
    result.message = format!("error: {}", err.message);
    result.error = Some(err);
}

fn apply_document(state: &ApiState, doc: &Document, file: Option<&str>, index: usize) -> ApplyResult {
    let (kind, object, value) = match decode_document(doc) {
        Ok(decoded) => decoded,
        Err(e) => return failure(doc, file, index, e),
    };
    let mut result = result_for(doc, file, index, kind, &object);
    let reference = svclab_shared::display::reference(kind, object.name());
    match apply_retrying(state, kind, object, &value) {
        Ok((outcome, diff)) => {
            let word = match outcome {
                ApplyOutcome::Created => "created",
                ApplyOutcome::Configured => "configured",
                _ => "unchanged",
            };
            let dry = if state.registry.is_dry_run() { " (server dry run)" } else { "" };
            result.outcome = outcome;
            result.message = format!("{reference} {word}{dry}");
            result.diff = diff;
        }
        Err(e) => record_error(&mut result, doc, &e),
    }
    result
}

/// `kubectl delete -f` for one document: `service "kubia" deleted`.
fn delete_document(state: &ApiState, doc: &Document, file: Option<&str>, index: usize) -> ApplyResult {
    let (kind, object) = match decode_document(doc) {
        Ok((kind, object, _)) => (kind, object),
        Err(e) => return failure(doc, file, index, e),
    };
    let mut result = result_for(doc, file, index, kind, &object);
    let key = ObjectKey::new(kind, object.namespace(), object.name());
    match state.registry.delete(&key, None) {
        Ok(_) => {
            result.outcome = ApplyOutcome::Deleted;
            let qualified = svclab_shared::display::reference(kind, "");
            result.message = format!("{} \"{}\" deleted", qualified.trim_end_matches('/'), object.name());
        }
        Err(e) => record_error(&mut result, doc, &e),
    }
    result
}

/// Applies one object, again on a conflict: a patch goes to the object as it is, as
/// kube-apiserver retries a PATCH whose object changed underneath it (a pod's status written by
/// its kubelet meanwhile).
fn apply_retrying(
    state: &ApiState,
    kind: Kind,
    object: Object,
    applied: &Value,
) -> Result<(ApplyOutcome, Option<String>), ApiError> {
    let mut attempts = 0;
    loop {
        match apply_object(state, kind, object.clone(), applied) {
            Err(ApiError::Conflict { .. }) if attempts < 10 => attempts += 1,
            other => return other,
        }
    }
}

/// Applies one object: what happened to it, and in a dry run the difference it would make.
fn apply_object(
    state: &ApiState,
    kind: Kind,
    mut object: Object,
    applied: &Value,
) -> Result<(ApplyOutcome, Option<String>), ApiError> {
    let last_applied = serde_json::to_string(applied).unwrap_or_default();
    let key = ObjectKey::new(kind, object.namespace(), object.name());
    let Some(live) = state.store().get(&key).filter(|_| !key.name.is_empty()) else {
        object
            .metadata_mut()
            .annotations
            .get_or_insert_with(Default::default)
            .insert(LAST_APPLIED.into(), last_applied);
        let created = state.registry.create(object)?;
        let diff = state.registry.is_dry_run().then(|| diff(None, &created));
        return Ok((ApplyOutcome::Created, diff));
    };
    let previous = live.metadata().annotations.as_ref().and_then(|a| a.get(LAST_APPLIED));
    let previous: Option<Value> = previous.and_then(|p| serde_json::from_str(p).ok());
    // kubectl apply's patch (three-way, strategic), and the configuration it records.
    let schemas = crate::openapi::schemas();
    let schema = schemas.root(kind);
    let mut merged = live.to_value();
    let (last, new) = (previous.as_ref().and_then(Value::as_object), applied.as_object());
    let mut patch = crate::registry::patch::threeway::three_way(
        schemas,
        Some(schema),
        last,
        new.unwrap_or(&Map::new()),
        merged.as_object(),
    );
    let meta = patch.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        annotations.as_object_mut().expect("made an object").insert(LAST_APPLIED.into(), last_applied.into());
        meta.insert("namespace".into(), live.namespace().into());
    }
    crate::registry::patch::strategic::apply(schemas, schema, &mut merged, &Value::Object(patch))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut updated = Object::from_value_as(kind, merged).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    updated.metadata_mut().resource_version = live.metadata().resource_version.clone();
    let stored = state.registry.update(updated)?;
    if state.registry.is_dry_run() {
        // Nothing was stored: what would change is what the objects differ in.
        let diff = diff(Some(&live), &stored);
        let outcome = if diff.is_empty() { ApplyOutcome::Unchanged } else { ApplyOutcome::Configured };
        return Ok((outcome, Some(diff)));
    }
    let changed = stored.resource_version() != live.resource_version();
    Ok((if changed { ApplyOutcome::Configured } else { ApplyOutcome::Unchanged }, None))
}

/// `kubectl diff`'s view of a change: a unified diff of the live object's YAML (none when it
/// is new) and the merged one's, without managedFields; empty when they are the same.
fn diff(live: Option<&Object>, merged: &Object) -> String {
    let yaml = |object: &Object| {
        let mut value = object.to_value();
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        serde_yaml::to_string(&value).unwrap_or_default()
    };
    let (before, after) = (live.map(yaml).unwrap_or_default(), yaml(merged));
    if before == after {
        return String::new();
    }
    let name = format!("{}.{}", merged.namespace(), merged.name());
    let (from, to) = (format!("LIVE/{name}"), format!("MERGED/{name}"));
    similar::TextDiff::from_lines(&before, &after).unified_diff().context_radius(3).header(&from, &to).to_string()
}

/// The inputs of a request: a YAML or JSON body, or the files of a multipart upload, each with
/// its file name when it has one.
async fn inputs(state: &ApiState, request: Request) -> Result<Vec<(Option<String>, String)>, ApiError> {
    let mut inputs = Vec::new();
    if content_type(request.headers()) == "multipart/form-data" {
        let mut multipart =
            Multipart::from_request(request, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        while let Some(field) = multipart.next_field().await.map_err(|e| ApiError::BadRequest(e.body_text()))? {
            let name = field.file_name().or(field.name()).map(String::from);
            let text = field.text().await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
            inputs.push((name, text));
        }
    } else {
        let body = Bytes::from_request(request, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::BadRequest("the manifest is not valid UTF-8".into()))?;
        inputs.push((None, text));
    }
    Ok(inputs)
}

/// Runs `each` on every document of the request's inputs; the status is 200 when every
/// document succeeded, otherwise the first failure's code.
async fn for_each_document(
    state: ApiState,
    request: Request,
    verb: &str,
    each: fn(&ApiState, &Document, Option<&str>, usize) -> ApplyResult,
) -> Response {
    let inputs = match inputs(&state, request).await {
        Ok(inputs) => inputs,
        Err(e) => return e.into_response(),
    };
    let size = inputs.iter().map(|(_, text)| text.len()).sum();
    let results = yaml::off_runtime(size, move || {
        let mut results = Vec::new();
        for (file, text) in &inputs {
            for (i, doc) in split_documents(text).iter().enumerate() {
                results.push(each(&state, doc, file.as_deref(), i + 1));
            }
        }
        results
    })
    .await;
    let results = match results {
        Ok(results) => results,
        Err(e) => return e.into_response(),
    };
    if results.is_empty() {
        return ApiError::BadRequest(format!("no objects passed to {verb}")).into_response();
    }
    let code = results
        .iter()
        .find_map(|r| r.error.as_ref().map(|e| e.code))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    (code, Json(ApplyResponse { results })).into_response()
}

/// `POST /lab/v1/apply`; with `?dryRun=All` nothing is stored and each result carries its
/// diff (the dashboard's Dry run, as `kubectl diff` and `apply --dry-run=server`).
pub async fn handle(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let dry_run: Vec<String> = query.get("dryRun").cloned().into_iter().collect();
    let registry = match super::resources::writes_to(&state, &dry_run) {
        Ok(registry) => registry,
        Err(e) => return e.into_response(),
    };
    for_each_document(ApiState { registry, ..state }, request, "apply", apply_document).await
}

/// `POST /lab/v1/delete`.
pub async fn delete(State(state): State<ApiState>, request: Request) -> Response {
    for_each_document(state, request, "delete", delete_document).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_separator_lines_and_keep_their_lines() {
        let input = "a: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n--- \nd: 4\n";
        let docs = split_documents(input);
        assert_eq!(docs.len(), 3);
        assert_eq!((docs[0].line, docs[0].text), (1, "a: 1\n"));
        assert_eq!((docs[1].line, docs[1].text), (5, "b: 2\nc: 3\n"));
        assert_eq!(docs[2].line, 8);
        assert!(split_documents("---\n").is_empty());
    }

    #[test]
    fn fields_are_located_in_the_document() {
        let doc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia\nspec:\n  ports:\n  - port: 80\n  - name: b\n    port: 0\n";
        assert_eq!(locate_field(doc, "spec.ports[1].port"), Some((9, 5)));
        assert_eq!(locate_field(doc, "spec.ports[0].port"), Some((7, 5)));
        // Item 0 has no name: the locator must not wander into item 1.
        assert_eq!(locate_field(doc, "spec.ports[0].name"), None);
        assert_eq!(locate_nearest(doc, "spec.ports[0].name"), Some((7, 3)));
        assert_eq!(locate_field(doc, "spec.ports[1]"), Some((8, 3)));
        assert_eq!(locate_field(doc, "metadata.name"), Some((4, 3)));
        assert_eq!(locate_field(doc, "spec.selector"), None);
        assert_eq!(locate_field(doc, "name"), None, "only top-level keys at the top level");
        let flush = "spec:\n  ports:\n  - port: 80\n  template:\n    spec:\n      containers:\n      - name: a\n        image: b\n";
        assert_eq!(locate_field(flush, "spec.template.spec.containers[0].image"), Some((8, 9)));
    }
}

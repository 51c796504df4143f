//! Unknown fields: the paths of a document's fields that its kind's schema does not declare
//! (`spec.ports[0].prot`), as kube-apiserver's strict decoding finds them for `fieldValidation`
//! (`Strict` refuses the document, `Warn` answers with a warning per field, `Ignore` drops them).

use super::Schemas;
use serde_json::Value;
use svclab_shared::Kind;

/// What the client asked the server to do with unknown fields (`?fieldValidation=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// A `fieldValidation` value kube-apiserver does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fieldValidation: Unsupported value: \"{0}\": supported values: \"Ignore\", \"Strict\", \"Warn\"")]
pub struct UnsupportedValidation(pub String);

impl FieldValidation {
    /// The query's value; kube-apiserver warns when the client does not say.
    pub fn from_query(value: Option<&str>) -> Result<Self, UnsupportedValidation> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(UnsupportedValidation(other.to_string())),
        }
    }
}

/// `Kind in version "v" cannot be handled as a Kind: why`, kube-apiserver's decoding error.
pub fn cannot_handle(kind: Kind, why: impl std::fmt::Display) -> String {
    let (k, v) = (kind.name(), kind.api_version());
    format!("{k} in version \"{v}\" cannot be handled as a {k}: {why}")
}

/// Unknown fields under `fieldValidation=Strict`: kube-apiserver's
/// `Kind in version "v1" cannot be handled as a Kind: strict decoding error: unknown field "…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictDecodingError {
    pub kind: Kind,
    /// `unknown field "spec.foo"`, one per field.
    pub unknown: Vec<String>,
}

impl std::fmt::Display for StrictDecodingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&cannot_handle(self.kind, format!("strict decoding error: {}", self.unknown.join(", "))))
    }
}

impl std::error::Error for StrictDecodingError {}

/// Checks a document of `kind` in `api_version` (its own, or an older one svclab serves) for
/// unknown fields as `validation` asks: the warnings to send back (`unknown field "spec.foo"`),
/// or kube-apiserver's refusal under `Strict`.
pub fn check(
    kind: Kind,
    api_version: &str,
    value: &Value,
    validation: FieldValidation,
) -> Result<Vec<String>, StrictDecodingError> {
    if validation == FieldValidation::Ignore {
        return Ok(vec![]);
    }
    let schemas = super::schemas();
    let root = schemas.root_in(api_version, kind).unwrap_or(schemas.root(kind));
    let unknown: Vec<String> =
        unknown_in(schemas, root, value).into_iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match validation {
        FieldValidation::Strict if !unknown.is_empty() => Err(StrictDecodingError { kind, unknown }),
        _ => Ok(unknown),
    }
}

/// The paths of the fields of `value` that a `kind`'s schema does not declare, by name at each level.
pub fn unknown(schemas: &Schemas, kind: Kind, value: &Value) -> Vec<String> {
    unknown_in(schemas, schemas.root(kind), value)
}

/// The paths of the fields of `value` that `schema` does not declare.
fn unknown_in(schemas: &Schemas, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(schemas, schema, value, &mut String::new(), &mut found);
    found
}

fn walk(schemas: &Schemas, schema: &Value, value: &Value, path: &mut String, found: &mut Vec<String>) {
    let schema = schemas.resolve(schema);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(fields) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, field) in fields {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                    match properties.get(name) {
                        Some(property) => walk(schemas, property, field, path, found),
                        None => found.push(path.clone()),
                    }
                    path.truncate(len);
                }
            } else if let Some(values) = schemas.values(schema) {
                for (name, field) in fields {
                    let len = path.len();
                    path.push_str(&format!("[{name}]"));
                    walk(schemas, values, field, path, found);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schemas.items(schema) {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(schemas, item_schema, item, path, found);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::schemas;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_found_where_they_are() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubia", "labelz": {}},
            "spec": {"selector": {"app": "kubia"}, "ports": [{"port": 80, "targetPort": 8080}, {"port": 81, "prot": "TCP"}],
                     "foo": 1},
            "status": {"loadBalancer": {}}});
        assert_eq!(unknown(schemas(), Kind::Service, &svc), ["metadata.labelz", "spec.foo", "spec.ports[1].prot"]);
        let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "kubia"},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "kubia"}},
                     "spec": {"containers": [{"name": "kubia", "image": "luksa/kubia", "ports": [{"containerPort": 8080}],
                                              "readinessProbe": {"exec": {"command": ["ls", "/var/ready"]}, "periodSeconds": 1}}]}}}});
        assert!(unknown(schemas(), Kind::ReplicationController, &rc).is_empty());
        let typo = json!({"spec": {"template": {"spec": {"containers": [{"name": "k", "imag": "x"}]}}}});
        assert_eq!(unknown(schemas(), Kind::Deployment, &typo), ["spec.template.spec.containers[0].imag"]);
    }

    #[test]
    fn free_form_fields_take_anything() {
        let pod = json!({"metadata": {"annotations": {"a": "b"},
                                      "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]},
                         "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1"}}}]}});
        assert!(unknown(schemas(), Kind::Pod, &pod).is_empty());
        let secret = json!({"data": {"tls.crt": "eA=="}, "stringData": {"a": "b"}, "type": "kubernetes.io/tls"});
        assert!(unknown(schemas(), Kind::Secret, &secret).is_empty());
    }

    #[test]
    fn validation_modes_read_from_the_query() {
        assert_eq!(FieldValidation::from_query(None), Ok(FieldValidation::Warn));
        assert_eq!(FieldValidation::from_query(Some("Strict")), Ok(FieldValidation::Strict));
        assert!(FieldValidation::from_query(Some("strict")).unwrap_err().to_string().contains("Unsupported value"));
    }
}

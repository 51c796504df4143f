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

/// `Kind in version "v" cannot be handled as a Kind: why`, kube-apiserver's decoding error (the
/// version without its group: `Deployment in version "v1"`).
pub fn cannot_handle(kind: Kind, why: impl std::fmt::Display) -> String {
    let (k, v) = (kind.name(), kind.version());
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

/// A document kube-apiserver's decoder refuses: unknown fields under `fieldValidation=Strict`,
/// or a quantity apimachinery cannot parse (`cpu: lots`), whatever the validation asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Strict(#[from] StrictDecodingError),
    #[error("{}", cannot_handle(*kind, why))]
    Quantity { kind: Kind, why: svclab_shared::quantity::ParseError },
}

/// Checks a document of `kind` in `api_version` (its own, or an older one svclab serves) as
/// kube-apiserver decodes it: its quantities must parse, and its unknown fields are handled as
/// `validation` asks: the warnings to send back (`unknown field "spec.foo"`), or a refusal
/// under `Strict`.
pub fn check(
    kind: Kind,
    api_version: &str,
    value: &Value,
    validation: FieldValidation,
) -> Result<Vec<String>, DecodeError> {
    let schemas = super::schemas();
    let root = schemas.root_in(api_version, kind).unwrap_or(schemas.root(kind));
    let found = findings(schemas, root, value);
    if let Some(why) = found.quantity {
        return Err(DecodeError::Quantity { kind, why });
    }
    let unknown: Vec<String> = found.unknown.into_iter().map(|f| format!("unknown field \"{f}\"")).collect();
    match validation {
        FieldValidation::Ignore => Ok(vec![]),
        FieldValidation::Strict if !unknown.is_empty() => Err(StrictDecodingError { kind, unknown }.into()),
        _ => Ok(unknown),
    }
}

/// The paths of the fields of `value` that a `kind`'s schema does not declare, by name at each level.
pub fn unknown(schemas: &Schemas, kind: Kind, value: &Value) -> Vec<String> {
    findings(schemas, schemas.root(kind), value).unknown
}

/// What reading a document against its schema finds.
#[derive(Default)]
struct Findings {
    /// The paths of the fields the schema does not declare.
    unknown: Vec<String>,
    /// Why the first quantity that does not parse does not.
    quantity: Option<svclab_shared::quantity::ParseError>,
}

fn findings(schemas: &Schemas, schema: &Value, value: &Value) -> Findings {
    let mut found = Findings::default();
    walk(schemas, schema, value, &mut String::new(), &mut found);
    found
}

fn walk(schemas: &Schemas, schema: &Value, value: &Value, path: &mut String, found: &mut Findings) {
    // Only a string can be a bad quantity; the schema is looked at for those alone (every write
    // walks its document).
    if let Value::String(s) = value {
        if found.quantity.is_none() && schemas.is_quantity(schema) {
            found.quantity = svclab_shared::quantity::parse(s).err();
        }
        return;
    }
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
                        None => found.unknown.push(path.clone()),
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
    fn quantities_must_parse_whatever_the_validation() {
        let pod = |cpu: Value| json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": cpu}, "requests": {"memory": "64Mi"}}}]}});
        for mode in [FieldValidation::Ignore, FieldValidation::Warn, FieldValidation::Strict] {
            assert_eq!(check(Kind::Pod, "v1", &pod(json!("500m")), mode), Ok(vec![]));
            assert_eq!(check(Kind::Pod, "v1", &pod(json!(2)), mode), Ok(vec![]));
            let refused = check(Kind::Pod, "v1", &pod(json!("1K")), mode).unwrap_err();
            assert_eq!(
                refused.to_string(),
                "Pod in version \"v1\" cannot be handled as a Pod: unable to parse quantity's suffix"
            );
        }
        let claim = json!({"spec": {"resources": {"requests": {"storage": "lots"}}}});
        let refused = check(Kind::PersistentVolumeClaim, "v1", &claim, FieldValidation::Warn).unwrap_err().to_string();
        assert!(
            refused.ends_with(
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            ),
            "{refused}"
        );
    }

    #[test]
    fn validation_modes_read_from_the_query() {
        assert_eq!(FieldValidation::from_query(None), Ok(FieldValidation::Warn));
        assert_eq!(FieldValidation::from_query(Some("Strict")), Ok(FieldValidation::Strict));
        assert!(FieldValidation::from_query(Some("strict")).unwrap_err().to_string().contains("Unsupported value"));
    }
}

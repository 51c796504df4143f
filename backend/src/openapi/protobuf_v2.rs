//! The OpenAPI v2 document in protobuf (gnostic's `openapi.v2.Document`), which kubectl asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) to validate a `kind: List`
//! file client-side: the definitions, each schema with its type, properties, items, references,
//! required fields and `x-kubernetes-*` extensions (values as YAML, JSON being YAML).

use serde_json::Value;

/// The protobuf wire format's pieces.
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn bytes(&mut self, tag: u32, bytes: &[u8]) {
        self.varint(u64::from(tag << 3 | 2));
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, tag: u32, s: &str) {
        self.bytes(tag, s.as_bytes());
    }

    fn boolean(&mut self, tag: u32, b: bool) {
        self.varint(u64::from(tag << 3));
        self.varint(u64::from(b));
    }

    fn message(&mut self, tag: u32, build: impl FnOnce(&mut Writer)) {
        let mut inner = Writer(Vec::new());
        build(&mut inner);
        self.bytes(tag, &inner.0);
    }
}

/// `openapi.v2.Document` of a v2 document in JSON.
pub fn document(v2: &Value) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.string(1, v2["swagger"].as_str().unwrap_or("2.0"));
    w.message(2, |info| {
        info.string(1, v2["info"]["title"].as_str().unwrap_or("Kubernetes"));
        info.string(2, v2["info"]["version"].as_str().unwrap_or_default());
    });
    if let Some(definitions) = v2["definitions"].as_object() {
        w.message(9, |defs| {
            for (name, schema) in definitions {
                defs.message(1, |named| named_schema(named, name, schema));
            }
        });
    }
    w.0
}

fn named_schema(w: &mut Writer, name: &str, schema: &Value) {
    w.string(1, name);
    w.message(2, |s| encode_schema(s, schema));
}

/// `openapi.v2.Any`: a value as YAML.
fn any(w: &mut Writer, tag: u32, value: &Value) {
    w.message(tag, |a| a.string(2, &value.to_string()));
}

fn encode_schema(w: &mut Writer, schema: &Value) {
    let Some(fields) = schema.as_object() else { return };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    if let Some(r) = text("$ref") {
        w.string(1, r);
    }
    if let Some(f) = text("format") {
        w.string(2, f);
    }
    if let Some(d) = text("description") {
        w.string(4, d);
    }
    if let Some(d) = fields.get("default") {
        any(w, 5, d);
    }
    for r in fields.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        w.string(19, r);
    }
    for e in fields.get("enum").and_then(Value::as_array).into_iter().flatten() {
        any(w, 20, e);
    }
    match fields.get("additionalProperties") {
        Some(Value::Bool(b)) => w.message(21, |a| a.boolean(2, *b)),
        Some(s @ Value::Object(_)) => w.message(21, |a| a.message(1, |inner| encode_schema(inner, s))),
        _ => {}
    }
    if let Some(t) = text("type") {
        w.message(22, |ty| ty.string(1, t));
    }
    if let Some(items) = fields.get("items").filter(|i| i.is_object()) {
        w.message(23, |i| i.message(1, |inner| encode_schema(inner, items)));
    }
    for s in fields.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        w.message(24, |inner| encode_schema(inner, s));
    }
    if let Some(properties) = fields.get("properties").and_then(Value::as_object) {
        w.message(25, |p| {
            for (name, property) in properties {
                p.message(1, |named| named_schema(named, name, property));
            }
        });
    }
    for (name, value) in fields.iter().filter(|(k, _)| k.starts_with("x-")) {
        w.message(31, |named| {
            named.string(1, name);
            any(named, 2, value);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_encodes_as_gnostic_reads_it() {
        let doc =
            json!({"swagger": "2.0", "info": {"title": "t", "version": "v"}, "definitions": {"A": {"type": "string"}}});
        let mut expected = vec![0x0a, 3, b'2', b'.', b'0', 0x12, 6, 0x0a, 1, b't', 0x12, 1, b'v'];
        // definitions (9) › NamedSchema (1) { name "A", value Schema { type (22) TypeItem { "string" } } }
        expected.extend([0x4a, 18, 0x0a, 16, 0x0a, 1, b'A', 0x12, 11, 0xb2, 0x01, 8, 0x0a, 6]);
        expected.extend(b"string");
        assert_eq!(document(&doc), expected);
    }

    #[test]
    fn extensions_references_and_maps_are_kept() {
        let schema = json!({"$ref": "#/definitions/B", "x-kubernetes-group-version-kind": [{"kind": "Pod"}],
                            "additionalProperties": true});
        let mut w = Writer(Vec::new());
        encode_schema(&mut w, &schema);
        let bytes = w.0;
        assert_eq!(&bytes[..2], &[0x0a, 15]);
        assert!(bytes.windows(15).any(|s| s == b"#/definitions/B"));
        // additionalProperties (21): AdditionalPropertiesItem { boolean (2): true }
        assert!(bytes.windows(5).any(|s| s == [0xaa, 0x01, 2, 0x10, 1]));
        assert!(bytes.windows(16).any(|s| s == b"[{\"kind\":\"Pod\"}]"));
    }
}

//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), which client-go's typed
//! clients send (`kubectl create secret|configmap|deployment|service …` in kubectl 1.32 and
//! later): the `k8s\0` envelope and its `runtime.Unknown`, then the object's message, read into
//! the same JSON the rest of the API decodes.
//!
//! Each message's fields come from [`messages`], generated from the k8s-pb crate's types; their
//! JSON names and the types Kubernetes encodes specially in protobuf (`Time`, `IntOrString`,
//! `Quantity`, `RawExtension`…) come from the kind's OpenAPI schema, walked alongside.

mod messages;
mod pointers;

use crate::openapi::{Schemas, schemas};
use base64::Engine;
use serde_json::{Map, Value};
use svclab_shared::Kind;

/// A field's type on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Int32,
    Int64,
    Bool,
    Bytes,
    Message(&'static str),
    /// A map: entries with the key (a string) as field 1 and the value as field 2.
    Map(&'static FieldType),
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    /// The field's name in snake case (the Rust name k8s-pb gives it).
    pub name: &'static str,
    pub kind: FieldType,
    pub repeated: bool,
}

/// One message: its name (`api.core.v1.Secret`) and fields.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// The magic that starts every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")]
    NoMagic,
    #[error("unable to decode protobuf: {0}")]
    Malformed(&'static str),
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownKind { api_version: String, kind: String },
    #[error("unsupported content encoding {0:?}")]
    Encoding(String),
}

fn message(name: &str) -> Option<&'static Message> {
    messages::MESSAGES.iter().find(|m| m.name == name)
}

/// The message of a kind at an API version: `apps/v1` `Deployment` is `api.apps.v1.Deployment`.
fn message_for(api_version: &str, kind: &str) -> Option<&'static Message> {
    let (group, version) = api_version.split_once('/').unwrap_or(("core", api_version));
    let package = group.split('.').next().unwrap_or(group);
    message(&format!("api.{package}.{version}.{kind}"))
}

/// Reads the protobuf wire format.
struct Reader<'a> {
    bytes: &'a [u8],
}

enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first().ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if self.bytes.len() < n {
            return Err(ProtobufError::Malformed("truncated field"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// The next field's tag and value, `None` at the end.
    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtobufError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| ProtobufError::Malformed("field number too large"))?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtobufError::Malformed("length too large"))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        Ok(Some((tag, value)))
    }
}

fn string(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed("a string is not UTF-8"))
}

/// A body's object as JSON: `k8s\0`, then `runtime.Unknown` carrying the type and the message.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let unknown = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let (mut api_version, mut kind, mut raw, mut encoding) = (String::new(), String::new(), &[][..], String::new());
    let mut reader = Reader { bytes: unknown };
    while let Some((tag, wire)) = reader.next()? {
        match (tag, wire) {
            (1, Wire::Bytes(type_meta)) => {
                let mut meta = Reader { bytes: type_meta };
                while let Some((tag, wire)) = meta.next()? {
                    match (tag, wire) {
                        (1, Wire::Bytes(b)) => api_version = string(b)?,
                        (2, Wire::Bytes(b)) => kind = string(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            (3, Wire::Bytes(b)) => encoding = string(b)?,
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(ProtobufError::Encoding(encoding));
    }
    let unknown_kind = || ProtobufError::UnknownKind { api_version: api_version.clone(), kind: kind.clone() };
    let message = message_for(&api_version, &kind).ok_or_else(unknown_kind)?;
    let schemas = schemas();
    let served = Kind::from_type(&api_version, &kind).and_then(|k| schemas.root_in(&api_version, k)).or_else(|| {
        svclab_shared::legacy::SERVED.iter().find_map(|(v, k)| (*v == api_version).then(|| schemas.root_in(v, *k))?)
    });
    let mut object = read_message(schemas, message, served, raw)?;
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".into(), api_version.into());
        map.insert("kind".into(), kind.into());
    }
    Ok(object)
}

/// A message's JSON. `schema` is its OpenAPI schema, when known: it names the fields.
fn read_message(
    schemas: &Schemas,
    message: &Message,
    schema: Option<&Value>,
    bytes: &[u8],
) -> Result<Value, ProtobufError> {
    if let Some(special) = special(message.name, bytes)? {
        return Ok(special);
    }
    let schema = schema.map(|s| schemas.resolve(s));
    let properties = schema.and_then(|s| s.get("properties")).and_then(Value::as_object);
    let mut out = Map::new();
    let mut reader = Reader { bytes };
    while let Some((tag, wire)) = reader.next()? {
        let Some(field) = message.fields.iter().find(|f| f.tag == tag) else { continue };
        let name = json_name(properties, field.name);
        let property = properties.and_then(|p| p.get(&name));
        // A Go struct embedded inline (a Probe's handler, a Volume's source) is a field of its
        // own in protobuf but its fields are the parent's in JSON.
        if let (FieldType::Message(inner), Wire::Bytes(b), None, Some(_)) = (field.kind, &wire, property, properties) {
            let inner = self::message(inner).ok_or(ProtobufError::Malformed("a message of an unknown type"))?;
            if let Value::Object(fields) = read_message(schemas, inner, schema, b)? {
                out.extend(fields);
            }
            continue;
        }
        let value = match field.kind {
            FieldType::Map(values) => {
                let Wire::Bytes(entry) = wire else { return Err(ProtobufError::Malformed("a map entry")) };
                let value_schema = property.and_then(|p| schemas.values(p));
                let (key, value) = map_entry(schemas, values, value_schema, entry)?;
                let map = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(key, value);
                }
                continue;
            }
            kind => {
                let item_schema = if field.repeated { property.and_then(|p| schemas.items(p)) } else { property };
                scalar(schemas, kind, item_schema, wire)?
            }
        };
        if field.repeated {
            let list = out.entry(name).or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(list) = list {
                list.push(value);
            }
        } else {
            // A zero is meant only where Go has a pointer; elsewhere it is how Go writes unset.
            let meant = !is_zero(&value) || pointers::is_pointer(message.name, field.name);
            if meant && !value.is_null() {
                out.insert(name, value);
            }
        }
    }
    Ok(Value::Object(out))
}

fn map_entry(
    schemas: &Schemas,
    values: &FieldType,
    value_schema: Option<&Value>,
    entry: &[u8],
) -> Result<(String, Value), ProtobufError> {
    let (mut key, mut value) = (String::new(), None);
    let mut reader = Reader { bytes: entry };
    while let Some((tag, wire)) = reader.next()? {
        match tag {
            1 => {
                let Wire::Bytes(b) = wire else { return Err(ProtobufError::Malformed("a map key")) };
                key = string(b)?;
            }
            2 => value = Some(scalar(schemas, *values, value_schema, wire)?),
            _ => {}
        }
    }
    let empty = match values {
        FieldType::String => Value::String(String::new()),
        FieldType::Bytes => Value::String(String::new()),
        _ => Value::Null,
    };
    Ok((key, value.unwrap_or(empty)))
}

fn scalar(schemas: &Schemas, kind: FieldType, schema: Option<&Value>, wire: Wire) -> Result<Value, ProtobufError> {
    let bad = || ProtobufError::Malformed("a field's wire type does not fit its type");
    Ok(match (kind, wire) {
        (FieldType::String, Wire::Bytes(b)) => Value::String(string(b)?),
        // Bytes are base64 in Kubernetes' JSON (a Secret's `data`).
        (FieldType::Bytes, Wire::Bytes(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (FieldType::Int32, Wire::Varint(v)) => Value::from(v as i64 as i32),
        (FieldType::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (FieldType::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (FieldType::Message(name), Wire::Bytes(b)) => {
            let message = message(name).ok_or(ProtobufError::Malformed("a message of an unknown type"))?;
            read_message(schemas, message, schema, b)?
        }
        _ => return Err(bad()),
    })
}

/// A scalar's zero value, which a field that is not a pointer holds when it is unset.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

/// The JSON name of a field: the schema's property with the same letters (`podIPs` for
/// `pod_ips`), else the field's name in camel case.
fn json_name(properties: Option<&Map<String, Value>>, snake: &str) -> String {
    let letters = |s: &str| s.chars().filter(|c| *c != '_').map(|c| c.to_ascii_lowercase()).collect::<String>();
    let wanted = letters(snake);
    if let Some(found) = properties.and_then(|p| p.keys().find(|k| letters(k) == wanted)) {
        return found.clone();
    }
    // `uID` in the .proto files (a BoundObjectReference's), which prost spells `u_id`.
    if snake == "u_id" {
        return "uid".into();
    }
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The types whose protobuf form differs from their JSON form.
fn special(name: &str, bytes: &[u8]) -> Result<Option<Value>, ProtobufError> {
    let fields = || -> Result<Vec<(u32, Wire)>, ProtobufError> {
        let mut reader = Reader { bytes };
        let mut out = Vec::new();
        while let Some(field) = reader.next()? {
            out.push(field);
        }
        Ok(out)
    };
    Ok(Some(match name {
        // Seconds and nanoseconds since the epoch; zero is Go's zero time, `null` in JSON.
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let (mut seconds, mut nanos) = (0i64, 0i32);
            for (tag, wire) in fields()? {
                match (tag, wire) {
                    (1, Wire::Varint(v)) => seconds = v as i64,
                    (2, Wire::Varint(v)) => nanos = v as i64 as i32,
                    _ => {}
                }
            }
            if seconds == 0 && nanos == 0 {
                return Ok(Some(Value::Null));
            }
            let at =
                jiff::Timestamp::new(seconds, nanos).map_err(|_| ProtobufError::Malformed("a time out of range"))?;
            Value::String(at.to_string())
        }
        // type 0: intVal, type 1: strVal.
        "apimachinery.pkg.util.intstr.IntOrString" => {
            let (mut is_string, mut int, mut text) = (false, 0i32, String::new());
            for (tag, wire) in fields()? {
                match (tag, wire) {
                    (1, Wire::Varint(v)) => is_string = v == 1,
                    (2, Wire::Varint(v)) => int = v as i64 as i32,
                    (3, Wire::Bytes(b)) => text = string(b)?,
                    _ => {}
                }
            }
            if is_string { Value::String(text) } else { Value::from(int) }
        }
        "apimachinery.pkg.api.resource.Quantity" => {
            let mut text = String::new();
            for (tag, wire) in fields()? {
                if let (1, Wire::Bytes(b)) = (tag, wire) {
                    text = string(b)?;
                }
            }
            Value::String(text)
        }
        // Embedded JSON (an object in a ControllerRevision, the fields of managedFields).
        "apimachinery.pkg.runtime.RawExtension" | "apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            let mut raw: &[u8] = &[];
            for (tag, wire) in fields()? {
                if let (1, Wire::Bytes(b)) = (tag, wire) {
                    raw = b;
                }
            }
            if raw.is_empty() {
                Value::Object(Map::new())
            } else {
                serde_json::from_slice(raw).map_err(|_| ProtobufError::Malformed("embedded JSON"))?
            }
        }
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            let mut nanos = 0i64;
            for (tag, wire) in fields()? {
                if let (1, Wire::Varint(v)) = (tag, wire) {
                    nanos = v as i64;
                }
            }
            Value::String(format!("{:?}", std::time::Duration::from_nanos(nanos.max(0) as u64)))
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests;

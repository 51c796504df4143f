//! Server-side apply's merge: an applied configuration laid over the live object, field by
//! field as the schema says (structs and maps merge, lists keyed by fields merge item by item,
//! sets merge as sets, everything else — scalars and atomic lists or maps — is replaced).

use crate::openapi::Schemas;
use serde_json::Value;

fn list_keys(property: Option<&Value>) -> Option<Vec<&str>> {
    let property = property?;
    if property.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys = property.get("x-kubernetes-list-map-keys")?.as_array()?;
    Some(keys.iter().filter_map(Value::as_str).collect())
}

fn is_set(property: Option<&Value>) -> bool {
    property.and_then(|p| p.get("x-kubernetes-list-type")).and_then(Value::as_str) == Some("set")
}

fn is_atomic_map(schemas: &Schemas, property: Option<&Value>) -> bool {
    property.is_some_and(|p| {
        [p, schemas.resolve(p)].iter().any(|s| s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"))
    })
}

/// `applied` laid over `live`; both objects of the schema `schema`.
pub fn merge(schemas: &Schemas, schema: Option<&Value>, live: &Value, applied: &Value) -> Value {
    let (Value::Object(live_fields), Value::Object(applied_fields)) = (live, applied) else {
        return applied.clone();
    };
    let resolved = schema.map(|s| schemas.resolve(s));
    let properties = resolved.and_then(|s| s.get("properties")).and_then(Value::as_object);
    let mut out = live_fields.clone();
    for (name, value) in applied_fields {
        let property = match properties {
            Some(p) => p.get(name),
            None => resolved.and_then(|s| schemas.values(s)),
        };
        let merged = match (out.get(name), value) {
            (Some(existing), Value::Object(_)) if !is_atomic_map(schemas, property) => {
                merge(schemas, property, existing, value)
            }
            (Some(Value::Array(existing)), Value::Array(items)) => merge_list(schemas, property, existing, items),
            _ => value.clone(),
        };
        out.insert(name.clone(), merged);
    }
    Value::Object(out)
}

fn merge_list(schemas: &Schemas, property: Option<&Value>, live: &[Value], applied: &[Value]) -> Value {
    if let Some(keys) = list_keys(property) {
        let item_schema = property.and_then(|p| schemas.items(p));
        let same = |a: &Value, b: &Value| keys.iter().all(|k| a.get(*k) == b.get(*k));
        let mut out: Vec<Value> = Vec::with_capacity(live.len().max(applied.len()));
        for item in applied {
            match live.iter().find(|l| same(l, item)) {
                Some(existing) => out.push(merge(schemas, item_schema, existing, item)),
                None => out.push(item.clone()),
            }
        }
        // The items others manage stay, after the applied ones.
        out.extend(live.iter().filter(|l| !applied.iter().any(|a| same(l, a))).cloned());
        return Value::Array(out);
    }
    if is_set(property) {
        let mut out: Vec<Value> = applied.to_vec();
        out.extend(live.iter().filter(|l| !applied.contains(l)).cloned());
        return Value::Array(out);
    }
    Value::Array(applied.to_vec())
}

//! Sets of fields, as server-side apply tracks who owns what: a tree whose edges are path
//! elements in `FieldsV1`'s words (`f:spec`, `k:{"port":80,"protocol":"TCP"}` for an item of a
//! list keyed by fields, `v:"x"` for a value of a set), built from an object and its schema.

use crate::openapi::Schemas;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path that leads here is itself in the set (`.` in `FieldsV1`).
    pub member: bool,
    pub children: BTreeMap<String, FieldSet>,
}

/// How a list is keyed, from its schema's `x-kubernetes-list-*`.
enum ListKind<'a> {
    Map(Vec<&'a str>),
    Set,
    Atomic,
}

fn list_kind(property: Option<&Value>) -> ListKind<'_> {
    let property = property.unwrap_or(&Value::Null);
    match property.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys = property.get("x-kubernetes-list-map-keys").and_then(Value::as_array);
            ListKind::Map(keys.into_iter().flatten().filter_map(Value::as_str).collect())
        }
        Some("set") => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Whether a map or struct is replaced whole rather than merged field by field.
fn atomic(schemas: &Schemas, property: Option<&Value>) -> bool {
    let Some(property) = property else { return false };
    let resolved = schemas.resolve(property);
    [property, resolved].iter().any(|s| s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"))
}

/// The element naming a keyed list's item: `k:{"port":80,"protocol":"TCP"}`, a key the item
/// leaves out taking its schema's default.
pub fn key_element(schemas: &Schemas, item_schema: Option<&Value>, item: &Value, keys: &[&str]) -> String {
    let mut fields = Map::new();
    for key in keys {
        let default = || item_schema.and_then(|s| schemas.property(s, key)).and_then(|p| p.get("default")).cloned();
        if let Some(v) = item.get(*key).cloned().or_else(default) {
            fields.insert((*key).to_string(), v);
        }
    }
    format!("k:{}", Value::Object(fields))
}

impl FieldSet {
    fn leaf() -> FieldSet {
        FieldSet { member: true, children: BTreeMap::new() }
    }

    pub fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    /// The fields `value` sets, by `schema`.
    pub fn of(schemas: &Schemas, schema: Option<&Value>, value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        let schema = schema.map(|s| schemas.resolve(s));
        let Value::Object(fields) = value else { return FieldSet::leaf() };
        let properties = schema.and_then(|s| s.get("properties")).and_then(Value::as_object);
        for (name, field) in fields {
            let property = match properties {
                Some(p) => p.get(name),
                None => schema.and_then(|s| schemas.values(s)),
            };
            set.children.insert(format!("f:{name}"), FieldSet::of_field(schemas, property, field));
        }
        // A granular map (labels) is a member itself; a struct is only its fields.
        if properties.is_none() && !fields.is_empty() {
            set.member = true;
        }
        if fields.is_empty() {
            set.member = true;
        }
        set
    }

    fn of_field(schemas: &Schemas, property: Option<&Value>, value: &Value) -> FieldSet {
        match value {
            Value::Object(_) if atomic(schemas, property) => FieldSet::leaf(),
            Value::Object(_) => FieldSet::of(schemas, property, value),
            Value::Array(items) => match list_kind(property) {
                ListKind::Map(keys) if !keys.is_empty() => {
                    let item_schema = property.and_then(|p| schemas.items(p));
                    let mut set = FieldSet::default();
                    for item in items {
                        let mut child = FieldSet::of(schemas, item_schema, item);
                        child.member = true;
                        set.children.insert(key_element(schemas, item_schema, item, &keys), child);
                    }
                    set.member = items.is_empty();
                    set
                }
                ListKind::Set => {
                    let mut set = FieldSet { member: items.is_empty(), children: BTreeMap::new() };
                    for item in items {
                        set.children.insert(format!("v:{item}"), FieldSet::leaf());
                    }
                    set
                }
                _ => FieldSet::leaf(),
            },
            _ => FieldSet::leaf(),
        }
    }

    /// Everything in either.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (k, v) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(v),
                None => v.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    /// What is in `self` and not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && !other.member, children: BTreeMap::new() };
        for (k, v) in &self.children {
            let rest = match other.children.get(k) {
                Some(theirs) => v.difference(theirs),
                None => v.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(k.clone(), rest);
            }
        }
        out
    }

    /// What is in both.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet { member: self.member && other.member, children: BTreeMap::new() };
        for (k, v) in &self.children {
            if let Some(theirs) = other.children.get(k) {
                let both = v.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(k.clone(), both);
                }
            }
        }
        out
    }

    /// Every path in the set, as lists of elements.
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.member && !prefix.is_empty() {
            out.push(prefix.clone());
        }
        for (k, v) in &self.children {
            prefix.push(k.clone());
            v.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The set in `FieldsV1` form.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, v) in &self.children {
            map.insert(k.clone(), v.to_fields_v1());
        }
        Value::Object(map)
    }

    /// A set from its `FieldsV1` form.
    pub fn from_fields_v1(value: &Value) -> FieldSet {
        let Value::Object(map) = value else { return FieldSet::default() };
        let mut set = FieldSet { member: map.is_empty() || map.contains_key("."), children: BTreeMap::new() };
        for (k, v) in map.iter().filter(|(k, _)| *k != ".") {
            set.children.insert(k.clone(), FieldSet::from_fields_v1(v));
        }
        set
    }
}

/// Gives the items of keyed lists the defaults of the keys they leave out (a port's `protocol`),
/// so that an item is named the same before and after defaulting.
pub fn fill_key_defaults(schemas: &Schemas, schema: Option<&Value>, value: &mut Value) {
    let schema = schema.map(|s| schemas.resolve(s));
    let Value::Object(fields) = value else { return };
    let properties = schema.and_then(|s| s.get("properties")).and_then(Value::as_object);
    for (name, field) in fields.iter_mut() {
        let property = match properties {
            Some(p) => p.get(name),
            None => schema.and_then(|s| schemas.values(s)),
        };
        match field {
            Value::Object(_) => fill_key_defaults(schemas, property, field),
            Value::Array(items) => {
                let item_schema = property.and_then(|p| schemas.items(p));
                let keys = match list_kind(property) {
                    ListKind::Map(keys) => keys,
                    _ => vec![],
                };
                for item in items.iter_mut() {
                    for key in &keys {
                        let default = item_schema.and_then(|s| schemas.property(s, key)).and_then(|p| p.get("default"));
                        if let (Some(default), Some(map)) = (default, item.as_object_mut()) {
                            map.entry(key.to_string()).or_insert_with(|| default.clone());
                        }
                    }
                    fill_key_defaults(schemas, item_schema, item);
                }
            }
            _ => {}
        }
    }
}

/// A path as server-side apply names it in conflicts: `.spec.ports[port=80,protocol="TCP"].targetPort`.
pub fn display(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(keys) = element.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
            let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

/// The value at a path of an object, if it has one.
pub fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut at = value;
    for element in path {
        at = step(at, element)?;
    }
    Some(at)
}

fn step<'a>(value: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.get(name);
    }
    let items = value.as_array()?;
    if let Some(keys) = element.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(keys).ok()?;
        return items.iter().find(|item| keys.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    let wanted: Value = serde_json::from_str(element.strip_prefix("v:")?).ok()?;
    items.iter().find(|item| **item == wanted)
}

/// Removes the field at a path from an object (a keyed item or a set's value from its list).
pub fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = value;
    for element in parents {
        let next = if let Some(name) = element.strip_prefix("f:") {
            at.get_mut(name)
        } else if let Some(keys) = element.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
            at.as_array_mut().and_then(|items| items.iter_mut().find(|i| keys.iter().all(|(k, v)| i.get(k) == Some(v))))
        } else {
            None
        };
        match next {
            Some(n) => at = n,
            None => return,
        }
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(map) = at.as_object_mut() {
            map.remove(name);
        }
    } else if let Some(keys) = last.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
        if let Some(items) = at.as_array_mut() {
            items.retain(|i| !keys.iter().all(|(k, v)| i.get(k) == Some(v)));
        }
    } else if let Some(value) = last.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(value).unwrap_or(Value::Null);
        if let Some(items) = at.as_array_mut() {
            items.retain(|i| *i != wanted);
        }
    }
}

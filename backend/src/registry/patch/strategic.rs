//! Strategic merge patch (`application/strategic-merge-patch+json`), as apimachinery's
//! `strategicpatch` applies it: a JSON merge patch in which lists named by the schema merge by
//! key (`containers` by `name`, Service `ports` by `port`…) or as sets, with the directives
//! `$patch` (`replace`, `delete`, `merge`), `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>`. Lists the schema does not name are replaced whole.

use crate::openapi::Schemas;
use serde_json::{Map, Value};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Why a patch cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicError {
    #[error("unknown patch type: {0}")]
    UnknownDirective(String),
    #[error("cannot find merge key {key} in {item}")]
    MissingMergeKey { key: String, item: String },
    #[error("invalid patch: {0}")]
    Invalid(String),
}

/// How a list field merges, from its schema's `x-kubernetes-patch-*` extensions.
pub(super) struct ListStrategy<'a> {
    pub(super) merge: bool,
    pub(super) merge_key: Option<&'a str>,
}

pub(super) fn list_strategy(property: Option<&Value>) -> ListStrategy<'_> {
    let strategy =
        property.and_then(|p| p.get("x-kubernetes-patch-strategy")).and_then(Value::as_str).unwrap_or_default();
    ListStrategy {
        merge: strategy.split(',').any(|s| s == "merge"),
        merge_key: property.and_then(|p| p.get("x-kubernetes-patch-merge-key")).and_then(Value::as_str),
    }
}

/// Applies `patch` to `original`, an object whose schema is `schema`.
pub fn apply(schemas: &Schemas, schema: &Value, original: &mut Value, patch: &Value) -> Result<(), StrategicError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicError::Invalid("a strategic merge patch must be a JSON object".into()));
    };
    match original {
        Value::Object(map) => merge_map(schemas, Some(schema), map, patch),
        _ => {
            let mut fresh = Map::new();
            merge_map(schemas, Some(schema), &mut fresh, patch)?;
            *original = Value::Object(fresh);
            Ok(())
        }
    }
}

fn merge_map(
    schemas: &Schemas,
    schema: Option<&Value>,
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<(), StrategicError> {
    match patch.get(PATCH).map(|d| d.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => {
            *original = strip_directives(patch);
            return Ok(());
        }
        Some(Some("delete")) => {
            original.clear();
            return Ok(());
        }
        Some(other) => return Err(StrategicError::UnknownDirective(format!("{other:?}"))),
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let keep: Vec<&str> = retain.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if key == PATCH || key == RETAIN_KEYS {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let remove: Vec<&Value> = value.as_array().into_iter().flatten().collect();
            if let Some(Value::Array(list)) = original.get_mut(field) {
                list.retain(|v| !remove.contains(&v));
            }
            continue;
        }
        if key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if key.starts_with('$') {
            return Err(StrategicError::UnknownDirective(key.clone()));
        }
        let property = schema.and_then(|s| schemas.property(s, key));
        match value {
            Value::Null => {
                original.remove(key);
            }
            Value::Object(sub) => {
                let sub_schema = property.map(|p| schemas.resolve(p));
                // A map of values (labels) merges like an object; its values have no schema.
                let sub_schema = sub_schema.filter(|s| s.get("properties").is_some());
                match original.get_mut(key) {
                    Some(Value::Object(existing)) => merge_map(schemas, sub_schema, existing, sub)?,
                    _ => {
                        let mut fresh = Map::new();
                        merge_map(schemas, sub_schema, &mut fresh, sub)?;
                        original.insert(key.clone(), Value::Object(fresh));
                    }
                }
                if sub.get(PATCH).and_then(Value::as_str) == Some("delete") {
                    original.remove(key);
                }
            }
            Value::Array(items) => {
                let strategy = list_strategy(property);
                let item_schema = property.and_then(|p| schemas.items(p));
                let merged = match (original.remove(key), strategy.merge) {
                    (existing, true) => {
                        let existing = match existing {
                            Some(Value::Array(list)) => list,
                            _ => Vec::new(),
                        };
                        merge_list(schemas, item_schema, existing, items, strategy.merge_key)?
                    }
                    (_, false) => items.iter().map(strip_value).collect(),
                };
                original.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                original.insert(key.clone(), scalar.clone());
            }
        }
    }
    // Reorder lists as `$setElementOrder/<list>` says, whether or not the list itself changed.
    for (key, order) in patch {
        let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) else { continue };
        let property = schema.and_then(|s| schemas.property(s, field));
        let merge_key = list_strategy(property).merge_key;
        if let (Some(Value::Array(list)), Some(order)) = (original.get_mut(field), order.as_array()) {
            reorder(list, order, merge_key);
        }
    }
    Ok(())
}

/// Merges a patch's list into the original one: items with a merge key update or delete the
/// item with the same key, or are appended; scalars are added as to a set.
fn merge_list(
    schemas: &Schemas,
    item_schema: Option<&Value>,
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, StrategicError> {
    let Some(key) = merge_key else {
        // A set of scalars: add what is new.
        for item in patch {
            if !original.contains(item) {
                original.push(item.clone());
            }
        }
        return Ok(original);
    };
    if patch
        .iter()
        .any(|i| i.get(PATCH).and_then(Value::as_str) == Some("replace") && i.as_object().is_some_and(|m| m.len() == 1))
    {
        return Ok(patch
            .iter()
            .filter(|i| !(i.get(PATCH).is_some() && i.as_object().is_some_and(|m| m.len() == 1)))
            .map(strip_value)
            .collect());
    }
    for item in patch {
        let Value::Object(fields) = item else {
            return Err(StrategicError::Invalid(format!("a list merged by {key} holds objects, not {item}")));
        };
        let Some(id) = fields.get(key) else {
            return Err(StrategicError::MissingMergeKey { key: key.to_string(), item: item.to_string() });
        };
        let position = original.iter().position(|o| o.get(key) == Some(id));
        match fields.get(PATCH).and_then(Value::as_str) {
            Some("delete") => {
                original.retain(|o| o.get(key) != Some(id));
            }
            Some("replace") => {
                let replacement = strip_value(item);
                match position {
                    Some(i) => original[i] = replacement,
                    None => original.push(replacement),
                }
            }
            Some("merge") | None => match position {
                Some(i) => {
                    if let Value::Object(existing) = &mut original[i] {
                        merge_map(schemas, item_schema, existing, fields)?;
                    }
                }
                None => {
                    let mut fresh = Map::new();
                    merge_map(schemas, item_schema, &mut fresh, fields)?;
                    original.push(Value::Object(fresh));
                }
            },
            Some(other) => return Err(StrategicError::UnknownDirective(other.to_string())),
        }
    }
    Ok(original)
}

/// Puts the items `order` names in its order; each other item (the server's own) stays right
/// after the item it followed.
fn reorder(list: &mut Vec<Value>, order: &[Value], merge_key: Option<&str>) {
    let id = |v: &Value| match merge_key {
        Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
        None => v.clone(),
    };
    let wanted: Vec<Value> = order.iter().map(id).collect();
    let mut last_rank: Option<usize> = None;
    let mut keyed: Vec<((Option<usize>, usize), Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, item)| match wanted.iter().position(|w| *w == id(&item)) {
            Some(rank) => {
                last_rank = Some(rank);
                ((Some(rank), 0), item)
            }
            None => ((last_rank, i + 1), item),
        })
        .collect();
    keyed.sort_by_key(|(key, _)| *key);
    *list = keyed.into_iter().map(|(_, item)| item).collect();
}

/// A patch value with its directives removed, for where it replaces what was there.
fn strip_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_directives(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), strip_value(v))).collect()
}

#[cfg(test)]
mod tests;

//! Who set which field: `metadata.managedFields`, kept as kube-apiserver's field manager keeps
//! it for the writes that come through the API. An ordinary write (create, update, patch) makes
//! its manager (`?fieldManager=`, or the client's name) the owner of the fields it changed;
//! server-side apply (`application/apply-patch+yaml`) makes its manager the owner of exactly the
//! fields it applies, merges them into the object ([`merge`]), removes the fields the manager
//! applied before and no longer does (when nobody else owns them), and refuses to change a field
//! another manager owns unless forced. Field paths are kept in `FieldsV1` form ([`fieldset`]).

pub mod fieldset;
mod merge;

use crate::openapi::Schemas;
use fieldset::FieldSet;
use serde_json::{Map, Value, json};

/// Metadata the server keeps for itself: nobody manages it.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// One entry of `managedFields`.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    fields: FieldSet,
}

impl Entry {
    fn from_value(value: &Value) -> Option<Entry> {
        Some(Entry {
            manager: value.get("manager")?.as_str()?.to_string(),
            operation: value.get("operation").and_then(Value::as_str).unwrap_or("Update").to_string(),
            api_version: value.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
            time: value.get("time").and_then(Value::as_str).unwrap_or_default().to_string(),
            fields: FieldSet::from_fields_v1(value.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }

    fn to_value(&self) -> Value {
        json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        })
    }

    fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation
    }
}

/// A field another manager owns, which an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    /// `.spec.ports[port=80,protocol="TCP"].targetPort`.
    pub field: String,
}

/// What a write is, for field management.
pub struct Writer<'a> {
    pub schemas: &'a Schemas,
    pub schema: &'a Value,
    pub manager: &'a str,
    pub api_version: &'a str,
}

fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or(jiff::Timestamp::now()).to_string()
}

fn entries(object: Option<&Value>) -> Vec<Entry> {
    let list = object.and_then(|o| o.pointer("/metadata/managedFields")).and_then(Value::as_array);
    list.into_iter().flatten().filter_map(Entry::from_value).collect()
}

fn set_entries(object: &mut Value, entries: &[Entry]) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let list: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_value).collect();
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

impl Writer<'_> {
    /// The fields of an object a manager can own: not its type, status or the server's metadata.
    fn owned(&self, object: Option<&Value>) -> FieldSet {
        let Some(Value::Object(fields)) = object else { return FieldSet::default() };
        let mut fields: Map<String, Value> = fields.clone();
        for name in ["apiVersion", "kind", "status"] {
            fields.remove(name);
        }
        if let Some(Value::Object(meta)) = fields.get_mut("metadata") {
            for name in SERVER_METADATA {
                meta.remove(*name);
            }
            if meta.is_empty() {
                fields.remove("metadata");
            }
        }
        FieldSet::of(self.schemas, Some(self.schema), &Value::Object(fields))
    }

    /// Records an ordinary write of `new` over `old` (none for a create): its manager owns what
    /// it changed, nobody owns what it removed.
    pub fn update(&self, old: Option<&Value>, new: &mut Value) {
        let (before, after) = (self.owned(old), self.owned(Some(new)));
        let changed = FieldSet::default();
        let changed = after.paths().into_iter().fold(changed, |mut set, path| {
            let (was, is) = (old.and_then(|o| fieldset::lookup(o, &path)), fieldset::lookup(new, &path));
            // A field changed when its value did; a container (labels, a keyed item) when it appeared.
            let container = is.is_some_and(|v| v.is_object() || v.is_array());
            if (container && was.is_none()) || (!container && was != is) {
                set = set.union(&single(&path));
            }
            set
        });
        let removed = before.difference(&after);
        let mut list = entries(old);
        for entry in &mut list {
            entry.fields = entry.fields.difference(&removed);
            if !entry.is(self.manager, "Update") {
                entry.fields = entry.fields.difference(&changed);
            }
        }
        match list.iter_mut().find(|e| e.is(self.manager, "Update")) {
            Some(mine) => {
                mine.fields = mine.fields.union(&changed);
                if !changed.is_empty() {
                    mine.time = now();
                    mine.api_version = self.api_version.to_string();
                }
            }
            None if !changed.is_empty() => list.push(Entry {
                manager: self.manager.to_string(),
                operation: "Update".into(),
                api_version: self.api_version.to_string(),
                time: now(),
                fields: changed,
            }),
            None => {}
        }
        set_entries(new, &list);
    }

    /// Server-side apply of `applied` over `live` (none: the object is created from it).
    pub fn apply(&self, live: Option<&Value>, applied: &Value, force: bool) -> Result<Value, Vec<Conflict>> {
        let mut applied = applied.clone();
        fieldset::fill_key_defaults(self.schemas, Some(self.schema), &mut applied);
        let applied = &applied;
        let applying = self.owned(Some(applied));
        let mut list = entries(live);
        let mut conflicts = Vec::new();
        if let Some(live) = live {
            for entry in list.iter_mut().filter(|e| !e.is(self.manager, "Apply")) {
                let shared = entry.fields.intersection(&applying);
                let mut taken = FieldSet::default();
                for path in shared.paths() {
                    let (was, is) = (fieldset::lookup(live, &path), fieldset::lookup(applied, &path));
                    let container = is.is_some_and(|v| v.is_object() || v.is_array());
                    if !container && was != is {
                        conflicts.push(Conflict {
                            manager: entry.manager.clone(),
                            api_version: entry.api_version.clone(),
                            field: fieldset::display(&path),
                        });
                        taken = taken.union(&single(&path));
                    }
                }
                if force {
                    entry.fields = entry.fields.difference(&taken);
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflicts);
        }
        let previous = list.iter().find(|e| e.is(self.manager, "Apply")).map(|e| e.fields.clone()).unwrap_or_default();
        let others = list
            .iter()
            .filter(|e| !e.is(self.manager, "Apply"))
            .fold(FieldSet::default(), |all, e| all.union(&e.fields));
        let mut merged = match live {
            Some(live) => merge::merge(self.schemas, Some(self.schema), live, applied),
            None => applied.clone(),
        };
        // What this manager applied before and applies no more goes, unless another owns it.
        for path in previous.difference(&applying).difference(&others).paths() {
            fieldset::remove(&mut merged, &path);
        }
        list.retain(|e| !e.is(self.manager, "Apply"));
        list.push(Entry {
            manager: self.manager.to_string(),
            operation: "Apply".into(),
            api_version: self.api_version.to_string(),
            time: now(),
            fields: applying,
        });
        set_entries(&mut merged, &list);
        Ok(merged)
    }
}

/// The set holding one path.
fn single(path: &[String]) -> FieldSet {
    let mut set = FieldSet { member: true, ..FieldSet::default() };
    for element in path.iter().rev() {
        let mut parent = FieldSet::default();
        parent.children.insert(element.clone(), set);
        set = parent;
    }
    set
}

/// kube-apiserver's message for an apply's conflicts.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {}: {}",
            one.manager, one.api_version, one.field
        ),
        many => {
            let mut by_manager: Vec<(String, Vec<&str>)> = Vec::new();
            for c in many {
                let key = format!("conflicts with \"{}\" using {}", c.manager, c.api_version);
                match by_manager.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, fields)) => fields.push(&c.field),
                    None => by_manager.push((key, vec![&c.field])),
                }
            }
            let parts: Vec<String> = by_manager
                .iter()
                .map(|(k, fields)| {
                    format!("{k}:\n{}", fields.iter().map(|f| format!("- {f}")).collect::<Vec<_>>().join("\n"))
                })
                .collect();
            format!("Apply failed with {} conflicts: {}", many.len(), parts.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests;

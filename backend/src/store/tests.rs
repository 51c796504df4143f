use super::*;
use serde_json::json;

fn pod(name: &str, labels: serde_json::Value) -> Object {
    Object::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels}}))
    .unwrap()
}

#[test]
fn resource_versions_rise_globally_and_updates_check_them() {
    let store = Store::new();
    let a = store.create(pod("a", json!({}))).unwrap();
    let b = store.create(pod("b", json!({}))).unwrap();
    assert_eq!((a.resource_version(), b.resource_version()), (1, 2));
    assert_eq!(store.create(pod("a", json!({}))).unwrap_err(), StoreError::AlreadyExists);

    let mut stale = (*a).clone();
    stale.metadata_mut().labels = Some([("x".to_string(), "1".to_string())].into());
    let fresh = store.update(stale.clone()).unwrap();
    assert_eq!(fresh.resource_version(), 3);
    // `stale` still carries resourceVersion 1: a second writer from that version must conflict.
    assert_eq!(store.update(stale).unwrap_err(), StoreError::Conflict);
    // An update that changes nothing does not bump the version.
    assert_eq!(store.update((*fresh).clone()).unwrap().resource_version(), 3);
    assert_eq!(store.resource_version(), 3);
}

#[test]
fn list_is_scoped_by_namespace() {
    let store = Store::new();
    store.create(pod("a", json!({}))).unwrap();
    let mut other = pod("b", json!({}));
    other.metadata_mut().namespace = Some("other".into());
    store.create(other).unwrap();
    assert_eq!(store.list(Kind::Pod, Some("default")).1.len(), 1);
    assert_eq!(store.list(Kind::Pod, Some("defaul")).1.len(), 0);
    assert_eq!(store.list(Kind::Pod, None).1.len(), 2);
}

#[test]
fn delete_honours_preconditions() {
    let store = Store::new();
    store.create(pod("a", json!({}))).unwrap();
    let key = ObjectKey::new(Kind::Pod, "default", "a");
    assert_eq!(store.delete(&key, Some("7")).unwrap_err(), StoreError::Conflict);
    store.delete(&key, Some("1")).unwrap();
    assert!(store.get(&key).is_none());
    assert_eq!(store.delete(&key, None).unwrap_err(), StoreError::NotFound);
}

#[tokio::test]
async fn watch_lists_then_streams_changes_in_order() {
    let store = Store::new();
    store.create(pod("a", json!({}))).unwrap();
    let mut watch = store.watch();
    store.create(pod("b", json!({}))).unwrap();
    match watch.next().await.unwrap() {
        WatchItem::Relist { resource_version, objects } => {
            // The snapshot already holds b; the change for b must not be delivered again.
            assert_eq!(resource_version, 2);
            assert_eq!(objects.len(), 2);
        }
        other => panic!("expected a relist first, got {other:?}"),
    }
    store.delete(&ObjectKey::new(Kind::Pod, "default", "a"), None).unwrap();
    match watch.next().await.unwrap() {
        WatchItem::Change(c) => {
            assert_eq!((c.change, c.object.name(), c.resource_version), (ChangeType::Deleted, "a", 3));
        }
        other => panic!("expected the deletion, got {other:?}"),
    }
    assert!(watch.try_next().is_none());
}

#[tokio::test]
async fn a_lagging_watcher_relists_instead_of_skipping() {
    let store = Store::with_watch_buffer(4);
    let mut watch = store.watch();
    assert!(matches!(watch.next().await, Some(WatchItem::Relist { .. })));
    for i in 0..10 {
        store.create(pod(&format!("p{i}"), json!({}))).unwrap();
    }
    match watch.next().await.unwrap() {
        WatchItem::Relist { resource_version, objects } => {
            assert_eq!((resource_version, objects.len()), (10, 10));
        }
        other => panic!("a watcher that fell behind must relist, got {other:?}"),
    }
    store.create(pod("late", json!({}))).unwrap();
    assert!(matches!(watch.next().await, Some(WatchItem::Change(c)) if c.object.name() == "late"));
}

#[test]
fn select_uses_the_label_index_and_follows_label_changes() {
    use k8s_openapi::api::core::v1::Pod;
    use svclab_shared::selector::Selector;
    let store = Store::new();
    store.create(pod("a", json!({"app": "kubia", "tier": "web"}))).unwrap();
    store.create(pod("b", json!({"app": "kubia"}))).unwrap();
    store.create(pod("c", json!({"app": "other"}))).unwrap();
    let names = |sel: &str| -> Vec<String> {
        let selected = store.select::<Pod>("default", &Selector::parse(sel).unwrap());
        selected.iter().map(|p| p.metadata.name.clone().unwrap()).collect()
    };
    assert_eq!(names("app=kubia"), ["a", "b"]);
    assert_eq!(names("app=kubia,tier=web"), ["a"]);
    assert_eq!(names("app=nothing"), Vec::<String>::new());
    assert_eq!(names("tier"), ["a"], "no equality term: a scan");
    let mut relabelled = (*store.get(&ObjectKey::new(Kind::Pod, "default", "b")).unwrap()).clone();
    relabelled.metadata_mut().labels = Some([("app".to_string(), "other".to_string())].into());
    store.update(relabelled).unwrap();
    assert_eq!(names("app=kubia"), ["a"]);
    assert_eq!(names("app=other"), ["b", "c"]);
    store.delete(&ObjectKey::new(Kind::Pod, "default", "c"), None).unwrap();
    assert_eq!(names("app=other"), ["b"]);
}

#[tokio::test]
async fn a_watch_resumes_after_a_resource_version_it_was_given() {
    let store = Store::new();
    store.create(pod("a", json!({}))).unwrap();
    let b = store.create(pod("b", json!({}))).unwrap();
    store.create(pod("c", json!({}))).unwrap();
    let mut watch = store.watch_from(b.resource_version()).unwrap();
    store.create(pod("d", json!({}))).unwrap();
    let mut names = Vec::new();
    for _ in 0..2 {
        match watch.next().await.unwrap() {
            WatchItem::Change(c) => names.push(c.object.name().to_string()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(names, ["c", "d"], "the change already made, then the new one");
    assert!(watch.try_next().is_none());
    // From the current version: nothing yet.
    assert!(store.watch_from(store.resource_version()).unwrap().try_next().is_none());
}

#[test]
fn changes_older_than_the_history_cannot_be_watched_from() {
    let store = Store::new();
    for i in 0..(HISTORY + 10) {
        store.create(pod(&format!("p{i}"), json!({}))).unwrap();
    }
    let oldest = store.watch_from(3).err().expect("too old");
    assert_eq!(oldest, 10, "the changes after 10 are the oldest kept");
    assert!(store.watch_from(10).is_ok());
}

#[test]
fn a_kind_snapshot_keeps_its_version() {
    let store = Store::new();
    store.create(pod("a", json!({}))).unwrap();
    let (rv, snapshot) = store.kind_snapshot(Kind::Pod);
    store.create(pod("b", json!({}))).unwrap();
    store.delete(&ObjectKey::new(Kind::Pod, "default", "a"), None).unwrap();
    assert_eq!(rv, 1);
    let names: Vec<&str> = snapshot.values().map(|o| o.name()).collect();
    assert_eq!(names, ["a"]);
    assert_eq!(store.kind_snapshot(Kind::Pod).1.len(), 1);
}

//! The store's contract: every test runs on the in-memory store and on the SQLite one.

use super::*;
use serde_json::json;

/// A store for one test, with the directory a durable one lives in.
struct Fixture {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Fixture {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

type Open = fn(usize) -> Fixture;

fn memory(buffer: usize) -> Fixture {
    Fixture { store: Store::with_watch_buffer(buffer), _dir: None }
}

fn sqlite(buffer: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::new(dir.path(), "test").unwrap();
    Fixture { store: Store::open_with_watch_buffer(&location, buffer).unwrap(), _dir: Some(dir) }
}

fn pod(name: &str, labels: serde_json::Value) -> Object {
    Object::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels}}))
    .unwrap()
}

fn resource_versions_rise_globally_and_updates_check_them(open: Open) {
    let store = open(WATCH_BUFFER);
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

fn list_is_scoped_by_namespace(open: Open) {
    let store = open(WATCH_BUFFER);
    store.create(pod("a", json!({}))).unwrap();
    let mut other = pod("b", json!({}));
    other.metadata_mut().namespace = Some("other".into());
    store.create(other).unwrap();
    assert_eq!(store.list(Kind::Pod, Some("default")).1.len(), 1);
    assert_eq!(store.list(Kind::Pod, Some("defaul")).1.len(), 0);
    assert_eq!(store.list(Kind::Pod, None).1.len(), 2);
}

fn delete_honours_preconditions(open: Open) {
    let store = open(WATCH_BUFFER);
    store.create(pod("a", json!({}))).unwrap();
    let key = ObjectKey::new(Kind::Pod, "default", "a");
    assert_eq!(store.delete(&key, Some("7")).unwrap_err(), StoreError::Conflict);
    store.delete(&key, Some("1")).unwrap();
    assert!(store.get(&key).is_none());
    assert_eq!(store.delete(&key, None).unwrap_err(), StoreError::NotFound);
}

async fn watch_lists_then_streams_changes_in_order(open: Open) {
    let store = open(WATCH_BUFFER);
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

async fn a_lagging_watcher_relists_instead_of_skipping(open: Open) {
    let store = open(4);
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

fn select_uses_the_label_index_and_follows_label_changes(open: Open) {
    use k8s_openapi::api::core::v1::Pod;
    use svclab_shared::selector::Selector;
    let store = open(WATCH_BUFFER);
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

async fn a_watch_resumes_after_a_resource_version_it_was_given(open: Open) {
    let store = open(WATCH_BUFFER);
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

fn changes_older_than_the_history_cannot_be_watched_from(open: Open) {
    // The history is the same code on both stores; 16,000 commits are slow to wait for.
    let _ = open;
    let open = memory;
    let store = open(WATCH_BUFFER);
    for i in 0..(HISTORY + 10) {
        store.create(pod(&format!("p{i}"), json!({}))).unwrap();
    }
    let oldest = store.watch_from(3).err().expect("too old");
    assert_eq!(oldest, 10, "the changes after 10 are the oldest kept");
    assert!(store.watch_from(10).is_ok());
}

fn a_kind_snapshot_keeps_its_version(open: Open) {
    let store = open(WATCH_BUFFER);
    store.create(pod("a", json!({}))).unwrap();
    let (rv, snapshot) = store.kind_snapshot(Kind::Pod);
    store.create(pod("b", json!({}))).unwrap();
    store.delete(&ObjectKey::new(Kind::Pod, "default", "a"), None).unwrap();
    assert_eq!(rv, 1);
    let names: Vec<&str> = snapshot.values().map(|o| o.name()).collect();
    assert_eq!(names, ["a"]);
    assert_eq!(store.kind_snapshot(Kind::Pod).1.len(), 1);
}

macro_rules! on_each_store {
    ($($backend:ident),*) => {$(
        mod $backend {
            #[test]
            fn resource_versions_rise_globally_and_updates_check_them() {
                super::resource_versions_rise_globally_and_updates_check_them(super::$backend)
            }
            #[test]
            fn list_is_scoped_by_namespace() {
                super::list_is_scoped_by_namespace(super::$backend)
            }
            #[test]
            fn delete_honours_preconditions() {
                super::delete_honours_preconditions(super::$backend)
            }
            #[test]
            fn select_uses_the_label_index_and_follows_label_changes() {
                super::select_uses_the_label_index_and_follows_label_changes(super::$backend)
            }
            #[test]
            fn a_kind_snapshot_keeps_its_version() {
                super::a_kind_snapshot_keeps_its_version(super::$backend)
            }
            #[tokio::test]
            async fn watch_lists_then_streams_changes_in_order() {
                super::watch_lists_then_streams_changes_in_order(super::$backend).await
            }
            #[tokio::test]
            async fn a_lagging_watcher_relists_instead_of_skipping() {
                super::a_lagging_watcher_relists_instead_of_skipping(super::$backend).await
            }
            #[tokio::test]
            async fn a_watch_resumes_after_a_resource_version_it_was_given() {
                super::a_watch_resumes_after_a_resource_version_it_was_given(super::$backend).await
            }
        }
    )*};
}

on_each_store!(memory, sqlite);

#[test]
fn the_history_window_is_bounded() {
    changes_older_than_the_history_cannot_be_watched_from(memory)
}

/// The durable store's own promises: what was acknowledged survives a reopen, and nothing else.
mod durability {
    use super::*;
    use crate::store::durable::{self, Location, OpenError};

    fn location(dir: &tempfile::TempDir) -> Location {
        Location::new(dir.path(), "lab").unwrap()
    }

    #[test]
    fn a_reopened_store_holds_what_was_acknowledged_and_continues_its_resource_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&location(&dir)).unwrap();
        store.create(pod("a", json!({"app": "kubia"}))).unwrap();
        let b = store.create(pod("b", json!({}))).unwrap();
        let mut changed = (*b).clone();
        changed.metadata_mut().labels = Some([("app".to_string(), "kubia".to_string())].into());
        store.update(changed).unwrap();
        store.create(pod("c", json!({}))).unwrap();
        store.delete(&ObjectKey::new(Kind::Pod, "default", "c"), None).unwrap();
        // Refused writes leave nothing behind.
        assert_eq!(store.create(pod("a", json!({}))).unwrap_err(), StoreError::AlreadyExists);
        assert_eq!(store.update(pod("zz", json!({}))).unwrap_err(), StoreError::NotFound);
        let rv = store.resource_version();
        assert_eq!(rv, 5);
        store.close();
        assert!(matches!(store.create(pod("late", json!({}))), Err(StoreError::Unavailable(_))));

        let store = Store::open(&location(&dir)).unwrap();
        assert_eq!(store.resource_version(), rv, "the deletion's resourceVersion is kept too");
        let names: Vec<String> = store.list(Kind::Pod, None).1.iter().map(|o| o.name().to_string()).collect();
        assert_eq!(names, ["a", "b"]);
        let b = store.get(&ObjectKey::new(Kind::Pod, "default", "b")).unwrap();
        assert_eq!(b.resource_version(), 3);
        assert_eq!(b.metadata().labels.as_ref().unwrap()["app"], "kubia");
        // The label index is rebuilt.
        let selected = store.select::<k8s_openapi::api::core::v1::Pod>(
            "default",
            &svclab_shared::selector::Selector::parse("app=kubia").unwrap(),
        );
        assert_eq!(selected.len(), 2);
        assert_eq!(store.create(pod("d", json!({}))).unwrap().resource_version(), rv + 1);
    }

    #[test]
    fn a_second_svclab_on_the_same_cluster_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(&location(&dir)).unwrap();
        let err = Store::open(&location(&dir)).err().expect("locked");
        assert!(matches!(err, OpenError::Locked { .. }));
        let message = err.to_string();
        assert!(message.contains("the cluster \"lab\""), "{message}");
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        // Another name is another cluster.
        Store::open(&Location::new(dir.path(), "other").unwrap()).unwrap().close();
        first.close();
        Store::open(&location(&dir)).unwrap().close();
    }

    #[test]
    fn names_that_are_not_plain_file_names_are_refused() {
        for bad in ["", "../etc", "a/b", ".hidden", "sp ace"] {
            assert!(matches!(Location::new("/tmp", bad), Err(OpenError::BadName(_))), "{bad:?}");
        }
        assert!(Location::new("/tmp", "my-lab_2.test").is_ok());
    }

    #[test]
    fn a_newer_format_is_refused_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let loc = location(&dir);
        Store::open(&loc).unwrap().close();
        let conn = rusqlite::Connection::open(loc.database()).unwrap();
        conn.pragma_update(None, "user_version", durable::SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        let message = Store::open(&loc).err().expect("newer").to_string();
        let want = format!(
            "format {}, written by a newer svclab; this svclab reads formats up to {}",
            durable::SCHEMA_VERSION + 1,
            durable::SCHEMA_VERSION
        );
        assert!(message.contains(&want), "{message}");
    }

    #[test]
    fn an_older_format_is_migrated_step_by_step_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        // A database at format 1, then a svclab that knows a format 2.
        assert_eq!(durable::migrate(&mut conn, &path, &durable::MIGRATIONS[..1]).unwrap(), 0);
        conn.execute("INSERT INTO objects VALUES ('v1/Pod', 'default', 'a', 1, '{}')", []).unwrap();
        let two = [durable::MIGRATIONS[0], "ALTER TABLE objects ADD COLUMN note TEXT NOT NULL DEFAULT 'moved'"];
        assert_eq!(durable::migrate(&mut conn, &path, &two).unwrap(), 1);
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        let note: String = conn.query_row("SELECT note FROM objects WHERE name = 'a'", [], |r| r.get(0)).unwrap();
        assert_eq!((version, note.as_str()), (2, "moved"));
    }

    #[test]
    fn concurrent_writers_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&location(&dir)).unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        store.create(pod(&format!("w{w}-{i}"), json!({}))).unwrap();
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        let commits = store.commits().unwrap();
        assert!(commits < 800, "800 writes from 8 writers took {commits} commits");
        store.close();
        assert_eq!(Store::open(&location(&dir)).unwrap().list(Kind::Pod, None).1.len(), 800);
    }

    #[test]
    fn reset_deletes_the_files_but_not_while_the_cluster_runs() {
        let dir = tempfile::tempdir().unwrap();
        let loc = location(&dir);
        let store = Store::open(&loc).unwrap();
        store.create(pod("a", json!({}))).unwrap();
        assert!(matches!(durable::reset(&loc), Err(OpenError::Locked { .. })));
        store.close();
        let deleted = durable::reset(&loc).unwrap();
        assert!(deleted.iter().any(|(p, _)| *p == loc.database()), "{deleted:?}");
        assert!(loc.files().is_empty(), "{:?}", loc.files());
        assert!(Store::open(&loc).unwrap().is_empty());
    }
}

//! The store's durable log: one SQLite database per cluster (WAL, `synchronous=FULL`) that every
//! change is committed to before the write returns or any watcher sees it, as etcd is to
//! kube-apiserver and kine's SQLite is to k3s. One committer thread owns the connection; writers
//! hand it their changes in resourceVersion order and wait, so changes that arrive while a commit
//! is on disk share the next one (group commit). A lock file keeps a second svclab off the same
//! cluster; the database's `user_version` records its format, migrated forward on open.

use super::{Change, ChangeType, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use svclab_shared::{Kind, Object};

/// The format this svclab writes. Each entry of [`MIGRATIONS`] brings a database one version
/// forward; version 0 is an empty file.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The migrations, oldest first: `MIGRATIONS[i]` turns format `i` into `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: objects by kind, namespace and name, as the API serves them (JSON), and the cluster's
    // resourceVersion (deletions leave no row, so it cannot be read off the objects).
    "CREATE TABLE objects (
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        resource_version INTEGER NOT NULL,
        object BLOB NOT NULL,
        PRIMARY KEY (kind, namespace, name)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('resource_version', 0);",
];

/// How many changes one commit carries at most.
const MAX_BATCH: usize = 4096;

/// Where a cluster's data lives: `<dir>/<name>.db` (with SQLite's `-wal` and `-shm` beside
/// it) and `<dir>/<name>.lock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub dir: PathBuf,
    pub name: String,
}

impl Location {
    /// A cluster name is a file name here: letters, digits, `.`, `_` and `-`, not starting with `.`.
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Result<Self, OpenError> {
        let fine = !name.is_empty()
            && name.len() <= 200
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !fine {
            return Err(OpenError::BadName(name.to_string()));
        }
        Ok(Location { dir: dir.into(), name: name.to_string() })
    }

    /// The platform's data directory for svclab (`~/.local/share/svclab` on Linux).
    pub fn default_dir() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("svclab"))
    }

    pub fn database(&self) -> PathBuf {
        self.dir.join(format!("{}.db", self.name))
    }

    /// The key that signs the cluster's service account tokens (`<dir>/<name>.sa.key`, as
    /// kube-apiserver reads its `--service-account-key-file`).
    pub fn service_account_key(&self) -> PathBuf {
        self.dir.join(format!("{}.sa.key", self.name))
    }

    /// The cluster CA's certificate and key (`<dir>/<name>.ca.crt`, `<dir>/<name>.ca.key`).
    pub fn cluster_ca(&self) -> (PathBuf, PathBuf) {
        (self.dir.join(format!("{}.ca.crt", self.name)), self.dir.join(format!("{}.ca.key", self.name)))
    }

    fn lock_file(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    /// The files that hold the cluster, those that exist, with their sizes.
    pub fn files(&self) -> Vec<(PathBuf, u64)> {
        let db = self.database().into_os_string();
        let with = |suffix: &str| {
            let mut p = db.clone();
            p.push(suffix);
            PathBuf::from(p)
        };
        let (ca_cert, ca_key) = self.cluster_ca();
        [self.database(), with("-wal"), with("-shm"), self.service_account_key(), ca_cert, ca_key, self.lock_file()]
            .into_iter()
            .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.len())))
            .collect()
    }
}

/// Writes a new file only its owner may read (a signing key), and syncs it.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid cluster name {0:?}: use letters, digits, '.', '_' and '-' (it names the cluster's files)")]
    BadName(String),
    #[error(
        "the cluster \"{name}\" ({path}) is in use by another svclab{pid}; stop that one first, or start this one with another --name, or with --ephemeral"
    )]
    Locked { name: String, path: String, pid: String },
    #[error(
        "{path} holds database format {found}, written by a newer svclab; this svclab reads formats up to {supported}. Use the newer svclab, or another --name"
    )]
    Newer { path: String, found: u32, supported: u32 },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
}

/// What a database held when it was opened.
pub struct Loaded {
    pub resource_version: u64,
    pub objects: Vec<Object>,
}

/// An open database and the lock that makes it this process's.
pub struct Database {
    conn: Connection,
    path: PathBuf,
    /// Held for as long as the database is open; the OS releases it if the process dies.
    _lock: File,
}

/// How a kind is named in the database: `apps/v1/Deployment`, `v1/Pod`.
fn kind_id(kind: Kind) -> String {
    format!("{}/{}", kind.api_version(), kind.name())
}

fn kind_of_id(id: &str) -> Option<Kind> {
    let (api_version, name) = id.rsplit_once('/')?;
    Kind::from_type(api_version, name)
}

/// Takes the cluster's lock, or says who holds it.
fn lock(location: &Location) -> Result<File, OpenError> {
    let path = location.lock_file();
    let io = |source| OpenError::Io { path: path.display().to_string(), source };
    let mut file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(OpenError::Locked {
                name: location.name.clone(),
                path: location.database().display().to_string(),
                pid: if pid.is_empty() { String::new() } else { format!(" (pid {pid})") },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id())).map_err(io)?;
    Ok(file)
}

/// Brings a database to the latest of `migrations`, each step in its own transaction; refuses
/// one written by a newer svclab.
pub fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<u32, OpenError> {
    let sqlite = |source| OpenError::Sqlite { path: path.display().to_string(), source };
    let supported = migrations.len() as u32;
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
    if found > supported {
        return Err(OpenError::Newer { path: path.display().to_string(), found, supported });
    }
    for (from, sql) in migrations.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(sqlite)?;
        tx.execute_batch(sql).map_err(sqlite)?;
        tx.pragma_update(None, "user_version", from as u32 + 1).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        if found > 0 {
            tracing::info!(path = %path.display(), from, to = from + 1, "migrated the cluster's database");
        }
    }
    Ok(found)
}

impl Database {
    /// Locks, opens (creating the directory and file), migrates and loads a cluster.
    pub fn open(location: &Location) -> Result<(Database, Loaded), OpenError> {
        let dir = location.dir.display().to_string();
        std::fs::create_dir_all(&location.dir).map_err(|source| OpenError::Io { path: dir, source })?;
        let lock = lock(location)?;
        let path = location.database();
        let sqlite = |source| OpenError::Sqlite { path: path.display().to_string(), source };
        let mut conn = Connection::open(&path).map_err(sqlite)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
        // Every commit reaches the disk before the write is acknowledged.
        conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
        migrate(&mut conn, &path, MIGRATIONS)?;
        let loaded = load(&conn).map_err(sqlite)?;
        Ok((Database { conn, path, _lock: lock }, loaded))
    }

    /// Writes a batch of changes in one transaction.
    fn write(&mut self, batch: &[Arc<Change>]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO objects (kind, namespace, name, resource_version, object) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, namespace, name) DO UPDATE
                 SET resource_version = excluded.resource_version, object = excluded.object",
            )?;
            let mut remove =
                tx.prepare_cached("DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3")?;
            for change in batch {
                let o = &change.object;
                let kind = kind_id(o.kind());
                match change.change {
                    ChangeType::Added | ChangeType::Modified => {
                        let json =
                            serde_json::to_vec(&**o).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
                        put.execute(params![kind, o.namespace(), o.name(), change.resource_version as i64, json])?;
                    }
                    ChangeType::Deleted => {
                        remove.execute(params![kind, o.namespace(), o.name()])?;
                    }
                }
            }
            let last = batch.last().map_or(0, |c| c.resource_version);
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'resource_version'", [last as i64])?;
        }
        tx.commit()
    }
}

/// Reads every object back. An object this svclab cannot read is left in the database, out of
/// the cluster, with a warning, rather than refusing to start over it.
fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    let rv: Option<i64> =
        conn.query_row("SELECT value FROM meta WHERE key = 'resource_version'", [], |r| r.get(0)).optional()?;
    let mut stmt = conn.prepare("SELECT kind, namespace, name, object FROM objects")?;
    let mut rows = stmt.query([])?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let bytes = row.get_ref(3)?.as_blob_or_null()?.unwrap_or_default();
        let parsed = kind_of_id(&id).ok_or_else(|| format!("unknown kind {id}")).and_then(|kind| {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            Object::deserialize_as(kind, &mut de).map_err(|e| e.to_string())
        });
        match parsed {
            Ok(object) => objects.push(object),
            Err(error) => {
                let (ns, name): (String, String) = (row.get(1)?, row.get(2)?);
                tracing::warn!(kind = %id, namespace = %ns, %name, %error, "a stored object cannot be read; it is left out");
            }
        }
    }
    Ok(Loaded { resource_version: rv.unwrap_or(0).max(0) as u64, objects })
}

/// How far commits have got.
#[derive(Default)]
struct Committed {
    resource_version: u64,
    /// How many transactions have committed.
    commits: u64,
    /// Set when a commit failed or the log closed: nothing is written after it.
    failure: Option<String>,
}

pub struct Progress {
    committed: Mutex<Committed>,
    /// Wakes writers blocked in [`Log::wait`].
    advanced: Condvar,
    /// Wakes tasks awaiting [`Deferred::committed`].
    advanced_async: tokio::sync::watch::Sender<()>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            committed: Mutex::default(),
            advanced: Condvar::new(),
            advanced_async: tokio::sync::watch::Sender::new(()),
        }
    }
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, Committed> {
        self.committed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.advanced.notify_all();
        self.advanced_async.send_replace(());
    }

    /// `Some` once `resource_version` is committed, or can no longer be.
    fn outcome(&self, resource_version: u64) -> Option<Result<(), StoreError>> {
        let committed = self.lock();
        if committed.resource_version >= resource_version {
            return Some(Ok(()));
        }
        committed.failure.as_ref().map(|f| Err(StoreError::Unavailable(f.clone())))
    }
}

thread_local! {
    /// Set while a thread runs work whose commits are awaited later ([`deferring`]).
    static DEFERRED: std::cell::RefCell<Option<Deferred>> = const { std::cell::RefCell::new(None) };
}

/// The commits that work run under [`deferring`] left to wait for.
#[derive(Default)]
pub struct Deferred {
    progress: Option<Arc<Progress>>,
    resource_version: u64,
}

impl Deferred {
    /// Waits, without holding a thread, until every write of the work is committed.
    pub async fn committed(self) -> Result<(), StoreError> {
        let Some(progress) = self.progress else { return Ok(()) };
        let mut advanced = progress.advanced_async.subscribe();
        loop {
            if let Some(outcome) = progress.outcome(self.resource_version) {
                return outcome;
            }
            if advanced.changed().await.is_err() {
                return Err(StoreError::Unavailable("the store is closed".into()));
            }
        }
    }
}

/// Runs `work` on this thread with its durable writes not waiting for their commits: they are
/// queued as usual, and the caller awaits the returned [`Deferred`] before it tells anyone (the
/// API answers only after it). A thread that runs one write after another (a decoder thread)
/// then never sits idle through a commit, and the writes of many requests share commits.
pub fn deferring<T>(work: impl FnOnce() -> T) -> (T, Deferred) {
    /// Puts the thread's previous state back, even if `work` panics.
    struct Restore(Option<Deferred>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            DEFERRED.with(|d| *d.borrow_mut() = outer);
        }
    }
    let outer = DEFERRED.with(|d| d.borrow_mut().replace(Deferred::default()));
    let restore = Restore(outer);
    let out = work();
    let deferred = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (out, deferred)
}

/// Tells watchers about a committed batch (the store's publish, under its lock).
pub type Publish = Box<dyn Fn(Vec<Arc<Change>>) + Send>;

/// The committer thread and what writers use to reach it.
pub struct Log {
    queue: Mutex<Option<mpsc::Sender<Arc<Change>>>>,
    progress: Arc<Progress>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Log {
    pub fn start(mut database: Database, publish: Publish) -> Log {
        let (tx, rx) = mpsc::channel::<Arc<Change>>();
        let progress = Arc::new(Progress::default());
        let shared = progress.clone();
        let thread = std::thread::Builder::new()
            .name("svclab-store".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(change) => batch.push(change),
                            Err(_) => break,
                        }
                    }
                    if shared.lock().failure.is_some() {
                        continue;
                    }
                    let last = batch.last().map_or(0, |c| c.resource_version);
                    match database.write(&batch) {
                        Ok(()) => {
                            publish(batch);
                            let mut committed = shared.lock();
                            committed.resource_version = last;
                            committed.commits += 1;
                        }
                        Err(e) => {
                            tracing::error!(path = %database.path.display(), error = %e, "could not commit; svclab accepts no more writes");
                            shared.lock().failure = Some(format!("{}: {e}", database.path.display()));
                        }
                    }
                    shared.notify();
                }
                // Closed: dropping the database closes it and releases the lock.
            })
            .expect("the store's committer thread starts");
        Log { queue: Mutex::new(Some(tx)), progress, thread: Mutex::new(Some(thread)) }
    }

    /// `Ok` while writes can be made durable.
    pub fn healthy(&self) -> Result<(), StoreError> {
        match &self.progress.lock().failure {
            Some(failure) => Err(StoreError::Unavailable(failure.clone())),
            None => Ok(()),
        }
    }

    /// How many transactions have committed (fewer than writes when writers share commits).
    pub fn commits(&self) -> u64 {
        self.progress.lock().commits
    }

    /// Queues a change; called under the store's write lock, so in resourceVersion order.
    pub fn append(&self, change: Arc<Change>) -> Result<(), StoreError> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let closed = || StoreError::Unavailable("the store is closed".into());
        queue.as_ref().ok_or_else(closed)?.send(change).map_err(|_| closed())
    }

    /// Under [`deferring`], notes that the work must wait for `resource_version` and says so.
    pub fn defer(&self, resource_version: u64) -> bool {
        DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            Some(deferred) => {
                deferred.progress = Some(self.progress.clone());
                deferred.resource_version = deferred.resource_version.max(resource_version);
                true
            }
            None => false,
        })
    }

    /// Waits until the change at `resource_version` is committed (and published).
    pub fn wait(&self, resource_version: u64) -> Result<(), StoreError> {
        let wait = || {
            let mut committed = self.progress.lock();
            loop {
                if committed.resource_version >= resource_version {
                    return Ok(());
                }
                if let Some(failure) = &committed.failure {
                    return Err(StoreError::Unavailable(failure.clone()));
                }
                committed = self.progress.advanced.wait(committed).unwrap_or_else(|e| e.into_inner());
            }
        };
        // On a runtime worker, let the runtime move its other tasks elsewhere while this waits.
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(wait),
            _ => wait(),
        }
    }

    /// Commits what is queued, then stops the committer (closing the database and its lock).
    pub fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
        let mut committed = self.progress.lock();
        committed.failure.get_or_insert_with(|| "the store is closed".into());
        drop(committed);
        self.progress.notify();
    }
}

/// Deletes a cluster's files, refusing while a svclab has it open; says what it deleted.
pub fn reset(location: &Location) -> Result<Vec<(PathBuf, u64)>, OpenError> {
    if !location.dir.exists() {
        return Ok(vec![]);
    }
    let lock = lock(location)?;
    let files = location.files();
    for (path, _) in &files {
        if *path != location.lock_file() {
            std::fs::remove_file(path).map_err(|source| OpenError::Io { path: path.display().to_string(), source })?;
        }
    }
    drop(lock);
    let _ = std::fs::remove_file(location.lock_file());
    Ok(files)
}

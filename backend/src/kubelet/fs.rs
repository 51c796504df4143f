//! A container's filesystem: its writable layer, an in-memory tree of directories and files
//! made from the image's files when the container starts and thrown away when it restarts, and
//! the volumes mounted into it ([`Volume`]: trees that outlive the container, shared with the
//! pod's other containers or, for a claim, with the pods that come after). A path resolves to
//! the volume mounted deepest above it, as the kernel's mount table does.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// What `stat` tells of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    dir: bool,
    size: usize,
    modified: jiff::Timestamp,
}

impl Node {
    /// A directory entry, as `ls -a` shows `.` and `..`.
    pub fn dir(modified: jiff::Timestamp) -> Self {
        Node { dir: true, size: 4096, modified }
    }

    pub fn is_dir(&self) -> bool {
        self.dir
    }

    /// The size `ls -l` shows.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn modified(&self) -> jiff::Timestamp {
        self.modified
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Inode {
    Dir { modified: jiff::Timestamp },
    File { data: Vec<u8>, modified: jiff::Timestamp },
}

impl Inode {
    fn is_dir(&self) -> bool {
        matches!(self, Inode::Dir { .. })
    }

    fn node(&self) -> Node {
        match self {
            Inode::Dir { modified } => Node::dir(*modified),
            Inode::File { data, modified } => Node { dir: false, size: data.len(), modified: *modified },
        }
    }
}

/// Why an operation failed, worded as the C library's `strerror`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    NotADirectory,
    IsADirectory,
    Exists,
    NotEmpty,
    ReadOnly,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotADirectory => "Not a directory",
            FsError::IsADirectory => "Is a directory",
            FsError::Exists => "File exists",
            FsError::NotEmpty => "Directory not empty",
            FsError::ReadOnly => "Read-only file system",
        })
    }
}

/// A tree keyed by normalised absolute path (`/` is its root).
#[derive(Debug, Clone)]
struct Tree {
    nodes: BTreeMap<String, Inode>,
}

impl Default for Tree {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Inode::Dir { modified: jiff::Timestamp::now() });
        Tree { nodes }
    }
}

/// A volume: a tree that lives apart from any one container's layer (an `emptyDir`, a
/// ConfigMap's files, a claim's data), mounted into containers by [`Fs::mount`].
#[derive(Debug, Clone, Default)]
pub struct Volume(Arc<Mutex<Tree>>);

impl Volume {
    fn tree(&self) -> MutexGuard<'_, Tree> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the volume hold exactly `files` (paths relative to its root), as the kubelet
    /// rewrites a ConfigMap's or Secret's volume when the object changes; unchanged files keep
    /// their times. Returns whether anything changed.
    pub fn set_files(&self, files: &[(String, Vec<u8>)]) -> bool {
        let mut fresh = Tree::default();
        let old = self.tree().clone();
        for (path, data) in files {
            let path = normalize("/", path);
            let _ = fresh.mkdir(parent(&path), true);
            let modified = match old.nodes.get(&path) {
                Some(Inode::File { data: d, modified }) if d == data => *modified,
                _ => jiff::Timestamp::now(),
            };
            fresh.nodes.insert(path, Inode::File { data: data.clone(), modified });
        }
        let changed = fresh.nodes.len() != old.nodes.len()
            || fresh
                .nodes
                .iter()
                .any(|(p, n)| old.nodes.get(p).is_none_or(|o| o.is_dir() != n.is_dir() || (!n.is_dir() && o != n)));
        if changed {
            *self.tree() = fresh;
        }
        changed
    }
}

/// A volume mounted at a path of a container.
#[derive(Debug, Clone)]
struct Mount {
    at: String,
    volume: Volume,
    /// The volume's directory that appears at `at` (`subPath`), `/` for all of it.
    sub_path: String,
    read_only: bool,
}

/// A container's filesystem: its own layer and what is mounted on it.
#[derive(Debug, Clone, Default)]
pub struct Fs {
    root: Tree,
    mounts: Vec<Mount>,
}

/// Where a path lives: the layer, or the `i`th mount at a path inside its volume.
enum Place {
    Layer(String),
    Mounted(usize, String),
}

/// `path` made absolute against `cwd`, with `.`, `..` and repeated slashes resolved.
pub fn normalize(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') { path.to_string() } else { format!("{cwd}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl Fs {
    /// A tree with the usual top-level directories and the given files (directories made as
    /// needed).
    pub fn with_files<'a>(files: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut fs = Fs::default();
        for dir in ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr/bin", "usr/local/bin", "var/run"] {
            fs.root.mkdir(&format!("/{dir}"), true).expect("fresh tree");
        }
        for (path, content) in files {
            fs.root.mkdir(parent(path), true).expect("image directories");
            fs.root.write(path, content.as_bytes(), false).expect("image files");
        }
        fs
    }

    /// Mounts `volume`'s `sub_path` at `at` (made as a directory of the layer, as the runtime
    /// makes mount points); the volume's directory is made too when it is missing.
    pub fn mount(&mut self, at: &str, volume: Volume, sub_path: &str, read_only: bool) {
        let at = normalize("/", at);
        let sub_path = normalize("/", sub_path);
        let _ = self.root.mkdir(&at, true);
        let _ = volume.tree().mkdir(&sub_path, true);
        self.mounts.retain(|m| m.at != at);
        self.mounts.push(Mount { at, volume, sub_path, read_only });
    }

    /// The mount deepest above `path`, and the path inside its volume.
    fn place(&self, path: &str) -> Place {
        let best = self
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| path == m.at || m.at == "/" || path.starts_with(&format!("{}/", m.at)))
            .max_by_key(|(_, m)| m.at.len());
        match best {
            Some((i, m)) => {
                let rest = &path[m.at.len().min(path.len())..];
                Place::Mounted(i, normalize(&m.sub_path, &format!(".{rest}")))
            }
            None => Place::Layer(path.to_string()),
        }
    }

    fn on<R>(&self, path: &str, f: impl FnOnce(&Tree, &str) -> R) -> R {
        match self.place(path) {
            Place::Layer(p) => f(&self.root, &p),
            Place::Mounted(i, p) => f(&self.mounts[i].volume.tree(), &p),
        }
    }

    fn on_mut<R>(&mut self, path: &str, f: impl FnOnce(&mut Tree, &str) -> Result<R, FsError>) -> Result<R, FsError> {
        match self.place(path) {
            Place::Layer(p) => f(&mut self.root, &p),
            Place::Mounted(i, _) if self.mounts[i].read_only => Err(FsError::ReadOnly),
            Place::Mounted(i, p) => f(&mut self.mounts[i].volume.tree(), &p),
        }
    }

    pub fn stat(&self, path: &str) -> Option<Node> {
        self.on(path, |t, p| t.nodes.get(p).map(Inode::node))
    }

    pub fn read(&self, path: &str) -> Result<Vec<u8>, FsError> {
        self.on(path, |t, p| t.read(p).map(<[u8]>::to_vec))
    }

    /// Writes (or appends to) a file, creating it in an existing directory.
    pub fn write(&mut self, path: &str, bytes: &[u8], append: bool) -> Result<(), FsError> {
        self.on_mut(path, |t, p| t.write(p, bytes, append))
    }

    /// `touch`: creates an empty file or updates the time of what is there.
    pub fn touch(&mut self, path: &str) -> Result<(), FsError> {
        self.on_mut(path, |t, p| t.touch(p))
    }

    /// `mkdir [-p]`.
    pub fn mkdir(&mut self, path: &str, parents: bool) -> Result<(), FsError> {
        if parents && path != "/" && self.stat(parent(path)).is_none() {
            self.mkdir(parent(path), true)?;
        }
        self.on_mut(path, |t, p| t.mkdir(p, parents))
    }

    /// `rm` (and `rm -r` with `recursive`); `rmdir` is `remove` of an empty directory. A mount
    /// point cannot be removed (`Device or resource busy` on Linux; here it is read-only).
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FsError> {
        if self.mounts.iter().any(|m| m.at == path) {
            return Err(FsError::ReadOnly);
        }
        self.on_mut(path, |t, p| t.remove(p, recursive))
    }

    /// A directory's entries by name, sorted; a file lists as itself.
    pub fn list(&self, path: &str) -> Result<Vec<(String, Node)>, FsError> {
        self.on(path, |t, p| t.list(p))
    }
}

impl Tree {
    fn parent_dir(&self, path: &str) -> Result<(), FsError> {
        match self.nodes.get(parent(path)) {
            Some(n) if n.is_dir() => Ok(()),
            Some(_) => Err(FsError::NotADirectory),
            None => Err(FsError::NotFound),
        }
    }

    fn read(&self, path: &str) -> Result<&[u8], FsError> {
        match self.nodes.get(path) {
            Some(Inode::File { data, .. }) => Ok(data),
            Some(Inode::Dir { .. }) => Err(FsError::IsADirectory),
            None => Err(FsError::NotFound),
        }
    }

    fn write(&mut self, path: &str, bytes: &[u8], append: bool) -> Result<(), FsError> {
        self.parent_dir(path)?;
        let modified = jiff::Timestamp::now();
        match self.nodes.get_mut(path) {
            Some(Inode::Dir { .. }) => Err(FsError::IsADirectory),
            Some(Inode::File { data, modified: m }) => {
                if !append {
                    data.clear();
                }
                data.extend_from_slice(bytes);
                *m = modified;
                Ok(())
            }
            None => {
                self.nodes.insert(path.to_string(), Inode::File { data: bytes.to_vec(), modified });
                Ok(())
            }
        }
    }

    fn touch(&mut self, path: &str) -> Result<(), FsError> {
        match self.nodes.get_mut(path) {
            Some(Inode::Dir { modified } | Inode::File { modified, .. }) => {
                *modified = jiff::Timestamp::now();
                Ok(())
            }
            None => self.write(path, b"", true),
        }
    }

    fn mkdir(&mut self, path: &str, parents: bool) -> Result<(), FsError> {
        if let Some(node) = self.nodes.get(path) {
            return if parents && node.is_dir() { Ok(()) } else { Err(FsError::Exists) };
        }
        if parents && path != "/" {
            self.mkdir(parent(path), true)?;
        }
        self.parent_dir(path)?;
        self.nodes.insert(path.to_string(), Inode::Dir { modified: jiff::Timestamp::now() });
        Ok(())
    }

    fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FsError> {
        let node = self.nodes.get(path).ok_or(FsError::NotFound)?;
        if node.is_dir() {
            if !recursive && self.children(path).next().is_some() {
                return Err(FsError::NotEmpty);
            }
            let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
            self.nodes.retain(|p, _| !p.starts_with(&prefix));
        }
        if path != "/" {
            self.nodes.remove(path);
        }
        Ok(())
    }

    fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Inode)> + 'a {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        let len = prefix.len();
        self.nodes.range(prefix.clone()..).take_while(move |(p, _)| p.starts_with(&prefix)).filter_map(move |(p, n)| {
            let rest = &p[len..];
            (!rest.is_empty() && !rest.contains('/')).then_some((rest, n))
        })
    }

    fn list(&self, path: &str) -> Result<Vec<(String, Node)>, FsError> {
        match self.nodes.get(path) {
            None => Err(FsError::NotFound),
            Some(n @ Inode::File { .. }) => Ok(vec![(path.rsplit('/').next().unwrap_or(path).to_string(), n.node())]),
            Some(Inode::Dir { .. }) => Ok(self.children(path).map(|(name, n)| (name.to_string(), n.node())).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_against_the_working_directory() {
        assert_eq!(normalize("/", "var/ready"), "/var/ready");
        assert_eq!(normalize("/tmp", "../etc//hosts"), "/etc/hosts");
        assert_eq!(normalize("/a/b", "/x/./y/.."), "/x");
        assert_eq!(normalize("/", ".."), "/");
    }

    #[test]
    fn files_and_directories_behave_like_a_filesystem() {
        let mut fs = Fs::with_files([("/etc/hostname", "pod\n".to_string())]);
        assert_eq!(fs.read("/etc/hostname").unwrap(), b"pod\n");
        assert_eq!(fs.read("/var/ready"), Err(FsError::NotFound));
        fs.touch("/var/ready").unwrap();
        assert_eq!(fs.read("/var/ready").unwrap(), b"");
        assert_eq!(fs.touch("/nope/x"), Err(FsError::NotFound));
        fs.write("/tmp/f", b"a", false).unwrap();
        fs.write("/tmp/f", b"b", true).unwrap();
        assert_eq!(fs.read("/tmp/f").unwrap(), b"ab");
        assert_eq!(fs.mkdir("/tmp", false), Err(FsError::Exists));
        fs.mkdir("/a/b/c", true).unwrap();
        assert_eq!(fs.remove("/a", false), Err(FsError::NotEmpty));
        fs.remove("/a", true).unwrap();
        assert!(fs.stat("/a/b/c").is_none());
        let names: Vec<String> = fs.list("/var").unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["ready", "run"]);
        assert_eq!(fs.write("/tmp", b"x", false), Err(FsError::IsADirectory));
        assert_eq!(fs.write("/etc/hostname/x", b"x", false), Err(FsError::NotADirectory));
    }

    #[test]
    fn volumes_mount_over_the_layer_and_are_shared() {
        let shared = Volume::default();
        let mut a = Fs::with_files([]);
        let mut b = Fs::with_files([]);
        a.mount("/cache", shared.clone(), "/", false);
        b.mount("/data", shared.clone(), "/", false);
        a.write("/cache/x", b"hi", false).unwrap();
        assert_eq!(b.read("/data/x").unwrap(), b"hi", "one volume, two containers");
        assert!(a.stat("/cache").unwrap().is_dir());
        let config = Volume::default();
        assert!(config.set_files(&[("app.yaml".into(), b"level: debug\n".to_vec())]));
        assert!(!config.set_files(&[("app.yaml".into(), b"level: debug\n".to_vec())]), "nothing changed");
        a.mount("/etc/app", config.clone(), "/", true);
        assert_eq!(a.read("/etc/app/app.yaml").unwrap(), b"level: debug\n");
        assert_eq!(a.write("/etc/app/app.yaml", b"x", false), Err(FsError::ReadOnly));
        assert_eq!(a.remove("/etc/app", true), Err(FsError::ReadOnly));
        config.set_files(&[("app.yaml".into(), b"level: info\n".to_vec())]);
        assert_eq!(a.read("/etc/app/app.yaml").unwrap(), b"level: info\n", "updates show through");
        let names: Vec<String> = a.list("/etc").unwrap().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"app".to_string()), "{names:?}");
        // A subPath mounts one directory of the volume.
        b.mount("/srv", shared.clone(), "/site", false);
        b.write("/srv/index.html", b"<h1>", false).unwrap();
        assert_eq!(a.read("/cache/site/index.html").unwrap(), b"<h1>");
    }
}

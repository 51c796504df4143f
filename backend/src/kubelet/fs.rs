//! A container's writable filesystem: an in-memory tree of directories and files, made from the
//! image's files when the container starts and thrown away when it restarts, as a container's
//! writable layer is.

use std::collections::BTreeMap;
use std::fmt;

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir { modified: jiff::Timestamp },
    File { data: Vec<u8>, modified: jiff::Timestamp },
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }

    /// The size `ls -l` shows.
    pub fn size(&self) -> usize {
        match self {
            Node::Dir { .. } => 4096,
            Node::File { data, .. } => data.len(),
        }
    }

    pub fn modified(&self) -> jiff::Timestamp {
        match self {
            Node::Dir { modified } | Node::File { modified, .. } => *modified,
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
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotADirectory => "Not a directory",
            FsError::IsADirectory => "Is a directory",
            FsError::Exists => "File exists",
            FsError::NotEmpty => "Directory not empty",
        })
    }
}

/// A filesystem tree keyed by normalised absolute path.
#[derive(Debug, Clone, Default)]
pub struct Fs {
    nodes: BTreeMap<String, Node>,
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
        let now = jiff::Timestamp::now();
        fs.nodes.insert("/".into(), Node::Dir { modified: now });
        for dir in ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr/bin", "usr/local/bin", "var/run"] {
            fs.mkdir(&format!("/{dir}"), true).expect("fresh tree");
        }
        for (path, content) in files {
            fs.mkdir(parent(path), true).expect("image directories");
            fs.write(path, content.as_bytes(), false).expect("image files");
        }
        fs
    }

    pub fn stat(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    fn parent_dir(&self, path: &str) -> Result<(), FsError> {
        match self.nodes.get(parent(path)) {
            Some(n) if n.is_dir() => Ok(()),
            Some(_) => Err(FsError::NotADirectory),
            None => Err(FsError::NotFound),
        }
    }

    pub fn read(&self, path: &str) -> Result<&[u8], FsError> {
        match self.nodes.get(path) {
            Some(Node::File { data, .. }) => Ok(data),
            Some(Node::Dir { .. }) => Err(FsError::IsADirectory),
            None => Err(FsError::NotFound),
        }
    }

    /// Writes (or appends to) a file, creating it in an existing directory.
    pub fn write(&mut self, path: &str, bytes: &[u8], append: bool) -> Result<(), FsError> {
        self.parent_dir(path)?;
        let modified = jiff::Timestamp::now();
        match self.nodes.get_mut(path) {
            Some(Node::Dir { .. }) => Err(FsError::IsADirectory),
            Some(Node::File { data, modified: m }) => {
                if !append {
                    data.clear();
                }
                data.extend_from_slice(bytes);
                *m = modified;
                Ok(())
            }
            None => {
                self.nodes.insert(path.to_string(), Node::File { data: bytes.to_vec(), modified });
                Ok(())
            }
        }
    }

    /// `touch`: creates an empty file or updates the time of what is there.
    pub fn touch(&mut self, path: &str) -> Result<(), FsError> {
        match self.nodes.get_mut(path) {
            Some(Node::Dir { modified } | Node::File { modified, .. }) => {
                *modified = jiff::Timestamp::now();
                Ok(())
            }
            None => self.write(path, b"", true),
        }
    }

    /// `mkdir [-p]`.
    pub fn mkdir(&mut self, path: &str, parents: bool) -> Result<(), FsError> {
        if let Some(node) = self.nodes.get(path) {
            return if parents && node.is_dir() { Ok(()) } else { Err(FsError::Exists) };
        }
        if parents && path != "/" {
            self.mkdir(parent(path), true)?;
        }
        self.parent_dir(path)?;
        self.nodes.insert(path.to_string(), Node::Dir { modified: jiff::Timestamp::now() });
        Ok(())
    }

    /// `rm` (and `rm -r` with `recursive`); `rmdir` is `remove` of an empty directory.
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FsError> {
        let node = self.nodes.get(path).ok_or(FsError::NotFound)?;
        if node.is_dir() {
            if !recursive && self.children(path).next().is_some() {
                return Err(FsError::NotEmpty);
            }
            let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
            self.nodes.retain(|p, _| !p.starts_with(&prefix));
        }
        self.nodes.remove(path);
        Ok(())
    }

    fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        let len = prefix.len();
        self.nodes.range(prefix.clone()..).take_while(move |(p, _)| p.starts_with(&prefix)).filter_map(move |(p, n)| {
            let rest = &p[len..];
            (!rest.is_empty() && !rest.contains('/')).then_some((rest, n))
        })
    }

    /// A directory's entries by name, sorted; a file lists as itself.
    pub fn list(&self, path: &str) -> Result<Vec<(String, Node)>, FsError> {
        match self.nodes.get(path) {
            None => Err(FsError::NotFound),
            Some(n @ Node::File { .. }) => Ok(vec![(path.rsplit('/').next().unwrap_or(path).to_string(), n.clone())]),
            Some(Node::Dir { .. }) => Ok(self.children(path).map(|(name, n)| (name.to_string(), n.clone())).collect()),
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
}

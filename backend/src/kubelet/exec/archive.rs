//! `tar`, as GNU tar answers `kubectl cp`: `tar cf - <paths>` writes an archive of files and
//! directories to standard output, `tar xf - [-C dir]` unpacks one read from standard input,
//! `tar tf -` lists one.

use super::{Ctx, Output};
use crate::kubelet::fs::normalize;

/// What `tar`'s options ask for.
#[derive(Debug, Default, PartialEq)]
struct Options {
    mode: Option<char>,
    /// `-f`: the archive (only `-`, standard input or output, is supported).
    file: Option<String>,
    /// `-C`: the directory to work in.
    dir: Option<String>,
    operands: Vec<String>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.iter().peekable();
    let mut first = true;
    while let Some(arg) = args.next() {
        let bundled = first && !arg.starts_with('-');
        first = false;
        if let Some(long) = arg.strip_prefix("--") {
            match long {
                "extract" | "get" => o.mode = Some('x'),
                "create" => o.mode = Some('c'),
                "list" => o.mode = Some('t'),
                _ if long.starts_with("file=") => o.file = Some(long["file=".len()..].to_string()),
                _ if long.starts_with("directory=") => o.dir = Some(long["directory=".len()..].to_string()),
                // --no-same-owner, --no-same-permissions, --touch…: nothing to do here.
                _ => {}
            }
        } else if bundled || (arg.starts_with('-') && arg.len() > 1) {
            for flag in arg.trim_start_matches('-').chars() {
                match flag {
                    'x' | 'c' | 't' => o.mode = Some(flag),
                    'f' => o.file = Some(args.next().ok_or("tar: option requires an argument -- 'f'")?.clone()),
                    'C' => o.dir = Some(args.next().ok_or("tar: option requires an argument -- 'C'")?.clone()),
                    'm' | 'v' | 'p' | 'o' => {}
                    other => return Err(format!("tar: invalid option -- '{other}'")),
                }
            }
        } else {
            o.operands.push(arg.clone());
        }
    }
    Ok(o)
}

pub(super) fn tar(ctx: &mut Ctx, args: &[String], stdin: Vec<u8>) -> Output {
    let usage = "Try 'tar --help' or 'tar --usage' for more information.\n";
    let o = match options(args) {
        Ok(o) => o,
        Err(e) => return Output::fail(2, format!("{e}\n{usage}")),
    };
    if o.file.as_deref().is_some_and(|f| f != "-") {
        return Output::fail(2, "tar: only the archive '-' (standard input or output) is supported here\n");
    }
    let dir = o.dir.as_deref().map_or_else(|| ctx.cwd.clone(), |d| ctx.path(d));
    match o.mode {
        Some('c') => create(ctx, &dir, &o.operands),
        Some('x') => extract(ctx, &dir, &stdin),
        Some('t') => list(&stdin),
        _ => Output::fail(
            2,
            format!("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options\n{usage}"),
        ),
    }
}

/// `tar cf - <paths>`: each path, directories with what is under them.
fn create(ctx: &Ctx, dir: &str, operands: &[String]) -> Output {
    if operands.is_empty() {
        return Output::fail(2, "tar: Cowardly refusing to create an empty archive\n");
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut out = Output::default();
    for operand in operands {
        let name = operand.trim_start_matches('/');
        if name.len() != operand.len() && !out.stderr.contains("Removing leading") {
            out.stderr.push_str("tar: Removing leading `/' from member names\n");
        }
        let mut pending = vec![(normalize(dir, operand), name.trim_end_matches('/').to_string())];
        while let Some((path, member)) = pending.pop() {
            let Some(node) = ctx.with_fs(|fs| fs.stat(&path)) else {
                out.stderr.push_str(&format!("tar: {member}: Cannot stat: No such file or directory\n"));
                out.code = 2;
                continue;
            };
            let mut header = tar::Header::new_gnu();
            header.set_mtime(node.modified().as_second().max(0) as u64);
            if node.is_dir() {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                let _ = builder.append_data(&mut header, format!("{member}/"), std::io::empty());
                let children = ctx.with_fs(|fs| fs.list(&path)).unwrap_or_default();
                for (child, _) in children.into_iter().rev() {
                    pending.push((format!("{}/{child}", path.trim_end_matches('/')), format!("{member}/{child}")));
                }
            } else {
                let data = ctx.with_fs(|fs| fs.read(&path)).unwrap_or_default();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(data.len() as u64);
                let _ = builder.append_data(&mut header, &member, data.as_slice());
            }
        }
    }
    if out.code != 0 {
        out.stderr.push_str("tar: Exiting with failure status due to previous errors\n");
    }
    out.stdout = builder.into_inner().unwrap_or_default();
    out
}

/// `tar xf - [-C dir]`: the archive from standard input, unpacked under `dir`.
fn extract(ctx: &mut Ctx, dir: &str, stdin: &[u8]) -> Output {
    let mut archive = tar::Archive::new(stdin);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return Output::fail(2, format!("tar: {e}\n")),
    };
    let mut out = Output::default();
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(_) => {
                return Output::fail(
                    2,
                    "tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n",
                );
            }
        };
        let member = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        // GNU tar refuses members that climb out of the directory.
        if member.split('/').any(|part| part == "..") {
            out.stderr.push_str(&format!("tar: {member}: Member name contains '..'\n"));
            out.code = 2;
            continue;
        }
        let path = normalize(dir, &member);
        let kind = entry.header().entry_type();
        let mut data = Vec::new();
        if kind.is_file() && std::io::Read::read_to_end(&mut entry, &mut data).is_err() {
            return Output::fail(2, "tar: Unexpected EOF in archive\n");
        }
        let written = ctx.with_fs(|fs| {
            if kind.is_dir() {
                return fs.mkdir(&path, true);
            }
            let parent = path.rsplit_once('/').map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
            fs.mkdir(parent, true)?;
            fs.write(&path, &data, false)
        });
        if let Err(e) = written {
            out.stderr.push_str(&format!("tar: {member}: Cannot open: {e}\n"));
            out.code = 2;
        }
    }
    out
}

/// `tar tf -`: the members' names.
fn list(stdin: &[u8]) -> Output {
    let mut archive = tar::Archive::new(stdin);
    let Ok(entries) = archive.entries() else { return Output::fail(2, "tar: This does not look like a tar archive\n") };
    let mut out = Output::default();
    for entry in entries.flatten() {
        if let Ok(path) = entry.path() {
            out.print(&format!("{}\n", path.to_string_lossy()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_gnu_tar_reads_them() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = options(&args(&["-xmf", "-", "-C", "/tmp"])).unwrap();
        assert_eq!((o.mode, o.file.as_deref(), o.dir.as_deref()), (Some('x'), Some("-"), Some("/tmp")));
        let o = options(&args(&["cf", "-", "/tmp/a.txt"])).unwrap();
        assert_eq!((o.mode, o.operands), (Some('c'), vec!["/tmp/a.txt".to_string()]));
        assert!(options(&args(&["-xzf", "-"])).is_err());
    }
}

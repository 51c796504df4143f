//! File commands on the container's filesystem, with GNU coreutils' messages and exit codes:
//! `cat`, `ls`, `touch`, `rm`, `rmdir`, `mkdir`.

use super::{Ctx, Output};
use crate::kubelet::fs::{FsError, Node};

/// Splits `-la`-style flags from operands (`--` ends the flags).
fn flags_and_operands(args: &[String]) -> (String, Vec<String>) {
    let mut flags = String::new();
    let mut operands = Vec::new();
    let mut only_operands = false;
    for arg in args {
        if only_operands || !arg.starts_with('-') || arg == "-" {
            operands.push(arg.clone());
        } else if arg == "--" {
            only_operands = true;
        } else {
            flags.push_str(arg.trim_start_matches('-'));
        }
    }
    (flags, operands)
}

pub(super) fn run(ctx: &mut Ctx, name: &str, args: &[String], stdin: Vec<u8>) -> Output {
    let (flags, operands) = flags_and_operands(args);
    if name != "cat" && operands.is_empty() && name != "ls" {
        return Output::fail(1, format!("{name}: missing operand\nTry '{name} --help' for more information.\n"));
    }
    match name {
        "cat" => cat(ctx, &operands, stdin),
        "ls" => ls(ctx, &flags, &operands),
        _ => {
            let mut out = Output::default();
            for operand in &operands {
                let path = ctx.path(operand);
                let result = ctx.with_fs(|fs| match name {
                    "touch" => fs.touch(&path),
                    "mkdir" => fs.mkdir(&path, flags.contains('p')),
                    "rmdir" => match fs.stat(&path) {
                        Some(n) if !n.is_dir() => Err(FsError::NotADirectory),
                        _ => fs.remove(&path, false),
                    },
                    _ => match fs.stat(&path) {
                        Some(n) if n.is_dir() && !flags.contains('r') && !flags.contains('R') => {
                            Err(FsError::IsADirectory)
                        }
                        None if flags.contains('f') => Ok(()),
                        _ => fs.remove(&path, true),
                    },
                });
                if let Err(e) = result {
                    let what = match name {
                        "touch" => format!("cannot touch '{operand}'"),
                        "mkdir" => format!("cannot create directory '{operand}'"),
                        "rmdir" => format!("failed to remove '{operand}'"),
                        _ => format!("cannot remove '{operand}'"),
                    };
                    out.stderr.push_str(&format!("{name}: {what}: {e}\n"));
                    out.code = 1;
                }
            }
            out
        }
    }
}

fn cat(ctx: &Ctx, operands: &[String], stdin: Vec<u8>) -> Output {
    if operands.is_empty() {
        return Output::ok(stdin);
    }
    let mut out = Output::default();
    for operand in operands {
        if operand == "-" {
            out.stdout.extend_from_slice(&stdin);
            continue;
        }
        match ctx.read_file(operand) {
            Ok(data) => out.stdout.extend_from_slice(&data),
            Err(e) => {
                out.stderr.push_str(&format!("cat: {operand}: {e}\n"));
                out.code = 1;
            }
        }
    }
    out
}

fn long_line(name: &str, node: &Node) -> String {
    let (mode, links) = if node.is_dir() { ("drwxr-xr-x", 2) } else { ("-rw-r--r--", 1) };
    let when = node.modified().to_zoned(jiff::tz::TimeZone::UTC).strftime("%b %e %H:%M");
    format!("{mode} {links:>4} root     root     {:>9} {when} {name}\n", node.size())
}

fn ls(ctx: &Ctx, flags: &str, operands: &[String]) -> Output {
    let operands = if operands.is_empty() { vec![".".to_string()] } else { operands.to_vec() };
    let (long, all) = (flags.contains('l'), flags.contains('a'));
    let mut out = Output::default();
    let several = operands.len() > 1;
    for (i, operand) in operands.iter().enumerate() {
        let path = ctx.path(operand);
        let listing = ctx.with_fs(|fs| {
            let is_dir = fs.stat(&path).map(|n| n.is_dir());
            fs.list(&path).map(|entries| (is_dir == Some(true), entries))
        });
        match listing {
            Ok((is_dir, entries)) => {
                if several && is_dir {
                    if i > 0 {
                        out.print("\n");
                    }
                    out.print(&format!("{operand}:\n"));
                }
                let mut shown: Vec<(String, Node)> = Vec::new();
                if all && is_dir {
                    let dir = Node::dir(jiff::Timestamp::now());
                    shown.push((".".into(), dir));
                    shown.push(("..".into(), dir));
                }
                let entries = entries.into_iter().filter(|(n, _)| all || !n.starts_with('.'));
                // A file operand is shown as it was named.
                shown.extend(entries.map(|(n, node)| if is_dir { (n, node) } else { (operand.clone(), node) }));
                if long && is_dir {
                    out.print(&format!("total {}\n", shown.len() * 4));
                }
                for (name, node) in shown {
                    out.print(&if long { long_line(&name, &node) } else { format!("{name}\n") });
                }
            }
            Err(e) => {
                out.stderr.push_str(&format!("ls: cannot access '{operand}': {e}\n"));
                out.code = 2;
            }
        }
    }
    out
}

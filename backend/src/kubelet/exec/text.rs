//! Text filters for pipes (`grep`, `wc`, `head`, `tail`, `sort`, `uniq`, `tr`) and `test`/`[`.

use super::{Ctx, Output};

/// The input of a filter: the named files, or standard input.
fn input(ctx: &Ctx, name: &str, files: &[String], stdin: Vec<u8>) -> Result<String, Output> {
    if files.is_empty() {
        return Ok(String::from_utf8_lossy(&stdin).into_owned());
    }
    let mut text = String::new();
    for file in files {
        match ctx.read_file(file) {
            Ok(data) => text.push_str(&String::from_utf8_lossy(&data)),
            Err(e) => return Err(Output::fail(if name == "grep" { 2 } else { 1 }, format!("{name}: {file}: {e}\n"))),
        }
    }
    Ok(text)
}

/// How much `head` or `tail` takes: lines, or bytes (`-c`).
#[derive(Debug, PartialEq)]
enum Count {
    Lines(usize),
    Bytes(usize),
}

/// A `-n 5` / `-n5` / `-5` count of lines, or `-c 40` / `-c40` of bytes.
fn count_option(args: &[String]) -> (Count, Vec<String>) {
    let mut count = Count::Lines(10);
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "-n" || arg == "-c" {
            if let Some(n) = it.next().and_then(|v| v.parse().ok()) {
                count = if arg == "-c" { Count::Bytes(n) } else { Count::Lines(n) };
            }
        } else if let Some(n) = arg.strip_prefix("-c").and_then(|n| n.parse().ok()) {
            count = Count::Bytes(n);
        } else if let Some(n) = arg.strip_prefix("-n").or_else(|| arg.strip_prefix('-')).and_then(|n| n.parse().ok()) {
            count = Count::Lines(n);
        } else {
            rest.push(arg.clone());
        }
    }
    (count, rest)
}

pub(super) fn run(ctx: &mut Ctx, name: &str, args: &[String], stdin: Vec<u8>) -> Output {
    match name {
        "grep" => grep(ctx, args, stdin),
        "head" | "tail" => {
            let (count, files) = count_option(args);
            let text = match input(ctx, name, &files, stdin) {
                Ok(t) => t,
                Err(o) => return o,
            };
            let count = match count {
                Count::Bytes(n) => {
                    let bytes = text.as_bytes();
                    let n = n.min(bytes.len());
                    let picked = if name == "head" { &bytes[..n] } else { &bytes[bytes.len() - n..] };
                    return Output::ok(picked.to_vec());
                }
                Count::Lines(n) => n,
            };
            let lines: Vec<&str> = text.lines().collect();
            let picked = if name == "head" {
                &lines[..count.min(lines.len())]
            } else {
                &lines[lines.len().saturating_sub(count)..]
            };
            Output::ok(picked.iter().map(|l| format!("{l}\n")).collect::<String>())
        }
        _ => {
            let (flags, files): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| a.starts_with('-'));
            let flags: String = flags.iter().map(|f| f.trim_start_matches('-')).collect();
            if name == "tr" {
                return tr(&flags, &files, stdin);
            }
            let files: Vec<String> = files.into_iter().cloned().collect();
            let text = match input(ctx, name, &files, stdin) {
                Ok(t) => t,
                Err(o) => return o,
            };
            match name {
                "wc" => {
                    let (l, w, c) = (text.lines().count(), text.split_whitespace().count(), text.len());
                    let picked: Vec<String> = [('l', l), ('w', w), ('c', c)]
                        .iter()
                        .filter(|(f, _)| flags.is_empty() || flags.contains(*f))
                        .map(|(_, n)| n.to_string())
                        .collect();
                    Output::ok(format!("{}\n", picked.join(" ")))
                }
                "sort" => {
                    let mut lines: Vec<&str> = text.lines().collect();
                    if flags.contains('n') {
                        lines.sort_by_key(|l| l.trim().parse::<i64>().unwrap_or(0));
                    } else {
                        lines.sort();
                    }
                    if flags.contains('r') {
                        lines.reverse();
                    }
                    if flags.contains('u') {
                        lines.dedup();
                    }
                    Output::ok(lines.iter().map(|l| format!("{l}\n")).collect::<String>())
                }
                _ => {
                    let mut out = String::new();
                    let mut lines = text.lines().peekable();
                    while let Some(line) = lines.next() {
                        let mut n = 1;
                        while lines.peek() == Some(&line) {
                            lines.next();
                            n += 1;
                        }
                        if flags.contains('c') {
                            out.push_str(&format!("{n:>7} {line}\n"));
                        } else {
                            out.push_str(&format!("{line}\n"));
                        }
                    }
                    Output::ok(out)
                }
            }
        }
    }
}

fn grep(ctx: &Ctx, args: &[String], stdin: Vec<u8>) -> Output {
    let mut flags = String::new();
    let mut operands = Vec::new();
    for arg in args {
        if arg.starts_with('-') && arg.len() > 1 && operands.is_empty() {
            flags.push_str(&arg[1..]);
        } else {
            operands.push(arg.clone());
        }
    }
    let Some(pattern) = operands.first().cloned() else {
        return Output::fail(2, "Usage: grep [OPTION]... PATTERNS [FILE]...\n");
    };
    let pattern = if flags.contains('F') { regex::escape(&pattern) } else { pattern };
    let pattern = if flags.contains('i') { format!("(?i){pattern}") } else { pattern };
    let re = match regex::Regex::new(&pattern) {
        Ok(r) => r,
        Err(_) => return Output::fail(2, "grep: Invalid regular expression\n"),
    };
    let text = match input(ctx, "grep", &operands[1..], stdin) {
        Ok(t) => t,
        Err(o) => return o,
    };
    let invert = flags.contains('v');
    let matched: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, l)| re.is_match(l) != invert).map(|(i, l)| (i + 1, l)).collect();
    let code = if matched.is_empty() { 1 } else { 0 };
    let stdout = if flags.contains('q') {
        String::new()
    } else if flags.contains('c') {
        format!("{}\n", matched.len())
    } else if flags.contains('n') {
        matched.iter().map(|(n, l)| format!("{n}:{l}\n")).collect()
    } else {
        matched.iter().map(|(_, l)| format!("{l}\n")).collect()
    };
    Output { stdout: stdout.into(), stderr: String::new(), code }
}

/// Expands `a-z` ranges of a `tr` set.
fn tr_set(set: &str) -> Vec<char> {
    let chars: Vec<char> = set.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            out.extend(chars[i]..=chars[i + 2]);
            i += 3;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn tr(flags: &str, sets: &[&String], stdin: Vec<u8>) -> Output {
    let text = String::from_utf8_lossy(&stdin);
    let Some(from) = sets.first().map(|s| tr_set(s)) else {
        return Output::fail(1, "tr: missing operand\n");
    };
    if flags.contains('d') {
        return Output::ok(text.chars().filter(|c| !from.contains(c)).collect::<String>());
    }
    let Some(to) = sets.get(1).map(|s| tr_set(s)) else {
        return Output::fail(1, format!("tr: missing operand after '{}'\n", sets[0]));
    };
    let map = |c: char| match from.iter().position(|f| *f == c) {
        Some(i) => *to.get(i).or(to.last()).unwrap_or(&c),
        None => c,
    };
    Output::ok(text.chars().map(map).collect::<String>())
}

/// `test EXPR` and `[ EXPR ]`: files, strings, integers and `!`.
pub(super) fn test(ctx: &Ctx, name: &str, args: &[String]) -> Output {
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    if name == "[" {
        if args.last() != Some(&"]") {
            return Output::fail(2, "[: missing ]\n");
        }
        args.pop();
    }
    let negate = args.first() == Some(&"!");
    if negate {
        args.remove(0);
    }
    let file = |op: &str, path: &str| {
        let path = ctx.path(path);
        ctx.with_fs(|fs| match (op, fs.stat(&path)) {
            ("-e", Some(_)) => true,
            ("-f", Some(n)) => !n.is_dir(),
            ("-d", Some(n)) => n.is_dir(),
            ("-s", Some(n)) => !n.is_dir() && n.size() > 0,
            _ => false,
        })
    };
    let int = |s: &str| s.trim().parse::<i64>().ok();
    let result = match args.as_slice() {
        [] => Ok(false),
        [s] => Ok(!s.is_empty()),
        ["-z", s] => Ok(s.is_empty()),
        ["-n", s] => Ok(!s.is_empty()),
        [op @ ("-e" | "-f" | "-d" | "-s" | "-r" | "-w" | "-x"), path] => {
            Ok(file(if matches!(*op, "-r" | "-w" | "-x") { "-e" } else { op }, path))
        }
        [a, "=" | "==", b] => Ok(a == b),
        [a, "!=", b] => Ok(a != b),
        [a, op @ ("-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge"), b] => match (int(a), int(b)) {
            (Some(a), Some(b)) => Ok(match *op {
                "-eq" => a == b,
                "-ne" => a != b,
                "-lt" => a < b,
                "-le" => a <= b,
                "-gt" => a > b,
                _ => a >= b,
            }),
            _ => Err(format!("{name}: integer expression expected\n")),
        },
        _ => Err(format!("{name}: syntax error\n")),
    };
    match result {
        Ok(ok) => Output { code: if ok != negate { 0 } else { 1 }, ..Default::default() },
        Err(msg) => Output::fail(2, msg),
    }
}

//! The shell's `read`, and the input a loop's commands share: `while read line; do …; done <
//! file` and `… | while read line` read the loop's input a line at a time.

use crate::kubelet::exec::{Ctx, Output};

/// The inputs of the loops running, innermost last: each its bytes and how far it was read.
#[derive(Clone, Default)]
pub struct SharedInput(Vec<(Vec<u8>, usize)>);

impl Ctx {
    /// Makes `stdin` the input the commands inside a loop share; false when there is none.
    pub(super) fn share_input(&mut self, stdin: Vec<u8>) -> bool {
        if stdin.is_empty() {
            return false;
        }
        self.input.0.push((stdin, 0));
        true
    }

    pub(super) fn unshare_input(&mut self) {
        self.input.0.pop();
    }

    /// The next line of `stdin`, or else of the innermost loop's input: without its newline, and
    /// whether there was one (`None` at the end).
    fn next_line(&mut self, stdin: &[u8]) -> Option<(String, bool)> {
        let (data, at) = match stdin.is_empty() {
            false => (stdin, 0),
            true => {
                let (data, at) = self.input.0.last()?;
                (data.as_slice(), *at)
            }
        };
        let rest = data.get(at..).filter(|r| !r.is_empty())?;
        let (line, took, ended) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], i + 1, true),
            None => (rest, rest.len(), false),
        };
        let line = String::from_utf8_lossy(line).into_owned();
        if stdin.is_empty()
            && let Some((_, at)) = self.input.0.last_mut()
        {
            *at += took;
        }
        Some((line, ended))
    }

    /// `read [-r] NAME…`: one line, split on blanks, a field to each name and the rest to the
    /// last; without `-r` a backslash keeps the next character. Fails (1) at the end of input.
    pub(crate) fn read(&mut self, args: &[String], stdin: &[u8]) -> Output {
        let raw = args.first().is_some_and(|a| a == "-r");
        let mut names: Vec<String> = args.iter().skip(usize::from(raw)).cloned().collect();
        if names.is_empty() {
            names.push("REPLY".into());
        }
        let Some((line, ended)) = self.next_line(stdin) else {
            for name in &names {
                self.set_var(name, String::new());
            }
            return Output { code: 1, ..Output::default() };
        };
        let line = if raw { line } else { unescape(&line) };
        let mut rest = line.trim_start_matches([' ', '\t']);
        for (i, name) in names.iter().enumerate() {
            let value = if i + 1 == names.len() {
                std::mem::take(&mut rest).trim_end_matches([' ', '\t']).to_string()
            } else {
                let end = rest.find([' ', '\t']).unwrap_or(rest.len());
                let field = rest[..end].to_string();
                rest = rest[end..].trim_start_matches([' ', '\t']);
                field
            };
            self.set_var(name, value);
        }
        // A last line without its newline is read, but read says the input ended.
        Output { code: i32::from(!ended), ..Output::default() }
    }
}

/// `read`'s backslashes without `-r`: each keeps the character after it.
fn unescape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

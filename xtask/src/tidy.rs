//! Repository invariants, checked by `cargo test`: every Rust module says what it owns in a `//!`
//! line, no debugging leftovers are committed, source files and functions stay short (the few
//! that are not are listed, and the lists may only shrink), and every `unsafe` says why it is
//! sound in a `// SAFETY:` comment.

#[cfg(test)]
mod tests {
    use crate::setup::root;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable source tree").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn sources() -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in ["shared/src", "backend/src", "backend/tests", "frontend/src", "xtask/src"] {
            rust_files(&root().join(dir), &mut files);
        }
        files
    }

    #[test]
    fn every_module_documents_what_it_owns() {
        let mut missing = Vec::new();
        for file in sources() {
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit-test files included with `mod tests;` belong to the module above them.
            let is_test_file = file.file_name().is_some_and(|n| n == "tests.rs");
            if !is_test_file && !text.trim_start().starts_with("//!") {
                missing.push(file.display().to_string());
            }
        }
        assert!(missing.is_empty(), "modules without a //! line: {missing:#?}");
    }

    /// The source trees (not integration tests): what `src` holds.
    fn src_files() -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in ["shared/src", "backend/src", "frontend/src", "xtask/src"] {
            rust_files(&root().join(dir), &mut files);
        }
        files
    }

    fn relative(path: &Path) -> String {
        path.strip_prefix(root()).unwrap_or(path).display().to_string()
    }

    const MAX_FILE_LINES: usize = 600;
    const MAX_FN_LINES: usize = 100;

    /// Files over the limit, with the most lines each may have until it is split.
    const LONG_FILES: &[(&str, usize)] = &[];

    /// Functions over the limit (file, name, the most lines it may have until it is split).
    const LONG_FUNCTIONS: &[(&str, &str, usize)] = &[];

    /// Every function with a body: (name, first line, lines from `fn` to its closing brace).
    /// rustfmt puts the closing brace at the indentation of the `fn` line, which is what ends it.
    fn functions(text: &str) -> Vec<(String, usize, usize)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut found = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let indent = &line[..line.len() - line.trim_start().len()];
            let mut words = line.split_whitespace().peekable();
            while let Some(w) = words.peek() {
                if w.starts_with("pub") || ["const", "async", "unsafe", "extern", "\"C\""].contains(w) {
                    words.next();
                } else {
                    break;
                }
            }
            if words.next() != Some("fn") {
                continue;
            }
            let Some(name) = words.next() else { continue };
            let name: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let Some(open) = lines[i..].iter().position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
            else {
                continue;
            };
            if lines[i + open].trim_end().ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            if let Some(end) = lines[i + open..].iter().position(|l| l.trim_end() == close) {
                found.push((name, i + 1, open + end + 1));
            }
        }
        found
    }

    #[test]
    fn source_files_stay_short() {
        let mut offenders = Vec::new();
        for file in src_files() {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            let name = relative(&file);
            let allowed = LONG_FILES.iter().find(|(f, _)| *f == name).map_or(MAX_FILE_LINES, |(_, n)| *n);
            if lines > allowed {
                offenders.push(format!("{name}: {lines} lines (at most {allowed}): split it by responsibility"));
            }
        }
        for (name, allowed) in LONG_FILES {
            let lines = std::fs::read_to_string(root().join(name)).map_or(0, |t| t.lines().count());
            if lines <= MAX_FILE_LINES {
                offenders.push(format!("{name} is {lines} lines now: take it off LONG_FILES (was {allowed})"));
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }

    #[test]
    fn functions_stay_short() {
        let mut offenders = Vec::new();
        let mut seen = Vec::new();
        for file in src_files() {
            let name = relative(&file);
            for (function, line, lines) in functions(&std::fs::read_to_string(&file).unwrap()) {
                if lines <= MAX_FN_LINES {
                    continue;
                }
                match LONG_FUNCTIONS.iter().find(|(f, n, _)| *f == name && *n == function) {
                    Some((_, _, allowed)) if lines <= *allowed => seen.push((name.clone(), function)),
                    Some((_, _, allowed)) => offenders
                        .push(format!("{name}:{line} {function}: {lines} lines, it may not grow past {allowed}")),
                    None => offenders.push(format!(
                        "{name}:{line} {function}: {lines} lines (at most {MAX_FN_LINES}): split it into named steps"
                    )),
                }
            }
        }
        for (file, function, _) in LONG_FUNCTIONS {
            if !seen.iter().any(|(f, n)| f == file && n == function) {
                offenders.push(format!("{file} {function} is short now (or gone): take it off LONG_FUNCTIONS"));
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }

    #[test]
    fn the_function_finder_measures_what_rustfmt_writes() {
        let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub async fn b(\n        x: u8,\n    ) -> u8 {\n        x\n    }\n    fn c(&self);\n}\n";
        let found = functions(text);
        assert_eq!(found, [("a".to_string(), 1, 3), ("b".to_string(), 6, 5)]);
    }

    #[test]
    fn every_unsafe_says_why_it_is_sound() {
        let mut offenders = Vec::new();
        // Spelled apart, so that this file does not find itself.
        let needles = [" {", " impl", " fn"].map(|rest| ["unsafe", rest].concat());
        for file in sources() {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if !needles.iter().any(|n| code.contains(n.as_str())) {
                    continue;
                }
                // The comment sits right above, or above the statement the block is part of.
                let above =
                    lines[i.saturating_sub(3)..i].iter().any(|l| l.contains("SAFETY:") || l.contains("# Safety"));
                if !above {
                    offenders.push(format!("{}:{}", relative(&file), i + 1));
                }
            }
        }
        assert!(offenders.is_empty(), "unsafe without a `// SAFETY:` comment above it: {offenders:#?}");
    }

    #[test]
    fn no_debugging_leftovers() {
        let needle = ["dbg", "!("].concat();
        let offenders: Vec<String> = sources()
            .into_iter()
            .filter(|f| std::fs::read_to_string(f).unwrap().contains(&needle))
            .map(|f| f.display().to_string())
            .collect();
        assert!(offenders.is_empty(), "{needle} left in {offenders:?}");
    }
}

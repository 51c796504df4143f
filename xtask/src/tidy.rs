//! Repository invariants, checked by `cargo test`: every Rust module says what it owns in a `//!`
//! line, and no debugging leftovers are committed.

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

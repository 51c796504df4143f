//! The shell's pattern matching, as `case` and `${VAR#pattern}` use it, on the glob crate: `*`
//! any text, `?` one character, `[abc]`, `[a-z]` and `[!abc]` one of a set. Text that is not a
//! pattern (an unclosed `[`) matches itself.

/// Whether all of `text` matches `pattern`.
pub(super) fn matches(pattern: &str, text: &str) -> bool {
    match glob::Pattern::new(pattern) {
        Ok(pattern) => pattern.matches(text),
        Err(_) => pattern == text,
    }
}

/// `text` as a pattern that matches only itself (quoted text in a pattern).
pub(super) fn literal(text: &str) -> String {
    glob::Pattern::escape(text)
}

#[cfg(test)]
mod tests {
    use super::{literal, matches};

    #[test]
    fn globs_match_whole_words() {
        assert!(matches("*", ""));
        assert!(matches("kubia-*", "kubia-7x2lq"));
        assert!(!matches("kubia-*", "web-1"));
        assert!(matches("?.txt", "a.txt") && !matches("?.txt", "ab.txt"));
        assert!(matches("[abc]x", "bx") && !matches("[abc]x", "dx"));
        assert!(matches("[a-z]*", "start") && !matches("[a-z]*", "Start"));
        assert!(matches("[!0-9]*", "x1") && !matches("[!0-9]*", "1x"));
        assert!(matches(&literal("*"), "*") && !matches(&literal("*"), "a"));
        assert!(matches("[", "["));
    }
}

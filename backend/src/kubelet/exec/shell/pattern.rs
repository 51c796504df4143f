//! The shell's pattern matching (pure), as `case` uses it: `*` any text, `?` one character,
//! `[abc]`, `[a-z]` and `[!abc]` one of a set, `\` the next character itself.

/// Whether all of `text` matches `pattern`.
pub(super) fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    matches_at(&pattern, &text)
}

fn matches_at(pattern: &[char], text: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else { return text.is_empty() };
    match first {
        '*' => (0..=text.len()).any(|skip| matches_at(rest, &text[skip..])),
        '?' => !text.is_empty() && matches_at(rest, &text[1..]),
        '[' => match (set(rest), text.first()) {
            (Some((accepts, after)), Some(&c)) => accepts(c) && matches_at(after, &text[1..]),
            // An unclosed bracket is itself.
            (None, Some(&'[')) => matches_at(rest, &text[1..]),
            _ => false,
        },
        '\\' if !rest.is_empty() => text.first() == Some(&rest[0]) && matches_at(&rest[1..], &text[1..]),
        c => text.first() == Some(&c) && matches_at(rest, &text[1..]),
    }
}

/// A bracket expression after its `[`: what it accepts, and the pattern after its `]`.
#[allow(clippy::type_complexity)]
fn set(after_open: &[char]) -> Option<(Box<dyn Fn(char) -> bool>, &[char])> {
    let (negated, body) = match after_open.first() {
        Some('!' | '^') => (true, &after_open[1..]),
        _ => (false, after_open),
    };
    // A `]` first is a member, not the end.
    let close = body.iter().skip(1).position(|c| *c == ']')? + 1;
    let members: Vec<char> = body[..close].to_vec();
    let accepts = move |c: char| {
        let mut i = 0;
        let mut found = false;
        while i < members.len() {
            if i + 2 < members.len() && members[i + 1] == '-' {
                found |= (members[i]..=members[i + 2]).contains(&c);
                i += 3;
            } else {
                found |= members[i] == c;
                i += 1;
            }
        }
        found != negated
    };
    Some((Box::new(accepts), &body[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_whole_words() {
        assert!(matches("*", ""));
        assert!(matches("kubia-*", "kubia-7x2lq"));
        assert!(!matches("kubia-*", "web-1"));
        assert!(matches("?.txt", "a.txt") && !matches("?.txt", "ab.txt"));
        assert!(matches("[abc]x", "bx") && !matches("[abc]x", "dx"));
        assert!(matches("[a-z]*", "start") && !matches("[a-z]*", "Start"));
        assert!(matches("[!0-9]*", "x1") && !matches("[!0-9]*", "1x"));
        assert!(matches("\\*", "*") && !matches("\\*", "a"));
        assert!(matches("[", "["));
    }
}

//! YAML syntax highlighting for the manifest editor: each line split into classed pieces
//! (comments, document separators, keys, strings, numbers and booleans). Line by line and
//! forgiving: it colours what a person reads, it does not validate (the server does that).

/// One piece of a line and its class (`""` for plain text).
pub type Piece = (&'static str, String);

fn scalar_class(value: &str) -> &'static str {
    let v = value.trim();
    if v.starts_with('"') || v.starts_with('\'') {
        "s"
    } else if matches!(v, "true" | "false" | "null" | "~" | "yes" | "no") || (!v.is_empty() && v.parse::<f64>().is_ok())
    {
        "n"
    } else {
        ""
    }
}

/// Splits a value at a trailing comment (a `#` after whitespace, outside quotes).
fn split_comment(value: &str) -> (&str, &str) {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in value.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return (&value[..i], &value[i..]),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    (value, "")
}

fn push_value(out: &mut Vec<Piece>, value: &str) {
    let (value, comment) = split_comment(value);
    if !value.is_empty() {
        out.push((scalar_class(value), value.to_string()));
    }
    if !comment.is_empty() {
        out.push(("c", comment.to_string()));
    }
}

/// The pieces of one line.
pub fn line(text: &str) -> Vec<Piece> {
    let trimmed = text.trim_start();
    let indent = &text[..text.len() - trimmed.len()];
    let mut out: Vec<Piece> = Vec::new();
    if !indent.is_empty() {
        out.push(("", indent.to_string()));
    }
    if trimmed.starts_with('#') {
        out.push(("c", trimmed.to_string()));
        return out;
    }
    if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
        out.push(("sep", trimmed.to_string()));
        return out;
    }
    let mut rest = trimmed;
    while let Some(after) = rest.strip_prefix("- ").or_else(|| (rest == "-").then_some("")) {
        out.push(("dash", "- ".to_string()));
        rest = after;
    }
    // `key: value`, where the key is not quoted text containing a colon.
    let key_end = rest.find(": ").or_else(|| rest.strip_suffix(':').map(str::len));
    match key_end {
        Some(end) if !rest.starts_with(['"', '\'', '{', '[']) && !rest[..end].contains('#') => {
            out.push(("k", rest[..end].to_string()));
            out.push(("", ":".to_string()));
            push_value(&mut out, &rest[end + 1..]);
        }
        _ => push_value(&mut out, rest),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str) -> Vec<(&'static str, String)> {
        line(text).into_iter().filter(|(c, _)| !c.is_empty()).collect()
    }

    #[test]
    fn keys_values_and_comments() {
        assert_eq!(classes("kind: Service"), [("k", "kind".to_string())]);
        assert_eq!(
            classes("  - port: 80 # the service port"),
            [
                ("dash", "- ".to_string()),
                ("k", "port".to_string()),
                ("n", " 80 ".to_string()),
                ("c", "# the service port".to_string())
            ]
        );
        assert_eq!(classes("    app: \"kubia\""), [("k", "app".to_string()), ("s", " \"kubia\"".to_string())]);
        assert_eq!(classes("---"), [("sep", "---".to_string())]);
        assert_eq!(classes("# a comment"), [("c", "# a comment".to_string())]);
        assert_eq!(classes("  url: http://kubia:80/#top"), [("k", "url".to_string())]);
    }

    #[test]
    fn every_character_is_kept() {
        for text in ["  - name: http # x", "spec:", "- - a", "  command: [ls, /var/ready]", "a: 'b: c'"] {
            assert_eq!(line(text).iter().map(|(_, t)| t.as_str()).collect::<String>(), text);
        }
    }
}

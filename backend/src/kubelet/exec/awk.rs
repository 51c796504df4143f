//! `seq` and a small `awk`: the programs scripts use in pipes — `pattern { print … }` rules whose
//! pattern is a `/regex/` or `NR==n` (or none), printing fields (`$2`, `$NF`, `$0`), `NR`, `NF`
//! and strings, with `-F` for the separator. Anything beyond says it is not supported.

use super::{Ctx, Output};

/// `seq [first [step]] last`.
pub(super) fn seq(args: &[String]) -> Output {
    let numbers: Result<Vec<i64>, _> = args.iter().map(|a| a.parse::<i64>()).collect();
    let Ok(numbers) = numbers else {
        let bad = args.iter().find(|a| a.parse::<i64>().is_err()).cloned().unwrap_or_default();
        return Output::fail(1, format!("seq: invalid number '{bad}'\n"));
    };
    let (first, step, last) = match numbers.as_slice() {
        [last] => (1, 1, *last),
        [first, last] => (*first, 1, *last),
        [first, step, last] if *step != 0 => (*first, *step, *last),
        _ => return Output::fail(1, "Usage: seq [-w] [-s SEP] [FIRST [INC]] LAST\n"),
    };
    let mut out = String::new();
    let mut n = first;
    while (step > 0 && n <= last) || (step < 0 && n >= last) {
        out.push_str(&format!("{n}\n"));
        n += step;
    }
    Output::ok(out)
}

#[derive(Debug, Clone)]
enum Pattern {
    All,
    Regex(regex::Regex),
    Line(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Field(usize),
    LastField,
    Nr,
    Nf,
    Text(String),
}

/// One rule: a pattern and what `print` prints (nothing listed: the whole line).
#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    print: Vec<Item>,
}

fn unsupported(program: &str) -> String {
    format!(
        "awk: cmd. line:1: {program}\nawk: svclab's awk runs rules like '/regex/ {{print $2}}', 'NR==1', '{{print $1, NF}}'\n"
    )
}

fn parse(program: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    let mut rest = program.trim();
    while !rest.is_empty() {
        let pattern = if let Some(after) = rest.strip_prefix('/') {
            let end = after.find('/').ok_or_else(|| unsupported(program))?;
            let re = regex::Regex::new(&after[..end]).map_err(|_| unsupported(program))?;
            rest = after[end + 1..].trim_start();
            Pattern::Regex(re)
        } else if let Some(after) = rest.strip_prefix("NR==") {
            let end = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
            let n = after[..end].parse().map_err(|_| unsupported(program))?;
            rest = after[end..].trim_start();
            Pattern::Line(n)
        } else {
            Pattern::All
        };
        let print = if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').ok_or_else(|| unsupported(program))?;
            let body = after[..end].trim().trim_end_matches(';').trim();
            rest = after[end + 1..].trim_start();
            let args = body.strip_prefix("print").ok_or_else(|| unsupported(program))?;
            items(args, program)?
        } else if matches!(pattern, Pattern::All) {
            return Err(unsupported(program));
        } else {
            vec![]
        };
        rules.push(Rule { pattern, print });
        rest = rest.trim_start_matches([';', '\n', ' ']);
    }
    Ok(rules)
}

/// `print`'s arguments: `$2, "x", NR` (commas join with a space).
fn items(args: &str, program: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for part in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(match part {
            "$0" => Item::Field(0),
            "$NF" => Item::LastField,
            "NR" => Item::Nr,
            "NF" => Item::Nf,
            s if s.starts_with('"') && s.ends_with('"') && s.len() >= 2 => Item::Text(s[1..s.len() - 1].to_string()),
            s => Item::Field(s.strip_prefix('$').and_then(|n| n.parse().ok()).ok_or_else(|| unsupported(program))?),
        });
    }
    Ok(out)
}

pub(super) fn awk(ctx: &Ctx, args: &[String], stdin: Vec<u8>) -> Output {
    let (mut separator, mut rest) = (None::<String>, Vec::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.strip_prefix("-F") {
            Some("") => separator = it.next().cloned(),
            Some(sep) => separator = Some(sep.to_string()),
            None => rest.push(arg.clone()),
        }
    }
    let Some((program, files)) = rest.split_first() else {
        return Output::fail(2, "usage: awk [-F fs] 'prog' [file ...]\n");
    };
    let rules = match parse(program) {
        Ok(r) => r,
        Err(e) => return Output::fail(2, e),
    };
    let text = if files.is_empty() {
        String::from_utf8_lossy(&stdin).into_owned()
    } else {
        let mut text = String::new();
        for file in files {
            match ctx.read_file(file) {
                Ok(data) => text.push_str(&String::from_utf8_lossy(&data)),
                Err(e) => return Output::fail(2, format!("awk: cannot open \"{file}\" ({e})\n")),
            }
        }
        text
    };
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = match &separator {
            Some(sep) => line.split(sep.as_str()).collect(),
            None => line.split_whitespace().collect(),
        };
        for rule in &rules {
            let hit = match &rule.pattern {
                Pattern::All => true,
                Pattern::Regex(re) => re.is_match(line),
                Pattern::Line(n) => i + 1 == *n,
            };
            if !hit {
                continue;
            }
            if rule.print.is_empty() {
                out.push_str(line);
            } else {
                let words: Vec<String> = rule
                    .print
                    .iter()
                    .map(|item| match item {
                        Item::Field(0) => line.to_string(),
                        Item::Field(n) => fields.get(n - 1).copied().unwrap_or_default().to_string(),
                        Item::LastField => fields.last().copied().unwrap_or_default().to_string(),
                        Item::Nr => (i + 1).to_string(),
                        Item::Nf => fields.len().to_string(),
                        Item::Text(t) => t.clone(),
                    })
                    .collect();
                out.push_str(&words.join(" "));
            }
            out.push('\n');
        }
    }
    Output::ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_counts_as_coreutils_does() {
        assert_eq!(seq(&["3".into()]).stdout, b"1\n2\n3\n");
        assert_eq!(seq(&["2".into(), "2".into(), "6".into()]).stdout, b"2\n4\n6\n");
        assert_eq!(seq(&["x".into()]).stderr, "seq: invalid number 'x'\n");
    }

    #[test]
    fn awk_rules_parse_and_print_fields() {
        let rules = parse("/^  HTTP/{print $2}").unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].print, [Item::Field(2)]);
        assert!(parse("{x = 1}").is_err());
        assert_eq!(parse("NR==2").unwrap()[0].print, []);
        assert_eq!(items("$1, \"is\", NF", "").unwrap(), [Item::Field(1), Item::Text("is".into()), Item::Nf]);
    }
}

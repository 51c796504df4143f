//! `expr`: evaluates its arguments as an expression (pure), as busybox's does: integers and
//! strings with `|`, `&`, comparisons (numeric when both sides are integers), `+ - * / %`,
//! `STRING : REGEX` (anchored at the start: the match's length, or its first group), `length`,
//! and parentheses. It prints the result and exits 1 when that is empty or 0, 2 on an error.

use super::Output;

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Str(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Str(s) => s.clone(),
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Str(s) => s.parse().ok(),
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Value::Int(n) => *n == 0,
            Value::Str(s) => s.is_empty() || s == "0",
        }
    }
}

/// The binary operators by precedence, loosest first.
const LEVELS: &[&[&str]] =
    &[&["|"], &["&"], &["<", "<=", "=", "==", "!=", ">=", ">"], &["+", "-"], &["*", "/", "%"], &[":"]];

struct Parser<'a> {
    args: &'a [String],
    at: usize,
}

impl Parser<'_> {
    fn binary(&mut self, level: usize) -> Result<Value, &'static str> {
        let Some(ops) = LEVELS.get(level) else { return self.primary() };
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.args.get(self.at).filter(|a| ops.contains(&a.as_str())) {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Value, &'static str> {
        let arg = self.args.get(self.at).ok_or("syntax error")?;
        self.at += 1;
        match arg.as_str() {
            "(" => {
                let value = self.binary(0)?;
                if self.args.get(self.at).map(String::as_str) != Some(")") {
                    return Err("syntax error");
                }
                self.at += 1;
                Ok(value)
            }
            "length" => {
                let of = self.primary()?;
                Ok(Value::Int(of.text().chars().count() as i64))
            }
            _ => Ok(arg.parse().map(Value::Int).unwrap_or_else(|_| Value::Str(arg.clone()))),
        }
    }
}

fn apply(op: &str, a: Value, b: Value) -> Result<Value, &'static str> {
    let numbers = a.int().zip(b.int());
    Ok(match op {
        "|" => {
            if a.is_null() {
                if b.is_null() { Value::Int(0) } else { b }
            } else {
                a
            }
        }
        "&" => {
            if a.is_null() || b.is_null() {
                Value::Int(0)
            } else {
                a
            }
        }
        ":" => {
            let pattern = regex::Regex::new(&format!("^(?:{})", basic_regex(&b.text())))
                .map_err(|_| "invalid regular expression")?;
            let text = a.text();
            match pattern.captures(&text) {
                Some(c) if c.len() > 1 => Value::Str(c.get(1).map_or("", |m| m.as_str()).to_string()),
                Some(c) => Value::Int(c[0].chars().count() as i64),
                None if pattern.captures_len() > 1 => Value::Str(String::new()),
                None => Value::Int(0),
            }
        }
        "<" | "<=" | "=" | "==" | "!=" | ">=" | ">" => {
            let ordering = match numbers {
                Some((x, y)) => x.cmp(&y),
                None => a.text().cmp(&b.text()),
            };
            let holds = match op {
                "<" => ordering.is_lt(),
                "<=" => ordering.is_le(),
                "=" | "==" => ordering.is_eq(),
                "!=" => ordering.is_ne(),
                ">=" => ordering.is_ge(),
                _ => ordering.is_gt(),
            };
            Value::Int(i64::from(holds))
        }
        _ => {
            let (x, y) = numbers.ok_or("non-numeric argument")?;
            Value::Int(match op {
                "+" => x.wrapping_add(y),
                "-" => x.wrapping_sub(y),
                "*" => x.wrapping_mul(y),
                _ if y == 0 => return Err("division by zero"),
                "/" => x.wrapping_div(y),
                _ => x.wrapping_rem(y),
            })
        }
    })
}

/// A POSIX basic regular expression as the regex crate reads one: `\(…\)` and `\{…\}` group
/// and count, while `(`, `)`, `{`, `}`, `+`, `?` and `|` are themselves.
fn basic_regex(bre: &str) -> String {
    let mut out = String::new();
    let mut chars = bre.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(g @ ('(' | ')' | '{' | '}')) => out.push(g),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push_str("\\\\"),
            },
            '(' | ')' | '{' | '}' | '+' | '?' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `expr ARG…`.
pub fn expr(args: &[String]) -> Output {
    let mut parser = Parser { args, at: 0 };
    let value = parser.binary(0).and_then(|v| if parser.at == args.len() { Ok(v) } else { Err("syntax error") });
    match value {
        Ok(v) => {
            Output { code: i32::from(v.is_null()), stdout: format!("{}\n", v.text()).into_bytes(), ..Output::default() }
        }
        Err(why) => Output::fail(2, format!("expr: {why}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = expr(&args);
        (out.code, out.stdout_text().into_owned(), out.stderr)
    }

    #[test]
    fn arithmetic_comparisons_and_strings() {
        assert_eq!(run(&["1", "+", "2", "*", "3"]), (0, "7\n".into(), String::new()));
        assert_eq!(run(&["(", "1", "+", "2", ")", "*", "3"]), (0, "9\n".into(), String::new()));
        assert_eq!(run(&["5", "-", "5"]), (1, "0\n".into(), String::new()));
        assert_eq!(run(&["10", ">", "9"]), (0, "1\n".into(), String::new()));
        assert_eq!(run(&["abc", "<", "abd"]), (0, "1\n".into(), String::new()));
        assert_eq!(run(&["", "|", "fallback"]), (0, "fallback\n".into(), String::new()));
        assert_eq!(run(&["kubia-7x2lq", ":", "kubia-"]), (0, "6\n".into(), String::new()));
        assert_eq!(run(&["kubia-7x2lq", ":", "kubia-\\(.*\\)"]), (0, "7x2lq\n".into(), String::new()));
        assert_eq!(run(&["a+b", ":", "a+"]), (0, "2\n".into(), String::new()));
        assert_eq!(run(&["length", "kubia"]), (0, "5\n".into(), String::new()));
    }

    #[test]
    fn errors_exit_2() {
        assert_eq!(run(&["1", "/", "0"]), (2, String::new(), "expr: division by zero\n".into()));
        assert_eq!(run(&["a", "+", "1"]), (2, String::new(), "expr: non-numeric argument\n".into()));
        assert_eq!(run(&["1", "+"]), (2, String::new(), "expr: syntax error\n".into()));
        assert_eq!(run(&[]), (2, String::new(), "expr: syntax error\n".into()));
    }
}

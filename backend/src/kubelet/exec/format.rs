//! Formatted output (pure): `printf FORMAT [ARG…]` as busybox's (conversions `%s %b %c %d %i %u
//! %x %X %o %f %e %g %%` with flags, width and precision, backslash escapes, the format reused
//! while arguments remain) and `date [-u] [+FORMAT]`.

use super::Output;

/// A format's backslash escapes: `\n`, `\t`, `\\`, `\0NNN` (octal) and the rest of C's.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some(d @ '0'..='7') => {
                let mut value = d.to_digit(8).unwrap_or(0);
                for _ in 0..3 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(v) if value * 8 + v < 256 => {
                            value = value * 8 + v;
                            chars.next();
                        }
                        _ => break,
                    }
                }
                out.push(char::from(value as u8));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// One `%…` conversion's flags, width and precision.
#[derive(Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
    precision: Option<usize>,
}

impl Spec {
    fn pad(&self, body: String) -> String {
        let len = body.chars().count();
        if len >= self.width {
            return body;
        }
        let fill = self.width - len;
        if self.left {
            format!("{body}{}", " ".repeat(fill))
        } else if self.zero {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest.to_string()),
                None => ("", body.clone()),
            };
            format!("{sign}{}{digits}", "0".repeat(fill))
        } else {
            format!("{}{body}", " ".repeat(fill))
        }
    }

    fn signed(&self, n: i64) -> String {
        match n {
            n if n >= 0 && self.plus => format!("+{n}"),
            n if n >= 0 && self.space => format!(" {n}"),
            n => n.to_string(),
        }
    }
}

/// An argument read as a number: decimal, `0x` hex, a leading `'c` as the character's code.
fn number(arg: &str, errors: &mut String) -> i64 {
    let arg = arg.trim();
    if let Some(c) = arg.strip_prefix(['\'', '"']).and_then(|s| s.chars().next()) {
        return c as i64;
    }
    let parsed = match arg.strip_prefix("0x").or_else(|| arg.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None if arg.is_empty() => Some(0),
        None => arg.parse().ok(),
    };
    parsed.unwrap_or_else(|| {
        errors.push_str(&format!("printf: invalid number '{arg}'\n"));
        0
    })
}

/// `printf FORMAT [ARG…]`.
pub fn printf(args: &[String]) -> Output {
    let Some(format) = args.first() else {
        return Output::fail(1, "printf: missing format\n");
    };
    let chars: Vec<char> = format.chars().collect();
    let mut rest = args[1..].iter();
    let (mut out, mut errors) = (String::new(), String::new());
    loop {
        let mut consumed = false;
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '%' {
                let end = chars[i..].iter().position(|c| *c == '%').map_or(chars.len(), |p| i + p);
                out.push_str(&unescape(&chars[i..end].iter().collect::<String>()));
                i = end;
                continue;
            }
            i += 1;
            if chars.get(i) == Some(&'%') {
                out.push('%');
                i += 1;
                continue;
            }
            let mut spec = Spec::default();
            while let Some(flag) = chars.get(i).filter(|c| matches!(c, '-' | '0' | '+' | ' ' | '#')) {
                match flag {
                    '-' => spec.left = true,
                    '0' => spec.zero = true,
                    '+' => spec.plus = true,
                    ' ' => spec.space = true,
                    _ => {}
                }
                i += 1;
            }
            let digits = |i: &mut usize| {
                let start = *i;
                while chars.get(*i).is_some_and(char::is_ascii_digit) {
                    *i += 1;
                }
                chars[start..*i].iter().collect::<String>().parse::<usize>().ok()
            };
            spec.width = digits(&mut i).unwrap_or(0);
            if chars.get(i) == Some(&'.') {
                i += 1;
                spec.precision = Some(digits(&mut i).unwrap_or(0));
            }
            let Some(&conversion) = chars.get(i) else {
                errors.push_str(&format!(
                    "printf: %{}: invalid format\n",
                    chars[i.min(chars.len())..].iter().collect::<String>()
                ));
                break;
            };
            i += 1;
            let arg = rest.next();
            consumed |= arg.is_some();
            let arg = arg.map(String::as_str).unwrap_or_default();
            let body = match conversion {
                's' => arg.chars().take(spec.precision.unwrap_or(usize::MAX)).collect(),
                'b' => unescape(arg),
                'c' => arg.chars().next().map(String::from).unwrap_or_default(),
                'd' | 'i' => spec.signed(number(arg, &mut errors)),
                'u' => (number(arg, &mut errors) as u64).to_string(),
                'x' => format!("{:x}", number(arg, &mut errors)),
                'X' => format!("{:X}", number(arg, &mut errors)),
                'o' => format!("{:o}", number(arg, &mut errors)),
                'f' | 'e' | 'g' => {
                    let value: f64 = arg.trim().parse().unwrap_or_else(|_| number(arg, &mut errors) as f64);
                    let precision = spec.precision.unwrap_or(6);
                    match conversion {
                        'f' => format!("{value:.precision$}"),
                        'e' => format!("{value:.precision$e}"),
                        _ => format!("{value}"),
                    }
                }
                other => {
                    errors.push_str(&format!("printf: %{other}: invalid format\n"));
                    break;
                }
            };
            out.push_str(&spec.pad(body));
        }
        if !consumed || rest.len() == 0 {
            break;
        }
    }
    Output { code: i32::from(!errors.is_empty()), stdout: out.into_bytes(), stderr: errors }
}

/// `date [-u] [+FORMAT]`: now, in the machine's zone (UTC with `-u`), as `FORMAT` (strftime's
/// conversions) or `date`'s default.
pub fn date(args: &[String]) -> Output {
    let mut now = jiff::Zoned::now();
    let mut format = "%a %b %e %H:%M:%S %Z %Y".to_string();
    for arg in args {
        match arg.as_str() {
            "-u" | "--utc" => now = now.with_time_zone(jiff::tz::TimeZone::UTC),
            _ if arg.starts_with('+') => format = arg[1..].to_string(),
            _ => return Output::fail(1, format!("date: invalid date '{arg}'\n")),
        }
    }
    match jiff::fmt::strtime::format(&format, &now) {
        Ok(text) => Output::ok(format!("{text}\n")),
        Err(e) => Output::fail(1, format!("date: {e}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(args: &[&str]) -> (String, String) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = printf(&args);
        (out.stdout_text().into_owned(), out.stderr)
    }

    #[test]
    fn printf_formats_as_c_does() {
        assert_eq!(printed(&["%s: %d\\n", "pods", "3"]).0, "pods: 3\n");
        assert_eq!(printed(&["%5s|%-5s|%05d|%+d\\n", "a", "b", "42", "7"]).0, "    a|b    |00042|+7\n");
        assert_eq!(printed(&["%x %X %o %c %.2f %%\\n", "255", "255", "8", "yes", "3.14159"]).0, "ff FF 10 y 3.14 %\n");
        // The format is used again while arguments remain.
        assert_eq!(printed(&["%s=%s\\n", "a", "1", "b", "2"]).0, "a=1\nb=2\n");
        assert_eq!(printed(&["%b", "tab\\there"]).0, "tab\there");
        assert_eq!(printed(&["%.3s\\n", "kubernetes"]).0, "kub\n");
        assert_eq!(printed(&["no newline"]).0, "no newline");
    }

    #[test]
    fn printf_says_what_it_cannot_read() {
        assert_eq!(printed(&["%d\\n", "abc"]), ("0\n".into(), "printf: invalid number 'abc'\n".into()));
        assert_eq!(printf(&[]).code, 1);
    }

    #[test]
    fn date_takes_a_format() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let seconds = date(&args(&["+%s"])).stdout_text().trim().parse::<i64>().unwrap();
        assert!((seconds - jiff::Timestamp::now().as_second()).abs() < 5);
        assert_eq!(date(&args(&["-u", "+%Z"])).stdout_text(), "UTC\n");
        assert_eq!(date(&args(&["yesterday"])).code, 1);
    }
}

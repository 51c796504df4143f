//! Arithmetic expansion, `$((…))`: the shell's integer expressions (pure over a variable lookup
//! and store): C's operators and precedence, POSIX's set (`+ - * / % << >> < <= > >= == != & ^ |
//! && || ! ~ ?:`, assignments `= += -= *= /= %= <<= >>= &= ^= |=`), names read as their
//! variables' values (unset or empty is 0), numbers in decimal, octal (`010`) and hex (`0x1f`).

/// Why an expression cannot be evaluated, in busybox ash's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArithError {
    #[error("arithmetic syntax error")]
    Syntax,
    #[error("divide by zero")]
    DivideByZero,
}

/// The variables an expression reads and assigns.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
    fn set(&mut self, name: &str, value: String);
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

/// Operators, longest first so that `<<=` is read before `<<` and `<`.
const OPS: &[&str] = &[
    "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", "+",
    "-", "*", "/", "%", "<", ">", "&", "^", "|", "!", "~", "?", ":", "=", "(", ")",
];

fn number(text: &str) -> Result<i64, ArithError> {
    let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        i64::from_str_radix(&text[1..], 8)
    } else {
        text.parse()
    };
    parsed.map_err(|_| ArithError::Syntax)
}

fn tokenize(src: &str) -> Result<Vec<Tok>, ArithError> {
    let mut out = Vec::new();
    let mut rest = src.trim_start();
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or_default();
        if c.is_ascii_alphanumeric() || c == '_' {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let word = &rest[..end];
            out.push(if c.is_ascii_digit() { Tok::Num(number(word)?) } else { Tok::Name(word.to_string()) });
            rest = &rest[end..];
        } else {
            let op = OPS.iter().find(|op| rest.starts_with(**op)).ok_or(ArithError::Syntax)?;
            out.push(Tok::Op(op));
            rest = &rest[op.len()..];
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// Evaluates `src` (already past parameter expansion), reading and assigning `vars`.
pub fn evaluate(src: &str, vars: &mut dyn Vars) -> Result<i64, ArithError> {
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Ok(0);
    }
    let mut parser = Parser { tokens, at: 0, vars, skip: 0 };
    let value = parser.assignment()?;
    if parser.at != parser.tokens.len() {
        return Err(ArithError::Syntax);
    }
    Ok(value)
}

struct Parser<'a> {
    tokens: Vec<Tok>,
    at: usize,
    vars: &'a mut dyn Vars,
    /// Inside the side of `&&`, `||` or `?:` that is not taken: nothing is assigned or divided.
    skip: usize,
}

/// The binary operators by precedence, loosest first (after `?:`).
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", "<=", ">", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.peek(), Some(Tok::Op(o)) if *o == op);
        self.at += usize::from(found);
        found
    }

    fn read(&self, name: &str) -> Result<i64, ArithError> {
        match self.vars.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            None => Ok(0),
            Some(v) => v.strip_prefix('-').map_or_else(|| number(&v), |n| number(n).map(|n| -n)),
        }
    }

    fn assignment(&mut self) -> Result<i64, ArithError> {
        if let (Some(Tok::Name(name)), Some(Tok::Op(op))) = (self.tokens.get(self.at), self.tokens.get(self.at + 1))
            && op.ends_with('=')
            && !matches!(*op, "==" | "!=" | "<=" | ">=")
        {
            let (name, op) = (name.clone(), *op);
            self.at += 2;
            let rhs = self.assignment()?;
            let value = match op.strip_suffix('=').filter(|o| !o.is_empty()) {
                Some(binary) => self.apply(binary, self.read(&name)?, rhs)?,
                None => rhs,
            };
            if self.skip == 0 {
                self.vars.set(&name, value.to_string());
            }
            return Ok(value);
        }
        self.conditional()
    }

    fn conditional(&mut self) -> Result<i64, ArithError> {
        let condition = self.binary(0)?;
        if !self.eat("?") {
            return Ok(condition);
        }
        let (yes, no) = (condition != 0, condition == 0);
        let then = self.branch(!yes, Self::assignment)?;
        if !self.eat(":") {
            return Err(ArithError::Syntax);
        }
        let otherwise = self.branch(!no, Self::conditional)?;
        Ok(if yes { then } else { otherwise })
    }

    /// Parses with `part`, evaluating for nothing when `skipped`.
    fn branch(
        &mut self,
        skipped: bool,
        part: impl FnOnce(&mut Self) -> Result<i64, ArithError>,
    ) -> Result<i64, ArithError> {
        self.skip += usize::from(skipped);
        let value = part(self);
        self.skip -= usize::from(skipped);
        value
    }

    fn binary(&mut self, level: usize) -> Result<i64, ArithError> {
        let Some(ops) = LEVELS.get(level) else { return self.unary() };
        let mut left = self.binary(level + 1)?;
        loop {
            let Some(Tok::Op(op)) = self.peek().cloned() else { return Ok(left) };
            if !ops.contains(&op) {
                return Ok(left);
            }
            self.at += 1;
            left = match op {
                "&&" => {
                    let right = self.branch(left == 0, |p| p.binary(level + 1))?;
                    i64::from(left != 0 && right != 0)
                }
                "||" => {
                    let right = self.branch(left != 0, |p| p.binary(level + 1))?;
                    i64::from(left != 0 || right != 0)
                }
                _ => {
                    let right = self.binary(level + 1)?;
                    self.apply(op, left, right)?
                }
            };
        }
    }

    fn apply(&self, op: &str, a: i64, b: i64) -> Result<i64, ArithError> {
        if matches!(op, "/" | "%") && b == 0 {
            return if self.skip > 0 { Ok(0) } else { Err(ArithError::DivideByZero) };
        }
        Ok(match op {
            "+" => a.wrapping_add(b),
            "-" => a.wrapping_sub(b),
            "*" => a.wrapping_mul(b),
            "/" => a.wrapping_div(b),
            "%" => a.wrapping_rem(b),
            "<<" => a.wrapping_shl(b as u32),
            ">>" => a.wrapping_shr(b as u32),
            "<" => i64::from(a < b),
            "<=" => i64::from(a <= b),
            ">" => i64::from(a > b),
            ">=" => i64::from(a >= b),
            "==" => i64::from(a == b),
            "!=" => i64::from(a != b),
            "&" => a & b,
            "^" => a ^ b,
            "|" => a | b,
            _ => return Err(ArithError::Syntax),
        })
    }

    fn unary(&mut self) -> Result<i64, ArithError> {
        for (op, f) in
            [("-", i64::wrapping_neg as fn(i64) -> i64), ("+", |v| v), ("!", |v| i64::from(v == 0)), ("~", |v| !v)]
        {
            if self.eat(op) {
                return self.unary().map(f);
            }
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<i64, ArithError> {
        let token = self.peek().cloned().ok_or(ArithError::Syntax)?;
        self.at += 1;
        match token {
            Tok::Num(n) => Ok(n),
            Tok::Name(name) => self.read(&name),
            Tok::Op("(") => {
                let value = self.assignment()?;
                if self.eat(")") { Ok(value) } else { Err(ArithError::Syntax) }
            }
            Tok::Op(_) => Err(ArithError::Syntax),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl Vars for HashMap<String, String> {
        fn get(&self, name: &str) -> Option<String> {
            HashMap::get(self, name).cloned()
        }
        fn set(&mut self, name: &str, value: String) {
            self.insert(name.to_string(), value);
        }
    }

    fn eval(src: &str, vars: &mut HashMap<String, String>) -> Result<i64, ArithError> {
        evaluate(src, vars)
    }

    #[test]
    fn c_precedence_and_bases() {
        let mut vars = HashMap::new();
        assert_eq!(eval("1 + 2 * 3", &mut vars), Ok(7));
        assert_eq!(eval("(1 + 2) * 3", &mut vars), Ok(9));
        assert_eq!(eval("7 / 2 + 7 % 2", &mut vars), Ok(4));
        assert_eq!(eval("-3 - -3", &mut vars), Ok(0));
        assert_eq!(eval("1 << 4 | 1", &mut vars), Ok(17));
        assert_eq!(eval("0x1f + 010", &mut vars), Ok(39));
        assert_eq!(eval("2 > 1 && 3 <= 3", &mut vars), Ok(1));
        assert_eq!(eval("!5 || ~0 == -1", &mut vars), Ok(1));
        assert_eq!(eval("1 ? 2 : 3", &mut vars), Ok(2));
        assert_eq!(eval("", &mut vars), Ok(0));
    }

    #[test]
    fn names_read_and_assignments_write_variables() {
        let mut vars = HashMap::from([("i".to_string(), "41".to_string()), ("e".to_string(), String::new())]);
        assert_eq!(eval("i + 1", &mut vars), Ok(42));
        assert_eq!(eval("unset + e", &mut vars), Ok(0));
        assert_eq!(eval("i += 1", &mut vars), Ok(42));
        assert_eq!(vars["i"], "42");
        assert_eq!(eval("j = k = 3", &mut vars), Ok(3));
        assert_eq!((vars["j"].as_str(), vars["k"].as_str()), ("3", "3"));
        // The side not taken assigns nothing and divides by nothing.
        assert_eq!(eval("0 && (x = 1)", &mut vars), Ok(0));
        assert_eq!(eval("1 || 1 / 0", &mut vars), Ok(1));
        assert_eq!(eval("1 ? 5 : (y = 1 / 0)", &mut vars), Ok(5));
        assert!(!vars.contains_key("x") && !vars.contains_key("y"));
    }

    #[test]
    fn errors_are_ash_s() {
        let mut vars = HashMap::from([("word".to_string(), "abc".to_string())]);
        assert_eq!(eval("1 / 0", &mut vars), Err(ArithError::DivideByZero));
        assert_eq!(eval("1 +", &mut vars), Err(ArithError::Syntax));
        assert_eq!(eval("(1", &mut vars), Err(ArithError::Syntax));
        assert_eq!(eval("1 2", &mut vars), Err(ArithError::Syntax));
        assert_eq!(eval("09", &mut vars), Err(ArithError::Syntax));
        assert_eq!(eval("word + 1", &mut vars), Err(ArithError::Syntax));
        assert_eq!(ArithError::DivideByZero.to_string(), "divide by zero");
    }
}

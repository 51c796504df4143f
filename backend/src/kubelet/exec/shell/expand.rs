//! The shell's expansions: parameters (`$VAR`, positional ones, `${…}` and its operators),
//! command substitution, arithmetic, and field splitting of what is not quoted.

use super::lex::{ParamOp, Part, Word};
use super::{arith, lex, pattern};
use crate::kubelet::exec::Ctx;

impl arith::Vars for Ctx {
    fn get(&self, name: &str) -> Option<String> {
        self.var(name)
    }
    fn set(&mut self, name: &str, value: String) {
        self.set_var(name, value);
    }
}

impl Ctx {
    /// A parameter's value, empty when it is unset.
    pub(super) fn lookup(&self, name: &str) -> String {
        self.param(name).unwrap_or_default()
    }

    /// Expands a word into fields: unquoted substitutions split on blanks.
    pub(super) async fn expand(&mut self, word: &Word) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut has_content = false;
        for part in word {
            let (text, quoted) = match part {
                Part::Lit(l) => {
                    current.push_str(l);
                    has_content = true;
                    continue;
                }
                Part::Var { name, quoted: true } if name == "@" => {
                    // "$@": each parameter a field of its own (none when there are none).
                    for (i, arg) in self.args.iter().enumerate() {
                        if i > 0 {
                            fields.push(std::mem::take(&mut current));
                        }
                        current.push_str(arg);
                        has_content = true;
                    }
                    continue;
                }
                Part::Var { name, quoted } => (self.lookup(name), *quoted),
                Part::Param { name, op, word, quoted } => (Box::pin(self.parameter(name, *op, word)).await, *quoted),
                Part::Subst { script, quoted } => {
                    self.capturing += 1;
                    let out = Box::pin(self.run_script_text(script, Vec::new())).await;
                    self.capturing -= 1;
                    self.last_code = out.code;
                    // A substitution's errors go to the shell's standard error.
                    self.substitution_stderr.push_str(&out.stderr);
                    (out.stdout_text().trim_end_matches('\n').to_string(), *quoted)
                }
                Part::Arith { expr, quoted } => (Box::pin(self.arithmetic(expr)).await, *quoted),
            };
            if quoted {
                current.push_str(&text);
                has_content = true;
                continue;
            }
            let mut pieces = text.split([' ', '\t', '\n']).peekable();
            let mut first = true;
            while let Some(piece) = pieces.next() {
                if !first && (has_content || !current.is_empty()) {
                    fields.push(std::mem::take(&mut current));
                    has_content = false;
                }
                first = false;
                if !piece.is_empty() {
                    current.push_str(piece);
                    has_content = true;
                }
                let _ = pieces.peek();
            }
        }
        if has_content || !current.is_empty() {
            fields.push(current);
        }
        fields
    }

    /// Text with its parameters, substitutions and arithmetic expanded as inside double quotes
    /// (an arithmetic expression, a `${…}` operator's word); `None` when it does not parse.
    /// Nested expressions count towards the shell's nesting limit.
    pub(super) async fn expand_text(&mut self, text: &str) -> Option<String> {
        if text.is_empty() {
            return Some(String::new());
        }
        if self.depth >= super::MAX_DEPTH {
            return Some(self.expansion_failed("too many nested shells and substitutions"));
        }
        let tokens = lex::tokenize(&format!("\"{text}\"")).ok()?;
        let [lex::Token::Word(word)] = tokens.as_slice() else { return None };
        self.depth += 1;
        let expanded = self.expand_one(word).await;
        self.depth -= 1;
        Some(expanded)
    }

    /// An expansion failed: the shell says why and ends (code 2), as a non-interactive ash does;
    /// the command it was part of does not run.
    fn expansion_failed(&mut self, why: &str) -> String {
        self.substitution_stderr.push_str(&format!("{}: {why}\n", self.shell_name));
        self.exited = Some(2);
        self.last_code = 2;
        String::new()
    }

    /// `$((expr))`: the expression's parameters expanded, then evaluated.
    async fn arithmetic(&mut self, expr: &str) -> String {
        let expanded = self.expand_text(expr).await;
        match expanded.ok_or(arith::ArithError::Syntax).and_then(|e| arith::evaluate(&e, self)) {
            Ok(n) => n.to_string(),
            Err(e) => self.expansion_failed(&e.to_string()),
        }
    }

    /// A parameter's value, `None` when it is unset.
    fn param(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.last_code.to_string()),
            "$" => Some("1".into()),
            "!" => self.jobs.last.map(|pid| pid.to_string()),
            "#" => Some(self.args.len().to_string()),
            "@" | "*" => Some(self.args.join(" ")),
            "0" => self.var(name),
            _ if name.bytes().all(|b| b.is_ascii_digit()) => {
                self.args.get(name.parse::<usize>().ok()?.checked_sub(1)?).cloned()
            }
            _ => self.var(name),
        }
    }

    /// `${NAME<op>WORD}`.
    async fn parameter(&mut self, name: &str, op: ParamOp, word: &str) -> String {
        let value = self.param(name);
        let set = |colon: bool| value.as_ref().is_some_and(|v| !(colon && v.is_empty()));
        let Some(word) = self.expand_text(word).await else {
            return self.expansion_failed(&format!("${{{name}}}: bad substitution"));
        };
        let value_or_empty = value.clone().unwrap_or_default();
        match op {
            ParamOp::Default { colon } => {
                if set(colon) {
                    value_or_empty
                } else {
                    word
                }
            }
            ParamOp::Assign { colon } if set(colon) => value_or_empty,
            ParamOp::Assign { .. } => {
                self.set_var(name, word.clone());
                word
            }
            ParamOp::Alternative { colon } => {
                if set(colon) {
                    word
                } else {
                    String::new()
                }
            }
            ParamOp::Error { colon } if set(colon) => value_or_empty,
            ParamOp::Error { .. } => {
                let why = if word.is_empty() { "parameter not set".to_string() } else { word };
                self.expansion_failed(&format!("{name}: {why}"))
            }
            ParamOp::Length => value_or_empty.chars().count().to_string(),
            ParamOp::TrimPrefix { longest } => {
                let chars: Vec<char> = value_or_empty.chars().collect();
                let mut cuts: Vec<usize> = (0..=chars.len()).collect();
                if longest {
                    cuts.reverse();
                }
                let cut = cuts.into_iter().find(|&i| pattern::matches(&word, &chars[..i].iter().collect::<String>()));
                cut.map_or(value_or_empty.clone(), |i| chars[i..].iter().collect())
            }
            ParamOp::TrimSuffix { longest } => {
                let chars: Vec<char> = value_or_empty.chars().collect();
                let mut cuts: Vec<usize> = (0..=chars.len()).rev().collect();
                if longest {
                    cuts.reverse();
                }
                let cut = cuts.into_iter().find(|&i| pattern::matches(&word, &chars[i..].iter().collect::<String>()));
                cut.map_or(value_or_empty.clone(), |i| chars[..i].iter().collect())
            }
        }
    }

    pub(super) async fn expand_one(&mut self, word: &Word) -> String {
        self.expand(word).await.join(" ")
    }
}

//! The shell's tokenizer: quoting, `$…` expansions, operators and redirections, from a script's
//! text to tokens.

use super::syntax::{Op, Part, Redir, RedirKind, Token, Word, is_name};

/// Reads the `$NAME`, `${NAME}` and `$?` forms (`$(…)` is cut out by [`tokenize`]).
struct Lexer<'a> {
    pub(super) chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Lexer<'_> {
    /// Reads `$…` after the dollar sign.
    fn dollar(&mut self, quoted: bool) -> Result<Part, String> {
        match self.chars.peek().copied() {
            Some('{') => {
                self.chars.next();
                let mut name = String::new();
                loop {
                    match self.chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err("syntax error: missing '}'".into()),
                    }
                }
                // `${VAR:-default}` (unset or empty) and `${VAR-default}` (unset).
                let split = name.find(":-").map(|i| (i, 2, true)).or_else(|| name.find('-').map(|i| (i, 1, false)));
                if let Some((i, len, colon)) = split.filter(|(i, _, _)| is_name(&name[..*i])) {
                    let default = name[i + len..].to_string();
                    return Ok(Part::Default { name: name[..i].to_string(), colon, default, quoted });
                }
                if !is_name(&name) && !matches!(name.as_str(), "?" | "$" | "#") {
                    return Err(format!("${{{name}}}: bad substitution"));
                }
                Ok(Part::Var { name, quoted })
            }
            Some(c @ ('?' | '$' | '#')) => {
                self.chars.next();
                Ok(Part::Var { name: c.to_string(), quoted })
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(&c) = self.chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        self.chars.next();
                    } else {
                        break;
                    }
                }
                Ok(Part::Var { name, quoted })
            }
            _ => Ok(Part::Lit("$".into())),
        }
    }
}

fn flush_lit(word: &mut Word, lit: &mut String) {
    if !lit.is_empty() {
        word.push(Part::Lit(std::mem::take(lit)));
    }
}

/// Adds an expansion to the word being read (a lone `$` stays literal text).
fn push_part(word: &mut Word, lit: &mut String, part: Part) {
    match part {
        Part::Lit(l) => lit.push_str(&l),
        part => {
            flush_lit(word, lit);
            word.push(part);
        }
    }
}

/// Splits a script into tokens.
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    // `$(…)` needs the raw text, so it is cut out before the character loop sees it.
    let mut tokens = Vec::new();
    let mut word: Word = Vec::new();
    let mut lit = String::new();
    let mut in_word = false;
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    macro_rules! end_word {
        () => {
            if in_word {
                flush_lit(&mut word, &mut lit);
                tokens.push(Token::Word(std::mem::take(&mut word)));
                in_word = false;
            }
        };
    }
    // Reads `$…` at chars[i] == '$'; returns the part and the index after it.
    let dollar = |i: usize, quoted: bool| -> Result<(Part, usize), String> {
        if chars.get(i + 1) == Some(&'(') {
            let mut depth = 0;
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            let script: String = chars[i + 2..j].iter().collect();
                            return Ok((Part::Subst { script, quoted }, j + 1));
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            return Err("syntax error: unexpected end of file (expecting \")\")".into());
        }
        let rest: String = chars[i + 1..].iter().collect();
        let mut lexer = Lexer { chars: rest.chars().peekable() };
        let part = lexer.dollar(quoted)?;
        let consumed = rest.chars().count() - lexer.chars.count();
        Ok((part, i + 1 + consumed))
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                end_word!();
                i += 1;
            }
            '\n' | ';' => {
                end_word!();
                tokens.push(Token::Op(Op::Semi));
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '&' | '|' => {
                end_word!();
                let double = chars.get(i + 1) == Some(&c);
                if c == '&' && chars.get(i + 1) == Some(&'>') {
                    // `&>file`: stdout and stderr to a file.
                    let append = chars.get(i + 2) == Some(&'>');
                    i += if append { 3 } else { 2 };
                    let target = Vec::new();
                    tokens.push(Token::Redir(Redir { fd: 1, kind: RedirKind::Out { append }, target }));
                    tokens.push(Token::Redir(Redir { fd: 2, kind: RedirKind::Dup(1), target: Vec::new() }));
                    continue;
                }
                let op = match (c, double) {
                    ('&', true) => Op::And,
                    ('|', true) => Op::Or,
                    ('|', false) => Op::Pipe,
                    // A background `&` runs in the foreground here, like a `;`.
                    _ => Op::Semi,
                };
                tokens.push(Token::Op(op));
                i += if double { 2 } else { 1 };
            }
            '!' if !in_word && chars.get(i + 1).is_none_or(|c| c.is_whitespace()) => {
                tokens.push(Token::Op(Op::Bang));
                i += 1;
            }
            '<' | '>' => {
                // A lone digit just before makes it the descriptor: `2>`.
                let fd = if in_word && word.is_empty() && lit.len() == 1 && lit.as_bytes()[0].is_ascii_digit() {
                    let fd = lit.as_bytes()[0] - b'0';
                    lit.clear();
                    in_word = false;
                    fd
                } else {
                    end_word!();
                    if c == '<' { 0 } else { 1 }
                };
                i += 1;
                let kind = if c == '<' {
                    RedirKind::In
                } else if chars.get(i) == Some(&'>') {
                    i += 1;
                    RedirKind::Out { append: true }
                } else if chars.get(i) == Some(&'&') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    let to = chars[i + 1] as u8 - b'0';
                    i += 2;
                    tokens.push(Token::Redir(Redir { fd, kind: RedirKind::Dup(to), target: Vec::new() }));
                    continue;
                } else {
                    RedirKind::Out { append: false }
                };
                tokens.push(Token::Redir(Redir { fd, kind, target: Vec::new() }));
            }
            '\'' => {
                in_word = true;
                let end = chars[i + 1..].iter().position(|&c| c == '\'');
                let end = end.ok_or("syntax error: unterminated quoted string")?;
                lit.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("syntax error: unterminated quoted string".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if chars.get(i + 1).is_some_and(|c| matches!(c, '"' | '\\' | '$' | '`')) => {
                            lit.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => {
                            let (part, next) = dollar(i, true)?;
                            push_part(&mut word, &mut lit, part);
                            i = next;
                        }
                        Some(&c) => {
                            lit.push(c);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&c) => lit.push(c),
                    None => {}
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                let (part, next) = dollar(i, false)?;
                push_part(&mut word, &mut lit, part);
                i = next;
            }
            '~' if !in_word && chars.get(i + 1).is_none_or(|c| *c == '/' || c.is_whitespace()) => {
                in_word = true;
                word.push(Part::Var { name: "HOME".into(), quoted: true });
                i += 1;
            }
            c => {
                in_word = true;
                lit.push(c);
                i += 1;
            }
        }
    }
    if in_word {
        flush_lit(&mut word, &mut lit);
        tokens.push(Token::Word(word));
    }
    Ok(tokens)
}

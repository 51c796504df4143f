//! `sh`: a small POSIX-style shell. The parser (pure) turns a script into lists of pipelines of
//! commands (simple ones, and `if`/`while`/`until`/`for`) with `;`, `&&`, `||`, `|`, `!`, redirections (`<`, `>`, `>>`, `2>`, `2>&1`,
//! `&>`), quoting, `$VAR`/`${VAR}`/`${VAR:-default}`/`$?`/`$$` and `$(…)`; the runner executes them with the
//! built-in commands, keeping the working directory, variables and exit codes as a shell does.

use super::{Ctx, Output};
use std::future::Future;
use std::pin::Pin;

/// A piece of a word: literal text, or a variable or command substitution (quoted or not).
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var { name: String, quoted: bool },
    Default { name: String, colon: bool, default: String, quoted: bool },
    Subst { script: String, quoted: bool },
}

type Word = Vec<Part>;

/// Where a redirected stream goes: a path, and whether to append.
type FileTarget = (String, bool);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Semi,
    And,
    Or,
    Pipe,
    Bang,
}

#[derive(Debug, Clone, PartialEq)]
enum RedirKind {
    In,
    Out {
        append: bool,
    },
    /// `n>&m`
    Dup(u8),
}

#[derive(Debug, Clone, PartialEq)]
struct Redir {
    fd: u8,
    kind: RedirKind,
    target: Word,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(Word),
    Op(Op),
    Redir(Redir),
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Simple {
    assigns: Vec<(String, Word)>,
    words: Vec<Word>,
    redirs: Vec<Redir>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Pipeline {
    negate: bool,
    commands: Vec<Command>,
}

/// A command in a pipeline: a simple one, or a compound one.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Simple(Simple),
    /// `if c; then b; elif c; then b; else e; fi`
    If {
        branches: Vec<(Script, Script)>,
        otherwise: Option<Script>,
    },
    /// `while c; do b; done` (`until` when `until`).
    While {
        until: bool,
        cond: Script,
        body: Script,
    },
    /// `for v in words; do b; done`
    For {
        var: String,
        words: Vec<Word>,
        body: Script,
    },
}

/// `a && b || c`: the first pipeline and the rest with whether each joins by `&&`.
#[derive(Debug, Clone, PartialEq)]
struct AndOr {
    first: Pipeline,
    rest: Vec<(bool, Pipeline)>,
}

/// A parsed script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script(Vec<AndOr>);

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads the `$NAME`, `${NAME}` and `$?` forms (`$(…)` is cut out by [`tokenize`]).
struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
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
fn tokenize(src: &str) -> Result<Vec<Token>, String> {
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

fn unexpected(token: Option<&Token>) -> String {
    let what = match token {
        None => "end of file".to_string(),
        Some(Token::Op(Op::Semi)) => "\";\"".into(),
        Some(Token::Op(Op::And)) => "\"&&\"".into(),
        Some(Token::Op(Op::Or)) => "\"||\"".into(),
        Some(Token::Op(Op::Pipe)) => "\"|\"".into(),
        Some(Token::Op(Op::Bang)) => "\"!\"".into(),
        Some(Token::Redir(_)) => "redirection".into(),
        Some(t @ Token::Word(_)) => match keyword(Some(t)) {
            Some(k) => format!("\"{k}\""),
            None => "word".into(),
        },
    };
    format!("syntax error: unexpected {what}")
}

type Tokens = std::iter::Peekable<std::vec::IntoIter<Token>>;

/// The reserved word a token is, when it is an unquoted plain word.
fn keyword(token: Option<&Token>) -> Option<&str> {
    match token {
        Some(Token::Word(w)) => match w.as_slice() {
            [Part::Lit(l)]
                if matches!(
                    l.as_str(),
                    "if" | "then" | "elif" | "else" | "fi" | "while" | "until" | "do" | "done" | "for" | "in"
                ) =>
            {
                Some(l.as_str())
            }
            _ => None,
        },
        _ => None,
    }
}

fn skip_separators(it: &mut Tokens) {
    while it.peek() == Some(&Token::Op(Op::Semi)) {
        it.next();
    }
}

/// Parses a script.
pub fn parse(src: &str) -> Result<Script, String> {
    let tokens = tokenize(src)?;
    let mut it = tokens.into_iter().peekable();
    let script = parse_list(&mut it, &[])?;
    match it.next() {
        None => Ok(script),
        other => Err(unexpected(other.as_ref())),
    }
}

/// A list of and-or lists, up to (not including) one of the reserved words in `stop`.
fn parse_list(it: &mut Tokens, stop: &[&str]) -> Result<Script, String> {
    let mut lists = Vec::new();
    loop {
        skip_separators(it);
        if it.peek().is_none() || keyword(it.peek()).is_some_and(|k| stop.contains(&k)) {
            break;
        }
        let first = parse_pipeline(it)?;
        let mut rest = Vec::new();
        while let Some(Token::Op(op @ (Op::And | Op::Or))) = it.peek().cloned() {
            it.next();
            skip_separators(it);
            rest.push((op == Op::And, parse_pipeline(it)?));
        }
        lists.push(AndOr { first, rest });
        let at_stop = keyword(it.peek()).is_some_and(|k| stop.contains(&k));
        match it.peek() {
            None | Some(Token::Op(Op::Semi)) => {}
            _ if at_stop => {}
            other => return Err(unexpected(other)),
        }
    }
    Ok(Script(lists))
}

/// Consumes the reserved word `word`, or says what came instead.
fn expect(it: &mut Tokens, word: &str) -> Result<(), String> {
    if keyword(it.peek()) == Some(word) {
        it.next();
        Ok(())
    } else {
        let found = it.next();
        Err(match found {
            None => format!("syntax error: unexpected end of file (expecting \"{word}\")"),
            other => unexpected(other.as_ref()),
        })
    }
}

fn parse_compound(it: &mut Tokens, word: &str) -> Result<Command, String> {
    it.next();
    match word {
        "if" => {
            let mut branches = Vec::new();
            let mut otherwise = None;
            loop {
                let cond = parse_list(it, &["then"])?;
                expect(it, "then")?;
                let body = parse_list(it, &["elif", "else", "fi"])?;
                branches.push((cond, body));
                match keyword(it.peek()) {
                    Some("elif") => {
                        it.next();
                    }
                    Some("else") => {
                        it.next();
                        otherwise = Some(parse_list(it, &["fi"])?);
                        expect(it, "fi")?;
                        break;
                    }
                    _ => {
                        expect(it, "fi")?;
                        break;
                    }
                }
            }
            Ok(Command::If { branches, otherwise })
        }
        "while" | "until" => {
            let cond = parse_list(it, &["do"])?;
            expect(it, "do")?;
            let body = parse_list(it, &["done"])?;
            expect(it, "done")?;
            Ok(Command::While { until: word == "until", cond, body })
        }
        _ => {
            let var = match it.next() {
                Some(Token::Word(w)) => match w.as_slice() {
                    [Part::Lit(l)] if is_name(l) => l.clone(),
                    _ => return Err("syntax error: bad for loop variable".into()),
                },
                other => return Err(unexpected(other.as_ref())),
            };
            let mut words = Vec::new();
            if keyword(it.peek()) == Some("in") {
                it.next();
                while let Some(Token::Word(_)) = it.peek() {
                    if keyword(it.peek()) == Some("do") {
                        break;
                    }
                    let Some(Token::Word(w)) = it.next() else { unreachable!() };
                    words.push(w);
                }
            }
            skip_separators(it);
            expect(it, "do")?;
            let body = parse_list(it, &["done"])?;
            expect(it, "done")?;
            Ok(Command::For { var, words, body })
        }
    }
}

fn parse_pipeline(it: &mut Tokens) -> Result<Pipeline, String> {
    let mut pipeline = Pipeline::default();
    if it.peek() == Some(&Token::Op(Op::Bang)) {
        it.next();
        pipeline.negate = true;
    }
    loop {
        match keyword(it.peek()) {
            Some(k @ ("if" | "while" | "until" | "for")) => {
                let k = k.to_string();
                pipeline.commands.push(parse_compound(it, &k)?);
            }
            Some(_) => return Err(unexpected(it.peek())),
            None => pipeline.commands.push(Command::Simple(parse_simple(it)?)),
        }
        if it.peek() == Some(&Token::Op(Op::Pipe)) {
            it.next();
        } else {
            return Ok(pipeline);
        }
    }
}

fn parse_simple(it: &mut Tokens) -> Result<Simple, String> {
    let mut simple = Simple::default();
    loop {
        match it.peek() {
            Some(Token::Word(_)) => {
                let Some(Token::Word(w)) = it.next() else { unreachable!() };
                let assignment = match (simple.words.is_empty(), w.first()) {
                    (true, Some(Part::Lit(l))) => l.split_once('=').filter(|(n, _)| is_name(n)).map(|(n, v)| {
                        let mut value = vec![Part::Lit(v.to_string())];
                        value.extend(w[1..].iter().cloned());
                        (n.to_string(), value)
                    }),
                    _ => None,
                };
                match assignment {
                    Some(a) => simple.assigns.push(a),
                    None => simple.words.push(w),
                }
            }
            Some(Token::Redir(_)) => {
                let Some(Token::Redir(mut r)) = it.next() else { unreachable!() };
                if !matches!(r.kind, RedirKind::Dup(_)) && r.target.is_empty() {
                    match it.next() {
                        Some(Token::Word(w)) => r.target = w,
                        other => return Err(unexpected(other.as_ref())),
                    }
                }
                simple.redirs.push(r);
            }
            _ => break,
        }
    }
    if simple == Simple::default() {
        return Err(unexpected(it.peek()));
    }
    Ok(simple)
}

impl Ctx {
    fn lookup(&self, name: &str) -> String {
        match name {
            "?" => self.last_code.to_string(),
            "$" => "1".into(),
            "#" => "0".into(),
            _ => self.var(name).unwrap_or_default(),
        }
    }

    /// Expands a word into fields: unquoted substitutions split on blanks.
    async fn expand(&mut self, word: &Word) -> Vec<String> {
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
                Part::Var { name, quoted } => (self.lookup(name), *quoted),
                Part::Default { name, colon, default, quoted } => {
                    let value = match self.var(name) {
                        Some(v) if !(*colon && v.is_empty()) => v,
                        _ => default.clone(),
                    };
                    (value, *quoted)
                }
                Part::Subst { script, quoted } => {
                    let out = Box::pin(self.run_script_text(script, Vec::new())).await;
                    self.last_code = out.code;
                    (out.stdout.trim_end_matches('\n').to_string(), *quoted)
                }
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

    async fn expand_one(&mut self, word: &Word) -> String {
        self.expand(word).await.join(" ")
    }

    /// Parses and runs a script; the output of all its commands, and the last exit code.
    pub fn run_script_text<'a>(
        &'a mut self,
        src: &'a str,
        stdin: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Output> + Send + 'a>> {
        Box::pin(async move {
            match parse(src) {
                Ok(script) => self.run_script(&script, stdin).await,
                Err(e) => {
                    self.last_code = 2;
                    Output::fail(2, format!("{}: {e}\n", self.shell_name))
                }
            }
        })
    }

    pub async fn run_script(&mut self, script: &Script, stdin: Vec<u8>) -> Output {
        let mut out = Output::default();
        let mut stdin = Some(stdin);
        for and_or in &script.0 {
            let mut code = self.run_pipeline(&and_or.first, stdin.take().unwrap_or_default(), &mut out).await;
            for (and, pipeline) in &and_or.rest {
                if self.exited.is_some() {
                    break;
                }
                if (*and && code == 0) || (!*and && code != 0) {
                    code = self.run_pipeline(pipeline, Vec::new(), &mut out).await;
                }
            }
            out.code = code;
            if let Some(code) = self.exited {
                out.code = code;
                break;
            }
        }
        out
    }

    async fn run_pipeline(&mut self, pipeline: &Pipeline, stdin: Vec<u8>, out: &mut Output) -> i32 {
        let mut input = stdin;
        let mut code = 0;
        let last = pipeline.commands.len() - 1;
        for (i, command) in pipeline.commands.iter().enumerate() {
            let result = match command {
                Command::Simple(simple) => self.run_simple(simple, std::mem::take(&mut input)).await,
                compound => self.run_compound(compound, std::mem::take(&mut input)).await,
            };
            out.stderr.push_str(&result.stderr);
            code = result.code;
            if i == last {
                out.stdout.push_str(&result.stdout);
            } else {
                input = result.stdout.into_bytes();
            }
            if self.exited.is_some() {
                break;
            }
        }
        if pipeline.negate {
            code = (code == 0) as i32;
        }
        self.last_code = code;
        code
    }

    /// Runs `if`, `while`/`until` and `for`; every loop turn yields, so that a busy loop can
    /// still be interrupted.
    fn run_compound<'a>(
        &'a mut self,
        command: &'a Command,
        stdin: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Output> + Send + 'a>> {
        Box::pin(async move {
            let mut out = Output::default();
            let absorb = |out: &mut Output, part: Output| {
                out.stdout.push_str(&part.stdout);
                out.stderr.push_str(&part.stderr);
                out.code = part.code;
            };
            match command {
                Command::Simple(_) => unreachable!("simple commands run on their own"),
                Command::If { branches, otherwise } => {
                    let mut stdin = Some(stdin);
                    for (cond, body) in branches {
                        let tested = self.run_script(cond, stdin.take().unwrap_or_default()).await;
                        let passed = tested.code == 0;
                        absorb(&mut out, tested);
                        if self.exited.is_some() {
                            return out;
                        }
                        if passed {
                            let ran = self.run_script(body, Vec::new()).await;
                            absorb(&mut out, ran);
                            return out;
                        }
                    }
                    out.code = 0;
                    if let Some(otherwise) = otherwise {
                        let ran = self.run_script(otherwise, Vec::new()).await;
                        absorb(&mut out, ran);
                    }
                }
                Command::While { until, cond, body } => {
                    out.code = 0;
                    loop {
                        tokio::task::yield_now().await;
                        let tested = self.run_script(cond, Vec::new()).await;
                        let go = (tested.code == 0) != *until;
                        let last = out.code;
                        absorb(&mut out, tested);
                        out.code = last;
                        if !go || self.exited.is_some() {
                            break;
                        }
                        let ran = self.run_script(body, Vec::new()).await;
                        absorb(&mut out, ran);
                        if self.exited.is_some() {
                            break;
                        }
                    }
                }
                Command::For { var, words, body } => {
                    let mut values = Vec::new();
                    for word in words {
                        values.extend(self.expand(word).await);
                    }
                    out.code = 0;
                    for value in values {
                        tokio::task::yield_now().await;
                        self.set_var(var, value);
                        let ran = self.run_script(body, Vec::new()).await;
                        absorb(&mut out, ran);
                        if self.exited.is_some() {
                            break;
                        }
                    }
                }
            }
            self.last_code = out.code;
            out
        })
    }

    async fn run_simple(&mut self, command: &Simple, stdin: Vec<u8>) -> Output {
        let mut argv = Vec::new();
        for word in &command.words {
            argv.extend(self.expand(word).await);
        }
        let mut assigns = Vec::new();
        for (name, value) in &command.assigns {
            assigns.push((name.clone(), self.expand_one(value).await));
        }
        if argv.is_empty() {
            for (name, value) in assigns {
                self.set_var(&name, value);
            }
            return self.redirect_only(command).await;
        }
        // Input redirection.
        let mut stdin = stdin;
        for r in &command.redirs {
            if r.kind == RedirKind::In {
                let path = self.expand_one(&r.target).await;
                match self.read_file(&path) {
                    Ok(data) => stdin = data,
                    Err(e) => return Output::fail(1, format!("{}: can't open {path}: {e}\n", self.shell_name)),
                }
            }
        }
        let saved: Vec<(String, Option<String>)> = assigns.iter().map(|(n, _)| (n.clone(), self.env_var(n))).collect();
        for (name, value) in assigns {
            self.export(&name, value);
        }
        let mut output = self.command(&argv, stdin).await;
        for (name, old) in saved {
            match old {
                Some(v) => self.export(&name, v),
                None => self.unexport(&name),
            }
        }
        // Output redirections, left to right.
        let (mut to_file_out, mut to_file_err): (Option<FileTarget>, Option<FileTarget>) = (None, None);
        for r in &command.redirs {
            match (&r.kind, r.fd) {
                (RedirKind::Out { append }, fd) => {
                    let path = self.expand_one(&r.target).await;
                    let target = Some((path, *append));
                    if fd == 2 { to_file_err = target } else { to_file_out = target }
                }
                (RedirKind::Dup(1), 2) => {
                    if let Some(t) = &to_file_out {
                        to_file_err = Some((t.0.clone(), true));
                    } else {
                        let err = std::mem::take(&mut output.stderr);
                        output.stdout.push_str(&err);
                    }
                }
                (RedirKind::Dup(2), 1) => {
                    let out = std::mem::take(&mut output.stdout);
                    output.stderr.push_str(&out);
                }
                _ => {}
            }
        }
        if let Some((path, append)) = to_file_out {
            let data = std::mem::take(&mut output.stdout);
            if let Err(e) = self.write_file(&path, data.as_bytes(), append) {
                return Output::fail(1, format!("{}: can't create {path}: {e}\n", self.shell_name));
            }
        }
        if let Some((path, append)) = to_file_err {
            let data = std::mem::take(&mut output.stderr);
            if let Err(e) = self.write_file(&path, data.as_bytes(), append) {
                return Output::fail(1, format!("{}: can't create {path}: {e}\n", self.shell_name));
            }
        }
        output
    }

    /// A command of only redirections (`> file` truncates or creates it).
    async fn redirect_only(&mut self, command: &Simple) -> Output {
        for r in &command.redirs {
            let path = self.expand_one(&r.target).await;
            let result = match r.kind {
                RedirKind::Out { append } => self.write_file(&path, b"", append),
                RedirKind::In => self.read_file(&path).map(|_| ()),
                RedirKind::Dup(_) => Ok(()),
            };
            if let Err(e) = result {
                return Output::fail(1, format!("{}: can't open {path}: {e}\n", self.shell_name));
            }
        }
        Output::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple(c: &Command) -> &Simple {
        match c {
            Command::Simple(s) => s,
            other => panic!("not a simple command: {other:?}"),
        }
    }

    #[test]
    fn compound_commands_parse() {
        let s = parse("if test -f /x; then echo a; elif false; then echo b; else echo c; fi").unwrap();
        let Command::If { branches, otherwise } = &s.0[0].first.commands[0] else { panic!() };
        assert_eq!((branches.len(), otherwise.is_some()), (2, true));
        let s = parse("while true\ndo\n  sleep 1\ndone | head -n 1").unwrap();
        assert!(matches!(s.0[0].first.commands[0], Command::While { until: false, .. }));
        assert_eq!(s.0[0].first.commands.len(), 2);
        let s = parse("for i in a b; do echo $i; done; echo done").unwrap();
        assert!(matches!(&s.0[0].first.commands[0], Command::For { var, words, .. } if var == "i" && words.len() == 2));
        assert_eq!(s.0.len(), 2, "`done` as an argument is a plain word");
        assert_eq!(parse("if true; then echo").unwrap_err(), "syntax error: unexpected end of file (expecting \"fi\")");
        assert_eq!(parse("then").unwrap_err(), "syntax error: unexpected \"then\"");
    }

    fn lit(s: &str) -> Word {
        vec![Part::Lit(s.into())]
    }

    #[test]
    fn quoting_and_variables_tokenize() {
        let script = parse("echo 'a b' \"x $HOME y\" $? ${PATH}z").unwrap();
        let words = &simple(&script.0[0].first.commands[0]).words;
        assert_eq!(words[0], lit("echo"));
        assert_eq!(words[1], lit("a b"));
        assert_eq!(
            words[2],
            vec![Part::Lit("x ".into()), Part::Var { name: "HOME".into(), quoted: true }, Part::Lit(" y".into())]
        );
        assert_eq!(words[3], vec![Part::Var { name: "?".into(), quoted: false }]);
        assert_eq!(words[4], vec![Part::Var { name: "PATH".into(), quoted: false }, Part::Lit("z".into())]);
    }

    #[test]
    fn lists_pipelines_and_redirections_parse() {
        let script = parse("a && b || c; ! d | e > f 2>&1; X=1 g < h").unwrap();
        assert_eq!(script.0.len(), 3);
        assert_eq!(script.0[0].rest.len(), 2);
        assert!(script.0[0].rest[0].0 && !script.0[0].rest[1].0);
        let p = &script.0[1].first;
        assert!(p.negate);
        assert_eq!(p.commands.len(), 2);
        assert_eq!(simple(&p.commands[1]).redirs.len(), 2);
        assert_eq!(simple(&p.commands[1]).redirs[1].kind, RedirKind::Dup(1));
        assert_eq!(simple(&script.0[2].first.commands[0]).assigns, [("X".to_string(), lit("1"))]);
        assert_eq!(simple(&script.0[2].first.commands[0]).redirs[0].kind, RedirKind::In);
        let s = parse("echo ${A:-x y}").unwrap();
        let default = Part::Default { name: "A".into(), colon: true, default: "x y".into(), quoted: false };
        assert_eq!(simple(&s.0[0].first.commands[0]).words[1], vec![default]);
        let s = parse("echo $(hostname -i) x").unwrap();
        assert_eq!(
            simple(&s.0[0].first.commands[0]).words[1],
            vec![Part::Subst { script: "hostname -i".into(), quoted: false }]
        );
    }

    #[test]
    fn syntax_errors_say_what_was_unexpected() {
        assert_eq!(parse("| a").unwrap_err(), "syntax error: unexpected \"|\"");
        assert_eq!(parse("a &&").unwrap_err(), "syntax error: unexpected end of file");
        assert_eq!(parse("echo 'x").unwrap_err(), "syntax error: unterminated quoted string");
        assert_eq!(parse("a >").unwrap_err(), "syntax error: unexpected end of file");
        assert!(parse("# only a comment\n").unwrap().0.is_empty());
    }
}

//! The shell's syntax tree and parser (pure): from the tokenizer's tokens to lists of pipelines
//! of simple and compound commands.

use super::lex::{Op, Part, Redir, RedirKind, SyntaxError, Token, Word, is_name, tokenize};

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Simple {
    pub(super) assigns: Vec<(String, Word)>,
    pub(super) words: Vec<Word>,
    pub(super) redirs: Vec<Redir>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Pipeline {
    pub(super) negate: bool,
    pub(super) commands: Vec<Command>,
}

/// A command in a pipeline: a simple one, or a compound one.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Command {
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
    /// `for v in words; do b; done`; without `in`, over the positional parameters.
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: Script,
    },
    /// `case word in p1|p2) list ;; … esac`: the first branch with a matching pattern runs.
    Case {
        word: Word,
        branches: Vec<(Vec<Word>, Script)>,
    },
    /// `{ list; }`
    Group(Script),
    /// `( list )`: the list in a copy of the shell, whose changes stay inside it.
    Subshell(Script),
    /// A compound command with redirections after it (`done < file`, `fi > out`).
    Redirected {
        command: Box<Command>,
        redirs: Vec<Redir>,
    },
    /// `name() compound-command`: defines a function.
    Function {
        name: String,
        body: std::sync::Arc<Script>,
    },
}

/// `a && b || c`: the first pipeline and the rest with whether each joins by `&&`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AndOr {
    pub(super) first: Pipeline,
    pub(super) rest: Vec<(bool, Pipeline)>,
    /// Ended by `&`: it runs in the background while the shell goes on.
    pub(super) background: bool,
}

/// A parsed script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script(pub(super) Vec<AndOr>);

pub(super) fn unexpected(token: Option<&Token>) -> SyntaxError {
    let what = match token {
        None => "end of file".to_string(),
        Some(Token::Op(Op::Semi)) => "\";\"".into(),
        Some(Token::Op(Op::And)) => "\"&&\"".into(),
        Some(Token::Op(Op::Or)) => "\"||\"".into(),
        Some(Token::Op(Op::Pipe)) => "\"|\"".into(),
        Some(Token::Op(Op::Bang)) => "\"!\"".into(),
        Some(Token::Op(Op::DoubleSemi)) => "\";;\"".into(),
        Some(Token::Op(Op::Amp)) => "\"&\"".into(),
        Some(Token::Op(Op::LParen)) => "\"(\"".into(),
        Some(Token::Op(Op::RParen)) => "\")\"".into(),
        Some(Token::Redir(_)) => "redirection".into(),
        Some(t @ Token::Word(_)) => match keyword(Some(t)) {
            Some(k) => format!("\"{k}\""),
            None => "word".into(),
        },
    };
    SyntaxError::Unexpected(what)
}

pub(super) type Tokens = std::iter::Peekable<std::vec::IntoIter<Token>>;

/// The reserved word a token is, when it is an unquoted plain word.
pub(super) fn keyword(token: Option<&Token>) -> Option<&str> {
    match token {
        Some(Token::Word(w)) => match w.as_slice() {
            [Part::Lit(l)]
                if matches!(
                    l.as_str(),
                    "if" | "then"
                        | "elif"
                        | "else"
                        | "fi"
                        | "while"
                        | "until"
                        | "do"
                        | "done"
                        | "for"
                        | "in"
                        | "case"
                        | "esac"
                        | "{"
                        | "}"
                ) =>
            {
                Some(l.as_str())
            }
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn skip_separators(it: &mut Tokens) {
    while it.peek() == Some(&Token::Op(Op::Semi)) {
        it.next();
    }
}

/// How deep `if`/`while`/`until`/`for` may nest: the parser and the runner recurse on it.
const MAX_NESTING: usize = 100;

/// The deepest nesting of compound commands (counting their reserved words wherever they stand,
/// which only over-counts).
fn nesting(tokens: &[Token]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for token in tokens {
        if *token == Token::Op(Op::LParen) {
            depth += 1;
            deepest = deepest.max(depth);
        } else if *token == Token::Op(Op::RParen) {
            depth = depth.saturating_sub(1);
        }
        match keyword(Some(token)) {
            Some("if" | "while" | "until" | "for" | "case" | "{") => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Some("fi" | "done" | "esac" | "}") => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses a script.
pub fn parse(src: &str) -> Result<Script, SyntaxError> {
    let tokens = tokenize(src)?;
    if nesting(&tokens) > MAX_NESTING {
        return Err(SyntaxError::TooDeep);
    }
    let mut it = tokens.into_iter().peekable();
    let script = parse_list(&mut it, &[])?;
    match it.next() {
        None => Ok(script),
        other => Err(unexpected(other.as_ref())),
    }
}

/// A list of and-or lists, up to (not including) one of the reserved words in `stop`.
pub(super) fn parse_list(it: &mut Tokens, stop: &[&str]) -> Result<Script, SyntaxError> {
    let mut lists = Vec::new();
    loop {
        skip_separators(it);
        // `;;` ends a `case` branch's list, `)` a subshell's, wherever one is.
        let branch_end = matches!(it.peek(), Some(Token::Op(Op::DoubleSemi | Op::RParen)));
        if it.peek().is_none() || branch_end || keyword(it.peek()).is_some_and(|k| stop.contains(&k)) {
            break;
        }
        let first = parse_pipeline(it)?;
        let mut rest = Vec::new();
        while let Some(Token::Op(op @ (Op::And | Op::Or))) = it.peek().cloned() {
            it.next();
            skip_separators(it);
            rest.push((op == Op::And, parse_pipeline(it)?));
        }
        let background = it.peek() == Some(&Token::Op(Op::Amp));
        if background {
            it.next();
        }
        lists.push(AndOr { first, rest, background });
        let at_stop = keyword(it.peek()).is_some_and(|k| stop.contains(&k));
        match it.peek() {
            // `&` ends the list before it as `;` does.
            _ if background => {}
            None | Some(Token::Op(Op::Semi | Op::DoubleSemi | Op::RParen)) => {}
            _ if at_stop => {}
            other => return Err(unexpected(other)),
        }
    }
    Ok(Script(lists))
}

/// Consumes the reserved word `word`, or says what came instead.
pub(super) fn expect(it: &mut Tokens, word: &'static str) -> Result<(), SyntaxError> {
    if keyword(it.peek()) == Some(word) {
        it.next();
        Ok(())
    } else {
        let found = it.next();
        Err(match found {
            None => SyntaxError::Expecting(word),
            other => unexpected(other.as_ref()),
        })
    }
}

pub(super) fn parse_compound(it: &mut Tokens, word: &str) -> Result<Command, SyntaxError> {
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
        "case" => parse_case(it),
        "{" => {
            let body = parse_list(it, &["}"])?;
            expect(it, "}")?;
            Ok(Command::Group(body))
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
                    _ => return Err(SyntaxError::BadForVariable),
                },
                other => return Err(unexpected(other.as_ref())),
            };
            let mut words = None;
            if keyword(it.peek()) == Some("in") {
                it.next();
                let words = words.get_or_insert_with(Vec::new);
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

/// After `case`: the word, `in`, then branches of `|`-separated patterns closed by `)` (an
/// opening `(` allowed), each list ended by `;;` or `esac`.
fn parse_case(it: &mut Tokens) -> Result<Command, SyntaxError> {
    let word = match it.next() {
        Some(Token::Word(w)) => w,
        other => return Err(unexpected(other.as_ref())),
    };
    skip_separators(it);
    expect(it, "in")?;
    let mut branches = Vec::new();
    loop {
        skip_separators(it);
        if keyword(it.peek()) == Some("esac") {
            it.next();
            return Ok(Command::Case { word, branches });
        }
        let mut patterns = Vec::new();
        if it.peek() == Some(&Token::Op(Op::LParen)) {
            it.next();
        }
        loop {
            let Some(Token::Word(mut pattern)) = it.next() else {
                return Err(SyntaxError::Unexpected("\"newline\"".into()));
            };
            if patterns.is_empty()
                && let Some(Part::Lit(l)) = pattern.first_mut()
                && l.starts_with('(')
            {
                l.remove(0);
            }
            let closed = match pattern.last_mut() {
                Some(Part::Lit(l)) if l.ends_with(')') => {
                    l.pop();
                    true
                }
                _ => false,
            };
            pattern.retain(|p| !matches!(p, Part::Lit(l) if l.is_empty()));
            if !pattern.is_empty() {
                patterns.push(pattern);
            }
            if closed {
                break;
            }
            match it.next() {
                Some(Token::Op(Op::Pipe)) => {}
                Some(Token::Op(Op::RParen)) => break,
                other => return Err(unexpected(other.as_ref())),
            }
        }
        let body = parse_list(it, &["esac"])?;
        branches.push((patterns, body));
        if it.peek() == Some(&Token::Op(Op::DoubleSemi)) {
            it.next();
        } else {
            skip_separators(it);
            if keyword(it.peek()) != Some("esac") {
                return Err(match it.peek() {
                    None => SyntaxError::Expecting("esac"),
                    other => unexpected(other),
                });
            }
        }
    }
}

/// The function a word defines: `name()`.
fn function_name(token: Option<&Token>) -> Option<String> {
    match token {
        Some(Token::Word(w)) => match w.as_slice() {
            [Part::Lit(l)] => l.strip_suffix("()").filter(|n| is_name(n)).map(String::from),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn parse_pipeline(it: &mut Tokens) -> Result<Pipeline, SyntaxError> {
    let mut pipeline = Pipeline::default();
    if it.peek() == Some(&Token::Op(Op::Bang)) {
        it.next();
        pipeline.negate = true;
    }
    loop {
        if it.peek() == Some(&Token::Op(Op::LParen)) {
            let command = parse_subshell(it)?;
            pipeline.commands.push(command);
            if it.peek() == Some(&Token::Op(Op::Pipe)) {
                it.next();
                continue;
            }
            return Ok(pipeline);
        }
        match keyword(it.peek()) {
            Some(k @ ("if" | "while" | "until" | "for" | "case" | "{")) => {
                let k = k.to_string();
                let command = parse_compound(it, &k)?;
                let mut redirs = Vec::new();
                while let Some(Token::Redir(_)) = it.peek() {
                    redirs.push(parse_redir(it)?);
                }
                pipeline.commands.push(match redirs.is_empty() {
                    true => command,
                    false => Command::Redirected { command: Box::new(command), redirs },
                });
            }
            Some(_) => return Err(unexpected(it.peek())),
            None => match function_name(it.peek()) {
                Some(name) => {
                    it.next();
                    skip_separators(it);
                    let body = match keyword(it.peek()) {
                        Some(k @ ("if" | "while" | "until" | "for" | "case" | "{")) => {
                            let k = k.to_string();
                            parse_compound(it, &k)?
                        }
                        _ => return Err(unexpected(it.peek())),
                    };
                    let body = std::sync::Arc::new(Script(vec![AndOr {
                        first: Pipeline { negate: false, commands: vec![body] },
                        rest: Vec::new(),
                        background: false,
                    }]));
                    pipeline.commands.push(Command::Function { name, body });
                }
                None => pipeline.commands.push(Command::Simple(parse_simple(it)?)),
            },
        }
        if it.peek() == Some(&Token::Op(Op::Pipe)) {
            it.next();
        } else {
            return Ok(pipeline);
        }
    }
}

/// `( list )` and the redirections after it.
fn parse_subshell(it: &mut Tokens) -> Result<Command, SyntaxError> {
    it.next();
    let body = parse_list(it, &[])?;
    match it.next() {
        Some(Token::Op(Op::RParen)) => {}
        None => return Err(SyntaxError::Expecting(")")),
        other => return Err(unexpected(other.as_ref())),
    }
    let mut redirs = Vec::new();
    while let Some(Token::Redir(_)) = it.peek() {
        redirs.push(parse_redir(it)?);
    }
    let command = Command::Subshell(body);
    Ok(if redirs.is_empty() { command } else { Command::Redirected { command: Box::new(command), redirs } })
}

/// A redirection and its target word.
fn parse_redir(it: &mut Tokens) -> Result<Redir, SyntaxError> {
    let Some(Token::Redir(mut r)) = it.next() else { return Err(unexpected(it.peek())) };
    if !matches!(r.kind, RedirKind::Dup(_) | RedirKind::Here { .. }) && r.target.is_empty() {
        match it.next() {
            Some(Token::Word(w)) => r.target = w,
            other => return Err(unexpected(other.as_ref())),
        }
    }
    Ok(r)
}

pub(super) fn parse_simple(it: &mut Tokens) -> Result<Simple, SyntaxError> {
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
            Some(Token::Redir(_)) => simple.redirs.push(parse_redir(it)?),
            _ => break,
        }
    }
    if simple == Simple::default() {
        return Err(unexpected(it.peek()));
    }
    Ok(simple)
}

#[cfg(test)]
mod tests;

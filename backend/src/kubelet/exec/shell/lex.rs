//! The shell's tokenizer: quoting, `$…` expansions, operators and redirections, from a script's
//! text to tokens (the tokens and the syntax errors are defined here, below the parser).

/// A piece of a word: literal text, or a variable or command substitution (quoted or not).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Lit(String),
    Var {
        name: String,
        quoted: bool,
    },
    /// `${NAME<op>WORD}`: the parameter as `op` says, `WORD` expanded when it is used.
    Param {
        name: String,
        op: ParamOp,
        word: String,
        quoted: bool,
    },
    Subst {
        script: String,
        quoted: bool,
    },
    /// `$((…))`: the expression's text, expanded and evaluated when the word is.
    Arith {
        expr: String,
        quoted: bool,
    },
}

pub(super) type Word = Vec<Part>;

/// What `${…}` does with its parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ParamOp {
    /// `-`, `:-`: the word when unset (or empty, with the colon).
    Default { colon: bool },
    /// `=`, `:=`: the same, and the variable is set to it.
    Assign { colon: bool },
    /// `+`, `:+`: the word when set (and not empty, with the colon), else nothing.
    Alternative { colon: bool },
    /// `?`, `:?`: the shell fails (saying the word, or `parameter not set`) when unset (or empty).
    Error { colon: bool },
    /// `${#NAME}`: its length.
    Length,
    /// `#`, `##`: the shortest or longest prefix matching the pattern removed.
    TrimPrefix { longest: bool },
    /// `%`, `%%`: the shortest or longest suffix matching it removed.
    TrimSuffix { longest: bool },
}

/// The operators after a parameter's name, longest first.
const PARAM_OPS: &[(&str, ParamOp)] = &[
    (":-", ParamOp::Default { colon: true }),
    (":=", ParamOp::Assign { colon: true }),
    (":+", ParamOp::Alternative { colon: true }),
    (":?", ParamOp::Error { colon: true }),
    ("##", ParamOp::TrimPrefix { longest: true }),
    ("%%", ParamOp::TrimSuffix { longest: true }),
    ("-", ParamOp::Default { colon: false }),
    ("=", ParamOp::Assign { colon: false }),
    ("+", ParamOp::Alternative { colon: false }),
    ("?", ParamOp::Error { colon: false }),
    ("#", ParamOp::TrimPrefix { longest: false }),
    ("%", ParamOp::TrimSuffix { longest: false }),
];

/// How long the parameter name at the start of `text` is: a name, digits, or one special.
fn param_name_len(text: &str) -> usize {
    match text.chars().next() {
        Some('?' | '$' | '#' | '@' | '*' | '!') => 1,
        Some(c) if c.is_ascii_digit() => text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len())
        }
        _ => 0,
    }
}

/// The inside of `${…}`.
fn braced(body: &str, quoted: bool) -> Result<Part, SyntaxError> {
    let bad = || SyntaxError::BadSubstitution(body.to_string());
    if let Some(name) = body.strip_prefix('#').filter(|n| !n.is_empty()) {
        if param_name_len(name) != name.len() {
            return Err(bad());
        }
        return Ok(Part::Param { name: name.to_string(), op: ParamOp::Length, word: String::new(), quoted });
    }
    let end = param_name_len(body);
    if end == 0 {
        return Err(bad());
    }
    let (name, rest) = body.split_at(end);
    if rest.is_empty() {
        return Ok(Part::Var { name: name.to_string(), quoted });
    }
    let (text, op) = PARAM_OPS.iter().find(|(text, _)| rest.starts_with(text)).ok_or_else(bad)?;
    Ok(Part::Param { name: name.to_string(), op: *op, word: rest[text.len()..].to_string(), quoted })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
    Semi,
    /// `;;`, which ends a `case` branch.
    DoubleSemi,
    And,
    Or,
    Pipe,
    Bang,
    /// `&`: the list before it runs in the background.
    Amp,
    /// `(` and `)`: a subshell's list, or a `case` pattern's end.
    LParen,
    RParen,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum RedirKind {
    In,
    Out {
        append: bool,
    },
    /// `n>&m`
    Dup(u8),
    /// `<<WORD` (`<<-WORD` strips leading tabs): the lines up to `WORD` as input, their
    /// parameters, substitutions and arithmetic expanded unless `WORD` was quoted.
    Here {
        body: String,
        expand: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Redir {
    pub(super) fd: u8,
    pub(super) kind: RedirKind,
    pub(super) target: Word,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(Word),
    Op(Op),
    Redir(Redir),
}

pub(super) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a script does not parse, in dash's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// A token where none of its kind can be: `unexpected ";"`, `unexpected end of file`.
    #[error("syntax error: unexpected {0}")]
    Unexpected(String),
    /// The script ended before the word that closes what it opened.
    #[error("syntax error: unexpected end of file (expecting \"{0}\")")]
    Expecting(&'static str),
    #[error("syntax error: compound commands nested too deeply")]
    TooDeep,
    #[error("syntax error: bad for loop variable")]
    BadForVariable,
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("${{{0}}}: bad substitution")]
    BadSubstitution(String),
    #[error("syntax error: unterminated quoted string")]
    UnterminatedQuote,
}

/// Where `$((…))` starting at `i` ends (the index of its last `)`): its two parentheses close
/// together. `None` for anything else, such as `$( (cd /; ls) )`.
fn arithmetic_end(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i + 1..i + 3) != Some(&['(', '('][..]) {
        return None;
    }
    let mut depth = 2;
    for j in i + 3..chars.len() {
        match chars[j] {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 1 {
                    return (chars.get(j + 1) == Some(&')')).then_some(j + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads the `$NAME`, `${NAME}` and `$?` forms (`$(…)` is cut out by [`tokenize`]).
struct Lexer<'a> {
    pub(super) chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Lexer<'_> {
    /// Reads `$…` after the dollar sign.
    fn dollar(&mut self, quoted: bool) -> Result<Part, SyntaxError> {
        match self.chars.peek().copied() {
            Some('{') => {
                self.chars.next();
                let mut name = String::new();
                loop {
                    match self.chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(SyntaxError::MissingBrace),
                    }
                }
                braced(&name, quoted)
            }
            Some(c @ ('?' | '$' | '#' | '@' | '*' | '!' | '0'..='9')) => {
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
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut scan = Scanner { chars: src.chars().collect(), ..Scanner::default() };
    while let Some(&c) = scan.chars.get(scan.i) {
        scan.step(c)?;
    }
    scan.end_word();
    Ok(join_function_names(scan.tokens))
}

/// `name ()` as one word, `name()`, as a function definition is written either way.
fn join_function_names(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    for token in tokens {
        if let Token::Word(w) = &token
            && w == &[Part::Lit("()".into())]
            && let Some(Token::Word(before)) = out.last_mut()
            && let [Part::Lit(name)] = before.as_mut_slice()
            && is_name(name)
        {
            name.push_str("()");
            continue;
        }
        out.push(token);
    }
    out
}

/// The tokenizer's state: where it is in the script, the tokens so far, and the word being read
/// (its parts, and the literal text not yet made a part).
#[derive(Default)]
struct Scanner {
    chars: Vec<char>,
    i: usize,
    tokens: Vec<Token>,
    word: Word,
    lit: String,
    in_word: bool,
    /// Here-documents whose bodies start after the current line: the token's index, the
    /// delimiter, and whether leading tabs are stripped.
    pending: Vec<(usize, String, bool)>,
}

impl Scanner {
    fn peek(&self, ahead: usize) -> Option<&char> {
        self.chars.get(self.i + ahead)
    }

    /// Reads what starts with `c`, the character at `i`.
    fn step(&mut self, c: char) -> Result<(), SyntaxError> {
        match c {
            ' ' | '\t' => {
                self.end_word();
                self.i += 1;
            }
            ';' if self.peek(1) == Some(&';') => {
                self.end_word();
                self.tokens.push(Token::Op(Op::DoubleSemi));
                self.i += 2;
            }
            '\n' | ';' => {
                self.end_word();
                self.tokens.push(Token::Op(Op::Semi));
                self.i += 1;
                if c == '\n' {
                    self.here_documents();
                }
            }
            '#' if !self.in_word => {
                while self.peek(0).is_some_and(|c| *c != '\n') {
                    self.i += 1;
                }
            }
            '&' | '|' => self.operator(c),
            '!' if !self.in_word && self.peek(1).is_none_or(|c| c.is_whitespace()) => {
                self.tokens.push(Token::Op(Op::Bang));
                self.i += 1;
            }
            // `name()` defining a function stays one word.
            '(' if self.in_word && self.peek(1) == Some(&')') => {
                self.lit.push_str("()");
                self.i += 2;
            }
            // `name ()`: the same, with a space.
            '(' if self.peek(1) == Some(&')')
                && matches!(self.tokens.last(), Some(Token::Word(w)) if matches!(w.last(), Some(Part::Lit(_)))) =>
            {
                if let Some(Token::Word(w)) = self.tokens.last_mut()
                    && let Some(Part::Lit(l)) = w.last_mut()
                {
                    l.push_str("()");
                }
                self.i += 2;
            }
            '(' if !self.in_word => {
                self.tokens.push(Token::Op(Op::LParen));
                self.i += 1;
            }
            ')' => {
                self.end_word();
                self.tokens.push(Token::Op(Op::RParen));
                self.i += 1;
            }
            '<' | '>' => self.redirection(c),
            '\'' => self.single_quoted()?,
            '"' => self.double_quoted()?,
            '\\' => {
                self.in_word = true;
                if let Some(&c) = self.peek(1).filter(|c| **c != '\n') {
                    self.lit.push(c);
                }
                self.i += 2;
            }
            '$' => {
                self.in_word = true;
                let part = self.dollar(false)?;
                push_part(&mut self.word, &mut self.lit, part);
            }
            '~' if !self.in_word && self.peek(1).is_none_or(|c| *c == '/' || c.is_whitespace()) => {
                self.in_word = true;
                self.word.push(Part::Var { name: "HOME".into(), quoted: true });
                self.i += 1;
            }
            c => {
                self.in_word = true;
                self.lit.push(c);
                self.i += 1;
            }
        }
        Ok(())
    }

    fn end_word(&mut self) {
        if self.in_word {
            flush_lit(&mut self.word, &mut self.lit);
            self.tokens.push(Token::Word(std::mem::take(&mut self.word)));
            self.in_word = false;
        }
    }

    /// `&&`, `||`, `|`, `&` and `&>file`.
    fn operator(&mut self, c: char) {
        self.end_word();
        let double = self.peek(1) == Some(&c);
        if c == '&' && self.peek(1) == Some(&'>') {
            // `&>file`: stdout and stderr to a file.
            let append = self.peek(2) == Some(&'>');
            self.i += if append { 3 } else { 2 };
            let target = Vec::new();
            self.tokens.push(Token::Redir(Redir { fd: 1, kind: RedirKind::Out { append }, target }));
            self.tokens.push(Token::Redir(Redir { fd: 2, kind: RedirKind::Dup(1), target: Vec::new() }));
            return;
        }
        let op = match (c, double) {
            ('&', true) => Op::And,
            ('|', true) => Op::Or,
            ('|', false) => Op::Pipe,
            _ => Op::Amp,
        };
        self.tokens.push(Token::Op(op));
        self.i += if double { 2 } else { 1 };
    }

    /// `<`, `>`, `>>` and `>&N`, with a lone digit just before as the descriptor (`2>`).
    fn redirection(&mut self, c: char) {
        let lone_digit = self.in_word && self.word.is_empty() && self.lit.len() == 1;
        let fd = if lone_digit && self.lit.as_bytes()[0].is_ascii_digit() {
            let fd = self.lit.as_bytes()[0] - b'0';
            self.lit.clear();
            self.in_word = false;
            fd
        } else {
            self.end_word();
            if c == '<' { 0 } else { 1 }
        };
        self.i += 1;
        if c == '<' && self.peek(0) == Some(&'<') {
            self.i += 1;
            return self.here_document(fd);
        }
        let kind = if c == '<' {
            RedirKind::In
        } else if self.peek(0) == Some(&'>') {
            self.i += 1;
            RedirKind::Out { append: true }
        } else if self.peek(0) == Some(&'&') && self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
            let to = self.chars[self.i + 1] as u8 - b'0';
            self.i += 2;
            RedirKind::Dup(to)
        } else {
            RedirKind::Out { append: false }
        };
        self.tokens.push(Token::Redir(Redir { fd, kind, target: Vec::new() }));
    }

    /// `<<WORD` after its `<<`: the delimiter now, the body once the line ends.
    fn here_document(&mut self, fd: u8) {
        let strip = self.peek(0) == Some(&'-');
        self.i += usize::from(strip);
        while self.peek(0).is_some_and(|c| *c == ' ' || *c == '\t') {
            self.i += 1;
        }
        let mut delimiter = String::new();
        let mut quoted = false;
        while let Some(&c) = self.peek(0).filter(|c| !c.is_whitespace() && !";|&<>()".contains(**c)) {
            match c {
                '\'' | '"' | '\\' => quoted = true,
                c => delimiter.push(c),
            }
            self.i += 1;
        }
        self.pending.push((self.tokens.len(), delimiter, strip));
        let kind = RedirKind::Here { body: String::new(), expand: !quoted };
        self.tokens.push(Token::Redir(Redir { fd, kind, target: Vec::new() }));
    }

    /// At the end of a line with `<<` on it: each here-document's lines, up to its delimiter.
    fn here_documents(&mut self) {
        for (token, delimiter, strip) in std::mem::take(&mut self.pending) {
            let mut body = String::new();
            while self.i < self.chars.len() {
                let end = self.chars[self.i..].iter().position(|c| *c == '\n').map_or(self.chars.len(), |p| self.i + p);
                let line: String = self.chars[self.i..end].iter().collect();
                self.i = (end + 1).min(self.chars.len());
                let line = if strip { line.trim_start_matches('\t').to_string() } else { line };
                if line == delimiter {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if let Some(Token::Redir(Redir { kind: RedirKind::Here { body: slot, .. }, .. })) =
                self.tokens.get_mut(token)
            {
                *slot = body;
            }
        }
    }

    /// `'…'`: everything literal up to the next quote.
    fn single_quoted(&mut self) -> Result<(), SyntaxError> {
        self.in_word = true;
        let end = self.chars[self.i + 1..].iter().position(|&c| c == '\'');
        let end = end.ok_or(SyntaxError::UnterminatedQuote)?;
        self.lit.extend(&self.chars[self.i + 1..self.i + 1 + end]);
        self.i += end + 2;
        Ok(())
    }

    /// `"…"`: literal but for `$…` and the backslash escapes of `"`, `\`, `$` and `` ` ``.
    fn double_quoted(&mut self) -> Result<(), SyntaxError> {
        self.in_word = true;
        self.i += 1;
        loop {
            match self.peek(0).copied() {
                None => return Err(SyntaxError::UnterminatedQuote),
                Some('"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some('\\') if self.peek(1).is_some_and(|c| matches!(c, '"' | '\\' | '$' | '`')) => {
                    self.lit.push(self.chars[self.i + 1]);
                    self.i += 2;
                }
                Some('$') => {
                    let part = self.dollar(true)?;
                    push_part(&mut self.word, &mut self.lit, part);
                }
                Some(c) => {
                    self.lit.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// Reads `$…` at the current `$`: `$((…))` and `$(…)` whole (the raw text of an expression,
    /// or of a script of its own), the other forms through [`Lexer`].
    fn dollar(&mut self, quoted: bool) -> Result<Part, SyntaxError> {
        let chars = &self.chars;
        let i = self.i;
        if let Some(end) = arithmetic_end(chars, i) {
            let expr: String = chars[i + 3..end - 1].iter().collect();
            self.i = end + 1;
            return Ok(Part::Arith { expr, quoted });
        }
        if chars.get(i + 1) == Some(&'(') {
            let mut depth = 0;
            for j in i + 1..chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            let script: String = chars[i + 2..j].iter().collect();
                            self.i = j + 1;
                            return Ok(Part::Subst { script, quoted });
                        }
                    }
                    _ => {}
                }
            }
            return Err(SyntaxError::Expecting(")"));
        }
        let rest: String = chars[i + 1..].iter().collect();
        let mut lexer = Lexer { chars: rest.chars().peekable() };
        let part = lexer.dollar(quoted)?;
        let consumed = rest.chars().count() - lexer.chars.count();
        self.i = i + 1 + consumed;
        Ok(part)
    }
}

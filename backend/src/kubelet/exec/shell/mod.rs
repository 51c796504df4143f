//! `sh`: a small POSIX-style shell. The parser ([`syntax`], pure) turns a script into lists of
//! pipelines of commands (simple ones, and `if`/`while`/`until`/`for`/`case`) with `;`, `&&`,
//! `||`, `|`, `!`, redirections (`<`, `>`, `>>`, `2>`, `2>&1`, `&>`) and quoting; [`expand`]
//! expands words (`$VAR`, `${…}`, `$1`, `"$@"`, `$(…)`, `$((…))`); the runner here executes them
//! with the built-in commands, keeping the working directory, variables and exit codes as a
//! shell does.

use super::{Ctx, Output};
use std::future::Future;
use std::pin::Pin;

mod arith;
mod expand;
mod functions;
mod input;
mod jobs;
mod lex;
mod pattern;
mod syntax;
mod traps;

pub use functions::Functions;
pub use input::SharedInput;
pub use jobs::Jobs;
use lex::{Part, Redir, RedirKind, Word};
use syntax::{Command, Pipeline, Simple};
pub use syntax::{Script, parse};
pub use traps::Traps;

/// How many scripts may run inside one another (`$(…)`, `sh -c`).
const MAX_DEPTH: usize = 32;

/// Where a redirected stream goes: a path, and whether to append.
type FileTarget = (String, bool);

/// Which of a command's streams its redirections take (standard output, standard error), as
/// counts for [`Ctx::capturing`] and [`Ctx::capturing_err`]: what the command writes as it goes
/// (a loop's or a function's commands) must reach the redirection, not the console.
fn redirected(redirs: &[Redir]) -> (usize, usize) {
    let takes =
        |fd: u8| redirs.iter().any(|r| r.fd == fd && matches!(r.kind, RedirKind::Out { .. } | RedirKind::Dup(_)));
    (takes(1) as usize, takes(2) as usize)
}

/// What `sh -x` writes before a command: `+ echo 'two words'`.
fn trace_line(assigns: &[(String, String)], argv: &[String]) -> String {
    let quote = |w: &str| {
        let plain = !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
        if plain { w.to_string() } else { format!("'{}'", w.replace('\'', "'\"'\"'")) }
    };
    let words: Vec<String> =
        assigns.iter().map(|(n, v)| format!("{n}={}", quote(v))).chain(argv.iter().map(|a| quote(a))).collect();
    format!("+ {}\n", words.join(" "))
}

impl Ctx {
    /// Parses and runs a script; the output of all its commands, and the last exit code.
    pub fn run_script_text<'a>(
        &'a mut self,
        src: &'a str,
        stdin: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Output> + Send + 'a>> {
        Box::pin(async move {
            if self.depth >= MAX_DEPTH {
                self.last_code = 2;
                return Output::fail(2, format!("{}: too many nested shells and substitutions\n", self.shell_name));
            }
            self.depth += 1;
            let out = match parse(src) {
                Ok(script) => self.run_script(&script, stdin).await,
                Err(e) => {
                    self.last_code = 2;
                    Output::fail(2, format!("{}: {e}\n", self.shell_name))
                }
            };
            self.depth -= 1;
            out
        })
    }

    pub async fn run_script(&mut self, script: &Script, stdin: Vec<u8>) -> Output {
        let mut out = Output::default();
        let mut stdin = Some(stdin);
        for and_or in &script.0 {
            if and_or.background {
                self.background(and_or);
                (out.code, self.last_code) = (0, 0);
                continue;
            }
            let mut code = self.run_pipeline(&and_or.first, stdin.take().unwrap_or_default(), &mut out).await;
            // `-e` applies to the list's last command only (`false && x` does not exit).
            let mut last_ran = and_or.rest.is_empty() && !and_or.first.negate;
            for (i, (and, pipeline)) in and_or.rest.iter().enumerate() {
                if self.exited.is_some() {
                    break;
                }
                if (*and && code == 0) || (!*and && code != 0) {
                    code = self.run_pipeline(pipeline, Vec::new(), &mut out).await;
                    last_ran = i + 1 == and_or.rest.len() && !pipeline.negate;
                }
            }
            out.code = code;
            if self.errexit && self.condition == 0 && code != 0 && last_ran && self.exited.is_none() {
                self.exited = Some(code);
            }
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
            // What a command left of a pipe prints is the next one's input.
            let piped = i != last;
            self.capturing += piped as usize;
            let result = match command {
                Command::Simple(simple) => self.run_simple(simple, std::mem::take(&mut input)).await,
                compound => self.run_compound(compound, std::mem::take(&mut input)).await,
            };
            self.capturing -= piped as usize;
            code = result.code;
            if piped {
                self.emit(out, b"", &result.stderr);
                input = result.stdout;
            } else {
                self.emit(out, &result.stdout, &result.stderr);
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
            // A loop's input is read by the commands inside, a line per `read`.
            let loops = matches!(command, Command::While { .. } | Command::For { .. });
            let (shared, stdin) = match loops {
                true => (self.share_input(stdin), Vec::new()),
                false => (false, stdin),
            };
            let out = self.run_compound_body(command, stdin).await;
            if shared {
                self.unshare_input();
            }
            out
        })
    }

    fn run_compound_body<'a>(
        &'a mut self,
        command: &'a Command,
        stdin: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Output> + Send + 'a>> {
        Box::pin(async move {
            let mut out = Output::default();
            let absorb = |out: &mut Output, part: Output| {
                out.stdout.extend_from_slice(&part.stdout);
                out.stderr.push_str(&part.stderr);
                out.code = part.code;
            };
            match command {
                Command::Simple(_) => unreachable!("simple commands run on their own"),
                Command::If { branches, otherwise } => {
                    let mut stdin = Some(stdin);
                    for (cond, body) in branches {
                        self.condition += 1;
                        let tested = self.run_script(cond, stdin.take().unwrap_or_default()).await;
                        self.condition -= 1;
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
                        self.condition += 1;
                        let tested = self.run_script(cond, Vec::new()).await;
                        self.condition -= 1;
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
                    match words {
                        Some(words) => {
                            for word in words {
                                values.extend(self.expand(word).await);
                            }
                        }
                        None => values.clone_from(&self.args),
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
                Command::Case { word, branches } => out = self.run_case(word, branches, stdin).await,
                Command::Group(body) => out = self.run_script(body, stdin).await,
                Command::Subshell(body) => {
                    let mut copy = self.fork();
                    out = copy.run_script(body, stdin).await;
                    out.code = copy.exited.unwrap_or(out.code);
                }
                Command::Redirected { command, redirs } => out = self.run_redirected(command, redirs, stdin).await,
                Command::Function { name, body } => self.define(name, body.clone()),
            }
            self.last_code = out.code;
            out
        })
    }

    /// `case`: the word expanded, then each branch's patterns in turn (expanded, quoted parts
    /// matched as written); the first that matches runs its list. No match is success.
    async fn run_case(&mut self, word: &Word, branches: &[(Vec<Word>, Script)], stdin: Vec<u8>) -> Output {
        let subject = self.expand_one(word).await;
        for (patterns, body) in branches {
            for pattern in patterns {
                let mut glob = String::new();
                for part in pattern {
                    let text = self.expand_one(&vec![part.clone()]).await;
                    let quoted = matches!(
                        part,
                        Part::Var { quoted: true, .. }
                            | Part::Param { quoted: true, .. }
                            | Part::Subst { quoted: true, .. }
                    );
                    // Quoted, the text is matched as it is.
                    glob.push_str(&if quoted { pattern::literal(&text) } else { text });
                }
                if pattern::matches(&glob, &subject) {
                    return self.run_script(body, stdin).await;
                }
            }
        }
        Output::default()
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
        if let Some(code) = self.exited {
            // An expansion failed (`$((1/0))`): the command does not run.
            return Output::fail(code, std::mem::take(&mut self.substitution_stderr));
        }
        let trace = self.xtrace.then(|| trace_line(&assigns, &argv));
        if argv.is_empty() {
            for (name, value) in assigns {
                self.set_var(&name, value);
            }
            let mut out = self.redirect_only(command).await;
            out.stderr.insert_str(0, trace.as_deref().unwrap_or_default());
            out.stderr.insert_str(0, &std::mem::take(&mut self.substitution_stderr));
            return out;
        }
        let stdin = match self.redirect_input(&command.redirs, stdin).await {
            Ok(stdin) => stdin,
            Err(failed) => return failed,
        };
        let saved: Vec<(String, Option<String>)> = assigns.iter().map(|(n, _)| (n.clone(), self.env_var(n))).collect();
        for (name, value) in assigns {
            self.export(&name, value);
        }
        // Boxed: a command's future is large, and scripts nest through it.
        let (out, err) = redirected(&command.redirs);
        (self.capturing, self.capturing_err) = (self.capturing + out, self.capturing_err + err);
        let mut output = match self.function(&argv[0]) {
            Some(body) => Box::pin(self.call(body, &argv[1..], stdin)).await,
            None if argv[0] == "wait" => Box::pin(self.wait(&argv[1..])).await,
            None => Box::pin(self.command(&argv, stdin)).await,
        };
        (self.capturing, self.capturing_err) = (self.capturing - out, self.capturing_err - err);
        output.stderr.insert_str(0, &std::mem::take(&mut self.substitution_stderr));
        for (name, old) in saved {
            match old {
                Some(v) => self.export(&name, v),
                None => self.unexport(&name),
            }
        }
        let mut output = match self.redirect_output(&command.redirs, output).await {
            Ok(output) => output,
            Err(failed) => return failed,
        };
        // The trace is the shell's, whatever the command's streams were redirected to.
        output.stderr.insert_str(0, trace.as_deref().unwrap_or_default());
        output
    }

    /// A command's `<` redirections: its standard input, or the shell's failure to open it.
    async fn redirect_input(&mut self, redirs: &[Redir], stdin: Vec<u8>) -> Result<Vec<u8>, Output> {
        let mut stdin = stdin;
        for r in redirs {
            match &r.kind {
                RedirKind::In => {
                    let path = self.expand_one(&r.target).await;
                    match self.read_file(&path) {
                        Ok(data) => stdin = data,
                        Err(e) => {
                            return Err(Output::fail(1, format!("{}: can't open {path}: {e}\n", self.shell_name)));
                        }
                    }
                }
                // As inside double quotes, but a double quote is itself.
                RedirKind::Here { body, expand: true } => {
                    let text = self.expand_text(&body.replace('"', "\\\"")).await;
                    stdin = text.unwrap_or_default().into_bytes();
                }
                RedirKind::Here { body, expand: false } => stdin = body.clone().into_bytes(),
                _ => {}
            }
        }
        Ok(stdin)
    }

    /// A command's output redirections, left to right, applied to what it wrote.
    async fn redirect_output(&mut self, redirs: &[Redir], mut output: Output) -> Result<Output, Output> {
        // Output redirections, left to right.
        let (mut to_file_out, mut to_file_err): (Option<FileTarget>, Option<FileTarget>) = (None, None);
        for r in redirs {
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
                        output.print(&err);
                    }
                }
                (RedirKind::Dup(2), 1) => {
                    let out = std::mem::take(&mut output.stdout);
                    output.stderr.push_str(&String::from_utf8_lossy(&out));
                }
                _ => {}
            }
        }
        if let Some((path, append)) = to_file_out {
            let data = std::mem::take(&mut output.stdout);
            if let Err(e) = self.write_file(&path, &data, append) {
                return Err(Output::fail(1, format!("{}: can't create {path}: {e}\n", self.shell_name)));
            }
        }
        if let Some((path, append)) = to_file_err {
            let data = std::mem::take(&mut output.stderr);
            if let Err(e) = self.write_file(&path, data.as_bytes(), append) {
                return Err(Output::fail(1, format!("{}: can't create {path}: {e}\n", self.shell_name)));
            }
        }
        Ok(output)
    }

    /// A compound command with redirections (`while read l; do …; done < file`).
    async fn run_redirected(&mut self, command: &Command, redirs: &[Redir], stdin: Vec<u8>) -> Output {
        let stdin = match self.redirect_input(redirs, stdin).await {
            Ok(stdin) => stdin,
            Err(failed) => return failed,
        };
        let (out, err) = redirected(redirs);
        (self.capturing, self.capturing_err) = (self.capturing + out, self.capturing_err + err);
        let output = self.run_compound(command, stdin).await;
        (self.capturing, self.capturing_err) = (self.capturing - out, self.capturing_err - err);
        self.redirect_output(redirs, output).await.unwrap_or_else(|failed| failed)
    }

    /// A command of only redirections (`> file` truncates or creates it).
    async fn redirect_only(&mut self, command: &Simple) -> Output {
        for r in &command.redirs {
            let path = self.expand_one(&r.target).await;
            let result = match r.kind {
                RedirKind::Out { append } => self.write_file(&path, b"", append),
                RedirKind::In => self.read_file(&path).map(|_| ()),
                RedirKind::Dup(_) | RedirKind::Here { .. } => Ok(()),
            };
            if let Err(e) = result {
                return Output::fail(1, format!("{}: can't open {path}: {e}\n", self.shell_name));
            }
        }
        Output::default()
    }
}

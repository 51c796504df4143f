//! A process whose standard input is a stream, as an exec session or an attached container
//! gives it: an interactive shell (lines in, output and prompts out, with a terminal's line
//! discipline on a tty) or one command fed until its input ends. Where output goes is the
//! caller's [`Terminal`]: the exec websocket's frames, or a container's log.

use super::terminal::{self, Input, LineEditor};
use super::{Console, Ctx, Output};
use crate::kubelet::logs::Stream;
use std::collections::VecDeque;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Standard input as it arrives: chunks, then `None` once it is closed.
pub type Stdin = mpsc::Receiver<Option<Vec<u8>>>;

/// Where a process with a stream for its input writes.
pub trait Terminal: Send {
    /// Whether a terminal is allocated (echo, prompts, CR LF output, Ctrl-C and Ctrl-D).
    fn tty(&self) -> bool;
    /// Writes bytes to standard output (`stdout`) or standard error.
    fn write(&mut self, stdout: bool, bytes: &[u8]) -> impl Future<Output = ()> + Send;
}

/// Whether `argv` starts an interactive shell: `sh`, `bash` or `ash`, with `-i` or `-l` at most.
pub fn shell_name(argv: &[String]) -> Option<String> {
    let program = argv.first()?.rsplit('/').next().unwrap_or_default();
    let shell = matches!(program, "sh" | "bash" | "ash") && argv[1..].iter().all(|a| a == "-i" || a == "-l");
    shell.then(|| program.to_string())
}

/// Writes what a command left in its output (what it did not write as it went): on a tty
/// everything goes to stdout with CR LF.
pub async fn output(term: &mut impl Terminal, out: &Output) {
    write(term, Stream::Stdout, &out.stdout).await;
    write(term, Stream::Stderr, out.stderr.as_bytes()).await;
}

async fn write(term: &mut impl Terminal, stream: Stream, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if term.tty() {
        term.write(true, &terminal::to_terminal(&String::from_utf8_lossy(bytes))).await;
    } else {
        term.write(stream == Stream::Stdout, bytes).await;
    }
}

/// What a process with a [`Console::Session`] writes as it goes.
type Chunks = mpsc::UnboundedReceiver<(Stream, Vec<u8>)>;

/// Gives `ctx` a console whose chunks come out of the returned receiver.
fn session_console(ctx: &mut Ctx) -> Chunks {
    let (chunks, out) = mpsc::unbounded_channel();
    ctx.console = Some(Console::Session(chunks));
    out
}

/// Runs `work`, passing on to `term` what it writes as it goes (a loop's lines as each turn
/// prints them, as a real terminal shows them); then its output. While `term` takes a chunk,
/// `work` waits: a slow client slows the command instead of queueing its output.
async fn live(work: impl Future<Output = Output>, chunks: &mut Chunks, term: &mut impl Terminal) -> Output {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            Some((stream, bytes)) = chunks.recv() => write(term, stream, &bytes).await,
            out = &mut work => {
                while let Ok((stream, bytes)) = chunks.try_recv() {
                    write(term, stream, &bytes).await;
                }
                return out;
            }
        }
    }
}

/// Whether a built-in command reads standard input (the others, `dig` or `curl` say, run at
/// once, whatever input is open).
fn reads_stdin(argv: &[String]) -> bool {
    let Some(program) = argv.first().map(|p| p.rsplit('/').next().unwrap_or_default()) else { return false };
    match program {
        "env" => {
            let rest: Vec<String> =
                argv[1..].iter().skip_while(|a| a.starts_with('-') || a.contains('=')).cloned().collect();
            reads_stdin(&rest)
        }
        "sh" | "bash" | "ash" | "cat" | "tar" | "awk" | "grep" | "wc" | "head" | "tail" | "sort" | "uniq" | "tr" => {
            true
        }
        _ => false,
    }
}

/// One command whose standard input is what arrives until it is closed (on a tty, until
/// Ctrl-D) if it reads any; `gone` ends it (with 130) when the client leaves.
pub async fn command(
    ctx: &mut Ctx,
    argv: &[String],
    stdin: &mut Stdin,
    term: &mut impl Terminal,
    gone: &CancellationToken,
) -> i32 {
    let mut input = Vec::new();
    while reads_stdin(argv)
        && let Some(Some(chunk)) = stdin.recv().await
    {
        if term.tty() && chunk.contains(&0x04) {
            input.extend(chunk.split(|b| *b == 0x04).next().unwrap_or_default());
            break;
        }
        input.extend(chunk);
    }
    let stop = ctx.sandbox.cancelled();
    let mut chunks = session_console(ctx);
    let out = tokio::select! {
        out = live(ctx.command(argv, input), &mut chunks, term) => out,
        _ = gone.cancelled() => return 130,
        _ = stop.cancelled() => Output::fail(137, ""),
    };
    output(term, &out).await;
    // Background jobs still writing to the session keep it open, as processes holding its
    // output pipe keep `kubectl exec` waiting: it ends when the last of them does.
    ctx.console = None;
    loop {
        tokio::select! {
            chunk = chunks.recv() => match chunk {
                Some((stream, bytes)) => write(term, stream, &bytes).await,
                None => break,
            },
            _ = gone.cancelled() => return 130,
            _ = stop.cancelled() => break,
        }
    }
    out.code
}

/// Runs `argv` in `container` of the pod with `stdin` for its input: a shell interactively,
/// another command once its input is in. Its exit code.
pub async fn run(
    sandbox: std::sync::Arc<crate::kubelet::PodSandbox>,
    container: &str,
    argv: &[String],
    stdin: &mut Stdin,
    term: &mut impl Terminal,
    gone: &CancellationToken,
) -> i32 {
    match shell_name(argv) {
        Some(name) => shell(&mut Ctx::shell(sandbox, container, &name), stdin, term, gone).await,
        None => command(&mut Ctx::new(sandbox, container), argv, stdin, term, gone).await,
    }
}

/// The shell's prompt, on a tty only.
async fn prompt(term: &mut impl Terminal, ctx: &Ctx) {
    if term.tty() {
        let prompt = terminal::prompt(&ctx.shell_name, &ctx.sandbox.hostname, &ctx.cwd);
        term.write(true, prompt.as_bytes()).await;
    }
}

/// An interactive shell: lines in, output and prompts out, until `exit`, the end of input, or
/// (with nothing typed ahead) `gone`. Its exit code.
pub async fn shell(ctx: &mut Ctx, stdin: &mut Stdin, term: &mut impl Terminal, gone: &CancellationToken) -> i32 {
    let tty = term.tty();
    let mut editor = LineEditor::default();
    let mut raw_line = Vec::new();
    let mut typeahead: VecDeque<Option<Vec<u8>>> = VecDeque::new();
    let mut chunks = session_console(ctx);
    prompt(term, ctx).await;
    loop {
        let chunk = match typeahead.pop_front() {
            Some(c) => c,
            // While it waits for a line, what background jobs write still shows.
            None => loop {
                tokio::select! {
                    biased;
                    Some((stream, bytes)) = chunks.recv() => write(term, stream, &bytes).await,
                    input = stdin.recv() => break input.unwrap_or(None),
                }
            },
        };
        // Without a tty, input is read line by line with no echo.
        let inputs = match (&chunk, tty) {
            (None, _) => vec![Input::Eof],
            (Some(bytes), true) => editor.feed(bytes),
            // Ctrl-C with nothing running: what was typed is dropped, as a terminal drops it.
            (Some(bytes), false) if bytes.contains(&0x03) => {
                raw_line.clear();
                vec![Input::Interrupt]
            }
            (Some(bytes), false) => {
                raw_line.extend_from_slice(bytes);
                let mut lines = Vec::new();
                while let Some(i) = raw_line.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = raw_line.drain(..=i).collect();
                    lines.push(Input::Line(String::from_utf8_lossy(&line[..i]).into_owned()));
                }
                lines
            }
        };
        for input in inputs {
            match input {
                Input::Echo(bytes) => term.write(true, &bytes).await,
                Input::Interrupt => {
                    ctx.last_code = 130;
                    prompt(term, ctx).await;
                }
                Input::Eof => {
                    if !tty && !raw_line.is_empty() {
                        let line = String::from_utf8_lossy(&std::mem::take(&mut raw_line)).into_owned();
                        let out = live(ctx.run_script_text(&line, Vec::new()), &mut chunks, term).await;
                        output(term, &out).await;
                    }
                    if tty {
                        term.write(true, b"exit\r\n").await;
                    }
                    return ended(ctx, &mut chunks, term).await;
                }
                Input::Line(line) => {
                    let out = {
                        let run = live(ctx.run_script_text(&line, Vec::new()), &mut chunks, term);
                        let interrupted = interrupted(stdin, &mut typeahead);
                        tokio::select! {
                            out = run => out,
                            _ = interrupted => {
                                write(term, Stream::Stdout, b"^C\n").await;
                                Output { code: 130, ..Default::default() }
                            }
                        }
                    };
                    if out.code == 130 {
                        // The interrupted script's frames were dropped mid-way.
                        ctx.interrupted();
                    }
                    ctx.last_code = out.code;
                    output(term, &out).await;
                    if ctx.exited.is_some() {
                        return ended(ctx, &mut chunks, term).await;
                    }
                    prompt(term, ctx).await;
                }
            }
        }
        if gone.is_cancelled() && typeahead.is_empty() {
            return ctx.last_code;
        }
    }
}

/// The interactive shell ends: its `EXIT` trap runs; its exit code.
async fn ended(ctx: &mut Ctx, chunks: &mut Chunks, term: &mut impl Terminal) -> i32 {
    let status = Output { code: ctx.exited.unwrap_or(ctx.last_code), ..Default::default() };
    let out = live(ctx.exiting(status), chunks, term).await;
    output(term, &out).await;
    out.code
}

/// Reads input while a command runs: resolves on Ctrl-C; other input waits its turn.
async fn interrupted(stdin: &mut Stdin, typeahead: &mut VecDeque<Option<Vec<u8>>>) {
    loop {
        match stdin.recv().await {
            Some(Some(chunk)) if chunk.contains(&0x03) => return,
            Some(chunk) => typeahead.push_back(chunk),
            None => std::future::pending::<()>().await,
        }
    }
}

/// A container's main process's terminal: what it writes goes to the container's log, where
/// `kubectl logs` reads it and attached clients follow it.
pub struct LogTerminal {
    pub log: std::sync::Arc<crate::kubelet::logs::Log>,
    pub tty: bool,
}

impl Terminal for LogTerminal {
    fn tty(&self) -> bool {
        self.tty
    }

    async fn write(&mut self, stdout: bool, bytes: &[u8]) {
        let stream = if stdout { Stream::Stdout } else { Stream::Stderr };
        self.log.write(stream, &String::from_utf8_lossy(bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::reads_stdin;

    #[test]
    fn only_commands_that_read_input_wait_for_it() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(reads_stdin(&argv("sh")) && reads_stdin(&argv("/bin/cat")) && reads_stdin(&argv("env A=1 wc -l")));
        assert!(!reads_stdin(&argv("dig SRV kubia")) && !reads_stdin(&argv("env A=1 curl -s kubia")));
        assert!(!reads_stdin(&[]));
    }
}

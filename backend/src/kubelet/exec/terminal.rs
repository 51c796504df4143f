//! A terminal's line discipline, as a pty gives an interactive shell: echo, erase, kill line,
//! Ctrl-C and Ctrl-D; and the shell's prompt. Pure: bytes in, echo and complete lines out.

/// What typed input amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Bytes to show back to the user.
    Echo(Vec<u8>),
    /// A complete line to run.
    Line(String),
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D on an empty line.
    Eof,
}

/// Line editing state.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: String,
    /// Bytes of a UTF-8 character not complete yet.
    partial: Vec<u8>,
    /// Inside an escape sequence (arrow keys and the like), which is dropped.
    escape: Option<usize>,
}

impl LineEditor {
    /// Feeds typed bytes; returns what they amount to, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Input> {
        let mut out = Vec::new();
        let mut echo = Vec::new();
        let flush = |echo: &mut Vec<u8>, out: &mut Vec<Input>| {
            if !echo.is_empty() {
                out.push(Input::Echo(std::mem::take(echo)));
            }
        };
        for &b in bytes {
            if let Some(seen) = self.escape {
                // ESC [ params final-byte: the final byte is in 0x40..=0x7e.
                if (seen > 0 && (0x40..=0x7e).contains(&b)) || (seen == 0 && b != b'[' && b != b'O') {
                    self.escape = None;
                } else {
                    self.escape = Some(seen + 1);
                }
                continue;
            }
            match b {
                0x1b => self.escape = Some(0),
                b'\r' | b'\n' => {
                    echo.extend_from_slice(b"\r\n");
                    flush(&mut echo, &mut out);
                    out.push(Input::Line(std::mem::take(&mut self.line)));
                }
                0x7f | 0x08 => {
                    if self.line.pop().is_some() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x03 => {
                    echo.extend_from_slice(b"^C\r\n");
                    flush(&mut echo, &mut out);
                    self.line.clear();
                    out.push(Input::Interrupt);
                }
                0x04 => {
                    if self.line.is_empty() {
                        flush(&mut echo, &mut out);
                        out.push(Input::Eof);
                    }
                }
                0x15 => {
                    for _ in 0..self.line.chars().count() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                    self.line.clear();
                }
                b'\t' => {
                    self.line.push(' ');
                    echo.push(b' ');
                }
                b if b < 0x20 => {}
                b => {
                    self.partial.push(b);
                    if let Ok(s) = std::str::from_utf8(&self.partial) {
                        self.line.push_str(s);
                        echo.extend_from_slice(&self.partial);
                        self.partial.clear();
                    } else if self.partial.len() >= 4 {
                        self.partial.clear();
                    }
                }
            }
        }
        flush(&mut echo, &mut out);
        out
    }
}

/// Output for a terminal: line feeds become CR LF, as a tty's output processing does.
pub fn to_terminal(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

/// The prompt of `sh` (busybox) or `bash` as root in `cwd`.
pub fn prompt(shell: &str, hostname: &str, cwd: &str) -> String {
    if shell == "bash" { format!("root@{hostname}:{cwd}# ") } else { format!("{cwd} # ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_echoes_and_enter_gives_the_line() {
        let mut ed = LineEditor::default();
        assert_eq!(ed.feed(b"ls"), [Input::Echo(b"ls".to_vec())]);
        assert_eq!(ed.feed(b"x\x7f /\r"), [Input::Echo(b"x\x08 \x08 /\r\n".to_vec()), Input::Line("ls /".into())]);
        assert_eq!(ed.feed(b"a\x03"), [Input::Echo(b"a^C\r\n".to_vec()), Input::Interrupt]);
        assert_eq!(ed.feed(b"\x1b[Ab\x04"), [Input::Echo(b"b".to_vec())], "arrows dropped, ^D on text ignored");
        assert_eq!(ed.feed(b"\x15\x04"), [Input::Echo(b"\x08 \x08".to_vec()), Input::Eof]);
        assert_eq!(ed.feed("é\n".as_bytes()), [Input::Echo("é\r\n".as_bytes().to_vec()), Input::Line("é".into())]);
    }

    #[test]
    fn terminal_output_uses_crlf() {
        assert_eq!(to_terminal("a\nb\r\n"), b"a\r\nb\r\n");
        assert_eq!(prompt("sh", "h", "/tmp"), "/tmp # ");
        assert_eq!(prompt("bash", "h", "/"), "root@h:/# ");
    }
}

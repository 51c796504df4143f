//! A container's log, as the container runtime keeps it: every line its program writes to
//! standard output or error, with the time it was written, bounded in size (the oldest lines go
//! first, as the kubelet rotates `containerLogMaxSize`). Each run of a container has its own log;
//! the previous run's stays readable (`kubectl logs --previous`). Attached clients follow what is
//! written as it is written, partial lines included (`kubectl attach`).

use jiff::Timestamp;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::{Notify, broadcast};

/// How many writes an attached client may fall behind before it misses some.
const TAIL_DEPTH: usize = 1024;

/// The most a log keeps of one run, in bytes.
const MAX_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line, with its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub time: Timestamp,
    pub stream: Stream,
    pub text: String,
}

#[derive(Default)]
struct State {
    lines: VecDeque<Line>,
    bytes: usize,
    /// How many lines were dropped from the front (followers count lines by this).
    dropped: u64,
    /// What was written after the last newline of each stream.
    partial: [String; 2],
    closed: bool,
    /// What is written from now on, as written (partial lines too), for `kubectl attach`.
    tail: Option<broadcast::Sender<(Stream, Arc<str>)>>,
}

/// One run's log.
#[derive(Default)]
pub struct Log {
    state: Mutex<State>,
    changed: Notify,
}

impl Log {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends what a program wrote; a line is complete at its newline.
    pub fn write(&self, stream: Stream, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut state = self.state();
        if let Some(tail) = state.tail.as_ref().filter(|t| t.receiver_count() > 0) {
            let _ = tail.send((stream, Arc::from(text)));
        }
        let slot = stream as usize;
        state.partial[slot].push_str(text);
        let time = Timestamp::now();
        while let Some(end) = state.partial[slot].find('\n') {
            let rest = state.partial[slot].split_off(end + 1);
            let text = std::mem::replace(&mut state.partial[slot], rest);
            push(&mut state, Line { time, stream, text });
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// The run has ended: what is left without a newline is a last line.
    pub fn close(&self) {
        let mut state = self.state();
        for (slot, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            let text = std::mem::take(&mut state.partial[slot]);
            if !text.is_empty() {
                push(&mut state, Line { time: Timestamp::now(), stream, text });
            }
        }
        state.closed = true;
        state.tail = None;
        drop(state);
        self.changed.notify_waiters();
    }

    /// Every line kept, the absolute index of the first, and whether the run has ended.
    pub fn read_from(&self, from: u64) -> (Vec<Line>, u64, bool) {
        let state = self.state();
        let skip = from.saturating_sub(state.dropped) as usize;
        let lines: Vec<Line> = state.lines.iter().skip(skip).cloned().collect();
        let next = state.dropped + state.lines.len() as u64;
        (lines, next, state.closed)
    }

    /// Everything written from now on, as it is written, until the run ends (the receiver then
    /// reports it closed); `None` once it has ended.
    pub fn follow(&self) -> Option<broadcast::Receiver<(Stream, Arc<str>)>> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        Some(state.tail.get_or_insert_with(|| broadcast::channel(TAIL_DEPTH).0).subscribe())
    }

    /// Waits until something is written or the run ends.
    pub async fn changed(&self) {
        let notified = self.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Nothing to wait for once closed.
        if self.state().closed {
            return;
        }
        notified.await;
    }
}

fn push(state: &mut State, line: Line) {
    state.bytes += line.text.len();
    state.lines.push_back(line);
    while state.bytes > MAX_BYTES && state.lines.len() > 1 {
        if let Some(old) = state.lines.pop_front() {
            state.bytes -= old.text.len();
            state.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(log: &Log) -> Vec<String> {
        log.read_from(0).0.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn lines_end_at_newlines_and_the_rest_at_close() {
        let log = Log::default();
        log.write(Stream::Stdout, "Kubia server ");
        log.write(Stream::Stdout, "starting...\nReceived request from ::ffff:10.244.1.5\npart");
        log.write(Stream::Stderr, "oops\n");
        assert_eq!(texts(&log), ["Kubia server starting...\n", "Received request from ::ffff:10.244.1.5\n", "oops\n"]);
        log.close();
        assert_eq!(texts(&log).last().unwrap(), "part");
        assert!(log.read_from(0).2);
    }

    #[test]
    fn the_oldest_lines_go_when_the_log_is_full() {
        let log = Log::default();
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..2048 {
            log.write(Stream::Stdout, &line);
        }
        let (lines, next, _) = log.read_from(0);
        assert_eq!(next, 2048);
        assert_eq!(lines.len(), 1024);
        assert_eq!(log.read_from(2047).0.len(), 1, "a follower reads on from where it was");
    }

    #[tokio::test]
    async fn a_follower_gets_writes_as_written_until_the_run_ends() {
        let log = Log::default();
        log.write(Stream::Stdout, "before\n");
        let mut tail = log.follow().unwrap();
        log.write(Stream::Stdout, "/ # ");
        log.write(Stream::Stderr, "oops\n");
        log.close();
        assert_eq!(tail.recv().await.unwrap(), (Stream::Stdout, Arc::from("/ # ")));
        assert_eq!(tail.recv().await.unwrap(), (Stream::Stderr, Arc::from("oops\n")));
        assert!(tail.recv().await.is_err(), "closed with the run");
        assert!(log.follow().is_none());
    }

    #[tokio::test]
    async fn followers_wake_on_writes_and_close() {
        let log = std::sync::Arc::new(Log::default());
        let writer = log.clone();
        let waiter = tokio::spawn(async move { log.changed().await });
        tokio::task::yield_now().await;
        writer.write(Stream::Stdout, "hi\n");
        waiter.await.unwrap();
        writer.close();
        writer.changed().await;
    }
}

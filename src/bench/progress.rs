//! Progress on a terminal: one status line on standard error, rewritten every
//! `TICK`, only when standard error is a terminal (so piped and scripted runs, and
//! tests, stay quiet). The final JSON line goes to standard output regardless.

use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the status line is rewritten.
const TICK: Duration = Duration::from_millis(500);

/// A status line kept up to date until dropped.
pub struct Progress {
    /// The task rewriting the line; none when standard error is not a terminal.
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Shows `status()` every tick, if standard error is a terminal.
    pub fn start(status: impl Fn() -> String + Send + 'static) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { task: None };
        }
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            loop {
                ticks.tick().await;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}", status());
                let _ = err.flush();
            }
        });
        Progress { task: Some(task) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

//! Scripted fake backends on loopback, and the line protocol the tests dial them with.
//!
//! A fake backend reads lines and, for each, asks its script what to answer and after
//! how long (or nothing). Answers on one connection go out in request order, as a real
//! backend's do. Every task ends when the fake is stopped or dropped.
#![allow(dead_code)]

use crate::common::{TestCodec, TestProto};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::connector::{Answer, Backend};
use switchboard::{Outbox, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::task::JoinHandle;

/// What a fake backend answers to one line: the answer and how long it takes first.
pub type Script = Arc<dyn Fn(&str) -> Option<(Duration, String)> + Send + Sync>;

/// Answers `PING x` with `PONG x` at once.
pub fn answering() -> Script {
    Arc::new(|line| {
        line.strip_prefix("PING")
            .map(|rest| (Duration::ZERO, format!("PONG{rest}")))
    })
}

/// Accepts, reads, never answers.
pub fn silent() -> Script {
    Arc::new(|_| None)
}

/// The line protocol spoken to fake backends: `PONG ..` is an ack, `ERR ..` a refusal.
#[derive(Clone)]
pub struct Lines;

impl Protocol for Lines {
    const NAME: &'static str = "backend";
    type Request = String;
    type Response = String;
    type Codec = TestCodec;

    fn codec(&self) -> TestCodec {
        TestProto.codec()
    }

    fn handle(&mut self, _: String, _: &mut Outbox<String>) {}
}

impl Backend for Lines {
    fn classify(&self, line: &String) -> Answer {
        if line.starts_with("PONG") {
            Answer::Ack
        } else if let Some(reason) = line.strip_prefix("ERR ") {
            Answer::Refused(reason.to_owned())
        } else {
            Answer::Unsolicited
        }
    }

    fn health_check(&self) -> String {
        "PING health".to_owned()
    }
}

/// A fake backend listening on loopback.
pub struct FakeBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections it accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Every line it read, in order.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// The accept loop and every connection's task.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FakeBackend {
    /// Listens on `addr` (port 0: a free port) and answers as `script` says.
    pub fn start(addr: SocketAddr, script: Script) -> FakeBackend {
        let listener = switchboard::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (accepted, lines, tasks) = (accepted.clone(), lines.clone(), tasks.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    accepted.fetch_add(1, Relaxed);
                    let task = tokio::spawn(serve(stream, script.clone(), lines.clone()));
                    tasks.lock().unwrap().push(task);
                }
            })
        };
        tasks.lock().unwrap().push(accept);
        FakeBackend {
            addr,
            accepted,
            lines,
            tasks,
        }
    }

    /// Stops listening and drops every connection (the peers see them close).
    pub fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// How many lines it read that start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(stream: tokio::net::TcpStream, script: Script, lines: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read).lines();
    while let Ok(Some(line)) = read.next_line().await {
        lines.lock().unwrap().push(line.clone());
        if let Some((delay, answer)) = script(&line) {
            if !delay.is_zero() {
                // Even a zero sleep waits for the next timer tick: at once means at once.
                tokio::time::sleep(delay).await;
            }
            if write
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// A port nothing listens on (bound, then released).
pub fn refusing_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

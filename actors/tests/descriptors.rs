//! File descriptors, end to end, in a child process whose open-file limit is lowered
//! (soft 64, hard 160) before it starts, so the machine's own limit is never touched:
//! the switchboard raises the soft limit to the hard one, caps its listeners so that a
//! reserve stays free (another listener in the same process, a stand-in for the HTTP
//! port, still answers when the switchboard's are full), pauses accepting at the cap
//! and resumes when connections end; and when the descriptors run out anyway, the
//! failing accepts are logged once, not once per retry.
//!
//! The child is this test binary run again for its ignored test `child`, told what to
//! do by an environment variable; it prints one line of figures, then serves until its
//! standard input closes.

mod common;

use common::TestProto;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;
use switchboard::{Switchboard, SwitchboardConfig};

/// The environment variable that makes `child` run, and says how.
const MODE: &str = "SWITCHBOARD_DESCRIPTOR_CHILD";

/// The reserve the child keeps.
const RESERVE: usize = 24;

/// The child's hard open-file limit (its soft limit starts at 64).
const HARD: u64 = 160;

#[actix_rt::test]
#[ignore = "the server half of the descriptor tests: run by them in a child process"]
async fn child() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    )
    .unwrap();
    let board = Switchboard::start(
        SwitchboardConfig::default()
            .with_workers(1)
            .with_descriptor_reserve(RESERVE),
    );
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let frame = board.listen(listener, || TestProto).unwrap().local_addr;
    // A stand-in for the HTTP port: answers one line to each connection.
    let side = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let side_addr = side.local_addr().unwrap();
    actix_rt::spawn(async move {
        loop {
            match side.accept().await {
                Ok((mut peer, _)) => {
                    use tokio::io::AsyncWriteExt;
                    let _ = peer.write_all(b"side ok\n").await;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    // In "exhaust" mode, the process itself uses every descriptor left, until told
    // to give them back.
    let mut hoard = Vec::new();
    if mode == "exhaust" {
        while let Ok(file) = std::fs::File::open("/dev/null") {
            hoard.push(file);
        }
    }
    println!(
        "child soft={} hard={} capacity={} frame={frame} side={side_addr} hoard={}",
        limit.current.unwrap_or(0),
        limit.maximum.unwrap_or(0),
        board.connection_capacity(),
        hoard.len(),
    );
    std::io::stdout().flush().unwrap();
    // Each line on standard input gives the hoard back; its end stops the child.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() || tx.send(()).is_err() {
                return;
            }
        }
    });
    while rx.recv().await.is_some() {
        hoard.clear();
    }
}

/// A running child and what it printed.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    soft: u64,
    hard: u64,
    capacity: usize,
    frame: SocketAddr,
    side: SocketAddr,
}

impl Server {
    fn start(mode: &str) -> Server {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["child", "--exact", "--ignored", "--nocapture"])
            .env(MODE, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only a system call between fork and exec.
        unsafe {
            command.pre_exec(|| {
                use rustix::process::{setrlimit, Resource, Rlimit};
                let limit = Rlimit {
                    current: Some(64),
                    maximum: Some(HARD),
                };
                setrlimit(Resource::Nofile, limit).map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("child ") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the child's figures within 30 s");
        let field = |name: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                .to_owned()
        };
        Server {
            stdin: child.stdin.take(),
            child,
            soft: field("soft").parse().unwrap(),
            hard: field("hard").parse().unwrap(),
            capacity: field("capacity").parse().unwrap(),
            frame: field("frame").parse().unwrap(),
            side: field("side").parse().unwrap(),
        }
    }

    /// Tells the child to give its hoarded descriptors back.
    fn release(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"release\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Stops the child; answers what it logged.
    fn stop(mut self) -> String {
        drop(self.stdin.take());
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let _ = pipe.read_to_string(&mut stderr);
            stderr
        });
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        reader.join().unwrap()
    }
}

/// A client that has sent `ECHO <text>`; reads give up after `patience`.
fn ask(addr: SocketAddr, text: &str, patience: Duration) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    stream
        .write_all(format!("ECHO {text}\n").as_bytes())
        .unwrap();
    BufReader::new(stream)
}

/// The next line, or `None` when none came within the client's patience.
fn answer(client: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match client.read_line(&mut line) {
        Ok(n) if n > 0 => Some(line.trim_end().to_owned()),
        _ => None,
    }
}

#[test]
fn listeners_pause_at_the_reserve_and_the_rest_of_the_process_keeps_working() {
    let server = Server::start("serve");
    assert_eq!(server.hard, HARD);
    assert_eq!(
        server.soft, HARD,
        "the soft limit was raised to the hard one"
    );
    let top = HARD as usize - RESERVE;
    assert!(
        server.capacity < top && server.capacity > top - 40,
        "capacity {} for a limit of {HARD} less a reserve of {RESERVE} and what is open",
        server.capacity
    );
    // Fill every place: all served.
    let wait = Duration::from_secs(5);
    let mut served: Vec<_> = (0..server.capacity)
        .map(|i| ask(server.frame, &i.to_string(), wait))
        .collect();
    for (i, client) in served.iter_mut().enumerate() {
        assert_eq!(answer(client), Some(i.to_string()));
    }
    // Five more wait in the backlog, unanswered.
    let mut waiting: Vec<_> = (0..5)
        .map(|i| ask(server.frame, &format!("w{i}"), Duration::from_millis(300)))
        .collect();
    for client in &mut waiting {
        assert_eq!(answer(client), None, "served past the capacity");
    }
    // The rest of the process still has descriptors.
    let mut side = BufReader::new(TcpStream::connect(server.side).unwrap());
    side.get_ref().set_read_timeout(Some(wait)).unwrap();
    assert_eq!(answer(&mut side).as_deref(), Some("side ok"));
    // Five connections end: the five waiting ones are served.
    served.truncate(served.len() - 5);
    for (i, client) in waiting.iter_mut().enumerate() {
        client.get_ref().set_read_timeout(Some(wait)).unwrap();
        assert_eq!(answer(client), Some(format!("w{i}")));
    }
    let log = server.stop();
    assert_eq!(
        log.matches("leaves room for").count(),
        1,
        "the lowered capacity is announced once:\n{log}"
    );
    assert!(!log.contains("Too many open files"), "{log}");
}

#[test]
fn accepts_failing_for_want_of_descriptors_are_logged_once_not_per_retry() {
    let mut server = Server::start("exhaust");
    // The child used every descriptor: an accept fails, and fails again on each retry.
    let mut client = ask(server.frame, "late", Duration::from_secs(2));
    assert_eq!(answer(&mut client), None, "accepted without a descriptor");
    server.release();
    client
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(answer(&mut client).as_deref(), Some("late"));
    let log = server.stop();
    // About seven failed retries in those two seconds: one line, no summary yet.
    assert_eq!(log.matches("accept on test failed").count(), 1, "{log}");
    assert!(!log.contains("still failing"), "{log}");
    assert!(log.contains("Too many open files"), "{log}");
    assert_eq!(log.matches("accepting on test again").count(), 1, "{log}");
}

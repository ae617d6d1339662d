//! A real `nats-server` for the cluster tests: started on free loopback ports (clients
//! and HTTP monitoring), stopped by its PID, restartable on the same ports.
//!
//! A missing `nats-server` fails the test with the command that installs it: the
//! cluster tests never skip.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use switchboard_testkit::{wait_until, WAIT};

/// A running (or stopped, restartable) `nats-server`.
pub struct Nats {
    /// The process while it runs.
    child: Option<Child>,
    /// The client port.
    pub port: u16,
    /// The HTTP monitoring port (`/subsz`).
    pub monitor: u16,
    /// Holds the configuration file.
    dir: tempfile::TempDir,
    /// The `authorization` block of the configuration, if clients must authenticate.
    authorization: Option<String>,
}

/// The `nats-server` binary: in `PATH`, or where Debian's package puts it.
pub fn binary() -> PathBuf {
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.is_file())
    });
    in_path
        .or_else(|| {
            let debian = PathBuf::from("/usr/sbin/nats-server");
            debian.is_file().then_some(debian)
        })
        .unwrap_or_else(|| {
            panic!(
                "nats-server is missing: these tests drive a real one. Install it with \
                 `apt-get install -y nats-server` (scripts/test.sh does)"
            )
        })
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Nats {
    /// Starts a NATS server on free loopback ports and waits until it accepts clients.
    pub fn start() -> Nats {
        Nats::on_port(free_port())
    }

    /// Starts a NATS server on `port`.
    pub fn on_port(port: u16) -> Nats {
        Nats::with_authorization(port, None)
    }

    /// Starts a NATS server on free loopback ports that accepts only clients
    /// authenticating as `user` with `password`.
    pub fn with_user(user: &str, password: &str) -> Nats {
        let block = format!("authorization {{ user: \"{user}\", password: \"{password}\" }}");
        Nats::with_authorization(free_port(), Some(block))
    }

    /// Starts a NATS server on free loopback ports that accepts only clients
    /// presenting `token`.
    pub fn with_token(token: &str) -> Nats {
        let block = format!("authorization {{ token: \"{token}\" }}");
        Nats::with_authorization(free_port(), Some(block))
    }

    fn with_authorization(port: u16, authorization: Option<String>) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let mut nats = Nats {
            child: None,
            port,
            monitor: free_port(),
            dir,
            authorization,
        };
        nats.restart();
        nats
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts it again on the same ports (after [`Nats::kill`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "nats-server is running already");
        let config = self.dir.path().join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "host: 127.0.0.1\nport: {}\nhttp: \"127.0.0.1:{}\"\n{}\n",
                self.port,
                self.monitor,
                self.authorization.as_deref().unwrap_or_default()
            ),
        )
        .unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nats-server: {e}"));
        self.child = Some(child);
        for port in [self.port, self.monitor] {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            wait_until(&format!("nats-server to listen on {port}"), WAIT, || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            });
        }
    }

    /// Kills the process (SIGKILL, by its PID) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `GET path` on the monitoring port, as JSON.
    pub fn monitor(&self, path: &str) -> serde_json::Value {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.monitor));
        let (status, body) = switchboard_testkit::http::get(addr, path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// How many subscriptions to exactly `subject` the server has.
    pub fn subscriptions(&self, subject: &str) -> usize {
        let subs = self.monitor("/subsz?subs=1&limit=10000");
        subs["subscriptions_list"].as_array().map_or(0, |list| {
            list.iter().filter(|s| s["subject"] == subject).count()
        })
    }

    /// Waits until the server has exactly `count` subscriptions to `subject`.
    pub fn wait_subscriptions(&self, subject: &str, count: usize) {
        let what = format!("{count} subscriptions to {subject}");
        wait_until(&what, WAIT, || self.subscriptions(subject) == count);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

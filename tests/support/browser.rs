//! A real browser for end-to-end tests: headless Chromium, found on the machine, and
//! driven over the DevTools protocol (its WebSocket, with tokio-tungstenite) so that a
//! test can read a live page's DOM after real time has passed, or take a screenshot.
//!
//! Chromium is required, not optional: without it the tests that need it fail and say
//! how to install it (`apt-get install -y chromium` on Debian), or set `CHROMIUM` to a
//! Chrome-compatible browser.
#![allow(dead_code)]

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use switchboard_testkit::{wait_for, WAIT};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The browser to drive: `$CHROMIUM`, or the first of the usual names on `PATH`.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "chromium is not installed, and this test needs a real browser: install it with \
         `apt-get install -y chromium` (Debian/Ubuntu), or set CHROMIUM to the path of a \
         Chrome-compatible browser"
    );
}

/// A headless Chromium showing one page, killed when dropped.
pub struct Browser {
    child: Child,
    /// The DevTools HTTP and WebSocket port.
    port: u16,
    /// The throwaway profile.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium on `url` with a window of `width` x `height`.
    pub fn open(url: &str, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run chromium: {e}"));
        // It prints where DevTools listens on standard error.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let port = wait_for("chromium's DevTools port", WAIT * 3, || {
            let line = rx
                .recv_timeout(Duration::from_millis(100))
                .map_err(|e| e.to_string())?;
            line.strip_prefix("DevTools listening on ws://127.0.0.1:")
                .and_then(|rest| rest.split('/').next())
                .and_then(|port| port.parse::<u16>().ok())
                .ok_or(line)
        });
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    /// The page it shows, over the DevTools protocol.
    pub async fn page(&self) -> Page {
        let addr = ([127, 0, 0, 1], self.port).into();
        let list = tokio::task::spawn_blocking(move || {
            wait_for("a page target", WAIT, || {
                let body = get_json_list(addr).map_err(|e| e.to_string())?;
                let targets: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
                targets
                    .as_array()
                    .and_then(|t| t.iter().find(|t| t["type"] == "page").cloned())
                    .ok_or(body)
            })
        })
        .await
        .unwrap();
        let url = list["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("DevTools in time")
            .expect("DevTools connect");
        Page { ws, next_id: 1 }
    }
}

/// `GET /json/list` of the DevTools HTTP endpoint, which answers HTTP/1.1 only.
fn get_json_list(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, WAIT)?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(
        stream,
        "GET /json/list HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    // It keeps the connection open: the body ends where Content-Length says.
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(str::to_owned)
            })
            .and_then(|l| l.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if body.len() >= length {
            return Ok(body.to_owned());
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One page of the browser, driven over the DevTools protocol.
pub struct Page {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    /// Calls DevTools' `method` with `params`; answers its result (events that arrive
    /// meanwhile are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(request)).await.unwrap();
        let answer = async {
            while let Some(message) = self.ws.next().await {
                let Ok(Message::Text(text)) = message else {
                    continue;
                };
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value["id"] == id {
                    return value;
                }
            }
            panic!("DevTools closed");
        };
        let value = tokio::time::timeout(WAIT, answer)
            .await
            .expect("DevTools answered");
        assert!(value.get("error").is_none(), "{method}: {value}");
        value["result"].clone()
    }

    /// The value of a JavaScript expression in the page.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "returnByValue": true});
        self.call("Runtime.evaluate", params).await["result"]["value"].clone()
    }

    /// Evaluates `expression` until `check` holds of its value, for at most `limit`;
    /// panics with the last value otherwise.
    pub async fn eval_until(
        &mut self,
        what: &str,
        expression: &str,
        limit: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let value = self.eval(expression).await;
            if check(&value) {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out after {limit:?} waiting for {what}; last: {value}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the page as it is now, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

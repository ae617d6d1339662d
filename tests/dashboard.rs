//! End to end in a real browser: headless Chromium loads the dashboard from the real
//! binary's `--metrics` address while real clients are connected, runs its script for a
//! few seconds of virtual time, and the DOM it leaves must show the server's figures.
//!
//! Chromium is required, not optional: without it this test fails and says how to
//! install it (`apt-get install -y chromium` on Debian), or set `CHROMIUM` to a
//! Chrome-compatible browser. A screenshot of the last page is kept under `target/`.

#[path = "support/browser.rs"]
mod browser;
mod support;

use browser::chromium;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

/// Virtual milliseconds the page runs before its DOM is taken: a few polls.
const VIRTUAL_TIME_MS: u32 = 4000;

/// How long one browser run may take in real time.
const BROWSER_WAIT: Duration = Duration::from_secs(90);

/// Where test artefacts go: `target/dashboard-test/`.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("dashboard-test");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=...`)
/// after `VIRTUAL_TIME_MS` of virtual time; answers its standard output.
fn browse(browser: &Path, url: &str, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,1200",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
        .arg(mode)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_exit(&mut child, &format!("chromium {mode}"), BROWSER_WAIT);
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    assert!(
        status.success(),
        "chromium {mode} failed ({status}):\n{err}"
    );
    out
}

/// The text of the element with `id` in `dom`, as the page left it.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let at = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no element {id} in the DOM:\n{dom}"));
    let rest = &dom[at..];
    let start = rest.find('>').map_or(0, |i| i + 1);
    let end = rest[start..].find('<').map_or(rest.len(), |i| start + i);
    &rest[start..end]
}

/// `GET {base}stats` (`base` is `http://ADDR/`) until `check` holds, for at most
/// [`WAIT`].
async fn stats_until_http(base: &str, what: &str, check: impl Fn(&Value) -> bool + Send + 'static) {
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{base} is not http://ADDR/: {e}"));
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || http_stats_until(addr, &what, WAIT, check))
        .await
        .unwrap();
}

#[actix_rt::test]
async fn dashboard_in_chromium_shows_live_connections_and_a_removal() {
    let browser = chromium();
    let server = Server::start_with_args("max_error_packets = 3", &["--metrics", "127.0.0.1:0"]);
    let url = format!("http://{}/", server.metrics.expect("no metrics address"));

    let mut frames = Vec::new();
    for _ in 0..3 {
        let mut client = FrameClient::connect(server.frame).await;
        client.ready().await;
        frames.push(client);
    }
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut client = LineClient::connect(server.line).await;
        client.send("PING").await;
        assert_eq!(client.recv().await.as_deref(), Some("PONG"));
        lines.push(client);
    }

    let dom = tokio::task::spawn_blocking({
        let (browser, url) = (browser.clone(), url.clone());
        move || browse(&browser, &url, "--dump-dom")
    })
    .await
    .unwrap();
    std::fs::write(artefacts().join("before-removal.html"), &dom).unwrap();
    assert_eq!(text_of(&dom, "conn-frame"), "3", "frame connections");
    assert_eq!(text_of(&dom, "conn-line"), "2", "line connections");
    assert_eq!(text_of(&dom, "conn-total"), "5");
    assert_eq!(text_of(&dom, "removed-error_packets"), "0");
    assert_eq!(
        text_of(&dom, "listed"),
        "(5 of 5)",
        "the top table lists everyone"
    );
    for client in &frames {
        let peer = client.stream.local_addr().unwrap().to_string();
        assert!(
            dom.contains(&format!("<td>{peer}</td>")),
            "{peer} not listed"
        );
    }
    let polls: u32 = dom
        .split("data-polls=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        polls >= 2,
        "the page polled {polls} times in {VIRTUAL_TIME_MS} ms"
    );

    // Three bad lines: the third removes the connection with reason error_packets.
    let mut bad = lines.pop().unwrap();
    for _ in 0..3 {
        bad.send("NOT A COMMAND").await;
    }
    for _ in 0..3 {
        let answer = bad.recv().await.unwrap_or_default();
        assert!(answer.starts_with("ERR"), "{answer}");
    }
    assert_eq!(bad.recv().await, None, "closed after the third bad line");
    stats_until_http(&url, "the removal", |s| {
        s["removed_total"]["error_packets"] == 1 && s["connections"]["line"] == 1
    })
    .await;

    let dom = tokio::task::spawn_blocking({
        let (browser, url) = (browser.clone(), url.clone());
        move || browse(&browser, &url, "--dump-dom")
    })
    .await
    .unwrap();
    std::fs::write(artefacts().join("after-removal.html"), &dom).unwrap();
    assert_eq!(text_of(&dom, "removed-error_packets"), "1", "the removal");
    assert_eq!(text_of(&dom, "conn-line"), "1");
    assert_eq!(text_of(&dom, "conn-frame"), "3");
    assert_eq!(text_of(&dom, "conn-total"), "4");
    assert!(
        text_of(&dom, "status").starts_with("updated"),
        "the page reached the server"
    );

    let screenshot = artefacts().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let mode = format!("--screenshot={}", screenshot.display());
    tokio::task::spawn_blocking(move || browse(&browser, &url, &mode))
        .await
        .unwrap();
    let png = std::fs::read(&screenshot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot at {}",
        screenshot.display()
    );
    drop(frames);
}

#[actix_rt::test]
async fn the_dashboard_works_behind_a_metrics_token() {
    let browser = chromium();
    let token = "dashboard-s3cr3t";
    let server =
        Server::start_with_args("", &["--metrics", "127.0.0.1:0", "--metrics-token", token]);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = FrameClient::connect(server.frame).await;
        client.ready().await;
        clients.push(client);
    }
    let base = format!("http://{}/", server.metrics.expect("no metrics address"));
    // Opened with the token, the page's own requests carry it.
    let url = format!("{base}?token={token}");
    let dom = tokio::task::spawn_blocking({
        let browser = browser.clone();
        move || browse(&browser, &url, "--dump-dom")
    })
    .await
    .unwrap();
    std::fs::write(artefacts().join("with-token.html"), &dom).unwrap();
    assert_eq!(text_of(&dom, "conn-frame"), "2", "frame connections");
    assert!(
        text_of(&dom, "status").starts_with("updated"),
        "the page reached the server"
    );
    for client in &clients {
        let peer = client.stream.local_addr().unwrap().to_string();
        assert!(
            dom.contains(&format!("<td>{peer}</td>")),
            "{peer} not listed"
        );
    }
    // Without it, the browser gets nothing of the page.
    let dom = tokio::task::spawn_blocking(move || browse(&browser, &base, "--dump-dom"))
        .await
        .unwrap();
    assert!(!dom.contains("conn-frame"), "{dom}");
    drop(clients);
}

/// Kills the demo process when the test ends, however it ends.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn demo_with_http_serves_the_dashboard_of_its_front_server() {
    let browser = chromium();
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["demo", "--seconds", "30", "--http", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut backends, mut url) = (Vec::new(), None);
    while url.is_none() {
        let line = rx
            .recv_timeout(WAIT)
            .expect("the demo printed no dashboard address");
        if let Some(rest) = line.strip_prefix("front: ") {
            // "front: frame A, line B; backends C and D (flaky)"
            let named = rest.split("backends ").nth(1).unwrap_or_default();
            backends = named
                .split([' ', '('])
                .filter(|w| w.parse::<std::net::SocketAddr>().is_ok())
                .map(str::to_owned)
                .collect();
        }
        url = line.strip_prefix("dashboard: ").map(str::to_owned);
    }
    let url = url.unwrap_or_default();
    assert_eq!(backends.len(), 2, "backends not named by the demo");

    stats_until_http(&url, "the demo's frame clients", |s| {
        s["connections"]["frame"].as_u64().unwrap_or(0) >= 1
    })
    .await;

    // Read-only: the demo's HTTP address offers no broadcast.
    let response = awc::Client::default()
        .post(format!("{url}broadcast/frame"))
        .timeout(WAIT)
        .send_body("x")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    let dom = tokio::task::spawn_blocking(move || browse(&browser, &url, "--dump-dom"))
        .await
        .unwrap();
    std::fs::write(artefacts().join("demo.html"), &dom).unwrap();
    for backend in &backends {
        let state = text_of(&dom, &format!("backend-{backend}"));
        assert!(state == "up" || state == "down", "{backend}: {state}");
    }
    let frames: u32 = text_of(&dom, "conn-frame").parse().unwrap_or(0);
    assert!(frames >= 1, "the demo's frame clients are counted");
}

/// Serves the real dashboard page next to fixed `/stats` and `/connections` answers on
/// loopback; answers the page's address and the server's handle.
fn stub_server(stats: Value, listing: Value) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let (stats, listing) = (stats.clone(), listing.clone());
        App::new()
            .route(
                "/",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(switchboard_server::web::DASHBOARD)
                }),
            )
            .route(
                "/stats",
                web::get().to(move || {
                    let stats = stats.clone();
                    async move { HttpResponse::Ok().json(stats) }
                }),
            )
            .route(
                "/connections",
                web::get().to(move || {
                    let listing = listing.clone();
                    async move { HttpResponse::Ok().json(listing) }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (format!("http://{addr}/"), handle)
}

/// Named groups, a cluster and a recorded send failure are not produced by the server
/// on demand, so the page is given them by a stub with the snapshot's shape.
#[actix_rt::test]
async fn dashboard_shows_named_groups_cluster_and_failure_reasons_when_present() {
    let browser = chromium();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let stats = serde_json::json!({
        "connections": {"frame": 2, "line": 0},
        "removed_total": {"error_packets": 0, "idle": 3},
        "sent_bytes_total": 1000, "received_bytes_total": 500,
        "send_failures_total": 1,
        "protocols": {"frame": {"send_failures": 1, "refused_packets": 0, "dropped_packets": 1}},
        "groups": {"room-a": 4, "room-b": {"members": 2}},
        "cluster": {"node": "node-7", "connected": true, "published_total": 5,
                    "received_total": 7, "failed_total": 0},
        "backends": {"127.0.0.1:9001": "down", "127.0.0.1:9002": "up"},
    });
    let listing = serde_json::json!({
        "total": 2, "offset": 0, "limit": 20, "sort": "queued",
        "connections": [
            {"id": 1, "protocol": "frame", "peer": "127.0.0.1:5555", "queued_bytes": 4096,
             "error_packets": 1, "idle_ms": 2500, "sent_bytes": 10,
             "report": {"recent_failures": [
                 {"at_unix_ms": now_ms, "reason": "write timed out after 10s", "size": 321}]}},
            {"id": 2, "protocol": "frame", "peer": "127.0.0.1:6666", "queued_bytes": 0,
             "error_packets": 0, "idle_ms": 10, "sent_bytes": 0, "report": null},
        ],
    });
    let (url, handle) = stub_server(stats, listing);
    let dom = tokio::task::spawn_blocking(move || browse(&browser, &url, "--dump-dom"))
        .await
        .unwrap();
    handle.stop(true).await;
    std::fs::write(artefacts().join("stub.html"), &dom).unwrap();
    assert_eq!(text_of(&dom, "group-room-a"), "4");
    assert_eq!(text_of(&dom, "group-room-b"), "2");
    assert_eq!(text_of(&dom, "cluster-node"), "node-7");
    assert_eq!(text_of(&dom, "cluster-connected"), "true");
    assert_eq!(text_of(&dom, "removed-idle"), "3");
    assert_eq!(text_of(&dom, "failures-total"), "1");
    assert_eq!(text_of(&dom, "backend-127.0.0.1:9001"), "down");
    assert_eq!(text_of(&dom, "backend-127.0.0.1:9002"), "up");
    assert!(
        dom.contains("stroke-dasharray=\"6 4\""),
        "named groups are charted (dashed) next to the protocols"
    );
    for shown in [
        "<td>write timed out after 10s</td>",
        "<td>127.0.0.1:5555</td>",
        "<td class=\"n\">4.0 KiB</td>",
        "<td class=\"n\">2.5 s</td>",
    ] {
        assert!(dom.contains(shown), "{shown} not shown");
    }
}

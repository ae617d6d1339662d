//! The demo's chat page in a real browser: `demo --http` serves `/chat`, where headless
//! Chromium joins the room scene's `lobby` beside the scripted members over WebSocket on
//! the same port, sees their messages arrive and says hello to them; the demo still
//! passes its own verdict. A screenshot of the page is kept under `target/`.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::wait_exit;

#[tokio::test]
async fn a_browser_joins_the_demos_lobby_beside_the_scripted_members() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--seconds", "14", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
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
    let mut out = Vec::new();
    let chat: SocketAddr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no chat address printed: {out:#?}"));
        let addr = line
            .strip_prefix("chat: http://")
            .and_then(|a| a.trim_end_matches("/chat").parse().ok());
        out.push(line);
        if let Some(addr) = addr {
            break addr;
        }
    };
    let chromium = browser::Browser::open(&format!("http://{chat}/chat?name=you&hello"), 900, 560);
    let mut page = chromium.page().await;
    let expression = "[...document.querySelectorAll('#log li')].map(li => li.textContent)";
    let log = page
        .eval_until(
            "messages of both publishing members, and the browser's own",
            expression,
            Duration::from_secs(12),
            |log| {
                let log: Vec<&str> = log
                    .as_array()
                    .map(|l| l.iter().filter_map(|m| m.as_str()).collect())
                    .unwrap_or_default();
                let from = |who: &str| log.iter().filter(|m| m.starts_with(who)).count();
                from("room-frame ") >= 3 && from("room-line ") >= 3 && from("you: ") == 1
            },
        )
        .await;
    // Each publisher's messages arrive in order, numbered from where the page joined.
    for who in ["room-frame", "room-line"] {
        let numbers: Vec<u64> = log
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str()?.strip_prefix(who)?.trim().parse().ok())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{who}: {numbers:?}"
        );
    }
    assert_eq!(
        page.eval("document.getElementById('status').textContent")
            .await,
        "joined"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-chat");
    std::fs::create_dir_all(&shots).unwrap();
    page.screenshot(&shots.join("chat.png")).await;
    drop(chromium);

    let status = wait_exit(&mut child, "the demo", Duration::from_secs(60));
    out.extend(lines.try_iter());
    let out = out.join("\n");
    assert!(status.success(), "demo failed:\n{out}");
    assert!(
        out.contains("[ok] room-listener got every message published to lobby in order"),
        "{out}"
    );
    assert!(out.contains("demo passed"), "{out}");
}

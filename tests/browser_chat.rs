//! End to end in a real browser: headless Chromium opens the chat page (`src/chat.html`,
//! the page `demo --http` serves) on the real binary's `ws_line` listener, joins a room
//! and exchanges messages with a TCP `line` client in it; the test reads the page's DOM
//! over the DevTools protocol.

#[path = "support/browser.rs"]
mod browser;
mod support;

use browser::Browser;
use std::time::Duration;
use support::{http_stats_until, LineClient, Server, WAIT};

#[tokio::test]
async fn a_browser_and_a_tcp_client_chat_in_one_room() {
    let server =
        Server::start_with_args("ws_line = \"127.0.0.1:0\"", &["--metrics", "127.0.0.1:0"]);
    let ws = server.ws_line.expect("ws_line listening");
    let mut tcp = LineClient::connect(server.line).await;
    tcp.send("JOIN lobby").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("JOINED lobby"));

    let page = format!(
        "file://{}/src/chat.html?ws=ws://{ws}/&room=lobby&name=chromium&hello",
        env!("CARGO_MANIFEST_DIR")
    );
    let chromium = Browser::open(&page, 900, 600);
    // The page joins and says hello: the TCP member hears it in its own encoding.
    assert_eq!(
        tcp.recv().await.as_deref(),
        Some("MSG lobby chromium: hello")
    );
    tcp.send("PUB lobby tcp: hello browser").await;
    assert_eq!(
        tcp.recv().await.as_deref(),
        Some("MSG lobby tcp: hello browser")
    );

    let mut page = chromium.page().await;
    let log = page
        .eval_until(
            "both messages on the page",
            "document.getElementById('log').innerText",
            WAIT * 2,
            |log| log.as_str().is_some_and(|l| l.contains("hello browser")),
        )
        .await;
    let lines: Vec<&str> = log.as_str().unwrap().lines().collect();
    assert_eq!(lines, ["chromium: hello", "tcp: hello browser"]);
    assert_eq!(
        page.eval("document.getElementById('status').textContent")
            .await,
        "joined"
    );
    assert_eq!(page.eval("document.body.dataset.messages").await, "2");
    assert_eq!(
        page.eval("document.querySelector('li.me .who').textContent")
            .await,
        "chromium:",
        "its own message, marked as its own"
    );

    // Typed into the form, as a person would.
    page.eval(
        "document.getElementById('text').value = 'typed in the page'; \
         document.querySelector('#say button').click()",
    )
    .await;
    assert_eq!(
        tcp.recv().await.as_deref(),
        Some("MSG lobby chromium: typed in the page")
    );
    let metrics = server.metrics.unwrap();
    tokio::task::spawn_blocking(move || {
        http_stats_until(
            metrics,
            "the browser counted",
            Duration::from_secs(5),
            |s| s["websocket"] == 1 && s["connections"]["line"] == 2,
        )
    })
    .await
    .unwrap();
}

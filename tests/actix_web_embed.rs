//! The HTTP app of the `actix_web_embed` example, started in-process the way the example
//! starts it and driven with actix's HTTP client over loopback, next to real `frame`
//! and `line` clients.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/openmetrics.rs"]
mod openmetrics;
mod support;

use serde_json::Value;
use std::net::SocketAddr;

use support::{until, FrameClient, LineClient, BROADCAST, ECHO, WAIT};
use switchboard::{ListenerHandle, Switchboard};
use switchboard_server::config::Config;
use switchboard_server::protocols::frame::FrameProtocol;
use switchboard_server::protocols::line::LineProtocol;
use switchboard_server::server::switchboard_config;
use switchboard_server::web::upgrade::{self, WebSockets};
use switchboard_server::web::{Endpoints, WebState};
use switchboard_testkit::ws::{self as raw, WsClient};

/// The example's wiring on ephemeral ports.
struct App {
    frame: SocketAddr,
    line: SocketAddr,
    http: String,
    /// The same address, for sockets.
    http_addr: SocketAddr,
    /// Keeps the listeners accepting.
    _listeners: [ListenerHandle; 2],
    http_server: actix_web::dev::ServerHandle,
    board: Switchboard,
}

/// `max_frame` and `max_line` of the app, small enough to test the refusals.
const MAX_FRAME: usize = 1024;
const MAX_LINE: usize = 256;

impl App {
    fn start() -> App {
        let config = Config {
            max_frame: MAX_FRAME,
            max_line: MAX_LINE,
            workers: 1,
            ..Config::default()
        };
        let board = Switchboard::start(switchboard_config(&config));
        let any = || switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let frame = board
            .listen(any(), || FrameProtocol::new(MAX_FRAME))
            .unwrap();
        let line = board.listen(any(), || LineProtocol::new(MAX_LINE)).unwrap();
        let http = any();
        let http_addr = http.local_addr().unwrap();
        let state = WebState::new(board.handle().clone(), MAX_FRAME, MAX_LINE);
        let browsers =
            board.websocket_entry(config.ws_line_config(), || LineProtocol::new(MAX_LINE));
        let websockets = WebSockets::new()
            .route("/ws", browsers)
            .chat_page("/chat", "/ws");
        let server = upgrade::http_server_with(http, state, Endpoints::All, websockets).unwrap();
        let http_server = server.handle();
        actix_rt::spawn(server);
        App {
            frame: frame.local_addr,
            line: line.local_addr,
            http: format!("http://{http_addr}"),
            http_addr,
            _listeners: [frame, line],
            http_server,
            board,
        }
    }

    /// GET `path`: the status and the body.
    async fn get(&self, path: &str) -> (u16, String) {
        let client = awc::Client::default();
        let mut response = client
            .get(format!("{}{path}", self.http))
            .timeout(WAIT)
            .send()
            .await
            .unwrap();
        let body = response.body().await.unwrap();
        (
            response.status().as_u16(),
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    /// GET `path`, expecting 200 and JSON.
    async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// POST `body` to `path`: the status and the JSON answer.
    async fn post(&self, path: &str, body: &'static [u8]) -> (u16, Value) {
        let client = awc::Client::default();
        let mut response = client
            .post(format!("{}{path}", self.http))
            .timeout(WAIT)
            .send_body(body)
            .await
            .unwrap();
        let json = response.json::<Value>().await.unwrap();
        (response.status().as_u16(), json)
    }

    async fn stop(self) {
        self.http_server.stop(true).await;
        self.board.shutdown().await;
    }
}

/// A frame client that the server has registered (it answered a PING).
async fn frame_client(app: &App) -> FrameClient {
    let mut client = FrameClient::connect(app.frame).await;
    client.ready().await;
    client
}

#[actix_rt::test]
async fn stats_has_the_protocol_keys() {
    let app = App::start();
    let _client = frame_client(&app).await;
    let stats = app.get_json("/stats").await;
    for key in [
        "connections",
        "accepted_total",
        "removed_total",
        "sent_bytes_total",
        "received_bytes_total",
        "sent_packets_total",
        "received_packets_total",
        "error_packets_total",
        "send_failures_total",
    ] {
        assert!(stats.get(key).is_some(), "no {key} in {stats}");
    }
    assert_eq!(stats["connections"]["frame"], 1);
    assert_eq!(stats["connections"]["line"], 0);
    assert_eq!(stats["removed_total"]["error_packets"], 0);
    app.stop().await;
}

#[actix_rt::test]
async fn connections_lists_a_frame_client_with_its_peer_and_activity() {
    let app = App::start();
    let client = frame_client(&app).await;
    let mut other = LineClient::connect(app.line).await;
    other.send("PING").await;
    assert_eq!(other.recv().await.as_deref(), Some("PONG"));
    let peer = client.stream.local_addr().unwrap().to_string();

    let listed = app.get_json("/connections?protocol=frame").await;
    let list = listed["connections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{listed}");
    let conn = &list[0];
    assert_eq!(conn["peer"], peer.as_str());
    assert_eq!(conn["protocol"], "frame");
    assert_eq!(conn["error_packets"], 0);
    assert!(conn["queued_bytes"].is_u64());
    // The connection's own report: it received the PING and sent the PONG.
    let report = &conn["report"];
    assert!(
        report["last_receive_unix_ms"].as_u64().unwrap() > 0,
        "{conn}"
    );
    assert!(report["last_send_unix_ms"].as_u64().unwrap() > 0, "{conn}");
    assert_eq!(report["traffic"]["sent_packets"], 1);
    assert_eq!(report["recent_failures"], Value::Array(Vec::new()));

    let everyone = app.get_json("/connections").await;
    assert_eq!(everyone["connections"].as_array().unwrap().len(), 2);
    let (status, body) = app.get("/connections?protocol=nope").await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(error["error"].as_str().unwrap().contains("nope"), "{body}");
    app.stop().await;
}

#[actix_rt::test]
async fn dashboard_and_ranked_listing_are_served_next_to_the_control_endpoints() {
    let app = App::start();
    let (status, page) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Switchboard</title>"), "{page}");
    let mut erring = frame_client(&app).await;
    let _quiet = frame_client(&app).await;
    erring.send(0x42, b"unknown opcode").await;
    assert_eq!(erring.recv().await.0, support::ERROR);
    let listed = app.get_json("/connections?sort=errors&limit=1").await;
    assert_eq!(listed["total"], 2, "{listed}");
    let peer = erring.stream.local_addr().unwrap().to_string();
    assert_eq!(listed["connections"][0]["peer"], peer.as_str(), "{listed}");
    assert_eq!(listed["connections"][0]["error_packets"], 1);
    app.stop().await;
}

#[actix_rt::test]
async fn broadcast_frame_reaches_two_clients() {
    let app = App::start();
    let mut a = frame_client(&app).await;
    let mut b = frame_client(&app).await;
    let (status, answer) = app.post("/broadcast/frame", b"to every frame").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["protocol"], "frame");
    assert_eq!(answer["delivered"], 2);
    assert_eq!(answer["refused"], Value::Array(Vec::new()));
    for client in [&mut a, &mut b] {
        assert_eq!(client.recv().await, (BROADCAST, b"to every frame".to_vec()));
    }
    app.stop().await;
}

#[actix_rt::test]
async fn broadcast_line_reaches_line_clients_only() {
    let app = App::start();
    let mut frame = frame_client(&app).await;
    let mut line = LineClient::connect(app.line).await;
    line.send("PING").await;
    assert_eq!(line.recv().await.as_deref(), Some("PONG"));
    let (status, answer) = app.post("/broadcast/line", b"hello, lines").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], 1);
    assert_eq!(line.recv().await.as_deref(), Some("BCAST hello, lines"));
    // The frame client got nothing: its next frame answers its next request.
    frame.send(ECHO, b"next").await;
    assert_eq!(frame.recv().await, (ECHO, b"next".to_vec()));
    app.stop().await;
}

#[actix_rt::test]
async fn broadcast_refuses_bodies_that_cannot_be_encoded() {
    let app = App::start();
    let mut line = LineClient::connect(app.line).await;
    line.send("PING").await;
    assert_eq!(line.recv().await.as_deref(), Some("PONG"));

    let (status, answer) = app.post("/broadcast/line", b"two\nlines").await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("line break"),
        "{answer}"
    );
    const LONG_LINE: [u8; MAX_LINE] = [b'x'; MAX_LINE];
    let (status, answer) = app.post("/broadcast/line", &LONG_LINE).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("limit"),
        "{answer}"
    );
    const BIG_FRAME: [u8; MAX_FRAME] = [7; MAX_FRAME];
    let (status, answer) = app.post("/broadcast/frame", &BIG_FRAME).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("1023"),
        "{answer}"
    );
    let (status, answer) = app.post("/broadcast/nope", b"x").await;
    assert_eq!(status, 404);
    assert!(
        answer["error"].as_str().unwrap().contains("nope"),
        "{answer}"
    );

    // Nothing was sent: the line client's next line answers its next request.
    line.send("ECHO still here").await;
    assert_eq!(line.recv().await.as_deref(), Some("ECHO still here"));
    app.stop().await;
}

#[actix_rt::test]
async fn metrics_parse_as_prometheus_text_and_count_sent_bytes() {
    let app = App::start();
    let mut client = frame_client(&app).await;
    client.send(ECHO, b"count me").await;
    client.recv().await;
    // Connections report their counters in batches: poll until the bytes show.
    let metrics = until("the sent bytes in /metrics", WAIT, async || {
        let (status, text) = app.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        let metrics = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        let sent = metrics.value("switchboard_sent_bytes_total", &[("protocol", "frame")]);
        match sent == Some(client.received_bytes as f64) {
            true => Ok(metrics),
            false => Err(text),
        }
    })
    .await;
    assert_eq!(metrics.types["switchboard_sent_bytes"], "counter");
    assert_eq!(metrics.types["switchboard_connections"], "gauge");
    assert_eq!(
        metrics.value("switchboard_connections", &[("protocol", "frame")]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value(
            "switchboard_removed_connections_total",
            &[("protocol", "line"), ("reason", "idle")]
        ),
        Some(0.0)
    );
    app.stop().await;
}

#[actix_rt::test]
async fn one_port_serves_the_pages_and_the_websocket() {
    let app = App::start();
    let (status, page) = app.get("/chat").await;
    assert_eq!(status, 200);
    assert!(page.contains("data-ws=\"/ws\""), "the page connects to /ws");
    let mut browser = WsClient::connect(app.http_addr, "/ws").await;
    browser.send_text("ECHO over the HTTP port").await;
    assert_eq!(browser.recv_text().await, "ECHO over the HTTP port");
    let stats = app.get_json("/stats").await;
    assert_eq!(
        (
            stats["websocket"].as_u64(),
            stats["connections"]["line"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // A broadcast to the line group reaches it like any line client.
    let mut tcp = LineClient::connect(app.line).await;
    tcp.send("PING").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("PONG"));
    let (status, answer) = app.post("/broadcast/line", b"to every line client").await;
    assert_eq!((status, answer["delivered"].as_u64()), (200, Some(2)));
    assert_eq!(browser.recv_text().await, "BCAST to every line client");
    assert_eq!(
        tcp.recv().await.as_deref(),
        Some("BCAST to every line client")
    );
    // The switchboard checks the handshake; an upgrade elsewhere is not found.
    let mut old = WsClient::over(raw::connect_tcp(app.http_addr).await);
    let head = old
        .handshake(&raw::request("/ws", "").replace("Version: 13", "Version: 8"))
        .await;
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    let mut elsewhere = WsClient::over(raw::connect_tcp(app.http_addr).await);
    let head = elsewhere.handshake(&raw::request("/nowhere", "")).await;
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    app.stop().await;
}

#[actix_rt::test]
async fn a_browser_on_the_chat_page_talks_with_a_tcp_client() {
    let app = App::start();
    let mut tcp = LineClient::connect(app.line).await;
    tcp.send("JOIN lobby").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("JOINED lobby"));
    let chromium =
        browser::Browser::open(&format!("{}/chat?name=chromium&hello", app.http), 900, 600);
    assert_eq!(
        tcp.recv().await.as_deref(),
        Some("MSG lobby chromium: hello")
    );
    tcp.send("PUB lobby tcp: welcome").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("MSG lobby tcp: welcome"));
    let mut page = chromium.page().await;
    let log = page
        .eval_until(
            "the TCP client's message on the page",
            "document.getElementById('log').innerText",
            WAIT * 2,
            |log| log.as_str().is_some_and(|l| l.contains("welcome")),
        )
        .await;
    assert_eq!(
        log.as_str().unwrap().lines().collect::<Vec<_>>(),
        ["chromium: hello", "tcp: welcome"]
    );
    assert_eq!(
        page.eval("document.getElementById('status').textContent")
            .await,
        "joined"
    );
    drop(chromium);
    app.stop().await;
}

//! An actix-web 4 application that embeds Switchboard.
//!
//! It serves the `frame` and `line` protocols of PROTOCOL.md on a switchboard and, on
//! the same actix system, an HTTP API over that switchboard (see `switchboard_server::web`):
//!
//! - `GET /`: the live dashboard (open it in a browser);
//! - `GET /stats`: the JSON stats snapshot;
//! - `GET /metrics`: the same figures for Prometheus;
//! - `GET /connections?sort=queued&limit=20&offset=0&protocol=frame`: connections ranked
//!   by queued bytes (or `idle`, `errors`, `sent`), a page at a time, each with its peer,
//!   queue, error packets, idle time, sent bytes and its own report (last send and
//!   receive, recent send failures);
//! - `POST /broadcast/{protocol}`: the request body to every connection of the group,
//!   answered with how many took it and which refused it;
//! - `GET /ws` with `Upgrade: websocket`: the `line` protocol over WebSocket on the same
//!   port (the socket handed to the switchboard after actix-web read the request, see
//!   `switchboard_server::web::upgrade`), in the same groups as the TCP clients;
//! - `GET /chat`: a chat page for a browser, joining the room `lobby` over `/ws`.
//!
//! The first four are the read-only monitoring endpoints `switchboard serve --metrics`
//! serves too; the broadcast and the WebSocket are the embedding application's alone.
//!
//! ```text
//! cargo run --example actix_web_embed -- --http 127.0.0.1:8080
//! xdg-open http://127.0.0.1:8080/
//! xdg-open http://127.0.0.1:8080/chat   # and `JOIN lobby`, `PUB lobby hi` over TCP
//! curl -s 'localhost:8080/connections?protocol=line&sort=idle'
//! curl -s -d 'hello, everyone' localhost:8080/broadcast/line
//! ```
//!
//! Addresses come from flags or the environment (`SWITCHBOARD_FRAME`,
//! `SWITCHBOARD_LINE`, `SWITCHBOARD_HTTP`); port 0 picks a free port, and each listener
//! is printed as `listening NAME ADDR`. Ctrl-C stops the HTTP server, then drains the
//! switchboard.

use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use switchboard::Switchboard;
use switchboard_server::config::Config;
use switchboard_server::protocols::frame::FrameProtocol;
use switchboard_server::protocols::line::LineProtocol;
use switchboard_server::server::switchboard_config;
use switchboard_server::web::upgrade::{self, WebSockets};
use switchboard_server::web::{Endpoints, WebState};

/// Where to listen.
#[derive(Debug, Parser)]
struct Args {
    /// The `frame` protocol's address.
    #[arg(long, env = "SWITCHBOARD_FRAME", default_value = "127.0.0.1:0")]
    frame: SocketAddr,
    /// The `line` protocol's address.
    #[arg(long, env = "SWITCHBOARD_LINE", default_value = "127.0.0.1:0")]
    line: SocketAddr,
    /// The HTTP API's address.
    #[arg(long, env = "SWITCHBOARD_HTTP", default_value = "127.0.0.1:0")]
    http: SocketAddr,
}

fn main() -> std::io::Result<()> {
    switchboard_server::logging::init();
    let args = Args::parse();
    actix_rt::System::new().block_on(run(args))
}

async fn run(args: Args) -> std::io::Result<()> {
    // The server's defaults for every limit; an application would read its own config.
    let config = Config::default();
    let (max_frame, max_line) = (config.max_frame, config.max_line);
    let board = Switchboard::start(switchboard_config(&config));
    let frame = board.listen(switchboard::bind(args.frame)?, move || {
        FrameProtocol::new(max_frame)
    })?;
    let line = board.listen(switchboard::bind(args.line)?, move || {
        LineProtocol::new(max_line)
    })?;

    let http = switchboard::bind(args.http)?;
    let http_addr = http.local_addr()?;
    let state = WebState::new(board.handle().clone(), max_frame, max_line);
    // The same line protocol over WebSocket, one text message per line, on the HTTP port.
    let browsers =
        board.websocket_entry(config.ws_line_config(), move || LineProtocol::new(max_line));
    let websockets = WebSockets::new()
        .route("/ws", browsers)
        .chat_page("/chat", "/ws");
    let server = upgrade::http_server_with(http, state, Endpoints::All, websockets)?;
    let http_handle = server.handle();
    actix_rt::spawn(server);

    let mut out = std::io::stdout().lock();
    writeln!(out, "listening frame {}", frame.local_addr)?;
    writeln!(out, "listening line {}", line.local_addr)?;
    writeln!(out, "listening http {http_addr}")?;
    out.flush()?;
    drop(out);

    tokio::signal::ctrl_c().await?;
    http_handle.stop(true).await;
    frame.stop();
    line.stop();
    board.shutdown().await;
    Ok(())
}

//! One port for the HTTP pages and the WebSocket: an actix-web application whose
//! WebSocket routes hand their connections to the switchboard.
//!
//! actix-http parses every request; one that asks to upgrade its connection is handed
//! to `upgrade` together with the socket (actix-http's `upgrade` service, called
//! before routing, with whatever it read beyond the request's head). If the request's
//! path is one of the WebSocket routes, the request is written back as the bytes of its
//! head and the socket, those bytes and anything read after them go to the route's
//! [`WebSocketEntry`]: from then on the connection is the switchboard's, and its own
//! handshake checks the request (method, version, key, `Origin`) exactly as on a
//! `listen_ws` listener. Any other upgrade is answered `404`.
//!
//! This keeps the WebSocket strict and in the switchboard: actix-web's own WebSocket
//! support (`actix-web-actors`, `actix-ws`) would frame and check messages with
//! actix-http's codec instead, and keep the socket in actix-web's dispatcher, outside
//! the switchboard's connections, groups, accounting and rules. Handing the socket over
//! after actix-http parsed the request needs no second parser of HTTP in front of
//! actix-web and no proxying. The routes skip the application's middleware (the
//! [`access`](super::access) token): a WebSocket connection answers to its protocol's
//! rules (AUTH, or the handshake request in `on_open`).

use super::access::Access;
use super::{app, Endpoints, WebState};
use actix_codec::Framed;
use actix_http::{h1, HttpService, Request};
use actix_service::{fn_factory, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::web;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use switchboard::{HandOverError, Protocol, WebSocketEntry};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Hands a socket (from its peer, with the bytes read from it) to a switchboard.
type HandOver =
    dyn Fn(std::net::TcpStream, SocketAddr, Bytes) -> Result<(), HandOverError> + Send + Sync;

/// The WebSocket routes of an HTTP port: request paths and where their connections go.
#[derive(Clone, Default)]
pub struct WebSockets {
    /// Path (without the query) to the entry of its protocol.
    routes: HashMap<String, Arc<HandOver>>,
    /// The chat page's path and the `line` route it connects to, if it is served.
    chat: Option<(String, String)>,
}

impl WebSockets {
    /// No WebSocket route.
    pub fn new() -> Self {
        WebSockets::default()
    }

    /// The same routes, and `path` (`/ws`, say) upgraded into `entry`'s protocol.
    pub fn route<P: Protocol>(mut self, path: &str, entry: WebSocketEntry<P>) -> Self {
        let hand_over = move |stream, peer, read| entry.hand_over(stream, peer, read);
        self.routes.insert(path.to_owned(), Arc::new(hand_over));
        self
    }

    /// The same routes, and the chat page ([`CHAT`]) served at `page`, connecting to
    /// the route `ws` (which must speak `line`).
    pub fn chat_page(mut self, page: &str, ws: &str) -> Self {
        self.chat = Some((page.to_owned(), ws.to_owned()));
        self
    }
}

/// The chat page: HTML, CSS and script in one file, nothing fetched from elsewhere.
pub const CHAT: &str = include_str!("../chat.html");

/// What the chat page may do once loaded: run its own inline script and style, and
/// open a WebSocket to the address it came from.
const CHAT_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The chat page connecting to the WebSocket route `ws` of the address it came from.
pub fn chat_html(ws: &str) -> String {
    CHAT.replacen("data-ws=\"\"", &format!("data-ws=\"{ws}\""), 1)
}

/// [`http_server`](super::http_server) with `websockets` on the same port.
pub fn http_server_with(
    listener: TcpListener,
    state: WebState,
    endpoints: Endpoints,
    websockets: WebSockets,
) -> std::io::Result<actix_web::dev::Server> {
    let access = web::Data::new(Access {
        token: state.token.clone(),
        read_only: endpoints == Endpoints::Monitoring,
    });
    let state = web::Data::new(state);
    let websockets = Arc::new(websockets);
    let server = actix_server::Server::build()
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen("http", listener, move || {
            let routes = websockets.clone();
            let upgrade = fn_factory(move || {
                let websockets = routes.clone();
                async move {
                    Ok::<_, ()>(fn_service(move |(request, framed)| {
                        upgrade(websockets.clone(), request, framed)
                    }))
                }
            });
            let app = app(state.clone(), access.clone(), endpoints);
            let app = match &websockets.chat {
                Some((page, ws)) => {
                    let html = chat_html(ws);
                    app.route(page, web::get().to(move || chat(html.clone())))
                }
                None => app,
            };
            HttpService::build()
                .upgrade(upgrade)
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run();
    Ok(server)
}

async fn chat(html: String) -> actix_web::HttpResponse {
    use actix_web::http::header;
    actix_web::HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CHAT_POLICY))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// A request that asked to upgrade its connection: handed over with its socket if its
/// path is a WebSocket route, else answered `404`.
async fn upgrade(
    websockets: Arc<WebSockets>,
    request: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_http::Error> {
    let parts = framed.into_parts();
    let mut io = parts.io;
    let Some(hand_over) = websockets.routes.get(request.path()) else {
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let _ = io.write_all(not_found).await;
        return Ok(());
    };
    let mut read = head(&request);
    read.extend_from_slice(&parts.read_buf);
    let peer = match io.peer_addr() {
        Ok(peer) => peer,
        Err(e) => {
            tracing::debug!("upgrade of a connection that is gone: {e}");
            return Ok(());
        }
    };
    let stream = match io.into_std() {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!("WebSocket connection from {peer} not handed over: {e}");
            return Ok(());
        }
    };
    if let Err(e) = hand_over(stream, peer, read.freeze()) {
        tracing::warn!("WebSocket connection from {peer} not handed over: {e}");
    }
    Ok(())
}

/// The request's head as it came: request line and headers, then the empty line.
fn head(request: &Request) -> BytesMut {
    let mut out = BytesMut::with_capacity(512);
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str());
    let version = match request.version() {
        actix_http::Version::HTTP_11 => "HTTP/1.1",
        actix_http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/2.0",
    };
    out.put_slice(format!("{} {target} {version}\r\n", request.method()).as_bytes());
    for (name, value) in request.head().headers().iter() {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out
}

//! The HTTP face of a switchboard, built on actix-web 4.
//!
//! One implementation serves both the `actix_web_embed` example and
//! `switchboard serve --metrics`:
//!
//! - [`monitoring`]: `GET /` (the live dashboard, one self-contained page compiled into
//!   the binary), `GET /stats` (the JSON snapshot of PROTOCOL.md), `GET /metrics` (the
//!   same figures for Prometheus, see [`crate::metrics`]) and
//!   `GET /connections?sort=queued&limit=20&offset=0` (a ranked, paged listing of
//!   connections with their own reports, see [`listing`]). Every one is a read-only GET
//!   that changes nothing, so the server may expose them on its `--metrics` address.
//! - [`control`]: `POST /broadcast/{protocol}` (the request body sent to the whole
//!   group). It changes what peers receive, so only an application that embeds
//!   Switchboard mounts it, behind its own access rules; `switchboard serve` never does.
//!
//! [`http_server`] puts [`access`] in front of every route: the bearer token of
//! [`WebState::token`], checked before anything else, and on a read-only server
//! ([`Endpoints::Monitoring`]) GET and HEAD only.
//!
//! Handlers are thin: they ask the switchboard's handle and shape its answer. Turning a body into a
//! packet of the demo protocols is the pure [`Group::encode`]. Every refusal is a JSON
//! `{"error": "..."}` with a 4xx or 5xx status.

pub mod access;
mod broadcast;
pub mod listing;
pub mod upgrade;

pub use broadcast::{BodyRefused, BroadcastView, Group, RefusedView};

use crate::metrics;
use crate::protocols::frame::{Frame, FrameCodec, FrameProtocol};
use crate::protocols::line::LineProtocol;
use crate::secret::Secret;
use access::Access;
use actix_web::http::{header, StatusCode};
use actix_web::{guard, middleware, web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::{Bytes, BytesMut};
use listing::ListingQuery;
use serde::Serialize;
use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, SystemTime};
use switchboard::{ConnectionReport, Handle, MemberInfo, Protocol, SendFailure, Traffic};
use tokio_util::codec::Encoder;

/// The dashboard page: HTML, CSS and script in one file, nothing fetched from elsewhere.
pub const DASHBOARD: &str = include_str!("../dashboard.html");

/// What the dashboard page may do once loaded: run its own inline script and style,
/// and ask the address it came from. Nothing else, and nothing from the internet.
const DASHBOARD_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// What the handlers share: where to ask, and the limits bodies must respect.
#[derive(Clone)]
pub struct WebState {
    /// The switchboard every handler asks.
    pub board: Handle,
    /// The server's `max_frame`: a `frame` broadcast must fit in one frame body.
    pub max_frame: usize,
    /// The server's `max_line`: a `line` broadcast must fit in one line.
    pub max_line: usize,
    /// How long `/connections` waits for the listed connections to report themselves.
    pub inspect_timeout: Duration,
    /// The most connections one `/connections` answer lists, whatever the query asks
    /// (at most [`listing::MAX_LIMIT`]).
    pub max_listed: usize,
    /// The bearer token every request must carry (see [`access`]); `None`: anyone may
    /// ask.
    pub token: Option<Secret>,
}

impl WebState {
    /// Handlers for the switchboard behind `board`, with bodies bounded by `max_frame`
    /// and `max_line`.
    pub fn new(board: Handle, max_frame: usize, max_line: usize) -> Self {
        WebState {
            board,
            max_frame,
            max_line,
            inspect_timeout: Duration::from_secs(1),
            max_listed: listing::MAX_LIMIT,
            token: None,
        }
    }

    /// The same handlers, answering only requests that carry `token` (`None`: any).
    pub fn with_token(mut self, token: Option<Secret>) -> Self {
        self.token = token;
        self
    }
}

/// Which endpoints an HTTP server mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// The read-only endpoints only: `/`, `/stats`, `/metrics`, `/connections`.
    Monitoring,
    /// Monitoring plus `/broadcast/{protocol}`.
    All,
}

/// Mounts the read-only endpoints: `GET /` (the dashboard), `GET /stats`,
/// `GET /metrics` and `GET /connections`, each for HEAD too. Only GET and HEAD are
/// routed (any other method is answered 404, or 405 by [`http_server`]'s read-only
/// server), and no handler changes anything.
pub fn monitoring(cfg: &mut web::ServiceConfig) {
    let read = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.route("/", read().to(dashboard))
        .route("/stats", read().to(stats))
        .route("/metrics", read().to(prometheus))
        .route("/connections", read().to(connections));
}

/// Mounts `POST /broadcast/{protocol}`.
pub fn control(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/broadcast/{protocol}",
        web::post().to(broadcast::broadcast),
    );
}

/// An actix-web server on `listener` with `endpoints`, on one worker thread and without
/// signal handling of its own (the embedding application decides when to stop it).
/// Every request must carry `state`'s token, if it has one, and a monitoring-only
/// server answers any method but GET and HEAD with 405 (see [`access`]). Await the
/// returned server, or spawn it and keep its handle to stop it.
pub fn http_server(
    listener: TcpListener,
    state: WebState,
    endpoints: Endpoints,
) -> std::io::Result<actix_web::dev::Server> {
    let access = web::Data::new(Access {
        token: state.token.clone(),
        read_only: endpoints == Endpoints::Monitoring,
    });
    let state = web::Data::new(state);
    let server = HttpServer::new(move || app(state.clone(), access.clone(), endpoints))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
    Ok(server)
}

/// The application of every HTTP port: `access` in front of `endpoints`.
fn app(
    state: web::Data<WebState>,
    access: web::Data<Access>,
    endpoints: Endpoints,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let app = App::new()
        .app_data(state)
        .app_data(access)
        .wrap(middleware::from_fn(access::admit))
        .configure(monitoring);
    match endpoints {
        Endpoints::Monitoring => app,
        Endpoints::All => app.configure(control),
    }
}

/// A JSON `{"error": message}` answer.
fn error(status: StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": message.to_string() }))
}

/// The answer when the switchboard cannot be reached (it is stopping).
fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("switchboard unavailable: {e}"),
    )
}

async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, DASHBOARD_POLICY))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Opened as `/?token=...`, the page's address must not travel anywhere.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(DASHBOARD)
}

async fn stats(state: web::Data<WebState>) -> HttpResponse {
    match state.board.stats().await {
        Ok(snapshot) => HttpResponse::Ok().json(snapshot),
        Err(e) => unavailable(e),
    }
}

async fn prometheus(state: web::Data<WebState>) -> HttpResponse {
    let snapshot = match state.board.stats().await {
        Ok(snapshot) => snapshot,
        Err(e) => return unavailable(e),
    };
    match metrics::encode(&snapshot) {
        Ok(text) => HttpResponse::Ok()
            .content_type(metrics::CONTENT_TYPE)
            .body(text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

// ----- /connections ----------------------------------------------------------------

/// Milliseconds since the Unix epoch, for JSON.
fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One recent send failure, as JSON.
#[derive(Debug, Serialize)]
pub struct FailureView {
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Why the packet failed.
    pub reason: String,
    /// The packet's encoded size in bytes.
    pub size: usize,
}

impl From<&SendFailure> for FailureView {
    fn from(failure: &SendFailure) -> Self {
        FailureView {
            at_unix_ms: unix_ms(failure.at),
            reason: failure.reason.to_string(),
            size: failure.size,
        }
    }
}

/// What a connection said about itself, as JSON.
#[derive(Debug, Serialize)]
pub struct ReportView {
    /// Packets waiting in its outbound queue.
    pub queued_packets: usize,
    /// Everything it counted since it opened.
    pub traffic: Traffic,
    /// When its socket last accepted bytes, in ms since the Unix epoch; null if never.
    pub last_send_unix_ms: Option<u64>,
    /// When its peer last sent bytes, in ms since the Unix epoch; null if never.
    pub last_receive_unix_ms: Option<u64>,
    /// Its most recent send failures, oldest first.
    pub recent_failures: Vec<FailureView>,
}

impl From<&ConnectionReport> for ReportView {
    fn from(report: &ConnectionReport) -> Self {
        ReportView {
            queued_packets: report.queued_packets,
            traffic: report.traffic,
            last_send_unix_ms: report.last_send.map(unix_ms),
            last_receive_unix_ms: report.last_receive.map(unix_ms),
            recent_failures: report.recent_failures.iter().map(Into::into).collect(),
        }
    }
}

/// One connection in the `/connections` answer.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    /// The registry's figures: id, protocol, peer, queued bytes, error packets, idle ms,
    /// sent bytes (the ones the listing was ranked by).
    #[serde(flatten)]
    pub info: MemberInfo,
    /// The connection's own report; null if it did not answer within the wait or left
    /// between being listed and being asked.
    pub report: Option<ReportView>,
}

/// The answer of `GET /connections`.
#[derive(Debug, Serialize)]
pub struct ListingView {
    /// Connections matching the query before paging (of the group, or of every group).
    pub total: usize,
    /// Ranked connections skipped before this page.
    pub offset: usize,
    /// The most this page could hold (the query's `limit`, capped).
    pub limit: usize,
    /// What the connections are ranked by, largest first.
    pub sort: &'static str,
    /// The page, in rank order.
    pub connections: Vec<ConnectionView>,
}

async fn connections(state: web::Data<WebState>, request: HttpRequest) -> HttpResponse {
    let mut pairs = match web::Query::<Vec<(String, String)>>::from_query(request.query_string()) {
        Ok(pairs) => pairs.into_inner(),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad query: {e}")),
    };
    // The port's token, already checked by `access`, is not a listing parameter.
    pairs.retain(|(name, _)| name != "token");
    let query = match ListingQuery::parse(&pairs) {
        Ok(query) => query,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Some(protocol) = &query.protocol {
        // Declared groups are listed in the snapshot even with no connection.
        match state.board.stats().await {
            Ok(snap) if snap.connections.contains_key(protocol.as_str()) => {}
            Ok(_) => {
                let message = format!("no protocol group {protocol:?}");
                return error(StatusCode::NOT_FOUND, message);
            }
            Err(e) => return unavailable(e),
        }
    }
    let limit = query.limit.min(state.max_listed);
    let members = match state.board.list(query.protocol.as_deref()).await {
        Ok(members) => members,
        Err(e) => return unavailable(e),
    };
    let (total, page) = listing::page(members, query.sort, query.offset, limit);
    let ids = page.iter().map(|m| m.id).collect();
    let mut reports: HashMap<_, _> = match state.board.inspect(ids, state.inspect_timeout).await {
        Ok(found) => found
            .into_iter()
            .filter_map(|found| Some((found.info.id, found.report?)))
            .collect(),
        Err(e) => return unavailable(e),
    };
    let connections = page
        .into_iter()
        .map(|info| ConnectionView {
            report: reports.remove(&info.id).as_ref().map(Into::into),
            info,
        })
        .collect();
    HttpResponse::Ok().json(ListingView {
        total,
        offset: query.offset,
        limit,
        sort: query.sort.as_str(),
        connections,
    })
}

//! End to end: `switchboard serve --metrics ADDR` serves `/metrics`, `/stats`, the
//! ranked `/connections` listing and the dashboard over HTTP from the real binary, and
//! nothing that changes what peers receive.

#[path = "support/openmetrics.rs"]
mod openmetrics;
mod support;

use awc::http::Method;
use serde_json::Value;
use std::time::Duration;
use support::*;

/// GET `path` from the server's metrics address: status, content type, body.
async fn get(server: &Server, path: &str) -> (u16, String, String) {
    let addr = server.metrics.expect("no metrics address printed");
    let mut response = awc::Client::default()
        .get(format!("http://{addr}{path}"))
        .timeout(WAIT)
        .send()
        .await
        .unwrap();
    let body = response.body().await.unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// `method` on `path` of the server's metrics address, with `Authorization: Bearer
/// <bearer>` if given: status, `WWW-Authenticate`, body.
async fn request(
    server: &Server,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> (u16, String, String) {
    let addr = server.metrics.expect("no metrics address printed");
    let mut request = awc::Client::default()
        .request(method, format!("http://{addr}{path}"))
        .timeout(WAIT);
    if let Some(token) = bearer {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.unwrap();
    let body = response.body().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        response.status().as_u16(),
        challenge,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// POST `body` to `path` on the server's metrics address: the status.
async fn post(server: &Server, path: &str, body: &'static str) -> u16 {
    let addr = server.metrics.expect("no metrics address printed");
    let response = awc::Client::default()
        .post(format!("http://{addr}{path}"))
        .timeout(WAIT)
        .send_body(body)
        .await
        .unwrap();
    response.status().as_u16()
}

#[actix_rt::test]
async fn metrics_flag_serves_prometheus_text_and_stats() {
    let server = Server::start_with_args("", &["--metrics", "127.0.0.1:0"]);
    let mut client = FrameClient::connect(server.frame).await;
    client.send(ECHO, b"measured").await;
    assert_eq!(client.recv().await, (ECHO, b"measured".to_vec()));

    until("the sent bytes in /metrics", WAIT, async || {
        let (status, content_type, text) = get(&server, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let metrics = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(metrics.types["switchboard_sent_bytes"], "counter");
        let sent = metrics.value("switchboard_sent_bytes_total", &[("protocol", "frame")]);
        match sent == Some(client.received_bytes as f64) {
            true => Ok(()),
            false => Err(text),
        }
    })
    .await;

    let (status, _, body) = get(&server, "/stats").await;
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["connections"]["frame"], 1);
    assert!(stats["sent_bytes_total"].as_u64().unwrap() >= client.received_bytes);

    // Broadcasting belongs to embedding applications, not to this port.
    for group in ["frame", "line"] {
        let status = post(&server, &format!("/broadcast/{group}"), "to everyone").await;
        assert_eq!(status, 405, "POST /broadcast/{group} must not exist here");
    }
    // The read-only endpoints answer GET and HEAD only.
    for path in ["/", "/stats", "/metrics", "/connections", "/elsewhere"] {
        assert_eq!(post(&server, path, "x").await, 405, "POST {path}");
    }
    for path in ["/", "/stats", "/metrics", "/connections"] {
        let (status, _, body) = request(&server, Method::HEAD, path, None).await;
        assert_eq!((status, body.as_str()), (200, ""), "HEAD {path}");
    }
    let (status, content_type, page) = get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("<title>Switchboard</title>"), "{page}");
}

/// The token of the tests below.
const TOKEN: &str = "s3cr3t-metrics-token";

#[actix_rt::test]
async fn a_metrics_token_is_asked_of_every_request_first() {
    let server =
        Server::start_with_args("", &["--metrics", "127.0.0.1:0", "--metrics-token", TOKEN]);
    let mut client = FrameClient::connect(server.frame).await;
    client.ready().await;
    let paths = ["/", "/stats", "/metrics", "/connections", "/elsewhere"];
    // Without the token, or with anything else, whatever the method and path: 401, the
    // challenge and nothing more.
    let wrong = [
        None,
        Some("s3cr3t-metrics-toke"),
        Some("s3cr3t-metrics-token2"),
        Some(""),
    ];
    for method in [Method::GET, Method::HEAD, Method::POST, Method::DELETE] {
        for path in paths {
            for bearer in wrong {
                let (status, challenge, body) =
                    request(&server, method.clone(), path, bearer).await;
                assert_eq!(status, 401, "{method} {path} {bearer:?}");
                assert_eq!(challenge, "Bearer", "{method} {path}");
                assert_eq!(body, "", "{method} {path}: reveals nothing");
            }
        }
    }
    for path in [
        "/stats?token=wrong",
        "/?token=",
        "/stats?tok=s3cr3t-metrics-token",
    ] {
        let (status, _, body) = request(&server, Method::GET, path, None).await;
        assert_eq!((status, body.as_str()), (401, ""), "{path}");
    }
    // With it, in the header or the query: the endpoints as without a token.
    let (status, _, body) = request(&server, Method::GET, "/stats", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["connections"]["frame"], 1, "{stats}");
    let (status, _, body) = request(&server, Method::GET, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(body.contains("switchboard_sent_bytes_total"), "{body}");
    let query = format!("/connections?sort=idle&token={TOKEN}&limit=5");
    let (status, _, body) = request(&server, Method::GET, &query, None).await;
    assert_eq!(status, 200, "{body}");
    let listing: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listing["total"], 1, "{listing}");
    assert_eq!(listing["limit"], 5, "{listing}");
    let (status, _, page) = request(&server, Method::GET, &format!("/?token={TOKEN}"), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Switchboard</title>"));
    let (status, _, body) = request(&server, Method::HEAD, "/stats", Some(TOKEN)).await;
    assert_eq!((status, body.as_str()), (200, ""));
    // Still read-only once admitted.
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, _, _) = request(&server, method.clone(), "/stats", Some(TOKEN)).await;
        assert_eq!(status, 405, "{method}");
    }
}

#[actix_rt::test]
async fn the_metrics_token_key_works_like_the_flag() {
    let server = Server::start_with_args(
        &format!("metrics_token = \"{TOKEN}\""),
        &["--metrics", "127.0.0.1:0"],
    );
    let (status, _, _) = request(&server, Method::GET, "/stats", None).await;
    assert_eq!(status, 401);
    let (status, _, _) = request(&server, Method::GET, "/stats", Some(TOKEN)).await;
    assert_eq!(status, 200);
}

#[test]
fn without_the_flag_no_metrics_listener_is_printed() {
    let server = Server::start("");
    assert_eq!(server.metrics, None);
}

#[test]
fn unbindable_metrics_address_exits_2_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, stderr) = run_to_exit(&[
        "serve",
        "--frame",
        "127.0.0.1:0",
        "--line",
        "127.0.0.1:0",
        "--metrics",
        &addr,
    ]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.contains("metrics"),
        "{stderr}"
    );
}
#[test]
fn reader_refuses_what_a_scraper_refuses() {
    let good = "# HELP a_bytes A.\n# TYPE a_bytes counter\na_bytes_total{p=\"x\\\"y\",q=\"z\"} 3\n# TYPE g gauge\ng 1.5\n# EOF\n";
    let parsed = openmetrics::parse(good).unwrap();
    assert_eq!(parsed.value("a_bytes_total", &[("p", "x\"y")]), Some(3.0));
    assert_eq!(parsed.value("g", &[]), Some(1.5));
    for bad in [
        "# TYPE a counter\na_total 1\n",           // no EOF
        "a_total 1\n# EOF\n",                      // undeclared family
        "# TYPE a counter\na 1\n# EOF\n",          // counter sample without _total
        "# TYPE a gauge\na{p=\"x} 1\n# EOF\n",     // unterminated label
        "# TYPE a gauge\na one\n# EOF\n",          // not a number
        "# TYPE a gauge\n# TYPE a gauge\n# EOF\n", // declared twice
    ] {
        assert!(openmetrics::parse(bad).is_err(), "accepted {bad:?}");
    }
}

/// GET `path` from the metrics address, expecting `want` as the status; the JSON answer.
async fn get_json(server: &Server, path: &str, want: u16) -> Value {
    let (status, content_type, body) = get(server, path).await;
    assert_eq!(status, want, "GET {path}: {body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The peers of a `/connections` answer, in the order listed.
fn peers(listing: &Value) -> Vec<String> {
    listing["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("no list in {listing}"))
        .iter()
        .map(|c| c["peer"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The address the server sees for `client`.
fn peer(client: &FrameClient) -> String {
    client.stream.local_addr().unwrap().to_string()
}

/// A frame client the server has registered.
async fn ready_client(server: &Server) -> FrameClient {
    let mut client = FrameClient::connect(server.frame).await;
    client.ready().await;
    client
}

/// An opcode the `frame` protocol does not know: one error packet each.
const UNKNOWN_OPCODE: u8 = 0x42;

#[actix_rt::test]
async fn connections_rank_by_idle_errors_and_sent_and_page() {
    let server = Server::start_with_args("", &["--metrics", "127.0.0.1:0"]);
    // `quiet` says nothing after registering: the longest idle.
    let quiet = ready_client(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // `erring` sends two unknown opcodes (one below the removal limit of 3).
    let mut erring = ready_client(&server).await;
    for _ in 0..2 {
        erring.send(UNKNOWN_OPCODE, b"?").await;
        assert_eq!(erring.recv().await.0, ERROR);
    }
    // `chatty` errs once and gets a large echo: the most bytes sent to it.
    let mut chatty = ready_client(&server).await;
    chatty.send(UNKNOWN_OPCODE, b"?").await;
    assert_eq!(chatty.recv().await.0, ERROR);
    chatty.send(ECHO, &[7; 20_000]).await;
    assert_eq!(chatty.recv().await.1.len(), 20_000);
    let (quiet, erring, chatty) = (&quiet, &erring, &chatty);

    let by_idle = get_json(&server, "/connections?sort=idle", 200).await;
    assert_eq!(by_idle["total"], 3, "{by_idle}");
    assert_eq!(by_idle["sort"], "idle");
    assert_eq!(peers(&by_idle)[0], peer(quiet), "{by_idle}");
    let idle = |i: usize| by_idle["connections"][i]["idle_ms"].as_u64().unwrap();
    assert!(idle(0) >= 300 && idle(0) >= idle(1) && idle(1) >= idle(2));

    let by_errors = get_json(&server, "/connections?sort=errors", 200).await;
    assert_eq!(
        peers(&by_errors),
        [peer(erring), peer(chatty), peer(quiet)],
        "{by_errors}"
    );
    let errors: Vec<u64> = (0..3)
        .map(|i| {
            by_errors["connections"][i]["error_packets"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(errors, [2, 1, 0]);

    // The sent bytes are what each client really received (the figure is recorded just
    // after the write, so it is polled for).
    let received = [chatty, erring, quiet].map(|c| c.received_bytes);
    let by_sent = until("the sent bytes in the listing", WAIT, async || {
        let by_sent = get_json(&server, "/connections?sort=sent", 200).await;
        let sent: Vec<u64> = (0..3)
            .map(|i| {
                by_sent["connections"][i]["sent_bytes"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .collect();
        match sent == received {
            true => Ok(by_sent),
            false => Err(format!("{sent:?} != {received:?}: {by_sent}")),
        }
    })
    .await;
    assert_eq!(
        peers(&by_sent),
        [peer(chatty), peer(erring), peer(quiet)],
        "{by_sent}"
    );
    // Each listed connection carries its own report.
    let report = &by_sent["connections"][0]["report"];
    assert_eq!(
        report["traffic"]["sent_bytes"], chatty.received_bytes,
        "{report}"
    );

    // Paging: offset and limit cut the same ranking.
    let page = get_json(&server, "/connections?sort=errors&offset=1&limit=1", 200).await;
    assert_eq!(
        (page["total"].clone(), page["offset"].clone()),
        (3.into(), 1.into())
    );
    assert_eq!(page["limit"], 1);
    assert_eq!(peers(&page), [peer(chatty)], "{page}");
    let past_the_end = get_json(&server, "/connections?offset=3", 200).await;
    assert_eq!(past_the_end["total"], 3);
    assert_eq!(peers(&past_the_end), Vec::<String>::new());
    let only_line = get_json(&server, "/connections?protocol=line", 200).await;
    assert_eq!(only_line["total"], 0, "{only_line}");
}

#[actix_rt::test]
async fn connections_limit_defaults_to_20_and_is_capped_at_1000() {
    let server = Server::start_with_args("", &["--metrics", "127.0.0.1:0"]);
    let mut clients = Vec::new();
    for _ in 0..22 {
        clients.push(ready_client(&server).await);
    }
    let default = get_json(&server, "/connections", 200).await;
    assert_eq!(default["total"], 22);
    assert_eq!(default["limit"], 20);
    assert_eq!(default["sort"], "queued");
    assert_eq!(peers(&default).len(), 20);
    let capped = get_json(&server, "/connections?limit=5000", 200).await;
    assert_eq!(capped["limit"], 1000, "the page size is capped");
    assert_eq!(peers(&capped).len(), 22);
    let empty = get_json(&server, "/connections?limit=0", 200).await;
    assert_eq!(
        (empty["total"].clone(), peers(&empty).len()),
        (22.into(), 0)
    );
}

#[actix_rt::test]
async fn connections_refuse_bad_parameters_with_400_naming_them() {
    let server = Server::start_with_args("", &["--metrics", "127.0.0.1:0"]);
    for (query, named) in [
        ("sort=name", "sort"),
        ("sort=", "sort"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("offset=1.5", "offset"),
        ("offset=99999999999999999999999", "offset"),
        ("limt=3", "limt"),
        ("limit=1&limit=2", "limit"),
        ("protocol=", "protocol"),
    ] {
        let answer = get_json(&server, &format!("/connections?{query}"), 400).await;
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{query}: {answer}");
    }
    let answer = get_json(&server, "/connections?sort=name", 400).await;
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|m| m.contains("queued, idle, errors, sent")),
        "{answer}"
    );
    let answer = get_json(&server, "/connections?protocol=nope", 404).await;
    assert!(answer["error"]
        .as_str()
        .unwrap_or_default()
        .contains("nope"));
}

#[actix_rt::test]
async fn connections_sort_by_queued_puts_a_peer_that_stopped_reading_first() {
    // A large queue allowance and a long write timeout: the stalled peer stays listed.
    let config = "max_outbound_bytes = 268435456\nwrite_timeout_ms = 60000";
    let server = Server::start_with_args(config, &["--metrics", "127.0.0.1:0"]);
    let stalled = ready_client(&server).await;
    let mut publisher = ready_client(&server).await;
    let body = vec![b'q'; 60_000];
    let queued_of = |listing: &Value, who: &FrameClient| -> u64 {
        let list = listing["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        list.iter()
            .find(|c| c["peer"] == peer(who).as_str())
            .and_then(|c| c["queued_bytes"].as_u64())
            .unwrap_or(0)
    };
    // Each broadcast also reaches `stalled`, which never reads: kernel buffers fill
    // (and may grow), then its queue grows. The publisher reads its own copy each time,
    // so its queue empties once its last copy is written (its figure is recorded just
    // after the write). One listing must show both.
    let what = "a listing with the stalled queue full and the publisher's empty";
    let top = until(what, WAIT, async || {
        for _ in 0..20 {
            publisher.send(BROADCAST, &body).await;
            assert_eq!(publisher.recv().await.1.len(), body.len());
        }
        let mut last = Value::Null;
        for _ in 0..10 {
            let listing = get_json(&server, "/connections", 200).await;
            if queued_of(&listing, &stalled) > 0 && queued_of(&listing, &publisher) == 0 {
                return Ok(listing);
            }
            last = listing;
            tokio::time::sleep(POLL).await;
        }
        Err(last.to_string())
    })
    .await;
    assert_eq!(peers(&top), [peer(&stalled), peer(&publisher)], "{top}");
    assert!(queued_of(&top, &stalled) > 0, "{top}");
}

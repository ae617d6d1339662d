//! End to end: `switchboard serve --metrics ADDR` serves `/metrics` and `/stats` over
//! HTTP from the real binary, and nothing that changes what peers receive.

#[path = "support/openmetrics.rs"]
mod openmetrics;
mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
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

#[actix_rt::test]
async fn metrics_flag_serves_prometheus_text_and_stats() {
    let server = Server::start_with_args("", &["--metrics", "127.0.0.1:0"]);
    let mut client = FrameClient::connect(server.frame).await;
    client.send(ECHO, b"measured").await;
    assert_eq!(client.recv().await, (ECHO, b"measured".to_vec()));

    let deadline = Instant::now() + WAIT;
    loop {
        let (status, content_type, text) = get(&server, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let metrics = openmetrics::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(metrics.types["switchboard_sent_bytes"], "counter");
        let sent = metrics.value("switchboard_sent_bytes_total", &[("protocol", "frame")]);
        if sent == Some(client.received_bytes as f64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sent bytes never showed:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, _, body) = get(&server, "/stats").await;
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["connections"]["frame"], 1);
    assert!(stats["sent_bytes_total"].as_u64().unwrap() >= client.received_bytes);

    // The control endpoints belong to embedding applications, not to this port.
    let (status, _, _) = get(&server, "/connections").await;
    assert_eq!(status, 404);
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

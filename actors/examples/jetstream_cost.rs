//! What numbering history messages in NATS JetStream would cost, next to core NATS: a
//! measurement behind the "history across a cluster" note of DESIGN.md.
//!
//! `cargo run --release -p switchboard --example jetstream_cost -- nats://127.0.0.1:4222`
//! against a `nats-server -js`. It creates a memory stream `SBHIST` over `sbhist.>` with
//! `max_msgs_per_subject` (a history per group), then times, for `N` messages of 64
//! bytes on one subject:
//!
//! - core NATS: a publish and a flush (one round trip to the server) per message, and
//!   then `N` publishes and one flush (throughput);
//! - JetStream: a publish answered by the stream's acknowledgement (its sequence, the
//!   offset a cluster-wide history would use) per message, and then `N` publishes with
//!   up to 256 acknowledgements outstanding.
//!
//! It uses only core requests (a JetStream publish is a request answered by the stream),
//! so it needs no client feature beyond the cluster link's.

use async_nats::Client;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Messages per measurement.
const N: usize = 10_000;
/// Acknowledgements outstanding in the throughput measurement.
const WINDOW: usize = 256;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Median and 99th percentile of `samples`, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

async fn create_stream(client: &Client) -> Result<(), Error> {
    let config = serde_json::json!({
        "name": "SBHIST",
        "subjects": ["sbhist.>"],
        "storage": "memory",
        "max_msgs_per_subject": 1000,
        "discard": "old",
    });
    let _ = client
        .request("$JS.API.STREAM.DELETE.SBHIST", Bytes::new())
        .await;
    let answer = client
        .request("$JS.API.STREAM.CREATE.SBHIST", config.to_string().into())
        .await?;
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload)?;
    if answer.get("error").is_some() {
        return Err(format!("stream not created: {answer}").into());
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let client = async_nats::connect(&url).await?;
    create_stream(&client).await?;
    let payload = Bytes::from(vec![b'x'; 64]);

    let mut core = Vec::with_capacity(N);
    for _ in 0..N {
        let start = Instant::now();
        client.publish("core.room", payload.clone()).await?;
        client.flush().await?;
        core.push(start.elapsed());
    }
    let start = Instant::now();
    for _ in 0..N {
        client.publish("core.room", payload.clone()).await?;
    }
    client.flush().await?;
    let core_rate = N as f64 / start.elapsed().as_secs_f64();

    let mut acked = Vec::with_capacity(N);
    let mut last_seq = 0;
    for _ in 0..N {
        let start = Instant::now();
        let ack = client.request("sbhist.room", payload.clone()).await?;
        acked.push(start.elapsed());
        let ack: serde_json::Value = serde_json::from_slice(&ack.payload)?;
        last_seq = ack["seq"]
            .as_u64()
            .ok_or("an acknowledgement without seq")?;
    }
    let start = Instant::now();
    let mut pending = futures_util::stream::FuturesOrdered::new();
    let mut done = 0;
    for _ in 0..N {
        let client = client.clone();
        let payload = payload.clone();
        pending.push_back(async move { client.request("sbhist.room", payload).await });
        if pending.len() >= WINDOW {
            use futures_util::StreamExt;
            pending.next().await.ok_or("no ack")??;
            done += 1;
        }
    }
    use futures_util::StreamExt;
    while let Some(ack) = pending.next().await {
        ack?;
        done += 1;
    }
    let js_rate = done as f64 / start.elapsed().as_secs_f64();

    let (core50, core99) = percentiles(core);
    let (js50, js99) = percentiles(acked);
    println!(
        "{}",
        serde_json::json!({
            "messages": N,
            "size": 64,
            "core_publish_flush_p50_us": (core50 * 10.0).round() / 10.0,
            "core_publish_flush_p99_us": (core99 * 10.0).round() / 10.0,
            "core_msgs_per_s": core_rate.round(),
            "jetstream_ack_p50_us": (js50 * 10.0).round() / 10.0,
            "jetstream_ack_p99_us": (js99 * 10.0).round() / 10.0,
            "jetstream_msgs_per_s_window_256": js_rate.round(),
            "last_sequence": last_seq,
        })
    );
    let _ = client
        .request("$JS.API.STREAM.DELETE.SBHIST", Bytes::new())
        .await;
    Ok(())
}

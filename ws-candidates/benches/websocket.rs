//! Decoding masked client messages and encoding server messages, 64 B and 16 KiB,
//! text (ASCII and Greek) and binary, with each candidate over an in-memory socket:
//! `cargo bench -p ws-candidates --bench websocket`.
//!
//! A batch of about 64 KiB of frames is loaded per iteration; the figures are
//! messages per second (criterion's element throughput).

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::time::Duration;
use ws_candidates::feed::Feed;
use ws_candidates::wire::frame;

/// Messages in one batch of `size`-byte messages (about 64 KiB or more).
fn batch(size: usize) -> usize {
    (64 * 1024 / size).max(16)
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    // (label, opcode, payload): ASCII text, binary, and Greek text (two bytes a
    // character, where UTF-8 checking costs the most).
    let greek = "κόσμε".repeat(16 * 1024 / 10).into_bytes();
    let inputs = [
        ("text64", 0x81, payload(64)),
        ("binary64", 0x82, payload(64)),
        ("text16384", 0x81, payload(16 * 1024)),
        ("greek16380", 0x81, greek),
        ("binary16384", 0x82, payload(16 * 1024)),
    ];
    for (label, opcode, body) in inputs {
        let size = body.len();
        let n = batch(size);
        let input = frame(opcode, &body).repeat(n);
        let limit = size * 2;
        group.throughput(Throughput::Elements(n as u64));

        group.bench_function(BenchmarkId::new("switchboard", label), |b| {
            use switchboard::websocket::{Incoming, MessageReader};
            let mut reader = MessageReader::new(limit, None);
            b.iter(|| {
                let mut buf = BytesMut::from(&input[..]);
                let mut count = 0;
                while let Ok(Some(Incoming::Message(m))) = reader.read(&mut buf) {
                    black_box(&m.payload);
                    count += 1;
                }
                assert_eq!(count, n);
            })
        });

        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
            let feed = Feed::default();
            let config = WebSocketConfig::default().max_message_size(Some(limit));
            let mut ws = WebSocket::from_raw_socket(feed.clone(), Role::Server, Some(config));
            b.iter(|| {
                feed.load(&input);
                let mut count = 0;
                while let Ok(m) = ws.read() {
                    black_box(&m);
                    count += 1;
                }
                assert_eq!(count, n);
            })
        });

        group.bench_function(BenchmarkId::new("tokio-websockets", label), |b| {
            use tokio_websockets::{Limits, ServerBuilder};
            let feed = Feed::default();
            let mut ws = ServerBuilder::new()
                .limits(Limits::default().max_payload_len(Some(limit)))
                .serve(feed.clone());
            b.iter(|| {
                feed.load(&input);
                let mut count = 0;
                while let Some(Some(Ok(m))) = ws.next().now_or_never() {
                    black_box(&m);
                    count += 1;
                }
                assert_eq!(count, n);
            })
        });

        group.bench_function(BenchmarkId::new("fastwebsockets", label), |b| {
            use fastwebsockets::{FragmentCollector, Role, WebSocket};
            let feed = Feed::default();
            let mut ws = WebSocket::after_handshake(feed.clone(), Role::Server);
            ws.set_max_message_size(limit);
            let mut ws = FragmentCollector::new(ws);
            b.iter(|| {
                feed.load(&input);
                let mut count = 0;
                while let Some(Ok(frame)) = ws.read_frame().now_or_never() {
                    black_box(&frame.payload);
                    count += 1;
                    if count == n {
                        // Its read is not cancel-safe: never leave it pending.
                        break;
                    }
                }
                assert_eq!(count, n);
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for size in [64, 16 * 1024] {
        let n = batch(size);
        let data = Bytes::from(payload(size));
        let label = format!("binary{size}");
        group.throughput(Throughput::Elements(n as u64));

        group.bench_function(BenchmarkId::new("switchboard copied", &label), |b| {
            use switchboard::websocket::{encode_message, MessageKind};
            let mut out = BytesMut::new();
            b.iter(|| {
                out.clear();
                for _ in 0..n {
                    encode_message(MessageKind::Binary, &data, &mut out);
                }
                black_box(&out);
            })
        });

        group.bench_function(BenchmarkId::new("switchboard header", &label), |b| {
            use std::io::IoSlice;
            use switchboard::websocket::{Header, Opcode};
            let mut headers = Vec::with_capacity(n);
            b.iter(|| {
                headers.clear();
                for _ in 0..n {
                    headers.push(Header::new(Opcode::Binary, data.len()));
                }
                let slices: Vec<IoSlice<'_>> = headers
                    .iter()
                    .flat_map(|h| [IoSlice::new(h.as_bytes()), IoSlice::new(&data)])
                    .collect();
                black_box(&slices);
            })
        });

        group.bench_function(BenchmarkId::new("tungstenite", &label), |b| {
            use tungstenite::protocol::{Role, WebSocket};
            use tungstenite::Message;
            let feed = Feed::default();
            let mut ws = WebSocket::from_raw_socket(feed.clone(), Role::Server, None);
            b.iter(|| {
                for _ in 0..n {
                    ws.write(Message::Binary(data.clone())).unwrap();
                }
                ws.flush().unwrap();
            })
        });

        group.bench_function(BenchmarkId::new("tokio-websockets", &label), |b| {
            use tokio_websockets::{Message, ServerBuilder};
            let feed = Feed::default();
            let mut ws = ServerBuilder::new().serve(feed.clone());
            b.iter(|| {
                for _ in 0..n {
                    ws.feed(Message::binary(data.clone()))
                        .now_or_never()
                        .unwrap()
                        .unwrap();
                }
                ws.flush().now_or_never().unwrap().unwrap();
            })
        });

        group.bench_function(BenchmarkId::new("fastwebsockets", &label), |b| {
            use fastwebsockets::{Frame, Payload, Role, WebSocket};
            let feed = Feed::default();
            let mut ws = WebSocket::after_handshake(feed.clone(), Role::Server);
            b.iter(|| {
                for _ in 0..n {
                    ws.write_frame(Frame::binary(Payload::Borrowed(&data)))
                        .now_or_never()
                        .unwrap()
                        .unwrap();
                }
            })
        });
    }
    group.finish();
}

/// The UTF-8 check alone, std against simdutf8 (what the layer uses), on 16 KiB.
fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let greek = "κόσμε".repeat(16 * 1024 / 10).into_bytes();
    for (label, text) in [("ascii16384", payload(16 * 1024)), ("greek16380", greek)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("std", label), |b| {
            b.iter(|| std::str::from_utf8(black_box(&text)).is_ok())
        });
        group.bench_function(BenchmarkId::new("simdutf8", label), |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(&text)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode, utf8);
criterion_main!(benches);

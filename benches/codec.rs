//! Micro-benchmarks of the demo protocols' codecs: `FrameCodec` and `LineCodec`
//! decoding a burst of requests from one read buffer and encoding replies into one
//! write buffer, as a connection does per read and per flush.
//!
//! Run with `cargo bench -p switchboard-server --bench codec`.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard::Inbound;
use switchboard_server::protocols::frame::{Frame, FrameCodec};
use switchboard_server::protocols::line::LineCodec;
use tokio_util::codec::{Decoder, Encoder};

/// Packets per iteration.
const BURST: usize = 1000;

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Elements(BURST as u64));
    for size in [64usize, 16 * 1024] {
        let frame = Frame::new(Frame::ECHO, Bytes::from(vec![5u8; size]));
        let mut wire = BytesMut::new();
        let mut codec = FrameCodec::new(65536);
        for _ in 0..BURST {
            codec.encode(frame.clone(), &mut wire).unwrap();
        }
        group.bench_function(format!("decode_{size}B"), |b| {
            b.iter_batched(
                || wire.clone(),
                |mut buf| {
                    let mut n = 0;
                    while let Some(Inbound::Request(f)) = codec.decode(&mut buf).unwrap() {
                        n += f.payload.len();
                    }
                    black_box(n)
                },
                BatchSize::SmallInput,
            )
        });
        let mut out = BytesMut::with_capacity(wire.len());
        group.bench_function(format!("encode_{size}B"), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..BURST {
                    codec.encode(frame.clone(), &mut out).unwrap();
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn lines(c: &mut Criterion) {
    let mut group = c.benchmark_group("line");
    group.throughput(Throughput::Elements(BURST as u64));
    let line = format!("ECHO {}", "x".repeat(58));
    let wire: BytesMut = format!("{line}\n").repeat(BURST).as_bytes().into();
    let mut codec = LineCodec::new(8192);
    group.bench_function("decode_64B", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                let mut n = 0;
                while let Some(Inbound::Request(l)) = codec.decode(&mut buf).unwrap() {
                    n += l.len();
                }
                black_box(n)
            },
            BatchSize::SmallInput,
        )
    });
    let mut out = BytesMut::with_capacity(wire.len());
    group.bench_function("encode_64B", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..BURST {
                codec.encode(line.clone(), &mut out).unwrap();
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, frames, lines);
criterion_main!(benches);

//! Micro-benchmarks of the per-frame path through the connection core, with no socket:
//! decode a frame, run the handler, encode the reply into the outbound queue, hand the
//! socket its slices and account for what it took; and the same echo answered raw
//! ([`Protocol::raw_echo`]: no decode, no encode). A regression here shows without
//! running the whole server.
//!
//! Run with `cargo bench -p switchboard --bench core_path`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Instant;
use switchboard::config::ConnectionLimits;
use switchboard::core::{BackToBack, Conn, Origin, Transmit};
use switchboard::{Handle, Inbound, Outbox, Protocol};
use tokio_util::codec::{Decoder, Encoder};

/// Frames per iteration (fewer for large frames, so that a burst stays well within the
/// default 4 MiB outbound limit).
fn burst(size: usize) -> usize {
    (1024 * 1024 / (size + 4)).clamp(1, 256)
}

/// `len:u32 | body`, as the demo `frame` protocol.
struct LengthCodec;

impl Decoder for LengthCodec {
    type Item = Inbound<Bytes>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound<Bytes>>, Self::Error> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if src.len() < 4 + len {
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(Inbound::Request(src.split_to(len).freeze())))
    }
}

impl Encoder<Bytes> for LengthCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.put_u32(item.len() as u32);
        dst.extend_from_slice(&item);
        Ok(())
    }
}

/// Echoes every frame.
struct Echo;

impl Protocol for Echo {
    const NAME: &'static str = "echo";
    type Request = Bytes;
    type Response = Bytes;
    type Codec = LengthCodec;

    fn codec(&self) -> LengthCodec {
        LengthCodec
    }

    fn handle(&mut self, request: Bytes, out: &mut Outbox<Bytes>) {
        out.reply(request);
    }
}

/// Echoes every frame raw: answered with its own bytes, never decoded.
struct RawEcho;

impl Protocol for RawEcho {
    const NAME: &'static str = "raw_echo";
    type Request = Bytes;
    type Response = Bytes;
    type Codec = LengthCodec;

    fn codec(&self) -> LengthCodec {
        LengthCodec
    }

    fn raw_echo(&mut self, inbound: &[u8]) -> Option<usize> {
        let len = u32::from_be_bytes(inbound.get(..4)?.try_into().ok()?) as usize;
        (inbound.len() >= 4 + len).then_some(4 + len)
    }

    fn handle(&mut self, request: Bytes, out: &mut Outbox<Bytes>) {
        out.reply(request);
    }
}

fn conn<P: Protocol>(protocol: P) -> Conn<P> {
    // The core never sends to the supervisor.
    let outbox =
        Outbox::<P::Response>::new(1, "127.0.0.1:1".parse().unwrap(), Handle::disconnected());
    Conn::new(
        protocol,
        outbox,
        Arc::new(ConnectionLimits::default()),
        Instant::now(),
    )
}

/// Writes everything the core offers, as a socket that takes all of it.
fn drain<P: Protocol>(conn: &mut Conn<P>, now: Instant) -> usize {
    let mut total = 0;
    loop {
        let mut slices = [IoSlice::new(&[]); 64];
        let taken = match conn.poll_transmit(&mut slices, usize::MAX) {
            Transmit::Slices(n) => slices[..n].iter().map(|s| s.len()).sum(),
            Transmit::File(_) | Transmit::Nothing => break,
        };
        conn.handle_written(now, taken, taken);
        total += taken;
    }
    total
}

fn echo(c: &mut Criterion, size: usize) {
    let mut group = c.benchmark_group("core_path");
    let burst = burst(size);
    group.throughput(Throughput::Elements(burst as u64));
    let mut input = Vec::new();
    for _ in 0..burst {
        input.extend_from_slice(&(size as u32).to_be_bytes());
        input.extend(std::iter::repeat_n(7u8, size));
    }
    group.bench_function(format!("echo_{size}B_read_handle_encode_write"), |b| {
        let mut conn = conn(Echo);
        let now = Instant::now();
        b.iter(|| {
            conn.handle_read(now, black_box(&input));
            let written = drain(&mut conn, now);
            assert_eq!(written, input.len());
            while conn.poll_event().is_some() {}
        });
    });
    group.bench_function(format!("echo_{size}B_raw_read_write"), |b| {
        let mut conn = conn(RawEcho);
        let now = Instant::now();
        b.iter(|| {
            conn.handle_read(now, black_box(&input));
            let written = drain(&mut conn, now);
            assert_eq!(written, input.len());
            while conn.poll_event().is_some() {}
        });
    });
    group.finish();
}

/// A hub's batch of 64-byte broadcasts handed to one member: packet by packet, as
/// before, and as one run.
fn deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_path");
    let burst = burst(64);
    group.throughput(Throughput::Elements(burst as u64));
    let mut whole = BytesMut::new();
    for _ in 0..burst {
        whole.put_u32(64);
        whole.put_bytes(7, 64);
    }
    let mut whole = whole.freeze();
    let batch: Vec<Bytes> = (0..burst).map(|_| whole.split_to(68)).collect();
    group.bench_function("deliver_64B_one_by_one_then_write", |b| {
        let mut conn = conn(Echo);
        let now = Instant::now();
        b.iter(|| {
            for packet in &batch {
                conn.deliver(now, packet.clone(), Origin::External).unwrap();
            }
            assert_eq!(drain(&mut conn, now), burst * 68);
            while conn.poll_event().is_some() {}
        });
    });
    group.bench_function("deliver_all_64B_then_write", |b| {
        let mut conn = conn(Echo);
        let now = Instant::now();
        b.iter(|| {
            assert_eq!(conn.deliver_all(now, &batch, Origin::External), burst);
            assert_eq!(drain(&mut conn, now), burst * 68);
            while conn.poll_event().is_some() {}
        });
    });
    // As a hub hands a broadcast to many members: the packets lie back to back in one
    // buffer, which the member's queue shares instead of copying.
    let shared = BackToBack::copy_of(&batch);
    group.bench_function("deliver_shared_64B_then_write", |b| {
        let mut conn = conn(Echo);
        let now = Instant::now();
        b.iter(|| {
            let queued = conn.deliver_shared(now, &shared, Origin::External);
            assert_eq!(queued, burst);
            assert_eq!(drain(&mut conn, now), burst * 68);
            while conn.poll_event().is_some() {}
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    echo(c, 64);
    echo(c, 16 * 1024);
    deliver(c);
}

criterion_group!(core_path, benches);
criterion_main!(core_path);

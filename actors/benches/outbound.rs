//! Micro-benchmarks of the outbound queue (`switchboard::core::outbound::OutboundQueue`):
//! what one connection pays per packet to queue it (coalesced or shared), to hand the
//! socket its slices, and to account for what the socket took.
//!
//! Run with `cargo bench -p switchboard --bench outbound`.

use bytes::{BufMut, Bytes};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::io::IoSlice;
use switchboard::core::outbound::{OutboundQueue, QueueLimits};

/// Packets per iteration.
const BURST: usize = 1000;
/// What a socket takes per write in the partial-write case.
const SOCKET_TAKES: usize = 4000;

/// Writes everything queued as if the socket took `per_write` bytes per call; returns
/// the packets completed.
fn flush(queue: &mut OutboundQueue, per_write: usize) -> usize {
    let mut done = 0;
    while !queue.is_empty() {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = queue.io_slices(&mut slices, usize::MAX);
        let offered: usize = slices[..n].iter().map(|s| s.len()).sum();
        done += queue.advance(offered.min(per_write));
    }
    done
}

fn push_and_flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbound");
    group.throughput(Throughput::Elements(BURST as u64));

    let small = Bytes::from(vec![7u8; 69]);
    group.bench_function("push_coalesce_69B_then_flush", |b| {
        let mut queue = OutboundQueue::new(QueueLimits::default());
        b.iter(|| {
            for _ in 0..BURST {
                queue.push(small.clone()).unwrap();
            }
            black_box(flush(&mut queue, usize::MAX))
        })
    });

    group.bench_function("push_coalesce_69B_partial_writes", |b| {
        let mut queue = OutboundQueue::new(QueueLimits::default());
        b.iter(|| {
            for _ in 0..BURST {
                queue.push(small.clone()).unwrap();
            }
            black_box(flush(&mut queue, SOCKET_TAKES))
        })
    });

    // The same burst handed over as one run (a hub's batch): copied, never cloned.
    let run: Vec<Bytes> = (0..BURST).map(|_| small.clone()).collect();
    group.bench_function("push_run_coalesce_69B_then_flush", |b| {
        let mut queue = OutboundQueue::new(QueueLimits::default());
        b.iter(|| {
            assert_eq!(queue.push_run(&run), BURST);
            black_box(flush(&mut queue, usize::MAX))
        })
    });

    let payload = [3u8; 64];
    group.bench_function("encode_with_69B_then_flush", |b| {
        let mut queue = OutboundQueue::new(QueueLimits::default());
        b.iter(|| {
            for _ in 0..BURST {
                queue
                    .encode_with(0, |buf| {
                        buf.put_u32(65);
                        buf.put_u8(1);
                        buf.extend_from_slice(&payload);
                        Ok::<_, ()>(())
                    })
                    .unwrap();
            }
            black_box(flush(&mut queue, usize::MAX))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("outbound");
    group.throughput(Throughput::Elements(100));
    let large = Bytes::from(vec![9u8; 16 * 1024 + 5]);
    group.bench_function("push_shared_16KiB_then_flush", |b| {
        let mut queue = OutboundQueue::new(QueueLimits::default());
        b.iter(|| {
            for _ in 0..100 {
                queue.push(large.clone()).unwrap();
            }
            black_box(flush(&mut queue, usize::MAX))
        })
    });
    group.finish();
}

criterion_group!(benches, push_and_flush);
criterion_main!(benches);

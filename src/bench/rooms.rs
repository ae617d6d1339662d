//! `bench rooms`: many small named groups. `conns` connections form `conns /
//! group-size` groups (connection `i` joins group `i % groups`, so each group's members
//! are spread over the server's threads); once every JOIN is answered, the first
//! `publishers` members of each group publish `messages` messages each to their group,
//! every message carrying its publisher and sequence number. Every member reads every
//! message of its group, its own included, and checks each publisher's order.
//!
//! Figures: deliveries per second (messages received from another member, the
//! publishers' own copies left out, as in `fanout`) from the first publish to the last
//! delivery, whether every delivery arrived in order, and the server's CPU time.
//!
//! With `--history` the groups are expected to keep a history (a server started with
//! `history_size` > 0 and `history_groups` matching `room*`): JOINED then carries the
//! epoch and offset, every MESSAGE its offset, and each member also checks that its
//! offsets run on one by one from JOINED (one order per group).

use super::client::{self, op, FrameReader};
use super::process::CpuWatch;
use super::progress::Progress;
use super::{per_second, round3, BenchError, Target};
use crate::protocols::frame::HEADER_LEN;
use clap::Args;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::Instant;

/// Bytes at the front of each message: the publisher's connection index (u32) and
/// the message's sequence number (u64).
const STAMP_LEN: usize = 12;
/// PUBLISH frames a publisher writes per write.
const SEND_CHUNK: usize = 64;
/// Read buffer of one member (grown only for a larger frame).
const READ_BUFFER: usize = 4 * 1024;

/// The flags of `bench rooms`.
#[derive(Debug, Clone, Args)]
pub struct RoomsArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Connections, all members of one group each.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// Members per group (`conns` must be a multiple of it).
    #[arg(long = "group-size", default_value_t = 10)]
    pub group_size: usize,
    /// Publishing members per group.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Messages each publisher publishes.
    #[arg(long, default_value_t = 100)]
    pub messages: u64,
    /// Message bytes (at least 12: the publisher and the sequence number).
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Seconds to wait for every delivery before reporting what arrived.
    #[arg(long = "timeout-s", default_value_t = 60.0)]
    pub timeout_s: f64,
    /// The server keeps the groups' histories: expect offsets, and check them.
    #[arg(long)]
    pub history: bool,
}

/// The name of group `g`.
fn group_name(g: usize) -> String {
    format!("room{g}")
}

/// What one member got.
#[derive(Debug, Clone, Copy)]
struct Received {
    /// Messages from other members.
    deliveries: u64,
    /// Every message carried the next sequence number of its publisher.
    in_order: bool,
    /// When its last expected message arrived (none if it did not in time).
    done_at: Option<Instant>,
}

/// One member: its group, and where it sits among the group's publishers.
#[derive(Debug, Clone, Copy)]
struct Seat {
    /// Its connection index.
    index: usize,
    /// Its group.
    group: usize,
}

/// The shape of a run, shared by every member task.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Groups.
    groups: usize,
    /// Publishers per group.
    publishers: usize,
    /// Messages per publisher.
    messages: u64,
    /// Message bytes.
    size: usize,
    /// Messages carry offsets (history groups).
    history: bool,
}

impl Shape {
    /// Connection `index` publishes (the first `publishers` members of each group).
    fn publishes(&self, index: usize) -> bool {
        index < self.groups * self.publishers
    }
}

/// Sends JOIN for group `group` and waits for its JOINED: answers the offset of the
/// last message before the join (0 without history).
async fn join(
    stream: &mut tokio::net::TcpStream,
    group: usize,
    history: bool,
) -> Result<u64, BenchError> {
    let name = group_name(group);
    let mut frame = Vec::new();
    client::put_frame(&mut frame, op::JOIN, name.as_bytes());
    let exchange = async {
        stream
            .write_all(&frame)
            .await
            .map_err(BenchError::io("send JOIN"))?;
        let mut header = [0u8; HEADER_LEN];
        stream
            .read_exact(&mut header)
            .await
            .map_err(BenchError::io("read JOINED"))?;
        let len = u32::from_be_bytes(header) as usize;
        if !(1..=1024).contains(&len) {
            return Err(BenchError::Protocol(format!("a JOINED of {len} bytes")));
        }
        let mut reply = vec![0u8; len];
        stream
            .read_exact(&mut reply)
            .await
            .map_err(BenchError::io("read JOINED"))?;
        let text = String::from_utf8_lossy(&reply[1..]).into_owned();
        let words: Vec<&str> = text.split(' ').collect();
        let last = match (history, &words[..]) {
            (false, [n]) if *n == name => Some(0),
            (true, [n, _epoch, offset]) if *n == name => offset.parse().ok(),
            _ => None,
        };
        match last {
            Some(last) if reply[0] == op::JOINED => Ok(last),
            _ => Err(BenchError::Protocol(format!(
                "expected JOINED {name}, got {:#x} {text:?}",
                reply[0]
            ))),
        }
    };
    tokio::time::timeout(client::CONNECT_TIMEOUT, exchange)
        .await
        .map_err(|_| BenchError::Protocol("no JOINED within 10 s".to_owned()))?
}

/// Reads every message of the member's group until `deadline`, checking each
/// publisher's order.
async fn receive(
    mut source: OwnedReadHalf,
    (seat, joined_at): (Seat, u64),
    shape: Shape,
    deadline: Instant,
    delivered: &AtomicU64,
) -> Result<Received, BenchError> {
    let name = group_name(seat.group);
    let mut next_offset = joined_at + 1;
    let mut reader = FrameReader::new(READ_BUFFER);
    let expected = shape.publishers as u64 * shape.messages;
    let mut next = vec![0u64; shape.publishers];
    let (mut count, mut deliveries, mut in_order) = (0u64, 0u64, true);
    while count < expected {
        let read = match tokio::time::timeout_at(deadline, reader.fill(&mut source)).await {
            Ok(read) => read.map_err(BenchError::io("read messages"))?,
            Err(_elapsed) => break,
        };
        if read == 0 {
            break;
        }
        let before = deliveries;
        while let Some(frame) = reader.next_frame()? {
            let mut message = match frame.payload.split_first() {
                Some((&len, rest))
                    if frame.opcode == op::MESSAGE
                        && rest.get(..len as usize) == Some(name.as_bytes()) =>
                {
                    &rest[len as usize..]
                }
                _ => return Err(client::unexpected(frame, "a MESSAGE of its group")),
            };
            if shape.history {
                let Some((offset, rest)) = message.split_first_chunk::<8>() else {
                    return Err(client::unexpected(frame, "a MESSAGE with its offset"));
                };
                in_order &= u64::from_be_bytes(*offset) == next_offset;
                next_offset += 1;
                message = rest;
            }
            if message.len() != shape.size {
                return Err(client::unexpected(frame, "a MESSAGE of the bench's size"));
            }
            let mut publisher = [0u8; 4];
            publisher.copy_from_slice(&message[..4]);
            let publisher = u32::from_be_bytes(publisher) as usize;
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&message[4..STAMP_LEN]);
            let slot = publisher / shape.groups;
            if publisher % shape.groups != seat.group || slot >= shape.publishers {
                return Err(BenchError::Protocol(format!(
                    "a message of connection {publisher}, not a publisher of {name}"
                )));
            }
            in_order &= u64::from_be_bytes(seq) == next[slot];
            next[slot] += 1;
            count += 1;
            if publisher != seat.index {
                deliveries += 1;
            }
        }
        delivered.fetch_add(deliveries - before, Ordering::Relaxed);
    }
    Ok(Received {
        deliveries,
        in_order: in_order && count == expected,
        done_at: (count >= expected).then(Instant::now),
    })
}

/// Writes the publisher's `messages` PUBLISH frames, [`SEND_CHUNK`] per write.
async fn publish(
    sink: &mut tokio::net::tcp::OwnedWriteHalf,
    seat: Seat,
    shape: Shape,
) -> Result<(), BenchError> {
    let name = group_name(seat.group);
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name.as_bytes());
    let stamp_at = payload.len();
    payload.extend((0..shape.size).map(|i| (i % 251) as u8));
    payload[stamp_at..stamp_at + 4].copy_from_slice(&(seat.index as u32).to_be_bytes());
    let frame_len = HEADER_LEN + 1 + payload.len();
    let mut chunk = Vec::with_capacity(frame_len * SEND_CHUNK);
    let mut next = 0u64;
    while next < shape.messages {
        chunk.clear();
        let n = (shape.messages - next).min(SEND_CHUNK as u64);
        for seq in next..next + n {
            payload[stamp_at + 4..stamp_at + STAMP_LEN].copy_from_slice(&seq.to_be_bytes());
            client::put_frame(&mut chunk, op::PUBLISH, &payload);
        }
        sink.write_all(&chunk)
            .await
            .map_err(BenchError::io("send PUBLISH"))?;
        next += n;
    }
    Ok(())
}

/// The JSON line of `bench rooms`.
#[derive(Debug, Clone, Serialize)]
pub struct RoomsReport {
    /// Always "rooms".
    pub scenario: &'static str,
    /// Connections.
    pub conns: usize,
    /// Groups.
    pub groups: usize,
    /// Members per group.
    pub group_size: usize,
    /// Publishers per group.
    pub publishers: usize,
    /// Messages per publisher.
    pub messages: u64,
    /// Message bytes.
    pub size: usize,
    /// Messages received from another member.
    pub deliveries: u64,
    /// `groups * publishers * messages * (group_size - 1)`.
    pub expected_deliveries: u64,
    /// Every member got every message of its group, each publisher's in order (and
    /// with `--history`, at offsets running on one by one).
    pub in_order: bool,
    /// The groups kept a history (`--history`).
    pub history: bool,
    /// From the first publish to the last delivery, seconds.
    pub elapsed_s: f64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// The server's CPU seconds during the run (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// Deliveries per server CPU-second (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries_per_server_cpu_s: Option<f64>,
    /// The load generator's own CPU seconds.
    pub bench_cpu_s: f64,
}

/// Checks the flags; answers the run's shape.
fn shape(args: &RoomsArgs) -> Result<Shape, BenchError> {
    let usage = |what: &str| Err(BenchError::Usage(what.to_owned()));
    if args.group_size < 2
        || args.conns < args.group_size
        || !args.conns.is_multiple_of(args.group_size)
    {
        return usage("--conns must be a multiple of --group-size, which must be at least 2");
    }
    if args.publishers == 0 || args.publishers > args.group_size || args.messages == 0 {
        return usage("--publishers must be from 1 to --group-size, --messages at least 1");
    }
    if args.size < STAMP_LEN || args.size > 60_000 {
        return usage("--size must be from 12 (publisher and sequence number) to 60000");
    }
    Ok(Shape {
        groups: args.conns / args.group_size,
        publishers: args.publishers,
        messages: args.messages,
        size: args.size,
        history: args.history,
    })
}

/// Runs `bench rooms`.
pub async fn run(args: RoomsArgs) -> Result<serde_json::Value, BenchError> {
    let shape = shape(&args)?;
    let timeout = Duration::try_from_secs_f64(args.timeout_s)
        .map_err(|_| BenchError::Usage("--timeout-s must be a positive number".to_owned()))?;
    let streams = client::open("rooms", args.target.addr, args.conns).await?;
    let mut joining = tokio::task::JoinSet::new();
    for (index, mut stream) in streams.into_iter().enumerate() {
        joining.spawn(async move {
            let seat = Seat {
                index,
                group: index % shape.groups,
            };
            let joined_at = join(&mut stream, seat.group, shape.history).await?;
            Ok::<_, BenchError>(((seat, joined_at), stream))
        });
    }
    let mut members = Vec::with_capacity(args.conns);
    while let Some(joined) = joining.join_next().await {
        members.push(joined.map_err(|e| BenchError::Protocol(format!("join task: {e}")))??);
    }

    let expected =
        (shape.groups * shape.publishers) as u64 * shape.messages * (args.group_size as u64 - 1);
    let delivered = Arc::new(AtomicU64::new(0));
    let _progress = {
        let delivered = delivered.clone();
        Progress::start(move || {
            format!(
                "rooms: {}/{expected} deliveries",
                delivered.load(Ordering::Relaxed)
            )
        })
    };
    let cpu = CpuWatch::start(args.target.pid)?;
    let start = Instant::now();
    let deadline = start + timeout;
    let mut receivers = tokio::task::JoinSet::new();
    let mut publishers = tokio::task::JoinSet::new();
    // Write halves stay open until the end: dropping one would end its connection.
    let mut sinks = Vec::new();
    for ((seat, joined_at), stream) in members {
        let (source, mut sink) = stream.into_split();
        let delivered = delivered.clone();
        receivers.spawn(async move {
            receive(source, (seat, joined_at), shape, deadline, &delivered).await
        });
        if shape.publishes(seat.index) {
            publishers.spawn(async move {
                publish(&mut sink, seat, shape).await?;
                Ok::<_, BenchError>(sink)
            });
        } else {
            sinks.push(sink);
        }
    }
    while let Some(published) = publishers.join_next().await {
        sinks.push(published.map_err(|e| BenchError::Protocol(format!("publisher: {e}")))??);
    }
    let (mut deliveries, mut in_order, mut end) = (0, true, start);
    while let Some(received) = receivers.join_next().await {
        let got = received.map_err(|e| BenchError::Protocol(format!("member task: {e}")))??;
        deliveries += got.deliveries;
        in_order &= got.in_order;
        end = end.max(got.done_at.unwrap_or_else(Instant::now));
    }
    let used = cpu.stop()?;
    drop(sinks);
    let seconds = (end - start).as_secs_f64();
    let report = RoomsReport {
        scenario: "rooms",
        conns: args.conns,
        groups: shape.groups,
        group_size: args.group_size,
        publishers: shape.publishers,
        messages: shape.messages,
        size: shape.size,
        deliveries,
        expected_deliveries: expected,
        in_order,
        history: shape.history,
        elapsed_s: round3(seconds),
        deliveries_per_s: round3(per_second(deliveries as f64, seconds)),
        server_cpu_s: used.server,
        deliveries_per_server_cpu_s: used
            .server
            .map(|cpu| round3(per_second(deliveries as f64, cpu))),
        bench_cpu_s: used.bench,
    };
    super::to_json(&report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        rooms: RoomsArgs,
    }

    fn args(flags: &[&str]) -> RoomsArgs {
        let argv = std::iter::once("rooms").chain(flags.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.rooms)
            .expect("valid flags")
    }

    #[test]
    fn the_defaults_are_1000_groups_of_10_with_one_publisher_each() {
        let shape = shape(&args(&[])).expect("a valid shape");
        assert_eq!((shape.groups, shape.publishers), (1000, 1));
        assert!(shape.publishes(999) && !shape.publishes(1000));
    }

    #[test]
    fn conns_must_fill_whole_groups() {
        assert!(shape(&args(&["--conns", "25", "--group-size", "10"])).is_err());
        assert!(shape(&args(&["--publishers", "11"])).is_err());
        assert!(shape(&args(&["--size", "8"])).is_err());
    }
}

//! `bench echo --rate N`: ECHO frames sent on a fixed schedule instead of keeping a
//! window full, so that the server is offered a steady load below what it can take and
//! the round trips measure its own delays, not the queue the generator builds.
//!
//! Each connection sends `N / conns` frames per second, one every `interval`, its
//! schedule offset from the others' by a fraction of the interval. Whenever it wakes (a
//! reply arrived, or its next send is due) it writes every frame whose time has come,
//! so a late wake sends a small batch rather than falling behind; a frame's round trip
//! runs from the write that carried it to the read that brought its reply (and to the
//! reply's arrival at the socket, as in the window mode). How late
//! the writes were against the schedule is measured too (`send_lag`): when it grows,
//! the generator, not the server, was short of CPU. At most [`MAX_IN_FLIGHT`] frames are
//! outstanding per connection; a frame due beyond that is not sent and is counted as
//! skipped (the server is not keeping up with the offered rate).

use super::client::{self, op, FrameReader};
use super::echo::{EchoLoad, EchoResult, REPLY_GRACE};
use super::BenchError;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Frames outstanding on one connection at most.
pub const MAX_IN_FLIGHT: usize = 1024;

/// One connection's schedule.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Time between two frames of this connection.
    pub interval: Duration,
    /// When its first frame is due.
    pub first: Instant,
}

impl Pace {
    /// The schedule of connection `index` of `conns` sharing `rate` frames per second
    /// from `start`: the connections' first frames are spread over one interval.
    pub fn new(rate: f64, conns: usize, index: usize, start: Instant) -> Pace {
        let interval = Duration::from_secs_f64(conns as f64 / rate);
        let offset = interval.mul_f64(index as f64 / conns as f64);
        Pace {
            interval,
            first: start + offset,
        }
    }
}

/// Runs the paced echo load on one connection: sends until the load's deadline, then
/// waits for the replies still in flight (each one's round trip counted as usual).
pub async fn paced_connection(
    mut stream: TcpStream,
    load: EchoLoad,
    pace: Pace,
) -> Result<EchoResult, BenchError> {
    let frame_len = client::frame_len(load.size);
    switchboard::probe::enable_timestamps(&stream);
    let mut reader = FrameReader::new((64 * 1024).max(2 * frame_len));
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(MAX_IN_FLIGHT);
    let mut result = EchoResult::default();
    let mut next = pace.first;
    let batch_frames = load.batch.len() / frame_len;
    loop {
        let now = Instant::now();
        if next < load.deadline {
            // Every frame due by now, in writes of at most one batch each (also when
            // the generator woke after the deadline: a frame due before it is sent,
            // late, and its lateness counted).
            while next <= now && next < load.deadline {
                result.send_lag.record((now - next).as_nanos() as u64);
                let mut due = 0;
                while next <= now && next < load.deadline && due < batch_frames {
                    due += 1;
                    next += pace.interval;
                }
                let room = MAX_IN_FLIGHT - sent_at.len();
                let sending = due.min(room);
                result.skipped += (due - sending) as u64;
                if sending > 0 {
                    stream
                        .write_all(&load.batch[..sending * frame_len])
                        .await
                        .map_err(BenchError::io("send ECHO"))?;
                    let written = Instant::now();
                    sent_at.extend(std::iter::repeat_n(written, sending));
                }
            }
        } else if sent_at.is_empty() {
            return Ok(result);
        }
        let wake = if next < load.deadline {
            next
        } else {
            load.deadline + REPLY_GRACE
        };
        let (read, arrived) = tokio::select! {
            read = reader.fill_stamped(&stream) => read.map_err(BenchError::io("read ECHO replies"))?,
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= load.deadline + REPLY_GRACE {
                    return Err(BenchError::Protocol("no ECHO reply for 10 s".to_owned()));
                }
                continue;
            }
        };
        if read == 0 {
            return Err(BenchError::Protocol(
                "the server closed an echo connection".to_owned(),
            ));
        }
        let now = Instant::now();
        let mut replies = 0;
        while let Some(frame) = reader.next_frame()? {
            if frame.opcode != op::ECHO || frame.payload.len() != load.size {
                return Err(client::unexpected(frame, "an ECHO reply"));
            }
            let sent = sent_at
                .pop_front()
                .ok_or_else(|| BenchError::Protocol("more replies than requests".to_owned()))?;
            result.record(sent, now, arrived);
            replies += 1;
        }
        load.replies.fetch_add(replies, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_spread_over_one_interval() {
        let start = Instant::now();
        let paces: Vec<Pace> = (0..4).map(|i| Pace::new(4000.0, 4, i, start)).collect();
        for (i, pace) in paces.iter().enumerate() {
            assert_eq!(pace.interval, Duration::from_millis(1));
            assert_eq!(pace.first - start, Duration::from_micros(250 * i as u64));
        }
    }
}

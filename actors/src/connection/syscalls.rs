//! The shell's system calls: one long-lived task that waits for readiness, reads
//! until the socket is empty or the read budget is spent, and writes what the core
//! offers until the queue is empty, the socket is full or the flush budget is spent.
//! Every byte moved is handed to the core at once.
//!
//! The task ([`Io`]) is spawned once per connection and polled by the actor's context
//! on every wake, after the mailbox: it first takes what its hub left in its inbox,
//! and messages handled in one wake are written with one vectored write. It registers for readiness with `poll_read_ready` and
//! `poll_write_ready`, so waiting allocates nothing.

use super::{now, Connection, Cork, READ_CHUNK, SCRATCH, SPARE};
use crate::core::{Origin, Transmit};
use crate::hub::HubDeliver;
use crate::protocol::Protocol;
use crate::transport::{ReadFailure, Written};
use crate::{FailureReason, RemovalReason};
use actix::prelude::*;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{self, Poll};
use std::time::Instant;
use tokio::io::Interest;

/// Slices handed to one vectored write.
const MAX_IOV: usize = 64;

/// Read-and-write rounds in one poll of the I/O task (a read, the flush of its
/// replies, a read resumed below the low watermark, ...) before it lets others run.
const MAX_ROUNDS: usize = 8;

/// How a read or write turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// The socket is empty (or full), the core wants no more, or the connection failed.
    Done,
    /// The budget is spent: other connections go first.
    Spent,
}

/// The connection's one I/O task: it lives as long as the actor and holds nothing of
/// its own (the actor is handed to it on every poll).
pub(super) struct Io<P>(PhantomData<fn() -> P>);

impl<P> Io<P> {
    pub(super) fn new() -> Self {
        Io(PhantomData)
    }
}

impl<P: Protocol> ActorFuture<Connection<P>> for Io<P> {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Connection<P>,
        ctx: &mut Context<Connection<P>>,
        task: &mut task::Context<'_>,
    ) -> Poll<()> {
        act.poll_io(ctx, task);
        // After the I/O, as a timer of its own would run: a write deadline that came
        // while the bytes it guards were about to be written finds them written.
        if ctx.state() == ActorState::Running && act.run_timer(ctx) {
            // What the timers did (an idle ping, a close) is written on the next poll.
            task.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<P: Protocol> Connection<P> {
    /// Reads and writes whatever the socket allows and the core wants, then registers
    /// for the readiness still needed. A spent budget wakes the task again at the back
    /// of the worker's queue.
    fn poll_io(&mut self, ctx: &mut Context<Self>, task: &mut task::Context<'_>) {
        let _span = self.enter();
        if !self
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(task.waker()))
        {
            // The deadline is registered with the waker of this task.
            if let (Some(armed), Some(waker)) = (self.timer.take(), &self.waker) {
                super::deadlines::cancel(armed, waker);
            }
            self.waker = Some(task.waker().clone());
            self.arm_timer();
        }
        // One clock reading for the whole turn, taken only once there is I/O to do.
        let mut now: Option<Instant> = None;
        let (mut read_spent, mut flush_spent) = (false, false);
        let deliveries = self.inbox.take(task.waker());
        if !deliveries.is_empty() && ctx.state() == ActorState::Running {
            self.take_deliveries(*now.get_or_insert_with(super::now), deliveries);
            if self.cork == Cork::Open {
                self.cork = Cork::Corked;
            }
            self.drive(ctx);
        }
        match self.cork {
            // Fan-out deliveries wait for one turn of the others (see `Cork`).
            Cork::Corked => {
                self.cork = Cork::Released;
                flush_spent = true;
            }
            Cork::Released => self.cork = Cork::Open,
            Cork::Open => {}
        }
        for _ in 0..MAX_ROUNDS {
            if ctx.state() != ActorState::Running {
                return; // Stopped: the socket closes with the actor.
            }
            let mut progress = false;
            if !flush_spent && self.wants_flush() {
                match self.stream.poll_write_ready(task) {
                    Poll::Ready(Ok(())) => {
                        let now = *now.get_or_insert_with(super::now);
                        flush_spent = self.flush(now) == Turn::Spent;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()));
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }
            if !read_spent && self.core.wants_read() {
                let ready = match self.transport.has_buffered() {
                    true => Poll::Ready(Ok(())),
                    false => self.stream.poll_read_ready(task),
                };
                match ready {
                    Poll::Ready(Ok(())) => {
                        let now = *now.get_or_insert_with(super::now);
                        read_spent = self.read_turn(now) == Turn::Spent;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()));
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }
            if !progress {
                if read_spent || flush_spent {
                    // Lets the worker's other actors run first: one busy peer must not
                    // starve the rest.
                    task.waker().wake_by_ref();
                }
                return;
            }
            self.drive(ctx);
        }
        // Still busy after every round: go on after the others.
        task.waker().wake_by_ref();
    }

    /// Admits what its hub handed it: each packet is admitted, or refused and
    /// recorded, on its own; a group message this protocol could not encode is recorded
    /// as a send failure.
    fn take_deliveries(&mut self, now: Instant, deliveries: VecDeque<HubDeliver>) {
        if self.core.removal().is_some() {
            // It left every group when it was removed.
            return;
        }
        for delivery in deliveries {
            match delivery {
                HubDeliver::Broadcast(batch) => {
                    self.core.deliver_handout(now, &batch, Origin::External);
                }
                HubDeliver::Framed(packets) => {
                    self.core.deliver_all(now, &packets, Origin::External);
                }
                HubDeliver::Group(runs) => {
                    for (group, run) in runs {
                        // Published before it left: not for it any more.
                        if self.core.is_member(group.as_str()) {
                            self.core.deliver_handout(now, &run, Origin::External);
                        }
                    }
                }
                HubDeliver::Numbered(shares) => self.core.deliver_numbered(now, shares),
                HubDeliver::Joined {
                    group,
                    token,
                    answer,
                } => self.core.handle_joined(now, &group, token, answer),
            }
        }
    }

    /// Has the I/O task polled again: for inputs that arrive outside the mailbox (a
    /// timer, a deferred reply), after which the task would not otherwise run.
    pub(super) fn wake_io(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// Whether there are bytes to write now: the core's, or the transport's own. During
    /// a TLS handshake only the handshake's own records are written.
    fn wants_flush(&self) -> bool {
        if self.transport.wants_write() {
            return true;
        }
        self.core.wants_write() && !self.transport.is_handshaking()
    }

    // ----- reading -------------------------------------------------------------------

    /// Reads until the socket is empty or the read budget is spent; `now` is the
    /// turn's one clock reading.
    fn read_turn(&mut self, now: Instant) -> Turn {
        let mut budget = self.core.limits().read_budget;
        while self.core.wants_read() {
            let read = if self.reads_whole() {
                self.read_whole(now)
            } else {
                self.read_copied(now)
            };
            match read {
                Ok(0) => {
                    self.core.handle_eof(now);
                    return Turn::Done;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return Turn::Spent;
                    }
                    if n < READ_CHUNK && self.transport.is_plain() {
                        // A short read emptied the socket: its readiness is cleared
                        // here instead of by one more `recv` answering `WouldBlock` (as
                        // tokio's own `poll_read` does). Bytes arriving meanwhile wake
                        // the task again; a peer's end of stream stays readable.
                        let _ = self.stream.try_io(Interest::READABLE, || {
                            Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                        });
                        return Turn::Done;
                    }
                }
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Turn::Done
                }
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(ReadFailure::Io(e)) => {
                    self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()));
                    return Turn::Done;
                }
                Err(ReadFailure::Handshake(e)) => {
                    tracing::debug!("connection {}: TLS handshake failed: {e}", self.id());
                    let reason = RemovalReason::TlsHandshake;
                    self.failed(reason, FailureReason::Removed(reason));
                    return Turn::Done;
                }
                Err(ReadFailure::Tls(e)) => {
                    self.failed(RemovalReason::IoError, FailureReason::Io(e));
                    return Turn::Done;
                }
                Err(ReadFailure::WsHandshake(e)) => {
                    tracing::debug!("connection {}: WebSocket handshake refused: {e}", self.id());
                    let reason = RemovalReason::WsHandshake;
                    self.failed(reason, FailureReason::Removed(reason));
                    return Turn::Done;
                }
            }
        }
        Turn::Done
    }

    /// Whether this read goes into a buffer the core may take whole: plain TCP, the
    /// core holding nothing read before (measurement builds read as they always did).
    fn reads_whole(&self) -> bool {
        !cfg!(feature = "probe") && self.transport.is_plain() && self.core.read_buffered() == 0
    }

    /// Reads into the worker's spare buffer; a read of at least a quarter of it is
    /// handed to the core whole (no copy; what is decoded from it keeps it alive, so
    /// at most four times what was read), a smaller one is copied.
    fn read_whole(&mut self, now: Instant) -> Result<usize, ReadFailure> {
        SPARE.with(|spare| {
            let mut spare = spare.borrow_mut();
            spare.clear();
            spare.reserve(READ_CHUNK);
            let n = self.stream.try_read_buf(&mut *spare)?;
            if n > 0 {
                self.status.touch_rx(tokio::time::Instant::from_std(now));
                self.finish_handshake();
                if n >= READ_CHUNK / 4 {
                    let whole = std::mem::take(&mut *spare);
                    if let Some(back) = self.core.handle_read_buf(now, whole) {
                        *spare = back;
                    }
                } else {
                    self.core.handle_read(now, &spare[..n]);
                }
            }
            Ok(n)
        })
    }

    /// Reads through the transport into the worker's scratch buffer, from which the
    /// core copies what it keeps.
    fn read_copied(&mut self, now: Instant) -> Result<usize, ReadFailure> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            #[cfg(feature = "probe")]
            let (result, arrived) = self.read_stamped(&mut scratch);
            #[cfg(not(feature = "probe"))]
            let result = self.transport.read(&self.stream, &mut scratch);
            if let Ok(n @ 1..) = result {
                self.status.touch_rx(tokio::time::Instant::from_std(now));
                // The first bytes after a TLS handshake: the connection opens first.
                self.finish_handshake();
                #[cfg(feature = "probe")]
                let before = self.core.traffic();
                self.core.handle_read(now, &scratch[..n]);
                #[cfg(feature = "probe")]
                self.probe_read(before, arrived);
            }
            result
        })
    }

    /// A read as [`Transport::read`](crate::transport::Transport) does it, with the
    /// kernel's arrival stamp on plain TCP (measurement builds only).
    #[cfg(feature = "probe")]
    fn read_stamped(
        &mut self,
        buf: &mut [u8],
    ) -> (Result<usize, ReadFailure>, Option<std::time::SystemTime>) {
        if !self.transport.is_plain() {
            return (self.transport.read(&self.stream, buf), None);
        }
        match crate::probe::recv_stamped(&self.stream, buf) {
            Ok((n, arrived)) => (Ok(n), arrived),
            Err(e) => (Err(ReadFailure::Io(e)), None),
        }
    }

    /// Follows a read that queued replies to the write that carries them (measurement
    /// builds only); `before` is the traffic before it was handled.
    #[cfg(feature = "probe")]
    fn probe_read(&mut self, before: crate::Traffic, arrived: Option<std::time::SystemTime>) {
        let after = self.core.traffic();
        if after.queued_packets > before.queued_packets {
            let requests = after.received_packets - before.received_packets;
            self.probe.read(Instant::now(), arrived, requests);
        }
    }

    pub(super) fn failed(&mut self, reason: RemovalReason, failure: FailureReason) {
        self.core.handle_failure(now(), reason, failure);
    }

    // ----- writing -------------------------------------------------------------------

    /// Writes until the queue is empty, the socket is full or the flush budget is spent;
    /// `now` is the turn's one clock reading.
    fn flush(&mut self, now: Instant) -> Turn {
        let mut budget = self.core.limits().flush_budget;
        loop {
            let written = match self.write_once(budget) {
                Ok(Some(written)) => written,
                Ok(None) => return Turn::Done,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Turn::Done,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()));
                    return Turn::Done;
                }
            };
            #[cfg(feature = "probe")]
            self.probe.written(Instant::now());
            self.core
                .handle_written(now, written.taken, written.confirmed);
            budget = budget.saturating_sub(written.taken);
            if budget == 0 {
                return Turn::Spent;
            }
        }
    }

    /// One write: the transport's own pending bytes first (TLS records), else the core's
    /// next bytes. `None` when there is nothing to write.
    fn write_once(&mut self, budget: usize) -> io::Result<Option<Written>> {
        if self.transport.wants_write() {
            let confirmed = self.transport.flush(&self.stream)?;
            return Ok(Some(Written {
                taken: 0,
                confirmed,
            }));
        }
        if self.transport.is_handshaking() {
            return Ok(None);
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let written = match self.core.poll_transmit(&mut slices, budget) {
            Transmit::Nothing => return Ok(None),
            Transmit::Slices(n) => self.transport.write(&self.stream, &slices[..n])?,
            Transmit::File(region) => self.transport.send_file(&self.stream, region, budget)?,
        };
        if written.taken == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        Ok(Some(written))
    }
}

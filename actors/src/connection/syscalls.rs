//! The shell's system calls: waiting for readiness, reading until the socket is empty
//! or the read budget is spent, and writing what the core offers until the queue is
//! empty, the socket is full or the flush budget is spent. Every byte moved is handed
//! to the core at once.

use super::{now, Connection, SCRATCH};
use crate::core::Transmit;
use crate::protocol::Protocol;
use crate::transport::{ReadFailure, Written};
use crate::{FailureReason, RemovalReason};
use actix::fut::{ready, wrap_future};
use actix::prelude::*;
use std::io::{self, IoSlice};
use std::time::Instant;

/// Slices handed to one vectored write.
const MAX_IOV: usize = 64;

impl<P: Protocol> Connection<P> {
    // ----- reading -------------------------------------------------------------------

    pub(super) fn wait_readable(&mut self, ctx: &mut Context<Self>) {
        if self.read_waiting {
            return;
        }
        self.read_waiting = true;
        let stream = self.stream.clone();
        let wait = async move { stream.readable().await };
        ctx.spawn(wrap_future(wait).map(|res, act: &mut Self, ctx| {
            act.read_waiting = false;
            match res {
                Ok(()) => act.read_turn(ctx, now()),
                Err(e) => act.failed(RemovalReason::IoError, FailureReason::Io(e.to_string())),
            }
            act.drive(ctx);
        }));
    }

    /// Reads until the socket is empty or the read budget is spent; `now` is the
    /// turn's one clock reading.
    fn read_turn(&mut self, ctx: &mut Context<Self>, now: Instant) {
        let mut budget = self.core.limits().read_budget;
        while self.core.wants_read() {
            let read = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let result = self.transport.read(&self.stream, &mut scratch);
                if let Ok(n @ 1..) = result {
                    self.status.touch_rx(tokio::time::Instant::from_std(now));
                    self.core.handle_read(now, &scratch[..n]);
                }
                result
            });
            match read {
                Ok(0) => return self.core.handle_eof(now),
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return self.yield_then(ctx, false);
                    }
                }
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(ReadFailure::Io(e)) => {
                    return self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()))
                }
                Err(ReadFailure::Handshake(e)) => {
                    log::debug!("connection {}: TLS handshake failed: {e}", self.id());
                    let reason = RemovalReason::TlsHandshake;
                    return self.failed(reason, FailureReason::Removed(reason));
                }
                Err(ReadFailure::Tls(e)) => {
                    return self.failed(RemovalReason::IoError, FailureReason::Io(e))
                }
            }
        }
    }

    /// Lets the worker's other actors run, then goes on reading or flushing: a
    /// budget was spent, and one busy peer must not starve the rest.
    fn yield_then(&mut self, ctx: &mut Context<Self>, flush: bool) {
        *self.pending(flush) = true;
        let resume = wrap_future(tokio::task::yield_now());
        ctx.spawn(resume.map(move |(), act: &mut Self, ctx| {
            *act.pending(flush) = false;
            if flush {
                act.flush(ctx, now());
            } else {
                act.read_turn(ctx, now());
            }
            act.drive(ctx);
        }));
    }

    /// The flag that says a flush (or a read) is already on its way.
    fn pending(&mut self, flush: bool) -> &mut bool {
        if flush {
            &mut self.flush_scheduled
        } else {
            &mut self.read_waiting
        }
    }

    pub(super) fn failed(&mut self, reason: RemovalReason, failure: FailureReason) {
        self.core.handle_failure(now(), reason, failure);
    }

    // ----- writing -------------------------------------------------------------------

    pub(super) fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        // During a TLS handshake only the handshake's own records are written.
        let handshake_idle = self.transport.is_handshaking() && !self.transport.wants_write();
        if self.flush_scheduled || self.write_waiting || handshake_idle {
            return;
        }
        self.flush_scheduled = true;
        // Runs after the mailbox is drained: a burst of deliveries becomes one writev.
        ctx.spawn(ready(()).map(|(), act: &mut Self, ctx| {
            act.flush_scheduled = false;
            act.flush(ctx, now());
            act.drive(ctx);
        }));
    }

    /// Writes until the queue is empty, the socket is full or the flush budget is spent;
    /// `now` is the turn's one clock reading.
    fn flush(&mut self, ctx: &mut Context<Self>, now: Instant) {
        let mut budget = self.core.limits().flush_budget;
        loop {
            let written = match self.write_once(budget) {
                Ok(Some(written)) => written,
                Ok(None) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.wait_writable(ctx),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()))
                }
            };
            self.core
                .handle_written(now, written.taken, written.confirmed);
            budget = budget.saturating_sub(written.taken);
            if budget == 0 {
                return self.yield_then(ctx, true);
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

    /// Waits for room in the socket; the core's write deadline bounds the wait.
    fn wait_writable(&mut self, ctx: &mut Context<Self>) {
        if self.write_waiting {
            return;
        }
        self.write_waiting = true;
        let stream = self.stream.clone();
        let wait = async move { stream.writable().await };
        ctx.spawn(wrap_future(wait).map(|res, act: &mut Self, ctx| {
            act.write_waiting = false;
            match res {
                Ok(()) => act.flush(ctx, now()),
                Err(e) => act.failed(RemovalReason::IoError, FailureReason::Io(e.to_string())),
            }
            act.drive(ctx);
        }));
    }
}

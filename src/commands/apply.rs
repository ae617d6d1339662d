//! Carrying out a parsed [`Command`] on a connection's outbox, the same for every
//! protocol: [`dispatch`] (the one path from a parsed request to its effect),
//! [`Command::apply`], and the [`heartbeat`].

use super::group::join_group;
use super::{Command, Context, Replies};
use crate::backends::DeliveryReport;
use switchboard::protocol::Idle;
use switchboard::Outbox;

/// Carries out one request: `parsed` is what [`Command::from_frame`] or
/// [`Command::from_line`] made of it, `request` the request itself (what ECHO and
/// BROADCAST send, byte for byte). A request that is not a command is an error packet
/// with the parser's reason.
///
/// Every request of every protocol passes here once parsed, before it is applied: a
/// rule deciding whether a connection may run a command (see [`Command::needs`]) is
/// one check here.
pub fn dispatch<W: Replies>(
    parsed: Result<Command, String>,
    request: W::Packet,
    context: &Context,
    out: &mut Outbox<W::Packet>,
) {
    match parsed {
        Ok(command) => command.apply::<W>(request, context, out),
        Err(reason) => out.bad_packet(reason),
    }
}

/// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a PONG. Other
/// kinds of idleness send nothing.
pub fn heartbeat<W: Replies>(idle: Idle, out: &mut Outbox<W::Packet>) {
    if idle == Idle::Read {
        out.reply(W::ping());
    }
}

impl Command {
    /// Carries the command out on `out`, writing its answers as `W` does. `request` is
    /// the request the command was parsed from: ECHO and BROADCAST send it unchanged.
    pub fn apply<W: Replies>(
        self,
        request: W::Packet,
        context: &Context,
        out: &mut Outbox<W::Packet>,
    ) {
        match self {
            Command::Echo => out.reply(request),
            Command::Broadcast => out.broadcast(request),
            Command::Ping(payload) => out.reply(W::pong(payload)),
            // The answer to a heartbeat: receiving it was the point.
            Command::Pong => {}
            Command::Stats => {
                let board = out.handle().clone();
                out.defer(async move { W::stats(board.stats().await) });
            }
            Command::ClusterStats => {
                let gather = context.cluster.gather(out.handle().clone());
                out.defer(async move { W::cluster_stats(gather.await) });
            }
            Command::Replicate(_) if context.backends.is_empty() => {
                out.reply(W::replicated(&DeliveryReport::default()))
            }
            Command::Replicate(payload) => {
                let backends = context.backends.clone();
                out.defer(async move { W::replicated(&backends.replicate(payload).await) });
            }
            Command::Join(group) => match join_group(out, group.clone(), context.max_groups) {
                Ok(()) => out.reply(W::joined(&group)),
                Err(reason) => out.bad_packet(reason),
            },
            Command::Leave(group) => {
                out.leave(group.as_str());
                out.reply(W::left(&group));
            }
            Command::Publish { group, message } => out.publish(group, message),
        }
    }
}

//! Helpers shared by the protocols' and the commands' unit tests: a handler runs on an
//! outbox without a connection or a socket, and the actions it asked for come back.

use switchboard::protocol::Action;
use switchboard::{Handle, Outbox, Protocol, Switchboard, SwitchboardConfig};

/// `payload` as one frame on the wire: length prefix, opcode, payload.
pub fn wire(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(opcode);
    out.extend_from_slice(payload);
    out
}

/// An outbox of connection 1 on no switchboard ([`Handle::disconnected`]): enough for
/// every command whose answer does not ask the switchboard, that is all but STATS and
/// CLUSTER_STATS.
pub fn outbox<R>() -> Outbox<R> {
    Outbox::new(1, "127.0.0.1:1".parse().unwrap(), Handle::disconnected())
}

/// An outbox of connection 1 on a running switchboard without workers, for STATS and
/// CLUSTER_STATS; call it inside an actix system.
pub fn running_outbox<R>() -> Outbox<R> {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(0));
    Outbox::new(1, "127.0.0.1:1".parse().unwrap(), board.handle().clone())
}

/// Runs `protocol.handle` for each request, in order, on `out`; returns the actions
/// asked for.
pub fn handle_on<P: Protocol>(
    protocol: &mut P,
    out: &mut Outbox<P::Response>,
    requests: impl IntoIterator<Item = impl Into<P::Request>>,
) -> Vec<Action<P::Response>> {
    for request in requests {
        protocol.handle(request.into(), out);
    }
    out.take()
}

/// Runs `protocol.handle` for each request, in order, on one [`outbox`]; returns the
/// actions asked for.
pub fn handle_all<P: Protocol>(
    protocol: &mut P,
    requests: impl IntoIterator<Item = impl Into<P::Request>>,
) -> Vec<Action<P::Response>> {
    handle_on(protocol, &mut outbox(), requests)
}

/// The one action of `actions`.
pub fn only<R>(actions: Vec<Action<R>>) -> Action<R> {
    assert_eq!(actions.len(), 1, "one action expected");
    actions.into_iter().next().unwrap()
}

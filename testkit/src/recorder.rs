//! An actor that records every message of one kind it is sent, in order: subscribe its
//! [`Recording::recipient`] to what a test wants to watch (a switchboard's removal
//! events), then read what arrived with [`Recording::seen`].
//!
//! `seen` is a round trip through the recorder's mailbox, so it is also the barrier:
//! a message sent to the recorder before `seen` was called (by an actor whose own
//! handling the test has already waited for) is in the answer. No sleep, no guess.

use actix::{Actor, Addr, Context, Handler, Message, Recipient};

/// Records the messages of type `M` it is sent.
pub struct Recorder<M> {
    /// Every message so far, in arrival order.
    seen: Vec<M>,
}

impl<M: Unpin + 'static> Actor for Recorder<M> {
    type Context = Context<Self>;
}

impl<M> Handler<M> for Recorder<M>
where
    M: Message<Result = ()> + Unpin + 'static,
{
    type Result = ();
    fn handle(&mut self, message: M, _: &mut Context<Self>) {
        self.seen.push(message);
    }
}

/// Asks a recorder for what it has seen; answered after every message queued before it.
struct Seen<M>(std::marker::PhantomData<M>);

impl<M: 'static> Message for Seen<M> {
    type Result = Vec<M>;
}

impl<M> Handler<Seen<M>> for Recorder<M>
where
    M: Message<Result = ()> + Clone + Unpin + 'static,
{
    type Result = actix::MessageResult<Seen<M>>;
    fn handle(&mut self, _: Seen<M>, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.seen.clone())
    }
}

/// A running [`Recorder`]: where to send, and how to read back what arrived.
pub struct Recording<M: Unpin + 'static> {
    /// The recorder actor.
    addr: Addr<Recorder<M>>,
}

impl<M> Recording<M>
where
    M: Message<Result = ()> + Clone + Send + Unpin + 'static,
{
    /// Starts a recorder on the current actix arbiter.
    pub fn start() -> Self {
        Recording {
            addr: Recorder { seen: Vec::new() }.start(),
        }
    }

    /// Where to send the messages to record (to subscribe with).
    pub fn recipient(&self) -> Recipient<M> {
        self.addr.clone().recipient()
    }

    /// Everything recorded so far, in order: a round trip through the recorder's
    /// mailbox, so every message queued for it before this call is included.
    pub async fn seen(&self) -> Vec<M> {
        self.addr
            .send(Seen(std::marker::PhantomData))
            .await
            .expect("the recorder stopped")
    }
}

impl<M: Unpin + 'static> Clone for Recording<M> {
    fn clone(&self) -> Self {
        Recording {
            addr: self.addr.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Message, Clone, Debug, PartialEq)]
    #[rtype(result = "()")]
    struct Note(u32);

    #[actix::test]
    async fn seen_includes_everything_sent_before_it_in_order() {
        let recording = Recording::<Note>::start();
        let to = recording.recipient();
        for n in 0..100 {
            to.do_send(Note(n));
        }
        let seen = recording.seen().await;
        assert_eq!(seen, (0..100).map(Note).collect::<Vec<_>>());
    }
}

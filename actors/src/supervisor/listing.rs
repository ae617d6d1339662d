//! Listing members and asking them for their own reports, bounded by a timeout.

use super::*;

impl Handler<ListConnections> for Supervisor {
    type Result = MessageResult<ListConnections>;
    fn handle(&mut self, msg: ListConnections, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let list = self
            .members_in(msg.protocol.as_deref())
            .map(|m| member_info(m, now))
            .collect();
        MessageResult(list)
    }
}

/// What the registry knows of `member` at `now`.
pub(super) fn member_info(member: &Member, now: Instant) -> MemberInfo {
    let status = &member.status;
    MemberInfo {
        id: status.id,
        protocol: status.protocol,
        peer: status.peer,
        queued_bytes: status.queued_bytes(),
        error_packets: status.error_packets(),
        idle_ms: status.idle_for(now).as_millis() as u64,
        sent_bytes: status.sent_bytes(),
        user: status.user().cloned(),
    }
}

/// Asks each of `members` for its report at once; the future answers when all have
/// answered or `timeout` has passed, in the order of `members`.
fn inspect(members: Vec<&Member>, timeout: Duration) -> ResponseFuture<Vec<Inspected>> {
    let now = Instant::now();
    // Every request is in its member's mailbox before the first answer is awaited.
    let asked: Vec<_> = members
        .into_iter()
        .map(|m| (member_info(m, now), m.link.inspect()))
        .collect();
    let deadline = now + timeout;
    Box::pin(async move {
        let mut found = Vec::with_capacity(asked.len());
        for (info, answer) in asked {
            let report = tokio::time::timeout_at(deadline, answer)
                .await
                .ok()
                .and_then(Result::ok);
            found.push(Inspected { info, report });
        }
        found
    })
}

impl Handler<InspectConnections> for Supervisor {
    type Result = ResponseFuture<Vec<Inspected>>;
    fn handle(&mut self, msg: InspectConnections, _: &mut Context<Self>) -> Self::Result {
        let mut members: Vec<&Member> = self.members_in(msg.protocol.as_deref()).collect();
        members.sort_unstable_by_key(|m| m.status.id);
        members.truncate(msg.limit);
        inspect(members, msg.timeout)
    }
}

impl Handler<ListMembers> for Supervisor {
    type Result = MessageResult<ListMembers>;
    fn handle(&mut self, ListMembers(ids): ListMembers, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let found = ids.iter().filter_map(|&id| self.member(id));
        MessageResult(found.map(|m| member_info(m, now)).collect())
    }
}

impl Handler<InspectMembers> for Supervisor {
    type Result = ResponseFuture<Vec<Inspected>>;
    fn handle(&mut self, msg: InspectMembers, _: &mut Context<Self>) -> Self::Result {
        let members = msg.ids.iter().filter_map(|&id| self.member(id)).collect();
        inspect(members, msg.timeout)
    }
}

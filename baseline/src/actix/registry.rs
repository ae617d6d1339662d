//! The registry actor: every connection's address, and the members of each named
//! group. A broadcast or a publish is sent to it, and it sends each member the frame
//! as a message ([`Out`]), one message per member per frame.

use crate::session::Session;
use actix::prelude::*;
use bytes::Bytes;
use std::collections::HashMap;

/// Encoded frames for one connection to write.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Out(pub Bytes);

/// A connection opened.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    /// Its id.
    pub id: u64,
    /// Where its frames go.
    pub addr: Addr<Session>,
}

/// A connection ended, with the groups it was in.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    /// Its id.
    pub id: u64,
    /// The named groups it was in.
    pub groups: Vec<Bytes>,
}

/// A BROADCAST frame, for every connection (its sender too).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Broadcast(pub Bytes);

/// A connection joins a named group.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The connection.
    pub id: u64,
    /// The group.
    pub name: Bytes,
    /// Where the group's messages go.
    pub addr: Addr<Session>,
}

/// A connection leaves a named group.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The connection.
    pub id: u64,
    /// The group.
    pub name: Bytes,
}

/// A MESSAGE frame for every member of a named group.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Publish {
    /// The group.
    pub name: Bytes,
    /// The encoded MESSAGE frame.
    pub frame: Bytes,
}

/// Every connection, and the named groups.
#[derive(Default)]
pub struct Registry {
    /// Open connections by id.
    members: HashMap<u64, Addr<Session>>,
    /// Members of each named group with at least one.
    groups: HashMap<Bytes, HashMap<u64, Addr<Session>>>,
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<Connect> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.members.insert(msg.id, msg.addr);
    }
}

impl Handler<Disconnect> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.members.remove(&msg.id);
        for name in msg.groups {
            self.leave(msg.id, &name);
        }
    }
}

impl Handler<Broadcast> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        for member in self.members.values() {
            member.do_send(Out(msg.0.clone()));
        }
    }
}

impl Handler<Join> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        self.groups
            .entry(msg.name)
            .or_default()
            .insert(msg.id, msg.addr);
    }
}

impl Handler<Leave> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        self.leave(msg.id, &msg.name);
    }
}

impl Handler<Publish> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        if let Some(members) = self.groups.get(&msg.name) {
            for member in members.values() {
                member.do_send(Out(msg.frame.clone()));
            }
        }
    }
}

impl Registry {
    fn leave(&mut self, id: u64, name: &[u8]) {
        if let Some(members) = self.groups.get_mut(name) {
            members.remove(&id);
            if members.is_empty() {
                self.groups.remove(name);
            }
        }
    }
}

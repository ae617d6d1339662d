//! A line chat with rooms: the shortest real application of Switchboard's named groups.
//!
//! Run it with `cargo run -p switchboard --example chat [ADDR]` and talk to it from a
//! few terminals with `nc 127.0.0.1 7100`:
//!
//! ```text
//! NICK alice          -> NICK alice
//! JOIN lobby          -> JOINED lobby
//! MSG lobby hi all    -> MSG lobby alice hi all   (to every member of lobby, you too)
//! WHO lobby           -> WHO lobby alice bob
//! LEAVE lobby         -> LEFT lobby
//! ```
//!
//! Every mistake is answered `ERR <why>` and the connection lives on. A room is a named
//! group: the library keeps who is in which room, fans a message out to the members
//! (encoded once, not once per member), and takes a closed connection out of all its
//! rooms by itself. The only state this file keeps is the nickname of each connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use switchboard::codec::Lines;
use switchboard::{
    ConnId, GroupEncoder, GroupName, ListenerHandle, Outbox, Protocol, RemovalReason, Switchboard,
    SwitchboardConfig,
};

/// The longest line a client may send, in bytes.
const MAX_LINE: usize = 1024;
/// Rooms one connection may be in at once.
const MAX_ROOMS: usize = 16;
/// The longest nickname or room name, in bytes.
const MAX_NAME: usize = 32;

/// The nickname of each connection that chose one, shared by all connections: NICK
/// checks that a name is free, WHO turns room members into names.
pub type Nicks = Arc<Mutex<HashMap<ConnId, String>>>;

/// One connection's side of the chat.
pub struct Chat {
    /// Everyone's nicknames.
    nicks: Nicks,
    /// This connection's id, to remove its nickname when it closes.
    id: Option<ConnId>,
    /// This connection's nickname, once it chose one: needed to JOIN and to MSG.
    nick: Option<String>,
}

impl Chat {
    /// A new connection's chat state.
    pub fn new(nicks: Nicks) -> Self {
        Chat {
            nicks,
            id: None,
            nick: None,
        }
    }

    /// `NICK <name>`: takes a free nickname (renaming is allowed).
    fn set_nick(&mut self, name: &str, out: &mut Outbox<String>) {
        let mut nicks = self.nicks.lock().unwrap_or_else(PoisonError::into_inner);
        if nicks.iter().any(|(&id, n)| n == name && id != out.id()) {
            return out.reply(format!("ERR nick {name} is taken"));
        }
        nicks.insert(out.id(), name.to_owned());
        self.nick = Some(name.to_owned());
        out.reply(format!("NICK {name}"));
    }

    /// `WHO <room>`: the room's members, asked of the switchboard (which keeps the
    /// groups), named with our nicknames. The answer comes later, in order with the
    /// other replies.
    fn who(&self, room: GroupName, out: &mut Outbox<String>) {
        let board = out.handle().clone();
        let nicks = self.nicks.clone();
        out.defer(async move {
            // Asked inside the future, which first runs once the actions of the requests
            // read with this one are carried out: a JOIN just before the WHO is counted
            // (and so is a LEAVE that came right behind it, in the same read).
            let members = board.members(room.clone()).await;
            let members = members.unwrap_or_default();
            let nicks = nicks.lock().unwrap_or_else(PoisonError::into_inner);
            let mut names: Vec<&str> = members
                .iter()
                .filter_map(|m| nicks.get(&m.id).map(String::as_str))
                .collect();
            names.sort_unstable();
            format!("WHO {room} {}", names.join(" "))
                .trim_end()
                .to_owned()
        });
    }
}

/// Whether a command has the arguments it needs: a valid name, and text for MSG only.
fn well_formed(command: &str, name: &str, text: &str) -> bool {
    valid_name(name) && (command == "MSG") != text.is_empty()
}

/// How a command is used, for the ERR reply to a malformed one.
fn usage(command: &str) -> String {
    let args = match command {
        "NICK" => "<name>",
        "MSG" => "<room> <text>",
        _ => "<room>",
    };
    format!("{command} {args} (names are 1 to {MAX_NAME} letters, digits, '-' or '_')")
}

/// Whether `name` may be a nickname or a room name: short, and safe to put on one line.
fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Protocol for Chat {
    const NAME: &'static str = "chat";
    type Request = String;
    type Response = String;
    type Codec = Lines;

    fn codec(&self) -> Lines {
        Lines::new(MAX_LINE)
    }

    fn on_open(&mut self, out: &mut Outbox<String>) {
        self.id = Some(out.id());
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        // `COMMAND <room or name> <rest>`; missing parts are empty strings.
        let mut parts = line.splitn(3, ' ');
        let command = parts.next().unwrap_or_default();
        let arg = parts.next().unwrap_or_default();
        let text = parts.next().unwrap_or_default();

        match command {
            "NICK" | "JOIN" | "LEAVE" | "WHO" | "MSG" if !well_formed(command, arg, text) => {
                out.reply(format!("ERR usage: {}", usage(command)))
            }
            "NICK" => self.set_nick(arg, out),
            "JOIN" if self.nick.is_none() => {
                out.reply("ERR choose a nick first: NICK <name>".to_owned())
            }
            "JOIN" if out.group_count() >= MAX_ROOMS => {
                out.reply(format!("ERR at most {MAX_ROOMS} rooms"))
            }
            "JOIN" => match out.join(arg) {
                true => out.reply(format!("JOINED {arg}")),
                false => out.reply(format!("ERR already in {arg}")),
            },
            "LEAVE" => match out.leave(arg) {
                true => out.reply(format!("LEFT {arg}")),
                false => out.reply(format!("ERR not in {arg}")),
            },
            "MSG" if !out.is_member(arg) => out.reply(format!("ERR join {arg} first")),
            // The message is protocol-neutral bytes; `group_encoder` writes the line.
            // Every member gets it, this connection too (its copy in order with its replies).
            "MSG" => {
                let nick = self.nick.as_deref().unwrap_or("?");
                out.publish(arg, format!("{nick} {text}"));
            }
            "WHO" => self.who(GroupName::from(arg), out),
            _ => out.reply("ERR commands: NICK, JOIN, LEAVE, MSG, WHO".to_owned()),
        }
    }

    /// What the codec refused: a line that is not UTF-8 (the connection lives on), or
    /// one longer than `MAX_LINE` (the connection is closed).
    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }

    /// How a room message is written to a member: `MSG <room> <nick> <text>`.
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|room, message| {
            let message = std::str::from_utf8(message).map_err(|e| e.to_string())?;
            if message.contains(['\n', '\r']) {
                return Err("a line break in a message".to_owned());
            }
            Ok(format!("MSG {room} {message}\n").into())
        }))
    }

    /// The connection is gone (and out of its rooms already): free its nickname.
    fn on_close(&mut self, _reason: RemovalReason) {
        if let Some(id) = self.id {
            let mut nicks = self.nicks.lock().unwrap_or_else(PoisonError::into_inner);
            nicks.remove(&id);
        }
    }
}

/// Starts a switchboard serving the chat on `addr` (port 0: any free port). Call it
/// inside an actix system, as `main` does.
pub fn serve(addr: SocketAddr) -> std::io::Result<(Switchboard, ListenerHandle)> {
    let board = Switchboard::start(SwitchboardConfig::default());
    let nicks = Nicks::default();
    let listener = board.listen(switchboard::bind(addr)?, move || Chat::new(nicks.clone()))?;
    Ok((board, listener))
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7100".into());
    let addr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (board, listener) = serve(addr)?;
    println!("listening chat {}", listener.local_addr);
    tokio::signal::ctrl_c().await?;
    listener.stop();
    board.shutdown().await;
    Ok(())
}

//! An authenticated line chat with rooms: Switchboard's users, permissions, deadlines and
//! limits in one commented file.
//!
//! Run it with `cargo run -p switchboard --example chat [ADDR]` and talk to it from a
//! few terminals with `nc 127.0.0.1 7100`:
//!
//! ```text
//! AUTH alice-secret   -> AUTHED alice         (within 2 s, or the connection ends)
//! JOIN lobby          -> JOINED lobby
//! MSG lobby hi all    -> MSG lobby alice hi all   (to every member of lobby, you too)
//! WHO lobby           -> WHO lobby alice bob
//! LEAVE lobby         -> LEFT lobby
//! KICK bob            -> KICKED bob 2         (admins only: each of bob's connections
//!                                              gets ERR kicked and ends)
//! ```
//!
//! The switchboard keeps the state: which connection is which user (WHO answers with
//! names, a room message says who wrote it), each user's permissions on rooms (only
//! admins join `admins`; `inbox.<name>` is read by its owner, written by anyone), the
//! 2 s deadline to authenticate, the rate of 20 lines a second (a faster client is read
//! more slowly; nothing is lost), 3 connections per user, and KICK of all of a user's
//! connections in one call. This file keeps no user map, runs no timer task and
//! counts no rate. Mistakes are answered `ERR <why>`; a refused room is not an error.

use std::net::SocketAddr;
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::ConnectionLimits;
use switchboard::identity::{Access, AuthError, Pattern, Permissions};
use switchboard::{
    GroupEncoder, GroupName, ListenerHandle, Outbox, Protocol, RemovalReason, Switchboard,
    SwitchboardConfig, User,
};

/// Who may log in: (secret token, user name, admin). A real server reads its
/// configuration; the tokens are compared in constant time all the same.
pub const ACCOUNTS: [(&str, &str, bool); 3] = [
    ("alice-secret", "alice", true),
    ("bob-secret", "bob", false),
    ("carol-secret", "carol", false),
];

/// One connection's side of the chat: whether its user is an admin (the switchboard
/// knows the rest).
#[derive(Default)]
pub struct Chat {
    admin: bool,
}

/// An admin may do anything; anyone else joins `lobby`, `room.<x>` and its own
/// `inbox.<name>`, and writes to those and to anyone's inbox.
fn permissions(admin: bool) -> Permissions {
    if admin {
        return Permissions::all();
    }
    let p = |text: &str| Pattern::parse(text).expect("a valid pattern");
    Permissions::none()
        .allow(Access::Join, p("lobby"))
        .allow(Access::Join, p("room.*"))
        .allow(Access::Join, p("inbox.{user}"))
        .allow(Access::Publish, p("lobby"))
        .allow(Access::Publish, p("room.*"))
        .allow(Access::Publish, p("inbox.*"))
}

/// Whether two secrets are equal, in a time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let differ = a
        .bytes()
        .zip(b.bytes())
        .fold(0, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && differ == 0
}

/// Whether `name` may be a room or user name: 1 to 32 of `a-z A-Z 0-9 - _ .`.
fn valid_name(name: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    (1..=32).contains(&name.len()) && name.bytes().all(allowed)
}

impl Chat {
    /// `AUTH <token>`: the user the token stands for, or the connection ends.
    fn auth(&mut self, token: &str, out: &mut Outbox<String>) {
        let Some((_, name, admin)) = ACCOUNTS.iter().find(|a| same_secret(a.0, token)) else {
            return out.close_with_error(RemovalReason::Unauthorized, "unauthorized");
        };
        match out.authenticate(User::new(*name, permissions(*admin))) {
            Ok(()) => {
                self.admin = *admin;
                out.reply(format!("AUTHED {name}"));
            }
            // A fourth connection: answered and closed by the switchboard.
            Err(AuthError::UserLimit) => {}
            Err(other) => out.reply(format!("ERR {other}")),
        }
    }

    /// `WHO <room>`: the names of the room's members, asked of the switchboard (which
    /// keeps rooms and users), answered in order with the other replies.
    fn who(&self, room: GroupName, out: &mut Outbox<String>) {
        let board = out.handle().clone();
        out.defer(async move {
            let members = board.members(room.clone()).await.unwrap_or_default();
            let mut names: Vec<String> = members
                .into_iter()
                .filter_map(|member| Some(member.user?.name().to_owned()))
                .collect();
            names.sort_unstable();
            names.dedup();
            format!("WHO {room} {}", names.join(" "))
                .trim_end()
                .to_owned()
        });
    }

    /// `KICK <user>`: every connection of the user hears `ERR kicked` and ends.
    fn kick(&self, name: &str, out: &mut Outbox<String>) {
        if !self.admin {
            return out.deny("permission denied: kick");
        }
        let (board, name) = (out.handle().clone(), name.to_owned());
        out.defer(async move {
            let kicked = board.close_user(&name, RemovalReason::Kicked, Some("kicked"));
            format!("KICKED {name} {}", kicked.await.unwrap_or(0))
        });
    }
}

impl Protocol for Chat {
    const NAME: &'static str = "chat";
    type Request = String;
    type Response = String;
    type Codec = Lines;

    fn codec(&self) -> Lines {
        Lines::new(1024)
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        // `COMMAND <argument> <text>`; missing parts are empty strings.
        let mut parts = line.splitn(3, ' ');
        let (command, arg) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let text = parts.next().unwrap_or_default();
        match command {
            "AUTH" => self.auth(arg, out),
            _ if out.user().is_none() => {
                out.close_with_error(RemovalReason::Unauthorized, "authenticate first")
            }
            "JOIN" | "LEAVE" | "WHO" | "KICK" | "MSG" if !valid_name(arg) => out.reply(format!(
                "ERR {command} takes a name: 1 to 32 of a-z 0-9 - _ ."
            )),
            "JOIN" => match out.try_join(arg) {
                Ok(_) => out.reply(format!("JOINED {arg}")),
                Err(refusal) => out.deny(refusal.to_string()), // not an error packet
            },
            "LEAVE" => match out.leave(arg) {
                true => out.reply(format!("LEFT {arg}")),
                false => out.reply(format!("ERR not in {arg}")),
            },
            "MSG" if text.is_empty() => out.reply("ERR MSG <room> <text>".to_owned()),
            // Where the user may not write, the switchboard refuses and answers it.
            "MSG" => out.publish(arg, text.to_owned()),
            "WHO" => self.who(GroupName::from(arg), out),
            "KICK" => self.kick(arg, out),
            _ => out.reply("ERR commands: AUTH, JOIN, LEAVE, MSG, WHO, KICK".to_owned()),
        }
    }

    /// What the chat says when it refuses or ends a connection: `ERR <why>`.
    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }

    /// How a room message is written: `MSG <room> <user> <text>`, the user being the
    /// one who published it (the switchboard knows).
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::with_publisher(|room, text, user| {
            let text = std::str::from_utf8(text).map_err(|e| e.to_string())?;
            let user = user.map_or("?", User::name);
            Ok(format!("MSG {room} {user} {text}\n").into())
        }))
    }
}

/// The chat's limits: `auth_timeout` to authenticate (2 s in `main`), 20 lines a
/// second, 3 connections per user.
pub fn config(auth_timeout: Duration) -> SwitchboardConfig {
    let limits = ConnectionLimits::default()
        .with_auth_timeout(Some(auth_timeout))
        .with_max_messages_per_s(20);
    SwitchboardConfig::default()
        .with_connection(limits)
        .with_max_connections_per_user(Some(3))
}

/// Starts a switchboard serving the chat on `addr` (port 0: any free port). Call it
/// inside an actix system, as `main` does.
pub fn serve(
    addr: SocketAddr,
    config: SwitchboardConfig,
) -> std::io::Result<(Switchboard, ListenerHandle)> {
    let board = Switchboard::start(config);
    let listener = board.listen(switchboard::bind(addr)?, Chat::default)?;
    Ok((board, listener))
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7100".into());
    let addr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (board, listener) = serve(addr, config(Duration::from_secs(2)))?;
    println!("listening chat {}", listener.local_addr);
    tokio::signal::ctrl_c().await?;
    listener.stop();
    board.shutdown().await;
    Ok(())
}

//! The demo's security scene, against a second server with identity and a message rate
//! (`guarded`): who may not come in is shown out, and a flooder cannot empty a room.
//!
//! - `intruder` sends `AUTH` with a guessed token: answered `ERR unauthorized`, removed
//!   as `unauthorized`.
//! - `never-auths` connects and says nothing: removed as `auth_timeout`.
//! - user `bob` is on twice, `bob-line` and `bob-frame`; the admin `root` sends
//!   `KICK bob`: answered `KICKED bob 2`, both removed as `kicked`.
//! - `flooder` (a `frame` client) writes [`FLOOD`] PUBLISHes to the room `hall` at once;
//!   the server reads them at [`RATE`] a second (after a burst of [`BURST`]), so three
//!   members (`hall-1` to `hall-3`, on `line`) get every message, in order, and none is
//!   removed as a slow consumer.
//!
//! The removals are judged with the others (by name); the rest comes back in a
//! [`Report`].

use super::cast::{connect, Names};
use super::verdict::{Check, Expectation};
use crate::config::{Config, UserEntry};
use crate::protocols::frame::Frame;
use crate::secret::Secret;
use crate::server::{self, Running};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::RemovalReason;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Packets a connection of the guarded server may send per second.
pub const RATE: u32 = 100;
/// ... and at once, before the rate applies.
pub const BURST: u32 = 20;
/// The PUBLISHes the flooder writes at once.
pub const FLOOD: usize = 300;
/// The room the flood goes to.
const HALL: &str = "hall";
/// How long a connection of the guarded server has to authenticate.
const AUTH_TIMEOUT_MS: u64 = 1500;
/// The room's members.
const MEMBERS: [&str; 3] = ["hall-1", "hall-2", "hall-3"];
/// The most a scene client waits for one answer.
const ANSWER: Duration = Duration::from_secs(3);

/// The removals the scene expects.
pub const EXPECTED: [Expectation; 4] = [
    Expectation {
        who: "intruder",
        reasons: &[RemovalReason::Unauthorized],
    },
    Expectation {
        who: "never-auths",
        reasons: &[RemovalReason::AuthTimeout],
    },
    Expectation {
        who: "bob-line",
        reasons: &[RemovalReason::Kicked],
    },
    Expectation {
        who: "bob-frame",
        reasons: &[RemovalReason::Kicked],
    },
];

/// Whether a member of the room was removed by the server (its own hang-up at the end
/// is `peer_closed`): the flood must not cost the room a member.
pub fn members_removed(removals: &[(&'static str, RemovalReason)]) -> Vec<String> {
    removals
        .iter()
        .filter(|(who, reason)| MEMBERS.contains(who) && *reason != RemovalReason::PeerClosed)
        .map(|(who, reason)| format!("{who}: {reason}"))
        .collect()
}

/// A user of the guarded server's configuration.
fn user(name: &str, token: &str, admin: bool, join: &[&str], publish: &[&str]) -> UserEntry {
    let list = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect();
    UserEntry {
        name: name.to_owned(),
        token: Secret::new(token.to_owned()),
        join: list(join),
        publish: list(publish),
        join_deny: Vec::new(),
        publish_deny: Vec::new(),
        admin,
    }
}

/// The guarded server: users, an authentication deadline and a message rate.
pub fn config() -> Config {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    Config {
        frame: loopback,
        line: loopback,
        users: vec![
            user("root", "root-demo-token", true, &[], &[]),
            user("listener", "listener-demo-token", false, &[HALL], &[]),
            user("bob", "bob-demo-token", false, &[HALL], &[HALL]),
            user("flooder", "flooder-demo-token", false, &[], &[HALL]),
        ],
        auth_timeout_ms: AUTH_TIMEOUT_MS,
        max_messages_per_s: RATE,
        max_messages_burst: Some(BURST),
        workers: 1,
        shutdown_timeout_ms: 1_000,
        ..Config::default()
    }
}

/// Starts the guarded server; call it inside the demo's actix system.
pub fn start() -> std::io::Result<Running> {
    let config = config();
    server::start(
        &config,
        switchboard::bind(config.frame)?,
        switchboard::bind(config.line)?,
    )
}

/// What the scene saw, besides the removals.
#[derive(Debug, Default)]
pub struct Report {
    /// What the intruder was answered.
    pub intruder_heard: Option<String>,
    /// What `root` was answered to `KICK bob`.
    pub kick_answer: Option<String>,
    /// What each of bob's connections heard last.
    pub bob_heard: Vec<String>,
    /// How many of the flood's messages each member got, in order.
    pub delivered: Vec<(&'static str, usize)>,
    /// The first thing that went wrong, if anything.
    pub problem: Option<String>,
    /// From the flood's write to its last message at the last member.
    pub flood_took: Option<Duration>,
}

impl Report {
    /// The scene's checks for the summary (the removals are judged with the others).
    pub fn checks(&self) -> Vec<Check> {
        let intruder = self.intruder_heard.as_deref().unwrap_or("nothing");
        let kick = self.kick_answer.as_deref().unwrap_or("nothing");
        let bob_told = self.bob_heard.len() == 2 && self.bob_heard.iter().all(|h| h == "kicked");
        let everyone = self.delivered.len() == MEMBERS.len()
            && self.delivered.iter().all(|(_, n)| *n == FLOOD);
        // The burst at once, then one message per token.
        let least =
            Duration::from_millis((FLOOD as u64 - u64::from(BURST)) * 1000 / u64::from(RATE));
        let took = self.flood_took.unwrap_or_default();
        let problem = self
            .problem
            .as_ref()
            .map_or(String::new(), |p| format!("; {p}"));
        vec![
            Check {
                what: format!("the intruder's guessed token was answered: {intruder}"),
                met: intruder == "ERR unauthorized",
            },
            Check {
                what: format!("root's KICK bob was answered {kick}, each of bob's connections told kicked"),
                met: kick == "KICKED bob 2" && bob_told,
            },
            Check {
                what: format!(
                    "the flooder was read at {RATE}/s: {FLOOD} PUBLISHes took {:.2} s (at least {:.2}), \
                     and every member of {HALL} got all of them in order{problem}",
                    took.as_secs_f64(),
                    least.as_secs_f64()
                ),
                met: everyone && took >= least && self.problem.is_none(),
            },
        ]
    }
}

/// A line client of the scene.
struct Line {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Line {
    async fn connect(addr: SocketAddr, name: &'static str, names: &Names) -> std::io::Result<Line> {
        let (reader, writer) = connect(addr, name, names).await?.into_split();
        Ok(Line {
            reader: BufReader::new(reader),
            writer,
        })
    }

    async fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(format!("{line}\n").as_bytes()).await
    }

    /// The next line, within `wait`; `None` at the end of the stream or after `wait`.
    async fn recv_within(&mut self, wait: Duration) -> Option<String> {
        let mut line = String::new();
        match tokio::time::timeout(wait, self.reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => Some(line.trim_end_matches('\n').to_owned()),
            _ => None,
        }
    }

    async fn recv(&mut self) -> Option<String> {
        self.recv_within(ANSWER).await
    }

    /// Sends `line` and expects `answer`.
    async fn ask(&mut self, line: &str, answer: &str) -> Result<(), String> {
        self.send(line).await.map_err(|e| format!("{line}: {e}"))?;
        match self.recv().await {
            Some(got) if got == answer => Ok(()),
            other => Err(format!("{line}: expected {answer:?}, got {other:?}")),
        }
    }
}

/// A frame client's AUTH, answered AUTHED `user`.
async fn frame_as(
    addr: SocketAddr,
    name: &'static str,
    names: &Names,
    token: &str,
    user: &str,
) -> Result<TcpStream, String> {
    let mut stream = connect(addr, name, names)
        .await
        .map_err(|e| e.to_string())?;
    super::cast::send(&mut stream, Frame::AUTH, token.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    match super::cast::recv(&mut stream).await {
        Ok((Frame::AUTHED, who)) if who == user.as_bytes() => Ok(stream),
        other => Err(format!("{name}: AUTH answered {other:?}")),
    }
}

/// Plays the scene against the guarded server at `frame` and `line`.
pub async fn scene(frame: SocketAddr, line: SocketAddr, names: Names) -> Report {
    let mut report = Report::default();
    let (intruder, silent) = tokio::join!(intruder(line, &names), never_auths(line, &names));
    report.intruder_heard = intruder;
    let kicked = kick(frame, line, &names, &mut report);
    let flood = flood(frame, line, &names);
    let (kicked, flood) = tokio::join!(kicked, flood);
    let _ = silent;
    if let Err(e) = kicked {
        report.problem.get_or_insert(e);
    }
    match flood {
        Ok((delivered, took)) => {
            report.delivered = delivered;
            report.flood_took = Some(took);
        }
        Err(e) => {
            report.problem.get_or_insert(e);
        }
    }
    report
}

/// `intruder`: a guessed token.
async fn intruder(line: SocketAddr, names: &Names) -> Option<String> {
    let mut client = Line::connect(line, "intruder", names).await.ok()?;
    client.send("AUTH guessed-token").await.ok()?;
    client.recv().await
}

/// `never-auths`: connects and waits, past the deadline, for the server to close it.
async fn never_auths(line: SocketAddr, names: &Names) -> Option<String> {
    let mut client = Line::connect(line, "never-auths", names).await.ok()?;
    let wait = Duration::from_millis(AUTH_TIMEOUT_MS) + ANSWER;
    client.recv_within(wait).await
}

/// bob on both protocols, kicked by root.
async fn kick(
    frame: SocketAddr,
    line: SocketAddr,
    names: &Names,
    report: &mut Report,
) -> Result<(), String> {
    let mut bob_line = Line::connect(line, "bob-line", names)
        .await
        .map_err(|e| e.to_string())?;
    bob_line.ask("AUTH bob-demo-token", "AUTHED bob").await?;
    let mut bob_frame = frame_as(frame, "bob-frame", names, "bob-demo-token", "bob").await?;
    let mut root = Line::connect(line, "root", names)
        .await
        .map_err(|e| e.to_string())?;
    root.ask("AUTH root-demo-token", "AUTHED root").await?;
    root.send("KICK bob").await.map_err(|e| e.to_string())?;
    report.kick_answer = root.recv().await;
    if let Some(last) = bob_line.recv().await {
        report
            .bob_heard
            .push(last.trim_start_matches("ERR ").to_owned());
    }
    if let Ok((Frame::ERROR, why)) = super::cast::recv(&mut bob_frame).await {
        report
            .bob_heard
            .push(String::from_utf8_lossy(&why).into_owned());
    }
    Ok(())
}

/// The flood: members join `hall`, then the flooder writes [`FLOOD`] PUBLISHes at once;
/// answers what each member got in order and how long the last one took.
async fn flood(
    frame: SocketAddr,
    line: SocketAddr,
    names: &Names,
) -> Result<(Vec<(&'static str, usize)>, Duration), String> {
    let mut members = Vec::new();
    for name in MEMBERS {
        let mut member = Line::connect(line, name, names)
            .await
            .map_err(|e| e.to_string())?;
        member
            .ask("AUTH listener-demo-token", "AUTHED listener")
            .await?;
        member
            .ask(&format!("JOIN {HALL}"), &format!("JOINED {HALL}"))
            .await?;
        members.push((name, member));
    }
    let mut flooder = frame_as(frame, "flooder", names, "flooder-demo-token", "flooder").await?;
    let mut burst = Vec::new();
    for i in 0..FLOOD {
        let message = format!("flood {i}");
        let mut payload = vec![HALL.len() as u8];
        payload.extend_from_slice(HALL.as_bytes());
        payload.extend_from_slice(message.as_bytes());
        burst.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
        burst.push(Frame::PUBLISH);
        burst.extend_from_slice(&payload);
    }
    let started = Instant::now();
    flooder
        .write_all(&burst)
        .await
        .map_err(|e| format!("flooder: {e}"))?;
    // Each member's messages wait in its socket while another is read.
    let mut delivered = Vec::new();
    let mut took = Duration::ZERO;
    for (name, mut member) in members {
        let mut in_order = 0;
        while in_order < FLOOD {
            match member.recv().await {
                Some(got) if got == format!("MSG {HALL} flood {in_order}") => in_order += 1,
                other => return Err(format!("{name} got {other:?} after {in_order}")),
            }
        }
        delivered.push((name, in_order));
        took = took.max(started.elapsed());
    }
    drop(flooder);
    Ok((delivered, took))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing() -> Report {
        Report {
            intruder_heard: Some("ERR unauthorized".to_owned()),
            kick_answer: Some("KICKED bob 2".to_owned()),
            bob_heard: vec!["kicked".to_owned(), "kicked".to_owned()],
            delivered: MEMBERS.iter().map(|m| (*m, FLOOD)).collect(),
            problem: None,
            flood_took: Some(Duration::from_millis(2810)),
        }
    }

    fn met(report: &Report) -> Vec<bool> {
        report.checks().iter().map(|c| c.met).collect()
    }

    #[test]
    fn each_check_fails_on_its_own() {
        assert_eq!(met(&passing()), [true, true, true]);
        let wrong_answer = Report {
            intruder_heard: Some("AUTHED root".to_owned()),
            ..passing()
        };
        assert_eq!(met(&wrong_answer), [false, true, true]);
        let one_left = Report {
            bob_heard: vec!["kicked".to_owned()],
            ..passing()
        };
        assert_eq!(met(&one_left), [true, false, true]);
        // Faster than the rate allows: the rate did not hold.
        let too_fast = Report {
            flood_took: Some(Duration::from_millis(2000)),
            ..passing()
        };
        assert_eq!(met(&too_fast), [true, true, false]);
        let lost_one = Report {
            delivered: vec![("hall-1", FLOOD), ("hall-2", FLOOD - 1), ("hall-3", FLOOD)],
            ..passing()
        };
        assert_eq!(met(&lost_one), [true, true, false]);
        assert_eq!(met(&Report::default()), [false, false, false]);
    }

    #[test]
    fn a_member_removed_by_the_server_is_named() {
        let removals = [
            ("hall-1", RemovalReason::PeerClosed),
            ("hall-2", RemovalReason::SlowConsumer),
            ("flooder", RemovalReason::Kicked),
        ];
        assert_eq!(members_removed(&removals), ["hall-2: slow_consumer"]);
    }
}

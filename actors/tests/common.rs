//! A tiny line protocol for driving connection actors in tests, and helpers.
#![allow(dead_code)]

use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::{ConnectionRemoved, Inbound, Outbox, Protocol, RemovalReason};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// `ECHO x` -> `x`, `BAD` -> bad packet, `ALL x` -> broadcast `x`, `BYE` -> close,
/// `BIG n` -> a reply of n bytes, `LATER x` -> deferred `x` after 50 ms,
/// `SPLIT` -> a reply the codec refuses to encode (it contains a newline),
/// `FILE path` -> the file's bytes, zero-copy.
pub struct TestProto;

pub struct TestCodec(LinesCodec);

impl Decoder for TestCodec {
    type Item = Inbound<String>;
    type Error = LinesCodecError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        Ok(self.0.decode(src)?.map(Inbound::Request))
    }
}

impl Encoder<String> for TestCodec {
    type Error = LinesCodecError;
    fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), Self::Error> {
        if item.contains('\n') {
            return Err(LinesCodecError::Io(std::io::Error::other(
                "newline in a line",
            )));
        }
        self.0.encode(item, dst)
    }
}

impl Protocol for TestProto {
    const NAME: &'static str = "test";
    type Request = String;
    type Response = String;
    type Codec = TestCodec;

    fn codec(&self) -> TestCodec {
        TestCodec(LinesCodec::new_with_max_length(1024))
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match cmd {
            "ECHO" => out.reply(arg.to_string()),
            "ALL" => out.broadcast(arg.to_string()),
            "BYE" => out.close(RemovalReason::Closed),
            "FILE" => match switchboard::FileRegion::open(arg) {
                Ok(region) => out.send_file(region),
                Err(e) => out.bad_packet(format!("cannot open {arg}: {e}")),
            },
            "SPLIT" => out.reply("two\nlines".to_string()),
            "BIG" => out.reply("x".repeat(arg.parse().unwrap_or(0))),
            "LATER" => {
                let arg = arg.to_string();
                out.defer(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    arg
                })
            }
            _ => out.bad_packet(format!("bad command {cmd}")),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }
}

/// Records every removal the supervisor announces.
pub struct Removals(pub Arc<Mutex<Vec<ConnectionRemoved>>>);

impl actix::Actor for Removals {
    type Context = actix::Context<Self>;
}

impl actix::Handler<ConnectionRemoved> for Removals {
    type Result = ();
    fn handle(&mut self, msg: ConnectionRemoved, _: &mut actix::Context<Self>) {
        self.0.lock().unwrap().push(msg);
    }
}

/// Subscribes a fresh recorder to the removals of `board`'s switchboard; returns what it
/// records.
pub fn record_removals(board: &switchboard::Handle) -> Arc<Mutex<Vec<ConnectionRemoved>>> {
    use actix::Actor;
    let removed = Arc::new(Mutex::new(Vec::new()));
    board.subscribe(Removals(removed.clone()).start().recipient());
    removed
}

/// A line client over loopback.
pub struct Client {
    pub reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    pub writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Client {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The next line, or None at EOF; panics after 5 s so a test always ends.
    pub async fn line(&mut self) -> Option<String> {
        let mut s = String::new();
        let n = tokio::time::timeout(Duration::from_secs(5), self.reader.read_line(&mut s))
            .await
            .expect("no line within 5 s")
            .unwrap_or(0);
        (n > 0).then(|| s.trim_end().to_string())
    }
}

/// Polls `check` every 20 ms for at most 5 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A line protocol on `codec::Lines` that says `hello`, answers `echo <line>`, and
/// writes a group message as `group: message`.
pub struct Talk;

impl Protocol for Talk {
    const NAME: &'static str = "talk";
    type Request = String;
    type Response = String;
    type Codec = switchboard::codec::Lines;
    fn codec(&self) -> switchboard::codec::Lines {
        switchboard::codec::Lines::new(256)
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        out.reply(format!("echo {line}"));
    }
    fn on_open(&mut self, out: &mut Outbox<String>) {
        out.reply("hello".to_owned());
    }
    fn group_encoder(&self) -> Option<switchboard::GroupEncoder> {
        Some(switchboard::GroupEncoder::new(|group, message| {
            let text = String::from_utf8_lossy(message);
            Ok(bytes::Bytes::from(format!("{group}: {text}\n")))
        }))
    }
}

//! What the library's integration tests share: small test protocols (`TestProto`,
//! `Talk`) and the removal recorder, plus the scaffolding of `switchboard-testkit`
//! re-exported (bounded waits, the line client), so a test needs only `mod common;`.
#![allow(dead_code, unused_imports)]

use bytes::BytesMut;
use std::time::Duration;
use switchboard::{ConnectionRemoved, Inbound, Outbox, Protocol, RemovalReason};
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

pub use switchboard_testkit::{eventually, until, LineClient, Recording, TestCert, WAIT};

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

/// Subscribes a fresh recorder to the removals of `board`'s switchboard; its
/// [`Recording::seen`] is what it recorded, everything announced before the call
/// included.
pub fn record_removals(board: &switchboard::Handle) -> Recording<ConnectionRemoved> {
    let removed = Recording::start();
    board.subscribe(removed.recipient());
    removed
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

//! Every event of a connection is logged inside its span: a subscriber sees the
//! connection's id, peer and protocol on it, and its user once it authenticated.

mod common;

use common::LineClient;
use std::io::Write;
use std::sync::{Arc, Mutex};
use switchboard::codec::Lines;
use switchboard::config::SwitchboardConfig;
use switchboard::identity::Permissions;
use switchboard::{Outbox, Protocol, SendError, Switchboard, User};

/// Echoes lines; `AUTH <name>` authenticates.
struct Talk;

impl Protocol for Talk {
    const NAME: &'static str = "talk";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(64)
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        if let Some(name) = line.strip_prefix("AUTH ") {
            out.authenticate(User::new(name, Permissions::all()))
                .unwrap();
        }
        out.reply(line);
    }
}

/// Where the subscriber writes: a shared buffer the test reads.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_rt::test]
async fn a_connections_events_carry_its_id_peer_and_protocol() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = board.listen(listener, || Talk).unwrap().local_addr;
    let mut client = LineClient::connect(addr).await;
    client.send("hi").await;
    assert_eq!(client.recv().await.as_deref(), Some("hi"));
    let member = board.handle().list(None).await.unwrap().remove(0);

    // The codec refuses a line break inside a line: logged by the connection.
    let refused = board
        .handle()
        .send_to::<Talk>(member.id, "two\nlines".to_owned())
        .await;
    assert!(matches!(refused, Err(SendError::Encode(_))), "{refused:?}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("encode failed"))
        .unwrap_or_else(|| panic!("no encode failure logged in:\n{text}"));
    let span = format!(
        "connection{{id={} peer={} protocol=\"talk\"}}",
        member.id, member.peer
    );
    assert!(line.contains(&span), "{line:?} lacks {span:?}");

    // Once it authenticated, its events carry its user too.
    client.send("AUTH alice").await;
    assert_eq!(client.recv().await.as_deref(), Some("AUTH alice"));
    captured.0.lock().unwrap().clear();
    let refused = board
        .handle()
        .send_to::<Talk>(member.id, "two\nlines".to_owned())
        .await;
    assert!(matches!(refused, Err(SendError::Encode(_))), "{refused:?}");
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("encode failed"))
        .unwrap_or_else(|| panic!("no encode failure logged in:\n{text}"));
    let span = format!(
        "connection{{id={} peer={} protocol=\"talk\" user=\"alice\"}}",
        member.id, member.peer
    );
    assert!(line.contains(&span), "{line:?} lacks {span:?}");
}

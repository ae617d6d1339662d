//! The memory one WebSocket connection holds at rest, per candidate: after the
//! handshake, one 64-byte text message read and one written, what stays allocated on
//! the heap, plus the size of the value itself (which lives inside the connection).
//! `cargo run --release -p ws-candidates --bin at-rest`

use futures_util::{FutureExt, SinkExt, StreamExt};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use ws_candidates::feed::Feed;
use ws_candidates::wire::text;

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Runs `connection` (which builds a server on the feed, reads one message and writes
/// one, and hands the server back) and reports the heap it keeps and its size.
fn measure<T>(name: &str, connection: impl FnOnce(Feed) -> T) {
    let feed = Feed::default();
    feed.load(&[0; 4096]);
    let before = live();
    let server = connection(feed.clone());
    let held = live() - before;
    println!(
        "| {name} | {held} | {} | {} |",
        std::mem::size_of::<T>(),
        held + std::mem::size_of::<T>() as isize
    );
    drop(server);
}

fn main() {
    let message = text(&[b'm'; 64]);
    let reply = vec![b'r'; 64];
    println!("| candidate | heap held at rest (B) | size of the value (B) | total (B) |");
    println!("|---|---|---|---|");

    measure("switchboard (Session)", |feed| {
        use switchboard::websocket::{
            encode_message, Event, HandshakeConfig, MessageKind, Session,
        };
        let mut session = Session::new(HandshakeConfig::default(), 8192, Some(MessageKind::Text));
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        let Some(Event::Accepted(accepted)) = session.poll(&mut buf) else {
            panic!("handshake");
        };
        drop(accepted);
        buf.extend_from_slice(&message);
        let Some(Event::Message(m)) = session.poll(&mut buf) else {
            panic!("message");
        };
        drop(m);
        // The connection's read buffer is freed once empty, its queue once written.
        drop(buf);
        let mut out = bytes::BytesMut::new();
        encode_message(MessageKind::Text, &reply, &mut out);
        drop(out);
        let _ = feed;
        session
    });

    measure("tungstenite 0.30 (default config)", |feed| {
        use tungstenite::protocol::{Role, WebSocket};
        use tungstenite::Message;
        let mut ws = WebSocket::from_raw_socket(feed.clone(), Role::Server, None);
        feed.load(&message);
        let m = ws.read().expect("message");
        drop(m);
        ws.send(Message::Text(
            String::from_utf8(reply.clone()).unwrap().into(),
        ))
        .expect("sent");
        ws
    });

    measure("tokio-websockets 0.13 (default limits)", |feed| {
        use tokio_websockets::{Message, ServerBuilder};
        let mut ws = ServerBuilder::new().serve(feed.clone());
        feed.load(&message);
        let m = ws
            .next()
            .now_or_never()
            .flatten()
            .expect("message")
            .expect("valid");
        drop(m);
        ws.send(Message::text(String::from_utf8(reply.clone()).unwrap()))
            .now_or_never()
            .expect("ready")
            .expect("sent");
        ws
    });

    measure("fastwebsockets 0.10 (FragmentCollector)", |feed| {
        use fastwebsockets::{FragmentCollector, Frame, Payload, Role, WebSocket};
        let ws = WebSocket::after_handshake(feed.clone(), Role::Server);
        let mut ws = FragmentCollector::new(ws);
        feed.load(&message);
        {
            let frame = ws
                .read_frame()
                .now_or_never()
                .expect("ready")
                .expect("message");
            drop(frame);
        }
        ws.write_frame(Frame::text(Payload::Borrowed(&reply)))
            .now_or_never()
            .expect("ready")
            .expect("sent");
        ws
    });
}

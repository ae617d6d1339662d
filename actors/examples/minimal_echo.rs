//! The shortest useful embedding: a line echo server on Switchboard.
//!
//! Run it with `cargo run -p switchboard --example minimal_echo [ADDR]` and talk to it
//! with `nc 127.0.0.1 7000`. Every connection gets a byte-bounded outbound queue, an
//! error-packet counter (three empty lines and it is removed), an idle timeout and
//! a drain on Ctrl-C, from the library's defaults.

use switchboard::codec::Lines;
use switchboard::{Outbox, Protocol, Switchboard, SwitchboardConfig};

/// Echoes every line; an empty line is an error packet.
struct Echo;

impl Protocol for Echo {
    const NAME: &'static str = "echo";
    type Request = String;
    type Response = String;
    type Codec = Lines;

    fn codec(&self) -> Lines {
        Lines::new(8192)
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        match line.as_str() {
            "" => out.bad_packet("empty line"),
            _ => out.reply(line),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7000".into());
    let addr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let board = Switchboard::start(SwitchboardConfig::default());
    let listener = board.listen(switchboard::bind(addr)?, || Echo)?;
    println!("listening echo {}", listener.local_addr);
    tokio::signal::ctrl_c().await?;
    listener.stop();
    board.shutdown().await; // flushes every connection, then returns
    Ok(())
}

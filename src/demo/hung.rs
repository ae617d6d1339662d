//! A backend that hangs: it accepts connections and never reads or answers, so the
//! front server's health checks go unanswered and it removes every connection to it
//! with reason `health_check` (and redials, and removes the next one the same way).

use std::collections::VecDeque;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

/// Accepted connections kept open at most; older ones are let go.
const MAX_HELD: usize = 64;

/// The hanging backend: where it listens, and the task accepting there.
pub struct Hung {
    /// Its address, to configure as a backend.
    pub addr: SocketAddr,
    /// The accepting task, aborted on [`Hung::stop`].
    task: actix_rt::task::JoinHandle<()>,
}

impl Hung {
    /// Listens on a free loopback port and starts accepting.
    pub async fn start() -> std::io::Result<Hung> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let task = actix_rt::spawn(async move {
            // Held, never read: the peer's packets sit in the socket buffers.
            let mut held: VecDeque<TcpStream> = VecDeque::new();
            while let Ok((stream, _)) = listener.accept().await {
                if held.len() >= MAX_HELD {
                    held.pop_front();
                }
                held.push_back(stream);
            }
        });
        Ok(Hung { addr, task })
    }

    /// Stops accepting and closes what it holds.
    pub fn stop(&self) {
        self.task.abort();
    }
}

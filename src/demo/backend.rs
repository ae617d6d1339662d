//! The demo's backends: small in-process servers speaking `frame` that the front server
//! dials, which the demo kills and restarts on the same port.

use crate::config::Config;
use crate::protocols::frame::FrameProtocol;
use std::net::SocketAddr;
use switchboard::{ListenerHandle, Switchboard, SwitchboardConfig};

/// A backend: a small in-process server speaking `frame`, which can be killed.
pub(super) struct Backend {
    /// Where it listens (the same port after a restart).
    pub(super) addr: SocketAddr,
    /// Its switchboard and listener while it runs.
    pub(super) running: Option<(Switchboard, ListenerHandle)>,
}

impl Backend {
    pub(super) fn start(addr: SocketAddr) -> std::io::Result<Backend> {
        let mut backend = Backend {
            addr,
            running: None,
        };
        backend.restart()?;
        Ok(backend)
    }

    pub(super) fn restart(&mut self) -> std::io::Result<()> {
        let board = Switchboard::start(SwitchboardConfig::default().with_workers(0));
        let listener = board.listen(switchboard::bind(self.addr)?, || {
            FrameProtocol::new(Config::default().max_frame)
        })?;
        self.addr = listener.local_addr;
        self.running = Some((board, listener));
        Ok(())
    }

    pub(super) async fn kill(&mut self) {
        if let Some((board, listener)) = self.running.take() {
            listener.stop();
            board.shutdown().await;
        }
    }
}

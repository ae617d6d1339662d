//! Peers that connect and hang up at once (load-balancer probes, port scans) are
//! counted like any other connection and logged at `debug`, never above.

mod support;

use support::*;
use tokio::net::TcpStream;

#[tokio::test]
async fn connect_then_hang_up_is_counted_and_kept_out_of_the_log() {
    let (server, log) = Server::start_logged("", "info");
    let mut probes = 0;
    for addr in [server.frame, server.line] {
        for i in 0..10 {
            let stream = TcpStream::connect(addr).await.expect("connect");
            if i % 2 == 0 {
                // A reset rather than a close.
                stream.set_zero_linger().expect("linger");
            }
            drop(stream);
            probes += 1;
        }
    }
    let mut observer = FrameClient::connect(server.frame).await;
    let snap = stats_until(&mut observer, "every probe removed", |s| {
        let removed = &s["removed_total"];
        removed["peer_closed"].as_u64().unwrap_or(0) + removed["io_error"].as_u64().unwrap_or(0)
            == probes
    })
    .await;
    assert_eq!(snap["accepted_total"], probes + 1, "{snap}");
    assert_eq!(snap["connections"]["frame"], 1, "{snap}");

    // A real client that talks and then hangs up is still reported at info.
    let mut talker = FrameClient::connect(server.frame).await;
    talker.ready().await;
    drop(talker);
    stats_until(&mut observer, "the talker removed", |s| {
        s["accepted_total"] == probes + 2 && s["connections"]["frame"] == 1
    })
    .await;
    let mut lines = Vec::new();
    wait_until("the talker's removal in the log", WAIT, || {
        lines.extend(log.try_iter());
        lines.iter().any(|l| l.contains("removed"))
    });
    let removals: Vec<&String> = lines.iter().filter(|l| l.contains("removed")).collect();
    assert_eq!(
        removals.len(),
        1,
        "only the talker's removal is logged: {removals:?}"
    );
    // (On a machine whose open-file limit is below `max_connections`, the start warns
    // once about that; it is not about the probes.)
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("WARN") || l.contains("open-file limit")),
        "nothing at warn: {lines:?}"
    );
}

//! A connection's own BROADCAST copies are queued in order with its replies: the reply
//! to a request sent after the broadcasts comes after every copy.

mod support;

use support::*;

#[tokio::test]
async fn own_broadcast_copies_arrive_before_the_reply_to_a_later_ping() {
    let server = Server::start("");
    let mut client = FrameClient::connect(server.frame).await;
    client.ready().await;
    let mut burst = Vec::new();
    for i in 0..500u32 {
        burst.extend(encode(BROADCAST, &i.to_be_bytes()));
    }
    burst.extend(encode(PING, b"after"));
    client.send_raw(&burst).await;
    for i in 0..500u32 {
        let (opcode, payload) = client.recv().await;
        assert_eq!(
            (opcode, payload.as_slice()),
            (BROADCAST, &i.to_be_bytes()[..]),
            "copy {i} of 500 before anything else"
        );
    }
    assert_eq!(client.recv().await, (PONG, b"after".to_vec()));
}

//! The cap on named groups (`max_groups_total`) over loopback: a join that would create
//! one group too many is refused with a reason the handler answers, a group that exists
//! takes any number of members, groups that empty free their places, and joins racing on
//! two worker threads never pass the cap together.

mod common;

use common::{eventually, LineClient};
use switchboard::codec::Lines;
use switchboard::{
    ListenerHandle, Outbox, Protocol, Refusal, SendError, Switchboard, SwitchboardConfig,
};
use tokio::io::AsyncWriteExt;

/// `JOIN <group>`, `LEAVE <group>`, `ECHO <text>`.
struct Rooms;

impl Protocol for Rooms {
    const NAME: &'static str = "rooms";
    type Request = String;
    type Response = String;
    type Codec = Lines;

    fn codec(&self) -> Lines {
        Lines::new(256)
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        let (command, arg) = line.split_once(' ').unwrap_or((&line, ""));
        match command {
            "JOIN" => match out.try_join(arg) {
                Ok(_) => out.reply(format!("JOINED {arg}")),
                Err(refusal) => out.reply(format!("ERR {refusal}")),
            },
            "LEAVE" => {
                out.leave(arg);
                out.reply(format!("LEFT {arg}"));
            }
            _ => out.reply(arg.to_owned()),
        }
    }
}

fn serve(workers: usize, max_groups_total: usize) -> (Switchboard, ListenerHandle) {
    let config = SwitchboardConfig::default()
        .with_workers(workers)
        .with_max_groups_total(max_groups_total);
    let board = Switchboard::start(config);
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = board.listen(listener, || Rooms).unwrap();
    (board, listener)
}

async fn says(client: &mut LineClient, line: &str, answer: &str) {
    client.send(line).await;
    assert_eq!(
        client.recv().await.as_deref(),
        Some(answer),
        "after {line:?}"
    );
}

const FULL: &str = "ERR too many groups on this server";

#[actix_rt::test]
async fn a_join_past_the_cap_is_refused_and_places_free_up_as_groups_empty() {
    let (board, listener) = serve(1, 2);
    let addr = listener.local_addr;
    let (mut a, mut b) = (
        LineClient::connect(addr).await,
        LineClient::connect(addr).await,
    );
    says(&mut a, "JOIN one", "JOINED one").await;
    says(&mut a, "JOIN two", "JOINED two").await;
    says(&mut b, "JOIN three", FULL).await;
    // A group that exists takes more members: that creates nothing.
    says(&mut b, "JOIN one", "JOINED one").await;
    // The application is refused alike.
    let id = board.handle().list(None).await.unwrap()[0].id;
    assert_eq!(
        board.handle().join(id, "three").await,
        Err(SendError::Refused(Refusal::TooManyGroups))
    );
    // One leaving is not enough while another member stays; the last one is.
    says(&mut a, "LEAVE one", "LEFT one").await;
    says(&mut b, "JOIN three", FULL).await;
    says(&mut b, "LEAVE one", "LEFT one").await;
    says(&mut b, "JOIN three", "JOINED three").await;
    // A removed connection leaves its groups' counts too.
    drop(a);
    let mut c = LineClient::connect(addr).await;
    eventually("two's place freed", || async {
        board.handle().groups().await.unwrap().len() == 1
    })
    .await;
    says(&mut c, "JOIN four", "JOINED four").await;
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn joins_racing_on_two_workers_never_create_a_group_past_the_cap() {
    let (board, listener) = serve(2, 1);
    for round in 0..20 {
        // Consecutive connections go to the two workers in turn.
        let addr = listener.local_addr;
        let mut clients = [
            LineClient::connect(addr).await,
            LineClient::connect(addr).await,
        ];
        for client in &mut clients {
            says(client, "ECHO ready", "ready").await;
        }
        let (a, b) = clients.split_at_mut(1);
        let (join_a, join_b) = (format!("JOIN a{round}\n"), format!("JOIN b{round}\n"));
        let (ra, rb) = tokio::join!(
            a[0].writer.write_all(join_a.as_bytes()),
            b[0].writer.write_all(join_b.as_bytes())
        );
        ra.unwrap();
        rb.unwrap();
        let mut answers = Vec::new();
        for client in &mut clients {
            answers.push(client.recv().await.unwrap());
        }
        let joined = answers.iter().filter(|a| a.starts_with("JOINED")).count();
        assert_eq!(joined, 1, "round {round}: {answers:?}");
        assert!(
            answers.iter().any(|a| a == FULL),
            "round {round}: {answers:?}"
        );
        // Both hang up: the group they made is gone before the next round.
        drop(clients);
        eventually("the group emptied", || async {
            board.handle().groups().await.unwrap().is_empty()
        })
        .await;
    }
    listener.stop();
    board.shutdown().await;
}

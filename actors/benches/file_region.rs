//! A 64 MiB file sent to a peer two ways through the same connection actor:
//! zero-copy with a `FileRegion` (sendfile), or read into memory and queued as bytes.
//!
//! Run: `cargo bench -p switchboard --bench file_region`. Each iteration asks a
//! Switchboard connection on loopback for the whole file and reads it to the end.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use switchboard::{FileRegion, Inbound, Outbox, Protocol, Switchboard, SwitchboardConfig};
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

const FILE_SIZE: usize = 64 * 1024 * 1024;

/// `SENDFILE path` answers with the file zero-copy; `READ path` reads it into memory.
struct FileServer;

struct Codec(LinesCodec);

impl Decoder for Codec {
    type Item = Inbound<String>;
    type Error = LinesCodecError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        Ok(self.0.decode(src)?.map(Inbound::Request))
    }
}

impl Encoder<Bytes> for Codec {
    type Error = std::io::Error;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&item);
        Ok(())
    }
}

impl Protocol for FileServer {
    const NAME: &'static str = "files";
    type Request = String;
    type Response = Bytes;
    type Codec = Codec;

    fn codec(&self) -> Codec {
        Codec(LinesCodec::new_with_max_length(4096))
    }

    fn handle(&mut self, line: String, out: &mut Outbox<Bytes>) {
        match line.split_once(' ') {
            Some(("SENDFILE", path)) => match FileRegion::open(path) {
                Ok(region) => out.send_file(region),
                Err(e) => out.bad_packet(e.to_string()),
            },
            Some(("READ", path)) => match std::fs::read(path) {
                Ok(data) => out.reply(Bytes::from(data)),
                Err(e) => out.bad_packet(e.to_string()),
            },
            _ => out.bad_packet("unknown command"),
        }
    }
}

fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let mut config = SwitchboardConfig::default().with_workers(1);
            // The in-memory variant queues the whole file at once.
            config.connection.max_outbound_bytes = 2 * FILE_SIZE;
            let board = Switchboard::start(config);
            let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let handle = board.listen(listener, || FileServer).unwrap();
            tx.send(handle.local_addr).unwrap();
            std::future::pending::<()>().await;
        })
    });
    rx.recv().unwrap()
}

fn fetch(conn: &mut BufReader<TcpStream>, command: &str, buf: &mut [u8]) {
    conn.get_mut().write_all(command.as_bytes()).unwrap();
    conn.read_exact(buf).unwrap();
}

fn bench(c: &mut Criterion) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let chunk: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..FILE_SIZE / chunk.len() {
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
    let addr = start_server();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut conn = BufReader::with_capacity(256 * 1024, stream);
    let mut buf = vec![0u8; FILE_SIZE];
    let path = file.path().display().to_string();

    let mut group = c.benchmark_group("file_64MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(FILE_SIZE as u64));
    for (name, command) in [("sendfile", "SENDFILE"), ("read_into_memory", "READ")] {
        let line = format!("{command} {path}\n");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    fetch(&mut conn, &line, &mut buf);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

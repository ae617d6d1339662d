//! TLS client certificates, with a real rustls client and certificates made by rcgen:
//! a listener whose configuration has a client-certificate verifier (built with
//! `tls::client_verifier` from a PEM bundle) hands the handler the verified chain in
//! `on_open`; a client without a certificate, or with one from another CA, fails its
//! handshake and the handler never sees it.

mod common;

use common::{eventually, record_removals};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::rustls::crypto::ring;
use switchboard::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use switchboard::rustls::{self, ClientConfig, ClientConnection, RootCertStore, ServerConfig};
use switchboard::{Outbox, Protocol, RemovalReason, Switchboard, SwitchboardConfig};

/// What the handlers saw in `on_open`: each connection's peer chain, as DER.
type Seen = Arc<Mutex<Vec<Option<Vec<Vec<u8>>>>>>;

/// Says `hello <n certificates>` when it opens, records the chain, echoes lines.
struct Greeter(Seen);

impl Protocol for Greeter {
    const NAME: &'static str = "greeter";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(256)
    }
    fn on_open(&mut self, out: &mut Outbox<String>) {
        let chain = out.peer_certificates().map(|chain| {
            chain
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect::<Vec<_>>()
        });
        let n = chain.as_ref().map_or(0, Vec::len);
        self.0.lock().unwrap().push(chain);
        out.reply(format!("hello {n}"));
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        out.reply(line);
    }
}

/// A certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Ca {
            cert: params.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A certificate for `name` signed by this CA, and its key.
    fn issue(
        &self,
        name: &str,
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let key = PrivatePkcs8KeyDer::from(key.serialize_der());
        (cert.der().clone(), key.into())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A server config for `localhost` issued by `ca`, requiring client certificates from
/// the CAs in `client_cas` (a PEM bundle), or none if `None`.
fn server_config(ca: &Ca, client_cas: Option<&str>) -> Arc<ServerConfig> {
    let (cert, key) = ca.issue("localhost", rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let config = match client_cas {
        Some(pem) => {
            let verifier = switchboard::tls::client_verifier(pem.as_bytes()).unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(vec![cert], key)
        }
        None => builder
            .with_no_client_auth()
            .with_single_cert(vec![cert], key),
    };
    Arc::new(config.unwrap())
}

/// A client trusting `ca` for the server, presenting `identity` if given.
fn client_config(
    ca: &Ca,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// Connects, says `ping`, and reads lines until the end or an error (5 s at most
/// per read); answers the lines read, or the error that ended them.
fn talk(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Vec<String>, String> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream.write_all(b"ping\n").map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(lines),
            Ok(_) => lines.push(line.trim_end().to_owned()),
            Err(_) if lines.len() == 2 => return Ok(lines),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn start(config: Arc<ServerConfig>) -> (Switchboard, SocketAddr, Seen) {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = board
        .listen_tls(listener, config, move || Greeter(recorder.clone()))
        .unwrap()
        .local_addr;
    (board, addr, seen)
}

#[actix_rt::test]
async fn the_handler_sees_the_verified_client_chain_when_the_connection_opens() {
    let (servers, clients) = (Ca::new("server CA"), Ca::new("client CA"));
    let (board, addr, seen) = start(server_config(&servers, Some(&clients.cert.pem())));
    let alice = clients.issue("alice", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let alice_der = alice.0.as_ref().to_vec();
    let config = client_config(&servers, Some(alice));
    let lines = tokio::task::spawn_blocking(move || talk(addr, config))
        .await
        .unwrap();
    // The greeting comes first, then the echo: `on_open` ran before the request.
    assert_eq!(
        lines.as_deref().map(|l| &l[..2]),
        Ok(&["hello 1".to_owned(), "ping".to_owned()][..])
    );
    assert_eq!(*seen.lock().unwrap(), [Some(vec![alice_der])]);
    drop(board);
}

#[actix_rt::test]
async fn a_client_without_a_good_certificate_fails_its_handshake_unseen() {
    let (servers, clients) = (Ca::new("server CA"), Ca::new("client CA"));
    let (board, addr, seen) = start(server_config(&servers, Some(&clients.cert.pem())));
    let removed = record_removals(board.handle());
    // No certificate at all; then one from a CA the server does not trust.
    let anonymous = client_config(&servers, None);
    let stranger =
        Ca::new("another CA").issue("mallory", rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let forged = client_config(&servers, Some(stranger));
    for config in [anonymous, forged] {
        let outcome = tokio::task::spawn_blocking(move || talk(addr, config))
            .await
            .unwrap();
        assert!(
            !matches!(&outcome, Ok(lines) if !lines.is_empty()),
            "served without a good certificate: {outcome:?}"
        );
    }
    eventually("both removed", || {
        let removed = removed.clone();
        async move { removed.seen().await.len() == 2 }
    })
    .await;
    for removal in removed.seen().await.iter() {
        assert_eq!(removal.reason, RemovalReason::TlsHandshake);
    }
    assert!(seen.lock().unwrap().is_empty(), "on_open never ran");
}

#[actix_rt::test]
async fn without_client_authentication_there_is_no_peer_chain() {
    let servers = Ca::new("server CA");
    let (_board, addr, seen) = start(server_config(&servers, None));
    let config = client_config(&servers, None);
    let lines = tokio::task::spawn_blocking(move || talk(addr, config))
        .await
        .unwrap();
    assert_eq!(
        lines.as_deref().map(|l| &l[..1]),
        Ok(&["hello 0".to_owned()][..])
    );
    assert_eq!(*seen.lock().unwrap(), [None]);
}

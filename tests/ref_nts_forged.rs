//! ppsd's NTS client against a fake NTS server that misbehaves on purpose: forged
//! authenticators, a wrong unique identifier, an NTS NAK. The fake speaks real NTS-KE over
//! rustls (TLS 1.3, ALPN `ntske/1`, keys exported with the RFC's label) so the client runs its
//! full path; a genuine mode proves the fake is right, so the refusals are the client's.
//! Everything runs on 127.0.0.1 with bounded waits; the host clock is only read.

mod ref_util;

use aes_siv::siv::Aes128Siv;
use aes_siv::KeyInit;
use ppsd::reference::drive;
use ppsd::reference::ntp::packet::{Mode, NtpHeader, NtpTimestamp};
use ppsd::reference::nts::fields::{
    self, AeadKey, AUTHENTICATOR, COOKIE_PLACEHOLDER, NTS_COOKIE, UNIQUE_IDENTIFIER,
};
use ppsd::reference::nts::ke::{key_exchange, KeConfig};
use ppsd::reference::nts::records::{self, Record};
use ppsd::reference::nts::NtsSession;
use ppsd::reference::{realtime_now, LeapIndicator, RefErrorKind, ReferenceId};
use ref_util::{test_pki, TempDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How the fake answers NTS-protected NTP requests.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// Correct replies.
    Genuine,
    /// Replies sealed with a key that is not the session's.
    BadAuthenticator,
    /// Correctly sealed replies carrying another unique identifier.
    WrongUid,
    /// A forged reply first, then the genuine one.
    ForgedThenGenuine,
    /// An NTS NAK: our cookie is refused.
    Nak,
}

struct FakeNts {
    ke_port: u16,
    ca: std::path::PathBuf,
    requests_verified: Arc<AtomicUsize>,
    _dir: TempDir,
}

const TLS_LABEL: &[u8] = b"EXPORTER-network-time-security";

impl FakeNts {
    fn start(behaviour: Behaviour) -> FakeNts {
        let dir = TempDir::new("ppsd-ref-fake-nts");
        let pki = test_pki(dir.path(), "fake");
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ke_port = listener.local_addr().unwrap().port();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        config.alpn_protocols = vec![b"ntske/1".to_vec()];
        let (keys_tx, keys_rx) = mpsc::channel();
        std::thread::spawn(move || serve_ke(listener, Arc::new(config), udp_port, keys_tx));
        let requests_verified = Arc::new(AtomicUsize::new(0));
        let counter = requests_verified.clone();
        std::thread::spawn(move || serve_ntp(udp, keys_rx, behaviour, counter));
        FakeNts {
            ke_port,
            ca: pki.ca,
            requests_verified,
            _dir: dir,
        }
    }

    fn session(&self) -> NtsSession {
        let mut cfg = KeConfig::new("127.0.0.1", self.ke_port);
        cfg.ca_file = Some(self.ca.clone());
        key_exchange(&cfg).expect("NTS-KE with the fake server")
    }
}

/// One NTS-KE exchange: read the request, answer with eight cookies and our UDP port, and
/// hand the exported keys to the NTP side.
fn serve_ke(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    udp_port: u16,
    keys: mpsc::Sender<(AeadKey, AeadKey)>,
) {
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    'read: loop {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "client closed before End of Message");
        request.extend_from_slice(&buf[..n]);
        let mut at = 0;
        while let Some((record, len)) = records::decode(&request[at..]).unwrap() {
            at += len;
            if record == Record::EndOfMessage {
                break 'read;
            }
        }
    }
    assert_eq!(request, records::client_request(), "client request records");
    let export = |dir: u8| {
        let out = tls
            .conn
            .export_keying_material([0u8; 32], TLS_LABEL, Some(&[0, 0, 0, 15, dir]))
            .unwrap();
        AeadKey(out)
    };
    let (c2s, s2c) = (export(0), export(1));
    let mut response = Vec::new();
    for r in [
        Record::NextProtocol(vec![0]),
        Record::AeadAlgorithm(vec![15]),
    ] {
        records::encode(&r, &mut response);
    }
    for i in 0..8u8 {
        records::encode(&Record::NewCookie(vec![i; 72]), &mut response);
    }
    records::encode(&Record::Server("127.0.0.1".into()), &mut response);
    records::encode(&Record::Port(udp_port), &mut response);
    records::encode(&Record::EndOfMessage, &mut response);
    tls.write_all(&response).unwrap();
    tls.flush().unwrap();
    keys.send((c2s, s2c)).unwrap();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// Answers NTS requests for up to 10 s as `behaviour` says.
fn serve_ntp(
    udp: UdpSocket,
    keys: mpsc::Receiver<(AeadKey, AeadKey)>,
    behaviour: Behaviour,
    verified: Arc<AtomicUsize>,
) {
    let Ok((c2s, s2c)) = keys.recv_timeout(Duration::from_secs(10)) else {
        return;
    };
    udp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        let Ok((n, peer)) = udp.recv_from(&mut buf) else {
            continue;
        };
        let req = &buf[..n];
        let (uid, placeholders) = check_request(req, &c2s);
        verified.fetch_add(1, Ordering::SeqCst);
        let origin = NtpHeader::decode(req).unwrap().transmit_ts;
        let cookies = 1 + placeholders;
        let replies = match behaviour {
            Behaviour::Genuine => vec![reply(origin, &uid, &s2c, cookies)],
            Behaviour::BadAuthenticator => vec![reply(origin, &uid, &AeadKey([0x5a; 32]), cookies)],
            Behaviour::WrongUid => {
                let mut other = uid.clone();
                other[0] ^= 0xff;
                vec![reply(origin, &other, &s2c, cookies)]
            }
            Behaviour::ForgedThenGenuine => vec![
                reply(origin, &uid, &AeadKey([0x5a; 32]), cookies),
                reply(origin, &uid, &s2c, cookies),
            ],
            Behaviour::Nak => vec![nak(origin, &uid)],
        };
        for r in replies {
            udp.send_to(&r, peer).unwrap();
        }
    }
}

/// Checks the client's request as a server must, returning its UID and placeholder count.
fn check_request(req: &[u8], c2s: &AeadKey) -> (Vec<u8>, usize) {
    let parsed = fields::parse_fields(req, 48).unwrap();
    let uid = parsed
        .iter()
        .find(|f| f.field_type == UNIQUE_IDENTIFIER)
        .expect("UID")
        .body
        .to_vec();
    assert_eq!(uid.len(), 32);
    assert_eq!(
        parsed.iter().filter(|f| f.field_type == NTS_COOKIE).count(),
        1,
        "exactly one cookie"
    );
    let placeholders = parsed
        .iter()
        .filter(|f| f.field_type == COOKIE_PLACEHOLDER)
        .count();
    let auth = parsed
        .iter()
        .find(|f| f.field_type == AUTHENTICATOR)
        .expect("authenticator");
    let nonce_len = usize::from(u16::from_be_bytes([auth.body[0], auth.body[1]]));
    let ct_len = usize::from(u16::from_be_bytes([auth.body[2], auth.body[3]]));
    let nonce = &auth.body[4..4 + nonce_len];
    let ct_at = 4 + nonce_len.div_ceil(4) * 4;
    let ct = &auth.body[ct_at..ct_at + ct_len];
    let mut siv = Aes128Siv::new(&c2s.0.into());
    siv.decrypt([&req[..auth.start], nonce], ct)
        .expect("client authenticator verifies under C2S");
    (uid, placeholders)
}

fn header(
    origin: NtpTimestamp,
    stratum: u8,
    reference_id: [u8; 4],
    leap: LeapIndicator,
) -> Vec<u8> {
    let now = NtpTimestamp::from_unix(realtime_now());
    NtpHeader {
        leap,
        version: 4,
        mode: Mode::Server,
        stratum,
        poll: 0,
        precision: -20,
        root_delay: 0,
        root_dispersion: 0,
        reference_id: ReferenceId(reference_id),
        reference_ts: now,
        origin_ts: origin,
        receive_ts: now,
        transmit_ts: now,
    }
    .encode()
    .to_vec()
}

fn reply(origin: NtpTimestamp, uid: &[u8], key: &AeadKey, cookies: usize) -> Vec<u8> {
    let mut out = header(origin, 1, *b"FAKE", LeapIndicator::NoWarning);
    fields::push_field(&mut out, UNIQUE_IDENTIFIER, uid);
    let mut plain = Vec::new();
    for i in 0..cookies {
        fields::push_field(&mut plain, NTS_COOKIE, &[0xc0 | i as u8; 72]);
    }
    let body = fields::seal(&out, &plain, key, &[0x11; 16]);
    fields::push_field(&mut out, AUTHENTICATOR, &body);
    out
}

fn nak(origin: NtpTimestamp, uid: &[u8]) -> Vec<u8> {
    let mut out = header(origin, 0, *b"NTSN", LeapIndicator::Unsynchronised);
    fields::push_field(&mut out, UNIQUE_IDENTIFIER, uid);
    out
}

#[test]
fn genuine_fake_server_is_accepted() {
    let fake = FakeNts::start(Behaviour::Genuine);
    let mut session = fake.session();
    assert_eq!(session.ntp_server().ip().to_string(), "127.0.0.1");
    let mut q = session.query(Duration::from_secs(2)).unwrap();
    let answer = drive::run(&mut q).unwrap();
    assert_eq!(answer.cookies.len(), 1, "one cookie back for the one used");
    let s = session.accept(answer);
    assert!(s.authenticated);
    assert!(
        s.offset_ns.abs() < 10_000_000,
        "fake serves this host's clock: {}",
        s.offset_ns
    );
    assert_eq!(s.reference_id.to_string(), "FAKE");
    assert_eq!(
        fake.requests_verified.load(Ordering::SeqCst),
        1,
        "server verified our request"
    );
}

#[test]
fn forged_authenticator_is_rejected_and_logged() {
    let fake = FakeNts::start(Behaviour::BadAuthenticator);
    let mut session = fake.session();
    let mut q = session.query(Duration::from_millis(800)).unwrap();
    let err = drive::run(&mut q).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err.kind, RefErrorKind::Timeout { .. }), "{text}");
    assert!(
        text.ends_with("(last answer rejected: authentication failed: reply authenticator does not verify (forged or corrupted))"),
        "{text}"
    );
    let logged = q.take_rejections();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(matches!(logged[0].kind, RefErrorKind::Authentication(_)));
    println!("forged reply: {}", logged[0]);
}

#[test]
fn wrong_unique_identifier_is_rejected_and_logged() {
    let fake = FakeNts::start(Behaviour::WrongUid);
    let mut session = fake.session();
    let mut q = session.query(Duration::from_millis(800)).unwrap();
    let err = drive::run(&mut q).unwrap_err();
    assert!(
        err.to_string()
            .contains("unique identifier differs from the request's"),
        "{err}"
    );
    let logged = q.take_rejections();
    assert_eq!(logged.len(), 1);
    assert!(matches!(logged[0].kind, RefErrorKind::Mismatch(_)));
    println!("wrong unique identifier: {}", logged[0]);
}

#[test]
fn forged_reply_does_not_cancel_the_genuine_one() {
    let fake = FakeNts::start(Behaviour::ForgedThenGenuine);
    let mut session = fake.session();
    let mut q = session.query(Duration::from_secs(2)).unwrap();
    let answer = drive::run(&mut q).unwrap();
    assert!(answer.sample.authenticated);
    let logged = q.take_rejections();
    assert_eq!(logged.len(), 1, "the forged one was logged");
    assert!(matches!(logged[0].kind, RefErrorKind::Authentication(_)));
}

#[test]
fn nts_nak_ends_the_session() {
    let fake = FakeNts::start(Behaviour::Nak);
    let mut session = fake.session();
    let err = drive::run(&mut session.query(Duration::from_secs(2)).unwrap()).unwrap_err();
    assert_eq!(err.kind, RefErrorKind::NtsNak, "{err}");
}

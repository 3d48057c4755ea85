//! NTS Key Establishment client (RFC 8915 §4) over TLS 1.3 with rustls (ring provider).
//!
//! [`key_exchange`] connects to the NTS-KE server, verifies its certificate against the
//! system trust store or a configured CA file, requires ALPN `ntske/1`, sends the request
//! records, reads the response, and exports the two AEAD keys from the TLS session with the
//! RFC's exporter label and context. It blocks (TCP connect, TLS handshake, DNS) for at most
//! the configured timeout, so the daemon runs it on a worker thread ([`spawn_key_exchange`]),
//! never on the pulse path. The keys never leave this process and are not printed.

use super::fields::AeadKey;
use super::records::{
    client_request, ResponseParser, AEAD_AES_SIV_CMAC_256, DEFAULT_NTP_PORT, PROTOCOL_NTPV4,
};
use super::NtsSession;
use crate::reference::{RefError, RefErrorKind, SourceKind};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The TLS exporter label NTS keys are derived with.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";
/// The ALPN protocol id of NTS-KE.
const ALPN: &[u8] = b"ntske/1";

/// Where and how to run NTS-KE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeConfig {
    /// Server host name (checked against its certificate) or IP address.
    pub host: String,
    /// NTS-KE TCP port (4460 by default).
    pub port: u16,
    /// PEM file of CA certificates to trust instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// Bound on the whole exchange: connect, handshake, request and response.
    pub timeout: Duration,
}

impl KeConfig {
    /// A configuration for `host:port` with the system trust store and a 5 s timeout.
    pub fn new(host: impl Into<String>, port: u16) -> KeConfig {
        KeConfig {
            host: host.into(),
            port,
            ca_file: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// The source name samples and errors carry.
    pub fn source_name(&self) -> String {
        format!("{}:{}:{}", SourceKind::Nts, self.host, self.port)
    }
}

/// Runs NTS-KE in a new thread; the receiver yields the one result.
pub fn spawn_key_exchange(cfg: KeConfig) -> mpsc::Receiver<Result<NtsSession, RefError>> {
    let (tx, rx) = mpsc::channel();
    let name = cfg.source_name();
    let spawned = std::thread::Builder::new()
        .name("nts-ke".into())
        .spawn(move || {
            let _ = tx.send(key_exchange(&cfg));
        });
    if let Err(e) = spawned {
        let (tx, rx2) = mpsc::channel();
        let _ = tx.send(Err(RefError::io(name, "spawn", &e)));
        return rx2;
    }
    rx
}

/// Runs NTS-KE with `cfg` and returns a session holding keys, cookies and the NTP server.
/// Blocks for at most `cfg.timeout`.
///
/// # Errors
/// [`RefErrorKind::Tls`] for a handshake or certificate failure, [`RefErrorKind::KeyExchange`]
/// for a refused or malformed negotiation, [`RefErrorKind::Io`] or `Timeout` otherwise.
pub fn key_exchange(cfg: &KeConfig) -> Result<NtsSession, RefError> {
    let name = cfg.source_name();
    let deadline = Instant::now() + cfg.timeout;
    let tls = client_config(cfg).map_err(|k| RefError::new(&name, k))?;
    let server_name = ServerName::try_from(cfg.host.clone()).map_err(|_| {
        RefError::new(
            &name,
            RefErrorKind::Config(format!("{:?} is not a valid host name", cfg.host)),
        )
    })?;
    let conn = rustls::ClientConnection::new(tls, server_name)
        .map_err(|e| RefError::new(&name, RefErrorKind::Tls(e.to_string())))?;
    let tcp = connect(cfg, deadline).map_err(|k| RefError::new(&name, k))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let response =
        exchange(&mut stream, deadline, cfg.timeout).map_err(|k| RefError::new(&name, k))?;
    if stream.conn.alpn_protocol() != Some(ALPN) {
        let why = "server did not negotiate ALPN ntske/1".to_string();
        return Err(RefError::new(&name, RefErrorKind::KeyExchange(why)));
    }
    let c2s = export(&stream.conn, 0).map_err(|k| RefError::new(&name, k))?;
    let s2c = export(&stream.conn, 1).map_err(|k| RefError::new(&name, k))?;
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let ntp_host = response.server.clone().unwrap_or_else(|| cfg.host.clone());
    let ntp_port = response.port.unwrap_or(DEFAULT_NTP_PORT);
    let ntp_server = resolve(&ntp_host, ntp_port).map_err(|k| RefError::new(&name, k))?;
    Ok(NtsSession::new(
        name,
        ntp_server,
        c2s,
        s2c,
        response.cookies,
    ))
}

/// The rustls client configuration: TLS 1.3 only, ring, ALPN `ntske/1`, trusted roots.
fn client_config(cfg: &KeConfig) -> Result<Arc<rustls::ClientConfig>, RefErrorKind> {
    let roots = root_store(cfg)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| RefErrorKind::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// The trust anchors: the CA file if configured, else the system's store.
fn root_store(cfg: &KeConfig) -> Result<rustls::RootCertStore, RefErrorKind> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| RefErrorKind::Config(format!("CA file {shown}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| RefErrorKind::Config(format!("CA file {shown}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| RefErrorKind::Config(format!("CA file {shown}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(RefErrorKind::Config(format!(
                    "CA file {shown} holds no certificate"
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(RefErrorKind::Config(
                    "the system trust store holds no usable CA certificate; configure a CA file"
                        .into(),
                ));
            }
        }
    }
    Ok(roots)
}

/// Connects to the first reachable address of the NTS-KE server before `deadline`.
fn connect(cfg: &KeConfig, deadline: Instant) -> Result<TcpStream, RefErrorKind> {
    let addrs: Vec<SocketAddr> = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| RefErrorKind::Io {
            op: "resolve",
            detail: e.to_string(),
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(RefErrorKind::Io {
        op: "connect",
        detail: last.unwrap_or_else(|| "no address to connect to".into()),
    })
}

/// Sends the request and reads the response, each read bounded by the deadline.
fn exchange(
    stream: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    deadline: Instant,
    timeout: Duration,
) -> Result<super::records::KeResponse, RefErrorKind> {
    let timed_out = || RefErrorKind::Timeout {
        after: timeout,
        rejected: None,
    };
    let set_timeouts = |s: &TcpStream| -> Result<(), RefErrorKind> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        s.set_read_timeout(Some(left))
            .and_then(|()| s.set_write_timeout(Some(left)))
            .map_err(|e| RefErrorKind::Io {
                op: "setsockopt",
                detail: e.to_string(),
            })
    };
    set_timeouts(&stream.sock)?;
    stream
        .write_all(&client_request())
        .map_err(|e| tls_or_io(e, "send"))?;
    stream.flush().map_err(|e| tls_or_io(e, "send"))?;
    let mut parser = ResponseParser::new();
    let mut buf = [0u8; 4096];
    loop {
        set_timeouts(&stream.sock)?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out())
            }
            Err(e) => return Err(tls_or_io(e, "recv")),
        };
        if n == 0 {
            return Err(RefErrorKind::KeyExchange(
                "server closed the connection before End of Message".into(),
            ));
        }
        if let Some(resp) = parser.feed(&buf[..n]).map_err(RefErrorKind::KeyExchange)? {
            return Ok(resp);
        }
    }
}

/// A TLS error inside an I/O error as [`RefErrorKind::Tls`], with a hint for certificates.
fn tls_or_io(e: std::io::Error, op: &'static str) -> RefErrorKind {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            use rustls::CertificateError as C;
            let why = match cert {
                C::UnknownIssuer => {
                    "not signed by a trusted CA (configure the CA file that signed it)".into()
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "not valid for this host name".into()
                }
                C::Expired | C::ExpiredContext { .. } => "expired".into(),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "not valid yet (check the local clock)".into()
                }
                C::Revoked => "revoked".into(),
                other => format!("{other:?}"),
            };
            RefErrorKind::Tls(format!("server certificate refused: {why}"))
        }
        Some(tls) => RefErrorKind::Tls(tls.to_string()),
        None => RefErrorKind::Io {
            op,
            detail: e.to_string(),
        },
    }
}

/// Exports one direction's key: context is protocol id, AEAD id and 0 (C2S) or 1 (S2C).
fn export(conn: &rustls::ClientConnection, direction: u8) -> Result<AeadKey, RefErrorKind> {
    let [p0, p1] = PROTOCOL_NTPV4.to_be_bytes();
    let [a0, a1] = AEAD_AES_SIV_CMAC_256.to_be_bytes();
    let context = [p0, p1, a0, a1, direction];
    conn.export_keying_material([0u8; 32], EXPORTER_LABEL, Some(&context))
        .map(AeadKey)
        .map_err(|e| RefErrorKind::Tls(format!("key export: {e}")))
}

/// Resolves the negotiated NTP server.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, RefErrorKind> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| RefErrorKind::Io {
            op: "resolve",
            detail: format!("{host}: {e}"),
        })?
        .next()
        .ok_or_else(|| RefErrorKind::Io {
            op: "resolve",
            detail: format!("{host}: no address"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_a_clear_configuration_error() {
        let mut cfg = KeConfig::new("localhost", 4460);
        cfg.ca_file = Some("/nonexistent/ca.pem".into());
        let err = key_exchange(&cfg).unwrap_err();
        assert_eq!(err.source, "nts:localhost:4460");
        assert!(matches!(err.kind, RefErrorKind::Config(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn invalid_host_name_is_refused() {
        let err = key_exchange(&KeConfig::new("not a host!", 4460)).unwrap_err();
        assert!(matches!(err.kind, RefErrorKind::Config(_)), "{err}");
    }

    #[test]
    fn connection_refused_is_an_io_error() {
        // Port 1 on loopback: nothing listens there on a test machine.
        let mut cfg = KeConfig::new("127.0.0.1", 1);
        cfg.ca_file = None;
        let err = key_exchange(&cfg).unwrap_err();
        assert!(
            matches!(
                err.kind,
                RefErrorKind::Io { op: "connect", .. } | RefErrorKind::Config(_)
            ),
            "{err}"
        );
    }
}

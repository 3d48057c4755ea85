//! NTS Key Establishment records (RFC 8915 §4), encoded and decoded without I/O.
//!
//! A record is a 16-bit word (critical bit and type), a 16-bit body length and the body. The
//! client sends Next Protocol (NTPv4), AEAD Algorithm (AEAD_AES_SIV_CMAC_256) and End of
//! Message; the server answers with the negotiated protocol and algorithm, cookies, optionally
//! another NTP server and port, and End of Message — or an Error record. [`ResponseParser`]
//! accepts the response as it arrives in pieces and refuses anything the RFC says a client
//! must refuse: an error record, an unknown critical record, a protocol or algorithm we did
//! not offer, a response without cookies.

use std::fmt;

/// NTS Next Protocol id for NTPv4.
pub const PROTOCOL_NTPV4: u16 = 0;
/// AEAD algorithm id of AEAD_AES_SIV_CMAC_256 (RFC 5297), the one NTS servers must support.
pub const AEAD_AES_SIV_CMAC_256: u16 = 15;
/// Default NTS-KE TCP port.
pub const DEFAULT_KE_PORT: u16 = 4460;
/// Default NTP port, when the server does not negotiate another.
pub const DEFAULT_NTP_PORT: u16 = 123;
/// Largest response we accept: eight cookies of a few hundred bytes fit with ample room.
pub const MAX_RESPONSE: usize = 65_536;

const CRITICAL: u16 = 0x8000;
const END_OF_MESSAGE: u16 = 0;
const NEXT_PROTOCOL: u16 = 1;
const ERROR: u16 = 2;
const WARNING: u16 = 3;
const AEAD_ALGORITHM: u16 = 4;
const NEW_COOKIE: u16 = 5;
const SERVER: u16 = 6;
const PORT: u16 = 7;

/// One NTS-KE record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// End of Message.
    EndOfMessage,
    /// Next Protocol Negotiation: protocol ids.
    NextProtocol(Vec<u16>),
    /// Error, with its code.
    Error(u16),
    /// Warning, with its code.
    Warning(u16),
    /// AEAD Algorithm Negotiation: algorithm ids.
    AeadAlgorithm(Vec<u16>),
    /// New Cookie for NTPv4: an opaque cookie.
    NewCookie(Vec<u8>),
    /// NTPv4 Server Negotiation: a host name or address.
    Server(String),
    /// NTPv4 Port Negotiation.
    Port(u16),
    /// A record type this client does not know.
    Unknown {
        /// The type number.
        record_type: u16,
        /// Whether the critical bit was set.
        critical: bool,
    },
}

/// Appends a record with `critical` set as given.
fn push(out: &mut Vec<u8>, record_type: u16, critical: bool, body: &[u8]) {
    let word = record_type | if critical { CRITICAL } else { 0 };
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// The client's request: NTPv4, AEAD_AES_SIV_CMAC_256, End of Message, all critical.
pub fn client_request() -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    push(&mut out, NEXT_PROTOCOL, true, &PROTOCOL_NTPV4.to_be_bytes());
    push(
        &mut out,
        AEAD_ALGORITHM,
        true,
        &AEAD_AES_SIV_CMAC_256.to_be_bytes(),
    );
    push(&mut out, END_OF_MESSAGE, true, &[]);
    out
}

/// Encodes a record (for tests and fake servers): critical where the RFC requires it.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let u16s = |v: &[u16]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    match record {
        Record::EndOfMessage => push(out, END_OF_MESSAGE, true, &[]),
        Record::NextProtocol(p) => push(out, NEXT_PROTOCOL, true, &u16s(p)),
        Record::Error(c) => push(out, ERROR, true, &c.to_be_bytes()),
        Record::Warning(c) => push(out, WARNING, true, &c.to_be_bytes()),
        Record::AeadAlgorithm(a) => push(out, AEAD_ALGORITHM, false, &u16s(a)),
        Record::NewCookie(c) => push(out, NEW_COOKIE, false, c),
        Record::Server(s) => push(out, SERVER, false, s.as_bytes()),
        Record::Port(p) => push(out, PORT, false, &p.to_be_bytes()),
        Record::Unknown {
            record_type,
            critical,
        } => push(out, *record_type, *critical, &[]),
    }
}

/// Decodes the record at the start of `bytes`: `Ok(None)` if it is not complete yet, else the
/// record and its encoded length.
///
/// # Errors
/// A description of a malformed body.
pub fn decode(bytes: &[u8]) -> Result<Option<(Record, usize)>, String> {
    if bytes.len() < 4 {
        return Ok(None);
    }
    let word = u16::from_be_bytes([bytes[0], bytes[1]]);
    let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if bytes.len() < 4 + len {
        return Ok(None);
    }
    let body = &bytes[4..4 + len];
    let (critical, record_type) = (word & CRITICAL != 0, word & !CRITICAL);
    let u16_list = |what: &str| -> Result<Vec<u16>, String> {
        if body.len() % 2 != 0 {
            return Err(format!("{what} record body of odd length {}", body.len()));
        }
        Ok(body
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect())
    };
    let one_u16 = |what: &str| -> Result<u16, String> {
        match body {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(format!(
                "{what} record body of length {}, expected 2",
                body.len()
            )),
        }
    };
    let record = match record_type {
        END_OF_MESSAGE if body.is_empty() => Record::EndOfMessage,
        END_OF_MESSAGE => return Err("End of Message record with a body".into()),
        NEXT_PROTOCOL => Record::NextProtocol(u16_list("Next Protocol")?),
        ERROR => Record::Error(one_u16("Error")?),
        WARNING => Record::Warning(one_u16("Warning")?),
        AEAD_ALGORITHM => Record::AeadAlgorithm(u16_list("AEAD Algorithm")?),
        NEW_COOKIE if body.is_empty() => return Err("empty cookie".into()),
        NEW_COOKIE => Record::NewCookie(body.to_vec()),
        SERVER => match std::str::from_utf8(body) {
            Ok(s) if !s.is_empty() && s.is_ascii() => Record::Server(s.to_string()),
            _ => return Err("Server record is not a non-empty ASCII name".into()),
        },
        PORT => Record::Port(one_u16("Port")?),
        _ => Record::Unknown {
            record_type,
            critical,
        },
    };
    Ok(Some((record, 4 + len)))
}

/// What the server agreed to, with the cookies it issued.
#[derive(Clone, PartialEq, Eq)]
pub struct KeResponse {
    /// Cookies for NTS-protected NTP requests, in the order received.
    pub cookies: Vec<Vec<u8>>,
    /// The NTP server to use, if not the NTS-KE host.
    pub server: Option<String>,
    /// The NTP port to use, if not 123.
    pub port: Option<u16>,
    /// Warning codes the server sent.
    pub warnings: Vec<u16>,
}

impl KeResponse {
    fn empty() -> KeResponse {
        KeResponse {
            cookies: Vec::new(),
            server: None,
            port: None,
            warnings: Vec::new(),
        }
    }
}

impl fmt::Debug for KeResponse {
    /// Cookie contents are secrets of the server's; show only how many.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeResponse")
            .field("cookies", &self.cookies.len())
            .field("server", &self.server)
            .field("port", &self.port)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// The meaning of an NTS-KE error code.
pub fn error_text(code: u16) -> String {
    match code {
        0 => "error 0: unrecognized critical record".into(),
        1 => "error 1: bad request".into(),
        2 => "error 2: internal server error".into(),
        n => format!("error {n}"),
    }
}

/// Collects a server response as bytes arrive.
#[derive(Debug, Default)]
pub struct ResponseParser {
    buf: Vec<u8>,
    protocol: Option<Vec<u16>>,
    aead: Option<Vec<u16>>,
    response: Option<KeResponse>,
}

impl ResponseParser {
    /// A parser awaiting the first byte.
    pub fn new() -> ResponseParser {
        ResponseParser::default()
    }

    /// Feeds received bytes; `Ok(Some)` once End of Message arrived and the response is
    /// acceptable, `Ok(None)` while more is needed.
    ///
    /// # Errors
    /// Why the response is refused: a server error record, a malformed or unknown critical
    /// record, a negotiation we did not offer, no cookie, or an oversized response.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<KeResponse>, String> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > MAX_RESPONSE {
            return Err(format!("response longer than {MAX_RESPONSE} bytes"));
        }
        let resp = self.response.get_or_insert_with(KeResponse::empty);
        let mut at = 0;
        let mut ended = false;
        while let Some((record, len)) = decode(&self.buf[at..])? {
            at += len;
            match record {
                Record::EndOfMessage => {
                    ended = true;
                    break;
                }
                Record::NextProtocol(p) => self.protocol = Some(p),
                Record::AeadAlgorithm(a) => self.aead = Some(a),
                Record::Error(code) => return Err(format!("server sent {}", error_text(code))),
                Record::Warning(code) => resp.warnings.push(code),
                Record::NewCookie(c) => resp.cookies.push(c),
                Record::Server(s) => resp.server = Some(s),
                Record::Port(p) => resp.port = Some(p),
                Record::Unknown {
                    record_type,
                    critical: true,
                } => return Err(format!("unrecognized critical record type {record_type}")),
                Record::Unknown { .. } => {}
            }
        }
        if ended {
            // Anything after End of Message is not part of the response and is ignored.
            return self.finish().map(Some);
        }
        self.buf.drain(..at);
        Ok(None)
    }

    fn finish(&mut self) -> Result<KeResponse, String> {
        match self.protocol.as_deref() {
            Some([PROTOCOL_NTPV4]) => {}
            Some([]) => return Err("server supports none of the offered protocols".into()),
            Some(other) => {
                return Err(format!("server chose protocol(s) {other:?}, not NTPv4 (0)"))
            }
            None => return Err("no Next Protocol record".into()),
        }
        match self.aead.as_deref() {
            Some([AEAD_AES_SIV_CMAC_256]) => {}
            Some(other) => {
                return Err(format!(
                    "server chose AEAD algorithm(s) {other:?}, not AEAD_AES_SIV_CMAC_256 (15)"
                ))
            }
            None => return Err("no AEAD Algorithm record".into()),
        }
        let resp = self.response.take().unwrap_or_else(KeResponse::empty);
        if resp.cookies.is_empty() {
            return Err("server issued no cookies".into());
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            encode(r, &mut out);
        }
        out
    }

    fn good() -> Vec<Record> {
        vec![
            Record::NextProtocol(vec![0]),
            Record::AeadAlgorithm(vec![15]),
            Record::NewCookie(vec![1; 100]),
            Record::NewCookie(vec![2; 100]),
            Record::Server("ntp.example".into()),
            Record::Port(11123),
            Record::EndOfMessage,
        ]
    }

    #[test]
    fn client_request_bytes() {
        assert_eq!(
            client_request(),
            [0x80, 0x01, 0, 2, 0, 0, 0x80, 0x04, 0, 2, 0, 15, 0x80, 0, 0, 0]
        );
    }

    #[test]
    fn accepts_a_response_in_pieces() {
        let bytes = response(&good());
        let mut p = ResponseParser::new();
        let mut got = None;
        for chunk in bytes.chunks(7) {
            if let Some(r) = p.feed(chunk).unwrap() {
                got = Some(r);
            }
        }
        let r = got.expect("complete");
        assert_eq!(r.cookies, vec![vec![1; 100], vec![2; 100]]);
        assert_eq!(r.server.as_deref(), Some("ntp.example"));
        assert_eq!(r.port, Some(11123));
        assert_eq!(format!("{r:?}"), "KeResponse { cookies: 2, server: Some(\"ntp.example\"), port: Some(11123), warnings: [] }");
    }

    #[test]
    fn incomplete_response_waits() {
        let bytes = response(&good());
        let mut p = ResponseParser::new();
        assert_eq!(p.feed(&bytes[..bytes.len() - 1]), Ok(None));
        assert!(p.feed(&bytes[bytes.len() - 1..]).unwrap().is_some());
    }

    fn refused(records: &[Record]) -> String {
        ResponseParser::new().feed(&response(records)).unwrap_err()
    }

    #[test]
    fn refuses_what_the_rfc_says_to_refuse() {
        let e = refused(&[Record::Error(1), Record::EndOfMessage]);
        assert!(e.contains("bad request"), "{e}");
        let mut r = good();
        r[0] = Record::NextProtocol(vec![]);
        assert!(refused(&r).contains("none of the offered"));
        let mut r = good();
        r[1] = Record::AeadAlgorithm(vec![30]);
        assert!(refused(&r).contains("not AEAD_AES_SIV_CMAC_256"));
        let r: Vec<Record> = good()
            .into_iter()
            .filter(|r| !matches!(r, Record::NewCookie(_)))
            .collect();
        assert!(refused(&r).contains("no cookies"));
        let mut r = good();
        r.insert(
            2,
            Record::Unknown {
                record_type: 0x1234,
                critical: true,
            },
        );
        assert!(refused(&r).contains("unrecognized critical record type 4660"));
        let r: Vec<Record> = good().into_iter().skip(1).collect();
        assert!(refused(&r).contains("no Next Protocol"));
    }

    #[test]
    fn ignores_unknown_non_critical_records_and_keeps_warnings() {
        let mut r = good();
        r.insert(
            2,
            Record::Unknown {
                record_type: 0x1234,
                critical: false,
            },
        );
        r.insert(2, Record::Warning(7));
        let resp = ResponseParser::new().feed(&response(&r)).unwrap().unwrap();
        assert_eq!(resp.warnings, vec![7]);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(
            decode(&[0x80, 0x01, 0, 3, 0, 0, 0]).is_err(),
            "odd protocol list"
        );
        assert!(decode(&[0x00, 0x07, 0, 1, 9]).is_err(), "short port");
        assert!(
            decode(&[0x00, 0x06, 0, 2, 0xff, 0xfe]).is_err(),
            "non-ASCII server"
        );
        assert!(decode(&[0x80, 0x00, 0, 1, 0]).is_err(), "EOM with body");
        assert!(decode(&[0x00, 0x05, 0, 0]).is_err(), "empty cookie");
        assert_eq!(decode(&[0x80, 0x00, 0]), Ok(None));
    }

    #[test]
    fn oversized_response_is_refused() {
        let mut p = ResponseParser::new();
        let e = p.feed(&vec![0u8; MAX_RESPONSE + 1]).unwrap_err();
        assert!(e.contains("longer than"));
    }
}

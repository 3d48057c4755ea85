//! NTS extension fields in NTP packets (RFC 8915 §5) and their AEAD protection, without I/O.
//!
//! A request is the NTP header followed by Unique Identifier (32 random bytes), NTS Cookie
//! (one cookie, used once), Cookie Placeholders (one per extra cookie wanted) and the NTS
//! Authenticator, whose ciphertext is the AES-SIV-CMAC-256 tag over everything before it
//! under the client-to-server key. A reply must echo the Unique Identifier before its
//! Authenticator and carry, encrypted under the server-to-client key, the fresh cookies.
//! [`verify_reply`] refuses a reply whose identifier differs, whose authenticator is missing
//! or does not verify; only an NTS NAK (stratum 0, kiss code `NTSN`, our identifier) is
//! recognised without an authenticator, as the RFC prescribes. Fields after the
//! Authenticator are not authenticated and are ignored.

use aes_siv::siv::Aes128Siv;
use aes_siv::KeyInit;
use std::fmt;

/// Unique Identifier field type.
pub const UNIQUE_IDENTIFIER: u16 = 0x0104;
/// NTS Cookie field type.
pub const NTS_COOKIE: u16 = 0x0204;
/// NTS Cookie Placeholder field type.
pub const COOKIE_PLACEHOLDER: u16 = 0x0304;
/// NTS Authenticator and Encrypted Extension Fields field type.
pub const AUTHENTICATOR: u16 = 0x0404;
/// Length of our unique identifiers (the RFC's minimum).
pub const UID_LEN: usize = 32;
/// Length of our nonces.
pub const NONCE_LEN: usize = 16;
/// Length of the AES-SIV tag that starts every ciphertext.
pub const TAG_LEN: usize = 16;
/// Smallest extension field (RFC 7822).
const MIN_FIELD_LEN: usize = 16;

/// A 256-bit AES-SIV-CMAC key (two AES-128 keys), exported from the NTS-KE TLS session.
#[derive(Clone, PartialEq, Eq)]
pub struct AeadKey(pub [u8; 32]);

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey(..)")
    }
}

/// An extension field, located in the bytes it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field type.
    pub field_type: u16,
    /// The body, with any padding.
    pub body: &'a [u8],
    /// Offset of the field's first byte in the parsed buffer.
    pub start: usize,
}

/// Appends a field, padding the body with zeros to a multiple of 4 and the field to 16 bytes.
pub fn push_field(out: &mut Vec<u8>, field_type: u16, body: &[u8]) {
    let len = (4 + body.len()).div_ceil(4) * 4;
    let len = len.max(MIN_FIELD_LEN);
    out.extend_from_slice(&field_type.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + len - 4 - body.len(), 0);
}

/// Splits `bytes` (from `base` on) into extension fields.
///
/// # Errors
/// A description of a field whose length is impossible.
pub fn parse_fields(bytes: &[u8], base: usize) -> Result<Vec<Field<'_>>, String> {
    let mut fields = Vec::new();
    let mut at = base;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 4 {
            return Err(format!(
                "{} stray bytes after the extension fields",
                rest.len()
            ));
        }
        let field_type = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len < 4 || len % 4 != 0 || len > rest.len() {
            return Err(format!(
                "extension field {field_type:#06x} has length {len} with {} bytes left",
                rest.len()
            ));
        }
        fields.push(Field {
            field_type,
            body: &rest[4..len],
            start: at,
        });
        at += len;
    }
    Ok(fields)
}

fn siv(key: &AeadKey) -> Aes128Siv {
    Aes128Siv::new(&key.0.into())
}

/// Builds an NTS-protected request: `header` (48 bytes), our unique identifier, one cookie,
/// `placeholders` cookie placeholders (each as long as the cookie), and the authenticator.
pub fn build_request(
    header: &[u8; 48],
    uid: &[u8; UID_LEN],
    cookie: &[u8],
    placeholders: usize,
    c2s: &AeadKey,
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let mut out = header.to_vec();
    push_field(&mut out, UNIQUE_IDENTIFIER, uid);
    push_field(&mut out, NTS_COOKIE, cookie);
    let zeros = vec![0u8; cookie.len()];
    for _ in 0..placeholders {
        push_field(&mut out, COOKIE_PLACEHOLDER, &zeros);
    }
    // AES-SIV cannot fail to encrypt an empty plaintext with two header components.
    let ciphertext = siv(c2s)
        .encrypt([out.as_slice(), nonce.as_slice()], &[])
        .unwrap_or_default();
    push_field(
        &mut out,
        AUTHENTICATOR,
        &authenticator_body(nonce, &ciphertext),
    );
    out
}

/// The authenticator's body: nonce and ciphertext lengths, then each padded to 4 bytes.
pub fn authenticator_body(nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let pad4 = |n: usize| n.div_ceil(4) * 4;
    let mut body = Vec::with_capacity(4 + pad4(nonce.len()) + pad4(ciphertext.len()));
    body.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
    body.extend_from_slice(&(ciphertext.len() as u16).to_be_bytes());
    body.extend_from_slice(nonce);
    body.resize(4 + pad4(nonce.len()), 0);
    body.extend_from_slice(ciphertext);
    body.resize(4 + pad4(nonce.len()) + pad4(ciphertext.len()), 0);
    body
}

/// Encrypts `plaintext` fields into an authenticator over `aad` (for servers and tests).
pub fn seal(aad: &[u8], plaintext: &[u8], key: &AeadKey, nonce: &[u8]) -> Vec<u8> {
    let ciphertext = siv(key)
        .encrypt([aad, nonce], plaintext)
        .unwrap_or_default();
    authenticator_body(nonce, &ciphertext)
}

/// Why a reply was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The fields cannot be parsed.
    Malformed(String),
    /// The unique identifier is absent or not ours.
    Mismatch(String),
    /// The authenticator is absent or does not verify.
    Authentication(String),
    /// An NTS NAK with our identifier: the server no longer accepts our cookies.
    Nak,
}

/// Checks an NTS reply (`datagram`, header included) against our unique identifier and
/// server-to-client key, and returns the cookies it carries.
///
/// # Errors
/// A [`ReplyError`].
pub fn verify_reply(
    datagram: &[u8],
    uid: &[u8; UID_LEN],
    s2c: &AeadKey,
) -> Result<Vec<Vec<u8>>, ReplyError> {
    if datagram.len() < 48 {
        return Err(ReplyError::Malformed(format!(
            "{} bytes, shorter than an NTP header",
            datagram.len()
        )));
    }
    let fields = parse_fields(datagram, 48).map_err(ReplyError::Malformed)?;
    let auth_at = fields.iter().position(|f| f.field_type == AUTHENTICATOR);
    let authenticated = &fields[..auth_at.unwrap_or(fields.len())];
    let uid_ok = match authenticated
        .iter()
        .find(|f| f.field_type == UNIQUE_IDENTIFIER)
    {
        Some(f) if f.body.len() >= UID_LEN && f.body[..UID_LEN] == uid[..] => true,
        Some(_) => {
            return Err(ReplyError::Mismatch(
                "unique identifier differs from the request's".into(),
            ))
        }
        None => false,
    };
    let Some(auth_at) = auth_at else {
        let is_nak = datagram[1] == 0 && &datagram[12..16] == b"NTSN";
        return Err(if is_nak && uid_ok {
            ReplyError::Nak
        } else {
            ReplyError::Authentication("reply has no NTS authenticator".into())
        });
    };
    if !uid_ok {
        return Err(ReplyError::Mismatch(
            "reply has no unique identifier".into(),
        ));
    }
    let auth = fields[auth_at];
    let (nonce, ciphertext) = split_authenticator(auth.body).map_err(ReplyError::Malformed)?;
    let plaintext = siv(s2c)
        .decrypt([&datagram[..auth.start], nonce], ciphertext)
        .map_err(|_| {
            ReplyError::Authentication(
                "reply authenticator does not verify (forged or corrupted)".into(),
            )
        })?;
    let inner = parse_fields(&plaintext, 0)
        .map_err(|e| ReplyError::Malformed(format!("encrypted fields: {e}")))?;
    Ok(inner
        .iter()
        .filter(|f| f.field_type == NTS_COOKIE)
        .map(|f| f.body.to_vec())
        .collect())
}

/// Splits an authenticator body into nonce and ciphertext.
fn split_authenticator(body: &[u8]) -> Result<(&[u8], &[u8]), String> {
    if body.len() < 4 {
        return Err("authenticator shorter than its length fields".into());
    }
    let nonce_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let ct_len = usize::from(u16::from_be_bytes([body[2], body[3]]));
    let ct_at = 4 + nonce_len.div_ceil(4) * 4;
    if nonce_len == 0 || ct_len < TAG_LEN || ct_at + ct_len > body.len() {
        return Err(format!(
            "authenticator with nonce length {nonce_len} and ciphertext length {ct_len} in {} bytes",
            body.len()
        ));
    }
    Ok((&body[4..4 + nonce_len], &body[ct_at..ct_at + ct_len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const C2S: AeadKey = AeadKey([1; 32]);
    const S2C: AeadKey = AeadKey([2; 32]);
    const UID: [u8; UID_LEN] = [9; UID_LEN];

    /// A reply as a server would build it: header, our UID, authenticator sealing `cookies`.
    fn reply(uid: &[u8; UID_LEN], key: &AeadKey, cookies: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0x24; 48];
        push_field(&mut out, UNIQUE_IDENTIFIER, uid);
        let mut plain = Vec::new();
        for c in cookies {
            push_field(&mut plain, NTS_COOKIE, c);
        }
        let body = seal(&out, &plain, key, &[7; 16]);
        push_field(&mut out, AUTHENTICATOR, &body);
        out
    }

    #[test]
    fn fields_are_padded_to_four_and_at_least_sixteen() {
        let mut out = Vec::new();
        push_field(&mut out, 0x0204, &[1, 2, 3, 4, 5]);
        assert_eq!(out.len(), 16);
        assert_eq!(&out[..4], &[0x02, 0x04, 0, 16]);
        let mut out = Vec::new();
        push_field(&mut out, 0x0204, &[0; 101]);
        assert_eq!(out.len(), 108);
        assert_eq!(parse_fields(&out, 0).unwrap()[0].body.len(), 104);
    }

    #[test]
    fn request_layout_and_authenticator_verify() {
        let header = [0x23; 48];
        let req = build_request(&header, &UID, &[5; 100], 2, &C2S, &[3; 16]);
        let fields = parse_fields(&req, 48).unwrap();
        let types: Vec<u16> = fields.iter().map(|f| f.field_type).collect();
        assert_eq!(
            types,
            [
                UNIQUE_IDENTIFIER,
                NTS_COOKIE,
                COOKIE_PLACEHOLDER,
                COOKIE_PLACEHOLDER,
                AUTHENTICATOR
            ]
        );
        assert_eq!(fields[2].body, &[0u8; 100][..]);
        // The server side: the authenticator verifies over everything before it.
        let auth = fields[4];
        let (nonce, ct) = split_authenticator(auth.body).unwrap();
        assert_eq!(nonce, &[3; 16]);
        assert_eq!(ct.len(), TAG_LEN);
        assert_eq!(
            siv(&C2S).decrypt([&req[..auth.start], nonce], ct),
            Ok(vec![])
        );
        assert!(
            siv(&S2C).decrypt([&req[..auth.start], nonce], ct).is_err(),
            "wrong direction key"
        );
    }

    #[test]
    fn good_reply_yields_its_cookies() {
        let r = reply(&UID, &S2C, &[&[0xaa; 100], &[0xbb; 100]]);
        assert_eq!(
            verify_reply(&r, &UID, &S2C),
            Ok(vec![vec![0xaa; 100], vec![0xbb; 100]])
        );
    }

    #[test]
    fn forged_or_altered_replies_are_refused() {
        // Sealed with a key the attacker guessed.
        let r = reply(&UID, &AeadKey([3; 32]), &[&[0xaa; 100]]);
        assert!(matches!(
            verify_reply(&r, &UID, &S2C),
            Err(ReplyError::Authentication(_))
        ));
        // A genuine reply with one header bit flipped (the offset changed in transit).
        let mut r = reply(&UID, &S2C, &[&[0xaa; 100]]);
        r[40] ^= 1;
        assert!(matches!(
            verify_reply(&r, &UID, &S2C),
            Err(ReplyError::Authentication(_))
        ));
        // Authenticator stripped.
        let r = reply(&UID, &S2C, &[]);
        let fields = parse_fields(&r, 48).unwrap();
        let stripped = &r[..fields[1].start];
        assert!(matches!(
            verify_reply(stripped, &UID, &S2C),
            Err(ReplyError::Authentication(_))
        ));
    }

    #[test]
    fn wrong_unique_identifier_is_a_mismatch() {
        let r = reply(&[8; UID_LEN], &S2C, &[&[0xaa; 100]]);
        assert_eq!(
            verify_reply(&r, &UID, &S2C),
            Err(ReplyError::Mismatch(
                "unique identifier differs from the request's".into()
            ))
        );
    }

    #[test]
    fn nts_nak_is_recognised_only_with_our_identifier() {
        let mut r = vec![0u8; 48];
        r[0] = 0xe4;
        r[12..16].copy_from_slice(b"NTSN");
        push_field(&mut r, UNIQUE_IDENTIFIER, &UID);
        assert_eq!(verify_reply(&r, &UID, &S2C), Err(ReplyError::Nak));
        assert!(matches!(
            verify_reply(&r, &[0; UID_LEN], &S2C),
            Err(ReplyError::Mismatch(_))
        ));
    }

    #[test]
    fn truncated_fields_are_malformed() {
        let r = reply(&UID, &S2C, &[&[0xaa; 100]]);
        assert!(matches!(
            verify_reply(&r[..r.len() - 2], &UID, &S2C),
            Err(ReplyError::Malformed(_))
        ));
        assert!(split_authenticator(&[0, 16, 0, 16, 1]).is_err());
        assert!(split_authenticator(&[0, 0, 0, 16]).is_err());
    }
}

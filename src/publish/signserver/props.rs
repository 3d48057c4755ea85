//! The two text formats of a SignServer status update: Java-properties lines (the format
//! `java.util.Properties.load` reads from a byte stream: ISO-8859-1, backslash escapes) and the
//! `application/x-www-form-urlencoded` body that carries them as its `data` field.
//!
//! Pure byte formatting: no I/O, no clock, never fails on any input (a character ISO-8859-1
//! cannot hold is written as a `\uXXXX` escape, never dropped or replaced).

/// Appends `s` as a properties key (`escape_all_spaces`) or value to `out`, in ISO-8859-1.
///
/// Escaped as `Properties.store` does: `\` `=` `:` `#` `!` get a backslash; tab, newline,
/// carriage return and form feed become `\t` `\n` `\r` `\f`; a space is escaped in a key, and
/// in a value only where it leads (where `load` would strip it); other control characters and
/// every character above U+00FF become `\uXXXX` (UTF-16 units, so a supplementary character
/// is two escapes); U+00A0–U+00FF are written as their single ISO-8859-1 byte.
fn escape(s: &str, escape_all_spaces: bool, out: &mut Vec<u8>) {
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' | '=' | ':' | '#' | '!' => out.extend_from_slice(&[b'\\', c as u8]),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\x0c' => out.extend_from_slice(b"\\f"),
            ' ' if escape_all_spaces || i == 0 => out.extend_from_slice(b"\\ "),
            ' '..='~' => out.push(c as u8),
            '\u{a0}'..='\u{ff}' => out.push(c as u32 as u8),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{u:04X}").as_bytes());
                }
            }
        }
    }
}

/// Appends one `key=value` line (with `\n`) to `out`.
pub fn line(key: &str, value: &str, out: &mut Vec<u8>) {
    escape(key, true, out);
    out.push(b'=');
    escape(value, false, out);
    out.push(b'\n');
}

/// Appends the form body `workerName=<worker>&data=<data>` to `out`: each value's bytes
/// percent-encoded as `application/x-www-form-urlencoded` (space as `+`); `worker` is taken
/// as ISO-8859-1 like the data (characters outside it become `?`, which validation rules out).
pub fn form(worker: &str, data: &[u8], out: &mut String) {
    let worker: Vec<u8> = worker
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    out.push_str("workerName=");
    out.extend(form_urlencoded::byte_serialize(&worker));
    out.push_str("&data=");
    out.extend(form_urlencoded::byte_serialize(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        escape(s, false, &mut v);
        v
    }

    #[test]
    fn specials_are_escaped() {
        assert_eq!(value(r"a\b=c:d#e!f"), br"a\\b\=c\:d\#e\!f");
        assert_eq!(value("x\ty\nz\r\x0c"), br"x\ty\nz\r\f");
        assert_eq!(value("  lead and inner "), br"\  lead and inner ");
        let mut k = Vec::new();
        escape("a key", true, &mut k);
        assert_eq!(k, br"a\ key");
    }

    #[test]
    fn latin1_raw_others_unicode_escaped() {
        assert_eq!(value("é\u{a0}ÿ"), [0xe9, 0xa0, 0xff]);
        assert_eq!(value("€"), br"\u20AC");
        assert_eq!(value("\u{1}\u{7f}\u{85}"), br"\u0001\u007F\u0085");
        assert_eq!(value("😀"), br"\uD83D\uDE00");
    }

    #[test]
    fn form_encodes_bytes() {
        let mut data = Vec::new();
        line("A.VALUE", "x y=é&", &mut data);
        let mut body = String::new();
        form("Status Worker", &data, &mut body);
        assert_eq!(
            body,
            "workerName=Status+Worker&data=A.VALUE%3Dx+y%5C%3D%E9%26%0A"
        );
    }
}

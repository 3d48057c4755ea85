//! Decoders written from the formats' definitions, to check what the SignServer publisher
//! sends without using its own code: `application/x-www-form-urlencoded` and
//! `java.util.Properties.load`.

use std::collections::BTreeMap;

/// `application/x-www-form-urlencoded`: `name=value` pairs joined by `&`, `+` for a space,
/// `%XX` for a byte.
pub fn form_decode(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let unescape = |s: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(&s[i + 1..i + 3]).expect("percent escape");
                    out.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                    i += 2;
                }
                b => {
                    assert!(
                        b.is_ascii_alphanumeric() || b"*-._".contains(&b),
                        "byte {b:#x} must be percent-encoded"
                    );
                    out.push(b);
                }
            }
            i += 1;
        }
        out
    };
    body.split(|&b| b == b'&')
        .map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=').expect("name=value");
            let name = String::from_utf8(unescape(&pair[..eq])).unwrap();
            (name, unescape(&pair[eq + 1..]))
        })
        .collect()
}

/// `java.util.Properties.load(InputStream)`: ISO-8859-1 bytes; natural lines end at `\n`,
/// `\r` or `\r\n`; a line ending in an odd number of backslashes continues on the next, whose
/// leading white space is dropped; blank lines and lines starting (after white space) with `#`
/// or `!` are comments; the key ends at the first unescaped `=`, `:` or white space, white
/// space and one `=` or `:` after it are skipped; escapes `\t \n \r \f \uXXXX`, and `\c` is `c`.
pub fn properties_decode(bytes: &[u8]) -> BTreeMap<String, String> {
    let text: Vec<char> = bytes.iter().map(|&b| char::from(b)).collect();
    let mut natural: Vec<Vec<char>> = vec![Vec::new()];
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            '\n' => natural.push(Vec::new()),
            '\r' => {
                natural.push(Vec::new());
                if text.get(i + 1) == Some(&'\n') {
                    i += 1;
                }
            }
            c => natural.last_mut().unwrap().push(c),
        }
        i += 1;
    }
    let ws = |c: char| c == ' ' || c == '\t' || c == '\x0c';
    let mut logical = Vec::new();
    let mut lines = natural.into_iter();
    while let Some(mut line) = lines.next() {
        let start = line.iter().position(|&c| !ws(c)).unwrap_or(line.len());
        line.drain(..start);
        if line.is_empty() || line[0] == '#' || line[0] == '!' {
            continue;
        }
        loop {
            let trailing = line.iter().rev().take_while(|&&c| c == '\\').count();
            if trailing % 2 == 0 {
                break;
            }
            line.pop();
            let Some(next) = lines.next() else { break };
            line.extend(next.into_iter().skip_while(|&c| ws(c)));
        }
        logical.push(line);
    }
    let mut map = BTreeMap::new();
    for line in logical {
        let mut k = 0;
        let mut escaped = false;
        while k < line.len() {
            let c = line[k];
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '=' || c == ':' || ws(c) {
                break;
            }
            k += 1;
        }
        let key = &line[..k];
        let mut v = k;
        while v < line.len() && ws(line[v]) {
            v += 1;
        }
        if v < line.len() && (line[v] == '=' || line[v] == ':') {
            v += 1;
        }
        while v < line.len() && ws(line[v]) {
            v += 1;
        }
        map.insert(unescape_java(key), unescape_java(&line[v..]));
    }
    map
}

fn unescape_java(s: &[char]) -> String {
    let mut out = String::new();
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.push_str(&String::from_utf16(units).expect("valid UTF-16"));
        units.clear();
    };
    while i < s.len() {
        if s[i] == '\\' && i + 1 < s.len() {
            let c = s[i + 1];
            i += 2;
            if c == 'u' {
                let hex: String = s[i..i + 4].iter().collect();
                units.push(u16::from_str_radix(&hex, 16).expect("\\uXXXX"));
                i += 4;
                continue;
            }
            flush(&mut units, &mut out);
            out.push(match c {
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                'f' => '\x0c',
                other => other,
            });
        } else {
            flush(&mut units, &mut out);
            out.push(s[i]);
            i += 1;
        }
    }
    flush(&mut units, &mut out);
    out
}

//! Configuration errors, one line each: `FILE:LINE: KEY: reason`, and the small line map that
//! finds which line of the file holds a key (`trust.declared_accuracy_ns`, `reference[1].kind`).
//!
//! The map reads table headers (`[trust]`, `[[reference]]`) and `key = value` lines; a key it
//! cannot place (given by default, or inside an inline table) falls back to its table's header
//! line, or to no line. It never panics on any text.

use std::fmt;

/// A configuration that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// The key concerned (`trust.declared_accuracy_ns`), when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the file as a whole (unreadable, not a file).
    pub fn whole(file: &str, reason: String) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: None,
            key: None,
            reason,
        }
    }

    /// An error about `key` (dotted, as [`LineMap`] names keys), placed on its line.
    pub fn at_key(file: &str, text: &str, key: &str, reason: String) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: LineMap::new(text).line_of(key),
            key: Some(key.to_string()),
            reason,
        }
    }

    /// An error from the TOML parser or from deserialising (unknown key, wrong type).
    pub fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> ConfigError {
        let reason = e.message().trim().replace('\n', "; ");
        let map = LineMap::new(text);
        let line = e.span().map(|s| line_at(text, s.start));
        let quoted = reason.split('`').nth(1).map(str::to_string);
        let key = match line {
            Some(l) => {
                let section = map.section_at(l);
                let own = map.key_on(l);
                let name = match (quoted, own) {
                    (Some(q), _) if reason.contains("field") => Some(q),
                    (_, Some(k)) => Some(k),
                    _ => None,
                };
                match (section, name) {
                    (Some(s), Some(n)) => Some(format!("{s}.{n}")),
                    (None, Some(n)) => Some(n),
                    (Some(s), None) => Some(s),
                    (None, None) => None,
                }
            }
            None => quoted,
        };
        ConfigError {
            file: file.to_string(),
            line: Some(line.unwrap_or(1)),
            key: key.or_else(|| Some("(syntax)".into())),
            reason,
        }
    }
}

/// 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// For each line: the table it belongs to and the key it sets, if any.
pub struct LineMap {
    /// (section in force, key set on this line) per line, index 0 = line 1.
    lines: Vec<(Option<String>, Option<String>)>,
    /// (section, header line) in file order.
    headers: Vec<(String, usize)>,
}

impl LineMap {
    /// Maps `text`.
    pub fn new(text: &str) -> LineMap {
        let mut lines = Vec::new();
        let mut headers = Vec::new();
        let mut section: Option<String> = None;
        let mut counts: Vec<(String, usize)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some(name) = line.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = name.trim().to_string();
                let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, c)) => {
                        *c += 1;
                        *c - 1
                    }
                    None => {
                        counts.push((name.clone(), 1));
                        0
                    }
                };
                let full = format!("{name}[{n}]");
                headers.push((full.clone(), i + 1));
                section = Some(full);
                lines.push((section.clone(), None));
            } else if let Some(name) = line.strip_prefix('[').and_then(|r| r.split(']').next()) {
                let full = name.trim().to_string();
                headers.push((full.clone(), i + 1));
                section = Some(full);
                lines.push((section.clone(), None));
            } else {
                let key = line
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').to_string())
                    .filter(|k| !k.is_empty() && !k.starts_with('#'));
                lines.push((section.clone(), key));
            }
        }
        LineMap { lines, headers }
    }

    /// The table in force at 1-based `line`.
    pub fn section_at(&self, line: usize) -> Option<String> {
        self.lines.get(line.checked_sub(1)?)?.0.clone()
    }

    /// The key set on 1-based `line`.
    pub fn key_on(&self, line: usize) -> Option<String> {
        self.lines.get(line.checked_sub(1)?)?.1.clone()
    }

    /// The line that sets dotted `key` (`trust.lifetime_ms`, `reference[0].kind`), else the
    /// header line of its table, else `None`.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let (section, name) = match key.rsplit_once('.') {
            Some((s, n)) => (Some(s), n),
            None => (None, key),
        };
        let found = self
            .lines
            .iter()
            .position(|(s, k)| s.as_deref() == section && k.as_deref() == Some(name));
        if let Some(i) = found {
            return Some(i + 1);
        }
        let section = section.unwrap_or(key);
        self.headers
            .iter()
            .find(|(s, _)| s == section)
            .map(|(_, line)| *line)
    }
}

//! Typed errors for opening a record (reader) and creating one (writer). Each displays as one
//! line that starts with the path, e.g. `/run/ppsd/state: too short: 12 bytes, need 384`.
//!
//! Nothing here may panic or allocate on a hot path; errors only occur at open and create.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A record file that could not be opened for reading.
#[derive(Debug)]
pub struct OpenError {
    /// The path that was opened.
    pub path: PathBuf,
    /// What was wrong with it.
    pub kind: OpenErrorKind,
}

/// What was wrong with a record file.
#[derive(Debug)]
pub enum OpenErrorKind {
    /// No file at the path (the daemon is not running, or the path is wrong).
    NotFound,
    /// A system call failed.
    Io {
        /// The call (`open`, `fstat`, `pread`, `mmap`).
        op: &'static str,
        /// Its error.
        error: io::Error,
    },
    /// The path is not a regular file (a directory, a FIFO, a device).
    NotRegularFile,
    /// The file is writable by group or others: any such writer could forge "in sync" or
    /// shrink the file under the reader, so it is refused.
    WritableByOthers {
        /// The file's permission bits.
        mode: u32,
    },
    /// The file is shorter than its header or than the record (0 bytes: empty).
    TooSmall {
        /// The file's size in bytes.
        size: u64,
        /// The size needed.
        need: u64,
    },
    /// The first 8 bytes are not the record magic: not a ppsd state file.
    BadMagic {
        /// The first 8 bytes, as a little-endian integer.
        found: u64,
    },
    /// The layout version is not the one this reader knows (a newer daemon, most likely).
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this reader reads.
        supported: u32,
    },
    /// The header's record size does not match the layout version's size.
    SizeMismatch {
        /// The size the header declares.
        declared: u32,
        /// The size of this layout version.
        expected: u32,
    },
}

impl OpenErrorKind {
    /// True when the file exists but speaks a layout this reader does not understand.
    pub fn is_layout(&self) -> bool {
        matches!(
            self,
            OpenErrorKind::BadMagic { .. }
                | OpenErrorKind::UnsupportedVersion { .. }
                | OpenErrorKind::SizeMismatch { .. }
                | OpenErrorKind::TooSmall { .. }
        )
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        match &self.kind {
            OpenErrorKind::NotFound => f.write_str("no such file (is ppsd running?)"),
            OpenErrorKind::Io { op, error } => write!(f, "{op}: {error}"),
            OpenErrorKind::NotRegularFile => f.write_str("not a regular file"),
            OpenErrorKind::WritableByOthers { mode } => {
                write!(f, "writable by group or others (mode {mode:04o}); refusing")
            }
            OpenErrorKind::TooSmall { size: 0, .. } => f.write_str("empty file"),
            OpenErrorKind::TooSmall { size, need } => {
                write!(f, "too short: {size} bytes, need {need}")
            }
            OpenErrorKind::BadMagic { found } => {
                write!(f, "not a ppsd state file (magic {found:#018x})")
            }
            OpenErrorKind::UnsupportedVersion { found, supported } => write!(
                f,
                "layout version {found}, this reader supports {supported} (upgrade the reader)"
            ),
            OpenErrorKind::SizeMismatch { declared, expected } => {
                write!(
                    f,
                    "header declares {declared} bytes, layout needs {expected}"
                )
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            OpenErrorKind::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A record file that the writer could not create.
#[derive(Debug)]
pub struct CreateError {
    /// The file the call was about (the temporary file or the final path).
    pub path: PathBuf,
    /// The operation (`create`, `set_len`, `mmap`, `rename`, ...).
    pub op: &'static str,
    /// Its error.
    pub error: io::Error,
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path.display(), self.op, self.error)
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_start_with_the_path() {
        let kinds = [
            OpenErrorKind::NotFound,
            OpenErrorKind::TooSmall { size: 0, need: 384 },
            OpenErrorKind::TooSmall {
                size: 12,
                need: 384,
            },
            OpenErrorKind::BadMagic { found: 7 },
            OpenErrorKind::UnsupportedVersion {
                found: 2,
                supported: 1,
            },
            OpenErrorKind::WritableByOthers { mode: 0o666 },
        ];
        for kind in kinds {
            let text = OpenError {
                path: "/run/ppsd/state".into(),
                kind,
            }
            .to_string();
            assert!(text.starts_with("/run/ppsd/state: "), "{text}");
            assert!(!text.contains('\n'));
        }
        let short = OpenError {
            path: "/x".into(),
            kind: OpenErrorKind::TooSmall {
                size: 12,
                need: 384,
            },
        };
        assert_eq!(short.to_string(), "/x: too short: 12 bytes, need 384");
    }
}

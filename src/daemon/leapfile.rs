//! The leap-seconds list as the daemon holds it: loaded at start and on SIGHUP, asked at each
//! publish what it says about the disciplined clock's current instant.
//!
//! Fail closed: a configured list that cannot be read, does not parse, fails its hash, or has
//! expired at the instant asked about gives an unknown leap state (signers refuse), and the
//! reason is logged once per load. No list configured (`leap.file = ""`) leaves leap
//! announcements to the references. Reading happens only at load; queries are pure.

use std::path::{Path, PathBuf};

use crate::engine::leap::{LeapList, LeapSign};
use crate::engine::{Leap, LeapNotice};
use crate::publish::shm::LeapInfo;
use crate::time::Timestamp;

/// Largest file accepted (the real list is about 5 KB).
const MAX_BYTES: u64 = 1 << 20;

/// The loaded list, or why there is none.
#[derive(Debug)]
pub struct LeapFile {
    path: Option<PathBuf>,
    list: Result<LeapList, String>,
    expiry_logged: bool,
}

impl LeapFile {
    /// Loads `path` (empty: none configured). Problems are kept, not returned: the daemon
    /// runs on with an unknown leap state.
    pub fn load(path: &Path) -> LeapFile {
        if path.as_os_str().is_empty() {
            return LeapFile {
                path: None,
                list: Err("no leap file configured".into()),
                expiry_logged: false,
            };
        }
        let shown = path.display().to_string();
        let list =
            read(path, &shown).and_then(|b| LeapList::parse(&shown, &b).map_err(|e| e.to_string()));
        LeapFile {
            path: Some(path.to_path_buf()),
            list,
            expiry_logged: false,
        }
    }

    /// Why the list cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        match (&self.path, &self.list) {
            (Some(_), Err(e)) => Some(e),
            _ => None,
        }
    }

    /// What the list says at `now` (the disciplined clock's CLOCK_REALTIME). The first time
    /// the list is found expired, `on_expired` gets the one-line reason.
    pub fn info(&mut self, now: Timestamp, on_expired: impl FnOnce(&str)) -> LeapInfo {
        let Some(_) = &self.path else {
            return LeapInfo {
                known: true,
                ..LeapInfo::default()
            };
        };
        let Ok(list) = &self.list else {
            return LeapInfo::default();
        };
        let q = list.at(now);
        if q.expired && !self.expiry_logged {
            self.expiry_logged = true;
            if let Err(e) = list.check_expiry(now) {
                on_expired(&e.to_string());
            }
        }
        LeapInfo {
            known: !q.expired,
            tai_offset_s: q.tai_offset_s.map_or(0, i64::from),
            next_leap: q.next_leap.map(|l| (l.unix_s, l.sign)),
        }
    }
}

impl LeapFile {
    /// What the list says at `now`, as the engine's [`LeapNotice`]: no list configured, an
    /// unusable one (unreadable, damaged, expired: `on_expired` as for [`LeapFile::info`]),
    /// no leap announced, or the next leap.
    pub fn notice(&mut self, now: Timestamp, on_expired: impl FnOnce(&str)) -> LeapNotice {
        if self.path.is_none() {
            return LeapNotice::NoList;
        }
        let info = self.info(now, on_expired);
        if !info.known {
            return LeapNotice::Unusable;
        }
        match info.next_leap {
            Some((at_utc_s, sign)) => LeapNotice::Leap {
                at_utc_s,
                leap: match sign {
                    LeapSign::Positive => Leap::Insert,
                    LeapSign::Negative => Leap::Delete,
                },
            },
            None => LeapNotice::NoLeap,
        }
    }
}

impl LeapFile {
    /// TAI − UTC at `now` from a usable list (configured, readable, hash good, not expired);
    /// `None` otherwise, and the kernel's TAI offset is then left as it is. Pure: no logging.
    pub fn tai_s(&self, now: Timestamp) -> Option<i32> {
        self.path.as_ref()?;
        let list = self.list.as_ref().ok()?;
        let q = list.at(now);
        if q.expired {
            return None;
        }
        q.tai_offset_s
    }
}

fn read(path: &Path, shown: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "{shown}: larger than 1 MiB, not a leap-seconds list"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/leap")
            .join(name)
    }

    #[test]
    fn current_list_gives_tai_and_an_expired_one_is_unknown() {
        let mut f = LeapFile::load(&data("leap-seconds.list"));
        assert_eq!(f.problem(), None);
        let jan_2026 = Timestamp::new(1_767_225_600, 0);
        let info = f.info(jan_2026, |_| panic!("not expired"));
        assert!(info.known);
        assert_eq!(info.tai_offset_s, 37);
        let mut said = String::new();
        let info = f.info(Timestamp::new(1_795_000_000, 0), |e| said = e.to_string());
        assert!(!info.known);
        assert!(said.contains("expired"), "{said}");
    }

    #[test]
    fn announced_leap_is_reported() {
        let mut f = LeapFile::load(&data("future-positive.list"));
        let info = f.info(Timestamp::new(1_767_225_600, 0), |_| {});
        assert!(
            matches!(info.next_leap, Some((_, LeapSign::Positive))),
            "{info:?}"
        );
    }

    #[test]
    fn missing_or_tampered_file_is_unknown_and_none_configured_is_known() {
        let mut f = LeapFile::load(Path::new("/nonexistent/leap.list"));
        assert!(f.problem().unwrap().starts_with("/nonexistent/leap.list: "));
        assert!(!f.info(Timestamp::new(1_767_225_600, 0), |_| {}).known);
        let f = LeapFile::load(&data("tampered.list"));
        assert!(f.problem().unwrap().contains("hash"), "{:?}", f.problem());
        let mut f = LeapFile::load(Path::new(""));
        assert_eq!(f.problem(), None);
        assert!(f.info(Timestamp::ZERO, |_| {}).known);
    }

    #[test]
    fn notices_follow_the_list_and_fail_closed() {
        let mut f = LeapFile::load(&data("future-positive.list"));
        let n = f.notice(Timestamp::new(1_767_225_600, 0), |_| {});
        assert!(
            matches!(
                n,
                LeapNotice::Leap {
                    leap: Leap::Insert,
                    ..
                }
            ),
            "{n:?}"
        );
        let mut f = LeapFile::load(&data("leap-seconds.list"));
        assert_eq!(
            f.notice(Timestamp::new(1_767_225_600, 0), |_| {}),
            LeapNotice::NoLeap
        );
        let mut said = String::new();
        let n = f.notice(Timestamp::new(1_795_000_000, 0), |e| said = e.to_string());
        assert_eq!(n, LeapNotice::Unusable);
        assert!(said.contains("expired"), "{said}");
        let mut f = LeapFile::load(&data("tampered.list"));
        assert_eq!(f.notice(Timestamp::ZERO, |_| {}), LeapNotice::Unusable);
        let mut f = LeapFile::load(Path::new(""));
        assert_eq!(f.notice(Timestamp::ZERO, |_| {}), LeapNotice::NoList);
    }

    #[test]
    fn tai_only_from_a_usable_list() {
        let f = LeapFile::load(&data("leap-seconds.list"));
        assert_eq!(f.tai_s(Timestamp::new(1_767_225_600, 0)), Some(37));
        assert_eq!(f.tai_s(Timestamp::new(1_795_000_000, 0)), None, "expired");
        let f = LeapFile::load(&data("tampered.list"));
        assert_eq!(f.tai_s(Timestamp::new(1_767_225_600, 0)), None);
        let f = LeapFile::load(Path::new(""));
        assert_eq!(f.tai_s(Timestamp::new(1_767_225_600, 0)), None);
    }
}

//! The lock file that refuses a second instance: `flock(LOCK_EX | LOCK_NB)` on a file holding
//! the owner's pid. The kernel drops the lock when the process dies, however it dies, so a
//! stale file never blocks a restart.
//!
//! Never waits for the lock and never removes a file another process holds.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A held instance lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock at `path`, creating the file, and writes our pid into it.
    ///
    /// # Errors
    /// One line: `PATH: another ppsd (pid N) is running` when held, or the failed operation.
    pub fn take(path: &Path) -> Result<InstanceLock, String> {
        let shown = path.display();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("{shown}: cannot open lock file: {e}"))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                let who = if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                };
                return Err(format!(
                    "{shown}: another ppsd{who} is running; refusing to start a second instance"
                ));
            }
            Err((_, e)) => return Err(format!("{shown}: flock: {e}")),
        };
        let written = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "{}", std::process::id()));
        written.map_err(|e| format!("{shown}: cannot write pid: {e}"))?;
        Ok(InstanceLock {
            _lock: lock,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder() {
        let dir = std::env::temp_dir().join(format!("ppsd-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ppsd.lock");
        let first = InstanceLock::take(&path).unwrap();
        let e = InstanceLock::take(&path).unwrap_err();
        let pid = std::process::id();
        assert!(
            e.contains(&format!("another ppsd (pid {pid}) is running")),
            "{e}"
        );
        drop(first);
        let again = InstanceLock::take(&path).unwrap();
        assert_eq!(again.path(), path);
        let e = InstanceLock::take(Path::new("/nonexistent/dir/ppsd.lock")).unwrap_err();
        assert!(
            e.starts_with("/nonexistent/dir/ppsd.lock: cannot open lock file"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The ledger writer thread: the loop hands it the untrusted-interval records the engine
//! reports, and it appends and syncs them to the ledger file, so the disk's latency never
//! delays a pulse.
//!
//! It never decides anything about trust; a failure to write is logged, and the loop goes on.

use std::path::Path;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

use tracing::{error, info, warn};

use crate::engine::EngineEvent;
use crate::publish::ledger::{LedgerFile, Record};
use crate::time::Timestamp;

/// The loop's handle on the writer thread.
pub struct LedgerWriter {
    tx: Option<Sender<Record>>,
    thread: Option<JoinHandle<()>>,
}

impl LedgerWriter {
    /// Opens the ledger at `path` as ppsd starts at CLOCK_REALTIME `now` (reading it back,
    /// repairing a torn last line, recording the down time) and starts the writer thread.
    ///
    /// # Errors
    /// One line naming the file and what failed.
    pub fn start(path: &Path, now: Timestamp) -> Result<LedgerWriter, String> {
        let opened = LedgerFile::open(path, now).map_err(|e| e.to_string())?;
        if let Some((from, to)) = opened.down {
            warn!(event = "ppsd_was_down", from = %crate::publish::ledger::format_time(from),
                to = %crate::publish::ledger::format_time(to), "ledger: ppsd was down");
        }
        info!(event = "ledger_open", path = %path.display(), "ledger of untrusted intervals");
        let mut ledger = opened.ledger;
        let (tx, rx) = channel::<Record>();
        let thread = std::thread::Builder::new()
            .name("ppsd-ledger".into())
            .spawn(move || {
                for record in rx {
                    if let Err(e) = ledger.append(&record) {
                        error!(event = "ledger_error", "{e}");
                    }
                }
            })
            .map_err(|e| format!("{}: cannot start the ledger thread: {e}", path.display()))?;
        Ok(LedgerWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hands the record an engine event makes, if any, to the writer thread.
    pub fn event(&mut self, e: &EngineEvent) {
        let Some(record) = Record::from_event(e) else {
            return;
        };
        if let Some(tx) = &self.tx {
            if tx.send(record).is_err() {
                error!(event = "ledger_error", "ledger thread gone; record lost");
            }
        }
    }
}

impl Drop for LedgerWriter {
    /// Lets the thread write what it was handed, then joins it.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

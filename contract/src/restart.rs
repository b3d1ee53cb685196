//! Restarting a process in place: `SIGHUP` or the `Restart` call (what
//! `shoal fleet roll` sends) asks a leaf or aggregator to stop taking new
//! work, finish what it is answering, and execute its binary again with the
//! same arguments and process id.
//!
//! The binary is found by the path it was started from, read when the
//! process began: if a new binary has been put at that path since, the
//! restart is an upgrade. A leaf comes back on the same data directory in
//! its sub-second restart (the blocks are in shared memory); everything it
//! acknowledged is there, as after any crash.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A request to restart, and what the restart executes.
#[derive(Debug)]
pub struct RestartSignal {
    requested: AtomicBool,
    notify: Notify,
    program: PathBuf,
    args: Vec<OsString>,
}

impl RestartSignal {
    /// Notes this process's binary and arguments, to execute them again.
    pub fn for_this_process() -> io::Result<Self> {
        Ok(Self {
            requested: AtomicBool::new(false),
            notify: Notify::new(),
            program: std::env::current_exe()?,
            args: std::env::args_os().skip(1).collect(),
        })
    }

    /// Asks for the restart (idempotent).
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Whether a restart was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once a restart is asked for.
    pub async fn requested(&self) {
        while !self.is_requested() {
            self.notify.notified().await;
        }
    }

    /// Answers a `Restart` call to a `what` ("leaf", "aggregator") that
    /// restarts by `signal` (`None`: it cannot restart by a call): what the
    /// process does now, or why it will not.
    pub fn answer_call(signal: Option<&Self>, what: &str) -> Result<String, String> {
        let Some(signal) = signal else {
            return Err(format!(
                "this {what} cannot restart by a call: it runs inside another process (shoal local), or has no cluster secret (--cluster-secret-file) to tell its fleet's calls apart; send it SIGHUP"
            ));
        };
        signal.request();
        Ok(format!(
            "{what} restarting: finishing the calls under way, then executing its binary again"
        ))
    }

    /// Replaces this process with its binary, run again with the same
    /// arguments. Returns only if that failed.
    pub fn exec(&self) -> io::Error {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(&self.program)
            .args(&self.args)
            .exec()
    }
}

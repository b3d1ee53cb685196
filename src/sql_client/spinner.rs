//! A spinner on standard error while a query runs at the prompt
//! (`⠋ running… 1.2 s`), erased before the answer is printed. Only when
//! standard error is a terminal: a pipe or a log file never sees it.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_INTERVAL: Duration = Duration::from_millis(80);
/// Answers faster than this never show the spinner.
const FIRST_FRAME_AFTER: Duration = Duration::from_millis(150);

/// A running spinner; dropping it stops and erases it.
pub struct Spinner {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts spinning when standard error is a terminal; otherwise does
    /// nothing.
    pub fn start() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                stop: None,
                thread: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("shoal-sql-spinner".into())
            .spawn(move || spin(&stopped))
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

fn spin(stopped: &mpsc::Receiver<()>) {
    let started = Instant::now();
    let mut shown = false;
    let mut frame = 0;
    let mut wait = FIRST_FRAME_AFTER;
    // A message or a dropped sender both mean the answer is here.
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r{} running… {:.1} s",
            FRAMES[frame % FRAMES.len()],
            started.elapsed().as_secs_f64()
        );
        let _ = stderr.flush();
        shown = true;
        frame += 1;
        wait = FRAME_INTERVAL;
    }
    if shown {
        // Back to the start of the line and erase it.
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K");
        let _ = stderr.flush();
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! The one-line progress display on stderr, rewritten once a second.

use std::io::{self, Write};

use crate::preset::Preset;

/// Prints `\r`-rewritten progress lines to stderr.
#[derive(Debug)]
pub(crate) struct Progress {
    total_s: u64,
    printed: bool,
}

impl Progress {
    /// Progress for a run of `total_s` seconds.
    pub fn new(total_s: u64) -> Progress {
        Progress { total_s, printed: false }
    }

    /// Shows second `second` (just completed) of `phase`: its requests, and the errors so far.
    pub fn show(&mut self, second: u64, phase: Preset, requests: u64, errors: u64) {
        let line = format!(
            "\r{:>5}/{} s  {:<15}  {:>8} req/s  {:>6} errors ",
            second + 1,
            self.total_s,
            phase.name(),
            requests,
            errors
        );
        let mut err = io::stderr().lock();
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = err.write_all(line.as_bytes()).and_then(|()| err.flush());
        self.printed = true;
    }

    /// Ends the progress line, if one was printed.
    pub fn finish(&mut self) {
        if self.printed {
            let _ = writeln!(io::stderr());
            self.printed = false;
        }
    }
}

//! Failed accepts (out of descriptors or memory): counted for
//! `server:stats()`, and reported on stderr without flooding it. The first
//! failure prints one line; later ones are summed up in one line at most
//! every [`REPORT_EVERY`], however often the server runs out and recovers.

use std::cell::Cell;
use std::fmt::Display;
use std::time::{Duration, Instant};

/// The shortest time between two lines about one server's failed accepts.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct AcceptErrors {
    /// Accepts that failed, since the server started.
    total: Cell<u64>,
    /// Failures since the last line, and when that line was printed.
    unreported: Cell<u64>,
    last_line: Cell<Option<Instant>>,
}

impl AcceptErrors {
    pub(crate) fn total(&self) -> u64 {
        self.total.get()
    }

    /// Counts a failure; returns the line to print, if one is due.
    pub(crate) fn failed(
        &self,
        now: Instant,
        what: impl Display,
        err: &std::io::Error,
    ) -> Option<String> {
        self.total.set(self.total.get() + 1);
        let n = self.unreported.get() + 1;
        let line = match self.last_line.get() {
            None => format!(
                "tls: accept on {what}: {err}; retrying every 100 ms (connections wait in \
                 the backlog; server:stats() counts failed accepts, at most one line per {} s)",
                REPORT_EVERY.as_secs()
            ),
            Some(t) if now.duration_since(t) >= REPORT_EVERY => format!(
                "tls: accept on {what}: {err}; {n} failed accepts in the last {} s ({} in all)",
                now.duration_since(t).as_secs(),
                self.total.get()
            ),
            Some(_) => {
                self.unreported.set(n);
                return None;
            }
        };
        self.unreported.set(0);
        self.last_line.set(Some(now));
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_then_summaries_at_most_every_period() {
        let e = AcceptErrors::default();
        let err = std::io::Error::from_raw_os_error(libc::EMFILE);
        let t0 = Instant::now();
        assert!(e.failed(t0, "x", &err).is_some());
        let mut lines = 0;
        for i in 1..100 {
            // ten failures a second for ten seconds
            if e.failed(t0 + Duration::from_millis(100 * i), "x", &err)
                .is_some()
            {
                lines += 1;
            }
        }
        assert_eq!(lines, 0);
        let line = e
            .failed(t0 + REPORT_EVERY, "x", &err)
            .expect("a summary is due");
        assert!(
            line.contains("100 failed accepts in the last 10 s"),
            "{line}"
        );
        assert!(line.contains("101 in all"), "{line}");
        assert_eq!(e.total(), 101);
        assert!(e.failed(t0 + REPORT_EVERY, "x", &err).is_none());
    }
}

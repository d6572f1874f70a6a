//! `loop.signal(name)`: a signal as something a task can wait for.
//!
//! While an object for a signal lives, the signal is blocked in this
//! thread and read from a signalfd that the reactor watches, so no handler
//! is installed and nothing needs `unsafe`: the disposition the process had
//! (default action, `SIG_IGN`, the standalone interpreter's Ctrl-C handler)
//! is never changed, only kept from running. When the last object for the
//! signal is closed or collected, deliveries still pending are read (so
//! they do not hit the old disposition late) and the signal is unblocked
//! again, unless it was blocked before.
//!
//! Deliveries are drained after every reactor poll, whether or not a task
//! waits, and counted per object: each wait consumes one. The kernel merges
//! several deliveries of one signal that arrive before the loop runs.
//!
//! Blocked signals are inherited by child processes (`os.execute`,
//! `io.popen`) while an object lives; that is the price of not touching
//! the disposition, and the reference says so.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::Interest;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::sync::{wait, WaitList};
use super::Runtime;

/// One `loop.signal(name)` object.
pub(crate) struct Watcher {
    signal: Signal,
    /// Deliveries nobody has waited for yet.
    pending: Cell<u64>,
    /// `true`: a delivery; `false`: the object was closed.
    waiters: WaitList<bool>,
    closed: Cell<bool>,
}

/// How a wait ended.
pub(crate) enum Waited {
    Signal,
    Timeout,
    Closed,
}

impl Watcher {
    pub(crate) fn name(&self) -> &'static str {
        self.signal.as_str()
    }

    pub(crate) fn pending(&self) -> u64 {
        self.pending.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// A delivery already counted, if any.
    pub(crate) fn take(&self) -> Option<Waited> {
        if self.closed.get() {
            return Some(Waited::Closed);
        }
        let n = self.pending.get();
        if n > 0 {
            self.pending.set(n - 1);
            return Some(Waited::Signal);
        }
        None
    }

    pub(crate) async fn wait(&self, rt: &Rc<Runtime>, timeout: Option<Duration>) -> Waited {
        if let Some(now) = self.take() {
            return now;
        }
        let w = self.waiters.push(None);
        // A delivery handed to a wait that was given up is not lost.
        let give_back = |delivered: bool| {
            if delivered {
                self.deliver();
            }
        };
        match wait(rt, &self.waiters, w, timeout, give_back).await {
            Some(true) => Waited::Signal,
            Some(false) => Waited::Closed,
            None => Waited::Timeout,
        }
    }

    fn deliver(&self) {
        if !self.waiters.wake_first(true) {
            self.pending.set(self.pending.get() + 1);
        }
    }
}

struct Sub {
    watchers: Vec<Weak<Watcher>>,
    /// The signal was blocked before we blocked it: leave it so.
    was_blocked: bool,
}

struct Reader {
    fd: SignalFd,
    token: usize,
    epoch: u32,
    mask: SigSet,
}

/// The signals being waited for, and the signalfd that reads them.
#[derive(Default)]
pub(crate) struct Signals {
    reader: RefCell<Option<Reader>>,
    subs: RefCell<HashMap<Signal, Sub>>,
}

/// Names a signal as users write it: `"TERM"` or `"SIGTERM"`.
pub(crate) fn parse(name: &str) -> Result<Signal, String> {
    let full = if name.starts_with("SIG") {
        name.to_string()
    } else {
        format!("SIG{name}")
    };
    let sig: Signal = full
        .parse()
        .map_err(|_| format!("unknown signal name \"{name}\""))?;
    match sig {
        Signal::SIGKILL | Signal::SIGSTOP => Err(format!("{full} cannot be caught")),
        Signal::SIGSEGV | Signal::SIGBUS | Signal::SIGFPE | Signal::SIGILL | Signal::SIGTRAP => {
            Err(format!(
                "{full} reports a fault in this process and cannot be waited for"
            ))
        }
        s => Ok(s),
    }
}

impl Signals {
    /// A new object for `signal`; the first one blocks the signal.
    pub(crate) fn watch(&self, rt: &Runtime, signal: Signal) -> std::io::Result<Rc<Watcher>> {
        let watcher = Rc::new(Watcher {
            signal,
            pending: Cell::new(0),
            waiters: WaitList::default(),
            closed: Cell::new(false),
        });
        let mut subs = self.subs.borrow_mut();
        if let Some(sub) = subs.get_mut(&signal) {
            sub.watchers.push(Rc::downgrade(&watcher));
            return Ok(watcher);
        }
        let was_blocked = SigSet::thread_get_mask()?.contains(signal);
        let mut mask = self
            .reader
            .borrow()
            .as_ref()
            .map_or_else(SigSet::empty, |r| r.mask);
        mask.add(signal);
        let mut one = SigSet::empty();
        one.add(signal);
        one.thread_block()?;
        let mut reader = self.reader.borrow_mut();
        let result: std::io::Result<()> = match reader.as_mut() {
            Some(r) => {
                r.fd.set_mask(&mask)
                    .map(|()| r.mask = mask)
                    .map_err(Into::into)
            }
            None => SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .map_err(std::io::Error::from)
                .and_then(|fd| {
                    let token = rt
                        .reactor
                        .watch_fd(fd.as_raw_fd(), None, Interest::READABLE)?;
                    *reader = Some(Reader {
                        fd,
                        token,
                        epoch: 0,
                        mask,
                    });
                    Ok(())
                }),
        };
        if let Err(e) = result {
            if !was_blocked {
                let _ = one.thread_unblock();
            }
            return Err(e);
        }
        subs.insert(
            signal,
            Sub {
                watchers: vec![Rc::downgrade(&watcher)],
                was_blocked,
            },
        );
        Ok(watcher)
    }

    /// Reads every pending delivery and hands each to the objects of its
    /// signal (after each reactor poll; cheap when the signalfd saw nothing).
    pub(crate) fn drain(&self, rt: &Runtime) {
        {
            let mut reader = self.reader.borrow_mut();
            let Some(r) = reader.as_mut() else { return };
            let epoch = rt.reactor.fd_epochs(r.token).0;
            if epoch == r.epoch {
                return;
            }
            r.epoch = epoch;
        }
        self.read_all();
    }

    /// Reads every pending delivery now (one syscall when there is none):
    /// for a wait or a count asked for outside the loop's turn.
    pub(crate) fn read_all(&self) {
        let mut got = Vec::new();
        if let Some(r) = self.reader.borrow().as_ref() {
            while let Ok(Some(info)) = r.fd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    got.push(sig);
                }
            }
        }
        for sig in got {
            let watchers: Vec<Rc<Watcher>> = self
                .subs
                .borrow()
                .get(&sig)
                .map(|s| s.watchers.iter().filter_map(Weak::upgrade).collect())
                .unwrap_or_default();
            for w in watchers {
                w.deliver();
            }
        }
    }

    /// Closes an object; the last one for its signal gives the signal back.
    pub(crate) fn unwatch(&self, watcher: &Watcher) {
        if watcher.closed.replace(true) {
            return;
        }
        watcher.waiters.wake_all(|| false);
        let signal = watcher.signal;
        let last = {
            let mut subs = self.subs.borrow_mut();
            let Some(sub) = subs.get_mut(&signal) else {
                return;
            };
            sub.watchers
                .retain(|w| w.upgrade().is_some_and(|w| !std::ptr::eq(&*w, watcher)));
            sub.watchers.is_empty()
        };
        if !last {
            return;
        }
        // Deliveries already queued go to the other signals' objects (or,
        // for this one, nowhere) rather than to the old disposition.
        self.read_all();
        let sub = self.subs.borrow_mut().remove(&signal);
        if let Some(r) = self.reader.borrow_mut().as_mut() {
            r.mask.remove(signal);
            let _ = r.fd.set_mask(&r.mask);
        }
        if sub.is_some_and(|s| !s.was_blocked) {
            let mut one = SigSet::empty();
            one.add(signal);
            let _ = one.thread_unblock();
        }
    }
}

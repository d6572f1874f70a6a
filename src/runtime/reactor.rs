//! The reactor: a mio `Poll` and, per registered socket, the wakers of the
//! task waiting to read and the task waiting to write.
//!
//! Sockets are registered once for both directions (mio is edge-triggered);
//! an operation first tries the syscall and parks its waker only after
//! `WouldBlock`, so an event with no waker parked is simply dropped.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use smallvec::SmallVec;

use crate::stream::transport::Want;

/// The tasks waiting on one socket, per direction. More than one task can
/// wait for the same readiness: a read that must first flush output waits
/// for "writable" like a write does, and each must be woken.
#[derive(Default)]
struct Slot {
    read: SmallVec<[Waker; 1]>,
    write: SmallVec<[Waker; 1]>,
    /// Events seen per direction: an operation that blocked at epoch `e`
    /// need not try the syscall again until the epoch moves on.
    read_epoch: u32,
    write_epoch: u32,
    /// The peer closed or the socket failed: every later try must reach
    /// the syscall, which reports it (a short read does not mean drained).
    hup: bool,
}

pub(crate) struct Reactor {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    slots: RefCell<Slab<Slot>>,
    woken: RefCell<Vec<Waker>>,
    /// A signal interrupted the wait (see [`Reactor::take_interrupt`]).
    interrupted: std::cell::Cell<bool>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {
            poll: RefCell::new(Poll::new()?),
            events: RefCell::new(Events::with_capacity(1024)),
            slots: RefCell::new(Slab::new()),
            woken: RefCell::new(Vec::new()),
            interrupted: std::cell::Cell::new(false),
        })
    }

    /// The epoll descriptor: readable whenever a registered socket has an event.
    pub(crate) fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.poll.borrow().as_raw_fd()
    }

    /// Whether a signal interrupted a wait since the last call.
    pub(crate) fn take_interrupt(&self) -> bool {
        self.interrupted.replace(false)
    }

    /// Waits at most `timeout` for events and wakes the parked tasks.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.interrupted.set(true);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let mut woken = self.woken.borrow_mut();
        {
            let mut slots = self.slots.borrow_mut();
            for ev in events.iter() {
                let Some(slot) = slots.get_mut(ev.token().0) else {
                    continue;
                };
                let err = ev.is_error();
                slot.hup |= err || ev.is_read_closed() || ev.is_write_closed();
                if ev.is_readable() || ev.is_read_closed() || err {
                    slot.read_epoch = slot.read_epoch.wrapping_add(1);
                    woken.extend(slot.read.drain(..));
                }
                if ev.is_writable() || ev.is_write_closed() || err {
                    slot.write_epoch = slot.write_epoch.wrapping_add(1);
                    woken.extend(slot.write.drain(..));
                }
            }
        }
        for w in woken.drain(..) {
            w.wake();
        }
        Ok(())
    }

    fn add(&self, source: &mut impl Source, interest: Interest) -> io::Result<usize> {
        let token = self.slots.borrow_mut().insert(Slot::default());
        if let Err(e) = self
            .poll
            .borrow()
            .registry()
            .register(source, Token(token), interest)
        {
            self.slots.borrow_mut().remove(token);
            return Err(e);
        }
        Ok(token)
    }

    fn park(&self, token: usize, want: Want, waker: &Waker) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(token) {
            let place = match want {
                Want::Read => &mut slot.read,
                Want::Write => &mut slot.write,
            };
            if !place.iter().any(|w| w.will_wake(waker)) {
                place.push(waker.clone());
            }
        }
    }
}

/// A socket's place in the reactor; removed when dropped. The socket itself
/// leaves epoll when its descriptor is closed.
pub(crate) struct Registration {
    rt: Rc<super::Runtime>,
    token: usize,
}

impl Registration {
    /// Registers `source` for both directions.
    pub(crate) fn new(rt: &Rc<super::Runtime>, source: &mut impl Source) -> io::Result<Self> {
        let token = rt
            .reactor
            .add(source, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Self {
            rt: rt.clone(),
            token,
        })
    }

    /// Registers `source` for reading only (listeners).
    pub(crate) fn new_readable(
        rt: &Rc<super::Runtime>,
        source: &mut impl Source,
    ) -> io::Result<Self> {
        let token = rt.reactor.add(source, Interest::READABLE)?;
        Ok(Self {
            rt: rt.clone(),
            token,
        })
    }

    /// Changes the readiness `source` is registered for (same token).
    pub(crate) fn reregister(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<()> {
        self.rt
            .reactor
            .poll
            .borrow()
            .registry()
            .reregister(source, Token(self.token), interest)
    }

    /// Parks `waker` until the socket is ready for `want`.
    pub(crate) fn park(&self, want: Want, waker: &Waker) {
        self.rt.reactor.park(self.token, want, waker);
    }

    /// Forgets `waker` (its operation is over).
    pub(crate) fn unpark(&self, want: Want, waker: &Waker) {
        if let Some(slot) = self.rt.reactor.slots.borrow_mut().get_mut(self.token) {
            let place = match want {
                Want::Read => &mut slot.read,
                Want::Write => &mut slot.write,
            };
            place.retain(|w| !w.will_wake(waker));
        }
    }

    /// How many readiness events this socket has had in direction `want`.
    /// `None` once the peer closed or the socket failed.
    pub(crate) fn epoch(&self, want: Want) -> Option<u32> {
        let slots = self.rt.reactor.slots.borrow();
        match (slots.get(self.token), want) {
            (Some(s), _) if s.hup => None,
            (Some(s), Want::Read) => Some(s.read_epoch),
            (Some(s), Want::Write) => Some(s.write_epoch),
            (None, _) => None,
        }
    }

    /// Wakes whoever is parked on this socket (a close from another task).
    pub(crate) fn wake_all(&self) {
        let slot = self
            .rt
            .reactor
            .slots
            .borrow_mut()
            .get_mut(self.token)
            .map(std::mem::take);
        if let Some(slot) = slot {
            slot.read
                .into_iter()
                .chain(slot.write)
                .for_each(Waker::wake);
        }
    }

    pub(crate) fn runtime(&self) -> &Rc<super::Runtime> {
        &self.rt
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut slots = self.rt.reactor.slots.borrow_mut();
        if slots.contains(self.token) {
            slots.remove(self.token);
        }
    }
}

/// Descriptors that are not ours (`loop.poll`): registered by number for
/// the length of a wait, so the descriptor's owner keeps full control.
impl Reactor {
    /// Registers `fd`, or changes the interest of its registration at
    /// `token`; either way epoll reports the current readiness afresh,
    /// which gives `loop.poll` level-triggered answers.
    pub(crate) fn watch_fd(
        &self,
        fd: std::os::fd::RawFd,
        token: Option<usize>,
        interest: Interest,
    ) -> io::Result<usize> {
        let mut source = mio::unix::SourceFd(&fd);
        match token {
            None => self.add(&mut source, interest),
            Some(t) => {
                self.poll
                    .borrow()
                    .registry()
                    .reregister(&mut source, Token(t), interest)?;
                Ok(t)
            }
        }
    }

    /// Ends a registration made by [`Reactor::watch_fd`].
    pub(crate) fn unwatch_fd(&self, fd: std::os::fd::RawFd, token: usize) {
        // The owner may have closed it already; epoll then forgot it.
        let _ = self
            .poll
            .borrow()
            .registry()
            .deregister(&mut mio::unix::SourceFd(&fd));
        let mut slots = self.slots.borrow_mut();
        if slots.contains(token) {
            slots.remove(token);
        }
    }

    /// Parks `waker` on a registration made by [`Reactor::watch_fd`].
    pub(crate) fn park_fd(&self, token: usize, want: Want, waker: &Waker) {
        self.park(token, want, waker);
    }

    /// Forgets `waker` on a registration made by [`Reactor::watch_fd`].
    pub(crate) fn unpark_fd(&self, token: usize, waker: &Waker) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(token) {
            slot.read.retain(|w| !w.will_wake(waker));
            slot.write.retain(|w| !w.will_wake(waker));
        }
    }

    /// Readiness events seen so far at `token`: (read, write).
    pub(crate) fn fd_epochs(&self, token: usize) -> (u32, u32) {
        self.slots
            .borrow()
            .get(token)
            .map_or((0, 0), |s| (s.read_epoch, s.write_epoch))
    }
}

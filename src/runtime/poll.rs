//! `loop.poll(fd, events [, timeout])`: waits until a descriptor that
//! another library owns is ready.
//!
//! The descriptor is registered with the reactor only while someone polls
//! it (several polls of one descriptor share the registration). Each poll
//! registers or re-arms it and then looks at epoll's answer at once, so a
//! descriptor that is already ready answers without waiting, as `poll(2)`
//! would: level-triggered, although mio is edge-triggered.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use mio::Interest;

use super::deadline::Deadline;
use super::Runtime;
use crate::error::NetError;
use crate::stream::transport::Want;

/// The directions a poll asks for or reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Ready {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl Ready {
    fn interest(self) -> Interest {
        match (self.read, self.write) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    fn union(self, o: Self) -> Self {
        Self {
            read: self.read || o.read,
            write: self.write || o.write,
        }
    }
}

struct Watch {
    token: usize,
    users: usize,
    interest: Ready,
}

/// The foreign descriptors being polled, by number.
#[derive(Default)]
pub(crate) struct Foreign {
    watched: RefCell<HashMap<RawFd, Watch>>,
}

enum Joined {
    Token(usize),
    /// epoll refuses regular files, which are always ready.
    AlwaysReady,
}

impl Foreign {
    fn join(&self, rt: &Runtime, fd: RawFd, want: Ready) -> io::Result<Joined> {
        let mut watched = self.watched.borrow_mut();
        let (token, interest) = match watched.get(&fd) {
            Some(w) => (Some(w.token), w.interest.union(want)),
            None => (None, want),
        };
        let token = match rt.reactor.watch_fd(fd, token, interest.interest()) {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(Joined::AlwaysReady),
            Err(e) => return Err(e),
        };
        let w = watched.entry(fd).or_insert(Watch {
            token,
            users: 0,
            interest,
        });
        w.users += 1;
        w.interest = interest;
        Ok(Joined::Token(token))
    }

    fn leave(&self, rt: &Runtime, fd: RawFd) {
        let mut watched = self.watched.borrow_mut();
        if let Some(w) = watched.get_mut(&fd) {
            w.users -= 1;
            if w.users == 0 {
                rt.reactor.unwatch_fd(fd, w.token);
                watched.remove(&fd);
            }
        }
    }
}

/// Waits until `fd` is ready for one of the directions in `want`; returns
/// those that are, or `Ready::default()` when `timeout` passed first.
pub(crate) async fn poll_fd(
    rt: &Rc<Runtime>,
    fd: RawFd,
    want: Ready,
    timeout: Option<Duration>,
) -> Result<Ready, NetError> {
    if fd < 0 {
        return Err(closed(fd));
    }
    let token = match rt.foreign.join(rt, fd, want) {
        Ok(Joined::Token(t)) => t,
        Ok(Joined::AlwaysReady) => return Ok(want),
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => return Err(closed(fd)),
        Err(e) => {
            return Err(NetError::from_io(
                &format!("loop.poll: descriptor {fd}"),
                &e,
            ))
        }
    };
    struct Leave<'a> {
        rt: &'a Rc<Runtime>,
        fd: RawFd,
        token: usize,
        waker: Option<Waker>,
    }
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            if let Some(w) = &self.waker {
                self.rt.reactor.unpark_fd(self.token, w);
            }
            self.rt.foreign.leave(self.rt, self.fd);
        }
    }
    let mut leave = Leave {
        rt,
        fd,
        token,
        waker: None,
    };
    let start = rt.reactor.fd_epochs(token);
    // The registration makes epoll report what is ready now: look once
    // without waiting, so a ready descriptor answers at once.
    rt.reactor
        .poll(Some(Duration::ZERO))
        .map_err(|e| NetError::from_io("loop.poll", &e))?;
    let mut deadline = Deadline::after(rt, timeout);
    Ok(poll_fn(|cx| {
        let (r, w) = rt.reactor.fd_epochs(token);
        let seen = Ready {
            read: want.read && r != start.0,
            write: want.write && w != start.1,
        };
        if seen.read || seen.write {
            return Poll::Ready(seen);
        }
        if want.read {
            rt.reactor.park_fd(token, Want::Read, cx.waker());
        }
        if want.write {
            rt.reactor.park_fd(token, Want::Write, cx.waker());
        }
        leave.waker = Some(cx.waker().clone());
        if deadline.poll_expired(cx) {
            return Poll::Ready(Ready::default());
        }
        Poll::Pending
    })
    .await)
}

fn closed(fd: RawFd) -> NetError {
    NetError::new(
        "closed",
        format!("loop.poll: descriptor {fd} is not open (closed or invalid)"),
    )
}

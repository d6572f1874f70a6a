//! Waiting: the one future every stream operation uses when it cannot
//! finish at once. It re-runs the operation's step each time the socket is
//! ready, bounded by the stream's timeout.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use mlua::Lua;

use super::core::{Out, Step, Stream};
use super::transport::Want;
use crate::error::NetError;
use crate::runtime::deadline::Deadline;
use crate::runtime::Runtime;

/// Which direction an operation occupies (one waiter per direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// Claims a direction of the stream for one waiting operation, and
/// remembers where it parked so the reactor forgets its waker when the
/// operation ends (by readiness, timeout, close or cancellation).
struct Claim {
    stream: Rc<RefCell<Stream>>,
    dir: Dir,
    parked: Option<(Want, Waker)>,
}

impl Claim {
    fn new(stream: &Rc<RefCell<Stream>>, dir: Dir, what: &str) -> mlua::Result<Self> {
        let mut s = stream.borrow_mut();
        s.drop_stale_wait(dir as usize);
        let flag = match dir {
            Dir::Read => &mut s.reading,
            Dir::Write => &mut s.writing,
        };
        if *flag {
            let verb = if dir == Dir::Read {
                "reading from"
            } else {
                "writing to"
            };
            return Err(mlua::Error::runtime(format!(
                "ios:{what}: another task is already {verb} this stream"
            )));
        }
        *flag = true;
        Ok(Self {
            stream: stream.clone(),
            dir,
            parked: None,
        })
    }

    /// Parks `waker` for `want`, replacing where this operation parked before.
    fn park(&mut self, s: &Stream, want: Want, waker: &Waker) {
        match &self.parked {
            Some((w, k)) if *w == want && k.will_wake(waker) => {}
            Some((w, k)) => {
                s.unpark(*w, k);
                self.parked = Some((want, waker.clone()));
            }
            None => self.parked = Some((want, waker.clone())),
        }
        s.park(want, waker);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut s) = self.stream.try_borrow_mut() {
            if let Some((want, waker)) = self.parked.take() {
                s.unpark(want, &waker);
            }
            match self.dir {
                Dir::Read => s.reading = false,
                Dir::Write => s.writing = false,
            }
        }
    }
}

/// Runs `step` until it is ready, parking on the socket in between; after
/// the stream's timeout the result is `nil, msg, "timeout"`.
pub(crate) async fn wait(
    lua: Lua,
    rt: Rc<Runtime>,
    stream: Rc<RefCell<Stream>>,
    dir: Dir,
    what: &'static str,
    mut step: impl FnMut(&Lua, &mut Stream) -> mlua::Result<Step<Out>>,
) -> mlua::Result<Out> {
    let mut claim = Claim::new(&stream, dir, what)?;
    let mut deadline = Deadline::after(&rt, stream.borrow().timeout);
    poll_fn(|cx| {
        let mut s = stream.borrow_mut();
        match step(&lua, &mut s)? {
            Step::Ready(v) => Poll::Ready(Ok(v)),
            Step::Blocked(want) => {
                if deadline.poll_expired(cx) {
                    return Poll::Ready(Ok(Out::Fail(s.timeout_error(what))));
                }
                claim.park(&s, want, cx.waker());
                Poll::Pending
            }
        }
    })
    .await
}

/// Maps a step that yields `()` into one that yields `ok`.
pub(crate) fn unit_step(r: Result<Step<()>, NetError>, ok: Out) -> Step<Out> {
    match r {
        Ok(Step::Ready(())) => Step::Ready(ok),
        Ok(Step::Blocked(w)) => Step::Blocked(w),
        Err(e) => Step::Ready(Out::Fail(e)),
    }
}

/// Both directions of a stream held by one operation that must not share
/// it (a TLS handshake: `tls.connecta`, `ios:starttls`). Claiming raises
/// when another task is reading or writing the stream.
pub(crate) struct Exclusive {
    read: Claim,
    _write: Claim,
}

impl Exclusive {
    pub(crate) fn new(stream: &Rc<RefCell<Stream>>, what: &str) -> mlua::Result<Self> {
        Ok(Self {
            read: Claim::new(stream, Dir::Read, what)?,
            _write: Claim::new(stream, Dir::Write, what)?,
        })
    }

    /// Runs `step` until it is done, parking on the socket in between;
    /// past `deadline` it fails with `timeout` ("`what` with <stream>:
    /// timed out").
    pub(crate) async fn run(
        &mut self,
        deadline: &mut Deadline,
        what: &str,
        mut step: impl FnMut(&mut Stream) -> Result<Step<()>, NetError>,
    ) -> Result<(), NetError> {
        let stream = self.read.stream.clone();
        poll_fn(|cx| {
            let mut s = stream.borrow_mut();
            match step(&mut s) {
                Ok(Step::Ready(())) => Poll::Ready(Ok(())),
                Err(e) => Poll::Ready(Err(e)),
                Ok(Step::Blocked(want)) => {
                    if deadline.poll_expired(cx) {
                        let msg = format!("{what} with {}: timed out", s.what());
                        return Poll::Ready(Err(NetError::new("timeout", msg)));
                    }
                    self.read.park(&s, want, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

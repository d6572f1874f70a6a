//! The stream state behind an `ios`: transport, buffers, modes, end state.
//!
//! Every operation here is non-blocking and returns what it could do; the
//! futures in `ops` park on the reactor when an operation is blocked.

use std::io;
use std::task::Waker;
use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue, Value};

mod upgrade;

use super::buffer::ReadBuffer;
use super::format::{match_format, Format, Match, Piece};
use super::transport::{Transport, Want};

/// The most room a read makes ahead for a count it waits for: a larger
/// count fills the buffer as it grows.
const MAX_ROOM: usize = 256 * 1024;
/// A read of at least this much (a full TLS record) never counts as
/// having drained the socket (see `fill`).
const BULK_READ: usize = 16 * 1024;
use crate::error::NetError;
use crate::runtime::reactor::Registration;
use crate::runtime::timer::TimerKey;

/// Default longest line `"l"`/`"L"` accept before failing with `toolong`.
pub(crate) const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Output buffering, as `file:setvbuf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufMode {
    /// Every write is sent before `write` returns.
    No,
    /// Sent at each newline, when full, or at flush/read/close.
    Line,
    /// Sent when full, or at flush/read/close.
    Full,
}

/// How the incoming direction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Open,
    /// Clean end of stream (TCP FIN; TLS close_notify).
    Clean,
    /// Ended by an error (reset, truncated TLS): reported by every read
    /// that needs more than the buffer holds.
    Failed(NetError),
}

/// What [`Stream::take_line`] came to.
pub(crate) enum LineTake {
    /// The line was handed over.
    Taken,
    /// Not all there, and the socket has nothing more now.
    Wait(Want),
    /// The general read path must answer.
    General,
}

/// The outcome of a step that may have to wait.
pub(crate) enum Step<T> {
    Ready(T),
    Blocked(Want),
}

pub(crate) struct Stream {
    transport: Option<Box<dyn Transport>>,
    registration: Option<Registration>,
    rbuf: ReadBuffer,
    wbuf: Vec<u8>,
    wpos: usize,
    mode: BufMode,
    buf_size: usize,
    end: End,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_line: usize,
    /// `"tcp"` or `"tls"`, for messages.
    pub(crate) kind: &'static str,
    pub(crate) peer: Option<crate::net::socket::Endpoint>,
    /// The name the client asked for (TLS), for messages.
    pub(crate) host: Option<std::rc::Rc<str>>,
    /// A read or write future is waiting (one of each at a time).
    pub(crate) reading: bool,
    pub(crate) writing: bool,
    /// Set when a direction blocked: the readiness it waits for and the
    /// reactor epoch then. Until the epoch moves, retrying is a wasted
    /// syscall.
    read_gate: Option<(Want, u32)>,
    write_gate: Option<(Want, u32)>,
    /// Tasks parked by the future-less path, per direction (read, write).
    task_waits: [Option<TaskWait>; 2],
    /// `shutdown()` is done: writes fail with a message that says so.
    shut: bool,
    /// A write met the connection's reset. The socket reports a reset
    /// once, so the read that reaches the end then sees a plain end of
    /// stream; this makes it fail with `reset` instead.
    reset: bool,
}

/// A task parked on this stream by a plain method: it yields from Lua and
/// retries when woken, so its deadline and parked waker live here rather
/// than in a future.
pub(crate) struct TaskWait {
    rt: std::rc::Rc<crate::runtime::Runtime>,
    waker: Waker,
    /// The task's slot, to tell a wait whose task has ended (see
    /// [`Stream::drop_stale_wait`]).
    task: Option<usize>,
    parked: Option<Want>,
    deadline: Option<Instant>,
    timer: Option<TimerKey>,
}

/// What an operation answers, before it becomes Lua values.
pub(crate) enum Out {
    /// One value (the common read).
    One(Value),
    /// Several values (several read formats).
    Many(Vec<Value>),
    /// `nil, message, code`.
    Fail(NetError),
    /// `nil, message, code, partial`: a read cut short by a failed end of
    /// stream hands over the bytes that did arrive (LuaSocket's convention).
    Cut(NetError, Value),
    /// The stream itself (`write`, `flush`, `handshake` return the ios).
    Stream,
}

impl Out {
    /// The Lua results, `this` standing for the stream. Split as first
    /// value plus rest so that one result costs no allocation.
    pub(crate) fn into_lua(
        self,
        lua: &Lua,
        this: Value,
    ) -> mlua::Result<(Value, mlua::Variadic<Value>)> {
        Ok(match self {
            Out::One(v) => (v, mlua::Variadic::new()),
            Out::Stream => (this, mlua::Variadic::new()),
            Out::Many(mut vs) => {
                if vs.is_empty() {
                    (Value::Nil, mlua::Variadic::new())
                } else {
                    let first = vs.remove(0);
                    (first, mlua::Variadic::from_iter(vs))
                }
            }
            Out::Fail(e) => (
                Value::Nil,
                mlua::Variadic::from_iter([
                    Value::String(lua.create_string(&e.message)?),
                    Value::String(lua.create_string(e.code)?),
                ]),
            ),
            Out::Cut(e, partial) => (
                Value::Nil,
                mlua::Variadic::from_iter([
                    Value::String(lua.create_string(&e.message)?),
                    Value::String(lua.create_string(e.code)?),
                    partial,
                ]),
            ),
        })
    }
}

impl Stream {
    pub(crate) fn new(
        transport: Box<dyn Transport>,
        registration: Registration,
        kind: &'static str,
    ) -> Self {
        let peer = transport.socket().label();
        Self::with_label(transport, registration, kind, peer)
    }

    /// As [`Stream::new`], with the name for messages already known (an
    /// accepted TCP socket: `accept` gave the peer's address, so no
    /// `getpeername` call is spent per connection).
    pub(crate) fn with_label(
        transport: Box<dyn Transport>,
        registration: Registration,
        kind: &'static str,
        peer: Option<crate::net::socket::Endpoint>,
    ) -> Self {
        Self {
            transport: Some(transport),
            registration: Some(registration),
            rbuf: ReadBuffer::default(),
            wbuf: Vec::new(),
            wpos: 0,
            mode: BufMode::No,
            buf_size: 16 * 1024,
            end: End::Open,
            timeout: None,
            max_line: DEFAULT_MAX_LINE,
            kind,
            peer,
            host: None,
            reading: false,
            writing: false,
            read_gate: None,
            write_gate: None,
            task_waits: [None, None],
            shut: false,
            reset: false,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.transport.is_none()
    }

    pub(crate) fn transport(&self) -> Option<&dyn Transport> {
        self.transport.as_deref()
    }

    /// Parks `waker` until the socket is ready for `want`.
    pub(crate) fn park(&self, want: Want, waker: &Waker) {
        if let Some(r) = &self.registration {
            r.park(want, waker);
        }
    }

    /// Forgets a waker parked by [`Self::park`].
    pub(crate) fn unpark(&self, want: Want, waker: &Waker) {
        if let Some(r) = &self.registration {
            r.unpark(want, waker);
        }
    }

    /// Parks the running task (`waker`) for direction `dir` (0 read, 1
    /// write) until the socket is ready for `want`. Returns true when the
    /// stream's timeout has passed by `now` instead; the wait is then over.
    pub(crate) fn park_task(
        &mut self,
        dir: usize,
        want: Want,
        waker: &Waker,
        what: &str,
        now: Instant,
    ) -> mlua::Result<bool> {
        let flag = if dir == 0 { self.reading } else { self.writing };
        let rt = match &self.registration {
            Some(r) => r.runtime().clone(),
            None => return Ok(false),
        };
        match &mut self.task_waits[dir] {
            Some(w) if w.waker.will_wake(waker) => {
                if w.deadline.is_some_and(|d| now >= d) {
                    self.end_task_wait(dir);
                    return Ok(true);
                }
                if w.parked != Some(want) {
                    if let (Some(old), Some(r)) = (w.parked, &self.registration) {
                        r.unpark(old, &w.waker);
                    }
                    w.parked = Some(want);
                }
            }
            Some(_) => return Err(busy(dir, what)),
            None if flag => return Err(busy(dir, what)),
            None => {
                let deadline = self
                    .timeout
                    .map(|t| crate::runtime::deadline::later(now, t));
                let timer = deadline.map(|d| rt.timers.add(d, waker.clone()));
                self.task_waits[dir] = Some(TaskWait {
                    task: rt.exec.current_id(),
                    rt: rt.clone(),
                    waker: waker.clone(),
                    parked: Some(want),
                    deadline,
                    timer,
                });
                if dir == 0 {
                    self.reading = true;
                } else {
                    self.writing = true;
                }
            }
        }
        self.park(want, waker);
        Ok(false)
    }

    /// Ends the parked wait of direction `dir`, if the running task owns it.
    pub(crate) fn end_task_wait_of(&mut self, dir: usize, waker: &Waker) {
        if self.task_waits[dir]
            .as_ref()
            .is_some_and(|w| w.waker.will_wake(waker))
        {
            self.end_task_wait(dir);
        }
    }

    /// Whether a task is parked in direction `dir`.
    pub(crate) fn has_task_wait(&self, dir: usize) -> bool {
        self.task_waits[dir].is_some()
    }

    fn end_task_wait(&mut self, dir: usize) {
        if let Some(w) = self.task_waits[dir].take() {
            if let (Some(r), Some(want)) = (&self.registration, w.parked) {
                r.unpark(want, &w.waker);
            }
            if let Some(k) = w.timer {
                w.rt.timers.cancel(k);
            }
            if dir == 0 {
                self.reading = false;
            } else {
                self.writing = false;
            }
        }
    }

    /// The failure of an operation that ran out of time.
    pub(crate) fn timeout_error(&self, what: &str) -> NetError {
        NetError::new("timeout", format!("{what} on {}: timed out", self.what()))
    }

    pub(crate) fn closed_error(&self) -> NetError {
        NetError::new("closed", format!("{} stream is closed", self.kind))
    }

    /// Names the stream in messages: `tls localhost (127.0.0.1:443)`.
    pub(crate) fn what(&self) -> String {
        self.who().to_string()
    }

    fn who(&self) -> Who {
        Who(self.kind, self.peer.clone(), self.host.clone())
    }

    /// The gate for a direction that blocked waiting for `want`.
    fn gate(&self, want: Want) -> Option<(Want, u32)> {
        let r = self.registration.as_ref()?;
        Some((want, r.epoch(want)?))
    }

    /// The readiness a gated direction still waits for, if no event came.
    fn gated(&self, gate: Option<(Want, u32)>) -> Option<Want> {
        let (want, epoch) = gate?;
        let r = self.registration.as_ref()?;
        (r.epoch(want) == Some(epoch)).then_some(want)
    }

    // ---- reading ----

    /// Answers `fmts` from the buffer, reading from the transport while it
    /// has bytes; `Blocked` when it must wait. Flushes pending output first
    /// so a request is never stuck in our buffer while we wait for its reply.
    pub(crate) fn try_read(&mut self, lua: &Lua, fmts: &[Format]) -> mlua::Result<Step<Out>> {
        if self.is_closed() {
            return fail(self.closed_error());
        }
        if self.has_output() {
            match self.flush_step() {
                Ok(Step::Ready(())) => {}
                Ok(Step::Blocked(want)) => return Ok(Step::Blocked(want)),
                Err(e) => return fail(e),
            }
        }
        loop {
            let eof = self.end == End::Clean;
            // One format (the usual read) needs no list of pieces.
            if let [fmt] = fmts {
                match match_format(*fmt, self.rbuf.bytes(), eof, self.max_line) {
                    Match::Done { consumed, piece } => {
                        let value = self.value(lua, 0, &piece)?;
                        self.rbuf.consume(consumed);
                        return Ok(Step::Ready(Out::One(value)));
                    }
                    Match::TooLong => return fail(self.too_long()),
                    Match::Need => {}
                }
            } else {
                match evaluate(fmts, self.rbuf.bytes(), eof, self.max_line) {
                    Eval::Complete { pieces, consumed } => {
                        let values = self.values(lua, &pieces)?;
                        self.rbuf.consume(consumed);
                        return Ok(Step::Ready(values));
                    }
                    Eval::TooLong => return fail(self.too_long()),
                    Eval::Need => {}
                }
            }
            if let End::Failed(e) = &self.end {
                let e = e.clone();
                return self.cut_short(lua, fmts, e);
            }
            // A count says how much the answer needs: room for all of it
            // (and one more transport unit) is made before filling, while
            // the buffer holds least.
            let need = match fmts {
                [Format::Count(n)] => *n,
                _ => 0,
            };
            if let Some(want) = self.pull(need) {
                return Ok(Step::Blocked(want));
            }
        }
    }

    /// A complete line, for the raw fast path (`fast/stream.rs`): from the
    /// buffer, or from what the socket has now (a read that cannot block);
    /// hands its bytes to `take`, then consumes it. When the running task
    /// was parked on this stream for a read, that wait is over.
    /// [`LineTake::Wait`] when the socket is not ready (the read gate then
    /// spares a retry its syscall), and [`LineTake::General`], with nothing
    /// consumed, when answering needs the general path: output to flush
    /// first, another reader (a future, or another task's wait), a closed
    /// stream, an end of stream or a failure (a partial last line and
    /// every failure are reported by [`Self::try_read`]).
    pub(crate) fn take_line(&mut self, keep: bool, take: impl FnOnce(&[u8])) -> LineTake {
        if self.has_output() || self.is_closed() {
            return LineTake::General;
        }
        if self.reading && !self.wait_is_current(0) {
            return LineTake::General;
        }
        loop {
            let data = self.rbuf.bytes();
            match match_format(Format::Line { keep }, data, false, self.max_line) {
                Match::Done {
                    consumed,
                    piece: Piece::Bytes(a, b),
                } => {
                    take(&data[a..b]);
                    self.rbuf.consume(consumed);
                    if self.reading {
                        self.end_task_wait(0);
                    }
                    return LineTake::Taken;
                }
                Match::Need => {}
                _ => return LineTake::General,
            }
            if self.end != End::Open {
                return LineTake::General;
            }
            if let Some(want) = self.pull(0) {
                return LineTake::Wait(want);
            }
        }
    }

    /// Parks the task whose coroutine is `thread` for a line read that
    /// [`Self::take_line`] found waiting for `want`, as the general path
    /// would (the stream's timeout starts at the first wait); true when
    /// parked. False, with nothing changed, when the general path must
    /// answer instead: not that task's coroutine, a cancelled task,
    /// another reader, or a timeout that has passed (it reports it).
    pub(crate) fn park_line_read(&mut self, want: Want, thread: *const std::ffi::c_void) -> bool {
        let Some(r) = &self.registration else {
            return false;
        };
        let Some(waker) = r.runtime().exec.parkable(thread) else {
            return false;
        };
        // One clock reading for the check and the park: a deadline that
        // passed between two would end the wait in `park_task`, and the
        // general path would start a new one instead of reporting it.
        let now = Instant::now();
        match &self.task_waits[0] {
            Some(w) if !w.waker.will_wake(&waker) => return false,
            Some(w) if w.deadline.is_some_and(|d| now >= d) => return false,
            None if self.reading => return false,
            _ => {}
        }
        matches!(self.park_task(0, want, &waker, "read", now), Ok(false))
    }

    /// Whether the wait parked here for direction `dir` is the running
    /// task's.
    fn wait_is_current(&self, dir: usize) -> bool {
        let Some(w) = &self.task_waits[dir] else {
            return false;
        };
        w.rt.exec
            .current_waker()
            .is_some_and(|cur| w.waker.will_wake(&cur))
    }

    /// Raises when another task, or a blocking call, is already reading
    /// (`dir` 0) or writing (1) this stream: checked before a call takes
    /// any input or queues any output, so the waiting one's data is not
    /// taken from it or mixed with ours. The running task's own wait (a
    /// retry after its wake-up) passes.
    pub(crate) fn check_busy(&mut self, dir: usize, what: &str) -> mlua::Result<()> {
        let claimed = if dir == 0 { self.reading } else { self.writing };
        if claimed && !self.wait_is_current(dir) && !self.drop_stale_wait(dir) {
            return Err(busy(dir, what));
        }
        Ok(())
    }

    /// Forgets the task wait of direction `dir` if its task has ended
    /// while parked: it died with an error between parking and yielding
    /// that nothing could see coming (a wait inside a metamethod on Lua
    /// 5.1, which cannot yield there). Without this the stream would stay
    /// claimed by nobody. True when it did.
    pub(crate) fn drop_stale_wait(&mut self, dir: usize) -> bool {
        let stale = self.task_waits[dir]
            .as_ref()
            .is_some_and(|w| w.task.is_some_and(|id| !w.rt.exec.task_lives(id, &w.waker)));
        if stale {
            self.end_task_wait(dir);
        }
        stale
    }

    /// A read the buffer cannot answer on a stream that ended in failure
    /// (reset, truncated TLS). A single `"a"`, `"l"`, `"L"` or count
    /// hands over every buffered byte as the partial result and consumes
    /// it; `"n"`, `0` and several formats consume nothing, so the bytes stay
    /// for the next read. Nothing that arrived is dropped.
    fn cut_short(&mut self, lua: &Lua, fmts: &[Format], e: NetError) -> mlua::Result<Step<Out>> {
        match fmts {
            [Format::All | Format::Line { .. } | Format::Count(1..)] => {
                let partial = lua.create_string(self.rbuf.bytes())?;
                self.rbuf.consume(self.rbuf.len());
                Ok(Step::Ready(Out::Cut(e, Value::String(partial))))
            }
            _ => fail(e),
        }
    }

    /// Reads what the transport has into the buffer (`need`: see
    /// [`Self::fill`]), recording the end of stream or a failure;
    /// `Some(want)` when it must wait instead.
    fn pull(&mut self, need: usize) -> Option<Want> {
        if let Some(want) = self.gated(self.read_gate) {
            self.rbuf.idle();
            return Some(want);
        }
        match self.fill(need) {
            Ok(0) if self.reset => self.end = End::Failed(self.reset_error()),
            Ok(0) => self.end = End::Clean,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let want = self.transport.as_ref().map_or(Want::Read, |t| t.want());
                self.read_gate = self.gate(want);
                self.rbuf.idle();
                self.wbuf_idle();
                return Some(want);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // TLS sees the reset's end of stream as a truncation.
            Err(e) if self.reset && e.kind() == io::ErrorKind::UnexpectedEof => {
                self.end = End::Failed(self.reset_error())
            }
            Err(e) => {
                self.end = End::Failed(NetError::from_io(&format!("read from {}", self.what()), &e))
            }
        }
        None
    }

    fn reset_error(&self) -> NetError {
        let msg = format!("read from {}: connection reset by peer", self.what());
        NetError::new("reset", msg)
    }

    /// The failure of a write (`what`: "write to ..."), noting a reset for
    /// the reads after it: `ECONNRESET`, or `EPIPE` on a stream we did not
    /// shut down (the reset came, and was reported, before).
    fn write_failure(&mut self, what: &str, e: &io::Error) -> NetError {
        let err = NetError::from_io(what, e);
        let pipe = e.raw_os_error() == Some(libc::EPIPE) && !self.shut;
        if err.code == "reset" || pipe {
            self.reset = true;
        }
        err
    }

    /// `ios:fill(n)`: waits until `n` bytes are buffered (fewer at the end
    /// of stream) without consuming them; answers how many are buffered.
    pub(crate) fn try_fill(&mut self, n: usize) -> mlua::Result<Step<Out>> {
        if self.is_closed() {
            return fail(self.closed_error());
        }
        loop {
            let have = self.rbuf.len();
            if have >= n || self.end == End::Clean {
                return Ok(Step::Ready(Out::One(Value::Integer(have as i64))));
            }
            if let End::Failed(e) = &self.end {
                return fail(e.clone());
            }
            if let Some(want) = self.pull(n) {
                return Ok(Step::Blocked(want));
            }
        }
    }

    /// Reads what the transport has into the buffer; `need` is how many
    /// buffered bytes the waiting read wants (0: unknown).
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let unit = t.read_unit();
        let missing = need.saturating_sub(self.rbuf.len());
        let room = if missing > 0 {
            (missing + unit).min(MAX_ROOM)
        } else {
            unit
        };
        let spare = self.rbuf.spare_at_least(room);
        let asked = spare.len();
        let n = t.read(spare)?;
        // A read that brought this much is part of a bulk transfer, with
        // more likely in flight: the next read tries the socket before it
        // waits for readiness (else a 1 GB download waits in `epoll_wait`
        // before nearly every read, 19,000 times instead of 800).
        let drained = n > 0 && n < BULK_READ && t.drained(asked, n);
        self.rbuf.commit(n);
        self.read_gate = if drained { self.gate(Want::Read) } else { None };
        Ok(n)
    }

    fn too_long(&self) -> NetError {
        let msg = format!(
            "read from {}: line longer than {} bytes",
            self.what(),
            self.max_line
        );
        NetError::new("toolong", msg)
    }

    /// The Lua value of `piece`, matched at `base` in the buffer.
    fn value(&self, lua: &Lua, base: usize, piece: &Piece) -> mlua::Result<Value> {
        let data = self.rbuf.bytes();
        Ok(match *piece {
            Piece::Bytes(a, b) => Value::String(lua.create_string(&data[base + a..base + b])?),
            Piece::Numeral(a, b) => numeral(lua, &data[base + a..base + b])?,
            Piece::Fail => Value::Nil,
        })
    }

    fn values(&self, lua: &Lua, pieces: &[(usize, Piece)]) -> mlua::Result<Out> {
        match pieces {
            [(base, piece)] => Ok(Out::One(self.value(lua, *base, piece)?)),
            many => Ok(Out::Many(
                many.iter()
                    .map(|(base, piece)| self.value(lua, *base, piece))
                    .collect::<mlua::Result<_>>()?,
            )),
        }
    }

    // ---- writing ----

    pub(crate) fn has_output(&self) -> bool {
        self.wpos < self.wbuf.len()
    }

    /// Takes `bytes` for sending: straight to the transport when nothing is
    /// queued and output is unbuffered, else into the output buffer.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        if self.shut {
            let msg = format!(
                "write to {}: the stream was shut down for writing",
                self.what()
            );
            return Err(NetError::new("closed", msg));
        }
        let mut sent = 0;
        if !self.has_output() && self.mode == BufMode::No && self.gated(self.write_gate).is_none() {
            let t = self
                .transport
                .as_mut()
                .ok_or_else(|| NetError::new("closed", "stream is closed"))?;
            let mut blocked = None;
            while sent < bytes.len() {
                match t.write(&bytes[sent..]) {
                    Ok(0) => break,
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        blocked = Some(t.want());
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let what = format!("write to {}", self.who());
                        return Err(self.write_failure(&what, &e));
                    }
                }
            }
            self.write_gate = blocked.and_then(|w| self.gate(w));
        }
        if sent < bytes.len() {
            if self.wpos == self.wbuf.len() {
                self.wbuf.clear();
                self.wpos = 0;
            }
            self.wbuf.extend_from_slice(&bytes[sent..]);
        }
        Ok(())
    }

    /// The stream is about to wait for input: a drained write buffer gives
    /// back its memory, so idle connections hold none.
    fn wbuf_idle(&mut self) {
        if self.wpos == self.wbuf.len() && self.wbuf.capacity() > 0 {
            self.wbuf = Vec::new();
            self.wpos = 0;
        }
    }

    /// `write(...)` of strings, for the raw fast path: takes the bytes
    /// and sends them when the buffering mode says so. `Blocked`: the
    /// bytes are taken (buffered) and the flush must wait. A failure stops
    /// at the part that failed, as in the general path.
    pub(crate) fn write_parts(&mut self, parts: &[&[u8]]) -> Result<Step<()>, NetError> {
        let mut newline = false;
        for part in parts {
            self.put(part)?;
            newline =
                newline || (self.mode == BufMode::Line && memchr::memchr(b'\n', part).is_some());
        }
        if !self.must_flush(newline) {
            return Ok(Step::Ready(()));
        }
        self.flush_step()
    }

    /// Whether buffered output must go out before `write` returns.
    pub(crate) fn must_flush(&self, wrote_newline: bool) -> bool {
        match self.mode {
            BufMode::No => true,
            BufMode::Line => wrote_newline || self.wbuf.len() - self.wpos >= self.buf_size,
            BufMode::Full => self.wbuf.len() - self.wpos >= self.buf_size,
        }
    }

    /// Sends buffered output, then asks the transport to push what it holds.
    pub(crate) fn flush_step(&mut self) -> Result<Step<()>, NetError> {
        if let Some(want) = self.gated(self.write_gate) {
            return Ok(Step::Blocked(want));
        }
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| NetError::new("closed", "stream is closed"))?;
        // Messages are made only on failure: this runs for every response.
        let mut blocked = None;
        let mut failed = None;
        while self.wpos < self.wbuf.len() {
            match t.write(&self.wbuf[self.wpos..]) {
                Ok(0) => {
                    let msg = format!("write to {}: connection closed", self.who());
                    return Err(NetError::new("closed", msg));
                }
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = Some(t.want());
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if blocked.is_none() && failed.is_none() {
            self.wbuf.clear();
            self.wpos = 0;
            match t.flush() {
                Ok(()) => return Ok(Step::Ready(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => blocked = Some(t.want()),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            let what = format!("write to {}", self.who());
            return Err(self.write_failure(&what, &e));
        }
        let want = blocked.unwrap_or(Want::Write);
        self.write_gate = self.gate(want);
        Ok(Step::Blocked(want))
    }

    pub(crate) fn set_vbuf(&mut self, mode: BufMode, size: Option<usize>) {
        self.mode = mode;
        if let Some(s) = size {
            self.buf_size = s.max(1);
        }
    }

    // ---- handshake, shutdown, close ----

    /// See [`Transport::ticket_refused`].
    pub(crate) fn ticket_refused(&self) -> bool {
        self.transport.as_ref().is_some_and(|t| t.ticket_refused())
    }

    pub(crate) fn handshake_step(&mut self) -> Result<Step<()>, NetError> {
        let who = self.who();
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| NetError::new("closed", "stream is closed"))?;
        match t.handshake() {
            Ok(()) => Ok(Step::Ready(())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Blocked(t.want())),
            Err(e) => {
                let what = format!("handshake with {}", who);
                Err(NetError::from_io(&what, &e))
            }
        }
    }

    /// Flushes, then half-closes for writing (TLS: close_notify first).
    pub(crate) fn shutdown_step(&mut self) -> Result<Step<()>, NetError> {
        if let Step::Blocked(w) = self.flush_step()? {
            return Ok(Step::Blocked(w));
        }
        let who = self.who();
        let what = || who.to_string();
        let t = self
            .transport
            .as_mut()
            .ok_or_else(|| NetError::new("closed", "stream is closed"))?;
        match t.shutdown() {
            Ok(()) => {
                self.shut = true;
                Ok(Step::Ready(()))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Blocked(t.want())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(Step::Ready(())),
            Err(e) => Err(self.write_failure(&format!("shutdown of {}", what()), &e)),
        }
    }

    /// Closes at once: what can be sent without waiting is sent (TLS:
    /// close_notify), the socket is closed, waiting tasks are woken.
    pub(crate) fn close(&mut self) {
        if self.transport.is_none() {
            return;
        }
        let _ = self.shutdown_step();
        if let Some(r) = self.registration.take() {
            r.wake_all();
        }
        // Parked tasks were woken; they will find the stream closed.
        for dir in 0..2 {
            if let Some(w) = self.task_waits[dir].take() {
                if let Some(k) = w.timer {
                    w.rt.timers.cancel(k);
                }
            }
        }
        self.reading = false;
        self.writing = false;
        self.transport = None;
        self.rbuf = ReadBuffer::default();
        self.wbuf = Vec::new();
        self.wpos = 0;
    }

    pub(crate) fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }
}

fn busy(dir: usize, what: &str) -> mlua::Error {
    let verb = if dir == 0 {
        "reading from"
    } else {
        "writing to"
    };
    mlua::Error::runtime(format!(
        "ios:{what}: another task is already {verb} this stream"
    ))
}

/// `"tls localhost (127.0.0.1:443)"`: the stream, for messages (formatted
/// only on failure).
struct Who(
    &'static str,
    Option<crate::net::socket::Endpoint>,
    Option<std::rc::Rc<str>>,
);

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.2, &self.1) {
            (Some(h), Some(p)) => write!(f, "{} {h} ({p})", self.0),
            (Some(h), None) => write!(f, "{} {h}", self.0),
            (None, Some(p)) => write!(f, "{} {p}", self.0),
            (None, None) => f.write_str(self.0),
        }
    }
}

fn fail(e: NetError) -> mlua::Result<Step<Out>> {
    Ok(Step::Ready(Out::Fail(e)))
}

/// `nil, message, code`.
pub(crate) fn failure(lua: &Lua, e: NetError) -> mlua::Result<MultiValue> {
    let mut out = MultiValue::with_capacity(3);
    out.push_back(Value::Nil);
    out.push_back(Value::String(lua.create_string(&e.message)?));
    out.push_back(Value::String(lua.create_string(e.code)?));
    Ok(out)
}

/// Converts a numeral as Lua would: an integer when it is written as one
/// and fits, else a float.
fn numeral(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let s = lua.create_string(text)?;
    let hex = text.iter().any(|&c| c == b'x' || c == b'X');
    let float_syntax = text
        .iter()
        .any(|&c| c == b'.' || c == b'p' || c == b'P' || (!hex && (c == b'e' || c == b'E')));
    if !float_syntax {
        if let Some(i) = lua.coerce_integer(Value::String(s.clone()))? {
            return Ok(Value::Integer(i));
        }
    }
    Ok(lua
        .coerce_number(Value::String(s))?
        .map_or(Value::Nil, Value::Number))
}

enum Eval {
    Need,
    TooLong,
    /// Each piece with the offset of the slice it was matched in.
    Complete {
        pieces: smallvec::SmallVec<[(usize, Piece); 4]>,
        consumed: usize,
    },
}

/// Matches all formats in turn without consuming; stops after a failure as
/// Lua's `io` does.
fn evaluate(fmts: &[Format], data: &[u8], eof: bool, max_line: usize) -> Eval {
    let mut pieces = smallvec::SmallVec::new();
    let mut at = 0;
    for &fmt in fmts {
        match match_format(fmt, &data[at..], eof, max_line) {
            Match::Need => return Eval::Need,
            Match::TooLong => return Eval::TooLong,
            Match::Done { consumed, piece } => {
                let failed = piece == Piece::Fail;
                pieces.push((at, piece));
                at += consumed;
                if failed {
                    break;
                }
            }
        }
    }
    Eval::Complete {
        pieces,
        consumed: at,
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.close();
    }
}

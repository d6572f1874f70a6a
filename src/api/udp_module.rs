//! `tls.udp`: bind, connect, and the datagram socket object.
//!
//! `recv`, `send` and `sendto` are plain functions behind the same Lua
//! wrapper as the streams' (`waiting.lua`'s `direct`): they answer at once
//! when the socket is ready; a task that must wait parks itself on the
//! socket and yields without a future; the main thread drives the loop.
//! In front of them, `udp.lua` calls the raw fast path (`fast/udp.rs`,
//! through [`Socket::fast_recv`] and [`Socket::fast_send`]), which answers
//! the common cases without mlua's callback layer and declines the rest.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mlua::{
    Function, LightUserData, Lua, MetaMethod, MultiValue, RegistryKey, Table, UserData, Value,
    Variadic,
};
use smallvec::SmallVec;

use super::surface;
use super::tcp_module::{dispatch_connect, port_arg_for};
use crate::dns::addr::{parse_ip, socket_addr, Family};
use crate::dns::resolver;
use crate::dns::services::Proto;
use crate::error::{NetError, NetResult};
use crate::net::addr;
use crate::net::udp::{Received, UdpOptions, UdpSock, MAX_DATAGRAM};
use crate::net::udp_options;
use crate::runtime::by_hand;
use crate::runtime::context::{block_on, cannot_wait, foreign_error, locate, Where};
use crate::runtime::deadline::{seconds, Deadline};
use crate::runtime::timer::TimerKey;
use crate::runtime::Runtime;
use crate::stream::core::failure;
use crate::stream::transport::Want;

/// A task parked on the socket by the future-less path.
struct TaskWait {
    waker: Waker,
    want: Want,
    deadline: Option<Instant>,
    timer: Option<TimerKey>,
}

/// The Lua datagram socket: its face (the userdata) holds the socket, and
/// the raw fast path (`fast/udp.rs`) a `Weak` of it.
pub(crate) struct Udp(Rc<Socket>);

impl std::ops::Deref for Udp {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        &self.0
    }
}

/// The datagram socket behind a [`Udp`].
pub(crate) struct Socket {
    rt: Rc<Runtime>,
    sock: RefCell<Option<UdpSock>>,
    /// The local address, read again after `s:connect` (a socket bound to
    /// a wildcard address gets the source address of its route).
    local: Cell<SocketAddr>,
    timeout: Cell<Option<Duration>>,
    maxsize: usize,
    /// One receive buffer, `maxsize + 1` bytes (see [`UdpSock::try_recv`]).
    buf: RefCell<Vec<u8>>,
    waits: RefCell<SmallVec<[TaskWait; 1]>>,
    /// The address object of the last sender: a peer that sends again
    /// (always, on a connected socket) gets the same table, not a new one.
    /// A registry key, so that the fast path can push it too.
    last_from: RefCell<Option<(SocketAddr, RegistryKey)>>,
    /// A datagram the fast path took but left to the general path to
    /// answer (a new sender's, or one longer than `maxsize`): the next
    /// `recv` hands it over before reading the socket.
    stash: RefCell<Option<(Vec<u8>, Received)>>,
}

/// What [`Socket::fast_recv`] came to.
pub(crate) enum FastRecv {
    /// `len` bytes in the buffer, from the last sender, whose address
    /// object is the registry value `id`.
    Data(usize, std::ffi::c_int),
    /// The receive failed (`nil, msg, code`).
    Failed(NetError),
    /// The task is parked: yield, then call again.
    Parked,
    /// Take the general path.
    Declined,
}

/// What one attempt at an operation does.
#[derive(Clone, Copy)]
enum Op<'a> {
    Recv,
    Send(&'a [u8], Option<SocketAddr>),
}

impl Op<'_> {
    fn want(&self) -> Want {
        match self {
            Op::Recv => Want::Read,
            Op::Send(..) => Want::Write,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Op::Recv => "s:recv",
            Op::Send(_, None) => "s:send",
            Op::Send(..) => "s:sendto",
        }
    }
}

/// What an operation answers, shaped so the common results need no
/// `MultiValue` (an allocation per call).
enum Outcome {
    /// `send`: the byte count.
    One(Value),
    /// `recv`: data and sender.
    Two(Value, Value),
    /// Failures, markers and their arguments.
    Many(MultiValue),
}

impl Outcome {
    /// As `recv` returns: never fewer than two values.
    fn recv_shape(self) -> (Value, Value, Variadic<Value>) {
        match self {
            Self::One(v) => (v, Value::Nil, Variadic::new()),
            Self::Two(a, b) => (a, b, Variadic::new()),
            Self::Many(mut m) => {
                let a = m.pop_front().unwrap_or(Value::Nil);
                let b = m.pop_front().unwrap_or(Value::Nil);
                (a, b, m.into_iter().collect())
            }
        }
    }

    /// As `send` and `sendto` return.
    fn send_shape(self) -> (Value, Variadic<Value>) {
        match self {
            Self::One(v) => (v, Variadic::new()),
            Self::Two(a, b) => (a, Variadic::from_iter([b])),
            Self::Many(mut m) => {
                let a = m.pop_front().unwrap_or(Value::Nil);
                (a, m.into_iter().collect())
            }
        }
    }
}

fn many(r: mlua::Result<MultiValue>) -> mlua::Result<Outcome> {
    r.map(Outcome::Many)
}

/// `RAISE, value` for the plain methods, which never raise themselves.
fn raised(lua: &Lua, e: mlua::Error) -> Outcome {
    Outcome::Many(surface::raise_values(lua, e))
}

impl Socket {
    fn new(rt: &Rc<Runtime>, sock: UdpSock, o: &UdpOptions) -> Self {
        let local = sock
            .socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        let maxsize = o.maxsize.unwrap_or(MAX_DATAGRAM);
        Self {
            rt: rt.clone(),
            sock: RefCell::new(Some(sock)),
            local: Cell::new(local),
            timeout: Cell::new(o.timeout),
            maxsize,
            buf: RefCell::new(Vec::new()),
            waits: RefCell::new(SmallVec::new()),
            last_from: RefCell::new(None),
            stash: RefCell::new(None),
        }
    }

    fn what(&self) -> String {
        match self.sock.borrow().as_ref().and_then(|s| s.peer) {
            Some(p) => format!("udp {} to {p}", self.local.get()),
            None => format!("udp {}", self.local.get()),
        }
    }

    fn sender_object(&self, lua: &Lua, from: SocketAddr) -> mlua::Result<Value> {
        if let Some((a, key)) = self.last_from.borrow().as_ref() {
            if *a == from {
                return lua.registry_value(key);
            }
        }
        // No borrow held while Lua allocates (a finalizer may recv here).
        let t = addr::to_lua(lua, from)?;
        let key = lua.create_registry_value(&t)?;
        *self.last_from.borrow_mut() = Some((from, key));
        Ok(Value::Table(t))
    }

    /// What `recv` answers for a datagram of `bytes` (cut or whole).
    fn received(&self, lua: &Lua, bytes: &[u8], r: Received) -> mlua::Result<Outcome> {
        match r {
            Received::Whole(_, from) => Ok(Outcome::Two(
                Value::String(lua.create_string(bytes)?),
                self.sender_object(lua, from)?,
            )),
            Received::Cut(n, from) => {
                let msg = format!(
                    "{}: datagram from {from} longer than {n} bytes (maxsize)",
                    self.what()
                );
                let mut out = failure(lua, NetError::new("toolong", msg))?;
                out.push_back(Value::String(lua.create_string(bytes)?));
                out.push_back(Value::Table(addr::to_lua(lua, from)?));
                Ok(Outcome::Many(out))
            }
        }
    }

    /// One try: `Some(results)` when done (either way), `None` on WouldBlock.
    /// The socket is looked at first and the Lua values made after, with
    /// no borrow held: making them may run a finalizer that uses (or
    /// closes) this very socket.
    fn attempt(&self, lua: &Lua, op: Op<'_>) -> mlua::Result<Option<Outcome>> {
        match op {
            Op::Recv => {
                let stashed = self.stash.borrow_mut().take();
                if let Some((bytes, r)) = stashed {
                    return self.received(lua, &bytes, r).map(Some);
                }
                // The buffer leaves its cell while in use; a nested call
                // meanwhile makes its own.
                let mut buf = std::mem::take(&mut *self.buf.borrow_mut());
                if buf.len() != self.maxsize + 1 {
                    buf.resize(self.maxsize + 1, 0);
                }
                let got = self.sock.borrow().as_ref().map(|s| s.try_recv(&mut buf));
                let out = match got {
                    None => many(failure(lua, self.closed(op))).map(Some),
                    Some(Ok(r @ Received::Whole(n, _))) | Some(Ok(r @ Received::Cut(n, _))) => {
                        self.received(lua, &buf[..n], r).map(Some)
                    }
                    Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
                    Some(Err(e)) => {
                        many(failure(lua, io_failure(&self.what(), "recv", &e))).map(Some)
                    }
                };
                let mut slot = self.buf.borrow_mut();
                if slot.is_empty() {
                    *slot = buf;
                }
                out
            }
            Op::Send(data, to) => {
                let sent = match self.sock.borrow().as_ref() {
                    None => None,
                    Some(sock) if to.is_none() && sock.peer.is_none() => Some(Err(None)),
                    Some(sock) => Some(sock.try_send(data, to).map_err(Some)),
                };
                match sent {
                    None => many(failure(lua, self.closed(op))).map(Some),
                    Some(Ok(n)) => Ok(Some(Outcome::One(Value::Integer(n as i64)))),
                    Some(Err(None)) => {
                        let e = NetError::new(
                            "notconnected",
                            format!("s:send: {} is not connected (use s:sendto)", self.what()),
                        );
                        many(failure(lua, e)).map(Some)
                    }
                    Some(Err(Some(e))) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
                    Some(Err(Some(e))) => {
                        let verb = match to {
                            Some(a) => format!("send to {a}"),
                            None => "send".to_string(),
                        };
                        many(failure(lua, io_failure(&self.what(), &verb, &e))).map(Some)
                    }
                }
            }
        }
    }

    fn closed(&self, op: Op<'_>) -> NetError {
        NetError::new("closed", format!("{}: socket is closed", op.name()))
    }

    fn timeout_failure(&self, lua: &Lua, op: Op<'_>) -> mlua::Result<Outcome> {
        let msg = format!("{} on {}: timed out", op.name(), self.what());
        many(failure(lua, NetError::new("timeout", msg)))
    }

    /// Runs `op` now, or waits for it as the caller's context allows.
    /// `timeout` is the call's own (`recv(t)`), else the socket's.
    fn run(
        &self,
        lua: &Lua,
        op: Op<'_>,
        timeout: Option<Duration>,
        retry: impl FnOnce() -> mlua::Result<MultiValue>,
    ) -> mlua::Result<Outcome> {
        // A wait of this very task, resumed by hand out of it, is not
        // answered (see runtime/by_hand.rs).
        if !self.waits.borrow().is_empty() {
            if let Some(id) = by_hand::task(lua, &self.rt) {
                return Err(self.resumed_by_hand(lua, id, op));
            }
        }
        if let Some(out) = self.attempt(lua, op)? {
            self.wait_over();
            return Ok(out);
        }
        if timeout == Some(Duration::ZERO) {
            return self.timeout_failure(lua, op);
        }
        match locate(lua, &self.rt) {
            Where::Task => {
                let waker = self
                    .rt
                    .exec
                    .current_waker()
                    .ok_or_else(|| foreign_error(op.name()))?;
                // A cancelled task stops waiting (the socket stays as it
                // is) and its wrapper raises the cancellation.
                if let Some(v) = self.rt.exec.current_cancel() {
                    self.end_wait(&waker);
                    return Ok(Outcome::Many(MultiValue::from_iter([
                        Value::LightUserData(surface::raise_marker()),
                        v,
                    ])));
                }
                match self.park_task(&waker, op.want(), timeout, Instant::now()) {
                    Ok(true) => return self.timeout_failure(lua, op),
                    Ok(false) => {}
                    Err(e) => return many(failure(lua, io_failure(&self.what(), "wait", &e))),
                }
                many(retry())
            }
            Where::Blocking => {
                let mut deadline = Deadline::after(&self.rt, timeout);
                let waker = self.rt.exec.main_waker().clone();
                let fut = poll_fn(|cx: &mut Context<'_>| match self.attempt(lua, op) {
                    Ok(Some(out)) => Poll::Ready(Ok(out)),
                    Err(e) => Poll::Ready(Err(e)),
                    Ok(None) if deadline.poll_expired(cx) => {
                        Poll::Ready(self.timeout_failure(lua, op))
                    }
                    Ok(None) => match self.park(op.want(), cx.waker()) {
                        Ok(()) => Poll::Pending,
                        Err(e) => {
                            Poll::Ready(many(failure(lua, io_failure(&self.what(), "wait", &e))))
                        }
                    },
                });
                let out = block_on(&self.rt, fut)?;
                if let Some(s) = self.sock.borrow().as_ref() {
                    s.unpark(op.want(), &waker);
                }
                out
            }
            Where::HandResumed(id) => Err(self.resumed_by_hand(lua, id, op)),
            at => Err(cannot_wait(lua, &self.rt, at, op.name())),
        }
    }

    /// Task `id`'s coroutine was resumed by hand (see runtime/by_hand.rs):
    /// the socket forgets its wait, and the error to raise comes back.
    fn resumed_by_hand(&self, lua: &Lua, id: usize, op: Op<'_>) -> mlua::Error {
        if let Some(w) = self.rt.exec.waker_of(id) {
            self.end_wait(&w);
        }
        by_hand::refuse(lua, &self.rt, id, op.name())
    }

    /// The coroutine of the task being polled, if any.
    pub(crate) fn task_thread(&self) -> Option<*const std::ffi::c_void> {
        self.rt.exec.current_thread()
    }

    /// The running task's operation is over: it stops waiting, if it was.
    fn wait_over(&self) {
        if !self.waits.borrow().is_empty() {
            if let Some(w) = self.rt.exec.current_waker() {
                self.end_wait(&w);
            }
        }
    }

    /// Whether `waker`'s wait has a deadline that has passed.
    fn wait_expired(&self, waker: &Waker, now: Instant) -> bool {
        let waits = self.waits.borrow();
        let deadline = waits
            .iter()
            .find(|w| w.waker.will_wake(waker))
            .and_then(|w| w.deadline);
        deadline.is_some_and(|d| now >= d)
    }

    /// `recv` for the raw fast path (`fast/udp.rs`), with `buf` a scratch
    /// buffer and `timeout` the call's own in seconds (`None`: the
    /// socket's), converted only if the task must wait. It
    /// answers a datagram from the last sender (whose address object is
    /// already made), a failed receive, or parks a task that must wait
    /// (`in_task` says whether the caller is the running task's own
    /// coroutine). It declines everything else, leaving no trace: what
    /// it took from the socket and cannot answer (a new sender's datagram,
    /// a cut one) is stashed for the general path's `attempt`, which runs
    /// next and answers it exactly as it always has; a wait whose
    /// deadline passed is left for the general path to report.
    pub(crate) fn fast_recv(
        &self,
        buf: &mut Vec<u8>,
        timeout: Option<f64>,
        in_task: impl Fn() -> bool,
    ) -> FastRecv {
        if self.stash.try_borrow().map_or(true, |s| s.is_some()) {
            return FastRecv::Declined;
        }
        // Asked at most once (on Lua 5.1 and 5.2 it reads the call stack).
        let asked = Cell::new(None);
        let in_task = || match asked.get() {
            Some(t) => t,
            None => {
                let t = in_task();
                asked.set(Some(t));
                t
            }
        };
        // Tasks wait here, and the caller is no task the loop runs (the
        // main thread, or a task's coroutine resumed by hand): the general
        // path tells which.
        if self.waits.try_borrow().map_or(true, |w| !w.is_empty()) && !in_task() {
            return FastRecv::Declined;
        }
        let size = self.maxsize + 1;
        let got = {
            let Ok(guard) = self.sock.try_borrow() else {
                return FastRecv::Declined;
            };
            let Some(sock) = guard.as_ref() else {
                return FastRecv::Declined;
            };
            if buf.len() < size {
                buf.resize(size, 0);
            }
            sock.try_recv(&mut buf[..size])
        };
        match got {
            Ok(r @ Received::Whole(n, from)) => {
                let known = match self.last_from.try_borrow() {
                    Ok(last) => last
                        .as_ref()
                        .filter(|(a, _)| *a == from)
                        .map(|(_, k)| k.id()),
                    Err(_) => None,
                };
                match known {
                    Some(id) => {
                        self.wait_over();
                        FastRecv::Data(n, id)
                    }
                    None => self.stash_datagram(&buf[..n], r),
                }
            }
            Ok(r @ Received::Cut(n, _)) => self.stash_datagram(&buf[..n], r),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let timeout = match timeout.map(|t| seconds(Some(t))) {
                    None => self.timeout.get(),
                    Some(Ok(t)) => t,
                    Some(Err(_)) => return FastRecv::Declined,
                };
                if timeout == Some(Duration::ZERO) || !in_task() {
                    return FastRecv::Declined;
                }
                let Some(waker) = self.rt.exec.current_waker() else {
                    return FastRecv::Declined;
                };
                // A wait that timed out, a cancelled task, or a socket that
                // cannot join the reactor: the general path reports it.
                // One clock reading for the check and the park (see
                // `Stream::park_line_read`).
                let now = Instant::now();
                if self.wait_expired(&waker, now) || self.rt.exec.current_cancel().is_some() {
                    return FastRecv::Declined;
                }
                match self.park_task(&waker, Want::Read, timeout, now) {
                    Ok(false) => FastRecv::Parked,
                    Ok(true) | Err(_) => FastRecv::Declined,
                }
            }
            Err(e) => {
                self.wait_over();
                FastRecv::Failed(io_failure(&self.what(), "recv", &e))
            }
        }
    }

    fn stash_datagram(&self, bytes: &[u8], r: Received) -> FastRecv {
        *self.stash.borrow_mut() = Some((bytes.to_vec(), r));
        FastRecv::Declined
    }

    /// `send` (`to` is `None`) or `sendto` for the raw fast path: the byte
    /// count or the failure when the socket answers now; `None` (nothing
    /// done) when it is closed, not connected for `send`, or full.
    pub(crate) fn fast_send(
        &self,
        data: &[u8],
        to: Option<SocketAddr>,
    ) -> Option<Result<usize, NetError>> {
        let sent = {
            let guard = self.sock.try_borrow().ok()?;
            let sock = guard.as_ref()?;
            if to.is_none() && sock.peer.is_none() {
                return None;
            }
            sock.try_send(data, to)
        };
        match sent {
            Ok(n) => {
                self.wait_over();
                Some(Ok(n))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => {
                self.wait_over();
                let verb = match to {
                    Some(a) => format!("send to {a}"),
                    None => "send".to_string(),
                };
                Some(Err(io_failure(&self.what(), &verb, &e)))
            }
        }
    }

    /// Parks the running task; true when its deadline has passed instead.
    /// Fails when the socket cannot join the reactor.
    fn park_task(
        &self,
        waker: &Waker,
        want: Want,
        timeout: Option<Duration>,
        now: Instant,
    ) -> std::io::Result<bool> {
        let mut waits = self.waits.borrow_mut();
        match waits.iter().position(|w| w.waker.will_wake(waker)) {
            Some(i) => {
                if waits[i].deadline.is_some_and(|d| now >= d) {
                    drop(waits);
                    self.end_wait(waker);
                    return Ok(true);
                }
            }
            None => {
                let deadline = timeout.map(|t| crate::runtime::deadline::later(now, t));
                let timer = deadline.map(|d| self.rt.timers.add(d, waker.clone()));
                waits.push(TaskWait {
                    waker: waker.clone(),
                    want,
                    deadline,
                    timer,
                });
            }
        }
        drop(waits);
        let parked = self.park(want, waker);
        if parked.is_err() {
            // Nothing would wake us: the wait is over, with that error.
            self.end_wait(waker);
        }
        parked.map(|()| false)
    }

    fn park(&self, want: Want, waker: &Waker) -> std::io::Result<()> {
        match self.sock.borrow_mut().as_mut() {
            Some(s) => s.park(&self.rt, want, waker),
            None => Ok(()),
        }
    }

    fn end_wait(&self, waker: &Waker) {
        let mut waits = self.waits.borrow_mut();
        if let Some(i) = waits.iter().position(|w| w.waker.will_wake(waker)) {
            let w = waits.swap_remove(i);
            if let Some(s) = self.sock.borrow().as_ref() {
                s.unpark(w.want, &w.waker);
            }
            if let Some(k) = w.timer {
                self.rt.timers.cancel(k);
            }
        }
    }

    fn close(&self) {
        self.stash.borrow_mut().take();
        if let Some(s) = self.sock.borrow_mut().take() {
            // Waiting tasks wake and find the socket closed.
            s.close();
        }
        for w in self.waits.borrow_mut().drain(..) {
            if let Some(k) = w.timer {
                self.rt.timers.cancel(k);
            }
        }
    }
}

/// A failed syscall: `EMSGSIZE` is the datagram's fault (`toolong`).
fn io_failure(what: &str, verb: &str, e: &std::io::Error) -> NetError {
    let place = format!("{what}: {verb}");
    if e.raw_os_error() == Some(libc::EMSGSIZE) {
        return NetError::new("toolong", format!("{place}: datagram too long"));
    }
    NetError::from_io(&place, e)
}

/// Markers for `waiting.lua`: "parked, yield then retry" and "self".
pub(crate) fn wait_marker() -> LightUserData {
    static WAIT: u8 = 0;
    LightUserData(&WAIT as *const u8 as *mut std::ffi::c_void)
}
fn self_marker() -> LightUserData {
    static SELF: u8 = 0;
    LightUserData(&SELF as *const u8 as *mut std::ffi::c_void)
}

fn wait_result(lua: &Lua, args: impl mlua::IntoLuaMulti) -> mlua::Result<MultiValue> {
    let mut out = args.into_lua_multi(lua)?;
    out.push_front(Value::LightUserData(wait_marker()));
    Ok(out)
}

fn timeout_arg(v: &Value, fname: &str) -> mlua::Result<Option<Option<Duration>>> {
    let bad = || {
        mlua::Error::runtime(format!(
            "bad argument #1 to '{fname}' (timeout in seconds expected, got {})",
            surface::type_name(v)
        ))
    };
    match v {
        Value::Nil => Ok(None),
        Value::Integer(i) => secs(Some(*i as f64), 1, fname).map(Some),
        Value::Number(n) => secs(Some(*n), 1, fname).map(Some),
        _ => Err(bad()),
    }
}

fn secs(v: Option<f64>, n: usize, fname: &str) -> mlua::Result<Option<Duration>> {
    seconds(v).map_err(|why| surface::bad_argument(n, fname, why))
}

fn data_arg(v: &Value, fname: &str) -> mlua::Result<mlua::LuaString> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(mlua::Error::runtime(format!(
            "bad argument #1 to '{fname}' (string expected, got {})",
            surface::type_name(other)
        ))),
    }
}

impl UserData for Udp {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.udp");
        f.add_meta_field_with("__index", methods);
    }

    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method("__close", |_, s, _: MultiValue| {
            s.close();
            Ok(())
        });
        m.add_meta_method(MetaMethod::ToString, |_, s, ()| {
            let state = if s.sock.borrow().is_none() {
                " (closed)"
            } else {
                ""
            };
            Ok(format!("tls.udp ({}){state}", s.what()))
        });
    }
}

impl Drop for Udp {
    fn drop(&mut self) {
        // The face is gone: so is the socket, whoever still holds a `Weak`.
        self.0.close();
    }
}

/// The methods table (`__index`).
fn methods(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "close",
        surface::method(lua, "s:close", |_, s: &Udp, ()| {
            s.close();
            Ok(true)
        })?,
    )?;
    t.set(
        "settimeout",
        surface::method(lua, "s:settimeout", |_, s: &Udp, t: Value| {
            s.timeout.set(timeout_arg(&t, "s:settimeout")?.flatten());
            Ok(true)
        })?,
    )?;
    t.set(
        "getsockname",
        surface::method(lua, "s:getsockname", |lua, s: &Udp, ()| {
            if s.sock.borrow().is_none() {
                return failure(
                    lua,
                    NetError::new("closed", "s:getsockname: socket is closed"),
                );
            }
            Ok(MultiValue::from_iter([Value::Table(addr::to_lua(
                lua,
                s.local.get(),
            )?)]))
        })?,
    )?;
    t.set(
        "getpeername",
        surface::method(lua, "s:getpeername", |lua, s: &Udp, ()| {
            let peer = match s.sock.borrow().as_ref() {
                None => Err(NetError::new("closed", "s:getpeername: socket is closed")),
                Some(u) => u.peer.ok_or_else(|| {
                    NetError::new("notconnected", format!("{} is not connected", s.what()))
                }),
            };
            match peer {
                Ok(p) => Ok(MultiValue::from_iter([Value::Table(addr::to_lua(lua, p)?)])),
                Err(e) => failure(lua, e),
            }
        })?,
    )?;
    t.set(
        "connect",
        surface::method(lua, "s:connect", |lua, s: &Udp, to: Value| {
            let a = addr::from_lua(&to, 1, "s:connect")?;
            let done = match s.sock.borrow_mut().as_mut() {
                None => Err(NetError::new("closed", "s:connect: socket is closed")),
                Some(u) => u.connect(a).map(|()| u.socket.local_addr().ok()),
            };
            match done {
                Ok(local) => {
                    if let Some(l) = local {
                        s.local.set(l);
                    }
                    Ok(MultiValue::from_iter([Value::Boolean(true)]))
                }
                Err(e) => failure(lua, e),
            }
        })?,
    )?;
    t.set(
        "getfd",
        surface::method(lua, "s:getfd", |_, s: &Udp, ()| {
            use std::os::fd::AsRawFd;
            Ok(s.sock
                .borrow()
                .as_ref()
                .map_or(-1, |u| u.socket.as_raw_fd()))
        })?,
    )?;
    // recv, send and sendto: plain functions behind waiting.lua's `direct`
    // wrapper. They check `self` and never raise: the wrapper raises what
    // follows RAISE, and yields on WAIT, then calls them again.
    let (_, known, _, _, direct): (Value, Table, Value, Value, Function) = lua
        .load(include_str!("../stream/waiting.lua"))
        .set_name("=tls.udp")
        .call((
            Value::LightUserData(wait_marker()),
            Value::LightUserData(self_marker()),
            Value::LightUserData(Lua::poll_pending()),
            Value::LightUserData(surface::raise_marker()),
            &t,
            surface::self_check(lua)?,
        ))?;
    let recv = lua.create_function(|lua, (this, t): (Value, Value)| {
        let r = surface::this::<Udp>("s:recv", Some(&this)).and_then(|s| {
            let given = timeout_arg(&t, "s:recv")?;
            let timeout = given.unwrap_or(s.timeout.get());
            s.run(lua, Op::Recv, timeout, || wait_result(lua, t.clone()))
        });
        Ok(r.unwrap_or_else(|e| raised(lua, e)).recv_shape())
    })?;
    t.set("recv", direct.call::<Function>(recv)?)?;
    let send = lua.create_function(|lua, (this, d): (Value, Value)| {
        let r = surface::this::<Udp>("s:send", Some(&this)).and_then(|s| {
            let data = data_arg(&d, "s:send")?;
            let bytes = data.as_bytes();
            let op = Op::Send(&bytes, None);
            s.run(lua, op, s.timeout.get(), || wait_result(lua, d.clone()))
        });
        Ok(r.unwrap_or_else(|e| raised(lua, e)).send_shape())
    })?;
    t.set("send", direct.call::<Function>(send)?)?;
    let sendto = lua.create_function(|lua, (this, d, to): (Value, Value, Value)| {
        let r = surface::this::<Udp>("s:sendto", Some(&this)).and_then(|s| {
            let data = data_arg(&d, "s:sendto")?;
            let addr = addr::from_lua(&to, 2, "s:sendto")?;
            let bytes = data.as_bytes();
            let op = Op::Send(&bytes, Some(addr));
            s.run(lua, op, s.timeout.get(), || {
                wait_result(lua, (d.clone(), to.clone()))
            })
        });
        Ok(r.unwrap_or_else(|e| raised(lua, e)).send_shape())
    })?;
    let general_sendto = direct.call::<Function>(sendto)?;
    // The raw fast path (fast/udp.rs) in front of all three (udp.lua).
    let fast = crate::fast::udp::functions(lua, &known)?;
    let handle_of = lua.create_function(|lua, v: Value| match &v {
        Value::UserData(ud) => match ud.borrow::<Udp>() {
            Ok(u) => crate::fast::udp::handle(lua, &u.0),
            Err(_) => Ok(Value::Nil),
        },
        _ => Ok(Value::Nil),
    })?;
    let (recv, send, sendto, waited): (Function, Function, Function, Function) = lua
        .load(include_str!("udp.lua"))
        .set_name("=tls.udp.fast")
        .call((
            Value::LightUserData(wait_marker()),
            Value::LightUserData(Lua::poll_pending()),
            &known,
            handle_of,
            fast.recv,
            fast.send,
            fast.sendto,
            t.get::<Function>("recv")?,
            t.get::<Function>("send")?,
            &general_sendto,
        ))?;
    // Lua 5.3 and 5.4: the methods are C fronts of the fast functions,
    // which call these wrappers for a socket without a handle and the
    // general methods for what they decline (fast/udp.rs).
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    let [recv, send, sendto] = crate::fast::udp::fronts(
        lua,
        &known,
        crate::fast::udp::Wrappers {
            recv,
            waited,
            send,
            sendto,
            general: [t.get("recv")?, t.get("send")?, general_sendto],
        },
    )?;
    #[cfg(not(any(feature = "lua53", feature = "lua54")))]
    drop(waited);
    t.set("recv", recv)?;
    t.set("send", send)?;
    t.set("sendto", sendto)?;
    Ok(t)
}

// ---- bind and connect ----

fn open(
    lua: &Lua,
    rt: &Rc<Runtime>,
    local: SocketAddr,
    peer: Option<SocketAddr>,
    o: &UdpOptions,
) -> mlua::Result<MultiValue> {
    match UdpSock::open(local, peer, o) {
        Ok(sock) => Ok(MultiValue::from_iter([Value::UserData(
            lua.create_userdata(Udp(Rc::new(Socket::new(rt, sock, o))))?,
        )])),
        Err(e) => failure(lua, e),
    }
}

fn unspecified(like: &SocketAddr) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// A literal address (or `*`, every IPv4 address) is known without DNS.
fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    if host == "*" || host.is_empty() {
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    parse_ip(host).map(|(ip, scope)| socket_addr(ip, scope, port))
}

/// Resolves `host` (its preferred address), then binds or connects.
async fn open_host(
    lua: &Lua,
    rt: &Rc<Runtime>,
    fname: &str,
    host: &str,
    port: u16,
    connect: bool,
    o: &UdpOptions,
) -> mlua::Result<MultiValue> {
    let found: NetResult<IpAddr> = resolver::lookup(rt, host, Family::Any)
        .await
        .and_then(|ips| {
            // To bind a name is to bind one of its addresses: IPv4 first,
            // as `tcp.listen` does; to connect is to use the preferred one.
            let pick = if connect {
                ips.first()
            } else {
                ips.iter().find(|ip| ip.is_ipv4()).or(ips.first())
            };
            pick.copied()
                .ok_or_else(|| NetError::new("noaddress", "no address"))
        });
    let ip = match found {
        Ok(ip) => ip,
        Err(e) => {
            let msg = format!("{fname} {host} port {port}: {}", e.message);
            return failure(lua, NetError::new(e.code, msg));
        }
    };
    let a = SocketAddr::new(ip, port);
    if connect {
        open(lua, rt, unspecified(&a), Some(a), o)
    } else {
        open(lua, rt, a, None, o)
    }
}

type HostArgs = (String, Value, Option<Table>);

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;

    let twin = surface::async_function(
        lua,
        "udp.bind",
        |lua, (host, port, opts): HostArgs| async move {
            let rt = Runtime::get(&lua)?;
            let port = port_arg_for(&port, 2, "udp.bind", Proto::Udp)?;
            let o = udp_options::from_lua(opts.as_ref(), 3, "udp.bind")?;
            open_host(&lua, &rt, "udp.bind", &host, port, false, &o).await
        },
    )?;
    let bind = surface::function(
        lua,
        "udp.bind",
        move |lua, (host, port, opts): (Value, Value, Option<Table>)| {
            let Value::String(h) = &host else {
                return Err(mlua::Error::runtime(format!(
                    "bad argument #1 to 'udp.bind' (host expected, got {})",
                    surface::type_name(&host)
                )));
            };
            let h = h.to_str()?.to_string();
            let p = port_arg_for(&port, 2, "udp.bind", Proto::Udp)?;
            let o = udp_options::from_lua(opts.as_ref(), 3, "udp.bind")?;
            let rt = Runtime::get(lua)?;
            if let Some(a) = literal(&h, p) {
                return open(lua, &rt, a, None, &o);
            }
            let args = MultiValue::from_iter([host, port, opts.map_or(Value::Nil, Value::Table)]);
            dispatch_connect(lua, &twin, args, "udp.bind", |rt| {
                block_on(rt, open_host(lua, rt, "udp.bind", &h, p, false, &o))?
            })
        },
    )?;
    t.set("bind", bind)?;

    let twin = surface::async_function(
        lua,
        "udp.connect",
        |lua, (host, port, opts): HostArgs| async move {
            let rt = Runtime::get(&lua)?;
            let port = port_arg_for(&port, 2, "udp.connect", Proto::Udp)?;
            let o = udp_options::from_lua(opts.as_ref(), 3, "udp.connect")?;
            open_host(&lua, &rt, "udp.connect", &host, port, true, &o).await
        },
    )?;
    let connect = surface::function(
        lua,
        "udp.connect",
        move |lua, (to, b, c): (Value, Value, Value)| {
            let rt = Runtime::get(lua)?;
            let opts_of = |v: &Value, n: usize| match v {
                Value::Nil => Ok(None),
                Value::Table(t) => Ok(Some(t.clone())),
                other => Err(mlua::Error::runtime(format!(
                    "bad argument #{n} to 'udp.connect' (options table expected, got {})",
                    surface::type_name(other)
                ))),
            };
            // connect(host, port [, opts]) when a port follows; else connect(addr [, opts]).
            if let (Value::String(h), Value::Integer(_) | Value::Number(_) | Value::String(_)) =
                (&to, &b)
            {
                let h = h.to_str()?.to_string();
                let p = port_arg_for(&b, 2, "udp.connect", Proto::Udp)?;
                let opts = opts_of(&c, 3)?;
                let o = udp_options::from_lua(opts.as_ref(), 3, "udp.connect")?;
                if let Some(a) = literal(&h, p) {
                    return open(lua, &rt, unspecified(&a), Some(a), &o);
                }
                let args = MultiValue::from_iter([to, b, opts.map_or(Value::Nil, Value::Table)]);
                return dispatch_connect(lua, &twin, args, "udp.connect", |rt| {
                    block_on(rt, open_host(lua, rt, "udp.connect", &h, p, true, &o))?
                });
            }
            let a = addr::from_lua(&to, 1, "udp.connect")?;
            let o = udp_options::from_lua(opts_of(&b, 2)?.as_ref(), 2, "udp.connect")?;
            open(lua, &rt, unspecified(&a), Some(a), &o)
        },
    )?;
    t.set("connect", connect)?;
    Ok(t)
}

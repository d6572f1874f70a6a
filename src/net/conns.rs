//! A server's running connections: how many handlers run
//! (`server:connections()`), the `max_connections` limit the accept loop
//! waits on, and the drain of `server:close(drain_seconds)`.
//!
//! A handler's end is noticed without a task of its own: each connection
//! task gets a joiner waker ([`EndWaker`]) that records its slot and wakes
//! whoever waits for room or for the drain. The slots are reaped lazily.
//!
//! A handler that has called `server:close(drain)` on its own server is
//! not waited for by the other handlers that do, nor closed by their
//! drains: its connection is its own to finish (from that call until the
//! handler ends, so that two such handlers never wait for each other). A
//! drain from outside the handlers (the main thread, another task, a
//! handler of another server) waits for every handler.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use mlua::{AnyUserData, Function, IntoLuaMulti, Lua, MultiValue, UserData, Value};
use slab::Slab;

use super::listener::{Server, ServerShared};
use crate::api::surface;
use crate::error::NetError;
use crate::runtime::context::{block_on, cannot_wait, go_async, locate, Where};
use crate::runtime::deadline::Deadline;
use crate::runtime::executor::TaskShared;
use crate::runtime::Runtime;
use crate::stream::core::{failure, Stream};

/// What the end wakers share: the slots whose handler ended, and the
/// tasks to wake when one does (`Mutex`: a `Waker` must be `Send`).
#[derive(Default)]
struct Ended {
    slots: Mutex<Vec<usize>>,
    waiters: Mutex<Vec<Waker>>,
}

impl Ended {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `waker` at the next handler end.
    fn wait(&self, waker: &Waker) {
        let mut w = Self::lock(&self.waiters);
        if !w.iter().any(|o| o.will_wake(waker)) {
            w.push(waker.clone());
        }
    }

    /// Wakes everyone waiting (a handler end, or a handler that starts
    /// draining, which the other draining handlers stop waiting for).
    fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *Self::lock(&self.waiters));
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// Joins one connection task: its wake-up is the task's end.
struct EndWaker {
    slot: usize,
    ended: Arc<Ended>,
}

impl Wake for EndWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Ended::lock(&self.ended.slots).push(self.slot);
        self.ended.wake_waiters();
    }
}

/// A running handler: its stream, its task (to know it by), and whether
/// it has called `server:close(drain)` itself.
struct Live {
    stream: Rc<RefCell<Stream>>,
    task: std::rc::Weak<TaskShared>,
    draining: Cell<bool>,
}

/// The connections of one server.
pub(crate) struct Conns {
    max: Option<usize>,
    /// The stream and task of each running handler, to close what a drain
    /// leaves and to tell a handler that drains its own server.
    live: RefCell<Slab<Live>>,
    /// How many of `live` are draining, so that a drain's check at every
    /// handler end does not walk them all.
    draining: Cell<usize>,
    ended: Arc<Ended>,
}

impl Conns {
    pub(crate) fn new(max: Option<usize>) -> Self {
        Self {
            max,
            live: RefCell::new(Slab::new()),
            draining: Cell::new(0),
            ended: Arc::default(),
        }
    }

    fn reap(&self) {
        let done = std::mem::take(&mut *Ended::lock(&self.ended.slots));
        let mut live = self.live.borrow_mut();
        for slot in done {
            if live.contains(slot) && live.remove(slot).draining.get() {
                self.draining.set(self.draining.get() - 1);
            }
        }
    }

    /// Handlers running now (a TLS handler counts from its handshake on).
    pub(crate) fn count(&self) -> usize {
        self.reap();
        self.live.borrow().len()
    }

    /// The slot of the handler whose task is `task`, if it is one of ours.
    fn slot_of(&self, task: &Rc<TaskShared>) -> Option<usize> {
        self.reap();
        let live = self.live.borrow();
        let found = live
            .iter()
            .find(|(_, l)| std::ptr::eq(l.task.as_ptr(), Rc::as_ptr(task)));
        found.map(|(slot, _)| slot)
    }

    /// The handlers a drain waits for: every one, or for a drain from one
    /// of the handlers (`by_handler`), those that have not called one.
    fn awaited(&self, by_handler: bool) -> usize {
        let all = self.count();
        if by_handler {
            all - self.draining.get()
        } else {
            all
        }
    }

    /// Marks the handler in `slot` as draining (for the rest of its life),
    /// and wakes the drains that may now be over.
    fn set_draining(&self, slot: usize) {
        let newly = self
            .live
            .borrow()
            .get(slot)
            .is_some_and(|l| !l.draining.replace(true));
        if newly {
            self.draining.set(self.draining.get() + 1);
            self.ended.wake_waiters();
        }
    }

    /// Whether another handler may start.
    pub(crate) fn has_room(&self) -> bool {
        self.max.map_or(true, |m| self.count() < m)
    }

    /// Counts the handler `task` serving `stream` until it ends.
    pub(crate) fn add(&self, stream: Rc<RefCell<Stream>>, task: &Rc<TaskShared>) {
        self.reap();
        let slot = self.live.borrow_mut().insert(Live {
            stream,
            task: Rc::downgrade(task),
            draining: Cell::new(false),
        });
        let waker = Waker::from(Arc::new(EndWaker {
            slot,
            ended: self.ended.clone(),
        }));
        if task
            .poll_result(&mut Context::from_waker(&waker))
            .is_ready()
        {
            waker.wake();
        }
    }

    /// Ready when another handler may start; else wakes `cx` at an end.
    pub(crate) fn poll_room(&self, cx: &Context<'_>) -> Poll<()> {
        self.poll_until(cx, Self::has_room)
    }

    /// Ready when no handler the drain waits for runs (see
    /// [`Self::awaited`]); else wakes `cx` at an end.
    fn poll_idle(&self, cx: &Context<'_>, by_handler: bool) -> Poll<()> {
        self.poll_until(cx, |c| c.awaited(by_handler) == 0)
    }

    fn poll_until(&self, cx: &Context<'_>, ready: impl Fn(&Self) -> bool) -> Poll<()> {
        if ready(self) {
            return Poll::Ready(());
        }
        self.ended.wait(cx.waker());
        // An end between the check and the wait would be missed: look again.
        if ready(self) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Closes the stream of every handler the drain waited for (see
    /// [`Self::awaited`]); their pending and later I/O fails with
    /// `closed`. Returns how many there were.
    fn close_all(&self, by_handler: bool) -> usize {
        self.reap();
        let streams: Vec<_> = self
            .live
            .borrow()
            .iter()
            .filter(|(_, l)| !(by_handler && l.draining.get()))
            .map(|(_, l)| l.stream.clone())
            .collect();
        for s in &streams {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.close();
            }
        }
        streams.len()
    }
}

/// Waits until every handler of `server` that the drain waits for has
/// ended (see [`Conns::awaited`]; `by_handler`: the caller is one of
/// them), at most `drain`; then closes the streams of those still running,
/// and says how many.
async fn drain(
    rt: &Rc<Runtime>,
    server: &ServerShared,
    drain: Duration,
    by_handler: bool,
) -> Result<(), NetError> {
    let mut deadline = Deadline::after(rt, Some(drain));
    let idle = poll_fn(|cx| {
        if server.conns.poll_idle(cx, by_handler).is_ready() {
            Poll::Ready(true)
        } else if deadline.poll_expired(cx) {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    })
    .await;
    if idle {
        return Ok(());
    }
    let n = server.conns.close_all(by_handler);
    let msg = format!(
        "server {}: {n} connection{} still open after a {} s drain, closed",
        server.addr,
        if n == 1 { "" } else { "s" },
        drain.as_secs_f64()
    );
    Err(NetError::new("timeout", msg))
}

fn drained(lua: &Lua, r: Result<(), NetError>) -> mlua::Result<MultiValue> {
    match r {
        Ok(()) => true.into_lua_multi(lua),
        Err(e) => failure(lua, e),
    }
}

/// The drain argument of `server:close`: `nil`, or seconds (>= 0).
fn drain_arg(v: &Value) -> mlua::Result<Option<Duration>> {
    let secs = match v {
        Value::Nil => return Ok(None),
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => f64::NAN,
    };
    if secs >= 0.0 {
        // Absurdly long drains (or infinity) wait as long as it takes.
        return Ok(Some(
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(86400 * 365 * 30)),
        ));
    }
    let got = match v {
        Value::Number(n) if n.is_nan() => "nan",
        Value::Integer(_) | Value::Number(_) => "a negative number",
        other => surface::type_name(other),
    };
    Err(surface::bad_argument(
        1,
        "server:close",
        format!("number of seconds >= 0 expected, got {got}"),
    ))
}

/// A drain that must wait, handed to the async twin: the server, the
/// time, and whether the caller is one of its handlers.
struct Draining(Rc<ServerShared>, Duration, bool);

impl UserData for Draining {}

/// `server:close([drain_seconds])`: stops accepting at once; with a drain
/// time, waits (in a task, or driving the loop from the main thread) until
/// the running handlers end or the time is up, then closes what is left.
/// `true`, or `nil, msg, "timeout"` when some had to be closed.
pub(crate) fn close_method(lua: &Lua) -> mlua::Result<Function> {
    let twin = surface::async_function(lua, "server:close", |lua, ud: AnyUserData| async move {
        let Draining(server, d, by_handler) = ud.take()?;
        let rt = Runtime::get(&lua)?;
        drained(&lua, drain(&rt, &server, d, by_handler).await)
    })?;
    surface::method(lua, "server:close", move |lua, s: &Server, d: Value| {
        let d = drain_arg(&d)?;
        let server = s.0.clone();
        server.close(lua);
        let Some(d) = d else {
            return true.into_lua_multi(lua);
        };
        let rt = Runtime::get(lua)?;
        let own = rt
            .exec
            .current_task()
            .and_then(|t| server.conns.slot_of(&t));
        // Marked before anything waits, so that handlers draining at once
        // never wait for each other, whichever gets here first.
        if let Some(slot) = own {
            server.conns.set_draining(slot);
        }
        let by_handler = own.is_some();
        if server.conns.awaited(by_handler) == 0 {
            return true.into_lua_multi(lua);
        }
        match locate(lua, &rt) {
            Where::Task => go_async(
                lua,
                &twin,
                lua.create_userdata(Draining(server, d, by_handler))?,
            ),
            Where::Blocking => drained(lua, block_on(&rt, drain(&rt, &server, d, false))?),
            at => Err(cannot_wait(lua, &rt, at, "server:close")),
        }
    })
}

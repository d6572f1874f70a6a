//! The event loop: one per Lua state.
//!
//! A mio `Poll` (the [`reactor`]), a timer heap ([`timer`]) and a
//! single-threaded [`executor`] whose tasks are Lua coroutines turned into
//! futures. [`context`] decides, for each I/O call, whether it runs as a
//! task (yielding), in blocking mode (driving the loop until done), or is
//! misuse.

pub(crate) mod by_hand;
pub(crate) mod cancel;
pub(crate) mod context;
pub(crate) mod deadline;
pub(crate) mod executor;
pub(crate) mod joins;
pub(crate) mod poll;
pub(crate) mod queue;
pub(crate) mod reactor;
pub(crate) mod signal;
pub(crate) mod sync;
pub(crate) mod timer;

use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, Value};

use executor::Executor;
use reactor::Reactor;
use timer::Timers;

/// Everything the loop owns, shared by `Rc` with the streams and futures
/// that register with it.
pub(crate) struct Runtime {
    pub(crate) reactor: Reactor,
    pub(crate) timers: Timers,
    pub(crate) exec: Executor,
    /// The resolver: files, `dns.config` settings, cache.
    pub(crate) dns: crate::dns::resolver::Resolver,
    /// Foreign descriptors that `loop.poll` waits on.
    pub(crate) foreign: poll::Foreign,
    /// Signals that `loop.signal` objects wait for.
    pub(crate) signals: signal::Signals,
    epoch: Instant,
    lua: mlua::WeakLua,
    noop: std::cell::RefCell<Option<mlua::Function>>,
}

impl Runtime {
    fn new(lua: &Lua) -> std::io::Result<Self> {
        Ok(Self {
            lua: lua.weak(),
            noop: std::cell::RefCell::new(None),
            reactor: Reactor::new()?,
            timers: Timers::default(),
            exec: Executor::new(),
            dns: Default::default(),
            foreign: Default::default(),
            signals: Default::default(),
            epoch: Instant::now(),
        })
    }

    /// The runtime of this Lua state, created on first use.
    pub(crate) fn get(lua: &Lua) -> mlua::Result<Rc<Runtime>> {
        if let Some(rt) = lua.app_data_ref::<Rc<Runtime>>() {
            return Ok(rt.clone());
        }
        let rt = Rc::new(Runtime::new(lua).map_err(mlua::Error::external)?);
        rt.exec.set_panic_error(Value::String(lua.create_string(
            "task: ended by an internal error of the tls library (a panic: please report it)",
        )?));
        lua.set_app_data(rt.clone());
        // A registry value whose finalizer stops the loop while the state is
        // still usable: futures hold Lua references and must go first.
        let guard = lua.create_userdata(ShutdownGuard(Rc::downgrade(&rt)))?;
        lua.set_named_registry_value("tls.runtime.guard", guard)?;
        Ok(rt)
    }

    /// Monotonic seconds since the loop was created.
    pub(crate) fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// One turn of the loop: run ready tasks, wait for events at most
    /// `max_wait` (`None`: until something happens), fire timers, run what
    /// became ready. Returns the error of a failed task nobody joins.
    pub(crate) fn turn(&self, max_wait: Option<Duration>) -> mlua::Result<()> {
        self.turn_inner(max_wait, false)?;
        self.exec.take_failure()
    }

    /// A turn for `run()` and `step()`, which wait only on behalf of tasks:
    /// when the first batch ends the last task, nothing is left that an
    /// event could wake, so the turn must not wait (it would wait forever).
    /// A failed task nobody joins raises its error, as `turn` does.
    pub(crate) fn turn_for_tasks(&self, max_wait: Option<Duration>) -> mlua::Result<()> {
        // No blocking call is waiting while run() or step() drives the loop
        // (both refuse to run inside one), so a wake-up meant for one is
        // stale: one that came after its call had ended (say, by a task's
        // error raised out of it). Left set, every turn would poll without
        // waiting, and run() would spin until its tasks end.
        self.exec.take_main_wake();
        self.turn_inner(max_wait, true)?;
        self.exec.take_failure()
    }

    fn turn_inner(&self, max_wait: Option<Duration>, tasks_only: bool) -> mlua::Result<()> {
        self.exec.run_ready();
        if self.exec.has_failure() {
            return Ok(());
        }
        let wait = if self.exec.has_ready() || (tasks_only && self.exec.count() == 0) {
            Some(Duration::ZERO)
        } else {
            let timer = self
                .timers
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            match (max_wait, timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        self.reactor.poll(wait).map_err(mlua::Error::external)?;
        if self.reactor.take_interrupt() {
            self.checkpoint()?;
        }
        self.signals.drain(self);
        self.timers.fire(Instant::now());
        self.exec.run_ready();
        Ok(())
    }

    /// Runs a little Lua after a signal interrupted the wait: the standalone
    /// interpreter handles Ctrl-C with a hook that fires only while Lua
    /// code runs, and an idle loop runs none. The hook's error ("interrupted!")
    /// then leaves the loop like any other.
    fn checkpoint(&self) -> mlua::Result<()> {
        let Some(lua) = self.lua.try_upgrade() else {
            return Ok(());
        };
        let f = match self.noop.borrow().clone() {
            Some(f) => f,
            None => lua.load("return").set_name("=tls.loop").into_function()?,
        };
        *self.noop.borrow_mut() = Some(f.clone());
        f.call::<()>(())
    }

    /// Seconds until the loop has work: 0 when tasks are ready, the next
    /// timer otherwise, `None` when only I/O can wake it.
    pub(crate) fn timeout(&self) -> Option<f64> {
        if self.exec.has_ready() {
            return Some(0.0);
        }
        self.timers
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64())
    }

    fn shutdown(&self) {
        self.noop.borrow_mut().take();
        self.exec.shutdown();
        self.timers.clear();
    }
}

struct ShutdownGuard(std::rc::Weak<Runtime>);

impl mlua::UserData for ShutdownGuard {}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.upgrade() {
            rt.shutdown();
        }
    }
}

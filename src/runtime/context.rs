//! Where is an I/O call running, and how does it wait?
//!
//! - In a task: the method's Lua wrapper calls the async implementation,
//!   which yields through mlua while the future is pending.
//! - Outside the loop (the main thread, or a coroutine the loop is not
//!   running): blocking mode, which drives the loop until the call's future
//!   is done while the other tasks progress.
//! - In a coroutine nested inside a task (`coroutine.wrap` in a task): the
//!   loop cannot resume it, so the call raises a clear error.
//!
//! A method that can wait is a Rust "sync" function behind a small Lua
//! wrapper. The sync function answers at once when it can (a line already
//! buffered); otherwise it returns `PENDING, async_fn, args...` and the
//! wrapper tail-calls `async_fn(args...)`, so no future is built on the
//! fast path.

use std::future::Future;
use std::task::{Context, Poll};

use mlua::{Function, IntoLuaMulti, LightUserData, Lua, MultiValue, Value};

use super::Runtime;

/// Where the running Lua code is, relative to the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// Directly in a task's coroutine: may yield.
    Task,
    /// Outside the loop: may drive it.
    Blocking,
    /// In a coroutine the loop did not start, while a task runs.
    Foreign,
    /// In a task, inside a call it cannot yield across (a C function such
    /// as `string.gsub`; see `fast/yieldable.rs`): waiting would fail.
    Unyieldable,
    /// In the coroutine of task `id`, resumed by hand rather than by the
    /// loop (see `runtime/by_hand.rs`).
    HandResumed(usize),
}

pub(crate) fn locate(lua: &Lua, rt: &Runtime) -> Where {
    let thread = lua.current_thread();
    let me = thread.to_pointer();
    let in_task = rt.exec.in_task();
    if in_task && rt.exec.current_thread() == Some(me) {
        return if crate::fast::yieldable::thread_can_yield(&thread) {
            Where::Task
        } else {
            Where::Unyieldable
        };
    }
    match rt.exec.resumed_by_hand(me) {
        Some(id) => Where::HandResumed(id),
        None if in_task => Where::Foreign,
        None => Where::Blocking,
    }
}

/// The error of a call named `what` that cannot wait where it was made:
/// [`Where::Foreign`], [`Where::Unyieldable`] or [`Where::HandResumed`]
/// (which also marks that task broken). Raised before anything waits.
pub(crate) fn cannot_wait(lua: &Lua, rt: &Runtime, at: Where, what: &str) -> mlua::Error {
    match at {
        Where::Unyieldable => unyieldable_error(what),
        Where::HandResumed(id) => super::by_hand::refuse(lua, rt, id, what),
        Where::Task | Where::Blocking | Where::Foreign => foreign_error(what),
    }
}

/// The error for a wait where the task cannot be suspended
/// ([`Where::Unyieldable`]).
fn unyieldable_error(what: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "{what}: cannot wait here: the task is inside a call it cannot be \
         suspended across (a C function such as string.gsub or table.sort; \
         on Lua 5.1 also pcall, a metamethod or a for iterator); \
         wait outside that call"
    ))
}

/// The error for I/O from a coroutine the loop cannot resume.
pub(crate) fn foreign_error(what: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "{what}: called from a coroutine that the tls loop did not start \
         (it cannot be suspended there); run it with loop.spawn instead"
    ))
}

/// Drives the loop until `future` is done (blocking mode).
pub(crate) fn block_on<F: Future>(rt: &Runtime, future: F) -> mlua::Result<F::Output> {
    let mut future = std::pin::pin!(future);
    let waker = rt.exec.main_waker().clone();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return Ok(v);
        }
        loop {
            rt.turn(None)?;
            if rt.exec.take_main_wake() {
                break;
            }
        }
    }
}

/// The marker a sync method returns to continue in its async twin.
pub(crate) fn pending_marker() -> LightUserData {
    static PENDING: u8 = 0;
    LightUserData(&PENDING as *const u8 as *mut std::ffi::c_void)
}

/// `PENDING, async_fn, args...`: tells the method's wrapper to tail-call
/// `async_fn(args...)`.
pub(crate) fn go_async(
    lua: &Lua,
    async_fn: &Function,
    args: impl IntoLuaMulti,
) -> mlua::Result<MultiValue> {
    let mut out = args.into_lua_multi(lua)?;
    out.push_front(Value::Function(async_fn.clone()));
    out.push_front(Value::LightUserData(pending_marker()));
    Ok(out)
}

/// Runs a call that must wait: in a task through its async `twin` (called
/// with `args`), in blocking mode by driving the loop until `blocking()`
/// is done; from a foreign coroutine it raises, naming `fname`.
pub(crate) fn dispatch<Fut>(
    lua: &Lua,
    rt: &Runtime,
    fname: &str,
    twin: &Function,
    args: impl IntoLuaMulti,
    blocking: impl FnOnce() -> Fut,
) -> mlua::Result<MultiValue>
where
    Fut: Future<Output = mlua::Result<MultiValue>>,
{
    match locate(lua, rt) {
        Where::Task => go_async(lua, twin, args),
        Where::Blocking => block_on(rt, blocking())?,
        at => Err(cannot_wait(lua, rt, at, fname)),
    }
}

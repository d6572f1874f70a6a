//! The queue and condition-variable fast paths: `queue:put`, `queue:get`,
//! `cond:wait` when they can answer now or must park a task, the retry of
//! a parked task after each wake-up, `cond:signal` and `cond:broadcast`.
//! The Lua wrapper is `api/queue.lua`; the rules every block here keeps are
//! in [`super`].
//!
//! Queue values live in the handle's store (its user value, a table), by
//! item number (see [`crate::runtime::queue`]): a put stores its value
//! before it offers the item, and a get takes the value out of the store,
//! so no Lua value crosses into Rust. Each function declines (no value)
//! when the call is not a task's with plain arguments: misuse, blocking
//! mode, a zero timeout, a coroutine the loop did not start; the general
//! path (`api/loop_sync.rs`) answers those.
//!
//! The runtime is upvalue 2 of every function (a handle of kind
//! [`Runtime`]), so nothing is looked up per call.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use mlua::{ffi, Function, LightUserData, Lua, Table, Value};

use super::{object_arg, push_failure, push_store, upvalue_object, Kind};
use crate::runtime::queue::{Item, Outcome, Queue, Retry};
use crate::runtime::sync::Cond;
use crate::runtime::Runtime;

static QUEUES: Kind<Queue> = Kind::new("tls.fast.queue");
static CONDS: Kind<Cond> = Kind::new("tls.fast.cond");
static RUNTIMES: Kind<Runtime> = Kind::new("tls.fast.runtime");

/// "Parked: yield, then retry" (followed by the token, and for a put the
/// item).
pub(crate) fn wait_marker() -> LightUserData {
    static WAIT: u8 = 0;
    LightUserData(&WAIT as *const u8 as *mut c_void)
}

/// "The task was cancelled: raise its cancellation value".
pub(crate) fn cancel_marker() -> LightUserData {
    static CANCEL: u8 = 0;
    LightUserData(&CANCEL as *const u8 as *mut c_void)
}

/// The fast functions of one Lua state.
pub(crate) struct Functions {
    /// `put(h, v [, timeout])`, `get(h [, timeout])`,
    /// `retry_put(h, token, item)`, `retry_get(h, token)`, `store(h)`.
    pub(crate) queue: [Function; 5],
    /// `wait(h [, timeout])`, `retry(h, token)`, `signal(h)`,
    /// `broadcast(h)`.
    pub(crate) cond: [Function; 4],
}

fn exactly<const N: usize>(v: Vec<Function>) -> mlua::Result<[Function; N]> {
    v.try_into()
        .map_err(|_| mlua::Error::runtime("fast path: wrong number of functions"))
}

/// The fast functions, made once per Lua state (a second set would make
/// new metatables, and the first set would then decline every handle).
pub(crate) fn functions(lua: &Lua) -> mlua::Result<Functions> {
    const KEY: &str = "tls.fast.sync";
    let all = match lua.named_registry_value::<Option<Table>>(KEY)? {
        Some(t) => t,
        None => {
            let f = make(lua)?;
            let t = lua.create_sequence_from(f.queue.into_iter().chain(f.cond))?;
            lua.set_named_registry_value(KEY, &t)?;
            t
        }
    };
    let get = |i: usize| all.raw_get::<Function>(i);
    Ok(Functions {
        queue: [get(1)?, get(2)?, get(3)?, get(4)?, get(5)?],
        cond: [get(6)?, get(7)?, get(8)?, get(9)?],
    })
}

fn make(lua: &Lua) -> mlua::Result<Functions> {
    RUNTIMES.functions(lua, &[], &[])?;
    let rt = RUNTIMES.handle(lua, &Runtime::get(lua)?)?;
    let queue = QUEUES.functions(
        lua,
        &[
            queue_put,
            queue_get,
            queue_retry_put,
            queue_retry_get,
            queue_store,
        ],
        std::slice::from_ref(&rt),
    )?;
    let cond = CONDS.functions(
        lua,
        &[cond_wait, cond_retry, cond_signal, cond_broadcast],
        std::slice::from_ref(&rt),
    )?;
    Ok(Functions {
        queue: exactly(queue)?,
        cond: exactly(cond)?,
    })
}

/// A queue's handle, with a new store.
pub(crate) fn queue_handle(lua: &Lua, q: &std::rc::Rc<Queue>, store: Table) -> mlua::Result<Value> {
    QUEUES.handle_with(lua, q, Some(store))
}

pub(crate) fn cond_handle(lua: &Lua, c: &std::rc::Rc<Cond>) -> mlua::Result<Value> {
    CONDS.handle(lua, c)
}

/// A timeout argument the fast path takes: absent or nil (`Some(None)`),
/// or a positive finite number of seconds; `None` declines (a zero
/// timeout, or anything the general path must check or refuse).
///
/// SAFETY: a C function's stack; reads argument `i` without converting it.
unsafe fn timeout_arg(state: *mut ffi::lua_State, i: c_int) -> Option<Option<Duration>> {
    match ffi::lua_type(state, i) {
        ffi::LUA_TNONE | ffi::LUA_TNIL => Some(None),
        ffi::LUA_TNUMBER => {
            let secs = ffi::lua_tonumber(state, i);
            (secs > 0.0 && secs.is_finite())
                .then(|| Duration::try_from_secs_f64(secs).ok())
                .flatten()
                .map(Some)
        }
        _ => None,
    }
}

/// Runs `f` with the object of argument 1 and the runtime, under
/// `catch_unwind`; `None` for a dead handle, another kind, or a panic.
/// Both strong references are gone when this returns, before any push.
///
/// SAFETY: a C function made by [`Kind::<T>::functions`] with the runtime
/// handle as its extra upvalue.
unsafe fn with<T, R>(state: *mut ffi::lua_State, f: impl FnOnce(&T, &Runtime) -> R) -> Option<R> {
    let object = object_arg::<T>(state)?;
    let rt = upvalue_object::<Runtime>(state, 2)?;
    catch_unwind(AssertUnwindSafe(|| f(&object, &rt))).ok()
}

/// The waker of the task whose coroutine is running this call, if any.
///
/// SAFETY: `state` is the running coroutine's, as [`super::yieldable`] needs.
unsafe fn task_waker(rt: &Runtime, state: *mut ffi::lua_State) -> Option<std::task::Waker> {
    // A task that cannot yield here is the general path's (it raises).
    rt.exec
        .waker_for(state as *const c_void)
        .filter(|_| super::yieldable::yieldable(state))
}

/// What a call that may park came to.
enum Step<T> {
    Now(T),
    Parked(usize),
    Decline,
}

/// Pushes the marker and the token of a parked call.
///
/// SAFETY: a C function's stack, two free slots.
unsafe fn push_parked(state: *mut ffi::lua_State, token: usize) -> c_int {
    push_marker(state, wait_marker());
    ffi::lua_pushinteger(state, token as ffi::lua_Integer);
    2
}

/// Sets `store[item] = value at the top of the stack` (popping it), or
/// clears it when `clear`. Runs no Rust state: it may step the collector.
///
/// SAFETY: argument 1 is a queue handle (checked); three free slots.
unsafe fn set_item(state: *mut ffi::lua_State, item: Item, clear: bool) {
    if clear {
        ffi::lua_pushnil(state);
    }
    push_store(state);
    ffi::lua_insert(state, -2);
    ffi::lua_rawseti(state, -2, item as ffi::lua_Integer);
    ffi::lua_pop(state, 1);
}

/// Pushes `store[item]` and clears the entry: the getter owns it now.
///
/// SAFETY: as [`set_item`].
unsafe fn take_item(state: *mut ffi::lua_State, item: Item) -> c_int {
    push_store(state);
    ffi::lua_rawgeti(state, -1, item as ffi::lua_Integer);
    ffi::lua_pushnil(state);
    ffi::lua_rawseti(state, -3, item as ffi::lua_Integer);
    ffi::lua_remove(state, -2);
    1
}

/// `put(h, v [, timeout])`: `true`; `WAIT, token, item` (parked);
/// `nil, msg, code`; or nothing (declined).
unsafe extern "C-unwind" fn queue_put(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_type(state, 2) <= ffi::LUA_TNIL {
        return 0; // the general path raises
    }
    let Some(limit) = timeout_arg(state, 3) else {
        return 0;
    };
    let Some(item) = with(state, |q: &Queue, _| q.next_item()) else {
        return 0;
    };
    // The value is in the store before anyone can be handed the item.
    ffi::lua_pushvalue(state, 2);
    set_item(state, item, false);
    let step = with(state, |q: &Queue, rt| match q.try_put(item) {
        Ok(o) => Step::Now(o),
        Err(item) => match task_waker(rt, state) {
            Some(w) => Step::Parked(q.park_put(rt, item, &w, limit)),
            None => Step::Decline,
        },
    });
    match step {
        Some(Step::Now(Outcome::Done(()))) => {
            ffi::lua_pushboolean(state, 1);
            1
        }
        Some(Step::Parked(token)) => {
            push_parked(state, token);
            ffi::lua_pushinteger(state, item as ffi::lua_Integer);
            3
        }
        Some(Step::Now(o)) => {
            set_item(state, item, true);
            push_put_failure(state, o)
        }
        None | Some(Step::Decline) => {
            set_item(state, item, true);
            0
        }
    }
}

/// `nil, msg, code` of a put that did not go in.
///
/// SAFETY: three free slots.
unsafe fn push_put_failure(state: *mut ffi::lua_State, o: Outcome<()>) -> c_int {
    match o {
        Outcome::Timeout => push_failure(state, "queue:put: timed out", "timeout"),
        _ => push_failure(state, "queue:put: queue is closed", "closed"),
    }
}

/// `nil, msg, code` of a get that found nothing.
///
/// SAFETY: three free slots.
unsafe fn push_get_failure(state: *mut ffi::lua_State, o: Outcome<Item>) -> c_int {
    match o {
        Outcome::Timeout => push_failure(state, "queue:get: timed out", "timeout"),
        _ => push_failure(state, "queue:get: queue is closed", "closed"),
    }
}

/// `get(h [, timeout])`: the value; `WAIT, token` (parked);
/// `nil, msg, code`; or nothing (declined).
unsafe extern "C-unwind" fn queue_get(state: *mut ffi::lua_State) -> c_int {
    let Some(limit) = timeout_arg(state, 2) else {
        return 0;
    };
    let step = with(state, |q: &Queue, rt| match q.try_get() {
        Some(o) => Step::Now(o),
        None => match task_waker(rt, state) {
            Some(w) => Step::Parked(q.park_get(rt, &w, limit)),
            None => Step::Decline,
        },
    });
    match step {
        Some(Step::Now(Outcome::Done(item))) => take_item(state, item),
        Some(Step::Now(o)) => push_get_failure(state, o),
        Some(Step::Parked(token)) => push_parked(state, token),
        None | Some(Step::Decline) => 0,
    }
}

/// The token argument of a retry.
///
/// SAFETY: a C function's stack.
unsafe fn token_arg(state: *mut ffi::lua_State) -> Option<usize> {
    let mut isnum = 0;
    let t = ffi::lua_tointegerx(state, 2, &mut isnum);
    (isnum != 0 && t >= 0).then_some(t as usize)
}

/// A retry's answer without the cancellation value (the Lua side asks
/// for it, see `queue.lua`), so no Lua value outlives [`with`].
enum Back<T> {
    Wait,
    Done(Outcome<T>),
    Cancelled,
}

impl<T> From<Retry<T>> for Back<T> {
    fn from(r: Retry<T>) -> Self {
        match r {
            Retry::Wait => Back::Wait,
            Retry::Done(o) => Back::Done(o),
            Retry::Cancelled(_) => Back::Cancelled,
        }
    }
}

/// Pushes one marker (WAIT or CANCEL).
///
/// SAFETY: a C function's stack, one free slot.
unsafe fn push_marker(state: *mut ffi::lua_State, m: LightUserData) -> c_int {
    ffi::lua_pushlightuserdata(state, m.0);
    1
}

/// `retry_put(h, token, item)`: `true`; `WAIT`; `nil, msg, code`;
/// `CANCEL`. A put that failed clears its item from the store.
unsafe extern "C-unwind" fn queue_retry_put(state: *mut ffi::lua_State) -> c_int {
    let Some(token) = token_arg(state) else {
        return 0;
    };
    let item = ffi::lua_tointegerx(state, 3, std::ptr::null_mut()) as Item;
    let Some(back) = with(state, |q: &Queue, rt| Back::from(q.retry_put(rt, token))) else {
        return 0;
    };
    match back {
        Back::Wait => push_marker(state, wait_marker()),
        Back::Done(Outcome::Done(())) => {
            ffi::lua_pushboolean(state, 1);
            1
        }
        Back::Done(o) => {
            set_item(state, item, true);
            push_put_failure(state, o)
        }
        Back::Cancelled => {
            set_item(state, item, true);
            push_marker(state, cancel_marker())
        }
    }
}

/// `retry_get(h, token)`: the value; `WAIT`; `nil, msg, code`; `CANCEL`.
unsafe extern "C-unwind" fn queue_retry_get(state: *mut ffi::lua_State) -> c_int {
    let Some(token) = token_arg(state) else {
        return 0;
    };
    let Some(back) = with(state, |q: &Queue, rt| Back::from(q.retry_get(rt, token))) else {
        return 0;
    };
    match back {
        Back::Wait => push_marker(state, wait_marker()),
        Back::Done(Outcome::Done(item)) => take_item(state, item),
        Back::Done(o) => push_get_failure(state, o),
        Back::Cancelled => push_marker(state, cancel_marker()),
    }
}

/// `store(h)`: the store, for the general path.
unsafe extern "C-unwind" fn queue_store(state: *mut ffi::lua_State) -> c_int {
    // Not `with`: a handle already finalized (while the Lua state closes,
    // finalizers run in any order) still has its store, which the general
    // path needs.
    if !super::is_handle::<Queue>(state) {
        return 0;
    }
    push_store(state);
    1
}

/// `wait(h [, timeout])`: `WAIT, token` (parked), or nothing (declined:
/// blocking mode, a zero timeout, misuse).
unsafe extern "C-unwind" fn cond_wait(state: *mut ffi::lua_State) -> c_int {
    let Some(limit) = timeout_arg(state, 2) else {
        return 0;
    };
    let token = with(state, |c: &Cond, rt| {
        task_waker(rt, state).map(|w| c.park(rt, &w, limit))
    });
    match token {
        Some(Some(token)) => push_parked(state, token),
        _ => 0,
    }
}

/// `retry(h, token)`: `true`; `WAIT`; `nil, msg, code`; `CANCEL`.
unsafe extern "C-unwind" fn cond_retry(state: *mut ffi::lua_State) -> c_int {
    let Some(token) = token_arg(state) else {
        return 0;
    };
    let Some(back) = with(state, |c: &Cond, rt| Back::from(c.retry(rt, token))) else {
        return 0;
    };
    match back {
        Back::Wait => push_marker(state, wait_marker()),
        Back::Done(Outcome::Timeout) => push_failure(state, "cond:wait: timed out", "timeout"),
        Back::Done(_) => {
            ffi::lua_pushboolean(state, 1);
            1
        }
        Back::Cancelled => push_marker(state, cancel_marker()),
    }
}

/// `signal(h)`: whether a task was waiting; nothing for a bad handle.
unsafe extern "C-unwind" fn cond_signal(state: *mut ffi::lua_State) -> c_int {
    match with(state, |c: &Cond, _| c.signal()) {
        Some(woke) => {
            ffi::lua_pushboolean(state, woke as c_int);
            1
        }
        None => 0,
    }
}

/// `broadcast(h)`: how many tasks were waiting; nothing for a bad handle.
unsafe extern "C-unwind" fn cond_broadcast(state: *mut ffi::lua_State) -> c_int {
    match with(state, |c: &Cond, _| c.broadcast()) {
        Some(n) => {
            ffi::lua_pushinteger(state, n as ffi::lua_Integer);
            1
        }
        None => 0,
    }
}

//! The stream fast paths: a line already buffered (`read("l")`,
//! `read("L")`, `lines()`), or, when the socket has no more of it, the
//! task parked for it (the wrapper then yields); a `write` of strings and
//! a `flush` that need not wait. The Lua wrappers are `stream/read.lua`,
//! `write.lua` and `lines.lua`; the rules every block here keeps are in
//! [`super`].
//!
//! A line is copied into a scratch buffer under the stream's borrow, the
//! borrow ends, then Lua copies it into a new string. The scratch buffer
//! is taken out of its thread-local cell for the push, so a nested call
//! (from a finalizer the push runs) uses a buffer of its own; if the push
//! raises (out of memory), that buffer leaks.
//!
//! Where the streams keep their handles: `waiting.lua`'s `known`, a
//! weak-keyed table (on Lua 5.1 and LuaJIT, which have no ephemerons, a
//! handle outlives its `ios` by a collection or two; it holds no socket).

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use mlua::{ffi, Function, Lua, Value};
use smallvec::SmallVec;

use super::{object_arg, push_failure, Kind};
use crate::error::NetError;
use crate::stream::core::{LineTake, Step, Stream};

/// Stream handles.
static KIND: Kind<RefCell<Stream>> = Kind::new("tls.fast.stream");

/// A scratch buffer larger than this is not kept after a long line.
const KEEP_SCRATCH: usize = 64 * 1024;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The fast functions of one Lua state (made with the `ios` methods).
pub(crate) struct Functions {
    /// `read_l(handle)`, `read_L(handle)`: a buffered line or nothing.
    pub(crate) read_l: Function,
    pub(crate) read_cap_l: Function,
    /// `write(handle, ...)`, `flush(handle)`.
    pub(crate) write: Function,
    pub(crate) flush: Function,
}

/// Makes the fast functions and the handle metatable.
pub(crate) fn functions(lua: &Lua) -> mlua::Result<Functions> {
    let fns = KIND.functions(
        lua,
        &[
            read_line::<false>,
            read_line::<true>,
            write_strings,
            flush_output,
        ],
        &[],
    )?;
    let [read_l, read_cap_l, write, flush]: [Function; 4] = fns
        .try_into()
        .map_err(|_| mlua::Error::runtime("fast path: four functions expected"))?;
    Ok(Functions {
        read_l,
        read_cap_l,
        write,
        flush,
    })
}

/// A new handle on `stream`, for `waiting.lua` to keep beside its `ios`.
pub(crate) fn handle(lua: &Lua, stream: &Rc<RefCell<Stream>>) -> mlua::Result<Value> {
    KIND.handle(lua, stream)
}

/// The stream of argument 1, if it is a live stream handle.
///
/// SAFETY: as [`object_arg`].
unsafe fn stream_arg(state: *mut ffi::lua_State) -> Option<Rc<RefCell<Stream>>> {
    object_arg::<RefCell<Stream>>(state)
}

/// `read_l(handle)` / `read_L(handle)`: the next line when the buffer or
/// the socket has all of it now; `WAIT` when the socket has nothing more
/// and the running task was parked for it (the wrapper yields, then calls
/// again); else no value (take the general path).
unsafe extern "C-unwind" fn read_line<const KEEP: bool>(state: *mut ffi::lua_State) -> c_int {
    let Some(stream) = stream_arg(state) else {
        return 0;
    };
    // SAFETY: as ours (one free slot for the push).
    match push_line(state, stream, KEEP) {
        Got::Line => 1,
        Got::Parked => {
            // SAFETY: a light userdata (a static's address) neither
            // allocates nor raises.
            ffi::lua_pushlightuserdata(state, crate::stream::ios::wait_marker().0);
            1
        }
        Got::General => 0,
    }
}

/// What [`push_line`] did.
#[derive(PartialEq, Eq)]
enum Got {
    /// Pushed the line.
    Line,
    /// Pushed nothing: the running task is parked on the socket for it.
    Parked,
    /// Pushed nothing: the general path answers.
    General,
}

/// Pushes the next line of `stream` when it is all there; else parks the
/// running task when the socket has nothing more (and the general path
/// would only park it too), or does nothing (see [`read_line`]).
///
/// SAFETY: a C function's stack with one free slot, `state` the running
/// coroutine; `stream` is dropped before the push.
unsafe fn push_line(state: *mut ffi::lua_State, stream: Rc<RefCell<Stream>>, keep: bool) -> Got {
    let mut line = SCRATCH.take();
    let got = catch_unwind(AssertUnwindSafe(|| match stream.try_borrow_mut() {
        Ok(mut s) => match s.take_line(keep, |bytes| {
            line.clear();
            line.extend_from_slice(bytes);
        }) {
            LineTake::Taken => Got::Line,
            // The running coroutine is `state` (a thread's pointer is its
            // `lua_State`, as `lua_topointer` gives it).
            // A task that cannot yield here is the general path's (it raises).
            LineTake::Wait(want)
                if super::yieldable::yieldable(state)
                    && s.park_line_read(want, state as *const c_void) =>
            {
                Got::Parked
            }
            _ => Got::General,
        },
        Err(_) => Got::General,
    }))
    .unwrap_or(Got::General);
    // Before any push: a Lua error there would leak a strong reference.
    drop(stream);
    if got != Got::Line {
        SCRATCH.set(line);
        return got;
    }
    // SAFETY: `line` is ours alone (taken from the cell) and no borrow of
    // the stream is held, so whatever the collector runs here cannot
    // change or free it; Lua copies it before this returns.
    ffi::lua_pushlstring(state, line.as_ptr() as *const c_char, line.len());
    if line.capacity() > KEEP_SCRATCH {
        line = Vec::new();
    }
    SCRATCH.set(line);
    Got::Line
}

/// Upvalues of the read front after the metatable: the handles by
/// stream (`waiting.lua`'s `known`), the Lua `read` wrapper, and the Lua
/// function that waits for a line once the front parked its task.
#[cfg(any(feature = "lua53", feature = "lua54"))]
const KNOWN: c_int = 2;
#[cfg(any(feature = "lua53", feature = "lua54"))]
const WRAPPER: c_int = 3;
#[cfg(any(feature = "lua53", feature = "lua54"))]
const WAITED: c_int = 4;

/// On Lua 5.3 and 5.4, `ios:read` itself (the Lua `read` wrapper is
/// `wrapper`): a C closure that answers a line read whose line is all
/// there, as the wrapper's fast path would, and hands every other call to
/// the wrapper. A Lua wrapper costs a call of its own (with varargs) on
/// top of the fast function's, about 30% of a buffered line read.
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub(crate) fn read_front(
    lua: &Lua,
    known: &mlua::Table,
    wrapper: Function,
    waited: Function,
) -> mlua::Result<Function> {
    let made = KIND.more_functions(
        lua,
        &[read_front_fn],
        &[
            Value::Table(known.clone()),
            Value::Function(wrapper),
            Value::Function(waited),
        ],
    )?;
    let front = made
        .into_iter()
        .next()
        .ok_or_else(|| mlua::Error::runtime("fast path: one function expected"))?;
    crate::api::surface::register_front(lua, &front)?;
    Ok(front)
}

/// `ios:read(...)` (see [`read_front`]).
#[cfg(any(feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn read_front_fn(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    // The formats the wrapper sends to the line path: none, nil, "l" and
    // "*l" (the line), "L" and "*L" (with its end), and nothing after.
    let keep = match (nargs, ffi::lua_type(state, 2)) {
        (1, _) | (2, ffi::LUA_TNIL) => Some(false),
        (2, ffi::LUA_TSTRING) => {
            let mut len = 0;
            // SAFETY: argument 2 is a string (checked: nothing is
            // converted); its bytes stay valid while it is on the stack.
            let p = ffi::lua_tolstring(state, 2, &mut len);
            match std::slice::from_raw_parts(p as *const u8, len) {
                b"l" | b"*l" => Some(false),
                b"L" | b"*L" => Some(true),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(keep) = keep {
        // SAFETY: a closure made by `more_functions` with the metatable
        // as upvalue 1 and the handles as `KNOWN`.
        if let Some(stream) = super::object_of_face::<RefCell<Stream>>(state, KNOWN) {
            match push_line(state, stream, keep) {
                Got::Line => return 1,
                Got::Parked => {
                    // `waited(self, keep)` yields, then reads the line.
                    ffi::lua_settop(state, 1);
                    ffi::lua_pushboolean(state, keep as c_int);
                    // SAFETY: as below.
                    return super::call_wrapper(state, 2, ffi::lua_upvalueindex(WAITED));
                }
                Got::General => {}
            }
        }
    }
    // SAFETY: the wrapper is upvalue `WRAPPER`; nothing of ours is alive.
    super::call_wrapper(state, nargs, ffi::lua_upvalueindex(WRAPPER))
}

/// `write(handle, ...)`: strings, taken and sent as the buffering mode
/// says. Returns `true` (done: the wrapper answers the ios), `false` (taken,
/// but the flush must wait: the wrapper flushes), `nil, msg, code` (the
/// stream failed), or no value, having done nothing (any other call: no
/// value or one that is not a string, a closed stream, another writer;
/// the general path converts, raises or waits).
unsafe extern "C-unwind" fn write_strings(state: *mut ffi::lua_State) -> c_int {
    let top = ffi::lua_gettop(state);
    if top < 2 {
        return 0;
    }
    let mut parts: SmallVec<[&[u8]; 4]> = SmallVec::new();
    for i in 2..=top {
        if ffi::lua_type(state, i) != ffi::LUA_TSTRING {
            return 0;
        }
        let mut len = 0;
        // SAFETY: argument i is a string (checked, so nothing is
        // converted): the pointer is valid while it stays on the stack,
        // which is until we return, and nothing below runs Lua.
        let data = ffi::lua_tolstring(state, i, &mut len);
        parts.push(std::slice::from_raw_parts(data as *const u8, len));
    }
    let done = output(state, |s| s.write_parts(&parts));
    push_outcome(state, done)
}

/// `flush(handle)`: sends buffered output. Returns as `write_strings`
/// (`false`: the socket is full, the wrapper's general flush waits).
unsafe extern "C-unwind" fn flush_output(state: *mut ffi::lua_State) -> c_int {
    let done = output(state, Stream::flush_step);
    push_outcome(state, done)
}

type Outcome = std::thread::Result<Option<Result<Step<()>, NetError>>>;

/// Runs `step` on the stream of argument 1 when the fast path may write:
/// a live handle, no other writer, an open stream; `Ok(None)` otherwise.
/// The strong reference is gone before the caller pushes anything (a Lua
/// error there would leak it).
///
/// SAFETY: as [`stream_arg`].
unsafe fn output(
    state: *mut ffi::lua_State,
    step: impl FnOnce(&mut Stream) -> Result<Step<()>, NetError>,
) -> Outcome {
    let Some(stream) = stream_arg(state) else {
        return Ok(None);
    };
    catch_unwind(AssertUnwindSafe(|| {
        let mut s = stream.try_borrow_mut().ok()?;
        if s.writing || s.is_closed() {
            return None;
        }
        Some(step(&mut s))
    }))
}

/// Pushes what a write or flush came to (see [`write_strings`]).
///
/// SAFETY: a C function's stack, with three free slots (`LUA_MINSTACK`
/// guarantees 20).
unsafe fn push_outcome(state: *mut ffi::lua_State, done: Outcome) -> c_int {
    match done {
        Ok(Some(Ok(Step::Ready(())))) => {
            ffi::lua_pushboolean(state, 1);
            1
        }
        Ok(Some(Ok(Step::Blocked(_)))) => {
            ffi::lua_pushboolean(state, 0);
            1
        }
        Ok(Some(Err(e))) => push_failure(state, &e.message, e.code),
        Ok(None) | Err(_) => 0,
    }
}

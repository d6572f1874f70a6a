//! The raw `lua_CFunction` fast path of the hottest stream calls: a line
//! already buffered (`read("l")`, `read("L")`, `lines()`), a `write` of
//! strings and a `flush` that need not wait.
//!
//! Through mlua every method call checks and borrows the userdata, moves
//! its arguments and results through mlua's reference stack and sets up a
//! protected frame: about 75 ns, more than the work of a buffered line
//! read. These functions talk to the Lua stack directly. They never wait
//! and never raise: when they cannot answer at once they return no value
//! and the Lua wrappers (`read.lua`, `write.lua`) take the general path,
//! which is the one place that waits, parks tasks and reports failures.
//!
//! The only `unsafe` code of the library lives here. What it relies on:
//!
//! - A *handle* is a full userdata made by [`handle`], holding a [`Slot`]
//!   (an `Rc` of the stream) and a metatable that only this module
//!   creates (hidden by `__metatable = false`). Each function checks that
//!   its first argument has exactly that metatable, so no other value is
//!   ever read as a `Slot`. (The debug library can break any C module's
//!   invariants, for example by `debug.setmetatable`; that is out of scope,
//!   as for every C library.)
//! - The slot holds the stream weakly; each call holds a strong reference
//!   for its duration. A stream gone with its `ios` (collected, or
//!   resurrected after mlua's finalizer) is declined, never read. `__gc`
//!   takes the `Weak` out of the slot, leaving `None`, so a handle seen
//!   after its own finalizer ran is declined too.
//! - Nothing here holds a borrow of the stream while Lua can run: a
//!   string push may step the garbage collector, and a finalizer may use
//!   this very stream. A line is copied into a scratch buffer under the
//!   borrow, the borrow ends, then Lua copies it into a new string. The
//!   scratch buffer is taken out of its thread-local cell for the push, so
//!   a nested call (from such a finalizer) uses a buffer of its own.
//! - Rust panics never cross into Lua: each Rust part runs under
//!   `catch_unwind`, and a panic declines (the general path then meets the
//!   same fault under mlua's protection).
//! - A Lua error (out of memory) raised by a push jumps over our frames;
//!   they hold nothing to drop then except the scratch buffer, which leaks.
//!
//! Where the streams keep their handles: `waiting.lua`'s `known`, a
//! weak-keyed table (on Lua 5.1 and LuaJIT, which have no ephemerons, a
//! handle outlives its `ios` by a collection or two; it holds no socket).

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use mlua::{ffi, Function, Lua, Table, Value};
use smallvec::SmallVec;

use super::core::{Step, Stream};
use crate::error::NetError;

/// What a handle's userdata block holds: the stream, weakly, so that the
/// stream (and its socket) goes when its `ios` does, not when the handle is
/// collected (on Lua 5.1 and LuaJIT that can be two collections later).
struct Slot(Option<Weak<RefCell<Stream>>>);

/// Where the handle metatable is kept between calls.
const REGISTRY_KEY: &str = "tls.stream.fast";

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
    let mt = lua.create_table()?;
    mt.set("__metatable", false)?;
    // SAFETY: the closures are made on the stack mlua hands us, with the
    // metatable (argument 1) as their one upvalue; each is sound for any
    // arguments (see the module comment and each function's checks).
    let (mt, read_l, read_cap_l, write, flush): (Table, Function, Function, Function, Function) = unsafe {
        lua.exec_raw(mt, |state| {
            ffi::lua_pushvalue(state, 1);
            ffi::lua_pushcclosure(state, handle_gc, 1);
            ffi::lua_setfield(state, 1, c"__gc".as_ptr());
            for f in [
                read_line::<false> as ffi::lua_CFunction,
                read_line::<true>,
                write_strings,
                flush_output,
            ] {
                ffi::lua_pushvalue(state, 1);
                ffi::lua_pushcclosure(state, f, 1);
            }
        })?
    };
    lua.set_named_registry_value(REGISTRY_KEY, mt)?;
    Ok(Functions {
        read_l,
        read_cap_l,
        write,
        flush,
    })
}

/// A new handle on `stream`, for `waiting.lua` to keep beside its `ios`.
pub(crate) fn handle(lua: &Lua, stream: &Rc<RefCell<Stream>>) -> mlua::Result<Value> {
    let mt: Table = lua.named_registry_value(REGISTRY_KEY)?;
    let stream = Rc::downgrade(stream);
    // SAFETY: the new block is exactly a `Slot`'s size and Lua aligns it
    // for any standard type (a `Weak` is one pointer); it is initialised
    // before anything else can run, and gets its metatable (argument 1)
    // right away, so `__gc` will drop the `Weak`. The result replaces the
    // argument, leaving the handle as the one value returned.
    unsafe {
        lua.exec_raw(mt, move |state| {
            #[cfg(feature = "lua54")]
            let block = ffi::lua_newuserdatauv(state, std::mem::size_of::<Slot>(), 0);
            #[cfg(not(feature = "lua54"))]
            let block = ffi::lua_newuserdata(state, std::mem::size_of::<Slot>());
            std::ptr::write(block as *mut Slot, Slot(Some(stream)));
            ffi::lua_pushvalue(state, 1);
            ffi::lua_setmetatable(state, -2);
            ffi::lua_replace(state, 1);
        })
    }
}

/// The slot of argument 1 when it is one of our handles (its metatable is
/// upvalue 1), else null.
///
/// SAFETY: call only from a C function made by [`functions`] (upvalue 1 is
/// the handle metatable), with at least one free stack slot, which Lua
/// guarantees a C function (`LUA_MINSTACK`).
unsafe fn slot_arg(state: *mut ffi::lua_State) -> *mut Slot {
    if ffi::lua_getmetatable(state, 1) == 0 {
        return std::ptr::null_mut();
    }
    let ours = ffi::lua_rawequal(state, -1, ffi::lua_upvalueindex(1)) != 0;
    ffi::lua_pop(state, 1);
    if ours {
        ffi::lua_touserdata(state, 1) as *mut Slot
    } else {
        std::ptr::null_mut()
    }
}

/// The stream of argument 1, if it is a handle whose finalizer has not run
/// and whose stream still exists.
///
/// SAFETY: as [`slot_arg`]; the slot is read during the call, while the
/// handle (argument 1) cannot be collected.
unsafe fn stream_arg(state: *mut ffi::lua_State) -> Option<Rc<RefCell<Stream>>> {
    let slot = slot_arg(state);
    if slot.is_null() {
        return None;
    }
    (*slot).0.as_ref()?.upgrade()
}

/// `__gc` of a handle: drops its `Weak`, leaving the slot empty for anyone
/// who still sees it.
unsafe extern "C-unwind" fn handle_gc(state: *mut ffi::lua_State) -> c_int {
    let slot = slot_arg(state);
    if !slot.is_null() {
        // SAFETY: a handle's slot, initialised by `handle`; taking leaves
        // a valid `None`.
        let old = (*slot).0.take();
        drop(old);
    }
    0
}

/// `read_l(handle)` / `read_L(handle)`: the next line when the buffer or
/// the socket has all of it now, else no value (take the general path).
unsafe extern "C-unwind" fn read_line<const KEEP: bool>(state: *mut ffi::lua_State) -> c_int {
    let Some(stream) = stream_arg(state) else {
        return 0;
    };
    let mut line = SCRATCH.take();
    let taken = catch_unwind(AssertUnwindSafe(|| match stream.try_borrow_mut() {
        Ok(mut s) => s.take_line(KEEP, |bytes| {
            line.clear();
            line.extend_from_slice(bytes);
        }),
        Err(_) => false,
    }));
    // Before any push: a Lua error there would leak a strong reference.
    drop(stream);
    if !matches!(taken, Ok(true)) {
        SCRATCH.set(line);
        return 0;
    }
    // SAFETY: `line` is ours alone (taken from the cell) and no borrow of
    // the stream is held, so whatever the collector runs here cannot
    // change or free it; Lua copies it before this returns.
    ffi::lua_pushlstring(state, line.as_ptr() as *const c_char, line.len());
    if line.capacity() > KEEP_SCRATCH {
        line = Vec::new();
    }
    SCRATCH.set(line);
    1
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
        Ok(Some(Err(e))) => {
            // The strings are copied from `e`, owned here.
            ffi::lua_pushnil(state);
            ffi::lua_pushlstring(state, e.message.as_ptr() as *const c_char, e.message.len());
            ffi::lua_pushlstring(state, e.code.as_ptr() as *const c_char, e.code.len());
            3
        }
        Ok(None) | Err(_) => 0,
    }
}

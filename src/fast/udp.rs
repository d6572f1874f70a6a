//! The datagram fast paths: `recv` of a datagram already queued (or a wait
//! for one, in a task), `send` and `sendto` that the socket takes now. The
//! Lua wrappers are `api/udp.lua`; the rules every block here keeps are in
//! [`super`]. What these functions cannot answer exactly as the general
//! path (`api/udp_module.rs`) does, they decline, having changed nothing
//! the general path would see differently: see [`Socket::fast_recv`].
//!
//! A datagram is received into a scratch buffer taken out of its
//! thread-local cell, so a nested call (from a finalizer a push runs) uses
//! a buffer of its own; if the push raises (out of memory), that buffer
//! leaks.
//!
//! Where the sockets keep their handles: `waiting.lua`'s `known` (loaded
//! for `tls.udp`), weak-keyed, as the streams do.

use std::cell::Cell;
use std::ffi::{c_char, c_int};
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use mlua::{ffi, Function, Lua, Value};

use super::{object_of_face, push_failure, Kind};
use crate::api::udp_module::{wait_marker, FastRecv, Socket};
use crate::net::addr::parse_text;
use crate::runtime::deadline::is_seconds;

/// Datagram socket handles.
static KIND: Kind<Socket> = Kind::new("tls.fast.udp");

/// Upvalues after the metatable: the field names of an address object,
/// and the table of handles by socket (`waiting.lua`'s `known`).
const ADDR: c_int = 2;
const PORT: c_int = 3;
const KNOWN: c_int = 4;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The fast functions of one Lua state (made with the udp methods).
pub(crate) struct Functions {
    /// `recv(socket, timeout)`: `data, from`, `nil, msg, code`, WAIT
    /// (parked: yield, then call again) or nothing (the general path).
    pub(crate) recv: Function,
    /// `send(socket, data)`, `sendto(socket, data, to)`: the byte count,
    /// `nil, msg, code` or nothing (the general path).
    pub(crate) send: Function,
    pub(crate) sendto: Function,
}

/// Makes the fast functions and the handle metatable; `known` maps each
/// socket's face to its handle (made by [`handle`]).
pub(crate) fn functions(lua: &Lua, known: &mlua::Table) -> mlua::Result<Functions> {
    let names = [
        Value::String(lua.create_string("addr")?),
        Value::String(lua.create_string("port")?),
        Value::Table(known.clone()),
    ];
    let fns = KIND.functions(lua, &[recv, send, sendto], &names)?;
    let [recv, send, sendto]: [Function; 3] = fns
        .try_into()
        .map_err(|_| mlua::Error::runtime("fast path: three functions expected"))?;
    Ok(Functions { recv, send, sendto })
}

/// A new handle on `socket`, for `udp.lua` to keep beside its face.
pub(crate) fn handle(lua: &Lua, socket: &Rc<Socket>) -> mlua::Result<Value> {
    KIND.handle(lua, socket)
}

/// Whether the running coroutine (`state`) is the task being polled, as
/// `runtime::context::locate` decides it.
///
/// SAFETY: a C function's stack with one free slot (`LUA_MINSTACK`); the
/// thread pushed is popped again, and pushing a thread neither allocates
/// nor raises.
unsafe fn is_task(state: *mut ffi::lua_State, socket: &Socket) -> bool {
    let Some(task) = socket.task_thread() else {
        return false;
    };
    ffi::lua_pushthread(state);
    let me = ffi::lua_topointer(state, -1);
    ffi::lua_pop(state, 1);
    // A task that cannot yield here is the general path's (it raises).
    me == task && super::yieldable::yieldable(state)
}

/// `recv(socket, timeout)`.
unsafe extern "C-unwind" fn recv(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `recv_now`.
    match recv_now(state) {
        Received::Pushed(n) => n,
        Received::Parked => {
            // SAFETY: a light userdata (a static's address) neither
            // allocates nor raises.
            ffi::lua_pushlightuserdata(state, wait_marker().0);
            1
        }
        Received::Declined | Received::NoHandle => 0,
    }
}

/// What [`recv_now`] did.
enum Received {
    /// Pushed this many results: `data, from` or `nil, msg, code`.
    Pushed(c_int),
    /// Pushed nothing: the running task is parked on the socket.
    Parked,
    /// Pushed nothing, changed nothing: the general path answers.
    Declined,
    /// As `Declined`, before anything was tried: argument 1 has no live
    /// handle (not a socket, or one whose handle the wrapper has yet to
    /// make).
    NoHandle,
}

/// The datagram fast path of `recv(socket, timeout)` (arguments 1 and 2).
///
/// SAFETY: a C function made by [`Kind::functions`] or
/// [`Kind::more_functions`] with this module's upvalues (1 the metatable,
/// `KNOWN` the handles), with three free stack slots.
unsafe fn recv_now(state: *mut ffi::lua_State) -> Received {
    // The timeout as the general path reads it; anything else declines.
    // SAFETY (this function): `object_of_face` as the caller's; type
    // checks and reading a number run no Lua and cannot raise. Nothing
    // below holds a borrow or the `Rc` across a push that may allocate
    // (see each push).
    // Converted only if the task must wait (most calls find a datagram).
    let timeout: Option<f64> = match ffi::lua_type(state, 2) {
        ffi::LUA_TNONE | ffi::LUA_TNIL => None,
        ffi::LUA_TNUMBER => match ffi::lua_tonumber(state, 2) {
            t if is_seconds(t) => Some(t),
            _ => return Received::Declined,
        },
        _ => return Received::Declined,
    };
    let Some(socket) = object_of_face::<Socket>(state, KNOWN) else {
        return Received::NoHandle;
    };
    let mut buf = SCRATCH.take();
    let got = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `is_task`'s push and pop run no Lua and cannot raise.
        socket.fast_recv(&mut buf, timeout, || unsafe { is_task(state, &socket) })
    }));
    match got {
        Ok(FastRecv::Data(n, from)) => {
            // SAFETY: `from` is the registry reference of the socket's last
            // sender object, which the socket (alive: we hold it) keeps;
            // `lua_rawgeti` on the registry runs no Lua, allocates nothing
            // and cannot raise, so it is safe while we hold the `Rc`.
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, from as _);
            drop(socket);
            // SAFETY: `buf` is ours alone (taken from the cell) and we hold
            // no borrow or strong reference, so whatever the collector runs
            // here cannot change or free it; Lua copies it. `lua_insert`
            // only moves the two values (data below from becomes above).
            ffi::lua_pushlstring(state, buf.as_ptr() as *const c_char, n);
            SCRATCH.set(buf);
            ffi::lua_insert(state, -2);
            Received::Pushed(2)
        }
        Ok(FastRecv::Parked) => {
            drop(socket);
            SCRATCH.set(buf);
            Received::Parked
        }
        Ok(FastRecv::Failed(e)) => {
            drop(socket);
            SCRATCH.set(buf);
            // SAFETY: as `push_failure` (nothing of ours is borrowed; if it
            // raises, only the message's `String` leaks).
            Received::Pushed(push_failure(state, &e.message, e.code))
        }
        Ok(FastRecv::Declined) | Err(_) => {
            drop(socket);
            SCRATCH.set(buf);
            Received::Declined
        }
    }
}

/// The string at `idx`, if it is one (numbers are not converted).
///
/// SAFETY: `idx` is a valid stack index; the slice lives as long as the
/// value stays on the stack, which the caller ensures.
unsafe fn string_at<'a>(state: *mut ffi::lua_State, idx: c_int) -> Option<&'a [u8]> {
    if ffi::lua_type(state, idx) != ffi::LUA_TSTRING {
        return None;
    }
    let mut len = 0;
    let data = ffi::lua_tolstring(state, idx, &mut len);
    Some(std::slice::from_raw_parts(data as *const u8, len))
}

/// The destination argument 3 of `sendto`, when it is text or a table
/// whose own (raw) `addr` is text and `port` an integral number, read as
/// `net::addr::from_lua` reads them; `None` for anything else (the
/// general path converts through metamethods, or raises).
///
/// SAFETY: a C function made by [`Kind::functions`] with the field names
/// as upvalues 2 and 3, with two free stack slots (`LUA_MINSTACK`). Raw
/// reads run no Lua, allocate nothing and cannot raise; both values are
/// popped before returning, after the text is parsed.
unsafe fn destination(state: *mut ffi::lua_State) -> Option<SocketAddr> {
    match ffi::lua_type(state, 3) {
        ffi::LUA_TSTRING => {
            let text = std::str::from_utf8(string_at(state, 3)?).ok()?;
            parse_text(text)
        }
        ffi::LUA_TTABLE => {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(ADDR));
            ffi::lua_rawget(state, 3);
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(PORT));
            ffi::lua_rawget(state, 3);
            let found = (|| {
                let ip = std::str::from_utf8(string_at(state, -2)?).ok()?;
                if ffi::lua_type(state, -1) != ffi::LUA_TNUMBER {
                    return None;
                }
                let mut isnum = 0;
                let port = ffi::lua_tointegerx(state, -1, &mut isnum);
                if isnum == 0 {
                    return None;
                }
                let ip: IpAddr = ip.parse().ok()?;
                Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
            })();
            ffi::lua_pop(state, 2);
            found
        }
        _ => None,
    }
}

/// `send(socket, data)`.
unsafe extern "C-unwind" fn send(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `send_data`.
    pushed(send_data(state))
}

/// `sendto(socket, data, to)`.
unsafe extern "C-unwind" fn sendto(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `sendto_data`.
    pushed(sendto_data(state))
}

/// What a fast function returns for `got`: its results, or none.
fn pushed(got: Received) -> c_int {
    match got {
        Received::Pushed(n) => n,
        _ => 0,
    }
}

/// The fast path of `send(socket, data)`: `Pushed` or a decline.
///
/// SAFETY: made by `Kind::functions` or `Kind::more_functions` with this
/// module's upvalues (as `send_now` needs); argument 2 stays on the stack
/// until the C function returns, so its bytes stay valid.
unsafe fn send_data(state: *mut ffi::lua_State) -> Received {
    let Some(data) = string_at(state, 2) else {
        return Received::Declined;
    };
    send_now(state, data, None)
}

/// The fast path of `sendto(socket, data, to)`.
///
/// SAFETY: as `send_data`; with the field names as upvalues 2 and 3, as
/// `destination` needs (it leaves the stack as it was).
unsafe fn sendto_data(state: *mut ffi::lua_State) -> Received {
    let Some(data) = string_at(state, 2) else {
        return Received::Declined;
    };
    let Some(to) = destination(state) else {
        return Received::Declined;
    };
    send_now(state, data, Some(to))
}

/// Sends `data` on the socket of argument 1 and pushes what came of it.
///
/// SAFETY: a C function made by [`Kind::functions`], with three free
/// stack slots; `data` stays valid until it returns (an argument).
unsafe fn send_now(state: *mut ffi::lua_State, data: &[u8], to: Option<SocketAddr>) -> Received {
    // SAFETY: as the caller's (upvalue 1 is this kind's metatable, `KNOWN`
    // the handles).
    let Some(socket) = object_of_face::<Socket>(state, KNOWN) else {
        return Received::NoHandle;
    };
    let sent = catch_unwind(AssertUnwindSafe(|| socket.fast_send(data, to)));
    // Before any push: a Lua error there would leak a strong reference.
    drop(socket);
    match sent {
        Ok(Some(Ok(n))) => {
            // SAFETY: an integer push neither allocates nor raises.
            ffi::lua_pushinteger(state, n as ffi::lua_Integer);
            Received::Pushed(1)
        }
        // SAFETY: as `push_failure`; the `Rc` is gone (if the push raises,
        // only the message's `String` leaks).
        Ok(Some(Err(e))) => Received::Pushed(push_failure(state, &e.message, e.code)),
        Ok(None) | Err(_) => Received::Declined,
    }
}

/// Upvalues of the fronts after `KNOWN`: the Lua wrapper of the method
/// (for a socket without a handle yet: it makes one), the general method
/// (for what the fast path declined: asking it again would repeat the
/// system call), and for `recv` the Lua function that waits once the
/// front parked its task.
#[cfg(any(feature = "lua53", feature = "lua54"))]
const WRAPPER: c_int = 5;
#[cfg(any(feature = "lua53", feature = "lua54"))]
const GENERAL: c_int = 6;
#[cfg(any(feature = "lua53", feature = "lua54"))]
const WAITED: c_int = 7;

/// The methods `s:recv`, `s:send` and `s:sendto` themselves on Lua 5.3
/// and 5.4 (`udp.lua` makes the wrappers): C closures that answer what the
/// fast functions answer and call the wrapper for every other call, as
/// `stream::read_front` does for `ios:read`. This saves a datagram the
/// wrapper's Lua call.
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub(crate) struct Wrappers {
    pub(crate) recv: Function,
    /// `waited(socket, timeout)`: yields, then receives.
    pub(crate) waited: Function,
    pub(crate) send: Function,
    pub(crate) sendto: Function,
    /// The general methods (`api/udp_module.rs`).
    pub(crate) general: [Function; 3],
}

/// Makes the three fronts (see [`Wrappers`]) of the socket handles in
/// `known`: `recv`, `send`, `sendto`.
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub(crate) fn fronts(lua: &Lua, known: &mlua::Table, w: Wrappers) -> mlua::Result<[Function; 3]> {
    let front =
        |f: ffi::lua_CFunction, wrapper: Function, general: Function, waited: Option<Function>| {
            let mut extra = vec![
                Value::String(lua.create_string("addr")?),
                Value::String(lua.create_string("port")?),
                Value::Table(known.clone()),
                Value::Function(wrapper),
                Value::Function(general),
            ];
            extra.extend(waited.map(Value::Function));
            let f = KIND
                .more_functions(lua, &[f], &extra)?
                .into_iter()
                .next()
                .ok_or_else(|| mlua::Error::runtime("fast path: one function expected"))?;
            crate::api::surface::register_front(lua, &f)?;
            Ok::<_, mlua::Error>(f)
        };
    let [recv, send, sendto] = w.general;
    Ok([
        front(recv_front, w.recv, recv, Some(w.waited))?,
        front(send_front, w.send, send, None)?,
        front(sendto_front, w.sendto, sendto, None)?,
    ])
}

/// `s:recv([timeout])` (see [`fronts`]).
#[cfg(any(feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn recv_front(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    // SAFETY: a closure made by `fronts`, with this module's upvalues; a
    // C function has `LUA_MINSTACK` free slots. Nothing of ours is alive
    // when a wrapper is called.
    match recv_now(state) {
        Received::Parked => {
            // `waited(self, timeout)` yields, then receives.
            ffi::lua_settop(state, 2);
            super::call_wrapper(state, 2, ffi::lua_upvalueindex(WAITED))
        }
        other => front_answer(state, nargs, other),
    }
}

/// `s:send(data)` (see [`fronts`]).
#[cfg(any(feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn send_front(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    // SAFETY: as `recv_front`.
    let got = send_data(state);
    front_answer(state, nargs, got)
}

/// `s:sendto(data, to)` (see [`fronts`]).
#[cfg(any(feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn sendto_front(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    // SAFETY: as `recv_front`.
    let got = sendto_data(state);
    front_answer(state, nargs, got)
}

/// A front's answer for `got` (not `Parked`): the results pushed, or the
/// call handed to the wrapper (no handle yet) or to the general method.
///
/// SAFETY: from a front (see `recv_front`) with its `nargs` arguments
/// below whatever `got` pushed; nothing of ours is alive.
#[cfg(any(feature = "lua53", feature = "lua54"))]
unsafe fn front_answer(state: *mut ffi::lua_State, nargs: c_int, got: Received) -> c_int {
    match got {
        Received::Pushed(n) => n,
        Received::NoHandle => super::call_wrapper(state, nargs, ffi::lua_upvalueindex(WRAPPER)),
        Received::Declined | Received::Parked => {
            super::call_wrapper(state, nargs, ffi::lua_upvalueindex(GENERAL))
        }
    }
}

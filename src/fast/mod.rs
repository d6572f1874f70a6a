//! The raw `lua_CFunction` fast paths of the hottest calls: line reads
//! (answered from the buffer, or the task parked until the socket is
//! ready), writes and flushes of streams ([`stream`]), datagram `recv`,
//! `send` and `sendto` ([`udp`]), and the queue and condition variable
//! hand-overs between tasks ([`sync`]).
//!
//! Through mlua every call checks and borrows the userdata, moves its
//! arguments and results through mlua's reference stack and sets up a
//! protected frame: about 75 ns, more than the work of a buffered line
//! read or a queue hand-over. These functions talk to the Lua stack
//! directly. They never raise: when they cannot answer they return no
//! value (or a marker) and their Lua wrappers take the general path, which
//! is the one place that converts arguments, drives blocking calls and
//! raises.
//!
//! On Lua 5.3 and 5.4 `ios:read`, `s:recv`, `s:send` and `s:sendto` are
//! themselves such functions (*fronts*, `stream::read_front` and
//! `udp::fronts`): they answer what the fast path answers and call their
//! Lua wrapper for everything else through `lua_callk` ([`call_wrapper`]),
//! so the wrapper may still wait; 5.1, 5.2 and LuaJIT call the wrapper
//! first.
//!
//! The only `unsafe` code of the library lives in this module. What it
//! relies on:
//!
//! - A *handle* is a full userdata made by [`Kind::handle`], holding a
//!   [`Slot`] (a `Weak` of the object) and a metatable that only this
//!   module creates (hidden by `__metatable = false`), one per kind of
//!   object. Each function checks that its first argument has exactly that
//!   metatable (its upvalue 1), so no other value is ever read as a
//!   `Slot`, nor one kind's slot as another's. (The debug library can break
//!   any C module's invariants, for example by `debug.setmetatable`; that
//!   is out of scope, as for every C library.)
//! - The slot holds the object weakly; each call holds a strong reference
//!   for its duration. An object gone with its Lua face (collected, or
//!   resurrected after mlua's finalizer) is declined, never read. `__gc`
//!   takes the `Weak` out of the slot, leaving `None`, so a handle seen
//!   after its own finalizer ran is declined too.
//! - Nothing holds a `RefCell` borrow while Lua can run (a push may step
//!   the garbage collector, and a finalizer may use the same object), and
//!   the strong reference is dropped before any push: a Lua error (out of
//!   memory) raised there jumps over our frames, which then hold nothing
//!   that needs dropping.
//! - Rust panics never cross into Lua: each Rust part runs under
//!   `catch_unwind`, and a panic declines (the general path then meets the
//!   same fault under mlua's protection).

#![allow(unsafe_code)]

pub(crate) mod pin;
pub(crate) mod stream;
pub(crate) mod sync;
pub(crate) mod udp;
pub(crate) mod yieldable;

use std::ffi::{c_char, c_int};
use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use mlua::{ffi, Function, Lua, Table, Value};

/// What a handle's userdata block holds: the object, weakly, so that it
/// goes when its Lua face does, not when the handle is collected (on Lua
/// 5.1 and LuaJIT that can be two collections later).
struct Slot<T>(Option<Weak<T>>);

/// One kind of handle (streams, queues, ...): its metatable, kept in the
/// registry under `key`.
pub(crate) struct Kind<T> {
    key: &'static str,
    _object: PhantomData<fn() -> T>,
}

impl<T: 'static> Kind<T> {
    pub(crate) const fn new(key: &'static str) -> Self {
        Self {
            key,
            _object: PhantomData,
        }
    }

    /// Makes this kind's metatable and one closure for each of `fns`, each
    /// with the metatable as its upvalue 1 and `extra` upvalues (the
    /// values of `extra`) after it.
    pub(crate) fn functions(
        &self,
        lua: &Lua,
        fns: &[ffi::lua_CFunction],
        extra: &[Value],
    ) -> mlua::Result<Vec<Function>> {
        let mt = lua.create_table()?;
        mt.set("__metatable", false)?;
        // SAFETY: argument 1 is the metatable; `__gc` gets it as its only
        // upvalue (it checks its argument like every other function).
        unsafe {
            lua.exec_raw::<()>(mt.clone(), |state| {
                ffi::lua_pushvalue(state, 1);
                ffi::lua_pushcclosure(state, handle_gc::<T>, 1);
                ffi::lua_setfield(state, 1, c"__gc".as_ptr());
                ffi::lua_settop(state, 0);
            })?;
        }
        lua.set_named_registry_value(self.key, &mt)?;
        closures(lua, mt, fns, extra)
    }

    /// More closures with this kind's metatable (made by
    /// [`Self::functions`] before) as upvalue 1 and `extra` after it.
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    pub(crate) fn more_functions(
        &self,
        lua: &Lua,
        fns: &[ffi::lua_CFunction],
        extra: &[Value],
    ) -> mlua::Result<Vec<Function>> {
        let mt: Table = lua.named_registry_value(self.key)?;
        closures(lua, mt, fns, extra)
    }

    /// A new handle on `object`, for a Lua wrapper to keep beside it.
    pub(crate) fn handle(&self, lua: &Lua, object: &Rc<T>) -> mlua::Result<Value> {
        self.handle_with(lua, object, None)
    }

    /// A handle whose user value is `store` (a table the fast path reads
    /// with [`push_store`]).
    pub(crate) fn handle_with(
        &self,
        lua: &Lua,
        object: &Rc<T>,
        store: Option<Table>,
    ) -> mlua::Result<Value> {
        let mt: Table = lua.named_registry_value(self.key)?;
        let object = Rc::downgrade(object);
        let with_store = store.is_some();
        // SAFETY: the new block is exactly a `Slot`'s size and Lua aligns it
        // for any standard type (a `Weak` is one pointer); it is initialised
        // before anything else can run, and gets its metatable (argument 1)
        // right away, so `__gc` will drop the `Weak`. mlua-sys's
        // `lua_newuserdata` gives the block one user value on every Lua
        // version (on 5.1 and LuaJIT its environment, which must be a
        // table: the store is one). The handle replaces argument 1, and
        // the store (argument 2) is popped, leaving the handle as the one
        // value returned.
        unsafe {
            lua.exec_raw((mt, store), move |state| {
                let block = ffi::lua_newuserdata(state, std::mem::size_of::<Slot<T>>());
                std::ptr::write(block as *mut Slot<T>, Slot(Some(object)));
                ffi::lua_pushvalue(state, 1);
                ffi::lua_setmetatable(state, -2);
                if with_store {
                    ffi::lua_pushvalue(state, 2);
                    ffi::lua_setuservalue(state, -2);
                }
                ffi::lua_replace(state, 1);
                ffi::lua_settop(state, 1);
            })
        }
    }
}

/// One closure for each of `fns`, each with `mt` as its upvalue 1 and
/// the values of `extra` after it.
fn closures(
    lua: &Lua,
    mt: Table,
    fns: &[ffi::lua_CFunction],
    extra: &[Value],
) -> mlua::Result<Vec<Function>> {
    let n = fns.len() as c_int;
    let extra_n = extra.len() as c_int;
    let args = (mt, mlua::MultiValue::from_iter(extra.iter().cloned()));
    // SAFETY: argument 1 is the metatable, arguments 2.. the extra
    // upvalues; every closure gets all of them, and each is sound for any
    // arguments (see each function's checks). `exec_raw` returns what is
    // left above the arguments: the closures.
    let made: mlua::MultiValue = unsafe {
        lua.exec_raw(args, |state| {
            ffi::luaL_checkstack(state, n + extra_n + 2, std::ptr::null());
            let base = ffi::lua_gettop(state);
            for &f in fns {
                for i in 1..=base {
                    ffi::lua_pushvalue(state, i);
                }
                ffi::lua_pushcclosure(state, f, base);
            }
            // Leave the closures only.
            for _ in 0..base {
                ffi::lua_remove(state, 1);
            }
        })?
    };
    made.into_iter()
        .map(|v| match v {
            Value::Function(f) => Ok(f),
            _ => Err(mlua::Error::runtime("fast path: closure expected")),
        })
        .collect()
}

/// Calls the Lua function at stack index `wrapper` (an upvalue index) with
/// the running C function's `nargs` arguments (what is above them is
/// dropped) and answers its results, on Lua 5.3 and 5.4: through
/// `lua_callk`, so the wrapper may yield (its results then come back
/// through [`answered`]).
///
/// SAFETY: from a C function with `nargs` arguments and two free slots;
/// nothing with a destructor may be alive in the caller's frame, since a
/// yield or an error in the wrapper jumps out of it.
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub(crate) unsafe fn call_wrapper(
    state: *mut ffi::lua_State,
    nargs: c_int,
    wrapper: c_int,
) -> c_int {
    ffi::lua_settop(state, nargs);
    ffi::lua_pushvalue(state, wrapper);
    ffi::lua_insert(state, 1);
    ffi::lua_callk(state, nargs, ffi::LUA_MULTRET, 0, Some(answered));
    ffi::lua_gettop(state)
}

/// After a wrapper called by [`call_wrapper`] yielded: its results are
/// the whole stack.
#[cfg(any(feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn answered(
    state: *mut ffi::lua_State,
    _status: c_int,
    _ctx: ffi::lua_KContext,
) -> c_int {
    ffi::lua_gettop(state)
}

/// Pushes the store (user value) of the handle at argument 1.
///
/// SAFETY: argument 1 is a handle checked by [`object_arg`] or
/// [`slot_arg`], made by [`Kind::handle_with`] with a store; one free
/// stack slot.
pub(crate) unsafe fn push_store(state: *mut ffi::lua_State) {
    ffi::lua_getuservalue(state, 1);
}

/// The object of upvalue `n` of the running C function, which is a handle
/// of `T` that [`Kind::functions`] was given among its `extra` values.
///
/// SAFETY: only from a C function made by [`Kind::functions`] whose extra
/// upvalue `n - 1` is a handle of kind `T` (upvalues of C functions are
/// beyond the reach of Lua code, except through the debug library).
pub(crate) unsafe fn upvalue_object<T>(state: *mut ffi::lua_State, n: c_int) -> Option<Rc<T>> {
    let slot = ffi::lua_touserdata(state, ffi::lua_upvalueindex(n)) as *mut Slot<T>;
    if slot.is_null() {
        return None;
    }
    (*slot).0.as_ref()?.upgrade()
}

/// The slot of argument 1 when it is a handle of the kind whose metatable
/// is upvalue 1, else null.
///
/// SAFETY: call only from a C function made by [`Kind::<T>::functions`]
/// (upvalue 1 is that kind's metatable), with at least one free stack
/// slot, which Lua guarantees a C function (`LUA_MINSTACK`).
unsafe fn slot_arg<T>(state: *mut ffi::lua_State) -> *mut Slot<T> {
    slot_at(state, 1)
}

/// Whether argument 1 is a handle of this function's kind, live or
/// finalized (its user value, a queue's item store, outlives its slot).
///
/// SAFETY: as [`slot_arg`].
pub(crate) unsafe fn is_handle<T>(state: *mut ffi::lua_State) -> bool {
    !slot_arg::<T>(state).is_null()
}

/// The slot of the value at stack index `idx` (as [`slot_arg`]).
///
/// SAFETY: as [`slot_arg`], with `idx` a valid index; the slot may be read
/// while that value stays on the stack (or is otherwise kept alive).
unsafe fn slot_at<T>(state: *mut ffi::lua_State, idx: c_int) -> *mut Slot<T> {
    if ffi::lua_getmetatable(state, idx) == 0 {
        return std::ptr::null_mut();
    }
    let ours = ffi::lua_rawequal(state, -1, ffi::lua_upvalueindex(1)) != 0;
    ffi::lua_pop(state, 1);
    if ours {
        ffi::lua_touserdata(state, idx) as *mut Slot<T>
    } else {
        std::ptr::null_mut()
    }
}

/// The object of the handle that the table upvalue `known` maps argument 1
/// to (argument 1 being the object's Lua face), if it is a handle of this
/// kind whose object still exists. It saves the Lua wrapper the lookup.
///
/// SAFETY: as [`slot_arg`], with two free stack slots and upvalue `known`
/// a table. `lua_rawget` runs no metamethod, allocates nothing and cannot
/// raise (any key may be looked up); the handle is popped again before we
/// return, after its slot was read (the table keeps it meanwhile, and no
/// Lua runs in between).
pub(crate) unsafe fn object_of_face<T>(state: *mut ffi::lua_State, known: c_int) -> Option<Rc<T>> {
    ffi::lua_pushvalue(state, 1);
    ffi::lua_rawget(state, ffi::lua_upvalueindex(known));
    let slot = slot_at::<T>(state, -1);
    let object = if slot.is_null() {
        None
    } else {
        (*slot).0.as_ref().and_then(Weak::upgrade)
    };
    ffi::lua_pop(state, 1);
    object
}

/// The object of argument 1, if it is a handle of this kind whose
/// finalizer has not run and whose object still exists.
///
/// SAFETY: as [`slot_arg`]; the slot is read during the call, while the
/// handle (argument 1) cannot be collected.
pub(crate) unsafe fn object_arg<T>(state: *mut ffi::lua_State) -> Option<Rc<T>> {
    let slot = slot_arg::<T>(state);
    if slot.is_null() {
        return None;
    }
    (*slot).0.as_ref()?.upgrade()
}

/// `__gc` of a handle: drops its `Weak`, leaving the slot empty for anyone
/// who still sees it.
unsafe extern "C-unwind" fn handle_gc<T>(state: *mut ffi::lua_State) -> c_int {
    let slot = slot_arg::<T>(state);
    if !slot.is_null() {
        // SAFETY: a handle's slot of this kind, initialised by `handle`;
        // taking leaves a valid `None`.
        let old = (*slot).0.take();
        drop(old);
    }
    0
}

/// Pushes `nil, message, code` (a runtime failure in Lua's convention).
///
/// SAFETY: a C function's stack with three free slots (`LUA_MINSTACK`
/// guarantees 20); the strings are copied by Lua.
pub(crate) unsafe fn push_failure(state: *mut ffi::lua_State, message: &str, code: &str) -> c_int {
    ffi::lua_pushnil(state);
    ffi::lua_pushlstring(state, message.as_ptr() as *const c_char, message.len());
    ffi::lua_pushlstring(state, code.as_ptr() as *const c_char, code.len());
    3
}

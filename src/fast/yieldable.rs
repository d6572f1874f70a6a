//! Whether the running coroutine may yield where it is: asked before a
//! task is parked, because a yield that fails (inside `string.gsub`'s
//! callback, `table.sort`'s comparator, a C function that calls Lua) would
//! raise Lua's own error *after* the park, leaving the task registered as
//! waiting on a socket or in a queue's line while it runs on (another
//! reader is refused as "busy", a value put for it is lost). Asked first,
//! the call raises a clear error and nothing is parked.
//!
//! Lua 5.3, 5.4 and LuaJIT say it exactly (`lua_isyieldable`). Lua 5.1 and
//! 5.2 have no such call, and the counters they test are private fields
//! of `lua_State`, whose layout we do not rely on; so the call stack is
//! read through the debug API (`lua_getstack`, `lua_getinfo`), which says
//! what every frame is:
//! - 5.2 cannot yield across a C function unless it was written to
//!   (`pcall`, `xpcall` and `dofile` of the base library are), nor out of
//!   a hook;
//! - 5.1 cannot yield across any C function (`pcall` included) nor out of
//!   a `for` iterator. It cannot yield out of a metamethod either, which
//!   the stack does not show reliably (a metamethod that tail-calls leaves
//!   no trace): there the yield still fails with Lua's own message.

use mlua::ffi;

/// LuaJIT's `lua_isyieldable`, looked up when the module loads rather
/// than linked: mlua's bindings do not declare it, and a LuaJIT 2.1 older
/// than the function would refuse to load a module that needs it. Without
/// it every wait is taken as yieldable, as before the check existed.
#[cfg(feature = "luajit")]
type IsYieldable = unsafe extern "C-unwind" fn(*mut ffi::lua_State) -> std::ffi::c_int;

#[cfg(feature = "luajit")]
static LUAJIT_ISYIELDABLE: std::sync::OnceLock<Option<IsYieldable>> = std::sync::OnceLock::new();

/// Whether `thread`, the running coroutine (`Lua::current_thread` in a
/// callback), may yield from that callback (see [`yieldable`]).
pub(crate) fn thread_can_yield(thread: &mlua::Thread) -> bool {
    // SAFETY: the running coroutine's state, asked from a callback it runs;
    // `thread` keeps it alive meanwhile.
    unsafe { yieldable(thread.state()) }
}

/// Whether the coroutine of `state` may yield from the running function.
///
/// SAFETY: `state` is the running coroutine's own (a C function's
/// argument, or `Thread::state` of `Lua::current_thread` in a callback),
/// with two free stack slots on Lua 5.2 (checked).
pub(crate) unsafe fn yieldable(state: *mut ffi::lua_State) -> bool {
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    {
        ffi::lua_isyieldable(state) != 0
    }
    #[cfg(feature = "luajit")]
    {
        match LUAJIT_ISYIELDABLE.get().copied().flatten() {
            Some(f) => f(state) != 0,
            None => true,
        }
    }
    #[cfg(any(feature = "lua51", feature = "lua52"))]
    {
        stack_allows_yield(state)
    }
}

/// The frames above the running one (level 0, our own C function), as
/// the module docs say.
///
/// SAFETY: as [`yieldable`].
#[cfg(any(feature = "lua51", feature = "lua52"))]
unsafe fn stack_allows_yield(state: *mut ffi::lua_State) -> bool {
    use std::ffi::CStr;
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let mut level = 1;
    while ffi::lua_getstack(state, level, &mut ar) != 0 {
        if ffi::lua_getinfo(state, c"Sn".as_ptr(), &mut ar) == 0 {
            return true;
        }
        let is = |p: *const std::ffi::c_char, s: &CStr| !p.is_null() && CStr::from_ptr(p) == s;
        if is(ar.what, c"C") && !continues(state, &mut ar) {
            return false;
        }
        #[cfg(feature = "lua51")]
        if is(ar.name, c"(for generator)") {
            return false;
        }
        #[cfg(feature = "lua52")]
        if is(ar.namewhat, c"hook") {
            return false;
        }
        level += 1;
    }
    true
}

/// Whether the C function of the frame in `ar` can be yielded across.
///
/// SAFETY: `ar` was filled by `lua_getstack` on `state`.
#[cfg(feature = "lua51")]
unsafe fn continues(_: *mut ffi::lua_State, _: &mut ffi::lua_Debug) -> bool {
    false
}

/// Lua 5.2: the base library's functions with continuations, found by
/// their C address (the same in every state of the process).
#[cfg(feature = "lua52")]
static CONTINUING: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// SAFETY: as above; pushes one value and pops it.
#[cfg(feature = "lua52")]
unsafe fn continues(state: *mut ffi::lua_State, ar: &mut ffi::lua_Debug) -> bool {
    let Some(known) = CONTINUING.get() else {
        return false;
    };
    if ffi::lua_checkstack(state, 2) == 0 || ffi::lua_getinfo(state, c"f".as_ptr(), ar) == 0 {
        return false;
    }
    let f = ffi::lua_tocfunction(state, -1);
    ffi::lua_pop(state, 1);
    f.is_some_and(|f| known.contains(&(f as usize)))
}

/// Notes the C addresses of `pcall`, `xpcall` and `dofile` (Lua 5.2),
/// or finds `lua_isyieldable` (LuaJIT); a no-op elsewhere. Called when
/// the module loads, before any task runs.
pub(crate) fn init(lua: &mlua::Lua) -> mlua::Result<()> {
    #[cfg(feature = "luajit")]
    LUAJIT_ISYIELDABLE.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT only looks the name up among the
        // objects already loaded (the interpreter exports its C API); the
        // symbol, when found, is LuaJIT's function of that signature.
        unsafe {
            let f = libc::dlsym(libc::RTLD_DEFAULT, c"lua_isyieldable".as_ptr());
            (!f.is_null()).then(|| std::mem::transmute::<*mut std::ffi::c_void, IsYieldable>(f))
        }
    });
    // Once per process: each module's first load calls this.
    #[cfg(feature = "lua52")]
    if CONTINUING.get().is_none() {
        let g = lua.globals();
        let mut found = Vec::new();
        for name in ["pcall", "xpcall", "dofile"] {
            if let mlua::Value::Function(f) = g.raw_get::<mlua::Value>(name)? {
                // SAFETY: exec_raw hands over a stack holding `f` at 1.
                unsafe {
                    lua.exec_raw::<()>(f, |state| {
                        if let Some(c) = ffi::lua_tocfunction(state, 1) {
                            found.push(c as usize);
                        }
                    })?;
                }
            }
        }
        let _ = CONTINUING.set(found);
    }
    let _ = lua;
    Ok(())
}

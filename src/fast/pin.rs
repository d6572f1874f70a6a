//! Keeps `tls.so` mapped until the process exits.
//!
//! Lua unloads a C library (`dlclose`) when its loader's handle is
//! collected, which `lua_close` does in an order of its own: on Lua 5.1
//! and LuaJIT the handle goes before the finalizers of objects made before
//! `require "tls"`, and such a finalizer that calls the library would
//! jump into unmapped code. Rust code is not made to be unloaded either
//! (thread-local destructors, statics). So the library marks itself
//! `RTLD_NODELETE` once: `dlclose` then leaves it in place.

use std::ffi::c_void;
use std::sync::Once;

/// Marks the library that holds this function as never to be unloaded.
pub(crate) fn pin_library() {
    static PINNED: Once = Once::new();
    PINNED.call_once(|| {
        // SAFETY: `dladdr` fills `info` for an address inside a loaded
        // object (this function's own) and keeps no pointer to it; its
        // `dli_fname` stays valid while the object is loaded, which it is
        // for the whole call. `dlopen` with RTLD_NOLOAD only looks up the
        // object already loaded (no code of it runs again) and adds
        // RTLD_NODELETE to it; the handle is never closed, on purpose.
        unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            let here = pin_library as *const c_void;
            if libc::dladdr(here, &mut info) == 0 || info.dli_fname.is_null() {
                return;
            }
            let flags = libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE;
            let _handle = libc::dlopen(info.dli_fname, flags);
        }
    });
}

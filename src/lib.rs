//! Non-blocking TCP, TLS and DNS for Lua coroutines.
//!
//! One shared library (`tls.so`) provides the Lua modules `tls`, `tls.loop`,
//! `tls.tcp`, `tls.dns`, `tls.udp` and `tls.sha256`. See `docs/` for the Lua
//! reference.
#![warn(rust_2018_idioms, unreachable_pub)]
#![forbid(unused_must_use)]
// Raw Lua C API calls live in `fast` alone, which allows them.
#![deny(unsafe_code)]

mod api;
pub mod dns;
pub mod error;
mod fast;
// The fuzz targets' properties: for fuzz/ and tests/fuzz.rs, never in tls.so.
#[cfg(not(feature = "module"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod net;
mod runtime;
pub mod stream;

use mlua::{Lua, Table};

/// Builds a module table once per Lua state, so `require "tls".loop` and
/// `require "tls.loop"` are the same table.
fn cached(lua: &Lua, name: &str, build: fn(&Lua) -> mlua::Result<Table>) -> mlua::Result<Table> {
    let key = format!("tls.module.{name}");
    if let Some(t) = lua.named_registry_value::<Option<Table>>(&key)? {
        return Ok(t);
    }
    fast::pin::pin_library();
    fast::yieldable::init(lua)?;
    let t = build(lua)?;
    lua.set_named_registry_value(&key, &t)?;
    Ok(t)
}

/// `require "tls.loop"`.
pub fn open_loop(lua: &Lua) -> mlua::Result<Table> {
    cached(lua, "loop", api::loop_module::module)
}

/// `require "tls.tcp"`.
pub fn open_tcp(lua: &Lua) -> mlua::Result<Table> {
    cached(lua, "tcp", api::tcp_module::module)
}

/// `require "tls.dns"`.
pub fn open_dns(lua: &Lua) -> mlua::Result<Table> {
    cached(lua, "dns", api::dns_module::module)
}

/// `require "tls.udp"`.
pub fn open_udp(lua: &Lua) -> mlua::Result<Table> {
    cached(lua, "udp", api::udp_module::module)
}

/// `require "tls.sha256"`.
pub fn open_sha256(lua: &Lua) -> mlua::Result<Table> {
    cached(lua, "sha256", api::sha256_module::module)
}

/// `require "tls"`: TLS functions, with the other modules as fields.
pub fn open_tls(lua: &Lua) -> mlua::Result<Table> {
    cached(lua, "tls", |lua| {
        let t = api::tls_module::module(lua)?;
        t.set("loop", open_loop(lua)?)?;
        t.set("tcp", open_tcp(lua)?)?;
        t.set("dns", open_dns(lua)?)?;
        t.set("udp", open_udp(lua)?)?;
        t.set("sha256", open_sha256(lua)?)?;
        t.set("_VERSION", env!("CARGO_PKG_VERSION"))?;
        Ok(t)
    })
}

/// Registers the modules in `package.preload`, for hosts that link the
/// library instead of loading `tls.so` (and for Rust tests).
pub fn preload(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set("tls", lua.create_function(|lua, ()| open_tls(lua))?)?;
    preload.set("tls.loop", lua.create_function(|lua, ()| open_loop(lua))?)?;
    preload.set("tls.tcp", lua.create_function(|lua, ()| open_tcp(lua))?)?;
    preload.set("tls.dns", lua.create_function(|lua, ()| open_dns(lua))?)?;
    preload.set("tls.udp", lua.create_function(|lua, ()| open_udp(lua))?)?;
    preload.set(
        "tls.sha256",
        lua.create_function(|lua, ()| open_sha256(lua))?,
    )?;
    Ok(())
}

#[cfg(feature = "module")]
mod entry {
    use mlua::{Lua, Table};

    #[mlua::lua_module(name = "tls", skip_memory_check)]
    fn tls(lua: &Lua) -> mlua::Result<Table> {
        super::open_tls(lua)
    }

    #[mlua::lua_module(name = "tls_loop", skip_memory_check)]
    fn tls_loop(lua: &Lua) -> mlua::Result<Table> {
        super::open_loop(lua)
    }

    #[mlua::lua_module(name = "tls_tcp", skip_memory_check)]
    fn tls_tcp(lua: &Lua) -> mlua::Result<Table> {
        super::open_tcp(lua)
    }

    #[mlua::lua_module(name = "tls_dns", skip_memory_check)]
    fn tls_dns(lua: &Lua) -> mlua::Result<Table> {
        super::open_dns(lua)
    }

    #[mlua::lua_module(name = "tls_udp", skip_memory_check)]
    fn tls_udp(lua: &Lua) -> mlua::Result<Table> {
        super::open_udp(lua)
    }

    #[mlua::lua_module(name = "tls_sha256", skip_memory_check)]
    fn tls_sha256(lua: &Lua) -> mlua::Result<Table> {
        super::open_sha256(lua)
    }
}
pub mod tls;

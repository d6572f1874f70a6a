rockspec_format = "3.0"
package = "lua-tls"
version = "scm-1"
source = {
   url = "git+file://.",
}
description = {
   summary = "Non-blocking TCP, TLS (rustls) and DNS for Lua coroutines",
   detailed = [[
A native module written in Rust: an event loop that suspends each coroutine
while its socket is not ready, TLS through rustls with certificates and host
names verified by default, and a non-blocking DNS resolver. No OpenSSL.
]],
   license = "MIT",
}
-- Tested (scripts/test.sh) on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1.
dependencies = {
   "lua >= 5.1, < 5.5",
}
build = {
   -- cargo builds libtls.so; it is installed as tls.so so that
   -- require "tls", "tls.loop", "tls.tcp", "tls.dns" and "tls.udp" all find it.
   -- examples/fetch.lua becomes lua-tls-fetch-5.x for the Lua version of
   -- this install (LuaRocks turns it into a wrapper that runs that Lua
   -- with this tree's modules), so installs for several Lua versions in
   -- one tree live side by side; lua-tls-fetch runs the newest of them.
   type = "command",
   -- LuaRocks exports CC for its own C builds; cargo's (aws-lc) pick their
   -- compiler themselves, and an unchanged environment lets cargo reuse
   -- an existing target/ build instead of rebuilding aws-lc.
   build_command = [[
      v=$("$(LUA)" -e 'io.write(jit and "jit" or (_VERSION:sub(5):gsub("%.", "")))') &&
      case "$v" in jit) feature=luajit ;; *) feature="lua$v" ;; esac &&
      env -u CC cargo build --release --no-default-features --features "module,$feature"
   ]],
   install_command = [[
      v=$("$(LUA)" -e 'io.write((_VERSION:sub(5)))') &&
      mkdir -p "$(LIBDIR)" "$(LUADIR)/tls" "$(BINDIR)" &&
      cp target/release/libtls.so "$(LIBDIR)/tls.so" &&
      cp lua/tls/*.lua "$(LUADIR)/tls/" &&
      cp examples/fetch.lua "$(BINDIR)/lua-tls-fetch-$v" &&
      cp rockspec/lua-tls-fetch "$(BINDIR)/lua-tls-fetch"
   ]],
}

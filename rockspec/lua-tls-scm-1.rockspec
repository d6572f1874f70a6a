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
dependencies = {
   "lua >= 5.1",
}
build = {
   -- cargo builds libtls.so; it is installed as tls.so so that
   -- require "tls", "tls.loop", "tls.tcp", "tls.dns" and "tls.udp" all find it.
   type = "command",
   build_command = [[
      v=$("$(LUA)" -e 'io.write(jit and "jit" or (_VERSION:sub(5):gsub("%.", "")))') &&
      case "$v" in jit) feature=luajit ;; *) feature="lua$v" ;; esac &&
      cargo build --release --no-default-features --features "module,$feature"
   ]],
   install_command = [[
      mkdir -p "$(LIBDIR)" "$(LUADIR)/tls" "$(BINDIR)" &&
      cp target/release/libtls.so "$(LIBDIR)/tls.so" &&
      cp lua/tls/*.lua "$(LUADIR)/tls/" &&
      cp examples/fetch.lua "$(BINDIR)/lua-tls-fetch"
   ]],
}

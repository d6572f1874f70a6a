#!/bin/sh
# Builds tls.so (release) for one or more Lua versions and puts each where
# the specs, examples and benchmarks look for it:
#   sh scripts/build.sh                  Lua 5.4 -> target/lua/tls.so
#   sh scripts/build.sh lua51 luajit     -> target/lua51/tls.so, target/luajit/tls.so
# Versions: lua54 lua53 lua52 lua51 luajit. All share one target directory,
# so aws-lc and the other dependencies that do not depend on the Lua
# version are built once. Each .so is copied out (not linked) because the
# next build overwrites target/release/libtls.so; the copy replaces the old
# file rather than writing into it, so a running interpreter is not hurt.
set -e
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- lua54
for v in "$@"; do
  case "$v" in
    lua54) dir=target/lua; features="module,lua54" ;;
    lua53|lua52|lua51|luajit) dir=target/$v; features="module,$v" ;;
    *) echo "build.sh: unknown Lua version '$v' (lua54 lua53 lua52 lua51 luajit)" >&2; exit 2 ;;
  esac
  cargo build --release --quiet --no-default-features --features "$features"
  mkdir -p "$dir"
  cp target/release/libtls.so "$dir/tls.so.tmp"
  mv -f "$dir/tls.so.tmp" "$dir/tls.so"
done

#!/bin/sh
# Builds tls.so (release, Lua 5.4 module) and links it where the specs,
# examples and benchmarks look for it: target/lua/tls.so.
set -e
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p target/lua
ln -sf ../release/libtls.so target/lua/tls.so

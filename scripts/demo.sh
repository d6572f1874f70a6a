#!/bin/sh
# The main job in one command: install what is missing, build tls.so, run
# the fetch demo (local HTTPS and HTTP servers in one process, 23 fetches
# over IPv4 and IPv6, each body checked by SHA-256). Needs no internet
# once the Debian packages and crates are present.
#
#   sh scripts/demo.sh              the self-contained demo
#   sh scripts/demo.sh URL...       fetch.lua with your own arguments
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
LUA_CPATH='target/lua/?.so;;' LUA_PATH='lua/?.lua;lua/?/init.lua;;' \
    exec lua5.4 examples/fetch.lua "$@"

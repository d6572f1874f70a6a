#!/bin/sh
# Idle memory per TLS connection, client and server side, both our library,
# in two processes (bench/tls_idle.lua), for each N given (default 1000 5000
# 9500: the open files limit here is 20,000 for both processes together).
#
#   bench/tls_idle.sh                  # N = 1000 5000 9500
#   ROUNDS=3 bench/tls_idle.sh 1000 9500
#   TLS_SO_DIR=/path/to/dir bench/tls_idle.sh   # another build's tls.so
#
# Prints one client and one server line per N and round.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-2}
target=${CARGO_TARGET_DIR:-$root/target}
CERTS=${CERTS:-$target/bench-certs}
[ $# -gt 0 ] || set -- 1000 5000 9500
ulimit -n "$(ulimit -Hn)" 2>/dev/null
sh "$root/scripts/gen-certs.sh" "$CERTS" >/dev/null || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-idle.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
so_dir=${TLS_SO_DIR:-$root/target/lua}   # dir with tls.so
export LUA_CPATH="$so_dir/?.so;;"
for n in "$@"; do
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    rm -f "$tmp/port"
    $LUA "$here/tls_idle.lua" server "$n" "$CERTS/server.pem" "$CERTS/server.key" "$tmp/port" &
    spid=$!
    while [ ! -s "$tmp/port" ]; do kill -0 "$spid" 2>/dev/null || exit 1; sleep 0.1; done
    $LUA "$here/tls_idle.lua" client "$n" "$(cat "$tmp/port")" "$CERTS/ca.pem"
    wait "$spid"
    r=$((r + 1))
  done
done

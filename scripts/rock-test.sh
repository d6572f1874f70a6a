#!/bin/sh
# The rockspec, end to end: `luarocks --lua-version=V make` into a fresh
# tree for each version given (default 5.1 and 5.4), then each installed
# lua-tls-fetch-V, and lua-tls-fetch itself, fetch over http and https
# from the specs' fixture server on 127.0.0.1. Prints TAP-style ok/not ok
# lines and ends with "rockspec: N passed, N failed".
# Needs the Lua 5.4 module built (sh scripts/build.sh) for the server.
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 5.1 5.4
root=$(pwd)
tree=$(mktemp -d)
out=$(mktemp -d)
pass=0
fail=0
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$tree" "$out"
}
trap cleanup EXIT
check() { # check NAME COMMAND...: one ok/not ok line
  name=$1; shift
  if "$@" > "$out/check.log" 2>&1; then
    pass=$((pass + 1)); echo "ok - $name"
  else
    fail=$((fail + 1)); echo "not ok - $name"; sed 's/^/# /' "$out/check.log" | tail -20
  fi
}

sh scripts/gen-certs.sh spec/certs > /dev/null || exit 1
LUA_CPATH='target/lua/?.so;;' LUA_PATH='lua/?.lua;;' \
  lua5.4 spec/fixtures/http_server.lua "$out/ports" spec/certs > "$out/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do [ -s "$out/ports" ] && break; sleep 0.1; done
read -r http https expired < "$out/ports" || { echo "not ok - fixture server: $(cat "$out/server.log")"; exit 1; }

body_ok() { # body_ok DIR: both fetched bodies are the fixture's
  for n in 1 2; do
    [ "$(wc -c < "$1/body/$n")" -eq 16000 ] || return 1
  done
}
fetch() { # fetch COMMAND DIR: one http and one https URL
  "$1" -t 10 --cafile "$root/spec/certs/ca.pem" -o "$2" \
    "http://127.0.0.1:$http/hello" "https://localhost:$https/chunked" && body_ok "$2"
}

for v in "$@"; do
  # cargo's output is kept; on failure its tail shows.
  check "luarocks --lua-version=$v make installs into a fresh tree" \
    luarocks --lua-version="$v" --tree "$tree" make rockspec/lua-tls-scm-1.rockspec
  check "lua-tls-fetch-$v fetches over http and https" fetch "$tree/bin/lua-tls-fetch-$v" "$out/fetch-$v"
  check "lua-tls-fetch with LUA_TLS_FETCH_VERSION=$v runs the $v install" \
    env LUA_TLS_FETCH_VERSION="$v" sh -c "
      \"$tree/bin/lua-tls-fetch\" -t 10 --cafile \"$root/spec/certs/ca.pem\" -o \"$out/pick-$v\" \
        http://127.0.0.1:$http/hello https://localhost:$https/chunked &&
      grep -q '$tree/lib/luarocks/rocks-$v/' \"$tree/bin/lua-tls-fetch-$v\""
done
check "every install is still in place: lua-tls-fetch-V for each version" \
  sh -c "for v in $*; do test -x \"$tree/bin/lua-tls-fetch-\$v\" || exit 1; done"
check "lua-tls-fetch runs the newest installed version" fetch "$tree/bin/lua-tls-fetch" "$out/newest"

echo "rockspec: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# The demo's summary line (examples/fetch.lua, no arguments), N times:
#   sh bench/demo.sh [N [OTHER]]
# With OTHER (another checkout of this repository, with its own
# target/lua/tls.so built), the two alternate within each round, this one
# first, so that both see the same machine; each line is prefixed with the
# checkout it came from. Ends with the best MiB/s of each. Lua 5.4, the
# module of each checkout (sh scripts/build.sh there first).
set -eu
cd "$(dirname "$0")/.."
n=${1:-5}
other=${2:-}
here=$(pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { # run DIR LABEL
  line=$(cd "$1" && LUA_CPATH='target/lua/?.so;;' LUA_PATH='lua/?.lua;lua/?/init.lua;;' \
    lua5.4 examples/fetch.lua | grep ' MiB/s)$' | tail -1)
  echo "$2: $line" | tee -a "$out"
}
i=0
while [ "$i" -lt "$n" ]; do
  run "$here" this
  [ -z "$other" ] || run "$other" other
  i=$((i + 1))
done
for label in this other; do
  best=$(sed -n "s/^$label: .*(\([0-9.]*\) MiB\/s)$/\1/p" "$out" | sort -n | tail -1)
  [ -z "$best" ] || echo "best $label: $best MiB/s"
done

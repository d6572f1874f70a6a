#!/bin/sh
# Runs our benchmarks next to their cqueues counterparts and prints the
# figures and the ratio ours/cqueues (above 1: we are faster).
#
#   bench/run.sh                       # uses target/release/libtls.so
#   TLS_SO_DIR=/path/to/dir bench/run.sh
#   REPEAT=3 bench/run.sh              # best of three runs of each
#   LUA=lua5.4 CONNS=1000 TRIPS=100 LINES=1000000 LOOKUPS=10000 bench/run.sh
#   ONLY=dns bench/run.sh              # one benchmark: tcp_roundtrip, lines or dns
#   TLS=1 bench/run.sh                 # then bench/tls.sh (TLS against nginx)
#
# Each benchmark prints one line "<impl> <metric>=<value> key=value...";
# this script only reads <metric>. Exit status 1 if any run failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LUA=${LUA:-lua5.4}
REPEAT=${REPEAT:-1}
CONNS=${CONNS:-1000}
TRIPS=${TRIPS:-100}
LINES=${LINES:-1000000}
LOOKUPS=${LOOKUPS:-10000}
ONLY=${ONLY:-}

# wants <name>: whether this run includes benchmark <name>
wants() {
  [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]
}

so_dir=${TLS_SO_DIR:-target/release}
case $so_dir in
  /*) ;;
  *) so_dir=$root/$so_dir ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ -f "$so_dir/libtls.so" ]; then
  ln -s "$so_dir/libtls.so" "$tmp/tls.so"
else
  echo "warning: $so_dir/libtls.so not found (build with: cargo build --release);" \
       "our benchmarks will fail" >&2
fi

# Our module first; ";;" keeps the default paths so cqueues still loads.
# The _5_4 variables win over the plain ones in Lua 5.4, so set both.
LUA_CPATH="$tmp/?.so;;"
LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
LUA_CPATH_5_4=$LUA_CPATH
LUA_PATH_5_4=$LUA_PATH
export LUA_CPATH LUA_PATH LUA_CPATH_5_4 LUA_PATH_5_4

# run1() is called in $(...), a subshell: failures are recorded in a file.
fail() {
  : >"$tmp/failed"
}

# run1 <metric> <script> [args...]: runs once, prints the metric or "-"
run1() {
  metric=$1
  shift
  if ! out=$(cd "$root" && "$LUA" "$@" 2>"$tmp/stderr"); then
    echo "FAILED: $LUA $*" >&2
    sed 's/^/  | /' "$tmp/stderr" >&2
    fail
    echo -
    return
  fi
  echo "  $out" >&2
  v=$(printf '%s\n' "$out" | sed -n "s/.*[[:space:]]$metric=\([0-9.][0-9.]*\).*/\1/p" | head -n 1)
  if [ -z "$v" ]; then
    echo "FAILED: no $metric= in output of $*" >&2
    fail
    echo -
    return
  fi
  echo "$v"
}

# best <a> <b>: the larger figure, "-" meaning none
best() {
  if [ "$1" = - ]; then
    echo "$2"
  elif [ "$2" = - ] || awk "BEGIN { exit !($1 >= $2) }"; then
    echo "$1"
  else
    echo "$2"
  fi
}

ratio() {
  if [ "$1" = - ] || [ "$2" = - ]; then
    echo -
  else
    awk "BEGIN { printf \"%.2f\", $1 / $2 }"
  fi
}

echo "lua: $($LUA -v 2>&1); cpus: $(nproc 2>/dev/null || echo ?);" \
     "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)" >&2
echo "tls.so: $so_dir/libtls.so; repeat: $REPEAT" >&2

# The implementations take turns within each round, so that a machine
# that gets busier or quieter during the run treats both alike.
# The pure-Rust limit of the round-trip workload (bench/mio-roundtrip).
rt_rust=-
rust_rt_bin=
if wants tcp_roundtrip; then
  echo "building bench/mio-roundtrip (release) ..." >&2
  if (cd "$here/mio-roundtrip" && CARGO_TARGET_DIR=$root/target/bench cargo build --release --quiet); then
    rust_rt_bin=$root/target/bench/release/mio-roundtrip
  else
    echo "FAILED: cargo build of bench/mio-roundtrip" >&2
    fail
  fi
fi
rt_cq=- rt_ours=- ln_cq_filled=- ln_cq_streamed=- ln_ours_filled=- ln_ours_streamed=- dns_cq=- dns_ours=-
round=0
while [ "$round" -lt "$REPEAT" ]; do
  round=$((round + 1))
  if wants tcp_roundtrip; then
    echo "round $round: tcp_roundtrip ($CONNS connections x $TRIPS round trips)" >&2
    rt_cq=$(best "$rt_cq" "$(run1 roundtrips_per_sec bench/cqueues/tcp_roundtrip.lua "$CONNS" "$TRIPS")")
    rt_ours=$(best "$rt_ours" "$(run1 roundtrips_per_sec bench/tcp_roundtrip.lua "$CONNS" "$TRIPS")")
    if [ -n "$rust_rt_bin" ]; then
      out=$("$rust_rt_bin" "$CONNS" "$TRIPS") || { echo "FAILED: mio-roundtrip" >&2; fail; }
      echo "  $out" >&2
      v=$(printf '%s\n' "$out" | sed -n 's/.*roundtrips_per_sec=\([0-9.][0-9.]*\).*/\1/p')
      [ -n "$v" ] && rt_rust=$(best "$rt_rust" "$v")
    fi
  fi
  if wants lines; then
    echo "round $round: lines ($LINES lines)" >&2
    ln_cq_filled=$(best "$ln_cq_filled" "$(run1 lines_per_sec bench/cqueues/lines.lua "$LINES" filled)")
    ln_cq_streamed=$(best "$ln_cq_streamed" "$(run1 lines_per_sec bench/cqueues/lines.lua "$LINES" streamed)")
    ln_ours_filled=$(best "$ln_ours_filled" "$(run1 lines_per_sec bench/lines.lua "$LINES" filled)")
    ln_ours_streamed=$(best "$ln_ours_streamed" "$(run1 lines_per_sec bench/lines.lua "$LINES" streamed)")
  fi
  if wants dns; then
    echo "round $round: dns ($LOOKUPS concurrent lookups of distinct names, local dnsmasq)" >&2
    dns_cq=$(best "$dns_cq" "$(run1 lookups_per_sec bench/cqueues/dns.lua "$LOOKUPS")")
    dns_ours=$(best "$dns_ours" "$(run1 lookups_per_sec bench/dns.lua "$LOOKUPS")")
  fi
done

printf '\n%-28s %14s %14s %13s\n' benchmark cqueues ours ours/cqueues
if wants tcp_roundtrip; then
  printf '%-28s %14s %14s %13s\n' "tcp_roundtrip (trips/s)" "$rt_cq" "$rt_ours" "$(ratio "$rt_ours" "$rt_cq")"
  printf '%-28s %14s %14s %13s\n' "  pure-Rust mio limit" "" "$rt_rust" "ours/rust $(ratio "$rt_ours" "$rt_rust")"
fi
if wants lines; then
  printf '%-28s %14s %14s %13s\n' "lines, filled (lines/s)" "$ln_cq_filled" "$ln_ours_filled" "$(ratio "$ln_ours_filled" "$ln_cq_filled")"
  printf '%-28s %14s %14s %13s\n' "lines, streamed (lines/s)" "$ln_cq_streamed" "$ln_ours_streamed" "$(ratio "$ln_ours_streamed" "$ln_cq_streamed")"
fi
if wants dns; then
  printf '%-28s %14s %14s %13s\n' "dns (lookups/s)" "$dns_cq" "$dns_ours" "$(ratio "$dns_ours" "$dns_cq")"
fi

status=0
[ ! -e "$tmp/failed" ] || status=1

# TLS=1: then the TLS benchmarks too (bench/tls.sh: an nginx TLS 1.3
# server and four clients, 2-3 minutes; ROUNDS defaults to REPEAT).
if [ "${TLS:-0}" = 1 ]; then
  echo >&2
  TLS_SO_DIR=$so_dir ROUNDS=${ROUNDS:-$REPEAT} sh "$here/tls.sh" || status=1
fi
exit $status

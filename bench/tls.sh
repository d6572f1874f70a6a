#!/bin/sh
# The TLS benchmarks: our library, cqueues+luaossl, LuaSec and a pure
# rustls+mio client (the limit for our stack) side by side against one
# nginx TLS 1.3 server on 127.0.0.1, in rounds where the peers take
# turns (the order reverses every round). Prints the best figure of the
# rounds for each peer and the ratios against cqueues and rust.
#
#   bench/tls.sh                         # builds the rustls client, not tls.so
#   ROUNDS=7 MEM_ROUNDS=3 bench/tls.sh
#   PEERS="ours rust" HS_N=1000 MEM_N=2000 bench/tls.sh
#   TLS_SO_DIR=/path/to/dir bench/tls.sh # dir with libtls.so (default target/release)
#   LOG=/tmp/tls-bench.log bench/tls.sh  # also keep every raw line there
#
# Workloads (bench/tls_ours.lua describes them; each peer is one script or
# binary, run as a fresh process per workload and round):
#   bulk     GET of a SIZE (200 MB) file over one connection: MB/s, and the
#            client's CPU seconds (user + system) per GB, both counted from
#            the end of the handshake to the end of the body
#   full     HS_N (2000) short requests (connect, full handshake, GET /hello,
#            read to close_notify, close), 50 at a time, resumption off
#   resumed  the same with session resumption (one shared client config)
#   memory   MEM_N (10000) idle TLS connections: the client's VmRSS growth
#            per connection (measured in the first MEM_ROUNDS rounds, default 2)
#
# nginx: bench/nginx/nginx.sh (TLS 1.3 only, one worker, tickets on,
# certificates from scripts/gen-certs.sh in $CERTS, default
# target/bench-certs). Exit status 1 if any run failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-5}
MEM_ROUNDS=${MEM_ROUNDS:-2}
HS_N=${HS_N:-2000}
MEM_N=${MEM_N:-10000}
SIZE=${SIZE:-200000000}
PEERS=${PEERS:-ours cqueues luasec rust}
target=${CARGO_TARGET_DIR:-$root/target}
CERTS=${CERTS:-$target/bench-certs}
LOG=${LOG:-}

so_dir=${TLS_SO_DIR:-$target/release}
case $so_dir in
  /*) ;;
  *) so_dir=$root/$so_dir ;;
esac

# 10,000 client connections need 10,000 descriptors (nginx sets its own
# limit). Raising the hard limit needs privileges the sandbox may lack.
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((MEM_N + 100)) ]; then
  echo "warning: open files limit $(ulimit -n) is below MEM_N=$MEM_N" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-bench.XXXXXX") || exit 1
cleanup() {
  sh "$here/nginx/nginx.sh" stop "$tmp/nginx" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -f "$so_dir/libtls.so" ]; then
  ln -s "$so_dir/libtls.so" "$tmp/tls.so"
else
  echo "warning: $so_dir/libtls.so not found (build with: sh scripts/build.sh);" \
       "our figures will be missing" >&2
fi
LUA_CPATH="$tmp/?.so;;"
LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
LUA_CPATH_5_4=$LUA_CPATH
LUA_PATH_5_4=$LUA_PATH
export LUA_CPATH LUA_PATH LUA_CPATH_5_4 LUA_PATH_5_4

case " $PEERS " in
  *" rust "*)
    echo "building bench/rustls-client (release) ..." >&2
    if ! (cd "$here/rustls-client" && CARGO_TARGET_DIR=$target cargo build --release --quiet); then
      echo "FAILED: cargo build of bench/rustls-client" >&2
      exit 1
    fi
    ;;
esac
rust_bin=$target/release/rustls-client

sh "$root/scripts/gen-certs.sh" "$CERTS" >/dev/null || exit 1
cafile=$CERTS/ca.pem
echo "starting nginx (writing the $SIZE-byte file) ..." >&2
port=$(sh "$here/nginx/nginx.sh" start "$tmp/nginx" "$CERTS" "$SIZE") || exit 1

fail() {
  : >"$tmp/failed"
}

# CPU time (user + system, in clock ticks) of nginx's worker so far.
worker=$(pgrep -P "$(cat "$tmp/nginx/nginx.pid")" | head -n 1)
hz=$(getconf CLK_TCK)
nginx_ticks() {
  awk '{ print $14 + $15 }' "/proc/$worker/stat" 2>/dev/null || echo 0
}

log() {
  if [ -n "$LOG" ]; then
    printf '%s\n' "$*" >>"$LOG"
  fi
}

# run1 <peer> <workload> <metric> [n]: runs once, prints the metric's value
# ("n/a" when the peer cannot do it) or "-" on failure.
run1() {
  peer=$1 work=$2 metric=$3
  shift 3
  case $peer in
    rust) set -- "$rust_bin" "$work" "$port" "$cafile" "$@" ;;
    *) set -- "$LUA" "bench/tls_$peer.lua" "$work" "$port" "$cafile" "$@" ;;
  esac
  : >"$tmp/out"
  t0=$(nginx_ticks)
  if ! out=$(cd "$root" && "$@" 2>"$tmp/stderr"); then
    echo "FAILED: $*" >&2
    sed -n '1,15s/^/  | /p' "$tmp/stderr" >&2
    log "FAILED: $*"
    sed -n '1,15s/^/  | /p' "$tmp/stderr" | while IFS= read -r l; do log "$l"; done
    fail
    echo -
    return
  fi
  # nginx's worker CPU during the run: when it nears the run's seconds,
  # the server, not the client, set the pace.
  out="$out nginx_cpu_s=$(awk "BEGIN { printf \"%.2f\", ($(nginx_ticks) - $t0) / $hz }")"
  echo "  $out" >&2
  log "$out"
  printf '%s\n' "$out" >"$tmp/out"
  v=$(field "$metric")
  if [ "$v" = - ]; then
    echo "FAILED: no $metric= in output of $*" >&2
    fail
    echo -
    return
  fi
  echo "$v"
}

# field <name>: the value of name= in the last run's output line.
field() {
  v=$(sed -n "s/.*[[:space:]]$1=\([0-9.][0-9.]*\|n\/a\).*/\1/p" "$tmp/out" | head -n 1)
  echo "${v:--}"
}

# better <max|min> <a> <b>: the better of two figures; "-" is none,
# "n/a" stays "n/a".
better() {
  if [ "$2" = - ] || [ "$2" = n/a ]; then
    echo "$3"
  elif [ "$3" = - ] || [ "$3" = n/a ]; then
    echo "$2"
  elif [ "$1" = max ] && awk "BEGIN { exit !($2 >= $3) }"; then
    echo "$2"
  elif [ "$1" = min ] && awk "BEGIN { exit !($2 <= $3) }"; then
    echo "$2"
  else
    echo "$3"
  fi
}

ratio() {
  case "$1$2" in
    *-* | *n/a*) echo - ;;
    *) awk "BEGIN { printf \"%.2f\", $1 / $2 }" ;;
  esac
}

# Results live in variables named <metric>_<peer>.
get() {
  eval "echo \${$1_$2:--}"
}
put() {
  eval "$1_$2=\$3"
}

echo "lua: $($LUA -v 2>&1); cpus: $(nproc 2>/dev/null || echo ?);" \
     "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1);" \
     "kernel: $(uname -r)" >&2
echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //') on 127.0.0.1:$port; tls.so: $so_dir/libtls.so;" \
     "rounds: $ROUNDS (memory: $MEM_ROUNDS); peers: $PEERS; load: $(cut -d' ' -f1-3 /proc/loadavg)" \
     "${GLIBC_TUNABLES:+; GLIBC_TUNABLES=$GLIBC_TUNABLES}" >&2
log "# $(date -u +%Y-%m-%dT%H:%M:%SZ) rounds=$ROUNDS mem_rounds=$MEM_ROUNDS hs_n=$HS_N mem_n=$MEM_N size=$SIZE peers=$PEERS"

forward=$PEERS
backward=
for p in $PEERS; do
  backward="$p $backward"
done

round=0
while [ "$round" -lt "$ROUNDS" ]; do
  round=$((round + 1))
  if [ $((round % 2)) = 1 ]; then order=$forward; else order=$backward; fi
  echo "round $round (order: $order; load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  for p in $order; do
    put mbs "$p" "$(better max "$(get mbs "$p")" "$(run1 "$p" bulk bulk_mb_s "$SIZE")")"
    put cpu "$p" "$(better min "$(get cpu "$p")" "$(field cpu_s_per_gb)")"
  done
  for p in $order; do
    put full "$p" "$(better max "$(get full "$p")" "$(run1 "$p" full full_hs_s "$HS_N")")"
    put fullcpu "$p" "$(better min "$(get fullcpu "$p")" "$(field cpu_ms)")"
  done
  for p in $order; do
    put res "$p" "$(better max "$(get res "$p")" "$(run1 "$p" resumed resumed_hs_s "$HS_N")")"
    put rescpu "$p" "$(better min "$(get rescpu "$p")" "$(field cpu_ms)")"
  done
  if [ "$round" -le "$MEM_ROUNDS" ]; then
    for p in $order; do
      put mem "$p" "$(better min "$(get mem "$p")" "$(run1 "$p" memory mem_kib_per_conn "$MEM_N")")"
    done
  fi
done

# The table: best of the rounds. "ours/x" above 1 is better for rates
# (MB/s, handshakes/s) and worse for costs (CPU s/GB, CPU ms, KiB).
row() {
  name=$1 metric=$2
  o=$(get "$metric" ours) c=$(get "$metric" cqueues) l=$(get "$metric" luasec) r=$(get "$metric" rust)
  printf '%-30s %9s %9s %9s %9s %12s %10s\n' "$name" "$o" "$c" "$l" "$r" \
    "$(ratio "$o" "$c")" "$(ratio "$o" "$r")"
}

# verdict <label> <value> <op> <goal>
verdict() {
  if [ "$2" = - ]; then
    printf '  %-52s %s\n' "$1" "no figure"
  elif awk "BEGIN { exit !($2 $3 $4) }"; then
    printf '  %-52s %s (%s %s)\n' "$1" "met: $2" "$3" "$4"
  else
    printf '  %-52s %s (%s %s)\n' "$1" "MISSED: $2" "$3" "$4"
  fi
}

echo
printf '%-30s %9s %9s %9s %9s %12s %10s\n' "best of $ROUNDS rounds" ours cqueues luasec rust ours/cqueues ours/rust
row "bulk MB/s" mbs
row "bulk client CPU s/GB" cpu
row "full handshakes/s (50 tasks)" full
row "  client CPU ms per handshake" fullcpu
row "resumed handshakes/s (50)" res
row "  client CPU ms per handshake" rescpu
row "idle KiB per TLS connection" mem
echo "(luasec: handshakes one at a time, no host name check; n/a: no session resumption)"
echo
echo "targets:"
verdict "bulk MB/s vs cqueues >= 1.2x" "$(ratio "$(get mbs ours)" "$(get mbs cqueues)")" ">=" 1.2
verdict "bulk CPU/GB vs rust within 10% (ours/rust <= 1.1)" "$(ratio "$(get cpu ours)" "$(get cpu rust)")" "<=" 1.1
verdict "full handshakes/s vs cqueues >= 1.5x" "$(ratio "$(get full ours)" "$(get full cqueues)")" ">=" 1.5
verdict "resumed vs our own full handshakes >= 2x" "$(ratio "$(get res ours)" "$(get full ours)")" ">=" 2
verdict "idle KiB per connection <= 32" "$(get mem ours)" "<=" 32

[ ! -e "$tmp/failed" ]

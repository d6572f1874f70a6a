#!/bin/sh
# Servers under a real load generator: wrk against three keep-alive
# HTTP/1.1 "hello" servers on 127.0.0.1, side by side:
#   ours     bench/http_ours.lua (tcp.listen / tls.listen, a Lua handler)
#   cqueues  bench/cqueues/http_server.lua (cqueues + luaossl)
#   nginx    bench/nginx/lua_hello.sh (one worker, content_by_lua_block)
# Plain HTTP and HTTPS (TLS 1.3, scripts/gen-certs.sh's localhost
# certificate for all three), each with keep-alive and with a new
# connection per request (wrk -H "Connection: close"). HTTPS has a third
# workload, "rclose": a new TLS connection per request again, the client
# bench/rustls-client's `close` load generator instead of wrk. wrk (one
# thread, OpenSSL, verifying the server's handshake signature) costs more
# per TLS connection than our server does, so under wrk the rate is wrk's;
# the generator checks nothing and offers X25519 alone, and costs less.
# HTTPS has a fourth, "rkeep": keep-alive again, the same generator's
# `keep` mode instead of wrk. Under wrk our HTTPS keep-alive server is
# not the limit: wrk used all of its core while our server used 82% of
# its own, so that row shows wrk's rate; the generator costs less per
# request, and the server is then the one using its whole core.
#
#   sh bench/servers.sh                       # ROUNDS=3 DURATION=5: about 4 minutes
#   ROUNDS=5 DURATION=10 sh bench/servers.sh
#   SERVERS="ours nginx" MODES=https WORKLOADS=keepalive sh bench/servers.sh
#   PIN= sh bench/servers.sh                  # no CPU pinning
#   TLS_SO_DIR=/path/to/dir sh bench/servers.sh   # dir with tls.so (default target/lua)
#
# Each round runs every (mode, workload) against every server, the
# servers' order reversing every round; the best requests/s of the rounds
# is kept. All servers run for the whole benchmark (started once per
# mode), so they are warm; only the one under wrk has work. CPU placement
# (PIN, default "0 1"): servers on the first CPU, wrk (one thread) on the
# second, with taskset, so the two do not fight over one core. Besides
# requests/s the table shows the server's CPU seconds (user + system, from
# /proc) per 100,000 requests, which the machine's noise moves less.
# Exit status 1 if any wrk run failed or saw errors.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
SERVERS=${SERVERS:-ours cqueues nginx}
MODES=${MODES:-http https}
WORKLOADS=${WORKLOADS:-keepalive close rclose rkeep}
PIN=${PIN-0 1}
target=${CARGO_TARGET_DIR:-$root/target}
CERTS=${CERTS:-$target/bench-certs}
so_dir=${TLS_SO_DIR:-$target/lua}
case $so_dir in /*) ;; *) so_dir=$root/$so_dir ;; esac

for c in wrk nginx "$LUA"; do
  command -v "$c" >/dev/null 2>&1 || { echo "$0: $c not found (sh scripts/deps.sh)" >&2; exit 1; }
done
[ -f "$so_dir/tls.so" ] || { echo "$0: $so_dir/tls.so missing (sh scripts/build.sh)" >&2; exit 1; }

srv_cpu= wrk_cpu=
if [ -n "$PIN" ] && command -v taskset >/dev/null 2>&1; then
  set -- $PIN
  srv_cpu="taskset -c $1" wrk_cpu="taskset -c $2"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/servers-bench.XXXXXX") || exit 1
pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  sh "$here/nginx/lua_hello.sh" stop "$tmp/nginx" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LUA_CPATH="$so_dir/?.so;;"
LUA_PATH="$root/lua/?.lua;;"
LUA_CPATH_5_4=$LUA_CPATH LUA_PATH_5_4=$LUA_PATH
export LUA_CPATH LUA_PATH LUA_CPATH_5_4 LUA_PATH_5_4

sh "$root/scripts/gen-certs.sh" "$CERTS" >/dev/null || exit 1
hz=$(getconf CLK_TCK)

rust_bin=$target/release/rustls-client
case " $MODES " in *" https "*)
  case " $WORKLOADS " in *" rclose "* | *" rkeep "*)
    echo "building bench/rustls-client (release) ..." >&2
    (cd "$here/rustls-client" && CARGO_TARGET_DIR=$target cargo build --release --quiet) ||
      { echo "$0: cargo build of bench/rustls-client failed" >&2; exit 1; }
  esac
esac

# start_lua <name> <script> <mode>: starts a Lua server, sets port_<name>, pid_<name>.
start_lua() {
  (cd "$root" && exec $srv_cpu "$LUA" "$2" "$3" "$CERTS" >"$tmp/$1.out" 2>"$tmp/$1.err") &
  p=$!
  pids="$pids $p"
  i=0
  while ! grep -q '^port=' "$tmp/$1.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge 100 ] || ! kill -0 "$p" 2>/dev/null; then
      echo "$0: $1 server did not start:" >&2
      cat "$tmp/$1.err" >&2
      exit 1
    fi
    sleep 0.05
  done
  eval "port_$1=\$(sed -n 's/^port=//p' \"\$tmp/\$1.out\")"
  eval "pid_$1=$p"
}

ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# bench1 <server> <mode> <workload>: one run of the client (wrk; for
# rclose and rkeep the Rust load generator); prints "rps cpu_per_100k" or "- -".
bench1() {
  eval "port=\$port_$1 pid=\$pid_$1"
  t0=$(ticks "$pid")
  case $3 in
    rclose)
      client=rustls-client
      $wrk_cpu "$rust_bin" close "$port" - "$DURATION" >"$tmp/out" 2>&1
      rps=$(sed -n 's/.*close_rps=\([0-9.]*\).*/\1/p' "$tmp/out")
      total=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' "$tmp/out")
      ;;
    rkeep)
      client=rustls-client
      $wrk_cpu "$rust_bin" keep "$port" - "$DURATION" >"$tmp/out" 2>&1
      rps=$(sed -n 's/.*keep_rps=\([0-9.]*\).*/\1/p' "$tmp/out")
      total=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' "$tmp/out")
      ;;
    *)
      client=wrk
      if [ "$3" = close ]; then
        $wrk_cpu wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Connection: close" "$2://127.0.0.1:$port/" >"$tmp/out" 2>&1
      else
        $wrk_cpu wrk -t1 -c"$CONNS" -d"${DURATION}s" "$2://127.0.0.1:$port/" >"$tmp/out" 2>&1
      fi
      rps=$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$tmp/out")
      total=$(sed -n 's/^[[:space:]]*\([0-9][0-9]*\) requests in.*/\1/p' "$tmp/out")
      ;;
  esac
  t1=$(ticks "$pid")
  if [ -z "$rps" ] || grep -q -e 'Socket errors' -e 'Non-2xx' "$tmp/out"; then
    echo "  $1 $2 $3: $client reported errors:" >&2
    sed 's/^/  | /' "$tmp/out" >&2
    : >"$tmp/failed"
  fi
  if [ -z "$rps" ]; then echo "- -"; return; fi
  cpu=$(awk "BEGIN { if ($total > 0) printf \"%.2f\", ($t1 - $t0) / $hz * 100000 / $total; else print \"-\" }")
  echo "$rps $cpu"
}

better() {
  if [ "$1" = - ]; then echo "$2"; elif [ "$2" = - ]; then echo "$1";
  elif awk "BEGIN { exit !($1 >= $2) }"; then echo "$1"; else echo "$2"; fi
}
lower() {
  if [ "$1" = - ]; then echo "$2"; elif [ "$2" = - ]; then echo "$1";
  elif awk "BEGIN { exit !($1 <= $2) }"; then echo "$1"; else echo "$2"; fi
}
ratio() {
  case "$1$2" in *-*) echo - ;; *) awk "BEGIN { printf \"%.2f\", $1 / $2 }" ;; esac
}
get() { eval "echo \${$1:--}"; }

echo "lua: $($LUA -v 2>&1); wrk: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2); nginx: $(nginx -v 2>&1 | sed 's/.*: //')" >&2
echo "cpus: $(nproc); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); kernel: $(uname -r);" \
     "load: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)" >&2
echo "placement: servers ${srv_cpu:-unpinned}, wrk ${wrk_cpu:-unpinned} (-t1 -c$CONNS -d${DURATION}s); rounds: $ROUNDS" >&2

forward=$SERVERS backward=
for s in $SERVERS; do backward="$s $backward"; done

for mode in $MODES; do
  for s in $SERVERS; do
    case $s in
      ours) start_lua ours "bench/http_ours.lua" "$mode" ;;
      cqueues) start_lua cqueues "bench/cqueues/http_server.lua" "$mode" ;;
      nginx)
        if [ ! -f "$tmp/nginx/nginx.pid" ]; then
          ports=$($srv_cpu sh "$here/nginx/lua_hello.sh" start "$tmp/nginx" "$CERTS") || exit 1
          pid_nginx=$(pgrep -P "$(cat "$tmp/nginx/nginx.pid")" | head -n 1)
          nginx_http=${ports% *} nginx_https=${ports#* }
        fi
        eval "port_nginx=\$nginx_$mode"
        ;;
      *) echo "$0: unknown server $s" >&2; exit 2 ;;
    esac
  done
  # Warm-up: one short run each, not counted.
  for s in $SERVERS; do
    eval "port=\$port_$s"
    $wrk_cpu wrk -t1 -c"$CONNS" -d1s "$mode://127.0.0.1:$port/" >/dev/null 2>&1
  done
  round=0
  while [ "$round" -lt "$ROUNDS" ]; do
    round=$((round + 1))
    if [ $((round % 2)) = 1 ]; then order=$forward; else order=$backward; fi
    for w in $WORKLOADS; do
      case "$mode $w" in "http rclose" | "http rkeep") continue ;; esac
      line="round $round $mode $w:"
      for s in $order; do
        set -- $(bench1 "$s" "$mode" "$w")
        line="$line $s=$1 (cpu/100k $2 s)"
        eval "rps_${mode}_${w}_$s=\$(better \"\$(get rps_${mode}_${w}_$s)\" \"\$1\")"
        eval "cpu_${mode}_${w}_$s=\$(lower \"\$(get cpu_${mode}_${w}_$s)\" \"\$2\")"
      done
      echo "$line" >&2
    done
  done
  # This mode's Lua servers go; nginx serves both modes and stays.
  for s in ours cqueues; do
    eval "p=\${pid_$s:-}"
    [ -n "$p" ] && kill "$p" 2>/dev/null
  done
done

target_of() {
  case "$1 $2 $3" in
    "https keepalive nginx") echo ">= 1.3" ;;
    "https keepalive cqueues") echo ">= 1.5" ;;
    "https rkeep nginx") echo ">= 1.3" ;;
    "https rkeep cqueues") echo ">= 1.5" ;;
    "http keepalive nginx") echo ">= 1.1" ;;
    "https close cqueues") echo ">= 1.5" ;;
    "https rclose cqueues") echo ">= 1.5" ;;
    *) echo "" ;;
  esac
}

echo
echo "requests/s, best of $ROUNDS rounds; in brackets the server's CPU seconds per 100,000 requests (lowest)"
printf '%-5s %-9s %17s %17s %17s %11s %-5s %13s %-5s\n' mode workload ours cqueues nginx ours/nginx want ours/cqueues want
for mode in $MODES; do
  for w in $WORKLOADS; do
    case "$mode $w" in "http rclose" | "http rkeep") continue ;; esac
    cells=
    for s in ours cqueues nginx; do
      r=$(get rps_${mode}_${w}_$s | cut -d. -f1)
      cells="$cells$(printf ' %17s' "$r ($(get cpu_${mode}_${w}_$s))")"
    done
    o=$(get rps_${mode}_${w}_ours) c=$(get rps_${mode}_${w}_cqueues) n=$(get rps_${mode}_${w}_nginx)
    printf '%-5s %-9s%s %11s %-5s %13s %-5s\n' "$mode" "$w" "$cells" \
      "$(ratio "$o" "$n")" "$(target_of "$mode" "$w" nginx)" "$(ratio "$o" "$c")" "$(target_of "$mode" "$w" cqueues)"
  done
done

[ ! -f "$tmp/failed" ]

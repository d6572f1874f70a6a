#!/bin/sh
# Session tickets shared by two server processes on one port: full and
# resumed TLS 1.3 handshakes per second, our server against nginx as the
# server, with our Lua client (bench/tls_ours.lua full|resumed) driving
# both. The servers take turns, the order reversing every round; the best
# figure of the rounds is kept for each.
#
#   bench/tls_tickets.sh
#   ROUNDS=5 HS_N=2000 bench/tls_tickets.sh
#
# ours:  two bench/tls_ticket_server.lua processes with SO_REUSEPORT on one
#        port and one ticket_key_file (a 48-byte secret).
# nginx: two worker processes, `listen ... reuseport` (a socket each) and
#        one ssl_session_ticket_key file (80 random bytes); no shared
#        session cache, so resumption is by ticket only, as for ours.
# The kernel spreads connections over the two processes, so a resumed
# handshake mostly lands on the process that did not issue the ticket:
# resumed_sampled shows that every sampled connection resumed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LUA=${LUA:-lua5.4}
ROUNDS=${ROUNDS:-3}
HS_N=${HS_N:-600}
target=${CARGO_TARGET_DIR:-$root/target}
CERTS=${CERTS:-$target/bench-certs}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-tickets.XXXXXX") || exit 1
pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  [ -f "$tmp/nginx/nginx.pid" ] && kill -QUIT "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null
  sleep 0.3
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The Lua 5.4 module scripts/build.sh leaves in target/lua.
ln -s "$target/lua/tls.so" "$tmp/tls.so"
LUA_CPATH="$tmp/?.so;;"
LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH LUA_PATH
sh "$root/scripts/gen-certs.sh" "$CERTS" >/dev/null || exit 1

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ours: two processes on one port.
ours_port=$(free_port)
head -c 36 /dev/urandom | base64 >"$tmp/ticket.keys"
for i in 1 2; do
  (cd "$root" && exec "$LUA" bench/tls_ticket_server.lua "$ours_port" "$CERTS" "$tmp/ticket.keys") \
    >"$tmp/ours$i.log" 2>&1 &
  pids="$pids $!"
done

# nginx: two workers, a reuseport socket each, one ticket key file.
nginx_port=$(free_port)
mkdir -p "$tmp/nginx/tmp"
head -c 80 /dev/urandom >"$tmp/nginx/ticket.key"
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<CONF
$user_line
worker_processes 2;
daemon on;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/tmp/body;
    proxy_temp_path $tmp/nginx/tmp/proxy;
    fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
    uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
    scgi_temp_path $tmp/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port ssl reuseport backlog=4096;
        ssl_certificate $CERTS/server.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_protocols TLSv1.3;
        ssl_session_tickets on;
        ssl_session_ticket_key $tmp/nginx/ticket.key;
        ssl_session_cache off;
        ssl_session_timeout 1h;
        location / { return 200 "ok\n"; }
    }
}
CONF
nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" || exit 1

wait_port() {
  i=0
  while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "nothing listens on $1" >&2; exit 1; }
    sleep 0.1
  done
}
wait_port "$ours_port"
wait_port "$nginx_port"
sleep 0.5 # the second of our processes

echo "machine: $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1);" \
     "load: $(cut -d' ' -f1-3 /proc/loadavg); lua: $($LUA -v 2>&1); nginx: $(nginx -v 2>&1 | sed 's/.*: //')" >&2
echo "rounds: $ROUNDS, $HS_N handshakes per run, 50 at a time" >&2

best() { # max of two figures, "-" is none
  if [ "$1" = - ]; then echo "$2"; elif [ "$2" = - ]; then echo "$1";
  elif awk "BEGIN { exit !($1 >= $2) }"; then echo "$1"; else echo "$2"; fi
}
field() { sed -n "s/.*[[:space:]]$1=\([0-9.][0-9.]*\).*/\1/p" | head -n 1; }

full_ours=- full_nginx=- resumed_ours=- resumed_nginx=-
round=0
while [ "$round" -lt "$ROUNDS" ]; do
  round=$((round + 1))
  if [ $((round % 2)) = 1 ]; then order="ours nginx"; else order="nginx ours"; fi
  for server in $order; do
    eval "port=\$${server}_port"
    for work in full resumed; do
      out=$(cd "$root" && "$LUA" bench/tls_ours.lua "$work" "$port" "$CERTS/ca.pem" "$HS_N") || {
        echo "FAILED: $server $work" >&2; exit 1; }
      echo "  round $round server=$server: $out" >&2
      v=$(printf '%s\n' "$out" | field "${work}_hs_s")
      eval "cur=\${${work}_${server}}"
      eval "${work}_${server}=\$(best \"\$cur\" \"\${v:--}\")"
    done
  done
done

ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
printf '%-10s %12s %12s %14s\n' workload ours nginx ours/nginx
printf '%-10s %12s %12s %14s\n' full "$full_ours" "$full_nginx" "$(ratio "$full_ours" "$full_nginx")"
printf '%-10s %12s %12s %14s\n' resumed "$resumed_ours" "$resumed_nginx" "$(ratio "$resumed_ours" "$resumed_nginx")"

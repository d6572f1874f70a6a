#!/bin/sh
# The cost of CRL and OCSP checks per TLS handshake: ours in each mode
# (bench/revocation.lua) and cqueues+luaossl where it can (bench/cqueues/
# revocation.lua), taking turns against one nginx on 127.0.0.1 (TLS 1.3,
# one worker, stapling a good OCSP response with ssl_stapling_file).
#
#   sh bench/revocation.sh [N]        # N handshakes per run (default 1000)
#   REPEAT=3 sh bench/revocation.sh   # per row, the run with the least client CPU
#
# Fixtures: scripts/gen-revocation.sh in a temp dir, plus big.crl, rca's
# CRL with 10,000 more entries (written into a copy of rca's index, then
# `openssl ca -gencrl`). Needs target/lua/tls.so (sh scripts/build.sh).
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000}
REPEAT=${REPEAT:-1}
dir=$(mktemp -d)
cleanup() {
  [ -f "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$dir"
}
trap cleanup EXIT
sh scripts/gen-revocation.sh "$dir" >/dev/null

# big.crl: rca's revocations plus 10,000 made-up serials.
cp "$dir/rca.index" "$dir/big.index"
echo 01 >"$dir/big.crlnumber"
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "R\t291231235959Z\t260101000000Z,keyCompromise\t%X\tunknown\t/CN=bench%d\n", 1048576 + i, i }' >>"$dir/big.index"
(cd "$dir" && CANAME=big openssl ca -config openssl.cnf -gencrl -cert rca.pem -keyfile rca.key -out big.crl 2>/dev/null)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/tmp"
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$port ssl backlog=1024;
    ssl_certificate $dir/good.pem;
    ssl_certificate_key $dir/good.key;
    ssl_protocols TLSv1.3;
    ssl_session_tickets off;
    ssl_stapling on;
    ssl_stapling_file $dir/good.ocsp;
    location / { return 200 "ok\n"; }
  }
}
CONF
nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
i=0
while [ ! -s "$dir/nginx.pid" ] && [ "$i" -lt 50 ]; do i=$((i + 1)); sleep 0.1; done

export LUA_CPATH="target/lua/?.so;;" LUA_PATH="lua/?.lua;lua/?/init.lua;;"
echo "# N=$N handshakes per run, best of $REPEAT; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
# best SCRIPT MODE: of REPEAT runs, the one with the least client CPU per
# handshake (cpu_ms: the client's own CPU, less disturbed by other load
# than wall-clock handshakes per second on a busy machine).
best() {
  b="" bcpu=""
  for _ in $(seq "$REPEAT"); do
    line=$(lua5.4 "$1" "$2" "$port" "$dir" "$N")
    cpu=$(echo "$line" | sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p')
    if [ -z "$cpu" ]; then b=$line; break; fi
    if [ -z "$bcpu" ] || awk "BEGIN { exit !($cpu < $bcpu) }"; then b=$line bcpu=$cpu; fi
  done
  echo "$b"
}
for mode in none crl bigcrl ocsp all; do
  best bench/revocation.lua "$mode"
  case $mode in none|ocsp|crl) best bench/cqueues/revocation.lua "$mode" ;; esac
done

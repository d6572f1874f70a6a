#!/bin/sh
# A throwaway nginx TLS 1.3 server on 127.0.0.1 for the TLS benchmarks.
#
#   bench/nginx/nginx.sh start DIR CERTDIR [SIZE]   # prints the port
#   bench/nginx/nginx.sh stop DIR
#
# start writes DIR/nginx.conf (DIR is made if missing; use an empty temp
# dir), a SIZE-byte file DIR/www/big (default 200000000, i.e. 200 MB;
# random bytes, made once and kept if DIR/www/big already has that size),
# and starts nginx with everything in DIR: prefix (-p), config (-c), error
# log (-e and error_log), pid file, temp paths. The port is a free one,
# tried again if another process takes it first. CERTDIR must hold
# scripts/gen-certs.sh's server.pem and server.key (localhost, signed by
# CERTDIR/ca.pem).
#
# Served:
#   /big    the SIZE-byte file
#   /hello  "ok\n" (3 bytes), for the handshake workloads
#
# TLS 1.3 only, session tickets on and a shared session cache, one worker,
# worker_connections 20000 and as many open files as the limits allow
# (the idle-memory workload keeps 10,000 connections open), keepalive,
# access log off. Timeouts are long enough (300 s) that idle connections
# that have sent no request yet are kept for the whole memory workload.
set -eu

usage() {
  echo "usage: $0 start DIR CERTDIR [SIZE] | stop DIR" >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2

# free_port: a port nothing listens on right now (nginx may still lose a
# race for it: start() tries again then).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    # 20000-29999: below the usual ephemeral range (32768-60999).
    echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
  fi
}

write_conf() {
  port=$1
  # Open files: 30,000 wanted; an unprivileged (or capability-less root)
  # process cannot go above the hard limit.
  hard=$(ulimit -Hn)
  nofile=30000
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ]; then
    nofile=$hard
  fi
  # As root the master would hand the workers to "nobody", who cannot
  # read a private temp dir: keep them as root then.
  user_line=
  if [ "$(id -u)" = 0 ]; then
    user_line="user root;"
  fi
  cat >"$dir/nginx.conf" <<EOF
# Written by bench/nginx/nginx.sh; thrown away after the run.
$user_line
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections 20000;
    multi_accept on;
}

http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    keepalive_timeout 300s;
    keepalive_requests 100000;
    client_header_timeout 300s;
    send_timeout 300s;

    server {
        listen 127.0.0.1:$port ssl backlog=4096;
        server_name localhost;

        ssl_certificate $certdir/server.pem;
        ssl_certificate_key $certdir/server.key;
        ssl_protocols TLSv1.3;
        ssl_session_tickets on;
        ssl_session_cache shared:BENCHTLS:50m;
        ssl_session_timeout 1h;

        root $dir/www;
        location = /big {
        }
        location = /hello {
            return 200 "ok\n";
        }
    }
}
EOF
}

start() {
  [ $# -ge 1 ] || usage
  certdir=$(cd "$1" && pwd)
  size=${2:-200000000}
  for f in server.pem server.key; do
    if [ ! -s "$certdir/$f" ]; then
      echo "$0: $certdir/$f missing (run scripts/gen-certs.sh $certdir)" >&2
      exit 1
    fi
  done
  mkdir -p "$dir/www" "$dir/tmp"
  dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/www/big" ] || [ "$(wc -c <"$dir/www/big")" -ne "$size" ]; then
    head -c "$size" /dev/urandom >"$dir/www/big.part"
    mv "$dir/www/big.part" "$dir/www/big"
  fi
  tries=0
  while :; do
    tries=$((tries + 1))
    port=$(free_port)
    write_conf "$port"
    : >"$dir/error.log"
    if nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/start.err"; then
      break
    fi
    if [ "$tries" -ge 5 ] || ! grep -q "in use" "$dir/start.err" "$dir/error.log"; then
      echo "$0: nginx failed to start:" >&2
      cat "$dir/start.err" "$dir/error.log" >&2
      exit 1
    fi
  done
  # The master opens the listening socket before it daemonizes, so the
  # port takes connections now; the pid file comes a moment later.
  i=0
  while [ ! -s "$dir/nginx.pid" ]; do
    i=$((i + 1))
    if [ "$i" -ge 50 ]; then
      echo "$0: nginx wrote no pid file" >&2
      cat "$dir/error.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$port" >"$dir/port"
  echo "$port"
}

stop() {
  [ -f "$dir/nginx.pid" ] || return 0
  pid=$(cat "$dir/nginx.pid")
  kill -QUIT "$pid" 2>/dev/null || true
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
    i=$((i + 1))
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/nginx.pid"
}

case $cmd in
  start) shift 2; start "$@" ;;
  stop) stop ;;
  *) usage ;;
esac

#!/bin/sh
# A throwaway nginx for the server benchmark (bench/servers.sh): one
# worker answering GET / with Lua run per request (content_by_lua_block,
# Debian's libnginx-mod-http-lua), plain HTTP and HTTPS on two free ports
# of 127.0.0.1.
#
#   bench/nginx/lua_hello.sh start DIR CERTDIR   # prints "HTTP_PORT HTTPS_PORT"
#   bench/nginx/lua_hello.sh stop DIR
#
# The response is the one bench/http_ours.lua and bench/cqueues/http_server.lua
# send: 200, text/plain, Content-Length 6, "hello\n" (Lua sets the length,
# so nginx does not fall back to chunked encoding). TLS 1.3 only, the
# localhost certificate of scripts/gen-certs.sh in CERTDIR, session tickets
# on (nginx's default), no session cache (wrk does not resume), access log
# off, keepalive without a request limit. Everything lives in DIR.
set -eu

usage() {
  echo "usage: $0 start DIR CERTDIR | stop DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
modules=${NGINX_MODULES:-/usr/lib/nginx/modules}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
  user_line=
  if [ "$(id -u)" = 0 ]; then
    user_line="user root;"
  fi
  cat >"$dir/nginx.conf" <<CONF
# Written by bench/nginx/lua_hello.sh; thrown away after the run.
load_module $modules/ndk_http_module.so;
load_module $modules/ngx_http_lua_module.so;
$user_line
worker_processes 1;
worker_rlimit_nofile 4096;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections 4000;
    multi_accept on;
}

http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    server_tokens off;
    lua_code_cache on;

    server {
        listen 127.0.0.1:$1 backlog=4096;
        listen 127.0.0.1:$2 ssl backlog=4096;
        server_name localhost;
        ssl_certificate $certdir/server.pem;
        ssl_certificate_key $certdir/server.key;
        ssl_protocols TLSv1.3;
        ssl_session_tickets on;

        location / {
            content_by_lua_block {
                local body = "hello\n"
                ngx.header["Content-Length"] = #body
                ngx.print(body)
            }
        }
    }
}
CONF
}

start() {
  [ $# -ge 1 ] || usage
  certdir=$(cd "$1" && pwd)
  mkdir -p "$dir/tmp"
  dir=$(cd "$dir" && pwd)
  tries=0
  while :; do
    tries=$((tries + 1))
    p1=$(free_port)
    p2=$(free_port)
    write_conf "$p1" "$p2"
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
  i=0
  while [ ! -s "$dir/nginx.pid" ]; do
    i=$((i + 1))
    if [ "$i" -ge 50 ]; then
      echo "$0: nginx wrote no pid file" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$p1 $p2"
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

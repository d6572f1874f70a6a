#!/bin/sh
# Installs the Debian packages the demo, the tests and the benchmarks use.
# Safe to run again: it only installs what is missing.
set -e
pkgs="lua5.1 lua5.2 lua5.3 lua5.4 liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev luajit2 libluajit2-5.1-dev lua-busted luarocks nginx-light dnsmasq-base openssl curl
      python3 socat lua-cqueues lua-luaossl lua-sec lua-socket lua-luv pkg-config"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

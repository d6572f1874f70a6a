#!/bin/sh
# Installs the Debian packages the demo, the tests and the benchmarks use.
# Safe to run again: it only installs what is missing.
set -e
pkgs="lua5.1 lua5.2 lua5.3 lua5.4 liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev luajit2 libluajit2-5.1-dev lua-busted luarocks nginx-light dnsmasq-base openssl curl
      python3 python3-cryptography socat lua-cqueues lua-luaossl lua-sec lua-socket lua-luv pkg-config util-linux
      wrk libnginx-mod-http-lua"
# wrk and libnginx-mod-http-lua are for bench/servers.sh. The Lua module
# installs alongside nginx-light (Debian 12: both use the one nginx binary
# of package nginx; the module's config loads it with load_module) and
# needs luajit2's libluajit2-5.1-2, which the list above already has (not
# Debian's luajit, which would remove it).
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

# Python peers from PyPI: aiosmtpd is the real STARTTLS SMTP server that
# spec/starttls_spec.lua talks to.
if ! python3 -c "import aiosmtpd" 2>/dev/null; then
  echo "installing aiosmtpd (pip)"
  python3 -m pip install -q aiosmtpd
fi

# A Gemini client from PyPI, a real peer for examples/gemini_server.lua
# (spec/examples_spec.lua). Optional: the spec marks its test pending
# without it.
if ! command -v agunua >/dev/null 2>&1 && command -v pip >/dev/null 2>&1; then
  pip install -q agunua >/dev/null 2>&1 || echo "deps.sh: pip install agunua failed (its test will be pending)"
fi

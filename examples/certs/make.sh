#!/bin/sh
# Generates the TEST-ONLY certificates that examples/fetch.lua's demo uses:
#   ca.pem / ca.key                 a CA ("lua-tls example CA")
#   localhost.pem / localhost.key   a server certificate signed by it, for
#                                   DNS:localhost, IP:127.0.0.1 and IP:::1
# EC P-256 keys, valid for 100 years. The private keys are committed on
# purpose: they protect nothing. Never trust ca.pem outside tests.
#
# Run once from anywhere (writes next to this script); needs the openssl
# command line (1.1.1 or 3.x).
set -eu
cd "$(dirname "$0")"

days=36500
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" \
  -subj "/CN=lua-tls example CA (TEST ONLY)" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out "$tmp/ca.pem"

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/localhost.key"
openssl req -new -key "$tmp/localhost.key" -subj "/CN=localhost" -out "$tmp/localhost.csr"
cat >"$tmp/ext.cnf" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl x509 -req -in "$tmp/localhost.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
  -CAcreateserial -sha256 -days "$days" -extfile "$tmp/ext.cnf" -out "$tmp/localhost.pem"

# rustls wants PKCS#8 or SEC1 keys; PKCS#8 is the common ground.
openssl pkcs8 -topk8 -nocrypt -in "$tmp/ca.key" -out ca.key
openssl pkcs8 -topk8 -nocrypt -in "$tmp/localhost.key" -out localhost.key
cp "$tmp/ca.pem" ca.pem
cp "$tmp/localhost.pem" localhost.pem
chmod 644 ca.pem localhost.pem ca.key localhost.key

openssl verify -CAfile ca.pem localhost.pem

# fetch.lua carries a copy of the PEM text for when it runs without this
# directory (installed as a command); rewrite the block between its markers.
fetch=../fetch.lua
block=$tmp/block.lua
{
  echo "-- BEGIN DEMO CERTS (written by examples/certs/make.sh; TEST ONLY, never trust)"
  echo "local DEMO_PEM = {"
  for pair in ca:ca.pem cert:localhost.pem key:localhost.key; do
    echo "  ${pair%%:*} = [["
    cat "${pair#*:}"
    echo "]],"
  done
  echo "}"
  echo "-- END DEMO CERTS"
} >"$block"
if [ -f "$fetch" ] && grep -q '^-- BEGIN DEMO CERTS' "$fetch"; then
  awk -v block="$block" '
    /^-- BEGIN DEMO CERTS/ { while ((getline line < block) > 0) print line; skip = 1; next }
    /^-- END DEMO CERTS/ { skip = 0; next }
    !skip { print }
  ' "$fetch" >"$tmp/fetch.lua"
  cat "$tmp/fetch.lua" >"$fetch"
  echo "updated the embedded copy in examples/fetch.lua"
fi

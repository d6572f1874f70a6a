#!/bin/sh
# Certificates for the TOFU, pinning and verify_depth tests, beside the
# matrix of gen-certs.sh (which they do not touch):
#
#   scripts/gen-extra-certs.sh DIR
#
#   tofu-ca       self-signed client cert as `openssl req -x509` makes it (CA:TRUE)
#   tofu-ee       self-signed client cert with CA:FALSE
#   tofu-other    another CA:TRUE self-signed client cert
#   pinned        self-signed CA:TRUE server cert for localhost, 127.0.0.1
#   pinned2       another one (a server whose certificate changed)
#   root          a CA; int1 under it, int2 under int1
#   deep          localhost, 127.0.0.1 under int2; deep-chain.pem = deep, int2, int1
#                 (3 certificates below the root)
# P-256 keys; the files are made fresh on each call.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

selfsigned() { # NAME CN [extra req args...]
    name=$1 cn=$2
    shift 2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -keyout "$name.key" -out "$name.pem" -subj "/CN=$cn" "$@" 2>/dev/null
}

selfsigned tofu-ca "gemini client"
selfsigned tofu-other "another gemini client"
selfsigned tofu-ee "plain client" -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature"
selfsigned pinned localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
selfsigned pinned2 localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"

selfsigned root "depth root"
cat >ca.ext <<EXT
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
EXT
cat >leaf.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
issue() { # NAME CN ISSUER EXTFILE
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
        -days 30 -extfile "$4" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}
issue int1 "depth intermediate 1" root ca.ext
issue int2 "depth intermediate 2" int1 ca.ext
issue deep localhost int2 leaf.ext
cat deep.pem int2.pem int1.pem >deep-chain.pem

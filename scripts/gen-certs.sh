#!/bin/sh
# Generates the test CA and certificate matrix for the TLS tests.
#
#   scripts/gen-certs.sh [DIR]     (default: spec/certs)
#
# Idempotent: a file that exists and is still what it should be (valid for
# another day, or expired / not yet valid on purpose) is kept. If a CA is
# remade, everything it signed is remade too. EC P-256 keys keep it fast.
# Expired and not-yet-valid certificates come from `openssl ca -startdate
# -enddate`, so no faketime and no clock tricks are needed.
#
# Files (each NAME.pem certificate has a NAME.key private key):
#   ca            test CA (trusted by the tests)
#   ca2           a second, unknown CA
#   server        localhost, 127.0.0.1, ::1          (key PKCS#8)
#   server-sec1.key  the server key again, in SEC1 "EC PRIVATE KEY" form
#   rsa           localhost, RSA 2048                 (key PKCS#1 "RSA PRIVATE KEY")
#   expired       localhost, not after 2020-01-01 00:00:00 UTC
#   notyet        localhost, not before 2090-01-01 00:00:00 UTC
#   wrongname     wrong.example
#   selfsigned    localhost, self-signed
#   unknownca     localhost, signed by ca2
#   iponly        IP 127.0.0.1 only
#   other         other.test (second SNI name)
#   client        client certificate from ca
#   foreign-client  client certificate from ca2
set -eu

dir=${1:-spec/certs}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Several test processes may run this at once: one at a time.
if [ -z "${GEN_CERTS_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
    GEN_CERTS_LOCKED=1 exec flock "$dir/.lock" sh "$0" "$dir"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cnf=$work/openssl.cnf
# openssl expands $ENV::SAN when it loads the file, so it must always be set.
SAN=DNS:localhost
export SAN

cat >"$cnf" <<CNF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = testca
[ testca ]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[ anything ]
commonName = supplied
organizationName = optional
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::SAN
[ selfsigned ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = \$ENV::SAN
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::SAN
CNF

# still_good FILE: exists and valid for at least one more day.
still_good() {
    [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1
}

# eckey FILE: a fresh P-256 key in PKCS#8 form.
eckey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# make_ca NAME CN
make_ca() {
    if [ "$force" = 0 ] && still_good "$dir/$1.pem" && [ -s "$dir/$1.key" ]; then
        return 0
    fi
    eckey "$work/$1.key"
    openssl req -config "$cnf" -new -x509 -key "$work/$1.key" -subj "/O=lua-tls tests/CN=$2" \
        -days 3650 -extensions v3_ca -sha256 -out "$work/$1.pem"
    mv "$work/$1.key" "$dir/$1.key"
    mv "$work/$1.pem" "$dir/$1.pem"
    force=1 # everything signed by the old CA is stale
}

# issue NAME CA EXTENSIONS SAN CN STARTDATE ENDDATE KEEP
#   KEEP: "valid" keeps a cert still valid for a day, "exists" keeps any.
issue() {
    name=$1 ca=$2 ext=$3 san=$4 cn=$5 start=$6 end=$7 keep=$8
    if [ "$force" = 0 ] && [ -s "$dir/$name.key" ]; then
        if [ "$keep" = exists ] && [ -s "$dir/$name.pem" ]; then return 0; fi
        if [ "$keep" = valid ] && still_good "$dir/$name.pem"; then return 0; fi
    fi
    [ -s "$work/$name.key" ] || eckey "$work/$name.key"
    : >"$work/index.txt"
    SAN=$san openssl req -config "$cnf" -new -key "$work/$name.key" -subj "/O=lua-tls tests/CN=$cn" \
        -out "$work/$name.csr"
    SAN=$san openssl ca -config "$cnf" -batch -notext -rand_serial -preserveDN -extensions "$ext" \
        -cert "$dir/$ca.pem" -keyfile "$dir/$ca.key" \
        -startdate "$start" -enddate "$end" \
        -in "$work/$name.csr" -out "$work/$name.pem" 2>/dev/null
    mv "$work/$name.key" "$dir/$name.key"
    mv "$work/$name.pem" "$dir/$name.pem"
}

now=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
later=$(date -u -d '+825 days' +%Y%m%d%H%M%SZ)
force=0
make_ca ca "lua-tls Test CA"
ca_forced=$force
force=0
make_ca ca2 "lua-tls Unknown CA"
ca2_forced=$force

force=$ca_forced
issue server ca server "DNS:localhost,IP:127.0.0.1,IP:::1" localhost "$now" "$later" valid
issue expired ca server "DNS:localhost,IP:127.0.0.1" localhost 20190101000000Z 20200101000000Z exists
issue notyet ca server "DNS:localhost,IP:127.0.0.1" localhost 20900101000000Z 20910101000000Z exists
issue wrongname ca server "DNS:wrong.example" wrong.example "$now" "$later" valid
issue iponly ca server "IP:127.0.0.1" 127.0.0.1 "$now" "$later" valid
issue other ca server "DNS:other.test" other.test "$now" "$later" valid
issue client ca client "DNS:client.test" "lua-tls test client" "$now" "$later" valid
# RSA, with its key in PKCS#1 form, to prove the PEM loader takes it.
if [ "$force" = 1 ] || ! still_good "$dir/rsa.pem" || [ ! -s "$dir/rsa.key" ]; then
    openssl genrsa -traditional -out "$work/rsa.key" 2048 2>/dev/null
    issue rsa ca server "DNS:localhost,IP:127.0.0.1" localhost "$now" "$later" valid
fi

force=$ca2_forced
issue unknownca ca2 server "DNS:localhost,IP:127.0.0.1" localhost "$now" "$later" valid
issue foreign-client ca2 client "DNS:client.test" "lua-tls foreign client" "$now" "$later" valid

# Self-signed end-entity certificate for localhost.
if ! still_good "$dir/selfsigned.pem" || [ ! -s "$dir/selfsigned.key" ]; then
    eckey "$work/selfsigned.key"
    SAN="DNS:localhost,IP:127.0.0.1" openssl req -config "$cnf" -new -x509 -key "$work/selfsigned.key" \
        -subj "/O=lua-tls tests/CN=localhost" -days 825 -extensions selfsigned -sha256 \
        -out "$work/selfsigned.pem"
    mv "$work/selfsigned.key" "$dir/selfsigned.key"
    mv "$work/selfsigned.pem" "$dir/selfsigned.pem"
fi

# The server key in SEC1 form ("BEGIN EC PRIVATE KEY").
if [ ! -s "$dir/server-sec1.key" ] || [ "$dir/server.key" -nt "$dir/server-sec1.key" ]; then
    openssl ec -in "$dir/server.key" -out "$work/server-sec1.key" 2>/dev/null
    mv "$work/server-sec1.key" "$dir/server-sec1.key"
fi

#!/bin/sh
# Generates the revocation fixtures (CRLs, OCSP responses) for the CRL and
# OCSP tests, always fresh, into DIR (made if missing; use a temp dir).
#
#   scripts/gen-revocation.sh DIR
#
# Everything comes from `openssl ca` (one index per CA), `openssl ca
# -gencrl` and `openssl ocsp -index ... -respout`; only the OCSP responses
# with dates openssl cannot write (a nextUpdate in the past, a thisUpdate
# in the future) come from Python's `cryptography`. EC P-256 keeps it fast
# (well under two seconds).
#
# Certificates (NAME.pem with NAME.key), localhost and 127.0.0.1 unless said:
#   rca             the revocation test CA (trust it with cafile = rca.pem)
#   rca2            another CA, unknown to the tests
#   good            server, not revoked
#   revoked         server, revoked (keyCompromise) in rca.crl and OCSP
#   other           server for other.test (a second SNI name), not revoked
#   client-good     client certificate, not revoked
#   client-revoked  client certificate, revoked in rca.crl
#   inter           intermediate CA under rca, revoked in rca.crl
#   inter-ok        intermediate CA under rca, not revoked
#   via-inter       server under inter (chain file via-inter-chain.pem)
#   via-inter-ok    server under inter-ok (chain file via-inter-ok-chain.pem)
#   responder       OCSP responder for rca (EKU OCSPSigning)
#   noeku           signed by rca, no OCSPSigning EKU
#   rogue           OCSP responder signed by rca2 (EKU OCSPSigning)
#   other2          server signed by rca2
#   unlisted        server signed by rca outside its index (OCSP: unknown)
# CRLs (PEM):
#   rca.crl         rca's CRL: revoked, client-revoked, inter; valid 30 days
#   rca-expired.crl the same list, nextUpdate 2020-02-01
#   rca2.crl        rca2's CRL, revoking other2
#   inter-ok.crl    inter-ok's CRL, revoking nothing
#   rca.crl.der     rca.crl in DER form
# OCSP responses (DER), by `responder` unless said:
#   good.ocsp       good: good                 (valid 30 days)
#   good-ca.ocsp    good: good, signed by rca itself
#   other.ocsp      other: good
#   revoked.ocsp    revoked: revoked, keyCompromise
#   unknown.ocsp    unlisted: unknown
#   rogue.ocsp      good: good, signed by rogue (wrong key)
#   noeku.ocsp      good: good, signed by noeku (not an OCSP signer)
#   expired.ocsp    good: good, nextUpdate 2020-01-02 (Python)
#   future.ocsp     good: good, thisUpdate in 2090 (Python)
set -eu

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"

cat >openssl.cnf <<'CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = rca
[ rca ]
dir = .
database = $dir/$ENV::CANAME.index
new_certs_dir = $dir/newcerts
serial = $dir/$ENV::CANAME.serial
crlnumber = $dir/$ENV::CANAME.crlnumber
default_md = sha256
default_crl_days = 30
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
authorityKeyIdentifier = keyid
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1
[ server_other ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:other.test
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ocsp ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ plain ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
mkdir -p newcerts
CANAME=rca
export CANAME

eckey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# root NAME SERIAL: a self-signed CA with an empty index; each CA numbers
# from its own SERIAL so no two test certificates share a serial.
root() {
    eckey "$1.key"
    CANAME=$1 openssl req -config openssl.cnf -new -x509 -key "$1.key" -days 3650 -sha256 \
        -subj "/O=lua-tls tests/CN=lua-tls revocation $1" -extensions v3_ca -out "$1.pem"
    : >"$1.index"
    echo "$2" >"$1.serial"
    echo 01 >"$1.crlnumber"
}

# issue NAME CA EXTENSIONS: a certificate for NAME signed by CA.
issue() {
    eckey "$1.key"
    CANAME=$2 openssl req -config openssl.cnf -new -key "$1.key" \
        -subj "/O=lua-tls tests/CN=$1" -out "$1.csr"
    CANAME=$2 openssl ca -config openssl.cnf -batch -notext -preserveDN -extensions "$3" \
        -cert "$2.pem" -keyfile "$2.key" -days 825 -in "$1.csr" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

# subca NAME SERIAL: an intermediate CA under rca, with its own index.
subca() {
    issue "$1" rca v3_ca
    : >"$1.index"
    echo "$2" >"$1.serial"
    echo 01 >"$1.crlnumber"
}

revoke() { # revoke NAME CA
    CANAME=$2 openssl ca -config openssl.cnf -cert "$2.pem" -keyfile "$2.key" \
        -revoke "$1.pem" -crl_reason keyCompromise 2>/dev/null
}

gencrl() { # gencrl CA OUT [openssl ca options...]
    ca=$1 out=$2
    shift 2
    CANAME=$ca openssl ca -config openssl.cnf -gencrl -cert "$ca.pem" -keyfile "$ca.key" \
        -out "$out" "$@" 2>/dev/null
}

# ocsp CERT SIGNER OUT: rca's responder answers for CERT from rca's index.
ocsp() {
    openssl ocsp -index rca.index -CA rca.pem -rsigner "$2.pem" -rkey "$2.key" \
        -issuer rca.pem -cert "$1.pem" -respout "$3" -ndays 30 >/dev/null 2>&1
}

root rca 1000
root rca2 9000
issue good rca server
issue revoked rca server
issue other rca server_other
issue client-good rca client
issue client-revoked rca client
subca inter 6000
subca inter-ok 5000
issue via-inter inter server
issue via-inter-ok inter-ok server
issue responder rca ocsp
issue noeku rca plain
issue rogue rca2 ocsp
issue other2 rca2 server
cat via-inter.pem inter.pem >via-inter-chain.pem
cat via-inter-ok.pem inter-ok.pem >via-inter-ok-chain.pem

# OCSP before revoking: the index says valid for every cert until then.
ocsp good responder good.ocsp
ocsp other responder other.ocsp
ocsp good rca good-ca.ocsp
ocsp good rogue rogue.ocsp
ocsp good noeku noeku.ocsp
# Signed by rca outside `openssl ca`: the index does not list it, so the
# responder says unknown.
eckey unlisted.key
openssl req -config openssl.cnf -new -key unlisted.key -subj "/O=lua-tls tests/CN=unlisted" \
    -out unlisted.csr
openssl x509 -req -in unlisted.csr -CA rca.pem -CAkey rca.key -set_serial 0x7777 -days 825 \
    -extfile openssl.cnf -extensions server -out unlisted.pem 2>/dev/null
rm -f unlisted.csr
ocsp unlisted responder unknown.ocsp

revoke revoked rca
revoke client-revoked rca
revoke inter rca
revoke other2 rca2
ocsp revoked responder revoked.ocsp

gencrl rca rca.crl
gencrl rca rca-expired.crl -crl_lastupdate 20200101000000Z -crl_nextupdate 20200201000000Z
gencrl rca2 rca2.crl
gencrl inter-ok inter-ok.crl
openssl crl -in rca.crl -outform DER -out rca.crl.der

# Dates openssl cannot write: signed by the real responder, so only the
# dates are wrong. Any python3 with `cryptography` (Debian's
# python3-cryptography is in scripts/deps.sh) will do.
py=${PYTHON:-python3}
"$py" -c "import cryptography" 2>/dev/null || py=/usr/bin/python3
"$py" - <<'PY'
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

def load(name):
    with open(name + ".pem", "rb") as f:
        return x509.load_pem_x509_certificate(f.read())

with open("responder.key", "rb") as f:
    key = serialization.load_pem_private_key(f.read(), None)
good, ca, responder = load("good"), load("rca"), load("responder")

def make(out, this_update, next_update):
    b = ocsp.OCSPResponseBuilder().add_response(
        cert=good, issuer=ca, algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=this_update, next_update=next_update,
        revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, responder).certificates([responder])
    with open(out, "wb") as f:
        f.write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))

make("expired.ocsp", datetime.datetime(2020, 1, 1), datetime.datetime(2020, 1, 2))
make("future.ocsp", datetime.datetime(2090, 1, 1), datetime.datetime(2090, 1, 2))
PY

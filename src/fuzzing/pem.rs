//! PEM loading (`cert`, `key`, `ca` given as text) and the certificate
//! parser behind `ios:info().peer`, on arbitrary PEM-framed input.

use rustls::RootCertStore;

use crate::tls::options::PemSource;
use crate::tls::pem::{add_roots, load_certs, load_chain};
use crate::tls::signing_key;

const LABELS: &[&str] = &[
    "CERTIFICATE",
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
    "X509 CRL",
    "ENCRYPTED PRIVATE KEY",
];

/// The first byte picks a framing: one or two PEM blocks with a label and
/// the rest base64-encoded (deep into the DER parsers), or the bytes as
/// text (the PEM parser itself). Loading never panics, fails only with
/// code `config` and a plain message, and whatever loads also parses (or
/// is refused) cleanly in our certificate parser.
pub fn pem(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let text = match sel % 4 {
        0 => String::from_utf8_lossy(body).into_owned(),
        1 => block(LABELS[usize::from(sel >> 2) % LABELS.len()], body),
        2 => {
            let (a, b) = body.split_at(body.len() / 2);
            block("CERTIFICATE", a) + &block(LABELS[usize::from(sel >> 2) % LABELS.len()], b)
        }
        // A frame with text inside as is: bad base64, stray headers.
        _ => format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            String::from_utf8_lossy(body)
        ),
    };
    let src = PemSource::Text(text);
    match load_certs(&src) {
        Ok(certs) => {
            assert!(!certs.is_empty());
            for c in &certs {
                // Our own parser: any DER in, a result or an error out.
                let _ = crate::tls::x509::parse(c.as_ref());
            }
        }
        Err(e) => check_error(&e),
    }
    if let Err(e) = load_chain(&src) {
        check_error(&e);
    }
    // Through load_key, then the provider: refusals are in words too.
    if let Err(e) = signing_key::load(&src) {
        check_error(&e);
    }
    let mut roots = RootCertStore::empty();
    if let Err(e) = add_roots(&mut roots, &src) {
        check_error(&e);
    }
}

fn check_error(e: &crate::error::NetError) {
    assert_eq!(e.code, "config", "{}", e.message);
    assert!(!e.message.is_empty());
    super::assert_plain_message(&e.message);
}

/// A PEM block of `der`, base64 in lines of 64 characters.
fn block(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_blocks() {
        assert_eq!(
            super::block("X", b"Man"),
            "-----BEGIN X-----\nTWFu\n-----END X-----\n"
        );
        assert_eq!(
            super::block("X", b"Ma"),
            "-----BEGIN X-----\nTWE=\n-----END X-----\n"
        );
    }
}

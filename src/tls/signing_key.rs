//! The signing key of our own certificate (`key`, `certs[i].key`): loaded
//! through the provider in this one place, for servers and client
//! certificates alike, with words for a key the provider refuses (rustls
//! says only "failed to parse private key as RSA, ECDSA, or EdDSA").

use std::sync::Arc;

use rustls::sign::SigningKey;
use rustls_pki_types::PrivateKeyDer;

use super::der::{oid_text, tag, Reader};
use super::options::PemSource;
use super::pem::load_key;
use super::provider::provider;
use crate::error::NetError;

const SUPPORTED: &str = "RSA, ECDSA P-256, P-384 or P-521, or Ed25519";

/// The key in `src`, ready to sign handshakes.
pub fn load(src: &PemSource) -> Result<Arc<dyn SigningKey>, NetError> {
    let der = load_key(src)?;
    provider()
        .key_provider
        .load_private_key(der.clone_key())
        .map_err(|_| {
            NetError::new(
                "config",
                format!(
                    "unusable private key {}: {}",
                    src.describe(),
                    unusable(&der)
                ),
            )
        })
}

/// Why the provider refused a key: its algorithm (read from PKCS#8) when
/// that is one rustls does not sign with, or else that it is damaged.
fn unusable(der: &PrivateKeyDer<'_>) -> String {
    match der {
        PrivateKeyDer::Pkcs1(_) => "a damaged RSA key, or one smaller than 2048 bits".into(),
        PrivateKeyDer::Sec1(_) => {
            "a damaged EC key, or one on a curve other than P-256, P-384 or P-521".into()
        }
        PrivateKeyDer::Pkcs8(k) => match pkcs8_algorithm(k.secret_pkcs8_der()) {
            None => "not a valid PKCS#8 key (malformed DER)".into(),
            Some((alg, curve)) => match (alg.as_str(), curve.as_deref()) {
                ("1.2.840.113549.1.1.1", _) => {
                    "a damaged RSA key, or one smaller than 2048 bits".into()
                }
                // P-256, P-384, P-521
                (
                    "1.2.840.10045.2.1",
                    Some("1.2.840.10045.3.1.7" | "1.3.132.0.34" | "1.3.132.0.35"),
                ) => "a damaged EC key".into(),
                ("1.2.840.10045.2.1", Some(c)) => {
                    let c = if c == "1.3.132.0.10" { "secp256k1" } else { c };
                    format!("EC keys on curve {c} are not supported (use {SUPPORTED})")
                }
                ("1.3.101.112", _) => "a damaged Ed25519 key".into(),
                (alg, _) => {
                    let name = match alg {
                        "1.3.101.113" => "Ed448 keys".to_string(),
                        "1.3.101.110" | "1.3.101.111" => {
                            "X25519 and X448 keys (they cannot sign)".into()
                        }
                        "1.2.840.10040.4.1" => "DSA keys".into(),
                        "1.2.840.113549.1.1.10" => "RSA-PSS keys".into(),
                        other => format!("keys of algorithm {other}"),
                    };
                    format!("{name} are not supported (use {SUPPORTED})")
                }
            },
        },
        _ => format!("not a key this library can use (use {SUPPORTED})"),
    }
}

/// The algorithm OID of a PKCS#8 `PrivateKeyInfo`, and its parameter when
/// that is an OID too (the curve of an EC key).
fn pkcs8_algorithm(der: &[u8]) -> Option<(String, Option<String>)> {
    let info = Reader::new(der).expect(tag::SEQUENCE).ok()?;
    let mut r = Reader::new(info.content);
    r.expect(tag::INTEGER).ok()?;
    let alg = r.expect(tag::SEQUENCE).ok()?;
    let mut a = Reader::new(alg.content);
    let oid = a.expect(tag::OID).ok()?;
    let param = a.optional(tag::OID).ok()?.map(|p| oid_text(p.content));
    Some((oid_text(oid.content), param))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::path;
    use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};

    fn pkcs8(alg: &[u8], param: &[u8]) -> PrivateKeyDer<'static> {
        // SEQUENCE { INTEGER 0, SEQUENCE { alg, param }, OCTET STRING {} }
        let mut a = alg.to_vec();
        a.extend_from_slice(param);
        let mut body = vec![0x02, 0x01, 0x00, 0x30, a.len() as u8];
        body.extend(a);
        body.extend([0x04, 0x00]);
        let mut der = vec![0x30, body.len() as u8];
        der.extend(body);
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
    }

    #[test]
    fn loads_the_fixture_keys() {
        for f in ["server.key", "server-sec1.key", "rsa.key"] {
            load(&PemSource::Path(path(f))).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    #[test]
    fn refused_keys_say_why() {
        let ed448 = pkcs8(&[0x06, 0x03, 0x2b, 0x65, 0x71], &[]);
        assert_eq!(
            unusable(&ed448),
            format!("Ed448 keys are not supported (use {SUPPORTED})")
        );
        let k1 = pkcs8(
            &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
            &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        );
        assert!(unusable(&k1).starts_with("EC keys on curve secp256k1 are not supported"));
        let junk = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(vec![1, 2, 3]));
        assert_eq!(unusable(&junk), "not a valid PKCS#8 key (malformed DER)");
        let rsa = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(vec![0x30, 0x00]));
        assert!(unusable(&rsa).contains("damaged RSA key"));
        let e = load(&PemSource::Text(
            "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n".into(),
        ))
        .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                "config",
                "unusable private key PEM text: not a valid PKCS#8 key (malformed DER)"
            )
        );
    }
}

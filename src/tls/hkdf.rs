//! The TLS 1.3 key schedule's HKDF, computed as RFC 5869 defines it, over
//! an HMAC whose keyed state is set up once per key (aws-lc-rs'
//! `hmac::Key`), through rustls' own `HkdfUsingHmac`.
//!
//! The aws-lc-rs provider's HKDF keeps the salt and secret of an
//! extraction and runs the whole HKDF (extract, then expand) again for
//! every expansion, re-keying HMAC twice each time: about eight SHA-384
//! compressions per derived secret where three do. A TLS 1.3 handshake
//! derives a dozen or more, and a resumed one more again (the PSK binder):
//! SHA-384 compression was a fifth of a resumed handshake's client CPU.
//! The outputs are the same bytes (RFC 5869 test vectors below, and every
//! handshake against nginx, OpenSSL and rustls in the specs).

use rustls::crypto::hmac::{Hmac, Key, Tag};
use std::sync::OnceLock;

use rustls::crypto::tls13::{Hkdf, HkdfUsingHmac};
use rustls::{SupportedCipherSuite, Tls13CipherSuite};

/// HMAC over aws-lc-rs, keyed once per key.
struct AwsLcHmac(aws_lc_rs::hmac::Algorithm);

/// A key's HMAC state, copied for each tag.
struct AwsLcKey(aws_lc_rs::hmac::Key);

impl Hmac for AwsLcHmac {
    fn with_key(&self, key: &[u8]) -> Box<dyn Key> {
        Box::new(AwsLcKey(aws_lc_rs::hmac::Key::new(self.0, key)))
    }

    fn hash_output_len(&self) -> usize {
        self.0.digest_algorithm().output_len()
    }
}

impl Key for AwsLcKey {
    fn sign_concat(&self, first: &[u8], middle: &[&[u8]], last: &[u8]) -> Tag {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.0);
        ctx.update(first);
        for m in middle {
            ctx.update(m);
        }
        ctx.update(last);
        Tag::new(ctx.sign().as_ref())
    }

    fn tag_len(&self) -> usize {
        self.0.algorithm().digest_algorithm().output_len()
    }
}

static HMAC_SHA256: AwsLcHmac = AwsLcHmac(aws_lc_rs::hmac::HMAC_SHA256);
static HMAC_SHA384: AwsLcHmac = AwsLcHmac(aws_lc_rs::hmac::HMAC_SHA384);
static HKDF_SHA256: HkdfUsingHmac<'static> = HkdfUsingHmac(&HMAC_SHA256);
static HKDF_SHA384: HkdfUsingHmac<'static> = HkdfUsingHmac(&HMAC_SHA384);

/// `suites` with every TLS 1.3 suite's HKDF replaced by ours (same hash;
/// everything else of the suite kept). Suites whose hash has no HKDF here
/// are kept as they are.
pub(super) fn keyed_once(suites: &mut [SupportedCipherSuite]) {
    for s in suites.iter_mut() {
        if let Some(ours) = ours(s.suite()) {
            *s = SupportedCipherSuite::Tls13(ours);
        }
    }
}

/// Our version of the provider's TLS 1.3 suite `id`, made once per
/// process for every suite rustls has (a few hundred bytes, kept for good:
/// rustls wants `'static` suites).
fn ours(id: rustls::CipherSuite) -> Option<&'static Tls13CipherSuite> {
    static OURS: OnceLock<Vec<&'static Tls13CipherSuite>> = OnceLock::new();
    let all = OURS.get_or_init(|| {
        rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
            .iter()
            .filter_map(|s| s.tls13())
            .filter_map(|t| {
                let hkdf: &'static dyn Hkdf = match t.common.hash_provider.output_len() {
                    32 => &HKDF_SHA256,
                    48 => &HKDF_SHA384,
                    _ => return None,
                };
                let suite: &'static Tls13CipherSuite = Box::leak(Box::new(Tls13CipherSuite {
                    common: rustls::CipherSuiteCommon {
                        suite: t.common.suite,
                        hash_provider: t.common.hash_provider,
                        confidentiality_limit: t.common.confidentiality_limit,
                    },
                    hkdf_provider: hkdf,
                    aead_alg: t.aead_alg,
                    quic: t.quic,
                }));
                Some(suite)
            })
            .collect()
    });
    all.iter().copied().find(|t| t.common.suite == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 5869, appendix A.1 (SHA-256, basic test case).
    #[test]
    fn rfc5869_case_1() {
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let mut okm = [0u8; 42];
        HKDF_SHA256
            .extract_from_secret(Some(&salt), &ikm)
            .expand_slice(&[&info], &mut okm)
            .unwrap();
        assert_eq!(
            okm.to_vec(),
            hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        );
    }

    /// The same derivations as the aws-lc-rs provider's HKDF, SHA-384
    /// included, for a secret, a zero secret and an expanded block.
    #[test]
    fn matches_the_provider() {
        let theirs = rustls::crypto::aws_lc_rs::default_provider();
        let mut ours = theirs.cipher_suites.clone();
        keyed_once(&mut ours);
        let pairs = theirs.cipher_suites.iter().zip(ours.iter());
        let mut checked = 0;
        for (t, o) in pairs.filter_map(|(t, o)| Some((t.tls13()?, o.tls13()?))) {
            assert_eq!(t.common.suite, o.common.suite);
            let (t, o) = (t.hkdf_provider, o.hkdf_provider);
            let info: &[&[u8]] = &[b"tls13 ", b"derived", b""];
            for salt in [None, Some(&b"some salt"[..])] {
                let a = t.extract_from_secret(salt, b"input key material");
                let b = o.extract_from_secret(salt, b"input key material");
                assert_eq!(a.expand_block(info).as_ref(), b.expand_block(info).as_ref());
                let a = t.extract_from_zero_ikm(salt);
                let b = o.extract_from_zero_ikm(salt);
                let (ba, bb) = (a.expand_block(info), b.expand_block(info));
                assert_eq!(ba.as_ref(), bb.as_ref());
                let (mut x, mut y) = ([0u8; 100], [0u8; 100]);
                t.expander_for_okm(&ba).expand_slice(info, &mut x).unwrap();
                o.expander_for_okm(&bb).expand_slice(info, &mut y).unwrap();
                assert_eq!(x, y);
                assert_eq!(
                    t.hmac_sign(&ba, b"message").as_ref(),
                    o.hmac_sign(&bb, b"message").as_ref()
                );
            }
            checked += 1;
        }
        assert_eq!(checked, 3, "the three TLS 1.3 suites");
    }
}

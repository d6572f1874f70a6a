//! The one crypto provider this crate uses, chosen by measurement (see
//! BENCHMARKS.md, "Crypto provider"). Configs are always built with it
//! explicitly: we are a library loaded into someone else's process, so the
//! process-wide default provider is not ours to rely on or to install.

use std::sync::{Arc, OnceLock};

use rustls::crypto::hash::HashAlgorithm;
use rustls::crypto::CryptoProvider;
use rustls::server::ProducesTickets;
use rustls::SupportedCipherSuite;

use crate::error::NetError;

/// Name of the provider, for reports.
pub const PROVIDER_NAME: &str = "aws-lc-rs";

/// The shared crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut p = rustls::crypto::aws_lc_rs::default_provider();
            our_suites(&mut p.cipher_suites);
            Arc::new(p)
        })
        .clone()
}

/// rustls' suites as we offer them: with an HKDF that keys HMAC once per
/// key (hkdf.rs), and AES-128-GCM before AES-256-GCM, as Go, Chrome and
/// Firefox order them. Servers take the client's order (rustls, OpenSSL and
/// nginx by default), so our clients then run the handshake on SHA-256,
/// which CPUs with SHA extensions hash several times faster than SHA-384,
/// and encrypt with 10 AES rounds instead of 14 (BENCHMARKS.md, "AES-128
/// first"). Our servers keep following the client's order.
pub(super) fn our_suites(suites: &mut [SupportedCipherSuite]) {
    super::hkdf::keyed_once(suites);
    for i in 1..suites.len() {
        let name = |s: SupportedCipherSuite| s.suite().as_str().unwrap_or("");
        let (before, this) = (name(suites[i - 1]), name(suites[i]));
        if this.contains("AES_128_GCM")
            && before == this.replace("AES_128_GCM_SHA256", "AES_256_GCM_SHA384")
        {
            suites.swap(i - 1, i);
        }
    }
}

/// A fresh session ticket encrypter (keys rotate every 6 hours).
pub fn ticketer() -> Result<Arc<dyn ProducesTickets>, NetError> {
    rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| {
        NetError::new(
            "config",
            format!(
                "cannot create session ticketer: {}",
                super::verify_errors::words(&e.to_string())
            ),
        )
    })
}

/// SHA-256 of `data`, computed by the provider (for certificate hashes).
pub fn sha256(data: &[u8]) -> Vec<u8> {
    let hash = provider()
        .cipher_suites
        .iter()
        .filter_map(|s| s.tls13())
        .map(|s| s.common.hash_provider)
        .find(|h| h.algorithm() == HashAlgorithm::SHA256)
        .expect("every provider has a SHA-256 TLS 1.3 suite");
    hash.hash(data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_comes_before_aes_256_gcm_in_each_version() {
        let names: Vec<String> = provider()
            .cipher_suites
            .iter()
            .map(|s| super::super::tuning::iana_name(*s))
            .collect();
        assert_eq!(
            names,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ]
        );
    }

    #[test]
    fn sha256_matches_known_vector() {
        let hex: String = sha256(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ticketer_is_enabled() {
        assert!(ticketer().unwrap().enabled());
    }
}

//! `ios:peer_contains_name(name)`: whether the peer's certificate is valid
//! for a name, by webpki's own check (the one verification applies:
//! wildcards cover one leftmost label, IP addresses match IP SANs only).

use rustls_pki_types::ServerName;

/// Whether `der` (an end-entity certificate) covers `name`, a DNS name or
/// an IP address (`[::1]` brackets allowed). A name that is neither, or a
/// certificate that does not parse, covers nothing.
pub fn cert_contains_name(der: &[u8], name: &str) -> bool {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let Ok(server_name) = ServerName::try_from(bare) else {
        return false;
    };
    let der = rustls_pki_types::CertificateDer::from(der);
    match webpki::EndEntityCert::try_from(&der) {
        Ok(cert) => cert.verify_is_valid_for_subject_name(&server_name).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::cert_der;

    #[test]
    fn names_as_verification_sees_them() {
        let server = cert_der("server");
        assert!(cert_contains_name(&server, "localhost"));
        assert!(cert_contains_name(&server, "LOCALHOST"));
        assert!(cert_contains_name(&server, "127.0.0.1"));
        assert!(cert_contains_name(&server, "[::1]"));
        assert!(cert_contains_name(&server, "::1"));
        assert!(!cert_contains_name(&server, "127.0.0.2"));
        assert!(!cert_contains_name(&server, "other.test"));
        assert!(!cert_contains_name(&server, ""));
        assert!(!cert_contains_name(&server, "bad name!"));
        assert!(cert_contains_name(&cert_der("other"), "other.test"));
        // An IP-only certificate does not cover the name it was issued to
        // as a DNS name.
        assert!(!cert_contains_name(&cert_der("iponly"), "localhost"));
        assert!(!cert_contains_name(b"junk", "localhost"));
    }
}

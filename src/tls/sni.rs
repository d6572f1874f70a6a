//! Server certificate selection by SNI: several certificates on one
//! listener (`certs` option), the first being the fallback for clients that
//! send no name or a name none of them covers.

use std::cell::RefCell;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::x509;

/// Picks a certificate whose SAN (or, without SANs, CN) covers the SNI name.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl SniResolver {
    /// A resolver over `certs`, which must not be empty; the first is the fallback.
    pub fn new(certs: Vec<Arc<CertifiedKey>>) -> Self {
        let certs = certs
            .into_iter()
            .map(|ck| {
                let fields = ck.cert.first().and_then(|c| x509::parse(c).ok());
                let names = match fields {
                    Some(f) if !f.names.is_empty() => f.names,
                    Some(f) => f.common_name.into_iter().collect(),
                    None => Vec::new(),
                };
                (
                    names.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
                    ck,
                )
            })
            .collect();
        Self { certs }
    }

    /// The certificate for `sni`, else the first one.
    pub fn pick(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let wanted = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        let found = wanted.as_deref().and_then(|w| {
            self.certs
                .iter()
                .find(|(names, _)| names.iter().any(|n| name_matches(n, w)))
        });
        found.or(self.certs.first()).map(|(_, ck)| ck.clone())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        SEEN.with(|s| *s.borrow_mut() = Some(name.map(str::to_string)));
        self.pick(name)
    }
}

thread_local! {
    /// The SNI name of the last ClientHello resolved on this thread.
    static SEEN: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// The SNI name (`Some(None)`: none sent) of the ClientHello that a
/// resolver saw on this thread since the last call. rustls' unbuffered
/// server connection does not tell its SNI name, and rustls calls the
/// resolver synchronously, for every ClientHello (resumed ones too),
/// from inside `process_tls_records`; the transport takes the name right
/// after each call (as `revocation::take` does for the verifier).
pub(crate) fn take_seen() -> Option<Option<String>> {
    SEEN.with(|s| s.borrow_mut().take())
}

/// `pattern` (lowercase, maybe `*.example.com`) covers `name` (lowercase).
/// A wildcard stands for exactly one whole leftmost label.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => match name.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest == suffix,
            None => false,
        },
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::config::certified_key;
    use crate::tls::options::{CertKey, PemSource};
    use crate::tls::testutil::path;

    fn ck(name: &str) -> Arc<CertifiedKey> {
        certified_key(&CertKey {
            cert: PemSource::Path(path(&format!("{name}.pem"))),
            key: PemSource::Path(path(&format!("{name}.key"))),
            ocsp_staple: None,
        })
        .unwrap()
    }

    #[test]
    fn picks_by_name_and_falls_back_to_first() {
        let (server, other) = (ck("server"), ck("other"));
        let r = SniResolver::new(vec![server.clone(), other.clone()]);
        assert!(Arc::ptr_eq(&r.pick(Some("other.test")).unwrap(), &other));
        assert!(Arc::ptr_eq(&r.pick(Some("OTHER.test.")).unwrap(), &other));
        assert!(Arc::ptr_eq(&r.pick(Some("localhost")).unwrap(), &server));
        assert!(Arc::ptr_eq(
            &r.pick(Some("nobody.example")).unwrap(),
            &server
        ));
        assert!(Arc::ptr_eq(&r.pick(None).unwrap(), &server));
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(name_matches("host.test", "host.test"));
    }
}

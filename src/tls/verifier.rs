//! Server certificate verification: the WebPKI verifier, wrapped so that
//! (a) a self-signed certificate is reported as such rather than as a bare
//! "unknown issuer", and (b) each `insecure_no_verify_*` option skips only
//! the check it names. These options are the only way to weaken checks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, Error, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::depth::{DepthLimit, Usage};
use super::x509;

/// Marker carried in `CertificateError::Other` when the chain is unknown
/// because the end-entity certificate signed itself.
#[derive(Debug, Clone, Copy)]
pub struct SelfSigned;

impl fmt::Display for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown issuer (self-signed certificate)")
    }
}

impl std::error::Error for SelfSigned {}

/// Which checks to skip; all `false` means full verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip {
    /// Accept any chain and any dates (the host name is still checked
    /// unless `name` is set too; handshake signatures always are).
    pub cert: bool,
    /// Do not check the host name.
    pub name: bool,
    /// Do not check validity dates.
    pub time: bool,
}

/// The client's verifier of server certificates.
#[derive(Debug)]
pub struct ServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    skip: Skip,
    /// Self-signed certificates given in `ca`/`cafile`: trusted as
    /// themselves (pinning), even when WebPKI refuses a CA:TRUE one as an
    /// end entity.
    pinned: Vec<CertificateDer<'static>>,
    depth: Option<DepthLimit>,
}

impl ServerVerifier {
    /// Wraps a WebPKI verifier, skipping the checks named in `skip`.
    pub fn new(inner: Arc<WebPkiServerVerifier>, skip: Skip) -> Self {
        Self {
            inner,
            skip,
            pinned: Vec::new(),
            depth: None,
        }
    }

    /// Trusts these certificates (the self-signed ones among them) as
    /// end entities.
    pub fn with_pinned(mut self, certs: Vec<CertificateDer<'static>>) -> Self {
        self.pinned = certs.into_iter().filter(is_self_signed).collect();
        self
    }

    /// Holds verified chains to `verify_depth`.
    pub fn with_depth(mut self, depth: Option<DepthLimit>) -> Self {
        self.depth = depth;
        self
    }

    /// A pinned certificate: name and dates are still checked (unless
    /// skipped); the handshake signature proves the peer holds its key.
    fn verify_pinned(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if !self.skip.time {
            let f = x509::parse(end_entity)
                .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
            let at =
                |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0) as u64));
            let t = now.as_secs() as i64;
            if t > f.not_after {
                return Err(CertificateError::ExpiredContext {
                    time: now,
                    not_after: at(f.not_after),
                }
                .into());
            }
            if t < f.not_before {
                return Err(CertificateError::NotValidYetContext {
                    time: now,
                    not_before: at(f.not_before),
                }
                .into());
            }
        }
        if !self.skip.name {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_name(&cert, server_name).map_err(|e| readable_names(e, end_entity))?;
        }
        Ok(ServerCertVerified::assertion())
    }
}

/// How many times a date failure may move the verification time: each
/// certificate in a chain can need one move.
const TIME_RETRIES: usize = 8;

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.skip.cert {
            // As libtls: not verifying the certificate (chain, dates) still
            // checks the host name unless insecure_no_verify_name says so.
            if !self.skip.name {
                let cert = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&cert, server_name)
                    .map_err(|e| readable_names(e, end_entity))?;
            }
            return Ok(ServerCertVerified::assertion());
        }
        let mut at = now;
        for _ in 0..TIME_RETRIES {
            let err = match self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp,
                at,
            ) {
                Ok(ok) => {
                    if let Some(d) = &self.depth {
                        d.check(end_entity, intermediates, at, Usage::Server)?;
                    }
                    return Ok(ok);
                }
                Err(_)
                    if self
                        .pinned
                        .iter()
                        .any(|p| p.as_ref() == end_entity.as_ref()) =>
                {
                    return self.verify_pinned(end_entity, server_name, now)
                }
                Err(e) => e,
            };
            // Ignoring time = verifying at a moment the failing cert was valid.
            at = match &err {
                Error::InvalidCertificate(CertificateError::ExpiredContext {
                    not_after, ..
                }) if self.skip.time => UnixTime::since_unix_epoch(Duration::from_secs(
                    not_after.as_secs().saturating_sub(1),
                )),
                Error::InvalidCertificate(CertificateError::NotValidYetContext {
                    not_before,
                    ..
                }) if self.skip.time => *not_before,
                // WebPKI checks the name last, so chain and dates have passed.
                Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) if self.skip.name => return Ok(ServerCertVerified::assertion()),
                Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    if is_self_signed(end_entity) =>
                {
                    return Err(CertificateError::Other(OtherError(Arc::new(SelfSigned))).into())
                }
                _ => return Err(readable_names(err, end_entity)),
            };
        }
        Err(CertificateError::Expired.into())
    }

    super::delegate::forward_signatures!();
}

/// WebPKI lists the presented names in Debug form (`DnsName("a.test")`);
/// put the certificate's SAN names in plain text instead.
fn readable_names(err: Error, end_entity: &CertificateDer<'_>) -> Error {
    match err {
        Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected,
            presented,
        }) => {
            let presented = match x509::parse(end_entity) {
                Ok(f) => f.names,
                Err(_) => presented,
            };
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            }
            .into()
        }
        other => other,
    }
}

/// Subject equals issuer: the certificate claims to have signed itself.
pub fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    x509::parse(cert).map(|f| f.self_issued).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::options::PemSource;
    use crate::tls::pem::add_roots;
    use crate::tls::provider::provider;
    use crate::tls::testutil::{cert_der, path};
    use rustls::RootCertStore;

    fn verifier(skip: Skip) -> ServerVerifier {
        let mut roots = RootCertStore::empty();
        add_roots(&mut roots, &PemSource::Path(path("ca.pem"))).unwrap();
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        ServerVerifier::new(inner, skip)
    }

    fn check(skip: Skip, cert: &str, host: &str) -> Result<ServerCertVerified, Error> {
        let der = CertificateDer::from(cert_der(cert));
        let name = ServerName::try_from(host.to_string()).unwrap();
        verifier(skip).verify_server_cert(&der, &[], &name, &[], UnixTime::now())
    }

    const NONE: Skip = Skip {
        cert: false,
        name: false,
        time: false,
    };
    const NAME: Skip = Skip {
        cert: false,
        name: true,
        time: false,
    };
    const TIME: Skip = Skip {
        cert: false,
        name: false,
        time: true,
    };
    const CERT: Skip = Skip {
        cert: true,
        name: false,
        time: false,
    };

    fn cert_err(r: Result<ServerCertVerified, Error>) -> CertificateError {
        match r {
            Err(Error::InvalidCertificate(c)) => c,
            other => panic!("expected a certificate error, got {other:?}"),
        }
    }

    #[test]
    fn full_verification() {
        assert!(check(NONE, "server", "localhost").is_ok());
        assert!(check(NONE, "server", "127.0.0.1").is_ok());
        assert!(check(NONE, "server", "::1").is_ok());
        assert!(check(NONE, "iponly", "127.0.0.1").is_ok());
        assert!(matches!(
            cert_err(check(NONE, "iponly", "localhost")),
            CertificateError::NotValidForNameContext { .. }
        ));
        assert!(matches!(
            cert_err(check(NONE, "expired", "localhost")),
            CertificateError::ExpiredContext { .. }
        ));
        assert!(matches!(
            cert_err(check(NONE, "notyet", "localhost")),
            CertificateError::NotValidYetContext { .. }
        ));
        assert!(matches!(
            cert_err(check(NONE, "unknownca", "localhost")),
            CertificateError::UnknownIssuer
        ));
    }

    #[test]
    fn self_signed_is_named() {
        match cert_err(check(NONE, "selfsigned", "localhost")) {
            CertificateError::Other(OtherError(e)) => {
                assert!(e.downcast_ref::<SelfSigned>().is_some())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_skip_skips_only_its_check() {
        assert!(check(NAME, "wrongname", "localhost").is_ok());
        assert!(check(NAME, "expired", "wrong.example").is_err());
        assert!(check(NAME, "unknownca", "nothere").is_err());
        assert!(check(TIME, "expired", "localhost").is_ok());
        assert!(check(TIME, "notyet", "localhost").is_ok());
        assert!(check(TIME, "expired", "wrong.example").is_err());
        assert!(check(TIME, "unknownca", "localhost").is_err());
        assert!(check(
            Skip {
                name: true,
                time: true,
                cert: false
            },
            "expired",
            "wrong.example"
        )
        .is_ok());
        assert!(check(CERT, "selfsigned", "localhost").is_ok());
        assert!(check(CERT, "unknownca", "localhost").is_ok());
        assert!(check(CERT, "expired", "localhost").is_ok());
        match cert_err(check(CERT, "selfsigned", "wrong.example")) {
            CertificateError::NotValidForNameContext { presented, .. } => {
                assert_eq!(presented, vec!["localhost", "127.0.0.1"])
            }
            other => panic!("{other:?}"),
        }
        assert!(check(
            Skip {
                cert: true,
                name: true,
                time: false
            },
            "selfsigned",
            "wrong.example"
        )
        .is_ok());
    }
}

//! `verify_depth`: a chain that verified may still be longer than the user
//! allows. The length counted is the peer's certificate plus the
//! intermediates of the path webpki built, up to (not counting) the trust
//! anchor: 1 means a certificate signed by a trusted root itself.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, Error, OtherError, RootCertStore};
use rustls_pki_types::{CertificateDer, UnixTime};

/// Carried in `CertificateError::Other` when a chain is too long.
#[derive(Debug, Clone, Copy)]
pub struct TooDeep {
    /// Certificates in the verified chain, trust anchor not counted.
    pub length: usize,
    /// What `verify_depth` allows.
    pub max: u32,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate chain too long ({} certificates below the trusted root, verify_depth is {})",
            self.length, self.max
        )
    }
}

impl std::error::Error for TooDeep {}

/// Which end a chain authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Usage {
    /// A server's chain.
    Server,
    /// A client's chain.
    Client,
}

/// The depth check, with what it needs to rebuild the verified path.
#[derive(Debug, Clone)]
pub struct DepthLimit {
    max: u32,
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
}

impl DepthLimit {
    /// A limit of `max` over chains to `roots`.
    pub fn new(max: u32, roots: Arc<RootCertStore>, algs: WebPkiSupportedAlgorithms) -> Self {
        Self { max, roots, algs }
    }

    /// Checks a chain that already verified at `now`.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: Usage,
    ) -> Result<(), Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let usage = match usage {
            Usage::Server => webpki::KeyUsage::server_auth(),
            Usage::Client => webpki::KeyUsage::client_auth(),
        };
        let path = cert
            .verify_for_usage(
                self.algs.all,
                &self.roots.roots,
                intermediates,
                now,
                usage,
                None,
                None,
            )
            .map_err(|e| CertificateError::Other(OtherError(Arc::new(e))))?;
        let length = 1 + path.intermediate_certificates().count();
        if length > self.max as usize {
            return Err(CertificateError::Other(OtherError(Arc::new(TooDeep {
                length,
                max: self.max,
            })))
            .into());
        }
        Ok(())
    }
}

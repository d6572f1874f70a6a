//! How a server checks client certificates beyond rustls' WebPKI verifier:
//! [`AnyClientCert`] for trust on first use (`verify_client` with
//! `insecure_no_verify_cert`: any certificate, self-signed or CA:TRUE, is
//! accepted and identified by its hash), and [`DepthLimited`] for
//! `verify_depth` on top of normal verification.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::depth::{DepthLimit, Usage};

/// Accepts any well-formed client certificate. The handshake signature is
/// still checked, so the client holds the certificate's private key.
#[derive(Debug)]
pub struct AnyClientCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    /// `mandatory`: a client without a certificate is refused.
    pub fn new(mandatory: bool, algs: WebPkiSupportedAlgorithms) -> Arc<Self> {
        Arc::new(Self { mandatory, algs })
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        // Well formed enough to carry a key the signature is checked with.
        webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// A client verifier whose verified chains are also held to `verify_depth`.
#[derive(Debug)]
pub struct DepthLimited {
    inner: Arc<dyn ClientCertVerifier>,
    limit: DepthLimit,
}

impl DepthLimited {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ClientCertVerifier>, limit: DepthLimit) -> Arc<Self> {
        Arc::new(Self { inner, limit })
    }
}

impl ClientCertVerifier for DepthLimited {
    super::delegate::forward_client_auth!();

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.limit
            .check(end_entity, intermediates, now, Usage::Client)?;
        Ok(ok)
    }

    super::delegate::forward_signatures!();
}

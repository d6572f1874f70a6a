//! The part of a verifier wrapper that only passes calls on. Our
//! verifiers each add to one check of an `inner` verifier (names, dates,
//! depth, revocation words) and leave the handshake signatures, and on the
//! server side the client-auth offer, to it. These macros write those
//! forwarding methods once, for a struct with an `inner` field.

/// The signature methods of `ServerCertVerifier` or `ClientCertVerifier`
/// (the same three in both), forwarded to `self.inner`.
macro_rules! forward_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &::rustls_pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &::rustls_pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<::rustls::SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
}

/// `ClientCertVerifier`'s client-auth questions (offer it, require it,
/// which CAs to name), forwarded to `self.inner`.
macro_rules! forward_client_auth {
    () => {
        fn offer_client_auth(&self) -> bool {
            self.inner.offer_client_auth()
        }

        fn client_auth_mandatory(&self) -> bool {
            self.inner.client_auth_mandatory()
        }

        fn root_hint_subjects(&self) -> &[::rustls::DistinguishedName] {
            self.inner.root_hint_subjects()
        }
    };
}

pub(crate) use forward_client_auth;
pub(crate) use forward_signatures;

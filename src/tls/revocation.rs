//! Revocation on the client side (CRLs through webpki, stapled OCSP
//! through `ocsp.rs`), and how its findings reach the connection.
//!
//! rustls calls a config's verifier from inside `process_tls_records`,
//! synchronously, on the thread that drives the connection, and gives it
//! no handle on that connection. So the verifiers leave a [`Report`] in a
//! thread-local slot, and the transport takes it right after each
//! `process_tls_records` call: the OCSP status for `ios:info()`, and the
//! words for a failure (which certificate was revoked) that rustls' error
//! enum cannot carry. rustls still gets the precise `CertificateError`, so
//! the alert the peer sees is the right one (`certificate_revoked`,
//! `bad_certificate_status_response`).

use std::cell::RefCell;
use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, Error, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::crl::Crls;
use super::ocsp::{self, CertState, OcspStatus};

/// What verification found out, for the connection that triggered it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The verified stapled OCSP response.
    pub ocsp: Option<OcspStatus>,
    /// Why a stapled response was ignored (it did not verify).
    pub ocsp_error: Option<String>,
    /// The message for the handshake failure, better than rustls' own.
    pub failure: Option<String>,
}

thread_local! {
    static REPORT: RefCell<Option<Report>> = const { RefCell::new(None) };
}

/// Takes the report left by the last verification on this thread.
pub fn take() -> Option<Report> {
    REPORT.with(|r| r.borrow_mut().take())
}

fn put(report: Report) {
    REPORT.with(|r| *r.borrow_mut() = Some(report));
}

/// Records the words for a failing verification.
pub fn fail(message: String) {
    put(Report {
        failure: Some(message),
        ..Report::default()
    })
}

/// What the client checks beyond the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// `ocsp_require`: a verified staple saying `good` is needed.
    pub ocsp_require: bool,
    /// Check OCSP response dates (off with `insecure_no_verify_time`).
    pub time: bool,
    /// Certificates are verified at all (off with `insecure_no_verify_cert`:
    /// no revocation checks either).
    pub cert: bool,
}

/// The client's verifier: the chain verifier (with CRLs) first, then the
/// stapled OCSP response.
#[derive(Debug)]
pub struct RevocationVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    roots: Arc<RootCertStore>,
    crls: Option<Arc<Crls>>,
    checks: Checks,
}

impl RevocationVerifier {
    /// Wraps `inner` (which checks the chain against `roots`, and `crls`).
    pub fn new(
        inner: Arc<dyn ServerCertVerifier>,
        roots: Arc<RootCertStore>,
        crls: Option<Arc<Crls>>,
        checks: Checks,
    ) -> Self {
        Self {
            inner,
            roots,
            crls,
            checks,
        }
    }

    fn check_staple(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        staple: &[u8],
        now: UnixTime,
    ) -> Result<(), Error> {
        let require = self.checks.ocsp_require;
        if staple.is_empty() {
            if require {
                return self.reject("the server stapled no OCSP response (ocsp_require)");
            }
            return Ok(());
        }
        let checked = ocsp::check(
            end_entity,
            intermediates,
            &self.roots,
            staple,
            now,
            self.checks.time,
        );
        match checked {
            Ok(status) => match status.state {
                CertState::Revoked => {
                    let msg = format!("certificate revoked (stapled OCSP response{})", {
                        let mut d = String::new();
                        if let Some(r) = status.reason {
                            d.push_str(", ");
                            d.push_str(r);
                        }
                        if let Some(t) = status.revocation_time {
                            d.push_str(", revoked ");
                            d.push_str(&super::date::format_utc(t));
                        }
                        d
                    });
                    put(Report {
                        ocsp: Some(status),
                        failure: Some(msg),
                        ..Report::default()
                    });
                    Err(CertificateError::Revoked.into())
                }
                CertState::Unknown if require => self.reject(
                    "the stapled OCSP response says the certificate status is unknown \
                     (ocsp_require)",
                ),
                _ => {
                    put(Report {
                        ocsp: Some(status),
                        ..Report::default()
                    });
                    Ok(())
                }
            },
            Err(why) if require => self.reject(&format!(
                "stapled OCSP response rejected: {why} (ocsp_require)"
            )),
            Err(why) => {
                put(Report {
                    ocsp_error: Some(why),
                    ..Report::default()
                });
                Ok(())
            }
        }
    }

    fn reject(&self, message: &str) -> Result<(), Error> {
        fail(message.to_string());
        Err(CertificateError::InvalidOcspResponse.into())
    }
}

impl ServerCertVerifier for RevocationVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .inspect_err(|e| {
                let chain: Vec<&[u8]> = std::iter::once(end_entity.as_ref())
                    .chain(intermediates.iter().map(|c| c.as_ref()))
                    .collect();
                if let Some(words) = self.crls.as_ref().and_then(|c| c.explain(&chain, e)) {
                    fail(words);
                }
            })?;
        if self.checks.cert {
            self.check_staple(end_entity, intermediates, ocsp_response, now)?;
        }
        Ok(verified)
    }

    super::delegate::forward_signatures!();

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

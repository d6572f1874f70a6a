//! Certificate revocation lists (`crl` option): loading, the policy handed
//! to webpki's verifiers, and messages that name what was revoked.
//!
//! Policy (see docs/reference.md, "Revocation"):
//! - the whole chain is checked (end entity and intermediates; the trust
//!   anchor is not), so a revoked intermediate CA fails too;
//! - a certificate whose issuer has no CRL among those given passes
//!   (webpki's `allow_unknown_revocation_status`) unless `crl_require`;
//! - an expired CRL (nextUpdate past) fails every chain it covers, as
//!   OpenSSL does: a stale list cannot say the certificate is still good.
//!   `insecure_no_verify_time` lifts that check with the other dates;
//! - a CRL from a CA that did not issue a certificate is not consulted
//!   for it (webpki matches the CRL issuer with the certificate issuer).
//!
//! The verification itself is webpki's; this file only adds words.

use std::fmt;
use std::sync::Arc;

use rustls::client::ServerCertVerifierBuilder;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ClientCertVerifierBuilder;
use rustls::{CertRevocationListError, CertificateError, Error};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use webpki::{CertRevocationList, OwnedCertRevocationList};

use super::date::format_utc;
use super::der::{tag, Reader};
use super::options::PemSource;
use super::pem::describe_pem_error;
use super::revocation;
use super::revocation_options::RevocationOptions;
use super::x509;
use crate::error::NetError;

/// The CRLs of one config: DER for webpki's verifiers, parsed for messages.
pub struct Crls {
    ders: Vec<CertificateRevocationListDer<'static>>,
    parsed: Vec<CertRevocationList<'static>>,
}

impl Crls {
    /// The lists as loaded (DER).
    pub fn ders(&self) -> impl Iterator<Item = &CertificateRevocationListDer<'static>> {
        self.ders.iter()
    }
}

impl fmt::Debug for Crls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crls({})", self.ders.len())
    }
}

fn config_error(msg: String) -> NetError {
    NetError::new("config", msg)
}

/// Reads every CRL of the options; `None` when none is given. A source
/// that holds no CRL, or a CRL webpki cannot use, is a `config` failure
/// naming the source.
pub fn load(opts: &RevocationOptions) -> Result<Option<Arc<Crls>>, NetError> {
    if opts.crl.is_empty() {
        return Ok(None);
    }
    let mut crls = Crls {
        ders: Vec::new(),
        parsed: Vec::new(),
    };
    for src in &opts.crl {
        for der in read_source(src)? {
            let parsed = OwnedCertRevocationList::from_der(der.as_ref()).map_err(|e| {
                config_error(format!(
                    "unusable CRL in {}: {}",
                    src.describe(),
                    crl_parse_problem(&e)
                ))
            })?;
            crls.parsed.push(parsed.into());
            crls.ders.push(der);
        }
    }
    Ok(Some(Arc::new(crls)))
}

/// The CRLs in a path or PEM text. A file without PEM markers is taken as
/// one DER CRL (as `openssl crl -outform DER` writes).
fn read_source(src: &PemSource) -> Result<Vec<CertificateRevocationListDer<'static>>, NetError> {
    let cannot =
        |why: String| config_error(format!("cannot load CRL from {}: {why}", src.describe()));
    let bytes = match src {
        PemSource::Path(p) => {
            std::fs::read(p).map_err(|e| cannot(NetError::from_io("", &e).message))?
        }
        PemSource::Text(t) => t.as_bytes().to_vec(),
    };
    if !bytes.windows(10).any(|w| w == b"-----BEGIN") {
        if bytes.first() == Some(&tag::SEQUENCE) {
            return Ok(vec![CertificateRevocationListDer::from(bytes)]);
        }
        return Err(cannot("no CRL found (neither PEM nor DER)".into()));
    }
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cannot(describe_pem_error(&e)))?;
    if crls.is_empty() {
        return Err(cannot("no \"X509 CRL\" PEM block found".into()));
    }
    Ok(crls)
}

fn crl_parse_problem(e: &webpki::Error) -> &'static str {
    use webpki::Error as E;
    match e {
        E::UnsupportedCrlVersion => "not a version 2 CRL",
        E::UnsupportedDeltaCrl => "delta CRLs are not supported",
        E::UnsupportedIndirectCrl => "indirect CRLs are not supported",
        E::UnsupportedCriticalExtension => "it has an unknown critical extension",
        E::UnsupportedRevocationReason => "it has an unknown revocation reason",
        E::InvalidCrlNumber => "its CRL number is invalid",
        E::InvalidSerialNumber => "it lists an invalid serial number",
        _ => "malformed (not a DER X.509 CRL)",
    }
}

/// The revocation policy for a client's verifier of server chains.
pub fn server_chain_policy(
    mut b: ServerCertVerifierBuilder,
    crls: &Crls,
    opts: &RevocationOptions,
    check_time: bool,
) -> ServerCertVerifierBuilder {
    b = b.with_crls(crls.ders.clone());
    if !opts.crl_require {
        b = b.allow_unknown_revocation_status();
    }
    if check_time {
        b = b.enforce_revocation_expiration();
    }
    b
}

/// The same policy for a server's verifier of client chains.
pub fn client_chain_policy(
    mut b: ClientCertVerifierBuilder,
    crls: &Crls,
    opts: &RevocationOptions,
) -> ClientCertVerifierBuilder {
    b = b.with_crls(crls.ders.clone());
    if !opts.crl_require {
        b = b.allow_unknown_revocation_status();
    }
    b.enforce_revocation_expiration()
}

/// The issuer Name and serial of a certificate, as webpki compares them
/// (contents without tag and length).
fn issuer_and_serial(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let cert = Reader::new(der).expect(tag::SEQUENCE).ok()?;
    let tbs = Reader::new(cert.content).expect(tag::SEQUENCE).ok()?;
    let mut r = Reader::new(tbs.content);
    r.optional(0xa0).ok()?; // version
    let serial = r.expect(tag::INTEGER).ok()?;
    r.expect(tag::SEQUENCE).ok()?; // signature algorithm
    let issuer = r.expect(tag::SEQUENCE).ok()?;
    Some((issuer.content, serial.content))
}

fn subject_of(der: &[u8]) -> String {
    x509::parse(der)
        .map(|f| f.subject)
        .unwrap_or_else(|_| "a malformed certificate".into())
}

impl Crls {
    /// Words for a revocation failure of `chain` (end entity first), or
    /// `None` when the error is not about revocation.
    pub fn explain(&self, chain: &[&[u8]], err: &Error) -> Option<String> {
        match err {
            Error::InvalidCertificate(CertificateError::Revoked) => Some(self.revoked(chain)),
            Error::InvalidCertificate(CertificateError::UnknownRevocationStatus) => {
                let uncovered = chain.iter().find(|der| {
                    issuer_and_serial(der).is_some_and(|(issuer, _)| {
                        !self.parsed.iter().any(|c| c.issuer() == issuer)
                    })
                });
                Some(match uncovered {
                    Some(der) => format!(
                        "certificate revocation status unknown: no CRL from the issuer of {} \
                         (crl_require)",
                        subject_of(der)
                    ),
                    None => "certificate revocation status unknown (crl_require)".into(),
                })
            }
            Error::InvalidCertificate(
                CertificateError::ExpiredRevocationList
                | CertificateError::ExpiredRevocationListContext { .. },
            ) => Some(match err {
                Error::InvalidCertificate(CertificateError::ExpiredRevocationListContext {
                    next_update,
                    ..
                }) => format!(
                    "CRL expired (next update {}): the revocation status is unknown; \
                     give a current CRL",
                    format_utc(next_update.as_secs() as i64)
                ),
                _ => "CRL expired: the revocation status is unknown; give a current CRL".into(),
            }),
            Error::InvalidCertRevocationList(e) => Some(match e {
                CertRevocationListError::BadSignature => {
                    "a CRL given in 'crl' has a bad signature (not signed by the CA it names)"
                        .into()
                }
                CertRevocationListError::IssuerInvalidForCrl => {
                    "a CRL given in 'crl' was signed by a CA without the cRLSign key usage".into()
                }
                _ => "a CRL given in 'crl' cannot be checked".into(),
            }),
            _ => None,
        }
    }

    /// "certificate revoked: SUBJECT (serial S, REASON, revoked DATE)".
    fn revoked(&self, chain: &[&[u8]]) -> String {
        for (depth, der) in chain.iter().enumerate() {
            let Some((issuer, serial)) = issuer_and_serial(der) else {
                continue;
            };
            for crl in self.parsed.iter().filter(|c| c.issuer() == issuer) {
                let Ok(Some(entry)) = crl.find_serial(serial) else {
                    continue;
                };
                let what = if depth == 0 {
                    "certificate"
                } else {
                    "intermediate CA certificate"
                };
                let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
                let reason = entry
                    .reason_code
                    .map(|r| format!(", {}", reason_name(r as u8)))
                    .unwrap_or_default();
                return format!(
                    "{what} revoked: {} (serial {hex}{reason}, revoked {})",
                    subject_of(der),
                    format_utc(entry.revocation_date.as_secs() as i64)
                );
            }
        }
        "certificate revoked".into()
    }
}

/// The RFC 5280 name of a CRLReason code.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason",
    }
}

/// A server's verifier of client chains with revocation failures put
/// into words (the verification is the inner verifier's).
#[derive(Debug)]
pub struct NamedRevocation {
    inner: Arc<dyn ClientCertVerifier>,
    crls: Arc<Crls>,
}

impl NamedRevocation {
    /// Wraps `inner`, which was built with `crls`.
    pub fn wrap(
        inner: Arc<dyn ClientCertVerifier>,
        crls: Arc<Crls>,
    ) -> Arc<dyn ClientCertVerifier> {
        Arc::new(Self { inner, crls })
    }
}

impl ClientCertVerifier for NamedRevocation {
    super::delegate::forward_client_auth!();

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|e| {
                let chain: Vec<&[u8]> = std::iter::once(end_entity.as_ref())
                    .chain(intermediates.iter().map(|c| c.as_ref()))
                    .collect();
                if let Some(words) = self.crls.explain(&chain, e) {
                    revocation::fail(format!("client certificate rejected: {words}"));
                }
            })
    }

    super::delegate::forward_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::revocation_path as path;

    fn opts(files: &[&str]) -> RevocationOptions {
        RevocationOptions {
            crl: files.iter().map(|f| PemSource::Path(path(f))).collect(),
            ..RevocationOptions::default()
        }
    }

    #[test]
    fn loads_pem_der_and_several() {
        assert!(load(&RevocationOptions::default()).unwrap().is_none());
        let c = load(&opts(&["rca.crl", "rca.crl.der", "rca2.crl"]))
            .unwrap()
            .unwrap();
        assert_eq!(c.parsed.len(), 3);
        let text = std::fs::read_to_string(path("rca.crl")).unwrap();
        let both = RevocationOptions {
            crl: vec![PemSource::Text(text.clone() + &text)],
            ..RevocationOptions::default()
        };
        assert_eq!(load(&both).unwrap().unwrap().parsed.len(), 2);
    }

    #[test]
    fn bad_sources_are_config_errors() {
        let e = load(&opts(&["nonexistent.crl"])).unwrap_err();
        assert_eq!(e.code, "config");
        assert!(e.message.contains("cannot load CRL from"), "{}", e.message);
        let e = load(&opts(&["rca.pem"])).unwrap_err();
        assert!(
            e.message.contains("no \"X509 CRL\" PEM block"),
            "{}",
            e.message
        );
        let e = load(&opts(&["good.ocsp"])).unwrap_err();
        assert!(e.message.contains("unusable CRL in"), "{}", e.message);
        assert!(e.message.contains("malformed"), "{}", e.message);
        let garbage = RevocationOptions {
            crl: vec![PemSource::Text(
                "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n".into(),
            )],
            ..RevocationOptions::default()
        };
        let e = load(&garbage).unwrap_err();
        assert!(e.message.contains("PEM text"), "{}", e.message);
        assert!(!e.message.contains("BadDer"), "{}", e.message);
    }

    #[test]
    fn names_the_revoked_certificate() {
        let c = load(&opts(&["rca2.crl", "rca.crl"])).unwrap().unwrap();
        let der = std::fs::read(path("revoked.pem")).unwrap();
        let der = CertificateDer::from_pem_slice(&der).unwrap();
        let msg = c
            .explain(&[der.as_ref()], &CertificateError::Revoked.into())
            .unwrap();
        assert!(msg.starts_with("certificate revoked: /O=lua-tls tests/CN=revoked (serial 1001, keyCompromise, revoked "), "{msg}");
        assert_eq!(reason_name(10), "aACompromise");
    }
}

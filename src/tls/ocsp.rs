//! Checking a stapled OCSP response (RFC 6960) on the client: parsed with
//! RustCrypto's `x509-ocsp`, signatures checked with the crypto provider's
//! webpki algorithms, so there is no crypto here of our own.
//!
//! A response counts only when all of this holds:
//! - it is a successful basic response with a SingleResponse whose CertID
//!   (hash of the issuer's name, hash of the issuer's key, serial) is the
//!   server certificate's, the issuer being the certificate (among the
//!   chain sent and the trust anchors) whose key verifies the server
//!   certificate's signature;
//! - it is signed by that issuer, or by a responder certificate included in
//!   the response that the issuer signed and that carries the OCSP-signing
//!   extended key usage (and is within its validity dates);
//! - thisUpdate is not in the future and nextUpdate (when present) is not
//!   past, give or take [`SKEW_SECS`].

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::name::Name;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspResponse, OcspResponseStatus, ResponderId,
    SingleResponse,
};

use super::crl::reason_name;
use super::date::format_utc;
use super::der::{tag, Reader};
use super::provider::provider;

/// Clock difference tolerated between us and the responder.
pub const SKEW_SECS: i64 = 300;

const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// What the responder says about the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked,
    /// The responder does not know it.
    Unknown,
}

impl CertState {
    /// `"good"`, `"revoked"` or `"unknown"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked => "revoked",
            Self::Unknown => "unknown",
        }
    }
}

/// A verified OCSP answer for the server certificate (times in epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspStatus {
    /// The certificate's status.
    pub state: CertState,
    /// When the status was known to be correct.
    pub this_update: i64,
    /// When newer information will be available (absent: any time).
    pub next_update: Option<i64>,
    /// Revoked: since when.
    pub revocation_time: Option<i64>,
    /// Revoked: the RFC 5280 reason name (`keyCompromise`), when given.
    pub reason: Option<&'static str>,
}

/// The `ios:info().ocsp` table.
pub fn status_table(lua: &mlua::Lua, s: &OcspStatus) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("status", s.state.name())?;
    t.set("this_update", s.this_update)?;
    t.set("next_update", s.next_update)?;
    t.set("revocation_time", s.revocation_time)?;
    t.set("reason", s.reason)?;
    Ok(t)
}

/// Why a response does not count, in words.
type Why = String;

/// Checks `response` (DER) for `end_entity` sent with `intermediates`
/// and trusted through `roots`, at `now`; dates only when `check_time`.
pub fn check(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &RootCertStore,
    response: &[u8],
    now: UnixTime,
    check_time: bool,
) -> Result<OcspStatus, Why> {
    let basic = basic_response(response)?;
    let cert = Certificate::from_der(end_entity.as_ref())
        .map_err(|_| Why::from("the server certificate cannot be parsed"))?;
    let issuer = find_issuer(&cert, intermediates, roots)?;
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|s| about(&s.cert_id, &cert, &issuer))
        .ok_or_else(|| {
            format!(
                "it is not about this certificate (serial {})",
                hex(cert.tbs_certificate.serial_number.as_bytes())
            )
        })?;
    let signer = signer_key(&basic, &issuer, now, check_time)?;
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(|_| Why::from("it cannot be re-encoded"))?;
    verify(
        &signer,
        &basic.signature_algorithm,
        &tbs,
        basic.signature.raw_bytes(),
    )
    .map_err(|e| format!("its signature does not verify ({e})"))?;
    let status = status_of(single);
    if check_time {
        let now = now.as_secs() as i64;
        if status.this_update > now + SKEW_SECS {
            return Err(format!(
                "it is not valid yet (this update {})",
                format_utc(status.this_update)
            ));
        }
        if let Some(next) = status.next_update {
            if next + SKEW_SECS < now {
                return Err(format!("it expired (next update {})", format_utc(next)));
            }
        }
    }
    Ok(status)
}

/// The basic response inside an OCSPResponse, or why there is none.
pub fn basic_response(response: &[u8]) -> Result<BasicOcspResponse, Why> {
    let outer =
        OcspResponse::from_der(response).map_err(|_| Why::from("it is not a DER OCSP response"))?;
    if outer.response_status != OcspResponseStatus::Successful {
        return Err(format!(
            "the responder answered {}",
            match outer.response_status {
                OcspResponseStatus::MalformedRequest => "malformedRequest",
                OcspResponseStatus::InternalError => "internalError",
                OcspResponseStatus::TryLater => "tryLater",
                OcspResponseStatus::SigRequired => "sigRequired",
                OcspResponseStatus::Unauthorized => "unauthorized",
                OcspResponseStatus::Successful => "successful",
            }
        ));
    }
    let bytes = outer
        .response_bytes
        .ok_or_else(|| Why::from("it holds no response"))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!(
            "its type {} is not the basic OCSP response",
            bytes.response_type
        ));
    }
    BasicOcspResponse::from_der(bytes.response.as_bytes())
        .map_err(|_| Why::from("its basic response is malformed"))
}

/// The certificate that issued `cert`: subject matches its issuer and its
/// key verifies its signature (a same-named certificate with another key
/// cannot stand in).
fn find_issuer(
    cert: &Certificate,
    intermediates: &[CertificateDer<'_>],
    roots: &RootCertStore,
) -> Result<Issuer, Why> {
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|_| Why::from("the server certificate cannot be re-encoded"))?;
    let name = &cert.tbs_certificate.issuer;
    let from_chain = intermediates
        .iter()
        .filter_map(|c| Certificate::from_der(c.as_ref()).ok())
        .filter(|c| &c.tbs_certificate.subject == name)
        .map(|c| Issuer {
            name: c.tbs_certificate.subject,
            key: c.tbs_certificate.subject_public_key_info,
        });
    let from_roots = roots.roots.iter().filter_map(|a| {
        let name = Name::from_der(&sequence(a.subject.as_ref())).ok()?;
        let key =
            SubjectPublicKeyInfoOwned::from_der(&sequence(a.subject_public_key_info.as_ref()))
                .ok()?;
        Some(Issuer { name, key })
    });
    from_chain
        .chain(from_roots.filter(|i| &i.name == name))
        .find(|i| {
            verify(
                &i.key,
                &cert.signature_algorithm,
                &tbs,
                cert.signature.raw_bytes(),
            )
            .is_ok()
        })
        .ok_or_else(|| Why::from("the issuer of the server certificate is not known"))
}

/// A CA: its name and key.
struct Issuer {
    name: Name,
    key: SubjectPublicKeyInfoOwned,
}

/// The CertID names `cert`, issued by `issuer`.
fn about(id: &CertId, cert: &Certificate, issuer: &Issuer) -> bool {
    let Ok(name) = cert.tbs_certificate.issuer.to_der() else {
        return false;
    };
    let key = issuer.key.subject_public_key.raw_bytes();
    id.serial_number == cert.tbs_certificate.serial_number
        && digest(&id.hash_algorithm.oid, &name).as_deref() == Some(id.issuer_name_hash.as_bytes())
        && digest(&id.hash_algorithm.oid, key).as_deref() == Some(id.issuer_key_hash.as_bytes())
}

/// The key that must have signed the response: the issuer's, or that of
/// a responder certificate the issuer authorised.
fn signer_key(
    basic: &BasicOcspResponse,
    issuer: &Issuer,
    now: UnixTime,
    check_time: bool,
) -> Result<SubjectPublicKeyInfoOwned, Why> {
    let is = |name: &Name, key: &SubjectPublicKeyInfoOwned| match &basic
        .tbs_response_data
        .responder_id
    {
        ResponderId::ByName(n) => n == name,
        ResponderId::ByKey(hash) => {
            digest(&ID_SHA1, key.subject_public_key.raw_bytes()).as_deref() == Some(hash.as_bytes())
        }
    };
    if is(&issuer.name, &issuer.key) {
        return Ok(issuer.key.clone());
    }
    let responder = basic
        .certs
        .iter()
        .flatten()
        .find(|c| {
            is(
                &c.tbs_certificate.subject,
                &c.tbs_certificate.subject_public_key_info,
            )
        })
        .ok_or_else(|| {
            Why::from("it is signed by a responder that is neither the issuer nor included")
        })?;
    let tbs = responder
        .tbs_certificate
        .to_der()
        .map_err(|_| Why::from("its responder certificate cannot be re-encoded"))?;
    if responder.tbs_certificate.issuer != issuer.name
        || verify(
            &issuer.key,
            &responder.signature_algorithm,
            &tbs,
            responder.signature.raw_bytes(),
        )
        .is_err()
    {
        return Err(
            "its responder certificate was not issued by the server certificate's issuer".into(),
        );
    }
    if !has_ocsp_signing(responder) {
        return Err("its responder certificate lacks the OCSP signing extended key usage".into());
    }
    if check_time {
        let v = &responder.tbs_certificate.validity;
        let now = now.as_secs();
        if v.not_before.to_unix_duration().as_secs() > now
            || v.not_after.to_unix_duration().as_secs() < now
        {
            return Err("its responder certificate is expired or not yet valid".into());
        }
    }
    Ok(responder.tbs_certificate.subject_public_key_info.clone())
}

fn has_ocsp_signing(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .filter_map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
        .any(|eku| eku.0.contains(&ID_KP_OCSP_SIGNING))
}

fn status_of(single: &SingleResponse) -> OcspStatus {
    let secs = |t: &x509_ocsp::OcspGeneralizedTime| t.0.to_unix_duration().as_secs() as i64;
    let (state, revocation_time, reason) = match &single.cert_status {
        CertStatus::Good(_) => (CertState::Good, None, None),
        CertStatus::Unknown(_) => (CertState::Unknown, None, None),
        CertStatus::Revoked(info) => (
            CertState::Revoked,
            Some(secs(&info.revocation_time)),
            info.revocation_reason.map(|r| reason_name(r as u8)),
        ),
    };
    OcspStatus {
        state,
        this_update: secs(&single.this_update),
        next_update: single.next_update.as_ref().map(secs),
        revocation_time,
        reason,
    }
}

/// Verifies `signature` over `message` with `key`, by the provider's
/// algorithm for this pair of key and signature algorithm identifiers.
fn verify(
    key: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), &'static str> {
    let key_alg = key.algorithm.to_der().map_err(|_| "bad key")?;
    let sig_alg = alg.to_der().map_err(|_| "bad algorithm")?;
    let (key_alg, sig_alg) = (content(&key_alg), content(&sig_alg));
    let found = provider()
        .signature_verification_algorithms
        .all
        .iter()
        .find(|a| {
            a.public_key_alg_id().as_ref() == key_alg && a.signature_alg_id().as_ref() == sig_alg
        })
        .ok_or("unsupported signature algorithm")?;
    found
        .verify_signature(key.subject_public_key.raw_bytes(), message, signature)
        .map_err(|_| "wrong key or corrupted signature")
}

/// The digest named by a CertID's hash algorithm.
fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest as d;
    let algorithm = match *alg {
        ID_SHA1 => &d::SHA1_FOR_LEGACY_USE_ONLY,
        ID_SHA256 => &d::SHA256,
        ID_SHA384 => &d::SHA384,
        ID_SHA512 => &d::SHA512,
        _ => return None,
    };
    Some(d::digest(algorithm, data).as_ref().to_vec())
}

/// The content of a DER SEQUENCE (its bytes after tag and length).
fn content(der: &[u8]) -> &[u8] {
    Reader::new(der)
        .expect(tag::SEQUENCE)
        .map(|t| t.content)
        .unwrap_or_default()
}

/// A DER SEQUENCE around `content` (trust anchors keep only contents).
fn sequence(content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag::SEQUENCE];
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::options::PemSource;
    use crate::tls::pem::add_roots;
    use crate::tls::testutil::revocation_path as path;
    use rustls_pki_types::pem::PemObject;
    use std::time::Duration;

    fn der(name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(path(&format!("{name}.pem"))).unwrap()
    }

    fn roots() -> RootCertStore {
        let mut r = RootCertStore::empty();
        add_roots(&mut r, &PemSource::Path(path("rca.pem"))).unwrap();
        r
    }

    fn run(cert: &str, chain: &[&str], staple: &str, now: UnixTime) -> Result<OcspStatus, Why> {
        let chain: Vec<_> = chain.iter().map(|c| der(c)).collect();
        let staple = std::fs::read(path(staple)).unwrap();
        check(&der(cert), &chain, &roots(), &staple, now, true)
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    #[test]
    fn good_and_revoked() {
        let s = run("good", &[], "good.ocsp", now()).unwrap();
        assert_eq!(s.state, CertState::Good);
        assert!(s.next_update.unwrap() > s.this_update);
        assert_eq!(
            run("good", &[], "good-ca.ocsp", now()).unwrap().state,
            CertState::Good
        );
        let r = run("revoked", &[], "revoked.ocsp", now()).unwrap();
        assert_eq!(r.state, CertState::Revoked);
        assert_eq!(r.reason, Some("keyCompromise"));
        assert!(r.revocation_time.is_some());
        let u = run("unlisted", &[], "unknown.ocsp", now()).unwrap();
        assert_eq!(u.state, CertState::Unknown);
    }

    #[test]
    fn rejects_what_does_not_verify() {
        let e = run("revoked", &[], "good.ocsp", now()).unwrap_err();
        assert!(e.contains("not about this certificate"), "{e}");
        let e = run("good", &[], "rogue.ocsp", now()).unwrap_err();
        assert!(e.contains("not issued by"), "{e}");
        let e = run("good", &[], "noeku.ocsp", now()).unwrap_err();
        assert!(e.contains("OCSP signing"), "{e}");
        let e = run("good", &[], "expired.ocsp", now()).unwrap_err();
        assert!(e.contains("expired (next update 2020-01-02"), "{e}");
        let e = run("good", &[], "future.ocsp", now()).unwrap_err();
        assert!(e.contains("not valid yet"), "{e}");
        let later = UnixTime::since_unix_epoch(Duration::from_secs(now().as_secs() + 40 * 86400));
        let e = run("good", &[], "good.ocsp", later).unwrap_err();
        assert!(e.contains("expired"), "{e}");
        let good = std::fs::read(path("good.ocsp")).unwrap();
        for bad in [&good[..good.len() / 2], b"garbage".as_slice(), &[]] {
            let e = check(&der("good"), &[], &roots(), bad, now(), true).unwrap_err();
            assert!(e.contains("not a DER OCSP response"), "{e}");
        }
        // A responder without the chain's CA: the issuer is not known.
        let e = check(
            &der("good"),
            &[],
            &RootCertStore::empty(),
            &good,
            now(),
            true,
        )
        .unwrap_err();
        assert!(e.contains("issuer"), "{e}");
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let good = std::fs::read(path("good-ca.ocsp")).unwrap();
        // A byte in the middle of the signature; the last digit of the
        // seconds of producedAt, in the signed part.
        let basic = basic_response(&good).unwrap();
        let find = |part: &[u8]| good.windows(part.len()).position(|w| w == part).unwrap();
        let signature = basic.signature.raw_bytes();
        let mut sig = good.clone();
        sig[find(signature) + signature.len() / 2] ^= 1;
        let produced = basic.tbs_response_data.produced_at.to_der().unwrap();
        let digit = find(&produced) + produced.len() - 2; // before the 'Z'
        let mut tbs = good.clone();
        tbs[digit] = if tbs[digit] == b'0' { b'1' } else { b'0' };
        for bad in [sig, tbs] {
            let e = check(&der("good"), &[], &roots(), &bad, now(), false).unwrap_err();
            assert!(e.contains("signature does not verify"), "{e}");
        }
    }

    #[test]
    fn issuer_from_the_chain() {
        // via-inter-ok's issuer comes from the chain; rca's responder
        // cannot speak for it (different CertID issuer).
        let e = run("via-inter-ok", &["inter-ok"], "good.ocsp", now()).unwrap_err();
        assert!(e.contains("not about this certificate"), "{e}");
    }

    #[test]
    fn sequence_lengths() {
        assert_eq!(sequence(&[1, 2]), vec![0x30, 2, 1, 2]);
        let long = sequence(&[0; 300]);
        assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x2c]);
        assert_eq!(content(&long).len(), 300);
    }
}

//! rustls errors as messages a person understands, with the stable codes
//! of the Lua contract: `certificate` for anything about a certificate
//! (ours or the peer's), `handshake` for protocol, cipher, ALPN mismatches
//! and other alerts, `protocol` for what breaks the protocol after the
//! handshake.

use rustls::{AlertDescription, CertificateError, Error, OtherError, PeerIncompatible};

use super::date::format_utc;
use super::depth::TooDeep;
use super::options::Protocols;
use super::verifier::SelfSigned;
use crate::error::NetError;

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// We connected.
    Client,
    /// We accepted.
    Server,
}

/// What the error mapper knows about our end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Our side.
    pub side: Side,
    /// The TLS versions we enabled.
    pub protocols: Protocols,
}

impl Context {
    /// A context with both TLS versions enabled.
    pub fn new(side: Side) -> Self {
        Self {
            side,
            protocols: Protocols::default(),
        }
    }
}

/// The coded failure for a rustls error.
pub fn tls_error(err: &Error, cx: Context) -> NetError {
    let cert = |m: String| NetError::new("certificate", m);
    let hs = |m: String| NetError::new("handshake", m);
    match err {
        Error::InvalidCertificate(c) => match cx.side {
            Side::Client => cert(certificate_problem(c)),
            Side::Server => cert(format!(
                "client certificate rejected: {}",
                certificate_problem(c)
            )),
        },
        Error::NoCertificatesPresented => match cx.side {
            Side::Server => cert("client certificate required".into()),
            Side::Client => cert("server sent no certificate".into()),
        },
        Error::AlertReceived(a) => alert_error(*a, cx),
        Error::PeerIncompatible(p) => hs(incompatible(p, cx)),
        Error::NoApplicationProtocol => hs("no ALPN protocol in common with the peer".into()),
        Error::PeerMisbehaved(m) => hs(format!(
            "peer violated the TLS protocol ({})",
            words(&format!("{m:?}"))
        )),
        Error::InvalidMessage(_)
        | Error::InappropriateMessage { .. }
        | Error::InappropriateHandshakeMessage { .. } => hs(format!(
            "peer sent an invalid TLS message; is it speaking TLS? ({})",
            words(&err.to_string())
        )),
        Error::DecryptError => hs("cannot decrypt data from peer (corrupted or tampered)".into()),
        Error::General(m) => hs(m.clone()),
        other => hs(format!("TLS error: {}", words(&other.to_string()))),
    }
}

/// The coded failure for a rustls error after the handshake: `protocol`
/// where [`tls_error`] says `handshake` (a record that does not decrypt,
/// bytes that are no TLS), except for an alert about the handshake, which
/// in TLS 1.3 can arrive after ours is over (the server's verdict on our
/// last flight).
pub fn traffic_error(err: &Error, cx: Context) -> NetError {
    use AlertDescription as A;
    let mut e = tls_error(err, cx);
    let about_handshake = matches!(
        err,
        Error::AlertReceived(
            A::HandshakeFailure
                | A::ProtocolVersion
                | A::NoApplicationProtocol
                | A::UnrecognisedName
                | A::InsufficientSecurity
        )
    );
    if e.code == "handshake" && !about_handshake {
        e.code = "protocol";
    }
    e
}

/// What is wrong with a certificate, without saying whose it is.
pub fn certificate_problem(c: &CertificateError) -> String {
    use CertificateError as C;
    match c {
        C::ExpiredContext { not_after, .. } => {
            format!(
                "certificate expired (not after {})",
                format_utc(not_after.as_secs() as i64)
            )
        }
        C::Expired => "certificate expired".into(),
        C::NotValidYetContext { not_before, .. } => {
            format!(
                "certificate not yet valid (not before {})",
                format_utc(not_before.as_secs() as i64)
            )
        }
        C::NotValidYet => "certificate not yet valid".into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = expected.to_str();
            if presented.is_empty() {
                format!("certificate has no host names, not valid for {expected}")
            } else {
                format!(
                    "certificate is for {}, not {expected}",
                    presented.join(", ")
                )
            }
        }
        C::NotValidForName => "certificate is not valid for this host name".into(),
        C::UnknownIssuer => "unknown issuer".into(),
        C::Other(OtherError(e)) if e.downcast_ref::<SelfSigned>().is_some() => {
            SelfSigned.to_string()
        }
        C::Other(OtherError(e)) if e.downcast_ref::<TooDeep>().is_some() => e.to_string(),
        C::Other(OtherError(e)) => match e.downcast_ref::<webpki::Error>() {
            Some(w) => webpki_problem(w),
            None => format!("certificate rejected: {}", words(&e.to_string())),
        },
        C::BadSignature => "certificate has a bad signature".into(),
        C::BadEncoding => "certificate is malformed".into(),
        C::Revoked => "certificate revoked".into(),
        C::UnhandledCriticalExtension => "certificate has an unknown critical extension".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate is not allowed for this purpose (extended key usage)".into()
        }
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "certificate uses an unsupported signature algorithm".into()
        }
        other => format!("certificate rejected: {}", words(&format!("{other:?}"))),
    }
}

/// webpki's reasons that rustls passes on unmapped (their `Display` is
/// their `Debug`).
fn webpki_problem(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::CaUsedAsEndEntity => "certificate is a CA certificate (basicConstraints CA:TRUE) \
            used as an end-entity certificate; to trust a self-signed one, pin it with 'ca' \
            or 'cafile'"
            .into(),
        W::EndEntityUsedAsCa => {
            "an end-entity certificate (CA:FALSE) signed another certificate in the chain".into()
        }
        W::CertRevoked => "certificate revoked".into(),
        W::UnknownIssuer => "unknown issuer".into(),
        W::BadDer | W::BadDerTime => "certificate is malformed".into(),
        W::PathLenConstraintViolated => {
            "certificate chain too long for a CA's path length constraint".into()
        }
        W::MaximumPathDepthExceeded | W::MaximumPathBuildCallsExceeded => {
            "certificate chain too long to verify".into()
        }
        W::RequiredEkuNotFoundContext(_) => {
            "certificate is not allowed for this purpose (extended key usage)".into()
        }
        other => format!("certificate rejected: {}", words(&format!("{other:?}"))),
    }
}

/// A Rust debug string (`Other(OtherError(CaUsedAsEndEntity))`,
/// `IllegalMiddleboxChangeCipherSpec`) as plain words: identifiers split
/// at case changes and lowercased, wrapper names and brackets dropped.
pub fn words(debug: &str) -> String {
    let mut out = String::new();
    let mut ident = String::new();
    let flush = |ident: &mut String, out: &mut String| {
        if ident.is_empty() {
            return;
        }
        let camel = ident.chars().any(|c| c.is_ascii_lowercase())
            && ident.chars().skip(1).any(|c| c.is_ascii_uppercase());
        let text = if camel {
            let mut t = String::new();
            let chars: Vec<char> = ident.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                let prev = i.checked_sub(1).map(|j| chars[j]);
                let boundary = c.is_ascii_uppercase()
                    && prev.is_some_and(|p| {
                        p.is_ascii_lowercase() || p.is_ascii_digit() || next_lower
                    });
                if boundary {
                    t.push(' ');
                }
                t.push(c.to_ascii_lowercase());
            }
            t
        } else {
            ident.clone()
        };
        if !matches!(
            text.to_ascii_lowercase().as_str(),
            "other" | "other error" | "some"
        ) {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            out.push_str(&text);
        }
        ident.clear();
    };
    for c in debug.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
            ident.push(c);
        } else {
            flush(&mut ident, &mut out);
            match c {
                '(' | ')' | '{' | '}' | '[' | ']' | '"' => {}
                ' ' if out.ends_with(' ') || out.is_empty() => {}
                c => out.push(c),
            }
        }
    }
    flush(&mut ident, &mut out);
    out.trim().to_string()
}

/// An alert the peer sent us.
fn alert_error(a: AlertDescription, cx: Context) -> NetError {
    use AlertDescription as A;
    let name = alert_name(a);
    let cert = |m: String| NetError::new("certificate", m);
    let hs = |m: String| NetError::new("handshake", m);
    match a {
        A::CertificateRequired => cert("client certificate required".into()),
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateRevoked
        | A::CertificateExpired
        | A::CertificateUnknown
        | A::UnknownCA => match cx.side {
            Side::Client => cert(format!("client certificate rejected by the server (alert {name})")),
            Side::Server => cert(format!("the client rejected our certificate (alert {name})")),
        },
        A::ProtocolVersion => hs(match (cx.protocols.tls12, cx.protocols.tls13) {
            (false, true) => format!("peer does not support TLS 1.3 (alert {name})"),
            (true, false) => format!("peer does not support TLS 1.2 (alert {name})"),
            _ => format!("peer supports neither TLS 1.2 nor TLS 1.3 (alert {name})"),
        }),
        A::HandshakeFailure => {
            hs(format!("peer refused the handshake: no cipher suite, group or signature scheme in common, or a client certificate is needed (alert {name})"))
        }
        A::NoApplicationProtocol => hs(format!("no ALPN protocol in common with the peer (alert {name})")),
        A::UnrecognisedName => hs(format!("peer does not serve the name sent as SNI (alert {name})")),
        A::InsufficientSecurity => hs(format!("peer requires stronger security (alert {name})")),
        _ => hs(format!("peer sent alert {name}")),
    }
}

/// Words for rustls' "peer incompatible" diagnoses.
fn incompatible(p: &PeerIncompatible, cx: Context) -> String {
    use PeerIncompatible as P;
    match p {
        // A server that enabled one version knows which one the peer lacks.
        P::Tls12NotOfferedOrEnabled if !cx.protocols.tls12 => {
            "peer does not support TLS 1.3".into()
        }
        P::Tls12NotOfferedOrEnabled if !cx.protocols.tls13 => {
            "peer does not support TLS 1.2".into()
        }
        P::SupportedVersionsExtensionRequired => "peer does not support TLS 1.3".into(),
        P::Tls12NotOffered => "peer supports only TLS versions older than 1.2".into(),
        P::Tls12NotOfferedOrEnabled => "no TLS version in common with the peer".into(),
        P::ServerTlsVersionIsDisabledByOurConfig => {
            "server chose a TLS version that is disabled here".into()
        }
        P::ServerDoesNotSupportTls12Or13 => "server supports neither TLS 1.2 nor TLS 1.3".into(),
        P::NoCipherSuitesInCommon => "no cipher suite in common with the peer".into(),
        P::NoKxGroupsInCommon => "no key exchange group in common with the peer".into(),
        P::NoSignatureSchemesInCommon | P::NoCertificateRequestSignatureSchemesInCommon => {
            "no signature scheme in common with the peer".into()
        }
        other => format!("peer is incompatible ({})", words(&format!("{other:?}"))),
    }
}

/// The RFC 8446 name of an alert (`unknown_ca`).
pub fn alert_name(a: AlertDescription) -> String {
    use AlertDescription as A;
    let s = match a {
        A::CloseNotify => "close_notify",
        A::UnexpectedMessage => "unexpected_message",
        A::BadRecordMac => "bad_record_mac",
        A::DecryptionFailed => "decryption_failed",
        A::RecordOverflow => "record_overflow",
        A::DecompressionFailure => "decompression_failure",
        A::HandshakeFailure => "handshake_failure",
        A::NoCertificate => "no_certificate",
        A::BadCertificate => "bad_certificate",
        A::UnsupportedCertificate => "unsupported_certificate",
        A::CertificateRevoked => "certificate_revoked",
        A::CertificateExpired => "certificate_expired",
        A::CertificateUnknown => "certificate_unknown",
        A::IllegalParameter => "illegal_parameter",
        A::UnknownCA => "unknown_ca",
        A::AccessDenied => "access_denied",
        A::DecodeError => "decode_error",
        A::DecryptError => "decrypt_error",
        A::ExportRestriction => "export_restriction",
        A::ProtocolVersion => "protocol_version",
        A::InsufficientSecurity => "insufficient_security",
        A::InternalError => "internal_error",
        A::InappropriateFallback => "inappropriate_fallback",
        A::UserCanceled => "user_canceled",
        A::NoRenegotiation => "no_renegotiation",
        A::MissingExtension => "missing_extension",
        A::UnsupportedExtension => "unsupported_extension",
        A::CertificateUnobtainable => "certificate_unobtainable",
        A::UnrecognisedName => "unrecognized_name",
        A::BadCertificateStatusResponse => "bad_certificate_status_response",
        A::BadCertificateHashValue => "bad_certificate_hash_value",
        A::UnknownPSKIdentity => "unknown_psk_identity",
        A::CertificateRequired => "certificate_required",
        A::NoApplicationProtocol => "no_application_protocol",
        A::EncryptedClientHelloRequired => "encrypted_client_hello_required",
        other => return format!("{}", u8::from(other)),
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::ContentType;
    use rustls_pki_types::{ServerName, UnixTime};
    use std::sync::Arc;
    use std::time::Duration;

    const CLIENT: Context = Context {
        side: Side::Client,
        protocols: Protocols {
            tls12: true,
            tls13: true,
        },
    };
    const SERVER: Context = Context {
        side: Side::Server,
        protocols: Protocols {
            tls12: true,
            tls13: true,
        },
    };

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    fn show(e: Error, cx: Context) -> (String, &'static str) {
        let n = tls_error(&e, cx);
        (n.message, n.code)
    }

    #[test]
    fn after_the_handshake_broken_records_are_protocol_failures() {
        let code = |e: Error| traffic_error(&e, CLIENT).code;
        assert_eq!(code(Error::DecryptError), "protocol");
        assert_eq!(
            code(Error::AlertReceived(AlertDescription::BadRecordMac)),
            "protocol"
        );
        // What the peer says of the handshake or of our certificate keeps
        // its code: in TLS 1.3 it comes after our handshake is over.
        assert_eq!(
            code(Error::AlertReceived(AlertDescription::HandshakeFailure)),
            "handshake"
        );
        assert_eq!(
            code(Error::AlertReceived(AlertDescription::CertificateRequired)),
            "certificate"
        );
        assert_eq!(tls_error(&Error::DecryptError, CLIENT).code, "handshake");
    }

    #[test]
    fn certificate_messages() {
        let expired = Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: at(1_700_000_000),
            not_after: at(1_577_836_800),
        });
        assert_eq!(
            show(expired, CLIENT),
            (
                "certificate expired (not after 2020-01-01 00:00:00 UTC)".into(),
                "certificate"
            )
        );
        let notyet = Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: at(0),
            not_before: at(3_786_912_000),
        });
        assert_eq!(
            show(notyet, CLIENT).0,
            "certificate not yet valid (not before 2090-01-01 00:00:00 UTC)"
        );
        let name = Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("localhost").unwrap(),
            presented: vec!["wrong.example".into()],
        });
        assert_eq!(
            show(name, CLIENT).0,
            "certificate is for wrong.example, not localhost"
        );
        let two = Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("10.0.0.1").unwrap(),
            presented: vec!["a.test".into(), "127.0.0.1".into()],
        });
        assert_eq!(
            show(two, CLIENT).0,
            "certificate is for a.test, 127.0.0.1, not 10.0.0.1"
        );
        assert_eq!(
            show(
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                CLIENT
            )
            .0,
            "unknown issuer"
        );
        let selfsigned =
            Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(SelfSigned))));
        assert_eq!(
            show(selfsigned, CLIENT),
            (
                "unknown issuer (self-signed certificate)".into(),
                "certificate"
            )
        );
    }

    #[test]
    fn no_debug_strings() {
        assert_eq!(
            words("Other(OtherError(CaUsedAsEndEntity))"),
            "ca used as end entity"
        );
        assert_eq!(
            words("IllegalMiddleboxChangeCipherSpec"),
            "illegal middlebox change cipher spec"
        );
        assert_eq!(
            words("peer is incompatible: NoKxGroupsInCommon"),
            "peer is incompatible: no kx groups in common"
        );
        let ca = Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        ))));
        let (msg, code) = show(ca, CLIENT);
        assert_eq!(code, "certificate");
        assert!(msg.starts_with("certificate is a CA certificate"), "{msg}");
        let deep =
            Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(TooDeep {
                length: 3,
                max: 2,
            }))));
        let (msg, _) = show(deep, SERVER);
        assert!(msg.contains("chain too long (3 certificates"), "{msg}");
        for e in [
            Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                webpki::Error::InvalidCrlNumber,
            )))),
            Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
            Error::PeerMisbehaved(rustls::PeerMisbehaved::IllegalMiddleboxChangeCipherSpec),
            Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch),
        ] {
            let msg = tls_error(&e, CLIENT).message;
            let camel = msg.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| {
                w.chars().skip(1).any(|c| c.is_ascii_uppercase())
                    && w.chars().any(|c| c.is_ascii_lowercase())
            });
            assert!(!camel, "{msg}");
        }
    }

    #[test]
    fn client_certificate_messages() {
        assert_eq!(
            show(Error::NoCertificatesPresented, SERVER),
            ("client certificate required".into(), "certificate")
        );
        assert_eq!(
            show(
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                SERVER
            )
            .0,
            "client certificate rejected: unknown issuer"
        );
        assert_eq!(
            show(
                Error::AlertReceived(AlertDescription::CertificateRequired),
                CLIENT
            )
            .0,
            "client certificate required"
        );
        assert_eq!(
            show(Error::AlertReceived(AlertDescription::UnknownCA), CLIENT),
            (
                "client certificate rejected by the server (alert unknown_ca)".into(),
                "certificate"
            )
        );
        assert_eq!(
            show(
                Error::AlertReceived(AlertDescription::BadCertificate),
                SERVER
            )
            .0,
            "the client rejected our certificate (alert bad_certificate)"
        );
    }

    #[test]
    fn handshake_messages() {
        let only13 = Context {
            side: Side::Client,
            protocols: Protocols {
                tls12: false,
                tls13: true,
            },
        };
        assert_eq!(
            show(
                Error::AlertReceived(AlertDescription::ProtocolVersion),
                only13
            ),
            (
                "peer does not support TLS 1.3 (alert protocol_version)".into(),
                "handshake"
            )
        );
        let only12 = Context {
            side: Side::Client,
            protocols: Protocols {
                tls12: true,
                tls13: false,
            },
        };
        assert_eq!(
            show(
                Error::AlertReceived(AlertDescription::ProtocolVersion),
                only12
            )
            .0,
            "peer does not support TLS 1.2 (alert protocol_version)"
        );
        assert_eq!(
            show(
                Error::PeerIncompatible(PeerIncompatible::SupportedVersionsExtensionRequired),
                SERVER
            ),
            ("peer does not support TLS 1.3".into(), "handshake")
        );
        assert_eq!(
            show(Error::NoApplicationProtocol, SERVER).0,
            "no ALPN protocol in common with the peer"
        );
        assert_eq!(
            show(
                Error::AlertReceived(AlertDescription::NoApplicationProtocol),
                CLIENT
            )
            .0,
            "no ALPN protocol in common with the peer (alert no_application_protocol)"
        );
        assert_eq!(
            show(
                Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
                SERVER
            )
            .0,
            "no cipher suite in common with the peer"
        );
        let bad = Error::InappropriateMessage {
            expect_types: vec![ContentType::Handshake],
            got_type: ContentType::ApplicationData,
        };
        let (msg, code) = show(bad, CLIENT);
        assert!(msg.starts_with("peer sent an invalid TLS message"), "{msg}");
        assert_eq!(code, "handshake");
        assert_eq!(
            show(
                Error::AlertReceived(AlertDescription::InternalError),
                CLIENT
            )
            .0,
            "peer sent alert internal_error"
        );
    }
}

//! Loading certificates and keys from a path or PEM text, through
//! `rustls_pki_types::pem::PemObject` (not the archived `rustls-pemfile`).
//! Failures are runtime errors with code `config` that name the file and
//! say in plain words what is wrong with it (no PEM block, no certificate,
//! an encrypted key...), never pki-types' Debug output.

use std::borrow::Cow;

use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::options::PemSource;
use crate::error::NetError;

fn config_error(msg: String) -> NetError {
    NetError::new("config", msg)
}

/// A PEM parsing failure in words. `NoItemsFound` is better said by the
/// caller, who knows what it looked for (see [`missing`]).
pub fn describe_pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => NetError::from_io("", io).message,
        pem::Error::NoItemsFound => "no PEM block found".into(),
        pem::Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(end_marker);
            format!("the \"{label}\" PEM block has no \"-----END {label}-----\" line")
        }
        pem::Error::IllegalSectionStart { line } => {
            let line = String::from_utf8_lossy(line);
            let line: String = line.trim_end().chars().take(60).collect();
            format!("malformed PEM line \"{line}\" (a BEGIN line ends in five dashes)")
        }
        pem::Error::Base64Decode(_) => "the contents of a PEM block are not valid base64".into(),
        pem::Error::SectionTooLarge => "a PEM block is larger than 256 MB".into(),
        other => other.to_string(),
    }
}

/// The bytes of a source: the file's contents, or the text itself.
fn read(src: &PemSource) -> Result<Cow<'_, [u8]>, String> {
    match src {
        PemSource::Path(p) => std::fs::read(p)
            .map(Cow::Owned)
            .map_err(|e| NetError::from_io("", &e).message),
        PemSource::Text(t) => Ok(Cow::Borrowed(t.as_bytes())),
    }
}

/// The labels of the PEM blocks in `bytes` (`CERTIFICATE`, `PRIVATE KEY`).
fn labels(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .map(str::to_string)
        .collect()
}

/// Whether `bytes` hold a password-protected key (PKCS#8 or OpenSSL's
/// legacy `Proc-Type` header), which rustls cannot read.
fn encrypted(bytes: &[u8]) -> bool {
    const LEGACY: &[u8] = b"Proc-Type: 4,ENCRYPTED";
    labels(bytes).iter().any(|l| l == "ENCRYPTED PRIVATE KEY")
        || bytes.windows(LEGACY.len()).any(|w| w == LEGACY)
}

/// Why a source holds no block of the kind wanted (`a certificate`):
/// what it holds instead.
fn missing(bytes: &[u8], wanted: &str) -> String {
    let found = labels(bytes);
    if found.is_empty() {
        // DER (`openssl x509 -outform DER`) starts with a SEQUENCE.
        return if bytes.first() == Some(&0x30) {
            format!("no PEM block found, {wanted} is read as PEM only (this looks like DER)")
        } else {
            "no PEM block found".into()
        };
    }
    let mut kinds: Vec<String> = Vec::new();
    for l in found {
        let quoted = format!("\"{l}\"");
        if !kinds.contains(&quoted) {
            kinds.push(quoted);
        }
    }
    format!("it holds only {} PEM blocks", kinds.join(", "))
}

fn cannot_load(what: &str, src: &PemSource, why: &str) -> NetError {
    config_error(format!("cannot load {what} from {}: {why}", src.describe()))
}

/// All certificates in a source, in order (a chain: end entity first).
/// They are not parsed: see [`load_chain`] for a chain of our own.
pub fn load_certs(src: &PemSource) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let bytes = read(src).map_err(|why| cannot_load("certificates", src, &why))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(CertificateDer::into_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cannot_load("certificates", src, &describe_pem_error(&e)))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "no certificate found in {} ({})",
            src.describe(),
            missing(&bytes, "a certificate")
        )));
    }
    Ok(certs)
}

/// Our own chain (`cert`): as [`load_certs`], and each block must be an
/// X.509 certificate, so a broken one is reported as the certificate's
/// fault here rather than as a key that does not match it.
pub fn load_chain(src: &PemSource) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let chain = load_certs(src)?;
    for (i, der) in chain.iter().enumerate() {
        if let Err(e) = webpki::EndEntityCert::try_from(der) {
            let why = match e {
                webpki::Error::UnsupportedCertVersion => "not an X.509 version 3 certificate",
                _ => "not a valid X.509 certificate (malformed DER)",
            };
            let which = if chain.len() == 1 {
                String::from("the certificate")
            } else {
                format!("certificate {} of {}", i + 1, chain.len())
            };
            return Err(config_error(format!(
                "unusable certificate {}: {which} is {why}",
                src.describe()
            )));
        }
    }
    Ok(chain)
}

/// The first private key in a source: PKCS#8, SEC1 or PKCS#1.
pub fn load_key(src: &PemSource) -> Result<PrivateKeyDer<'static>, NetError> {
    let bytes = read(src).map_err(|why| cannot_load("private key", src, &why))?;
    let refuse_encrypted = || {
        config_error(format!(
            "private key {} is encrypted, which is not supported \
             (store it unencrypted, e.g. openssl pkey -in FILE -out PLAIN)",
            src.describe()
        ))
    };
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => Ok(k),
        Err(pem::Error::NoItemsFound | pem::Error::Base64Decode(_)) if encrypted(&bytes) => {
            Err(refuse_encrypted())
        }
        Err(pem::Error::NoItemsFound) => Err(config_error(format!(
            "no private key found in {} ({})",
            src.describe(),
            missing(&bytes, "a key")
        ))),
        Err(e) => Err(cannot_load("private key", src, &describe_pem_error(&e))),
    }
}

/// Adds every certificate of `src` to `roots`; an empty or unusable
/// source is an error (a typo must not leave a store with nothing in it).
pub fn add_roots(roots: &mut RootCertStore, src: &PemSource) -> Result<(), NetError> {
    let (added, _ignored) = roots.add_parsable_certificates(load_certs(src)?);
    if added == 0 {
        return Err(config_error(format!(
            "no usable CA certificate in {}",
            src.describe()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::{path, text};

    fn pem_text(s: &str) -> PemSource {
        PemSource::Text(s.into())
    }

    #[test]
    fn loads_from_path_and_text() {
        let from_path = load_certs(&PemSource::Path(path("server.pem"))).unwrap();
        let from_text = load_certs(&PemSource::Text(text("server.pem"))).unwrap();
        assert_eq!(from_path, from_text);
        assert_eq!(from_path.len(), 1);
        assert_eq!(
            load_chain(&PemSource::Path(path("server.pem"))).unwrap(),
            from_path
        );
    }

    #[test]
    fn loads_every_key_form() {
        for (file, form) in [
            ("server.key", "PKCS#8"),
            ("server-sec1.key", "SEC1"),
            ("rsa.key", "PKCS#1"),
        ] {
            let k =
                load_key(&PemSource::Path(path(file))).unwrap_or_else(|e| panic!("{form}: {e}"));
            let want = match form {
                "PKCS#8" => matches!(k, PrivateKeyDer::Pkcs8(_)),
                "SEC1" => matches!(k, PrivateKeyDer::Sec1(_)),
                _ => matches!(k, PrivateKeyDer::Pkcs1(_)),
            };
            assert!(want, "{file} should load as {form}");
            assert!(load_key(&PemSource::Text(text(file))).is_ok());
        }
    }

    #[test]
    fn failures_name_the_source() {
        let e = load_certs(&PemSource::Path("/nonexistent/x.pem".into())).unwrap_err();
        assert_eq!(e.code, "config");
        assert!(e.message.contains("/nonexistent/x.pem"), "{}", e.message);
        assert!(e.message.contains("no such file"), "{}", e.message);
        let e = load_key(&PemSource::Path(path("server.pem"))).unwrap_err();
        assert!(
            e.message.contains("no private key found in")
                && e.message
                    .contains("it holds only \"CERTIFICATE\" PEM blocks"),
            "{}",
            e.message
        );
        let e = load_certs(&PemSource::Path(path("server.key"))).unwrap_err();
        assert!(
            e.message.contains("no certificate found")
                && e.message.contains("only \"PRIVATE KEY\" PEM blocks"),
            "{}",
            e.message
        );
        let mut roots = RootCertStore::empty();
        assert!(add_roots(
            &mut roots,
            &pem_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        )
        .is_err());
        add_roots(&mut roots, &PemSource::Path(path("ca.pem"))).unwrap();
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn pem_errors_in_words() {
        let certs = |s: &str| load_certs(&pem_text(s)).unwrap_err().message;
        assert_eq!(
            certs("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n"),
            "cannot load certificates from PEM text: \
             the contents of a PEM block are not valid base64"
        );
        assert_eq!(
            certs("-----BEGIN CERTIFICATE-----\nMIIB\n"),
            "cannot load certificates from PEM text: \
             the \"CERTIFICATE\" PEM block has no \"-----END CERTIFICATE-----\" line"
        );
        assert!(certs("-----BEGIN CERTIFICATE\nMIIB\n").contains("malformed PEM line"));
        let e = load_key(&pem_text("just words")).unwrap_err().message;
        assert_eq!(e, "no private key found in PEM text (no PEM block found)");
    }

    #[test]
    fn der_and_encrypted_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("tls-pem-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let der = dir.join("cert.der");
        std::fs::write(&der, [0x30, 0x82, 0x01, 0x00, 0x30]).unwrap();
        let e = load_certs(&PemSource::Path(der)).unwrap_err().message;
        assert!(e.contains("this looks like DER"), "{e}");
        for enc in [
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIB\n-----END RSA PRIVATE KEY-----\n",
        ] {
            let e = load_key(&pem_text(enc)).unwrap_err().message;
            assert!(e.contains("is encrypted, which is not supported"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_chain_must_parse() {
        let junk = "-----BEGIN CERTIFICATE-----\nMIIBAAECAwQ=\n-----END CERTIFICATE-----\n";
        assert!(load_certs(&pem_text(junk)).is_ok());
        let e = load_chain(&pem_text(junk)).unwrap_err().message;
        assert_eq!(
            e,
            "unusable certificate PEM text: the certificate is not a valid X.509 \
             certificate (malformed DER)"
        );
        let two = text("server.pem") + junk;
        let e = load_chain(&pem_text(&two)).unwrap_err().message;
        assert!(e.contains("certificate 2 of 2 is not a valid"), "{e}");
    }
}

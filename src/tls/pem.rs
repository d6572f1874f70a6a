//! Loading certificates and keys from a path or PEM text, through
//! `rustls_pki_types::pem::PemObject` (not the archived `rustls-pemfile`).
//! Failures are runtime errors with code `config`, naming the file.

use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::options::PemSource;
use crate::error::NetError;

fn config_error(msg: String) -> NetError {
    NetError::new("config", msg)
}

fn describe_pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => crate::error::NetError::from_io("", io).message,
        pem::Error::NoItemsFound => "no PEM items found".to_string(),
        other => other.to_string(),
    }
}

/// All certificates in a source, in order (a chain: end entity first).
pub fn load_certs(src: &PemSource) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let fail = |e: pem::Error| {
        config_error(format!(
            "cannot load certificates from {}: {}",
            src.describe(),
            describe_pem_error(&e)
        ))
    };
    let certs: Vec<_> = match src {
        PemSource::Path(p) => CertificateDer::pem_file_iter(p)
            .map_err(fail)?
            .collect::<Result<_, _>>(),
        PemSource::Text(t) => {
            CertificateDer::pem_slice_iter(t.as_bytes()).collect::<Result<_, _>>()
        }
    }
    .map_err(fail)?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "no certificate found in {}",
            src.describe()
        )));
    }
    Ok(certs)
}

/// The first private key in a source: PKCS#8, SEC1 or PKCS#1.
pub fn load_key(src: &PemSource) -> Result<PrivateKeyDer<'static>, NetError> {
    let r = match src {
        PemSource::Path(p) => PrivateKeyDer::from_pem_file(p),
        PemSource::Text(t) => PrivateKeyDer::from_pem_slice(t.as_bytes()),
    };
    r.map_err(|e| match e {
        pem::Error::NoItemsFound => {
            config_error(format!("no private key found in {}", src.describe()))
        }
        e => config_error(format!(
            "cannot load private key from {}: {}",
            src.describe(),
            describe_pem_error(&e)
        )),
    })
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

    #[test]
    fn loads_from_path_and_text() {
        let from_path = load_certs(&PemSource::Path(path("server.pem"))).unwrap();
        let from_text = load_certs(&PemSource::Text(text("server.pem"))).unwrap();
        assert_eq!(from_path, from_text);
        assert_eq!(from_path.len(), 1);
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
            e.message.contains("no private key found in"),
            "{}",
            e.message
        );
        let e = load_certs(&PemSource::Path(path("server.key"))).unwrap_err();
        assert!(e.message.contains("no certificate found"), "{}", e.message);
        let mut roots = RootCertStore::empty();
        assert!(add_roots(
            &mut roots,
            &PemSource::Text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into())
        )
        .is_err());
        add_roots(&mut roots, &PemSource::Path(path("ca.pem"))).unwrap();
        assert_eq!(roots.len(), 1);
    }
}

//! The OCSP response a server staples (`ocsp_staple`, per certificate):
//! read once when the config is built and checked to be a successful
//! OCSP response, so a wrong file is a `config` failure at once rather
//! than a staple every client rejects. Whether it is about the right
//! certificate, signed and fresh is for the client to judge (as nginx's
//! `ssl_stapling_file`, we serve what we are given).

use super::ocsp::basic_response;
use super::revocation_options::Staple;
use crate::error::NetError;

/// The DER to staple, or `None` without `ocsp_staple`.
pub fn load(staple: Option<&Staple>) -> Result<Option<Vec<u8>>, NetError> {
    let Some(staple) = staple else {
        return Ok(None);
    };
    let der = match staple {
        Staple::Path(p) => std::fs::read(p).map_err(|e| {
            NetError::new(
                "config",
                format!(
                    "cannot load OCSP response from {}: {}",
                    p.display(),
                    NetError::from_io("", &e).message
                ),
            )
        })?,
        Staple::Der(d) => d.clone(),
    };
    basic_response(&der).map_err(|why| {
        NetError::new(
            "config",
            format!(
                "unusable OCSP response in option 'ocsp_staple' ({}): {why}",
                staple.describe()
            ),
        )
    })?;
    Ok(Some(der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::revocation_path as path;

    #[test]
    fn loads_and_checks() {
        assert_eq!(load(None).unwrap(), None);
        let der = load(Some(&Staple::Path(path("good.ocsp"))))
            .unwrap()
            .unwrap();
        assert_eq!(load(Some(&Staple::Der(der.clone()))).unwrap(), Some(der));
        let e = load(Some(&Staple::Path(path("missing.ocsp")))).unwrap_err();
        assert_eq!(e.code, "config");
        assert!(
            e.message.contains("cannot load OCSP response from"),
            "{}",
            e.message
        );
        let e = load(Some(&Staple::Path(path("rca.pem")))).unwrap_err();
        assert!(
            e.message.contains("not a DER OCSP response"),
            "{}",
            e.message
        );
        let e = load(Some(&Staple::Der(vec![0x30, 0x03, 0x0a, 0x01, 0x03]))).unwrap_err();
        assert!(e.message.contains("answered tryLater"), "{}", e.message);
    }
}

//! The few X.509 fields this crate reports or needs: subject, issuer,
//! validity, SAN names. Read with our own DER walker (see `der.rs`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::date::epoch_of;
use super::der::{oid_text, tag, DerError, Reader, Tlv};

/// Fields of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFields {
    /// Subject in OpenSSL one-line form, as libtls reports it: `/O=Org/CN=name`.
    pub subject: String,
    /// Issuer in the same form.
    pub issuer: String,
    /// The subject's last common name, if any.
    pub common_name: Option<String>,
    /// notBefore, epoch seconds.
    pub not_before: i64,
    /// notAfter, epoch seconds.
    pub not_after: i64,
    /// DNS names and IP addresses from subjectAltName, in order.
    pub names: Vec<String>,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Subject and issuer are byte-identical (self-issued, typically self-signed).
    pub self_issued: bool,
}

const EXT_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_3: u8 = 0xa3;
const SAN_DNS: u8 = 0x82;
const SAN_IP: u8 = 0x87;

/// Parses the fields of a DER certificate.
pub fn parse(der: &[u8]) -> Result<CertFields, DerError> {
    let cert = Reader::new(der).expect(tag::SEQUENCE)?;
    let tbs = Reader::new(cert.content).expect(tag::SEQUENCE)?;
    let mut r = Reader::new(tbs.content);
    r.optional(CONTEXT_0)?; // version
    let serial = r.expect(tag::INTEGER)?;
    r.expect(tag::SEQUENCE)?; // signature algorithm
    let issuer = r.expect(tag::SEQUENCE)?;
    let validity = r.expect(tag::SEQUENCE)?;
    let subject = r.expect(tag::SEQUENCE)?;
    r.expect(tag::SEQUENCE)?; // subjectPublicKeyInfo
    let mut names = Vec::new();
    while !r.is_empty() {
        let field = r.any()?;
        if field.tag == CONTEXT_3 {
            names = san_names(field)?;
        }
    }
    let mut v = Reader::new(validity.content);
    let not_before = time(v.any()?)?;
    let not_after = time(v.any()?)?;
    let (subject_text, common_name) = name_text(subject.content)?;
    let (issuer_text, _) = name_text(issuer.content)?;
    Ok(CertFields {
        subject: subject_text,
        issuer: issuer_text,
        common_name,
        not_before,
        not_after,
        names,
        serial: serial.content.iter().map(|b| format!("{b:02x}")).collect(),
        self_issued: subject.raw == issuer.raw,
    })
}

/// An RDNSequence as `/K=V/K=V`, and its last CN.
fn name_text(content: &[u8]) -> Result<(String, Option<String>), DerError> {
    let mut out = String::new();
    let mut cn = None;
    let mut rdns = Reader::new(content);
    while !rdns.is_empty() {
        let set = rdns.expect(tag::SET)?;
        let mut atvs = Reader::new(set.content);
        while !atvs.is_empty() {
            let atv = atvs.expect(tag::SEQUENCE)?;
            let mut f = Reader::new(atv.content);
            let oid = f.expect(tag::OID)?;
            let value = string_value(f.any()?);
            let key = attribute_name(oid.content);
            if key == "CN" {
                cn = Some(value.clone());
            }
            out.push('/');
            out.push_str(&key);
            out.push('=');
            out.push_str(&value);
        }
    }
    Ok((out, cn))
}

/// Short names OpenSSL uses for the common attributes; dotted OID otherwise.
fn attribute_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x0c] => "title",
        [0x55, 0x04, 0x2a] => "GN",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return oid_text(oid),
    };
    short.to_string()
}

/// Text of a directory string, whatever its ASN.1 string type.
fn string_value(v: Tlv<'_>) -> String {
    match v.tag {
        tag::BMP_STRING => {
            let units = v
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or('\u{fffd}'))
                .collect()
        }
        tag::UNIVERSAL_STRING => v
            .content
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')
            })
            .collect(),
        // T61 in practice holds Latin-1.
        tag::T61_STRING => v.content.iter().map(|&b| char::from(b)).collect(),
        // UTF8, Printable, IA5 and anything unexpected.
        _ => String::from_utf8_lossy(v.content).into_owned(),
    }
}

/// UTCTime or GeneralizedTime (DER: always Z, seconds present) to epoch seconds.
fn time(t: Tlv<'_>) -> Result<i64, DerError> {
    let text = std::str::from_utf8(t.content).map_err(|_| DerError)?;
    let (year, rest) = match t.tag {
        tag::UTC_TIME if text.len() == 13 => {
            let yy: i64 = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        tag::GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return Err(DerError),
    };
    if !rest.ends_with('Z') {
        return Err(DerError);
    }
    let field = |i: usize| digits::<u32>(&rest[i..i + 2]);
    epoch_of(year, field(0)?, field(2)?, field(4)?, field(6)?, field(8)?).ok_or(DerError)
}

fn digits<T: std::str::FromStr>(s: &str) -> Result<T, DerError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DerError);
    }
    s.parse().map_err(|_| DerError)
}

/// DNS and IP names of the subjectAltName extension inside `[3] Extensions`.
fn san_names(exts: Tlv<'_>) -> Result<Vec<String>, DerError> {
    let list = Reader::new(exts.content).expect(tag::SEQUENCE)?;
    let mut r = Reader::new(list.content);
    while !r.is_empty() {
        let ext = r.expect(tag::SEQUENCE)?;
        let mut e = Reader::new(ext.content);
        if e.expect(tag::OID)?.content != EXT_SAN {
            continue;
        }
        e.optional(tag::BOOLEAN)?;
        let value = e.expect(tag::OCTET_STRING)?;
        let seq = Reader::new(value.content).expect(tag::SEQUENCE)?;
        let mut g = Reader::new(seq.content);
        let mut names = Vec::new();
        while !g.is_empty() {
            let n = g.any()?;
            match (n.tag, n.content.len()) {
                (SAN_DNS, _) => names.push(String::from_utf8_lossy(n.content).into_owned()),
                (SAN_IP, 4) => {
                    let b: [u8; 4] = n.content.try_into().map_err(|_| DerError)?;
                    names.push(Ipv4Addr::from(b).to_string());
                }
                (SAN_IP, 16) => {
                    let b: [u8; 16] = n.content.try_into().map_err(|_| DerError)?;
                    names.push(Ipv6Addr::from(b).to_string());
                }
                _ => {} // email, URI, directory names: not host names
            }
        }
        return Ok(names);
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::cert_der;

    #[test]
    fn parses_the_server_certificate() {
        let f = parse(&cert_der("server")).unwrap();
        assert_eq!(f.subject, "/O=lua-tls tests/CN=localhost");
        assert_eq!(f.issuer, "/O=lua-tls tests/CN=lua-tls Test CA");
        assert_eq!(f.common_name.as_deref(), Some("localhost"));
        assert_eq!(f.names, vec!["localhost", "127.0.0.1", "::1"]);
        assert!(f.not_before < f.not_after);
        assert!(!f.self_issued);
        assert!(!f.serial.is_empty());
    }

    #[test]
    fn parses_validity_exactly() {
        let f = parse(&cert_der("expired")).unwrap();
        assert_eq!(f.not_before, 1_546_300_800); // 2019-01-01
        assert_eq!(f.not_after, 1_577_836_800); // 2020-01-01
        let f = parse(&cert_der("notyet")).unwrap();
        assert_eq!(f.not_before, 3_786_912_000); // 2090-01-01, GeneralizedTime
    }

    #[test]
    fn spots_self_issued_and_ip_only() {
        assert!(parse(&cert_der("selfsigned")).unwrap().self_issued);
        assert!(parse(&cert_der("ca")).unwrap().self_issued);
        assert_eq!(parse(&cert_der("iponly")).unwrap().names, vec!["127.0.0.1"]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"").is_err());
        assert!(parse(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_err());
        let der = cert_der("server");
        assert!(parse(&der[..der.len() / 2]).is_err());
    }

    #[test]
    fn decodes_string_types() {
        let bmp = Tlv {
            tag: tag::BMP_STRING,
            content: &[0x00, 0x41, 0x00, 0xe9],
            raw: &[],
        };
        assert_eq!(string_value(bmp), "Aé");
        let t61 = Tlv {
            tag: tag::T61_STRING,
            content: &[0x41, 0xe9],
            raw: &[],
        };
        assert_eq!(string_value(t61), "Aé");
    }
}

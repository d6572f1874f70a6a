//! A minimal DER reader: just enough to walk an X.509 certificate.
//!
//! Why our own: `ios:info()` needs four fields and the SAN names, and
//! `x509-parser` would pull in nom, asn1-rs, der-parser, time and an OID
//! registry for that. DER is strict enough that a TLV walker is short.

/// A DER decoding failure (the certificate is malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerError;

/// Tags used by the X.509 walker.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const T61_STRING: u8 = 0x14;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const UNIVERSAL_STRING: u8 = 0x1c;
    pub(crate) const BMP_STRING: u8 = 0x1e;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
}

/// One element: its tag, its content, and the whole encoding (tag and
/// length included, for byte-exact comparison of names).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) raw: &'a [u8],
}

/// A cursor over a run of DER elements.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, without consuming it.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, whatever its tag.
    pub(crate) fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let data = self.rest;
        let (&tag, after_tag) = data.split_first().ok_or(DerError)?;
        if tag & 0x1f == 0x1f {
            return Err(DerError); // multi-byte tags never occur in X.509
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return Err(DerError);
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return Err(DerError);
        }
        let header = data.len() - after_len.len();
        let raw = &data[..header + len];
        self.rest = &data[header + len..];
        Ok(Tlv {
            tag,
            content: &after_len[..len],
            raw,
        })
    }

    /// Reads the next element, which must carry `want`.
    pub(crate) fn expect(&mut self, want: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any()?;
        if tlv.tag == want {
            Ok(tlv)
        } else {
            Err(DerError)
        }
    }

    /// Reads the next element if it carries `want`.
    pub(crate) fn optional(&mut self, want: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(want) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Dotted text of an OID's content bytes (`2.5.4.3`).
pub(crate) fn oid_text(content: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in content {
        acc = acc << 7 | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        long.extend([0x02, 0x01, 0x05]);
        let mut r = Reader::new(&long);
        let a = r.expect(tag::OCTET_STRING).unwrap();
        assert_eq!(a.content.len(), 0x80);
        assert_eq!(a.raw.len(), 0x83);
        assert_eq!(r.peek_tag(), Some(tag::INTEGER));
        assert!(r.optional(tag::BOOLEAN).unwrap().is_none());
        assert_eq!(r.expect(tag::INTEGER).unwrap().content, &[5]);
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_truncation_and_bad_lengths() {
        assert_eq!(
            Reader::new(&[0x30, 0x05, 0x01]).any().unwrap_err(),
            DerError
        );
        assert_eq!(Reader::new(&[0x30, 0x80]).any().unwrap_err(), DerError);
        assert_eq!(Reader::new(&[0x30]).any().unwrap_err(), DerError);
        assert_eq!(
            Reader::new(&[0x1f, 0x01, 0x00]).any().unwrap_err(),
            DerError
        );
        assert_eq!(
            Reader::new(&[0x02, 0x01, 0x00])
                .expect(tag::SEQUENCE)
                .unwrap_err(),
            DerError
        );
    }

    #[test]
    fn formats_oids() {
        assert_eq!(oid_text(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
    }
}

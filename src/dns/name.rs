//! Domain names as the resolver handles them: validated, lowercase, and
//! kept both as presentation text (for people, maps and hashing) and as
//! uncompressed wire form (for queries).
//!
//! DNS compares names ASCII case-insensitively, so every `Name` is lowercased
//! once when it is made and plain equality is then the right comparison.
//! Bytes that are not printable ASCII (or are `.` or `\` inside a label) are
//! shown as `\DDD` / `\.` / `\\`, the usual master-file escapes, so a name
//! read off the wire always has a faithful text form; the same escapes are
//! accepted on input.

use std::fmt;

/// Longest name on the wire, length bytes and the root byte included (RFC 1035).
pub const MAX_NAME_WIRE: usize = 255;
/// Longest label (RFC 1035).
pub const MAX_LABEL: usize = 63;

/// Why a text name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The empty string (the root is written `"."`).
    Empty,
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// More than 255 bytes on the wire (253 characters of plain text).
    TooLong,
    /// A space, control character or non-ASCII character (IDNs must be
    /// given in their `xn--` form).
    BadChar,
    /// A `\` not followed by a character or three decimal digits up to 255.
    BadEscape,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::Empty => "empty name",
            NameError::EmptyLabel => "empty label in name",
            NameError::LabelTooLong => "label longer than 63 bytes",
            NameError::TooLong => "name longer than 253 characters",
            NameError::BadChar => "invalid character in name",
            NameError::BadEscape => "invalid escape in name",
        })
    }
}

impl std::error::Error for NameError {}

/// A validated, lowercased, fully qualified domain name.
///
/// `as_str()` gives the text without the trailing dot (`""` for the root);
/// `Display` writes the root as `"."`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    text: String,
    // Uncompressed wire form, always ending in the root byte 0.
    wire: Vec<u8>,
}

impl Name {
    /// The root name.
    pub fn root() -> Name {
        Name {
            text: String::new(),
            wire: vec![0],
        }
    }

    /// Parses a text name. A trailing dot is allowed and dropped: every
    /// `Name` is absolute. Use [`Name::parse`] to learn whether it was there.
    pub fn new(text: &str) -> Result<Name, NameError> {
        Name::parse(text).map(|(name, _)| name)
    }

    /// Parses a text name and reports whether it ended in an (unescaped)
    /// dot, which for search-list purposes means "absolute, do not search".
    pub fn parse(text: &str) -> Result<(Name, bool), NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if text == "." {
            return Ok((Name::root(), true));
        }
        // Cheap bound before any work: no valid name needs more than 4 text
        // bytes (`\DDD`) per wire byte.
        if text.len() > 4 * MAX_NAME_WIRE {
            return Err(NameError::TooLong);
        }
        let bytes = text.as_bytes();
        let mut labels: Vec<Vec<u8>> = Vec::new();
        let mut label = Vec::new();
        let mut trailing_dot = false;
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            trailing_dot = false;
            match c {
                b'.' => {
                    if label.is_empty() {
                        return Err(NameError::EmptyLabel);
                    }
                    labels.push(std::mem::take(&mut label));
                    trailing_dot = true;
                    i += 1;
                }
                b'\\' => {
                    let (byte, used) = unescape(&bytes[i + 1..])?;
                    label.push(byte);
                    i += 1 + used;
                }
                0x21..=0x7e => {
                    label.push(c);
                    i += 1;
                }
                _ => return Err(NameError::BadChar),
            }
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
        }
        if !label.is_empty() {
            labels.push(label);
        }
        let refs: Vec<&[u8]> = labels.iter().map(Vec::as_slice).collect();
        Ok((Name::from_labels(&refs)?, trailing_dot))
    }

    /// Builds a name from raw labels (as read off the wire), lowercasing
    /// them and checking the length limits.
    pub(crate) fn from_labels(labels: &[&[u8]]) -> Result<Name, NameError> {
        let mut wire = Vec::with_capacity(32);
        let mut text = String::with_capacity(32);
        for label in labels {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
            if wire.len() + 1 + label.len() + 1 > MAX_NAME_WIRE {
                return Err(NameError::TooLong);
            }
            wire.push(label.len() as u8);
            if !text.is_empty() {
                text.push('.');
            }
            for &b in label.iter() {
                let b = b.to_ascii_lowercase();
                wire.push(b);
                push_escaped(&mut text, b);
            }
        }
        wire.push(0);
        Ok(Name { text, wire })
    }

    /// The text form without a trailing dot; `""` for the root.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// How many labels the name has (0 for the root). The `ndots` rule
    /// counts `label_count() - 1` dots.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The uncompressed wire form, ending in the root byte.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The labels, left to right, lowercased.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let len = *self.wire.get(pos)? as usize;
            if len == 0 {
                return None;
            }
            let label = &self.wire[pos + 1..pos + 1 + len];
            pos += 1 + len;
            Some(label)
        })
    }

    /// `self` followed by `suffix` (a search domain), or an error when the
    /// result would be too long.
    pub fn join(&self, suffix: &Name) -> Result<Name, NameError> {
        let labels: Vec<&[u8]> = self.labels().chain(suffix.labels()).collect();
        Name::from_labels(&labels)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str(".")
        } else {
            f.write_str(&self.text)
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Reads what follows a backslash: three decimal digits (a byte value) or
/// one printable character taken literally. Returns the byte and how many
/// input bytes it used.
fn unescape(rest: &[u8]) -> Result<(u8, usize), NameError> {
    match rest.first() {
        Some(d) if d.is_ascii_digit() => {
            let digits = rest.get(..3).ok_or(NameError::BadEscape)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(NameError::BadEscape);
            }
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            u8::try_from(value)
                .map(|b| (b, 3))
                .map_err(|_| NameError::BadEscape)
        }
        Some(&c) if (0x21..=0x7e).contains(&c) => Ok((c, 1)),
        _ => Err(NameError::BadEscape),
    }
}

fn push_escaped(text: &mut String, b: u8) {
    match b {
        b'.' | b'\\' => {
            text.push('\\');
            text.push(b as char);
        }
        0x21..=0x7e => text.push(b as char),
        _ => {
            use std::fmt::Write;
            let _ = write!(text, "\\{b:03}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_drops_trailing_dot() {
        let (n, abs) = Name::parse("WWW.Example.COM.").unwrap();
        assert!(abs);
        assert_eq!(n.as_str(), "www.example.com");
        assert_eq!(n.to_string(), "www.example.com");
        assert_eq!(n.wire(), b"\x03www\x07example\x03com\x00");
        let (m, abs) = Name::parse("www.example.com").unwrap();
        assert!(!abs);
        assert_eq!(n, m);
        assert_eq!(n.label_count(), 3);
    }

    #[test]
    fn root() {
        let (r, abs) = Name::parse(".").unwrap();
        assert!(abs);
        assert!(r.is_root());
        assert_eq!(r.as_str(), "");
        assert_eq!(r.to_string(), ".");
        assert_eq!(r.wire(), &[0]);
        assert_eq!(r.label_count(), 0);
        assert_eq!(r, Name::root());
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert_eq!(Name::new(".com"), Err(NameError::EmptyLabel));
        assert_eq!(Name::new("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(Name::new("a.b.."), Err(NameError::EmptyLabel));
        assert_eq!(Name::new("a b"), Err(NameError::BadChar));
        assert_eq!(Name::new("caf\u{e9}.fr"), Err(NameError::BadChar));
        assert_eq!(Name::new("a\tb"), Err(NameError::BadChar));
        assert_eq!(Name::new("a\\"), Err(NameError::BadEscape));
        assert_eq!(Name::new("a\\25"), Err(NameError::BadEscape));
        assert_eq!(Name::new("a\\256"), Err(NameError::BadEscape));
        assert_eq!(Name::new("a\\2x5"), Err(NameError::BadEscape));
    }

    #[test]
    fn label_and_name_limits() {
        let l63 = "a".repeat(63);
        assert!(Name::new(&l63).is_ok());
        assert_eq!(Name::new(&"a".repeat(64)), Err(NameError::LabelTooLong));
        // 253 characters of text is exactly 255 bytes on the wire.
        let max = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61));
        assert_eq!(max.len(), 253);
        let n = Name::new(&max).unwrap();
        assert_eq!(n.wire().len(), 255);
        assert!(Name::new(&format!("{max}.")).is_ok());
        let over = format!("{l63}.{l63}.{l63}.{}", "b".repeat(62));
        assert_eq!(Name::new(&over), Err(NameError::TooLong));
    }

    #[test]
    fn escapes_round_trip() {
        let n = Name::new("a\\.b.c\\\\d.\\007x").unwrap();
        assert_eq!(n.label_count(), 3);
        assert_eq!(n.wire(), b"\x03a.b\x03c\\d\x02\x07x\x00");
        assert_eq!(n.as_str(), "a\\.b.c\\\\d.\\007x");
        assert_eq!(Name::new(n.as_str()).unwrap(), n);
        // An escaped trailing dot is part of the label, not "absolute".
        let (m, abs) = Name::parse("a\\.").unwrap();
        assert!(!abs);
        assert_eq!(m.wire(), b"\x02a.\x00");
        // Escaped uppercase letters are lowercased too.
        assert_eq!(Name::new("\\065").unwrap().as_str(), "a");
    }

    #[test]
    fn from_labels_escapes_odd_bytes() {
        let n = Name::from_labels(&[b"A B", b"\xff"]).unwrap();
        assert_eq!(n.as_str(), "a\\032b.\\255");
        assert_eq!(Name::new(n.as_str()).unwrap(), n);
        assert_eq!(Name::from_labels(&[b""]), Err(NameError::EmptyLabel));
    }

    #[test]
    fn join() {
        let a = Name::new("host").unwrap();
        let b = Name::new("example.com").unwrap();
        assert_eq!(a.join(&b).unwrap().as_str(), "host.example.com");
        assert_eq!(a.join(&Name::root()).unwrap(), a);
        let big = Name::new(&format!("{0}.{0}.{0}", "a".repeat(63))).unwrap();
        assert_eq!(
            big.join(&Name::new(&"b".repeat(63)).unwrap()),
            Err(NameError::TooLong)
        );
    }
}

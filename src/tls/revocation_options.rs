//! The revocation options (`crl`, `crl_require`, `ocsp_staple`,
//! `ocsp_require`), read from the same Lua table as the other TLS options
//! (`options.rs` hands these keys here) and checked once.

use std::path::PathBuf;

use mlua::Value;

use super::option_misuse::{boolean, elements, misuse, wrong_type};
use super::options::{PemSource, TlsOptions, VerifyClient};

/// The keys this module reads.
pub const REVOCATION_KEYS: &[&str] = &["crl", "crl_require", "ocsp_staple", "ocsp_require"];

/// An OCSP response for a server to staple: a file, or the DER itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Staple {
    /// A file holding a DER OCSP response (as `openssl ocsp -respout` writes).
    Path(PathBuf),
    /// The DER bytes.
    Der(Vec<u8>),
}

impl Staple {
    /// DER when the bytes start like a DER SEQUENCE (a long-form length,
    /// which is never valid UTF-8, or a short one that matches the size)
    /// or are not text; a path otherwise.
    pub fn parse(bytes: &[u8]) -> Self {
        let looks_der = bytes.first() == Some(&0x30)
            && bytes
                .get(1)
                .is_some_and(|&b| b & 0x80 != 0 || usize::from(b) + 2 == bytes.len());
        match std::str::from_utf8(bytes) {
            Ok(text) if !looks_der && !text.contains('\0') => Self::Path(PathBuf::from(text)),
            _ => Self::Der(bytes.to_vec()),
        }
    }

    /// Names the source in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Der(_) => "the DER given".to_string(),
        }
    }
}

/// Revocation settings, checked. `Default` is what an empty table means:
/// no CRLs, staples verified when a server sends one, nothing required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RevocationOptions {
    /// CRLs (paths or PEM text) that the peer's chain is checked against.
    pub crl: Vec<PemSource>,
    /// Every certificate of the chain (but the trust anchor) must be
    /// covered by a CRL given in `crl`.
    pub crl_require: bool,
    /// Server: the OCSP response stapled for `cert` (`certs` entries carry
    /// their own).
    pub ocsp_staple: Option<Staple>,
    /// Client: the server must staple a verified OCSP response saying `good`.
    pub ocsp_require: bool,
}

impl RevocationOptions {
    /// Sets one of [`REVOCATION_KEYS`]; raises on misuse.
    pub fn set(&mut self, key: &str, v: &Value) -> mlua::Result<()> {
        match key {
            "crl" => self.crl = crl_list(v)?,
            "crl_require" => self.crl_require = boolean(key, v)?,
            "ocsp_staple" => self.ocsp_staple = Some(staple(key, v)?),
            "ocsp_require" => self.ocsp_require = boolean(key, v)?,
            other => return Err(misuse(format!("unknown TLS option '{other}'"))),
        }
        Ok(())
    }

    /// Raises when the options contradict each other.
    pub fn check(&self) -> mlua::Result<()> {
        if self.crl_require && self.crl.is_empty() {
            return Err(misuse("TLS option 'crl_require' needs option 'crl'"));
        }
        Ok(())
    }
}

/// A revocation option that would do nothing is refused (with code
/// `config`: a config can be built for either side), in the words
/// `config.rs` uses for the other options: a server given `crl` without
/// asking for client certificates, or any check with
/// `insecure_no_verify_cert`, would check nothing.
pub fn check_side(opts: &TlsOptions, server: bool) -> Result<(), crate::error::NetError> {
    let r = &opts.revocation;
    let refuse = |msg: String| Err(crate::error::NetError::new("config", msg));
    let (wrong_side, side) = if server {
        (
            r.ocsp_require.then_some("ocsp_require"),
            "clients (a server",
        )
    } else {
        (
            r.ocsp_staple.as_ref().map(|_| "ocsp_staple"),
            "servers (a client",
        )
    };
    if let Some(name) = wrong_side {
        return refuse(format!(
            "option '{name}' applies only to {side} would ignore it)"
        ));
    }
    if server && !r.crl.is_empty() && opts.verify_client == VerifyClient::None {
        return refuse(
            "option 'crl' on a server needs 'verify_client' (it checks client certificates)".into(),
        );
    }
    let checks = [(!r.crl.is_empty(), "crl"), (r.ocsp_require, "ocsp_require")];
    if opts.insecure_no_verify_cert {
        if let Some((_, name)) = checks.iter().find(|(set, _)| *set) {
            return refuse(format!(
                "option '{name}' does nothing with 'insecure_no_verify_cert' (no chain is verified)"
            ));
        }
    }
    Ok(())
}

/// `ocsp_staple` (or `certs[i].ocsp_staple`): a path or DER bytes.
pub fn staple(key: &str, v: &Value) -> mlua::Result<Staple> {
    match v {
        Value::String(s) if !s.as_bytes().is_empty() => Ok(Staple::parse(&s.as_bytes())),
        Value::String(_) => Err(misuse(format!(
            "TLS option '{key}' must be a path or DER bytes, got an empty string"
        ))),
        _ => Err(wrong_type(key, "a string (path or DER bytes)", v)),
    }
}

/// `crl`: one source, or an array of them (each named `crl[i]`).
fn crl_list(v: &Value) -> mlua::Result<Vec<PemSource>> {
    match v {
        Value::Table(t) => elements("crl", t, crl_source),
        Value::String(_) => Ok(vec![crl_source("crl", v)?]),
        _ => Err(wrong_type(
            "crl",
            "a string (path or PEM text) or an array of them",
            v,
        )),
    }
}

fn crl_source(key: &str, v: &Value) -> mlua::Result<PemSource> {
    match v {
        Value::String(s) if !s.as_bytes().is_empty() => Ok(PemSource::parse(&s.to_string_lossy())),
        Value::String(_) => Err(misuse(format!(
            "TLS option '{key}' must be a path or PEM text, got an empty string"
        ))),
        _ => Err(wrong_type(key, "a string (path or PEM text)", v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::{Lua, Table};

    fn parse(src: &str) -> mlua::Result<RevocationOptions> {
        let lua = Lua::new();
        let t: Table = lua.load(src).eval()?;
        let mut o = RevocationOptions::default();
        for pair in t.pairs::<String, Value>() {
            let (k, v) = pair?;
            o.set(&k, &v)?;
        }
        o.check()?;
        Ok(o)
    }

    #[test]
    fn reads_each_form() {
        let o = parse(r#"{ crl = "a.crl", ocsp_require = true }"#).unwrap();
        assert_eq!(o.crl, vec![PemSource::Path("a.crl".into())]);
        assert!(o.ocsp_require && !o.crl_require);
        let o = parse(r#"{ crl = {"a.crl", "-----BEGIN X509 CRL-----\n"}, crl_require = true }"#)
            .unwrap();
        assert_eq!(o.crl.len(), 2);
        assert!(matches!(o.crl[1], PemSource::Text(_)));
        let o = parse(r#"{ ocsp_staple = "x.ocsp" }"#).unwrap();
        assert_eq!(o.ocsp_staple, Some(Staple::Path("x.ocsp".into())));
        let o = parse(r#"{ ocsp_staple = "\48\130\1\0" }"#).unwrap();
        assert_eq!(o.ocsp_staple, Some(Staple::Der(vec![0x30, 0x82, 1, 0])));
    }

    #[test]
    fn misuse_names_the_option() {
        let e = |src: &str| parse(src).unwrap_err().to_string();
        assert!(e(r#"{ crl = 1 }"#)
            .contains("'crl' must be a string (path or PEM text) or an array of them, got number"));
        assert!(e(r#"{ crl = {"a", false} }"#)
            .contains("'crl[2]' must be a string (path or PEM text), got boolean"));
        assert!(e(r#"{ crl = {"a", "b", ""} }"#)
            .contains("'crl[3]' must be a path or PEM text, got an empty string"));
        assert!(e(r#"{ crl = "" }"#).contains("got an empty string"));
        assert!(
            e(r#"{ crl_require = "yes" }"#).contains("'crl_require' must be a boolean, got string")
        );
        assert!(e(r#"{ crl_require = true }"#).contains("needs option 'crl'"));
        assert!(e(r#"{ ocsp_staple = {} }"#)
            .contains("'ocsp_staple' must be a string (path or DER bytes), got table"));
        assert!(e(r#"{ ocsp_staple = "" }"#).contains("empty string"));
        assert!(e(r#"{ ocsp_require = 1 }"#).contains("'ocsp_require' must be a boolean"));
        // A string is a string, not "an empty string".
        assert!(
            e(r#"{ ocsp_require = "x" }"#).contains("'ocsp_require' must be a boolean, got string")
        );
    }

    #[test]
    fn staple_detection() {
        assert_eq!(
            Staple::parse(b"0file.der"),
            Staple::Path("0file.der".into())
        );
        assert_eq!(
            Staple::parse(b"\x30\x03\x0a\x01\x01"),
            Staple::Der(vec![0x30, 3, 10, 1, 1])
        );
        assert_eq!(Staple::parse(b"\xff\xfe"), Staple::Der(vec![0xff, 0xfe]));
    }
}

//! The options that tune a handshake rather than say whom to trust:
//! `ciphers`, `curves`, `verify_depth`, `session_lifetime`, `ticket_keys`
//! and `ticket_key_file`. Checked here (misuse raises, listing the valid
//! names), applied in `config.rs` through [`crypto_provider`].

use std::path::PathBuf;
use std::sync::Arc;

use mlua::Value;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::{NamedGroup, SupportedCipherSuite};

use super::option_misuse::{elements, misuse, string, strings, wrong_type};
use super::provider::provider;

/// Shortest ticket key secret, in bytes.
pub const MIN_TICKET_KEY: usize = 32;

/// The keys this module reads.
pub const KEYS: &[&str] = &[
    "ciphers",
    "curves",
    "verify_depth",
    "session_lifetime",
    "ticket_keys",
    "ticket_key_file",
];

/// A ticket key secret; never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// The tuning options, checked. `Default`: the provider's choices.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Tuning {
    /// Cipher suites by IANA name, in preference order; `None`: all.
    pub ciphers: Option<Vec<String>>,
    /// Key exchange groups by our names, in preference order; `None`: all.
    pub curves: Option<Vec<String>>,
    /// Longest accepted peer chain: the peer's certificate plus the
    /// intermediates up to (not counting) the trust anchor.
    pub verify_depth: Option<u32>,
    /// Server: seconds a ticket or cached session may be resumed.
    pub session_lifetime: Option<u32>,
    /// Server: ticket key secrets; the first issues, all decrypt.
    pub ticket_keys: Vec<Secret>,
    /// Server: a file of ticket key secrets, one a line.
    pub ticket_key_file: Option<PathBuf>,
}

impl Tuning {
    /// Reads option `key` (one of [`KEYS`]); raises on misuse.
    pub fn set(&mut self, key: &str, v: &Value) -> mlua::Result<()> {
        match key {
            "ciphers" => self.ciphers = names(key, v, &cipher_names())?,
            "curves" => self.curves = names(key, v, &curve_names())?,
            "verify_depth" => self.verify_depth = Some(positive(key, v)?),
            "session_lifetime" => self.session_lifetime = Some(positive(key, v)?),
            "ticket_keys" => self.ticket_keys = ticket_keys(v)?,
            "ticket_key_file" => match v {
                Value::String(_) => self.ticket_key_file = Some(PathBuf::from(string(key, v)?)),
                _ => return Err(wrong_type(key, "a string (a path)", v)),
            },
            _ => return Err(misuse(format!("unknown TLS option '{key}'"))),
        }
        if !self.ticket_keys.is_empty() && self.ticket_key_file.is_some() {
            return Err(misuse(
                "TLS options 'ticket_keys' and 'ticket_key_file' exclude each other",
            ));
        }
        Ok(())
    }

    /// Whether any server-only option (tickets, lifetime) is set.
    pub fn server_only(&self) -> Option<&'static str> {
        if self.session_lifetime.is_some() {
            Some("session_lifetime")
        } else if !self.ticket_keys.is_empty() {
            Some("ticket_keys")
        } else if self.ticket_key_file.is_some() {
            Some("ticket_key_file")
        } else {
            None
        }
    }
}

/// Reads ticket key secrets from the text of a key file: one secret a
/// line, blank lines and lines starting with `#` skipped.
pub fn parse_key_file(text: &str) -> Result<Vec<Secret>, String> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.len() < MIN_TICKET_KEY {
            return Err(format!(
                "line {}: a ticket key must be at least {MIN_TICKET_KEY} bytes, got {}",
                i + 1,
                line.len()
            ));
        }
        keys.push(Secret(line.as_bytes().to_vec()));
    }
    if keys.is_empty() {
        return Err("no ticket key in the file".into());
    }
    Ok(keys)
}

/// The provider with only the chosen suites and groups, in the chosen order.
pub fn crypto_provider(t: &Tuning) -> Arc<CryptoProvider> {
    let base = provider();
    if t.ciphers.is_none() && t.curves.is_none() {
        return base;
    }
    let mut p = (*base).clone();
    if let Some(want) = &t.ciphers {
        let all = all_suites();
        p.cipher_suites = want
            .iter()
            .filter_map(|n| all.iter().copied().find(|s| iana_name(*s) == *n))
            .collect();
    }
    if let Some(want) = &t.curves {
        p.kx_groups = want
            .iter()
            .filter_map(|n| {
                all_groups()
                    .iter()
                    .copied()
                    .find(|g| group_name(g.name()) == Some(n.as_str()))
            })
            .collect();
    }
    Arc::new(p)
}

fn all_suites() -> Vec<SupportedCipherSuite> {
    let mut all = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES.to_vec();
    super::provider::our_suites(&mut all);
    all
}

fn all_groups() -> &'static [&'static dyn SupportedKxGroup] {
    rustls::crypto::aws_lc_rs::ALL_KX_GROUPS
}

/// IANA name of a suite (rustls writes TLS 1.3 ones as `TLS13_...`).
pub fn iana_name(s: SupportedCipherSuite) -> String {
    let name = s.suite().as_str().unwrap_or("unknown");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    }
}

/// Our name for a group (the names `openssl -groups` takes).
fn group_name(g: NamedGroup) -> Option<&'static str> {
    Some(match g {
        NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        NamedGroup::secp256r1MLKEM768 => "SecP256r1MLKEM768",
        NamedGroup::X25519 => "X25519",
        NamedGroup::secp256r1 => "P-256",
        NamedGroup::secp384r1 => "P-384",
        NamedGroup::secp521r1 => "P-521",
        _ => return None,
    })
}

fn cipher_names() -> Vec<String> {
    all_suites().into_iter().map(iana_name).collect()
}

fn curve_names() -> Vec<String> {
    all_groups()
        .iter()
        .filter_map(|g| group_name(g.name()))
        .map(String::from)
        .collect()
}

/// `"secure"`/`"default"` (everything, `None`) or an array of names from
/// `valid`, matched without regard to case (and, for suites, the rustls
/// `TLS13_` spelling), returned in the canonical spelling.
fn names(key: &str, v: &Value, valid: &[String]) -> mlua::Result<Option<Vec<String>>> {
    let listing = || valid.join(", ");
    let canonical = |name: &str| {
        let wanted = name.to_ascii_uppercase().replace("TLS13_", "TLS_");
        valid
            .iter()
            .find(|n| n.to_ascii_uppercase() == wanted)
            .cloned()
            .ok_or_else(|| {
                misuse(format!(
                    "TLS option '{key}': unknown name '{name}' (valid: \"secure\", \"default\", {})",
                    listing()
                ))
            })
    };
    let items = strings(key, v, "\"secure\", \"default\" or an array of names")?;
    if let [one] = items.as_slice() {
        if matches!(one.to_ascii_lowercase().as_str(), "secure" | "default") {
            return Ok(None);
        }
    }
    if items.is_empty() {
        return Err(misuse(format!(
            "TLS option '{key}' names nothing (valid: {})",
            listing()
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for name in &items {
        let c = canonical(name)?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(Some(out))
}

fn positive(key: &str, v: &Value) -> mlua::Result<u32> {
    let n = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => return Err(wrong_type(key, "a positive integer", v)),
    };
    if n.fract() != 0.0 || n < 1.0 || n > f64::from(u32::MAX) {
        return Err(misuse(format!(
            "TLS option '{key}' must be a positive integer, got {n}"
        )));
    }
    Ok(n as u32)
}

fn ticket_keys(v: &Value) -> mlua::Result<Vec<Secret>> {
    let Value::Table(t) = v else {
        return Err(wrong_type("ticket_keys", "an array of strings", v));
    };
    let keys = elements("ticket_keys", t, |name, item| {
        let Value::String(s) = item else {
            return Err(wrong_type(name, "a string", item));
        };
        let bytes = s.as_bytes().to_vec();
        if bytes.len() < MIN_TICKET_KEY {
            return Err(misuse(format!(
                "TLS option '{name}' must be at least {MIN_TICKET_KEY} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Secret(bytes))
    })?;
    if keys.is_empty() {
        return Err(misuse("TLS option 'ticket_keys' must not be empty"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn parse(src: &str) -> mlua::Result<Tuning> {
        let lua = Lua::new();
        let t: mlua::Table = lua.load(src).eval()?;
        let mut out = Tuning::default();
        for pair in t.pairs::<String, Value>() {
            let (k, v) = pair?;
            out.set(&k, &v)?;
        }
        Ok(out)
    }

    fn err(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    #[test]
    fn names_are_canonical_and_ordered() {
        let t = parse(
            r#"{ ciphers = {"tls13_aes_128_gcm_sha256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
                 curves = {"p-384", "X25519"}, verify_depth = 3, session_lifetime = 60 }"#,
        )
        .unwrap();
        assert_eq!(
            t.ciphers.as_deref().unwrap(),
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        assert_eq!(t.curves.as_deref().unwrap(), ["P-384", "X25519"]);
        assert_eq!((t.verify_depth, t.session_lifetime), (Some(3), Some(60)));
        let p = crypto_provider(&t);
        assert_eq!(p.cipher_suites.len(), 2);
        assert_eq!(p.kx_groups[0].name(), NamedGroup::secp384r1);
        assert_eq!(parse(r#"{ciphers = "secure"}"#).unwrap().ciphers, None);
        assert_eq!(parse(r#"{curves = {"default"}}"#).unwrap().curves, None);
    }

    #[test]
    fn misuse_lists_valid_names() {
        let e = err(r#"{ciphers = {"RC4-MD5"}}"#);
        assert!(e.contains("unknown name 'RC4-MD5'"), "{e}");
        assert!(e.contains("TLS_AES_256_GCM_SHA384"), "{e}");
        let e = err(r#"{curves = {"brainpool"}}"#);
        assert!(e.contains("X25519MLKEM768") && e.contains("P-256"), "{e}");
        assert!(err(r#"{curves = {}}"#).contains("names nothing"));
        assert!(err(r#"{ciphers = 3}"#).contains("must be"));
        for bad in ["0", "-1", "1.5", "'3'"] {
            let e = err(&format!("{{verify_depth = {bad}}}"));
            assert!(e.contains("positive integer"), "{e}");
        }
        let e = err(r#"{ticket_keys = {"short"}}"#);
        assert!(
            e.contains("'ticket_keys[1]' must be at least 32 bytes, got 5"),
            "{e}"
        );
        assert!(err(r#"{ticket_keys = {}}"#).contains("must not be empty"));
        assert!(err(r#"{ticket_keys = "x"}"#).contains("array of strings"));
        assert!(
            err(r#"{ticket_keys = {1}}"#).contains("'ticket_keys[1]' must be a string, got number")
        );
        assert!(
            err(r#"{curves = {"X25519", 1}}"#).contains("'curves[2]' must be a string, got number")
        );
        let k = "k".repeat(32);
        let e = err(&format!(
            r#"{{ticket_keys = {{"{k}"}}, ticket_key_file = "/x"}}"#
        ));
        assert!(e.contains("exclude each other"), "{e}");
    }

    #[test]
    fn key_files() {
        let k = "a".repeat(40);
        let keys = parse_key_file(&format!("# rotated daily\n\n{k}\n  {k}b  \n")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].0.len(), 41);
        assert!(parse_key_file("short\n").unwrap_err().contains("line 1"));
        assert!(parse_key_file("# nothing\n").is_err());
        assert_eq!(format!("{:?}", keys[0]), "Secret(40 bytes)");
    }
}

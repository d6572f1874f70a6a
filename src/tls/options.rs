//! TLS options as the Lua side gives them (`tls.connect(host, port, opts)`,
//! `tls.config(opts)`), checked once into a plain Rust value.
//!
//! Misuse (unknown key, wrong type, bad value) raises a Lua error naming the
//! option; nothing here touches files, so reading a `cafile` that is missing
//! is a runtime failure reported later, when the config is built.

use std::path::PathBuf;
use std::time::Duration;

use mlua::{Table, Value};

// Keys the TCP layer reads from the same table are accepted here unchecked
// (`timeout` is read by both layers).
use crate::net::options::TCP_KEYS;

use super::option_misuse::{boolean, elements, misuse, string, strings, wrong_type};
use super::revocation_options::{self, RevocationOptions, Staple, REVOCATION_KEYS};
use super::tuning::{self, Tuning};

/// The keys only TLS reads; the TCP layer accepts them unchecked.
pub const TLS_KEYS: &[&str] = &[
    "cafile",
    "ca",
    "cert",
    "key",
    "certs",
    "alpn",
    "protocols",
    "resumption",
    "verify_client",
    "servername",
    "insecure_no_verify_cert",
    "insecure_no_verify_name",
    "insecure_no_verify_time",
    // tuning.rs
    "ciphers",
    "curves",
    "verify_depth",
    "session_lifetime",
    "ticket_keys",
    "ticket_key_file",
    // Revocation: see revocation_options.rs.
    "crl",
    "crl_require",
    "ocsp_staple",
    "ocsp_require",
];

/// A certificate or key given as a path or as PEM text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PemSource {
    /// A file to read.
    Path(PathBuf),
    /// The PEM text itself.
    Text(String),
}

impl PemSource {
    /// Text if it contains a PEM header, a path otherwise.
    pub fn parse(s: &str) -> Self {
        if s.contains("-----BEGIN") {
            Self::Text(s.to_string())
        } else {
            Self::Path(PathBuf::from(s))
        }
    }

    /// Names the source in messages: the path, or "PEM text".
    pub fn describe(&self) -> String {
        match self {
            Self::Path(p) => p.display().to_string(),
            Self::Text(_) => "PEM text".to_string(),
        }
    }
}

/// One server certificate chain and its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertKey {
    /// The chain, end entity first.
    pub cert: PemSource,
    /// The private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PemSource,
    /// The OCSP response to staple with this chain.
    pub ocsp_staple: Option<Staple>,
}

/// Which TLS versions to enable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Protocols {
    /// TLS 1.2 enabled.
    pub tls12: bool,
    /// TLS 1.3 enabled.
    pub tls13: bool,
}

impl Default for Protocols {
    fn default() -> Self {
        Self {
            tls12: true,
            tls13: true,
        }
    }
}

/// Whether a server asks clients for certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyClient {
    /// Never asks.
    #[default]
    None,
    /// Asks, accepts clients without one, rejects bad ones.
    Optional,
    /// Rejects clients without a valid certificate.
    Required,
}

/// Every TLS option, checked. `Default` is what an empty table means.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// CA bundle file; with `ca`, replaces the bundled Mozilla roots.
    pub cafile: Option<PathBuf>,
    /// CA certificates as PEM text.
    pub ca: Option<String>,
    /// Own certificate chain (server; client certificate on a client).
    pub cert: Option<PemSource>,
    /// Key for `cert`.
    pub key: Option<PemSource>,
    /// Extension: more server certificates, chosen by SNI. `cert`/`key`
    /// (if given) come first; the first one is the fallback.
    pub certs: Vec<CertKey>,
    /// ALPN protocol names, in preference order.
    pub alpn: Vec<Vec<u8>>,
    /// Enabled TLS versions.
    pub protocols: Protocols,
    /// Connect plus handshake bound (also read by the TCP layer).
    pub timeout: Option<Duration>,
    /// Session resumption (tickets, session cache); default on.
    pub resumption: bool,
    /// Server side: client certificate policy.
    pub verify_client: VerifyClient,
    /// Extension: the name to send as SNI and verify, overriding the host.
    pub servername: Option<String>,
    /// Accept any server certificate chain and dates; the host name is
    /// still checked (as libtls), unless `insecure_no_verify_name`.
    pub insecure_no_verify_cert: bool,
    /// Check chain and dates but not the host name.
    pub insecure_no_verify_name: bool,
    /// Check chain and name but not the validity dates.
    pub insecure_no_verify_time: bool,
    /// Suites, groups, chain depth, session lifetime, ticket keys.
    pub tuning: Tuning,
    /// CRLs and OCSP (`revocation_options.rs`).
    pub revocation: RevocationOptions,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            cafile: None,
            ca: None,
            cert: None,
            key: None,
            certs: Vec::new(),
            alpn: Vec::new(),
            protocols: Protocols::default(),
            timeout: None,
            resumption: true,
            verify_client: VerifyClient::None,
            servername: None,
            insecure_no_verify_cert: false,
            insecure_no_verify_name: false,
            insecure_no_verify_time: false,
            tuning: Tuning::default(),
            revocation: RevocationOptions::default(),
        }
    }
}

impl TlsOptions {
    /// Reads and checks an options table; raises on misuse.
    pub fn from_table(table: &Table) -> mlua::Result<Self> {
        let mut o = Self::default();
        for pair in table.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let key = match &k {
                Value::String(s) => s.to_str()?.to_string(),
                other => {
                    return Err(misuse(format!(
                        "TLS option keys must be strings, got {}",
                        crate::api::surface::type_name(other)
                    )))
                }
            };
            o.set(&key, v)?;
        }
        if o.key.is_some() != o.cert.is_some() {
            let (given, missing) = if o.key.is_some() {
                ("key", "cert")
            } else {
                ("cert", "key")
            };
            return Err(misuse(format!(
                "TLS option '{given}' needs option '{missing}'"
            )));
        }
        o.revocation.check()?;
        Ok(o)
    }

    fn set(&mut self, key: &str, v: Value) -> mlua::Result<()> {
        match key {
            "cafile" => self.cafile = Some(PathBuf::from(string(key, &v)?)),
            "ca" => {
                let text = string(key, &v)?;
                if !text.contains("-----BEGIN") {
                    return Err(misuse(
                        "TLS option 'ca' must be PEM text (use 'cafile' for a path)",
                    ));
                }
                self.ca = Some(text);
            }
            "cert" => self.cert = Some(PemSource::parse(&string(key, &v)?)),
            "key" => self.key = Some(PemSource::parse(&string(key, &v)?)),
            "certs" => self.certs = cert_list(&v)?,
            "alpn" => self.alpn = alpn(&v)?,
            "protocols" => self.protocols = protocols(&v)?,
            "timeout" => self.timeout = Some(timeout(&v)?),
            "resumption" => self.resumption = boolean(key, &v)?,
            "verify_client" => self.verify_client = verify_client(&v)?,
            "servername" => self.servername = Some(string(key, &v)?),
            "insecure_no_verify_cert" => self.insecure_no_verify_cert = boolean(key, &v)?,
            "insecure_no_verify_name" => self.insecure_no_verify_name = boolean(key, &v)?,
            "insecure_no_verify_time" => self.insecure_no_verify_time = boolean(key, &v)?,
            k if tuning::KEYS.contains(&k) => self.tuning.set(k, &v)?,
            k if REVOCATION_KEYS.contains(&k) => self.revocation.set(k, &v)?,
            k if TCP_KEYS.contains(&k) => {}
            k => return Err(misuse(format!("unknown TLS option '{k}'"))),
        }
        Ok(())
    }

    /// All server certificates: `cert`/`key` first, then `certs`.
    pub fn server_certs(&self) -> Vec<CertKey> {
        let first = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(CertKey {
                cert: cert.clone(),
                key: key.clone(),
                ocsp_staple: self.revocation.ocsp_staple.clone(),
            }),
            _ => None,
        };
        first
            .into_iter()
            .chain(self.certs.iter().cloned())
            .collect()
    }

    /// Every file the options name: a config built from them is rebuilt
    /// when one of these changes (see `stamps.rs`). Options that name
    /// files add them here.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.cafile.iter().cloned().collect();
        // server_certs() carries `ocsp_staple` into the first entry.
        for ck in self.server_certs() {
            for src in [ck.cert, ck.key] {
                if let PemSource::Path(p) = src {
                    out.push(p);
                }
            }
            if let Some(Staple::Path(p)) = ck.ocsp_staple {
                out.push(p);
            }
        }
        for src in &self.revocation.crl {
            if let PemSource::Path(p) = src {
                out.push(p.clone());
            }
        }
        out.extend(self.tuning.ticket_key_file.iter().cloned());
        out
    }

    /// Whether any `insecure_*` option is on.
    pub fn insecure(&self) -> bool {
        self.insecure_no_verify_cert || self.insecure_no_verify_name || self.insecure_no_verify_time
    }
}

fn alpn(v: &Value) -> mlua::Result<Vec<Vec<u8>>> {
    let names = strings("alpn", v, "an array of strings")?;
    if let Some(bad) = names.iter().find(|n| n.is_empty() || n.len() > 255) {
        return Err(misuse(format!(
            "TLS option 'alpn': protocol name '{bad}' must be 1 to 255 bytes"
        )));
    }
    Ok(names.into_iter().map(String::into_bytes).collect())
}

fn protocols(v: &Value) -> mlua::Result<Protocols> {
    let mut p = Protocols {
        tls12: false,
        tls13: false,
    };
    for name in strings("protocols", v, "a string or an array of strings")? {
        match name.to_ascii_lowercase().as_str() {
            "tlsv1.2" => p.tls12 = true,
            "tlsv1.3" => p.tls13 = true,
            "all" | "default" | "secure" => p = Protocols::default(),
            _ => {
                return Err(misuse(format!(
                    "TLS option 'protocols': unknown or unsupported protocol '{name}' \
                     (use \"tlsv1.2\", \"tlsv1.3\" or \"all\")"
                )))
            }
        }
    }
    if !p.tls12 && !p.tls13 {
        return Err(misuse("TLS option 'protocols' enables no protocol"));
    }
    Ok(p)
}

fn timeout(v: &Value) -> mlua::Result<Duration> {
    let secs = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => return Err(wrong_type("timeout", "a number", v)),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| {
        misuse(format!(
            "TLS option 'timeout' must be a non-negative number of seconds, got {secs}"
        ))
    })
}

fn verify_client(v: &Value) -> mlua::Result<VerifyClient> {
    match v {
        Value::Boolean(true) => Ok(VerifyClient::Required),
        Value::Boolean(false) => Ok(VerifyClient::None),
        Value::String(_) => match string("verify_client", v)?.as_str() {
            "required" => Ok(VerifyClient::Required),
            "optional" => Ok(VerifyClient::Optional),
            "none" => Ok(VerifyClient::None),
            other => Err(misuse(format!(
                "TLS option 'verify_client' must be \"required\" or \"optional\", got \"{other}\""
            ))),
        },
        _ => Err(wrong_type(
            "verify_client",
            "\"required\" or \"optional\"",
            v,
        )),
    }
}

/// `certs = { {cert = ..., key = ...}, ... }`.
fn cert_list(v: &Value) -> mlua::Result<Vec<CertKey>> {
    let Value::Table(t) = v else {
        return Err(wrong_type("certs", "an array of {cert=, key=} tables", v));
    };
    elements("certs", t, cert_entry)
}

/// One entry of `certs`, named `certs[i]` in messages.
fn cert_entry(where_: &str, item: &Value) -> mlua::Result<CertKey> {
    let Value::Table(entry) = item else {
        return Err(wrong_type(where_, "a {cert=, key=} table", item));
    };
    let (mut cert, mut key, mut ocsp_staple) = (None, None, None);
    for pair in entry.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let name = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => {
                return Err(misuse(format!(
                    "TLS option '{where_}' keys must be strings, got {}",
                    crate::api::surface::type_name(other)
                )))
            }
        };
        let field = format!("{where_}.{name}");
        match name.as_str() {
            "cert" => cert = Some(PemSource::parse(&string(&field, &v)?)),
            "key" => key = Some(PemSource::parse(&string(&field, &v)?)),
            "ocsp_staple" => ocsp_staple = Some(revocation_options::staple(&field, &v)?),
            _ => return Err(misuse(format!("unknown TLS option '{field}'"))),
        }
    }
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(CertKey {
            cert,
            key,
            ocsp_staple,
        }),
        _ => Err(misuse(format!(
            "TLS option '{where_}' needs both 'cert' and 'key'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn parse(lua: &Lua, src: &str) -> mlua::Result<TlsOptions> {
        let t: Table = lua.load(src).eval()?;
        TlsOptions::from_table(&t)
    }

    fn err(src: &str) -> String {
        let lua = Lua::new();
        parse(&lua, src).unwrap_err().to_string()
    }

    #[test]
    fn empty_table_is_default() {
        let lua = Lua::new();
        assert_eq!(parse(&lua, "{}").unwrap(), TlsOptions::default());
        assert!(TlsOptions::default().resumption);
    }

    #[test]
    fn reads_every_option() {
        let lua = Lua::new();
        let o = parse(
            &lua,
            r#"{ cafile = "/ca.pem", ca = "-----BEGIN CERTIFICATE-----\nx", cert = "/c.pem", key = "-----BEGIN PRIVATE KEY-----",
                alpn = {"h2", "http/1.1"}, protocols = "tlsv1.3", timeout = 2.5, resumption = false,
                verify_client = "optional", servername = "example.org",
                insecure_no_verify_cert = true, insecure_no_verify_name = false, insecure_no_verify_time = true,
                certs = { {cert = "/o.pem", key = "/o.key"} },
                nodelay = true, backlog = 10, reuseport = true, maxline = 100 }"#,
        )
        .unwrap();
        assert_eq!(o.cafile, Some(PathBuf::from("/ca.pem")));
        assert!(o.ca.as_ref().unwrap().starts_with("-----BEGIN"));
        assert_eq!(o.cert, Some(PemSource::Path("/c.pem".into())));
        assert!(matches!(o.key, Some(PemSource::Text(_))));
        assert_eq!(o.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(
            o.protocols,
            Protocols {
                tls12: false,
                tls13: true
            }
        );
        assert_eq!(o.timeout, Some(Duration::from_millis(2500)));
        assert!(!o.resumption);
        assert_eq!(o.verify_client, VerifyClient::Optional);
        assert_eq!(o.servername.as_deref(), Some("example.org"));
        assert!(
            o.insecure_no_verify_cert && !o.insecure_no_verify_name && o.insecure_no_verify_time
        );
        assert_eq!(o.server_certs().len(), 2);
        assert_eq!(o.server_certs()[1].cert, PemSource::Path("/o.pem".into()));
    }

    #[test]
    fn protocol_forms() {
        let lua = Lua::new();
        let p = |s: &str| parse(&lua, s).unwrap().protocols;
        assert_eq!(p(r#"{protocols = "all"}"#), Protocols::default());
        assert_eq!(
            p(r#"{protocols = {"tlsv1.2"}}"#),
            Protocols {
                tls12: true,
                tls13: false
            }
        );
        assert_eq!(
            p(r#"{protocols = {"TLSv1.2", "tlsv1.3"}}"#),
            Protocols::default()
        );
        assert!(err(r#"{protocols = "tlsv1.0"}"#).contains("'tlsv1.0'"));
        assert!(err(r#"{protocols = {}}"#).contains("enables no protocol"));
    }

    #[test]
    fn unknown_keys_name_the_key() {
        assert!(err(r#"{cafil = "x"}"#).contains("unknown TLS option 'cafil'"));
        assert!(err(r#"{[1] = "x"}"#).contains("keys must be strings"));
        assert!(
            err(r#"{certs = {{cert = "a", key = "b", pass = "c"}}}"#).contains("'certs[1].pass'")
        );
    }

    #[test]
    fn wrong_types_name_the_option() {
        assert!(err(r#"{cafile = 1}"#).contains("'cafile' must be a string, got number"));
        assert!(err(r#"{resumption = "no"}"#).contains("'resumption' must be a boolean"));
        assert!(err(r#"{alpn = {"h2", 3}}"#).contains("'alpn[2]' must be a string, got number"));
        assert!(err(r#"{protocols = {"tlsv1.3", true}}"#)
            .contains("'protocols[2]' must be a string, got boolean"));
        assert!(err(r#"{alpn = {""}}"#).contains("'alpn'"));
        assert!(err(r#"{timeout = "5"}"#).contains("'timeout' must be a number"));
        assert!(err(r#"{timeout = -1}"#).contains("'timeout' must be a non-negative"));
        assert!(err(r#"{verify_client = "maybe"}"#).contains("'verify_client'"));
        assert!(err(r#"{ca = "/etc/ssl/ca.pem"}"#).contains("use 'cafile'"));
        assert!(err(r#"{certs = {"x"}}"#)
            .contains("'certs[1]' must be a {cert=, key=} table, got string"));
        assert!(err(r#"{certs = {{[1] = "x"}}}"#)
            .contains("'certs[1]' keys must be strings, got number"));
        assert!(err(r#"{certs = {{cert = "a"}}}"#).contains("needs both"));
        assert!(err(r#"{key = "k.pem"}"#).contains("'key' needs option 'cert'"));
    }

    #[test]
    fn pem_source_detection() {
        assert_eq!(
            PemSource::parse("a/b.pem"),
            PemSource::Path("a/b.pem".into())
        );
        assert!(matches!(
            PemSource::parse("-----BEGIN CERTIFICATE-----"),
            PemSource::Text(_)
        ));
        assert_eq!(PemSource::parse("x.pem").describe(), "x.pem");
    }
}

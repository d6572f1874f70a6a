//! rustls client and server configs from [`TlsOptions`], always with our
//! explicit provider (see `provider.rs`).

use std::sync::{Arc, OnceLock};

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::version::{TLS12, TLS13};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::client_verifier::{AnyClientCert, DepthLimited};
use super::depth::DepthLimit;
use super::options::{CertKey, PemSource, Protocols, TlsOptions, VerifyClient};
use super::pem::{add_roots, load_certs, load_chain};
use super::provider::ticketer;
use super::revocation::{Checks, RevocationVerifier};
use super::revocation_options::check_side;
use super::sessions::Sessions;
use super::signing_key;
use super::sni::SniResolver;
use super::tickets::{Binding, ExpiringCache, KeyedTicketer, DEFAULT_LIFETIME};
use super::tuning::{crypto_provider, parse_key_file, Tuning};
use super::verifier::{ServerVerifier, Skip};
use super::verify_errors::words;
use super::{crl, staple};
use crate::error::NetError;
use rustls::server::ProducesTickets;
use rustls_pki_types::CertificateDer;

fn config_error(msg: impl Into<String>) -> NetError {
    NetError::new("config", msg)
}

/// A client config: verifies servers against `cafile`/`ca` or the Mozilla
/// roots, offers `cert`/`key` as client certificate, ALPN, resumption
/// (sessions kept in `sessions`).
pub fn client_config(
    opts: &TlsOptions,
    sessions: &Arc<Sessions>,
) -> Result<Arc<ClientConfig>, NetError> {
    unused_on_client(opts).map_err(config_error)?;
    let provider = crypto_provider(&opts.tuning);
    let roots = match custom_roots(opts)? {
        Some(r) => Arc::new(r),
        None => mozilla_roots(),
    };
    let depth = opts.tuning.verify_depth.map(|max| {
        DepthLimit::new(
            max,
            roots.clone(),
            provider.signature_verification_algorithms,
        )
    });
    check_side(opts, false)?;
    let crls = crl::load(&opts.revocation)?;
    let mut webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone());
    if let Some(crls) = &crls {
        webpki = crl::server_chain_policy(
            webpki,
            crls,
            &opts.revocation,
            !opts.insecure_no_verify_time,
        );
    }
    let webpki = webpki.build().map_err(|e| {
        config_error(format!(
            "cannot build certificate verifier: {}",
            words(&e.to_string())
        ))
    })?;
    let skip = Skip {
        cert: opts.insecure_no_verify_cert,
        name: opts.insecure_no_verify_name,
        time: opts.insecure_no_verify_time,
    };
    // Always our wrapper: it names self-signed certificates even when
    // nothing is skipped.
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(opts.protocols))
        .map_err(|e| versions_error(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RevocationVerifier::new(
            Arc::new(
                ServerVerifier::new(webpki, skip)
                    .with_pinned(custom_certs(opts)?)
                    .with_depth(depth),
            ),
            roots,
            crls,
            Checks {
                ocsp_require: opts.revocation.ocsp_require,
                time: !skip.time,
                cert: !skip.cert,
            },
        )));
    let mut config = match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let own = certified_key(&CertKey {
                cert: cert.clone(),
                key: key.clone(),
                ocsp_staple: None,
            })?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(own)))
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = opts.alpn.clone();
    config.resumption = if opts.resumption {
        Resumption::store(sessions.clone())
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// A server config: one or several certificates chosen by SNI, client
/// certificates per `verify_client`, tickets and a session cache unless
/// `resumption = false`.
pub fn server_config(opts: &TlsOptions) -> Result<Arc<ServerConfig>, NetError> {
    unused_on_server(opts).map_err(config_error)?;
    let provider = crypto_provider(&opts.tuning);
    check_side(opts, true)?;
    let list = opts.server_certs();
    if list.is_empty() {
        return Err(config_error("a TLS server needs options 'cert' and 'key'"));
    }
    let keys = list
        .iter()
        .map(certified_key)
        .collect::<Result<Vec<_>, _>>()?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(opts.protocols))
        .map_err(|e| versions_error(&e))?;
    // What tickets are bound to (tickets.rs): the client-certificate rules.
    let mode_name: &[u8] = match opts.verify_client {
        VerifyClient::None => b"none",
        VerifyClient::Optional => b"optional",
        VerifyClient::Required => b"required",
    };
    let mut binding = Binding::of([mode_name, b"any"]);
    let builder = match opts.verify_client {
        VerifyClient::None => builder.with_no_client_auth(),
        // Trust on first use: any certificate, identified by its hash.
        mode if opts.insecure_no_verify_cert => {
            builder.with_client_cert_verifier(AnyClientCert::new(
                mode == VerifyClient::Required,
                provider.signature_verification_algorithms,
            ))
        }
        mode => {
            let roots = custom_roots(opts)?.ok_or_else(|| {
                config_error(
                    "option 'verify_client' needs 'cafile' or 'ca' to name the client CAs \
                     (or 'insecure_no_verify_cert' to accept any client certificate)",
                )
            })?;
            let crls = crl::load(&opts.revocation)?;
            binding = client_rules(mode_name, &roots, crls.as_deref(), opts);
            let roots = Arc::new(roots);
            let algs = provider.signature_verification_algorithms;
            let mut v = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider);
            if mode == VerifyClient::Optional {
                v = v.allow_unauthenticated();
            }
            if let Some(crls) = &crls {
                v = crl::client_chain_policy(v, crls, &opts.revocation);
            }
            let mut v = v.build().map_err(|e| {
                config_error(format!(
                    "cannot build client verifier: {}",
                    words(&e.to_string())
                ))
            })?;
            if let Some(crls) = crls {
                v = crl::NamedRevocation::wrap(v, crls);
            }
            match opts.tuning.verify_depth {
                Some(max) => builder.with_client_cert_verifier(DepthLimited::new(
                    v,
                    DepthLimit::new(max, roots, algs),
                )),
                None => builder.with_client_cert_verifier(v),
            }
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(SniResolver::new(keys)));
    config.alpn_protocols = opts.alpn.clone();
    if opts.resumption {
        // TLS 1.3 and 1.2 tickets; the session cache serves 1.2 clients
        // that do not do tickets.
        config.ticketer = session_ticketer(&opts.tuning, binding)?;
        if let Some(secs) = opts.tuning.session_lifetime {
            config.session_storage = ExpiringCache::new(secs);
        }
    } else {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

/// Protocols and suites that leave nothing to negotiate.
fn versions_error(e: &rustls::Error) -> NetError {
    config_error(format!(
        "options 'protocols' and 'ciphers' leave no usable combination ({})",
        words(&e.to_string())
    ))
}

/// Options a client would ignore: refused, never accepted silently.
fn unused_on_client(opts: &TlsOptions) -> Result<(), String> {
    let only_server = if opts.verify_client != VerifyClient::None {
        Some("verify_client")
    } else if !opts.certs.is_empty() {
        Some("certs")
    } else {
        opts.tuning.server_only()
    };
    if let Some(name) = only_server {
        return Err(format!(
            "option '{name}' applies only to servers (a client would ignore it)"
        ));
    }
    if opts.tuning.verify_depth.is_some() && opts.insecure_no_verify_cert {
        return Err(
            "option 'verify_depth' does nothing with 'insecure_no_verify_cert' (no chain is verified)"
                .into(),
        );
    }
    Ok(())
}

/// Options a server would ignore: refused, never accepted silently.
fn unused_on_server(opts: &TlsOptions) -> Result<(), String> {
    let client_only = if opts.servername.is_some() {
        Some("servername")
    } else if opts.insecure_no_verify_name {
        Some("insecure_no_verify_name")
    } else if opts.insecure_no_verify_time {
        Some("insecure_no_verify_time")
    } else {
        None
    };
    if let Some(name) = client_only {
        return Err(format!(
            "option '{name}' applies only to clients (a server would ignore it)"
        ));
    }
    let verifies = opts.verify_client != VerifyClient::None;
    let has_ca = opts.cafile.is_some() || opts.ca.is_some();
    if !verifies {
        for (set, name) in [
            (opts.insecure_no_verify_cert, "insecure_no_verify_cert"),
            (has_ca, "cafile' or 'ca"),
            (opts.tuning.verify_depth.is_some(), "verify_depth"),
        ] {
            if set {
                return Err(format!(
                    "option '{name}' on a server needs 'verify_client' (it checks client certificates)"
                ));
            }
        }
    }
    if opts.insecure_no_verify_cert {
        if has_ca {
            return Err(
                "options 'cafile' and 'ca' do nothing with 'insecure_no_verify_cert' \
                        (any client certificate is accepted)"
                    .into(),
            );
        }
        if !opts.revocation.crl.is_empty() {
            return Err("option 'crl' does nothing with 'insecure_no_verify_cert' \
                        (no client chain is verified)"
                .into());
        }
        if opts.tuning.verify_depth.is_some() {
            return Err(
                "option 'verify_depth' does nothing with 'insecure_no_verify_cert' \
                        (no chain is verified)"
                    .into(),
            );
        }
    }
    if !opts.resumption {
        if let Some(name) = opts.tuning.server_only() {
            return Err(format!(
                "option '{name}' does nothing with 'resumption = false'"
            ));
        }
    }
    Ok(())
}

/// The binding of tickets to a server that verifies client certificates:
/// its mode, trust anchors, CRLs and limits, by content.
fn client_rules(
    mode: &[u8],
    roots: &RootCertStore,
    crls: Option<&crl::Crls>,
    opts: &TlsOptions,
) -> Binding {
    let depth = opts.tuning.verify_depth.map(|d| d as u64 + 1).unwrap_or(0);
    let flags = [u8::from(opts.revocation.crl_require)];
    let depth = depth.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![mode, b"verify", &flags, &depth];
    for a in &roots.roots {
        parts.push(a.subject.as_ref());
        parts.push(a.subject_public_key_info.as_ref());
        parts.push(a.name_constraints.as_ref().map_or(&[][..], |n| n.as_ref()));
    }
    if let Some(c) = crls {
        parts.extend(c.ders().map(|d| d.as_ref()));
    }
    Binding::of(parts)
}

/// The ticketer: our keyed one when keys or a lifetime are given, else
/// rustls' own (random keys, rotated every 6 hours; a rebuilt config has
/// new ones, so its tickets need no binding).
fn session_ticketer(t: &Tuning, binding: Binding) -> Result<Arc<dyn ProducesTickets>, NetError> {
    let lifetime = t.session_lifetime.unwrap_or(DEFAULT_LIFETIME);
    let keys = match &t.ticket_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                let why = NetError::from_io("", &e).message;
                config_error(format!(
                    "cannot read ticket key file {}: {why}",
                    path.display()
                ))
            })?;
            parse_key_file(&text)
                .map_err(|m| config_error(format!("bad ticket key file {}: {m}", path.display())))?
        }
        None => t.ticket_keys.clone(),
    };
    let made = if !keys.is_empty() {
        KeyedTicketer::new(&keys, lifetime, binding)
    } else if t.session_lifetime.is_some() {
        KeyedTicketer::random(lifetime, binding)
    } else {
        return ticketer();
    };
    made.map(|k| k as Arc<dyn ProducesTickets>)
        .ok_or_else(|| config_error("cannot derive session ticket keys"))
}

/// A certificate chain with its signing key; checks that they belong
/// together. Servers and client certificates both come through here.
pub fn certified_key(ck: &CertKey) -> Result<Arc<CertifiedKey>, NetError> {
    let chain = load_chain(&ck.cert)?;
    let key = signing_key::load(&ck.key)?;
    let mut certified = CertifiedKey::new(chain, key);
    certified.ocsp = staple::load(ck.ocsp_staple.as_ref())?;
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(config_error(format!(
            "private key {} does not match certificate {}",
            ck.key.describe(),
            ck.cert.describe()
        ))),
        // load_chain parsed the certificate already; whatever else is
        // wrong is still the certificate's, not the key's.
        Err(e) => Err(config_error(format!(
            "unusable certificate {}: {}",
            ck.cert.describe(),
            words(&e.to_string())
        ))),
    }
}

/// The store from `cafile` and `ca`, or `None` when neither is given.
fn custom_roots(opts: &TlsOptions) -> Result<Option<RootCertStore>, NetError> {
    if opts.cafile.is_none() && opts.ca.is_none() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    if let Some(path) = &opts.cafile {
        add_roots(&mut roots, &PemSource::Path(path.clone()))?;
    }
    if let Some(text) = &opts.ca {
        add_roots(&mut roots, &PemSource::Text(text.clone()))?;
    }
    Ok(Some(roots))
}

/// The certificates of `cafile` and `ca` themselves (for pinning).
fn custom_certs(opts: &TlsOptions) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let mut out = Vec::new();
    if let Some(path) = &opts.cafile {
        out.extend(load_certs(&PemSource::Path(path.clone()))?);
    }
    if let Some(text) = &opts.ca {
        out.extend(load_certs(&PemSource::Text(text.clone()))?);
    }
    Ok(out)
}

/// The bundled Mozilla roots, built once.
fn mozilla_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        })
        .clone()
}

fn versions(p: Protocols) -> Vec<&'static SupportedProtocolVersion> {
    let mut v = Vec::new();
    if p.tls13 {
        v.push(&TLS13);
    }
    if p.tls12 {
        v.push(&TLS12);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::path;

    fn opts_with(f: impl FnOnce(&mut TlsOptions)) -> TlsOptions {
        let mut o = TlsOptions::default();
        f(&mut o);
        o
    }

    fn file(name: &str) -> PemSource {
        PemSource::Path(path(name))
    }

    #[test]
    fn default_client_uses_mozilla_roots() {
        let c = client_config(&TlsOptions::default(), &Sessions::new()).unwrap();
        assert!(c.alpn_protocols.is_empty());
        assert!(mozilla_roots().len() > 100);
    }

    #[test]
    fn client_with_everything() {
        let o = opts_with(|o| {
            o.cafile = Some(path("ca.pem"));
            o.cert = Some(file("client.pem"));
            o.key = Some(file("client.key"));
            o.alpn = vec![b"h2".to_vec()];
            o.resumption = false;
        });
        let c = client_config(&o, &Sessions::new()).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(c.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn server_needs_a_certificate() {
        let e = server_config(&TlsOptions::default()).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("config", "a TLS server needs options 'cert' and 'key'")
        );
    }

    #[test]
    fn server_forms() {
        let base = |o: &mut TlsOptions| {
            o.cert = Some(file("server.pem"));
            o.key = Some(file("server-sec1.key"));
        };
        let s = server_config(&opts_with(base)).unwrap();
        assert!(s.ticketer.enabled());
        let s = server_config(&opts_with(|o| {
            base(o);
            o.resumption = false;
        }))
        .unwrap();
        assert!(!s.ticketer.enabled());
        assert_eq!(s.send_tls13_tickets, 0);
        let e = server_config(&opts_with(|o| {
            base(o);
            o.verify_client = VerifyClient::Required;
        }))
        .unwrap_err();
        assert!(
            e.message.contains("needs 'cafile' or 'ca'"),
            "{}",
            e.message
        );
        server_config(&opts_with(|o| {
            base(o);
            o.verify_client = VerifyClient::Optional;
            o.ca = Some(std::fs::read_to_string(path("ca.pem")).unwrap());
        }))
        .unwrap();
    }

    #[test]
    fn mismatched_key_is_refused() {
        let e = certified_key(&CertKey {
            cert: file("server.pem"),
            key: file("other.key"),
            ocsp_staple: None,
        })
        .unwrap_err();
        assert!(e.message.contains("does not match"), "{}", e.message);
        certified_key(&CertKey {
            cert: file("rsa.pem"),
            key: file("rsa.key"),
            ocsp_staple: None,
        })
        .unwrap();
    }

    #[test]
    fn each_file_takes_the_blame_for_itself() {
        let junk_cert = PemSource::Text(
            "-----BEGIN CERTIFICATE-----\nMIIBAAECAwQ=\n-----END CERTIFICATE-----\n".into(),
        );
        let junk_key = PemSource::Text(
            "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n".into(),
        );
        let server = |cert: &PemSource, key: &PemSource| {
            server_config(&opts_with(|o| {
                o.cert = Some(cert.clone());
                o.key = Some(key.clone());
            }))
            .unwrap_err()
            .message
        };
        let client = |cert: &PemSource, key: &PemSource| {
            client_config(
                &opts_with(|o| {
                    o.cert = Some(cert.clone());
                    o.key = Some(key.clone());
                }),
                &Sessions::new(),
            )
            .unwrap_err()
            .message
        };
        for m in [
            server(&junk_cert, &file("server.key")),
            client(&junk_cert, &file("client.key")),
        ] {
            assert!(m.starts_with("unusable certificate PEM text:"), "{m}");
            assert!(!m.contains("private key"), "{m}");
        }
        for m in [
            server(&file("server.pem"), &junk_key),
            client(&file("client.pem"), &junk_key),
        ] {
            assert!(m.starts_with("unusable private key PEM text:"), "{m}");
        }
        let m = client(&file("client.pem"), &file("other.key"));
        assert!(m.contains("does not match certificate"), "{m}");
    }

    #[test]
    fn bad_cafile_is_a_config_error() {
        let e = client_config(
            &opts_with(|o| o.cafile = Some("/nonexistent.pem".into())),
            &Sessions::new(),
        )
        .unwrap_err();
        assert_eq!(e.code, "config");
        assert!(e.message.contains("/nonexistent.pem"));
    }
}

//! Revocation between our client and our server over 127.0.0.1: what
//! each side reports, including the server's own message (a Lua server
//! closes a failed handshake before its handler runs), and staples that
//! `openssl s_server` and nginx refuse to serve (truncated, garbage).

use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ServerConfig;

use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;

use super::harness::*;
use crate::stream::transport::Transport;
use crate::tls::config::{certified_key, server_config};
use crate::tls::ocsp::CertState;
use crate::tls::options::{CertKey, PemSource, Protocols, TlsOptions, VerifyClient};
use crate::tls::revocation_options::{RevocationOptions, Staple};
use crate::tls::testutil::revocation_path as path;
use crate::tls::{TlsConfig, TlsTransport};

fn src(name: &str) -> PemSource {
    PemSource::Path(path(name))
}

fn trust(revocation: RevocationOptions) -> TlsOptions {
    TlsOptions {
        cafile: Some(path("rca.pem")),
        revocation,
        ..TlsOptions::default()
    }
}

fn serving(name: &str, revocation: RevocationOptions) -> TlsOptions {
    TlsOptions {
        cert: Some(src(&format!("{name}.pem"))),
        key: Some(src(&format!("{name}.key"))),
        revocation,
        ..TlsOptions::default()
    }
}

fn crl() -> RevocationOptions {
    RevocationOptions {
        crl: vec![src("rca.crl")],
        ..RevocationOptions::default()
    }
}

/// Client and server results of one handshake (messages and codes).
type Outcome = (
    Result<TlsTransport, (String, &'static str)>,
    Result<TlsTransport, String>,
);

fn handshake(client: TlsOptions, server: &TlsConfig) -> Outcome {
    handshake_with(client, |sock| TlsTransport::accept(sock, server).unwrap())
}

fn handshake_with(client: TlsOptions, server: impl FnOnce(TcpStream) -> TlsTransport) -> Outcome {
    let c = TlsConfig::new(client);
    let (cs, ss) = socket_pair();
    let mut ct = TlsTransport::connect(cs, &c, "localhost").unwrap();
    let mut st = server(ss);
    let (cr, sr) = handshake_both(&mut ct, &mut st);
    // TLS 1.3: the server's verdict on a client certificate arrives after
    // the client's handshake is done; a read hears it.
    let cr = cr.and_then(|()| {
        if sr.is_err() {
            read_to_end(&mut ct).1
        } else {
            Ok(())
        }
    });
    (
        cr.map(|()| ct).map_err(|e| (net(&e).message, net(&e).code)),
        sr.map(|()| st).map_err(|e| net(&e).message),
    )
}

#[test]
fn server_names_the_revoked_client_certificate() {
    for protocols in [
        Protocols {
            tls12: true,
            tls13: false,
        },
        Protocols {
            tls12: false,
            tls13: true,
        },
    ] {
        let server = TlsConfig::new(TlsOptions {
            verify_client: VerifyClient::Required,
            cafile: Some(path("rca.pem")),
            protocols,
            ..serving("good", crl())
        });
        let client = |name: &str| TlsOptions {
            cert: Some(src(&format!("{name}.pem"))),
            key: Some(src(&format!("{name}.key"))),
            ..trust(RevocationOptions::default())
        };
        let (c, s) = handshake(client("client-revoked"), &server);
        let msg = s.expect_err("the server refuses");
        // rca numbers from 1000 in the order gen-revocation.sh issues (good,
        // revoked, other, client-good, client-revoked).
        assert!(
            msg.starts_with(
                "client certificate rejected: certificate revoked: \
                 /O=lua-tls tests/CN=client-revoked (serial 1004, keyCompromise, revoked "
            ),
            "{msg}"
        );
        let (msg, code) = c.expect_err("the client hears it");
        assert_eq!(code, "certificate");
        assert!(msg.contains("alert certificate_revoked"), "{msg}");
        let (c, s) = handshake(client("client-good"), &server);
        assert!(c.is_ok() && s.is_ok());
    }
}

#[test]
fn client_reports_the_verified_staple() {
    let server = TlsConfig::new(serving(
        "good",
        RevocationOptions {
            ocsp_staple: Some(Staple::Path(path("good.ocsp"))),
            ..RevocationOptions::default()
        },
    ));
    let (c, _) = handshake(
        trust(RevocationOptions {
            ocsp_require: true,
            ..crl()
        }),
        &server,
    );
    let info = c.unwrap().tls_info().unwrap();
    assert_eq!(info.ocsp.unwrap().state, CertState::Good);
    assert_eq!(info.ocsp_error, None);
}

/// A server config stapling `bytes` as they are (the options refuse them).
fn raw_staple(bytes: &[u8]) -> Arc<ServerConfig> {
    #[derive(Debug)]
    struct Fixed(Arc<CertifiedKey>);
    impl ResolvesServerCert for Fixed {
        fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let mut key = (*certified_key(&CertKey {
        cert: src("good.pem"),
        key: src("good.key"),
        ocsp_staple: None,
    })
    .unwrap())
    .clone();
    key.ocsp = Some(bytes.to_vec());
    let opts = serving("good", RevocationOptions::default());
    let mut config = (*server_config(&opts).unwrap()).clone();
    config.cert_resolver = Arc::new(Fixed(Arc::new(key)));
    Arc::new(config)
}

#[test]
fn truncated_and_garbage_staples() {
    let good = std::fs::read(path("good.ocsp")).unwrap();
    for bytes in [
        &good[..good.len() - 20],
        &good[..10],
        b"garbage garbage".as_slice(),
    ] {
        let server = raw_staple(bytes);
        let accept =
            |sock| TlsTransport::server(sock, server.clone(), Protocols::default()).unwrap();
        let (c, _) = handshake_with(trust(RevocationOptions::default()), accept);
        let info = c.unwrap().tls_info().unwrap();
        assert_eq!(info.ocsp, None);
        assert_eq!(
            info.ocsp_error.as_deref(),
            Some("it is not a DER OCSP response")
        );
        let (c, _) = handshake_with(
            trust(RevocationOptions {
                ocsp_require: true,
                ..RevocationOptions::default()
            }),
            accept,
        );
        let (msg, code) = c.err().unwrap();
        assert_eq!(code, "certificate");
        assert_eq!(
            msg,
            "stapled OCSP response rejected: it is not a DER OCSP response (ocsp_require)"
        );
    }
}

//! Our client against our server over 127.0.0.1.

use std::io;

use super::harness::*;
use crate::stream::transport::Transport;
use crate::tls::options::{CertKey, PemSource, Protocols, TlsOptions, VerifyClient};
use crate::tls::testutil::path;
use crate::tls::TlsConfig;

fn cfg(o: TlsOptions) -> TlsConfig {
    TlsConfig::new(o)
}

/// Handshakes; returns the client's and the server's failure messages.
fn handshake_errors(
    client: TlsOptions,
    server: TlsOptions,
    host: &str,
) -> (Option<(String, &'static str)>, Option<String>) {
    let (c, s) = (cfg(client), cfg(server));
    let (mut ct, mut st) = connect(&c, &s, host);
    let (cr, sr) = handshake_both(&mut ct, &mut st);
    (
        cr.err().map(|e| (net(&e).message, net(&e).code)),
        sr.err().map(|e| net(&e).message),
    )
}

#[test]
fn exchange_and_clean_close() {
    let (c, s) = (cfg(client_opts()), cfg(server_opts("server")));
    let (mut ct, mut st) = handshaken(&c, &s, "localhost");
    write_all(&mut ct, b"hello").unwrap();
    assert_eq!(read_exact(&mut st, 5).unwrap(), b"hello");
    let big = vec![7u8; 300_000]; // more than the socket and rustls buffers
    let writer = std::thread::spawn(move || {
        write_all(&mut st, &big).unwrap();
        block_on(|| st.shutdown()).unwrap();
        st
    });
    let (data, end) = read_to_end(&mut ct);
    let st = writer.join().unwrap();
    end.expect("close_notify gives a clean end");
    assert_eq!(data.len(), 300_000);

    let ci = ct.tls_info().unwrap();
    assert_eq!(ci.version.as_deref(), Some("TLSv1.3"));
    assert!(
        ci.cipher.as_deref().unwrap().starts_with("TLS_"),
        "{:?}",
        ci.cipher
    );
    assert_eq!(ci.servername.as_deref(), Some("localhost"));
    assert!(!ci.resumed);
    assert_eq!(ci.peer_chain.len(), 1);
    let si = st.tls_info().unwrap();
    assert_eq!(si.servername.as_deref(), Some("localhost"));
    assert!(si.peer_chain.is_empty());
}

#[test]
fn tcp_end_without_close_notify_is_truncation() {
    let (c, s) = (cfg(client_opts()), cfg(server_opts("server")));
    let (mut ct, mut st) = handshaken(&c, &s, "localhost");
    write_all(&mut st, b"partial").unwrap();
    drop(st); // TCP FIN, no close_notify
    let (data, end) = read_to_end(&mut ct);
    assert_eq!(data, b"partial", "buffered data comes first");
    let e = end.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(net(&e).code, "truncated");
}

#[test]
fn sessions_resume_with_a_shared_config() {
    for protocols in [
        Protocols {
            tls12: false,
            tls13: true,
        },
        Protocols {
            tls12: true,
            tls13: false,
        },
    ] {
        let c = cfg(TlsOptions {
            protocols,
            ..client_opts()
        });
        let s = cfg(server_opts("server"));
        let mut resumed = Vec::new();
        for _ in 0..2 {
            let (mut ct, mut st) = handshaken(&c, &s, "localhost");
            // Reading lets the client take the TLS 1.3 tickets.
            write_all(&mut st, b"x").unwrap();
            assert_eq!(read_exact(&mut ct, 1).unwrap(), b"x");
            resumed.push((
                ct.tls_info().unwrap().resumed,
                st.tls_info().unwrap().resumed,
            ));
            assert_eq!(
                ct.tls_info().unwrap().peer_chain.len(),
                1,
                "resumed sessions still report the peer"
            );
        }
        assert_eq!(resumed, vec![(false, false), (true, true)], "{protocols:?}");
    }
}

#[test]
fn resumption_false_makes_full_handshakes() {
    for (client_resumes, server_resumes) in [(false, true), (true, false)] {
        let c = cfg(TlsOptions {
            resumption: client_resumes,
            ..client_opts()
        });
        let s = cfg(TlsOptions {
            resumption: server_resumes,
            ..server_opts("server")
        });
        for _ in 0..2 {
            let (mut ct, mut st) = handshaken(&c, &s, "localhost");
            write_all(&mut st, b"x").unwrap();
            read_exact(&mut ct, 1).unwrap();
            assert!(!ct.tls_info().unwrap().resumed);
        }
    }
}

#[test]
fn certificate_failures_explain_themselves() {
    let cases = [
        (
            "wrongname",
            "localhost",
            "certificate is for wrong.example, not localhost",
        ),
        (
            "expired",
            "localhost",
            "certificate expired (not after 2020-01-01 00:00:00 UTC)",
        ),
        (
            "notyet",
            "localhost",
            "certificate not yet valid (not before 2090-01-01 00:00:00 UTC)",
        ),
        ("unknownca", "localhost", "unknown issuer"),
        (
            "selfsigned",
            "localhost",
            "unknown issuer (self-signed certificate)",
        ),
        (
            "iponly",
            "localhost",
            "certificate is for 127.0.0.1, not localhost",
        ),
        (
            "server",
            "10.1.2.3",
            "certificate is for localhost, 127.0.0.1, ::1, not 10.1.2.3",
        ),
    ];
    for (cert, host, want) in cases {
        let (client, server) = handshake_errors(client_opts(), server_opts(cert), host);
        assert_eq!(client, Some((want.to_string(), "certificate")), "{cert}");
        let server = server.expect("the server hears about it");
        assert!(
            server.starts_with("the client rejected our certificate (alert "),
            "{cert}: {server}"
        );
    }
}

#[test]
fn ip_names_verify_against_ip_sans() {
    for (cert, host) in [
        ("server", "127.0.0.1"),
        ("server", "::1"),
        ("server", "[::1]"),
        ("iponly", "127.0.0.1"),
    ] {
        let (c, s) = (cfg(client_opts()), cfg(server_opts(cert)));
        let (mut ct, mut st) = connect(&c, &s, host);
        let (cr, sr) = handshake_both(&mut ct, &mut st);
        cr.unwrap_or_else(|e| panic!("{cert} {host}: {e}"));
        sr.unwrap();
        assert_eq!(
            ct.tls_info().unwrap().servername,
            None,
            "no SNI for IP literals"
        );
    }
}

#[test]
fn insecure_options_skip_only_their_check() {
    let ok = |o: TlsOptions, cert: &str| handshake_errors(o, server_opts(cert), "localhost").0;
    assert_eq!(
        ok(
            TlsOptions {
                insecure_no_verify_name: true,
                ..client_opts()
            },
            "wrongname"
        ),
        None
    );
    assert_eq!(
        ok(
            TlsOptions {
                insecure_no_verify_time: true,
                ..client_opts()
            },
            "expired"
        ),
        None
    );
    assert_eq!(
        ok(
            TlsOptions {
                insecure_no_verify_cert: true,
                ..client_opts()
            },
            "selfsigned"
        ),
        None
    );
    assert_eq!(
        ok(
            TlsOptions {
                insecure_no_verify_cert: true,
                ..TlsOptions::default()
            },
            "unknownca"
        ),
        None
    );
    let (err, _) = handshake_errors(
        TlsOptions {
            insecure_no_verify_name: true,
            ..client_opts()
        },
        server_opts("expired"),
        "localhost",
    );
    assert!(err.unwrap().0.starts_with("certificate expired"));
}

#[test]
fn mozilla_roots_do_not_trust_the_test_ca() {
    let (err, _) = handshake_errors(TlsOptions::default(), server_opts("server"), "localhost");
    assert_eq!(err, Some(("unknown issuer".to_string(), "certificate")));
}

fn client_cert_opts(name: &str) -> TlsOptions {
    TlsOptions {
        cert: Some(PemSource::Path(path(&format!("{name}.pem")))),
        key: Some(PemSource::Path(path(&format!("{name}.key")))),
        ..client_opts()
    }
}

fn verifying_server(mode: VerifyClient, protocols: Protocols) -> TlsOptions {
    TlsOptions {
        verify_client: mode,
        cafile: Some(path("ca.pem")),
        protocols,
        ..server_opts("server")
    }
}

/// Handshake, then the client reads: with TLS 1.3 the client learns of a
/// rejection only after its own handshake has finished.
fn client_cert_outcome(
    client: TlsOptions,
    server: TlsOptions,
) -> (Result<usize, (String, &'static str)>, Option<String>) {
    let (c, s) = (cfg(client), cfg(server));
    let (mut ct, mut st) = connect(&c, &s, "localhost");
    let (cr, sr) = handshake_both(&mut ct, &mut st);
    let server_err = sr.as_ref().err().map(|e| net(e).message);
    let client = match cr {
        Err(e) => Err((net(&e).message, net(&e).code)),
        Ok(()) if sr.is_ok() => {
            write_all(&mut st, b"ok").unwrap();
            read_exact(&mut ct, 2)
                .map(|_| st.tls_info().unwrap().peer_chain.len())
                .map_err(|e| (net(&e).message, net(&e).code))
        }
        Ok(()) => {
            let mut buf = [0u8; 8];
            let e = block_on(|| ct.read(&mut buf)).unwrap_err();
            Err((net(&e).message, net(&e).code))
        }
    };
    (client, server_err)
}

#[test]
fn client_certificates() {
    for protocols in [
        Protocols {
            tls12: false,
            tls13: true,
        },
        Protocols {
            tls12: true,
            tls13: false,
        },
    ] {
        let required = verifying_server(VerifyClient::Required, protocols);
        let optional = verifying_server(VerifyClient::Optional, protocols);

        let (client, server) = client_cert_outcome(client_cert_opts("client"), required.clone());
        assert_eq!((client, server), (Ok(1), None), "{protocols:?}");

        let (client, server) = client_cert_outcome(client_opts(), required.clone());
        assert_eq!(
            server.as_deref(),
            Some("client certificate required"),
            "{protocols:?}"
        );
        let (msg, code) = client.unwrap_err();
        assert_eq!(code, "certificate", "{protocols:?}: {msg}");

        let (client, server) =
            client_cert_outcome(client_cert_opts("foreign-client"), required.clone());
        assert_eq!(
            server.as_deref(),
            Some("client certificate rejected: unknown issuer"),
            "{protocols:?}"
        );
        assert_eq!(
            client.unwrap_err(),
            (
                "client certificate rejected by the server (alert unknown_ca)".into(),
                "certificate"
            )
        );

        let (client, server) = client_cert_outcome(client_opts(), optional.clone());
        assert_eq!((client, server), (Ok(0), None), "{protocols:?}");
        let (client, _) = client_cert_outcome(client_cert_opts("client"), optional);
        assert_eq!(client, Ok(1));
    }
}

#[test]
fn client_sees_client_certificate_required_on_tls13() {
    let server = verifying_server(
        VerifyClient::Required,
        Protocols {
            tls12: false,
            tls13: true,
        },
    );
    let (client, _) = client_cert_outcome(client_opts(), server);
    assert_eq!(
        client.unwrap_err(),
        ("client certificate required".to_string(), "certificate")
    );
}

#[test]
fn alpn_negotiation() {
    let alpn = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let c = cfg(TlsOptions {
        alpn: alpn(&["h2", "http/1.1"]),
        ..client_opts()
    });
    let s = cfg(TlsOptions {
        alpn: alpn(&["http/1.1", "h2"]),
        ..server_opts("server")
    });
    let (ct, st) = handshaken(&c, &s, "localhost");
    assert_eq!(
        ct.tls_info().unwrap().alpn.as_deref(),
        Some("http/1.1"),
        "server preference wins"
    );
    assert_eq!(st.tls_info().unwrap().alpn.as_deref(), Some("http/1.1"));

    let mismatch = TlsOptions {
        alpn: alpn(&["x-other"]),
        ..server_opts("server")
    };
    let (client, server) = handshake_errors(
        TlsOptions {
            alpn: alpn(&["h2"]),
            ..client_opts()
        },
        mismatch,
        "localhost",
    );
    assert_eq!(
        server.as_deref(),
        Some("no ALPN protocol in common with the peer")
    );
    assert_eq!(
        client,
        Some((
            "no ALPN protocol in common with the peer (alert no_application_protocol)".into(),
            "handshake"
        ))
    );
}

#[test]
fn version_mismatch_names_the_version() {
    let only = |tls12, tls13| Protocols { tls12, tls13 };
    let (client, server) = handshake_errors(
        TlsOptions {
            protocols: only(false, true),
            ..client_opts()
        },
        TlsOptions {
            protocols: only(true, false),
            ..server_opts("server")
        },
        "localhost",
    );
    assert_eq!(
        client,
        Some((
            "peer does not support TLS 1.3 (alert protocol_version)".into(),
            "handshake"
        ))
    );
    assert_eq!(server.as_deref(), Some("peer does not support TLS 1.2"));

    let (client, server) = handshake_errors(
        TlsOptions {
            protocols: only(true, false),
            ..client_opts()
        },
        TlsOptions {
            protocols: only(false, true),
            ..server_opts("server")
        },
        "localhost",
    );
    assert_eq!(
        client,
        Some((
            "peer does not support TLS 1.2 (alert protocol_version)".into(),
            "handshake"
        ))
    );
    assert_eq!(server.as_deref(), Some("peer does not support TLS 1.3"));
}

#[test]
fn several_server_certificates_by_sni() {
    let s = cfg(TlsOptions {
        certs: vec![CertKey {
            cert: PemSource::Path(path("other.pem")),
            key: PemSource::Path(path("other.key")),
            ocsp_staple: None,
        }],
        ..server_opts("server")
    });
    let c = cfg(client_opts());
    for (host, cn) in [
        ("other.test", "other.test"),
        ("localhost", "localhost"),
        ("127.0.0.1", "localhost"),
    ] {
        let (mut ct, mut st) = connect(&c, &s, host);
        let (cr, sr) = handshake_both(&mut ct, &mut st);
        cr.unwrap_or_else(|e| panic!("{host}: {e}"));
        sr.unwrap();
        let leaf = &ct.tls_info().unwrap().peer_chain[0];
        assert_eq!(
            crate::tls::x509::parse(leaf)
                .unwrap()
                .common_name
                .as_deref(),
            Some(cn),
            "{host}"
        );
    }
}

#[test]
fn peer_closing_during_handshake() {
    let c = cfg(client_opts());
    let (cs, ss) = socket_pair();
    let mut ct = crate::tls::TlsTransport::connect(cs, &c, "localhost").unwrap();
    drop(ss);
    let e = block_on(|| ct.handshake()).unwrap_err();
    let n = net(&e);
    assert!(
        n.code == "handshake" || n.code == "reset" || n.code == "closed",
        "{n:?}"
    );
    // The failure sticks.
    assert_eq!(net(&ct.read(&mut [0u8; 4]).unwrap_err()).code, n.code);
}

#[test]
fn plaintext_peer_is_a_handshake_error() {
    use std::io::Write as _;
    let c = cfg(client_opts());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cs = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut ss, _) = listener.accept().unwrap();
    cs.set_nonblocking(true).unwrap();
    ss.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").unwrap();
    let mut ct =
        crate::tls::TlsTransport::connect(mio::net::TcpStream::from_std(cs), &c, "localhost")
            .unwrap();
    let e = block_on(|| ct.handshake()).unwrap_err();
    assert_eq!(net(&e).code, "handshake", "{e}");
}

#[test]
fn shutdown_sends_close_notify_and_half_closes() {
    let (c, s) = (cfg(client_opts()), cfg(server_opts("server")));
    let (mut ct, mut st) = handshaken(&c, &s, "localhost");
    block_on(|| ct.shutdown()).unwrap();
    block_on(|| ct.shutdown()).unwrap(); // twice is harmless
    let (data, end) = read_to_end(&mut st);
    assert!(data.is_empty());
    end.unwrap();
    // Half-close: the server can still answer.
    write_all(&mut st, b"late").unwrap();
    assert_eq!(read_exact(&mut ct, 4).unwrap(), b"late");
}

#[test]
fn full_socket_blocks_writes_with_want_write() {
    use crate::stream::transport::Want;
    let (c, s) = (cfg(client_opts()), cfg(server_opts("server")));
    let (mut ct, mut st) = handshaken(&c, &s, "localhost");
    let mut buf = [0u8; 16];
    assert_eq!(
        ct.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(ct.want(), Want::Read);
    // Nobody reads on the server side: the socket and rustls fill up.
    let chunk = vec![1u8; 64 * 1024];
    let mut sent = 0usize;
    let blocked = loop {
        match ct.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
        assert!(sent < 64 << 20, "writes never blocked");
    };
    assert_eq!(blocked.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(ct.want(), Want::Write);
    // Everything accepted arrives once the server reads.
    let reader = std::thread::spawn(move || read_exact(&mut st, sent).map(|d| d.len()));
    block_on(|| ct.flush()).unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), sent);
}

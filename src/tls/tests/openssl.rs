//! Our client against `openssl s_server`, and `openssl s_client` against
//! our server (TLS 1.2 only and TLS 1.3 only).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::harness::*;
use crate::stream::transport::Transport;
use crate::tls::options::{Protocols, TlsOptions};
use crate::tls::testutil::path;
use crate::tls::{TlsConfig, TlsTransport};

/// Kills the child when the test ends, however it ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s_server(version_flag: &str) -> (Reaper, u16) {
    let port = free_port();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-naccept",
            "1",
            version_flag,
            "-accept",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(path("server.pem"))
        .arg("-key")
        .arg(path("server.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    (Reaper(child), port)
}

fn connect_when_up(port: u16) -> std::net::TcpStream {
    let start = Instant::now();
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if start.elapsed() < LIMIT => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("openssl s_server did not come up: {e}"),
        }
    }
}

#[test]
fn client_against_openssl_s_server() {
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (_server, port) = s_server(flag);
        let sock = connect_when_up(port);
        sock.set_nonblocking(true).unwrap();
        let cfg = TlsConfig::new(TlsOptions {
            cafile: Some(path("ca.pem")),
            ..TlsOptions::default()
        });
        let mut t =
            TlsTransport::connect(mio::net::TcpStream::from_std(sock), &cfg, "localhost").unwrap();
        block_on(|| t.handshake()).unwrap_or_else(|e| panic!("{flag}: {e}"));
        assert_eq!(t.tls_info().unwrap().version.as_deref(), Some(version));
        write_all(&mut t, b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let (data, end) = read_to_end(&mut t);
        let text = String::from_utf8_lossy(&data);
        assert!(text.starts_with("HTTP/1.0 200 ok"), "{flag}: {text}");
        // s_server -www ends with close_notify: a clean end, not truncation.
        end.unwrap_or_else(|e| panic!("{flag}: {e}"));
    }
}

#[test]
fn version_mismatch_against_openssl() {
    let (_server, port) = s_server("-tls1_2");
    let sock = connect_when_up(port);
    sock.set_nonblocking(true).unwrap();
    let cfg = TlsConfig::new(TlsOptions {
        cafile: Some(path("ca.pem")),
        protocols: Protocols {
            tls12: false,
            tls13: true,
        },
        ..TlsOptions::default()
    });
    let mut t =
        TlsTransport::connect(mio::net::TcpStream::from_std(sock), &cfg, "localhost").unwrap();
    let e = block_on(|| t.handshake()).unwrap_err();
    assert_eq!(
        net(&e).message,
        "peer does not support TLS 1.3 (alert protocol_version)"
    );
}

#[test]
fn openssl_s_client_against_our_server() {
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut child = Reaper(
            Command::new("openssl")
                .args([
                    "s_client",
                    "-quiet",
                    "-verify_return_error",
                    "-servername",
                    "localhost",
                    flag,
                    "-connect",
                ])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-CAfile")
                .arg(path("ca.pem"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("openssl s_client"),
        );
        let (sock, _) = listener.accept().unwrap();
        sock.set_nonblocking(true).unwrap();
        let cfg = TlsConfig::new(super::harness::server_opts("server"));
        let mut t = TlsTransport::accept(mio::net::TcpStream::from_std(sock), &cfg).unwrap();
        block_on(|| t.handshake()).unwrap_or_else(|e| panic!("{flag}: {e}"));
        let info = t.tls_info().unwrap();
        assert_eq!(info.version.as_deref(), Some(version));
        assert_eq!(info.servername.as_deref(), Some("localhost"));
        child
            .0
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"ping\n")
            .unwrap();
        assert_eq!(read_exact(&mut t, 5).unwrap(), b"ping\n");
        write_all(&mut t, b"pong\n").unwrap();
        block_on(|| t.shutdown()).unwrap();
        let mut out = String::new();
        child
            .0
            .stdout
            .as_mut()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "pong\n", "{flag}");
    }
}

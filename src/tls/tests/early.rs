//! STARTTLS: bytes read before TLS started are fed to rustls first.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::harness::{
    client_opts, handshake_both, net, read_exact, server_opts, socket_pair, write_all, LIMIT,
};
use crate::stream::transport::Transport;
use crate::tls::{TlsConfig, TlsSetup, TlsTransport};

/// Everything the socket has now, read raw (waits for the first bytes).
fn read_raw(sock: &mio::net::TcpStream) -> Vec<u8> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match (&*sock).read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !out.is_empty() {
                    return out;
                }
                assert!(start.elapsed() < LIMIT, "nothing arrived");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_client_hello_read_before_tls_started_completes_the_handshake() {
    let client = TlsConfig::new(client_opts());
    let server = TlsConfig::new(server_opts("server"));
    let (cs, ss) = socket_pair();
    let mut c = TlsTransport::connect(cs, &client, "localhost").unwrap();
    // The client's first flight goes out; the server side reads it as
    // plaintext would be read, before it has a TLS transport.
    assert_eq!(c.handshake().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let early = read_raw(&ss);
    assert_eq!(early[0], 0x16, "a handshake record");
    let mut s = TlsSetup::accept(&server).unwrap().over(ss, early);
    let (cr, sr) = handshake_both(&mut c, &mut s);
    cr.unwrap();
    sr.unwrap();
    write_all(&mut c, b"ping").unwrap();
    assert_eq!(read_exact(&mut s, 4).unwrap(), b"ping");
}

#[test]
fn early_bytes_that_are_not_tls_fail_the_handshake_at_once() {
    let client = TlsConfig::new(client_opts());
    let (cs, _ss) = socket_pair();
    let setup = TlsSetup::connect(&client, "localhost").unwrap();
    let mut c = setup.over(cs, b"220 and then some plain text\r\n".to_vec());
    let mut last = c.handshake();
    let start = Instant::now();
    while matches!(&last, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
        assert!(
            start.elapsed() < LIMIT,
            "the handshake waited instead of failing"
        );
        last = c.handshake();
    }
    assert_eq!(net(&last.unwrap_err()).code, "handshake");
}

#[test]
fn a_setup_that_cannot_be_made_needs_no_socket() {
    let client = TlsConfig::new(client_opts());
    let e = TlsSetup::connect(&client, "not a name!").err().unwrap();
    assert_eq!(e.code, "handshake");
}

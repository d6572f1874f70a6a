//! The transport's own record buffers (rustls' unbuffered API): what an
//! idle connection keeps, reads of any size, the server's SNI name.

use std::io;

use super::harness::*;
use crate::stream::transport::Transport;
use crate::tls::options::{Protocols, TlsOptions};
use crate::tls::TlsConfig;

fn both(protocols: Protocols) -> (TlsTransport, TlsTransport) {
    let c = TlsConfig::new(TlsOptions {
        protocols,
        ..client_opts()
    });
    let s = TlsConfig::new(server_opts("server"));
    handshaken(&c, &s, "localhost")
}

use crate::tls::TlsTransport;

const TLS12: Protocols = Protocols {
    tls12: true,
    tls13: false,
};

/// Reads until the transport would block; the bytes that came.
fn drain(t: &mut TlsTransport) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match t.read(&mut buf) {
            Ok(0) => panic!("end of stream"),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn idle_connections_hold_no_record_buffers() {
    for protocols in [Protocols::default(), TLS12] {
        let (mut ct, mut st) = both(protocols);
        write_all(&mut ct, b"ping\n").unwrap();
        assert_eq!(read_exact(&mut st, 5).unwrap(), b"ping\n");
        write_all(&mut st, b"pong\n").unwrap();
        assert_eq!(read_exact(&mut ct, 5).unwrap(), b"pong\n");
        // Waiting for more (the socket has nothing): nothing held.
        assert!(drain(&mut ct).is_empty());
        assert!(drain(&mut st).is_empty());
        assert_eq!(ct.buffer_capacity(), 0, "client, {protocols:?}");
        assert_eq!(st.buffer_capacity(), 0, "server, {protocols:?}");
    }
}

#[test]
fn reads_smaller_and_larger_than_a_record_get_every_byte() {
    for protocols in [Protocols::default(), TLS12] {
        for chunk in [1usize, 100, 16 * 1024 + 1, 70_000] {
            let (mut ct, mut st) = both(protocols);
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let sent = data.clone();
            let writer = std::thread::spawn(move || {
                write_all(&mut st, &sent).unwrap();
                block_on(|| st.shutdown()).unwrap();
                st
            });
            let mut got = Vec::new();
            let mut buf = vec![0u8; chunk];
            loop {
                match block_on(|| ct.read(&mut buf)).unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            writer.join().unwrap();
            assert!(got == data, "{chunk}-byte reads, {protocols:?}");
        }
    }
}

#[test]
fn the_server_names_the_sni_of_resumed_sessions_too() {
    let c = TlsConfig::new(client_opts());
    let s = TlsConfig::new(server_opts("server"));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (mut ct, mut st) = handshaken(&c, &s, "localhost");
        write_all(&mut st, b"x").unwrap();
        assert_eq!(read_exact(&mut ct, 1).unwrap(), b"x");
        let info = st.tls_info().unwrap();
        seen.push((info.resumed, info.servername));
    }
    let name = Some("localhost".to_string());
    assert_eq!(seen, vec![(false, name.clone()), (true, name)]);
}

#[test]
fn drained_only_when_nothing_is_left_to_read() {
    for protocols in [Protocols::default(), TLS12] {
        let (mut ct, mut st) = both(protocols);
        // Two records in one burst: a small read leaves plaintext over.
        write_all(&mut st, b"first\n").unwrap();
        write_all(&mut st, b"second\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut buf = [0u8; 3];
        let n = block_on(|| ct.read(&mut buf)).unwrap();
        assert!(!ct.drained(buf.len(), n), "plaintext left, {protocols:?}");
        let mut rest = Vec::new();
        let mut big = [0u8; 4096];
        loop {
            let n = block_on(|| ct.read(&mut big)).unwrap();
            rest.extend_from_slice(&big[..n]);
            if ct.drained(big.len(), n) {
                break;
            }
            // Not drained: another read must find bytes without the socket
            // having anything new.
            if rest.len() + 3 == 13 {
                assert!(drain(&mut ct).is_empty(), "{protocols:?}");
                break;
            }
        }
        assert_eq!(rest.len() + 3, 13, "{protocols:?}");
        // Drained means truly nothing: the next read would block.
        assert!(drain(&mut ct).is_empty(), "{protocols:?}");
    }
}

//! Measures, for ring and aws-lc-rs, without sockets:
//! - full TLS 1.3 handshakes per second (ECDSA P-256 server certificate,
//!   X25519, AES-128-GCM, chain verified against the test CA, no resumption);
//! - bulk transfer MB/s one way with AES-128-GCM and ChaCha20-Poly1305.
//!
//! Usage: provider-bench CERT_DIR [SECONDS_PER_FIGURE [PROVIDER_NAME]]
//! Each figure is the best of six windows that share SECONDS (default 3).
//! CERT_DIR is what scripts/gen-certs.sh made (server.pem, server.key, ca.pem).

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::crypto::{aws_lc_rs, ring, CryptoProvider, SupportedKxGroup};
use rustls::version::TLS13;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
    SupportedCipherSuite,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct Provider {
    name: &'static str,
    make: fn() -> CryptoProvider,
    /// The key exchange group offered (X25519 unless the name says otherwise).
    x25519: &'static dyn SupportedKxGroup,
    aes128: SupportedCipherSuite,
    chacha: SupportedCipherSuite,
}

const PROVIDERS: [Provider; 3] = [
    Provider {
        name: "ring",
        make: ring::default_provider,
        x25519: ring::kx_group::X25519,
        aes128: ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        chacha: ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    },
    Provider {
        name: "aws-lc-rs",
        make: aws_lc_rs::default_provider,
        x25519: aws_lc_rs::kx_group::X25519,
        aes128: aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
        chacha: aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    },
    // What aws-lc-rs offers by default: the post-quantum hybrid group.
    Provider {
        name: "aws-lc-rs, X25519MLKEM768",
        make: aws_lc_rs::default_provider,
        x25519: aws_lc_rs::kx_group::X25519MLKEM768,
        aes128: aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
        chacha: aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    },
];

struct Certs {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
}

fn load(dir: &Path) -> Certs {
    let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    Certs {
        chain,
        key,
        roots: Arc::new(roots),
    }
}

fn configs(
    p: &Provider,
    suite: SupportedCipherSuite,
    certs: &Certs,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![suite],
        kx_groups: vec![p.x25519],
        ..(p.make)()
    });
    let mut client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&TLS13])
        .unwrap()
        .with_root_certificates(certs.roots.clone())
        .with_no_client_auth();
    client.resumption = Resumption::disabled(); // every handshake a full one
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs.chain.clone(), certs.key.clone_key())
        .unwrap();
    (Arc::new(client), Arc::new(server))
}

/// Moves every pending TLS record from one side to the other.
fn pump(from: &mut rustls::Connection, to: &mut rustls::Connection, wire: &mut Vec<u8>) {
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire).unwrap();
    }
    let mut rest = &wire[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets().unwrap();
    }
}

fn connect(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    wire: &mut Vec<u8>,
) -> (rustls::Connection, rustls::Connection) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c: rustls::Connection = ClientConnection::new(client.clone(), name).unwrap().into();
    let mut s: rustls::Connection = ServerConnection::new(server.clone()).unwrap().into();
    while c.is_handshaking() || s.is_handshaking() || c.wants_write() || s.wants_write() {
        pump(&mut c, &mut s, wire);
        pump(&mut s, &mut c, wire);
    }
    (c, s)
}

fn handshakes_per_sec(p: &Provider, certs: &Certs, secs: Duration) -> f64 {
    let (client, server) = configs(p, p.aes128, certs);
    let mut wire = Vec::new();
    connect(&client, &server, &mut wire); // warm up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < secs {
        connect(&client, &server, &mut wire);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn bulk_mb_per_sec(
    p: &Provider,
    suite: SupportedCipherSuite,
    certs: &Certs,
    secs: Duration,
) -> f64 {
    let (client, server) = configs(p, suite, certs);
    let mut wire = Vec::new();
    let (mut c, mut s) = connect(&client, &server, &mut wire);
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < secs {
        for _ in 0..16 {
            std::io::Write::write_all(&mut c.writer(), &chunk).unwrap();
            wire.clear();
            while c.wants_write() {
                c.write_tls(&mut wire).unwrap();
            }
            // Decrypt record by record, draining plaintext as we go (rustls
            // bounds its received-plaintext buffer).
            let mut rest = &wire[..];
            while !rest.is_empty() {
                s.read_tls(&mut rest).unwrap();
                s.process_new_packets().unwrap();
                while let Ok(n @ 1..) = s.reader().read(&mut sink) {
                    bytes += n as u64;
                }
            }
        }
    }
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// The machine is shared: report the best of several short windows, the
/// figure least disturbed by other processes.
fn best_of(mut f: impl FnMut(Duration) -> f64, total: Duration) -> f64 {
    const WINDOWS: u32 = 6;
    (0..WINDOWS).map(|_| f(total / WINDOWS)).fold(0.0, f64::max)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: provider-bench CERT_DIR [SECONDS]");
    let secs = Duration::from_secs_f64(args.next().map(|s| s.parse().unwrap()).unwrap_or(3.0));
    let certs = load(Path::new(&dir));
    let only: Option<String> = args.next();
    println!(
        "| provider | TLS 1.3 full handshakes/s | AES-128-GCM MB/s | ChaCha20-Poly1305 MB/s |"
    );
    println!("|---|---:|---:|---:|");
    for p in PROVIDERS
        .iter()
        .filter(|p| only.as_deref().is_none_or(|o| p.name == o))
    {
        let hs = best_of(|w| handshakes_per_sec(p, &certs, w), secs);
        let aes = best_of(|w| bulk_mb_per_sec(p, p.aes128, &certs, w), secs);
        let chacha = best_of(|w| bulk_mb_per_sec(p, p.chacha, &certs, w), secs);
        println!("| {} | {hs:.0} | {aes:.0} | {chacha:.0} |", p.name);
    }
}

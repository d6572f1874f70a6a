//! The pure-Rust limit for the TLS benchmarks (bench/tls.sh): what rustls
//! (aws-lc-rs) and mio on one thread do against the same nginx, with the
//! same four workloads as bench/tls_ours.lua.
//!
//! usage: rustls-client WORKLOAD PORT CAFILE [N]
//!
//!   bulk     [N = expected body size, checked]  GET /big over one connection;
//!            time and CPU from the end of the handshake to the end of the body
//!   full     [N = 2000 handshakes]  50 at a time, resumption disabled
//!   resumed  [N = 2000 handshakes]  50 at a time, one shared ClientConfig
//!            (rustls' in-memory session store); a warm-up batch of 50 is
//!            not timed
//!   memory   [N = 10000 connections] opened 50 at a time (full handshakes),
//!            kept open and idle; VmRSS delta / N
//!   close    [N = 5 seconds]  a load generator for servers (bench/servers.sh):
//!            for N seconds, 50 connections at a time, each a new full
//!            handshake and one short request; requests per second. It
//!            checks nothing of the server's certificate or handshake
//!            signature and offers X25519 alone (as wrk does, without
//!            ML-KEM), so that it costs less per connection than the
//!            servers it drives: wrk, on one core here, is slower than
//!            the servers and sets the rate itself.
//!   keep     [N = 5 seconds]  a keep-alive load generator for servers: 50
//!            connections, each one handshake (as `close`'s), then
//!            `GET /hello` again as soon as the last response is whole,
//!            for N seconds; requests per second. wrk on one core is
//!            the limit of an HTTPS keep-alive run against our server
//!            (it used all of its core while our server used 82% of its
//!            own); this costs less per request.
//!
//! A handshake in `full`, `resumed` and `close` is a whole short request:
//! connect, handshake, `GET /hello` (Connection: close), read to
//! close_notify (or to the end of the TCP stream once the whole body came,
//! as an HTTP client may: cqueues' server does not always send
//! close_notify). The request is what makes nginx send its TLS 1.3
//! session tickets, which a later connection needs to resume; every peer
//! does the same.
//!
//! Socket reads: see `direct_reads` (RUSTLS_CLIENT_READ=direct|buffered).
//! It offers TLS13_AES_128_GCM_SHA256 first, as lua-tls does;
//! RUSTLS_CLIENT_SUITE=aes256 keeps rustls' order (AES-256-GCM first).
//!
//! The handshake workloads also print `cpu_ms`: this process's CPU time
//! (user + system) per short request.
//!
//! Prints one line, e.g. `rust bulk_mb_s=812.3 cpu_s_per_gb=0.93 ...`.
//! The host name checked against the certificate is "localhost"; the
//! address is 127.0.0.1:PORT.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::exit;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::client::Resumption;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

const CONCURRENCY: usize = 50;
const REQ_BIG: &[u8] = b"GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const REQ_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const REQ_KEEP: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// What a connection does after its handshake.
#[derive(Clone, Copy)]
enum Goal {
    /// Stop and stay open, idle.
    Idle,
    /// Send this request, read the response to the end.
    Get(&'static [u8]),
    /// Send this request again after each whole response (keep-alive),
    /// until the deadline.
    Keep(&'static [u8], Instant),
}

#[derive(PartialEq)]
enum State {
    Running,
    Idle,
    Done,
}

struct Conn {
    sock: TcpStream,
    tls: ClientConnection,
    goal: Goal,
    connected: bool,
    sent: bool,
    /// Response header bytes until the blank line.
    head: Vec<u8>,
    header_done: bool,
    content_length: Option<u64>,
    body: u64,
    /// Wall clock and CPU seconds when the handshake was done.
    ready: Option<(Instant, f64)>,
    /// Whole responses (`Goal::Keep`).
    responses: u64,
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("rustls-client: {msg}");
    exit(1);
}

impl Conn {
    fn new(cfg: &Arc<ClientConfig>, addr: SocketAddr, goal: Goal) -> Conn {
        let sock = TcpStream::connect(addr).unwrap_or_else(|e| fail(format!("connect {addr}: {e}")));
        // The other peers all turn Nagle off (ours by default).
        let _ = sock.set_nodelay(true);
        let name = ServerName::try_from("localhost").expect("valid name");
        let tls = ClientConnection::new(cfg.clone(), name).unwrap_or_else(|e| fail(e));
        Conn {
            sock,
            tls,
            goal,
            connected: false,
            sent: false,
            head: Vec::new(),
            header_done: false,
            content_length: None,
            body: 0,
            ready: None,
            responses: 0,
        }
    }

    /// Takes in plaintext: the header, then counts the body.
    fn take(&mut self, mut data: &[u8]) {
        if !self.header_done {
            let before = self.head.len();
            self.head.extend_from_slice(data);
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                return;
            };
            self.header_done = true;
            let head = String::from_utf8_lossy(&self.head[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                fail(format!("unexpected response: {}", head.lines().next().unwrap_or("")));
            }
            self.content_length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok());
            data = &data[end + 4 - before..];
            self.head = Vec::new();
        }
        self.body += data.len() as u64;
    }

    /// Does all it can without blocking (mio is edge-triggered).
    /// `buf` takes plaintext; `net`, if given, takes ciphertext from the
    /// socket (else rustls reads the socket itself).
    fn drive(&mut self, buf: &mut [u8], mut net: Option<&mut [u8]>) -> io::Result<State> {
        if !self.connected {
            if let Some(e) = self.sock.take_error()? {
                return Err(e);
            }
            match self.sock.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(State::Running),
                Err(e) => return Err(e),
            }
        }
        loop {
            while self.tls.wants_write() {
                match self.tls.write_tls(&mut self.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if !self.tls.is_handshaking() && !self.sent {
                match self.goal {
                    Goal::Idle => return Ok(State::Idle),
                    Goal::Get(req) | Goal::Keep(req, _) => {
                        self.ready = Some((Instant::now(), cpu_seconds()));
                        self.tls.writer().write_all(req)?;
                        self.sent = true;
                        continue;
                    }
                }
            }
            let got = match net.as_deref_mut() {
                None => self.tls.read_tls(&mut self.sock),
                Some(net) => self.sock.read(net),
            };
            match got {
                Ok(0) => {
                    self.tls
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    return match self.drain(buf)? {
                        Some(()) => Ok(State::Done),
                        None if self.complete() => Ok(State::Done),
                        None => Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "TCP closed without close_notify",
                        )),
                    };
                }
                Ok(n) => {
                    // Direct: rustls read at most 4 KiB more than it had
                    // buffered. Buffered: one big read, fed to rustls from
                    // memory (it takes a record or 4 KiB at a time).
                    let mut off = 0;
                    loop {
                        if let Some(net) = net.as_deref() {
                            off += self.tls.read_tls(&mut &net[off..n])?;
                        }
                        self.tls
                            .process_new_packets()
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        if self.drain(buf)?.is_some() {
                            return Ok(State::Done);
                        }
                        if let Goal::Keep(req, until) = self.goal {
                            if self.complete() {
                                self.responses += 1;
                                self.header_done = false;
                                self.content_length = None;
                                self.body = 0;
                                if Instant::now() >= until {
                                    return Ok(State::Done);
                                }
                                self.tls.writer().write_all(req)?;
                                break;
                            }
                        }
                        if net.is_none() || off == n {
                            break;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(State::Running),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the plaintext there is; Some(()) once close_notify came.
    fn drain(&mut self, buf: &mut [u8]) -> io::Result<Option<()>> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(0) => return Ok(Some(())),
                Ok(n) => self.take(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// The whole response came (its Content-Length of body).
    fn complete(&self) -> bool {
        self.header_done && self.content_length == Some(self.body)
    }

    fn check_body(&self) {
        if !self.header_done {
            fail("no response header");
        }
        if let Some(len) = self.content_length {
            if len != self.body {
                fail(format!("body has {} bytes, Content-Length says {len}", self.body));
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Batch {
    seconds: f64,
    /// Cipher suite and key exchange group of the last connection.
    suite: String,
    resumed: usize,
    bytes: u64,
    /// Handshake-done time of the last connection that made a request.
    ready: Option<(Instant, f64)>,
    idle: Vec<Conn>,
    /// Connections that finished.
    done: usize,
    /// Whole responses of `Goal::Keep` connections.
    responses: u64,
}

/// Runs `total` connections, `conc` at a time, each to `goal`.
fn run_batch(cfg: &Arc<ClientConfig>, addr: SocketAddr, total: usize, conc: usize, goal: Goal) -> Batch {
    run_until(cfg, addr, total, conc, goal, None)
}

/// As [`run_batch`], but no connection starts after `deadline`, if given
/// (those running then finish; `Batch::done` counts them all).
fn run_until(
    cfg: &Arc<ClientConfig>,
    addr: SocketAddr,
    mut total: usize,
    conc: usize,
    goal: Goal,
    deadline: Option<Instant>,
) -> Batch {
    let mut poll = Poll::new().unwrap_or_else(|e| fail(e));
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Conn>> = (0..conc).map(|_| None).collect();
    let mut buf = vec![0u8; 65536];
    let mut net = if direct_reads() { None } else { Some(vec![0u8; NET_BUF]) };
    let mut started = 0;
    let mut finished = 0;
    let mut batch = Batch {
        seconds: 0.0,
        suite: String::new(),
        resumed: 0,
        bytes: 0,
        ready: None,
        idle: Vec::new(),
        done: 0,
        responses: 0,
    };
    let t0 = Instant::now();

    let start = |slot: usize, slots: &mut Vec<Option<Conn>>, poll: &Poll| {
        let mut c = Conn::new(cfg, addr, goal);
        poll.registry()
            .register(&mut c.sock, Token(slot), Interest::READABLE | Interest::WRITABLE)
            .unwrap_or_else(|e| fail(e));
        slots[slot] = Some(c);
    };
    for slot in 0..conc.min(total) {
        start(slot, &mut slots, &poll);
        started += 1;
    }
    while finished < total {
        poll.poll(&mut events, Some(Duration::from_secs(30))).unwrap_or_else(|e| fail(e));
        if events.is_empty() {
            fail("no progress for 30 s");
        }
        for ev in events.iter() {
            let slot = ev.token().0;
            let Some(c) = slots[slot].as_mut() else { continue };
            let state = c.drive(&mut buf, net.as_deref_mut()).unwrap_or_else(|e| fail(format!("connection: {e}")));
            if state == State::Running {
                continue;
            }
            let mut c = slots[slot].take().expect("slot in use");
            let suite = c.tls.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()));
            let group = c.tls.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name()));
            batch.suite = format!("{}/{}", suite.unwrap_or_default(), group.unwrap_or_default());
            if c.tls.handshake_kind() == Some(HandshakeKind::Resumed) {
                batch.resumed += 1;
            }
            poll.registry().deregister(&mut c.sock).unwrap_or_else(|e| fail(e));
            if let Goal::Keep(..) = goal {
                batch.responses += c.responses;
            } else if state == State::Done {
                c.check_body();
                batch.bytes += c.body;
                batch.ready = c.ready;
            } else {
                batch.idle.push(c);
            }
            finished += 1;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                total = started;
            }
            if started < total {
                start(slot, &mut slots, &poll);
                started += 1;
            }
        }
    }
    batch.seconds = t0.elapsed().as_secs_f64();
    batch.done = finished;
    batch
}

/// Size of the one ciphertext buffer that socket reads go to.
const NET_BUF: usize = 256 * 1024;

/// RUSTLS_CLIENT_READ=direct: rustls reads the socket itself (at most
/// 4 KiB beyond what it holds, per call), as in the rustls mio example.
/// Default "buffered": one read of up to NET_BUF into a shared buffer.
fn direct_reads() -> bool {
    std::env::var("RUSTLS_CLIENT_READ").is_ok_and(|v| v == "direct")
}

fn read_mode() -> &'static str {
    if direct_reads() {
        "direct"
    } else {
        "buffered"
    }
}

fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        fail("getrusage failed");
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| fail(e));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| fail("no VmRSS in /proc/self/status"))
}

fn config(cafile: &str, resumption: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cafile).unwrap_or_else(|e| fail(format!("{cafile}: {e}"))) {
        roots.add(cert.unwrap_or_else(|e| fail(format!("{cafile}: {e}")))).unwrap_or_else(|e| fail(e));
    }
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // AES-128-GCM first, as lua-tls offers it (src/tls/provider.rs), so
    // both clients negotiate the same suite; RUSTLS_CLIENT_SUITE=aes256
    // keeps rustls' default order (AES-256-GCM-SHA384 first).
    if !std::env::var("RUSTLS_CLIENT_SUITE").is_ok_and(|v| v == "aes256") {
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    }
    let provider = Arc::new(provider);
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail(e))
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resumption {
        cfg.resumption = Resumption::disabled();
    }
    Arc::new(cfg)
}

/// The `close` load generator's trust: none. Every certificate and every
/// handshake signature is accepted unchecked (a load generator, not a
/// client: what it measures is the server's cost).
#[derive(Debug)]
struct Unchecked(Vec<rustls::SignatureScheme>);

impl rustls::client::danger::ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.clone()
    }
}

/// The `close` load generator's config: X25519 only, no resumption, no
/// checks (see [`Unchecked`]).
fn load_config() -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    let schemes = provider.signature_verification_algorithms.supported_schemes();
    let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail(e))
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unchecked(schemes)))
        .with_no_client_auth();
    cfg.resumption = Resumption::disabled();
    Arc::new(cfg)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: rustls-client bulk|full|resumed|memory|close|keep PORT CAFILE [N]");
        exit(2);
    }
    let port: u16 = args[2].parse().unwrap_or_else(|_| fail("bad port"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let cafile = &args[3];
    let n: Option<u64> = args.get(4).map(|s| s.parse().unwrap_or_else(|_| fail("bad N")));

    match args[1].as_str() {
        "bulk" => {
            let cfg = config(cafile, false);
            let b = run_batch(&cfg, addr, 1, 1, Goal::Get(REQ_BIG));
            // From the request (handshake done) to the end of the body.
            let (t0, cpu0) = b.ready.expect("the request was sent");
            let cpu = cpu_seconds() - cpu0;
            let secs = t0.elapsed().as_secs_f64();
            if let Some(want) = n {
                if b.bytes != want {
                    fail(format!("got {} body bytes, expected {want}", b.bytes));
                }
            }
            println!(
                "rust bulk_mb_s={:.1} cpu_s_per_gb={:.3} bytes={} seconds={:.3} cpu_s={:.3} cipher={} read={}",
                b.bytes as f64 / 1e6 / secs,
                cpu / (b.bytes as f64 / 1e9),
                b.bytes,
                secs,
                cpu,
                b.suite,
                read_mode()
            );
        }
        "full" => {
            let total = n.unwrap_or(2000) as usize;
            let cfg = config(cafile, false);
            let cpu0 = cpu_seconds();
            let b = run_batch(&cfg, addr, total, CONCURRENCY, Goal::Get(REQ_HELLO));
            let cpu = cpu_seconds() - cpu0;
            println!(
                "rust full_hs_s={:.0} cpu_ms={:.3} n={total} conc={CONCURRENCY} seconds={:.3} resumed={}",
                total as f64 / b.seconds,
                cpu * 1e3 / total as f64,
                b.seconds,
                b.resumed
            );
        }
        "resumed" => {
            let total = n.unwrap_or(2000) as usize;
            let cfg = config(cafile, true);
            run_batch(&cfg, addr, CONCURRENCY, CONCURRENCY, Goal::Get(REQ_HELLO));
            let cpu0 = cpu_seconds();
            let b = run_batch(&cfg, addr, total, CONCURRENCY, Goal::Get(REQ_HELLO));
            let cpu = cpu_seconds() - cpu0;
            println!(
                "rust resumed_hs_s={:.0} cpu_ms={:.3} n={total} conc={CONCURRENCY} seconds={:.3} resumed={}",
                total as f64 / b.seconds,
                cpu * 1e3 / total as f64,
                b.seconds,
                b.resumed
            );
        }
        "memory" => {
            let total = n.unwrap_or(10000) as usize;
            let cfg = config(cafile, false);
            // Warm up (allocator arenas, code pages), then measure.
            let warm = run_batch(&cfg, addr, CONCURRENCY, CONCURRENCY, Goal::Idle);
            drop(warm);
            let before = rss_kib();
            let b = run_batch(&cfg, addr, total, CONCURRENCY, Goal::Idle);
            let after = rss_kib();
            assert_eq!(b.idle.len(), total);
            println!(
                "rust mem_kib_per_conn={:.1} conns={total} rss_before_kib={before} rss_after_kib={after} open_seconds={:.3}",
                (after as f64 - before as f64) / total as f64,
                b.seconds
            );
            drop(b);
        }
        "close" | "keep" => load(&args[1], addr, n.unwrap_or(5)),
        w => fail(format!("unknown workload {w}")),
    }
}

/// The load generators: for `secs` seconds, `close` (a new connection per
/// request) or `keep` (keep-alive connections); prints requests per second.
fn load(workload: &str, addr: SocketAddr, secs: u64) {
    let cfg = load_config();
    let cpu0 = cpu_seconds();
    let until = Instant::now() + Duration::from_secs(secs);
    let (b, requests) = if workload == "keep" {
        let b = run_batch(&cfg, addr, CONCURRENCY, CONCURRENCY, Goal::Keep(REQ_KEEP, until));
        let requests = b.responses;
        (b, requests)
    } else {
        let b = run_until(&cfg, addr, usize::MAX, CONCURRENCY, Goal::Get(REQ_HELLO), Some(until));
        let requests = b.done as u64;
        (b, requests)
    };
    let cpu = cpu_seconds() - cpu0;
    println!(
        "rust {workload}_rps={:.0} requests={requests} seconds={:.3} cpu_ms={:.4} conc={CONCURRENCY} cipher={}",
        requests as f64 / b.seconds,
        b.seconds,
        cpu * 1e3 / requests as f64,
        b.suite
    );
}

//! A tiny blocking driver for non-blocking transports: spin on
//! `WouldBlock` with short sleeps, bounded in time so no test can hang.

use std::io;
use std::time::{Duration, Instant};

use crate::error::NetError;
use crate::stream::transport::Transport;
use crate::tls::options::{PemSource, TlsOptions};
use crate::tls::testutil::path;
use crate::tls::{TlsConfig, TlsTransport};

pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// A connected pair of non-blocking mio sockets on 127.0.0.1.
pub(crate) fn socket_pair() -> (mio::net::TcpStream, mio::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    (
        mio::net::TcpStream::from_std(client),
        mio::net::TcpStream::from_std(server),
    )
}

/// Calls `f` until it stops returning `WouldBlock`.
pub(crate) fn block_on<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let start = Instant::now();
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed() < LIMIT,
                    "operation did not complete in time"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// The coded error inside an io::Error.
pub(crate) fn net(e: &io::Error) -> NetError {
    NetError::from_io("", e)
}

/// Drives both handshakes until each has finished (or failed).
pub(crate) fn handshake_both(
    c: &mut TlsTransport,
    s: &mut TlsTransport,
) -> (io::Result<()>, io::Result<()>) {
    let (mut cr, mut sr) = (None, None);
    let start = Instant::now();
    while cr.is_none() || sr.is_none() {
        assert!(start.elapsed() < LIMIT, "handshake did not finish in time");
        for (t, r) in [(&mut *c, &mut cr), (&mut *s, &mut sr)] {
            if r.is_none() {
                match t.handshake() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    done => *r = Some(done),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (cr.unwrap(), sr.unwrap())
}

/// Writes all of `data` and flushes.
pub(crate) fn write_all(t: &mut TlsTransport, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = block_on(|| t.write(data))?;
        data = &data[n..];
    }
    block_on(|| t.flush())
}

/// Reads until a clean end (`Ok`) or an error, returning what arrived.
pub(crate) fn read_to_end(t: &mut TlsTransport) -> (Vec<u8>, io::Result<()>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match block_on(|| t.read(&mut buf)) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Reads exactly `n` bytes.
pub(crate) fn read_exact(t: &mut TlsTransport, n: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match block_on(|| t.read(&mut out[got..]))? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            k => got += k,
        }
    }
    Ok(out)
}

/// Options trusting the test CA.
pub(crate) fn client_opts() -> TlsOptions {
    TlsOptions {
        cafile: Some(path("ca.pem")),
        ..TlsOptions::default()
    }
}

/// Options serving fixture certificate `name`.
pub(crate) fn server_opts(name: &str) -> TlsOptions {
    TlsOptions {
        cert: Some(PemSource::Path(path(&format!("{name}.pem")))),
        key: Some(PemSource::Path(path(&format!("{name}.key")))),
        ..TlsOptions::default()
    }
}

/// A client and a server transport whose handshake succeeded.
pub(crate) fn handshaken(
    client: &TlsConfig,
    server: &TlsConfig,
    host: &str,
) -> (TlsTransport, TlsTransport) {
    let (mut ct, mut st) = connect(client, server, host);
    let (cr, sr) = handshake_both(&mut ct, &mut st);
    cr.unwrap();
    sr.unwrap();
    (ct, st)
}

/// A client and a server transport over a fresh socket pair.
pub(crate) fn connect(
    client: &TlsConfig,
    server: &TlsConfig,
    host: &str,
) -> (TlsTransport, TlsTransport) {
    let (cs, ss) = socket_pair();
    let c = TlsTransport::connect(cs, client, host).unwrap();
    let s = TlsTransport::accept(ss, server).unwrap();
    (c, s)
}

//! `TlsTransport`: a rustls connection over a non-blocking mio socket,
//! implementing the stream layer's [`Transport`] trait.
//!
//! The pattern is the rustls mio example's: pull records with `read_tls`
//! until the socket would block, `process_new_packets`, hand plaintext out
//! of `reader()`, and push records with `write_tls` (here through
//! `send(MSG_NOSIGNAL)`, see `sock.rs`).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use crate::net::socket::StreamSocket;
use rustls::{
    ClientConfig, ClientConnection, Connection, HandshakeKind, ServerConfig, ServerConnection,
};
use rustls_pki_types::ServerName;

use super::cache::TlsConfig;
use super::options::Protocols;
use super::revocation::{self, Report};
use super::sock::NoSigPipe;
use super::verify_errors::{tls_error, Context, Side};
use crate::error::NetError;
use crate::stream::transport::{coded, TlsInfo, Transport, Want};

/// A TLS connection over a connected, non-blocking TCP or Unix socket.
pub struct TlsTransport {
    sock: StreamSocket,
    conn: Connection,
    cx: Context,
    want: Want,
    /// Client: the name we verify (and send as SNI when it is a DNS name).
    servername: Option<String>,
    /// A fatal TLS error; every later call reports it again.
    failed: Option<NetError>,
    close_sent: bool,
    write_closed: bool,
    /// What certificate verification reported (OCSP), see `revocation.rs`.
    report: Report,
    /// Bytes read before TLS started, consumed before the socket's.
    early: Vec<u8>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport")
            .field("side", &self.cx.side)
            .field("servername", &self.servername)
            .finish()
    }
}

/// A TLS connection that has no socket yet. Everything that can fail
/// before a byte moves (a bad name, a config that does not build) fails
/// while making it, so a STARTTLS that fails there leaves the plain stream
/// untouched; [`TlsSetup::over`] then cannot fail.
pub struct TlsSetup {
    conn: Connection,
    cx: Context,
    servername: Option<String>,
}

impl TlsSetup {
    /// Client side with a [`TlsConfig`]: verifies `host` (a DNS name or an
    /// IP literal, `[::1]` brackets allowed), unless the config's
    /// `servername` option names another.
    pub fn connect(config: &TlsConfig, host: &str) -> Result<Self, NetError> {
        let name = config.options().servername.as_deref().unwrap_or(host);
        Self::client(config.client()?, name, config.options().protocols)
    }

    /// Server side with a [`TlsConfig`] (which needs `cert` and `key`).
    pub fn accept(config: &TlsConfig) -> Result<Self, NetError> {
        Self::server(config.server()?, config.options().protocols)
    }

    /// Client side over a rustls config; `protocols` only refines messages.
    pub fn client(
        config: Arc<ClientConfig>,
        name: &str,
        protocols: Protocols,
    ) -> Result<Self, NetError> {
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        let server_name = ServerName::try_from(bare.to_string()).map_err(|_| {
            NetError::new(
                "handshake",
                format!("'{name}' is not a valid TLS server name"),
            )
        })?;
        let cx = Context {
            side: Side::Client,
            protocols,
        };
        let conn = ClientConnection::new(config, server_name).map_err(|e| tls_error(&e, cx))?;
        Ok(Self {
            conn: conn.into(),
            cx,
            servername: Some(bare.to_string()),
        })
    }

    /// Server side over a rustls config; `protocols` only refines messages.
    pub fn server(config: Arc<ServerConfig>, protocols: Protocols) -> Result<Self, NetError> {
        let cx = Context {
            side: Side::Server,
            protocols,
        };
        let conn = ServerConnection::new(config).map_err(|e| tls_error(&e, cx))?;
        Ok(Self {
            conn: conn.into(),
            cx,
            servername: None,
        })
    }

    /// The transport over `sock`. `early` holds bytes that were read from
    /// the socket before TLS started (STARTTLS: a peer's handshake that
    /// arrived with the plaintext that asked for it); they are fed to
    /// rustls before anything the socket has.
    pub fn over(self, sock: impl Into<StreamSocket>, early: Vec<u8>) -> TlsTransport {
        TlsTransport {
            sock: sock.into(),
            conn: self.conn,
            cx: self.cx,
            want: Want::Read,
            servername: self.servername,
            failed: None,
            close_sent: false,
            write_closed: false,
            report: Report::default(),
            early,
        }
    }
}

impl TlsTransport {
    /// Client side over `sock`: [`TlsSetup::connect`] on it.
    pub fn connect(
        sock: impl Into<StreamSocket>,
        config: &TlsConfig,
        host: &str,
    ) -> Result<Self, NetError> {
        Ok(TlsSetup::connect(config, host)?.over(sock, Vec::new()))
    }

    /// Server side over `sock`: [`TlsSetup::accept`] on it.
    pub fn accept(sock: impl Into<StreamSocket>, config: &TlsConfig) -> Result<Self, NetError> {
        Ok(TlsSetup::accept(config)?.over(sock, Vec::new()))
    }

    /// Client side over `sock` and a rustls config: [`TlsSetup::client`].
    pub fn client(
        sock: impl Into<StreamSocket>,
        config: Arc<ClientConfig>,
        name: &str,
        protocols: Protocols,
    ) -> Result<Self, NetError> {
        Ok(TlsSetup::client(config, name, protocols)?.over(sock, Vec::new()))
    }

    /// Server side over `sock` and a rustls config: [`TlsSetup::server`].
    pub fn server(
        sock: impl Into<StreamSocket>,
        config: Arc<ServerConfig>,
        protocols: Protocols,
    ) -> Result<Self, NetError> {
        Ok(TlsSetup::server(config, protocols)?.over(sock, Vec::new()))
    }

    /// The rustls connection, for details this type does not surface.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn check_failed(&self) -> io::Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone().into_io()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: NetError) -> io::Error {
        self.failed = Some(err.clone());
        err.into_io()
    }

    /// Reads records from the socket once and processes them; `Ok(0)` is
    /// TCP EOF. `WouldBlock` when the socket has nothing.
    fn pull(&mut self) -> io::Result<usize> {
        let n = if self.early.is_empty() {
            self.pull_socket()?
        } else {
            self.pull_early()?
        };
        let processed = self.conn.process_new_packets();
        // The verifier ran inside that call, if at all (revocation.rs).
        let failure = revocation::take().and_then(|r| {
            let failure = r.failure.clone();
            self.report = r;
            failure
        });
        if let Err(e) = processed {
            let err = match failure {
                Some(msg) if matches!(e, rustls::Error::InvalidCertificate(_)) => {
                    NetError::new("certificate", msg)
                }
                _ => tls_error(&e, self.cx),
            };
            let _ = self.push(); // best effort: tell the peer why (the alert)
            return Err(self.fail(err));
        }
        Ok(n)
    }

    /// `read_tls` from the socket; `WouldBlock` when it has nothing.
    fn pull_socket(&mut self) -> io::Result<usize> {
        loop {
            match self.conn.read_tls(&mut self.sock) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.want = Want::Read;
                    return Err(e);
                }
                Err(e) => return Err(self.read_failed(e)),
            }
        }
    }

    /// `read_tls` from the bytes that came before TLS started.
    fn pull_early(&mut self) -> io::Result<usize> {
        match self.conn.read_tls(&mut self.early.as_slice()) {
            Ok(n) => {
                self.early.drain(..n);
                Ok(n)
            }
            Err(e) => Err(self.read_failed(e)),
        }
    }

    /// A socket error, or rustls refusing what it cannot buffer (a
    /// handshake message over its limit): the connection is over, and
    /// nothing more may be sent on it (no close_notify).
    fn read_failed(&mut self, e: io::Error) -> io::Error {
        let err = if e.kind() == io::ErrorKind::InvalidData {
            NetError::new("handshake", format!("peer sent what TLS cannot take ({e})"))
        } else {
            NetError::from_io("", &e)
        };
        self.fail(err)
    }

    /// Writes pending records to the socket; `WouldBlock` if it fills up.
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut NoSigPipe(&self.sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.want = Want::Write;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Pushes output without letting a full socket fail the caller: the
    /// records stay queued in rustls for the next push.
    fn push_if_possible(&mut self) -> io::Result<()> {
        match self.push() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

impl Transport for TlsTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_failed()?;
        if self.conn.is_handshaking() {
            self.handshake()?;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n), // 0 only after close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(coded(
                        "truncated",
                        "peer closed the connection without close_notify (truncated)",
                    ));
                }
                Err(e) => return Err(e),
            }
            self.pull()?;
            // Processing may have queued records (alerts, key updates).
            self.push_if_possible()?;
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_failed()?;
        if self.conn.is_handshaking() {
            self.handshake()?;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // rustls bounds its send buffer: when full it takes nothing, and a
        // push makes room unless the socket is full too.
        for _ in 0..2 {
            let n = self.conn.writer().write(buf)?;
            match self.push() {
                Ok(()) if n == 0 => continue,
                Ok(()) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("TLS send buffer stays full"))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_failed()?;
        self.push()
    }

    fn handshake(&mut self) -> io::Result<()> {
        self.check_failed()?;
        loop {
            // Flush first: the last flight (client Finished, server
            // tickets) must leave before the handshake counts as done.
            self.push()?;
            if !self.conn.is_handshaking() {
                return Ok(());
            }
            if self.pull()? == 0 && self.conn.is_handshaking() {
                let err = NetError::new(
                    "handshake",
                    "peer closed the connection during the TLS handshake",
                );
                return Err(self.fail(err));
            }
        }
    }

    fn shutdown(&mut self) -> io::Result<()> {
        // close_notify only ends an established session: mid-handshake it
        // would be a plaintext warning telling the peer "clean end" when
        // nothing was agreed, so an unfinished handshake just closes TCP.
        if self.failed.is_none() && !self.conn.is_handshaking() {
            if !self.close_sent {
                self.conn.send_close_notify();
                self.close_sent = true;
            }
            self.push()?;
        }
        if !self.write_closed {
            self.write_closed = true;
            match self.sock.shutdown(Shutdown::Write) {
                Err(e) if e.kind() != io::ErrorKind::NotConnected => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn want(&self) -> Want {
        self.want
    }

    fn socket(&self) -> &StreamSocket {
        &self.sock
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        let servername = match &self.conn {
            Connection::Server(s) => s.server_name().map(str::to_string),
            // Only DNS names are sent as SNI; an IP literal is not.
            Connection::Client(_) => self
                .servername
                .clone()
                .filter(|n| n.parse::<std::net::IpAddr>().is_err()),
        };
        Some(TlsInfo {
            version: self
                .conn
                .protocol_version()
                .map(|v| version_name(v.as_str().unwrap_or("unknown"))),
            cipher: self
                .conn
                .negotiated_cipher_suite()
                .map(|s| cipher_name(s.suite().as_str().unwrap_or("unknown"))),
            alpn: self
                .conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            servername,
            resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
            peer_chain: self
                .conn
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.to_vec()).collect())
                .unwrap_or_default(),
            ocsp: self.report.ocsp.clone(),
            ocsp_error: self.report.ocsp_error.clone(),
        })
    }
}

/// `TLSv1_3` (rustls) as `TLSv1.3` (what libtls and OpenSSL print).
fn version_name(rustls_name: &str) -> String {
    rustls_name.replace('_', ".")
}

/// IANA cipher suite name: rustls writes TLS 1.3 suites as `TLS13_...`.
fn cipher_name(rustls_name: &str) -> String {
    match rustls_name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls_name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_libtls_and_iana() {
        assert_eq!(version_name("TLSv1_3"), "TLSv1.3");
        assert_eq!(version_name("TLSv1_2"), "TLSv1.2");
        assert_eq!(
            cipher_name("TLS13_AES_128_GCM_SHA256"),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            cipher_name("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
        );
    }
}

//! `TlsTransport`: a rustls connection over a non-blocking mio socket,
//! implementing the stream layer's [`Transport`] trait.
//!
//! It drives rustls' unbuffered API (`records.rs`): received records are
//! read into a buffer we own, large during a bulk transfer and freed while
//! the connection is idle, and records to send are encoded into another,
//! sent with `send(MSG_NOSIGNAL)` (see `sock.rs`).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use crate::net::socket::StreamSocket;
use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use rustls_pki_types::ServerName;

use super::cache::TlsConfig;
use super::options::Protocols;
use super::records::{self, Conn, Failure, Goal, Incoming, Io, Outgoing, Plain, Stop, OUT_LIMIT};
use super::revocation::{self, Report};
use super::sessions::Sessions;
use super::sni;
use super::sock::NoSigPipe;
use super::tickets;
use super::verify_errors::{tls_error, traffic_error, Context, Side};
use crate::error::NetError;
use crate::stream::transport::{coded, TlsInfo, Transport, Want};

/// A TLS connection over a connected, non-blocking TCP or Unix socket.
pub struct TlsTransport {
    sock: StreamSocket,
    conn: Conn,
    cx: Context,
    want: Want,
    /// Client: the name we verify (and send as SNI when it is a DNS name).
    /// Server: the SNI name the client sent (see `sni::take_seen`).
    servername: Option<String>,
    /// A fatal TLS error; every later call reports it again.
    failed: Option<NetError>,
    close_sent: bool,
    write_closed: bool,
    /// What certificate verification reported (OCSP), see `revocation.rs`.
    report: Report,
    /// Received records not yet processed; starts with the bytes read
    /// before TLS started (STARTTLS), if any.
    incoming: Incoming,
    /// Records not yet sent.
    outgoing: Outgoing,
    /// Plaintext that arrived while no read had room for it.
    plain: Plain,
    /// The peer's close_notify arrived.
    peer_closed: bool,
    /// The socket reached end of file.
    eof: bool,
    /// A send met the connection's reset (`ECONNRESET`, or `EPIPE` before
    /// we shut down: the reset came, and was reported, earlier). The
    /// socket reports it once; the end of stream after it is this reset,
    /// not a truncation.
    send_reset: bool,
    /// The socket read of the current `read` call was short: the socket
    /// was empty then.
    short_read: bool,
    /// Server: when the session began, for the tickets issued on this
    /// connection (tickets.rs, `carry_origin`).
    origin: Option<u64>,
    /// Client that offered a TLS 1.3 ticket: the store it came from.
    offered: Option<Arc<Sessions>>,
    /// The server refused that ticket outright (sessions.rs).
    ticket_refused: bool,
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
    conn: Conn,
    cx: Context,
    servername: Option<String>,
    /// See [`TlsTransport`]'s field.
    offered: Option<Arc<Sessions>>,
}

impl TlsSetup {
    /// Client side with a [`TlsConfig`]: verifies `host` (a DNS name or an
    /// IP literal, `[::1]` brackets allowed), unless the config's
    /// `servername` option names another.
    pub fn connect(config: &TlsConfig, host: &str) -> Result<Self, NetError> {
        let name = config.options().servername.as_deref().unwrap_or(host);
        let client = config.client()?;
        let mark = Sessions::mark();
        let mut setup = Self::client(client, name, config.options().protocols)?;
        if Sessions::offered_since(mark) {
            setup.offered = Some(config.sessions().clone());
        }
        Ok(setup)
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
        let conn =
            UnbufferedClientConnection::new(config, server_name).map_err(|e| tls_error(&e, cx))?;
        Ok(Self {
            conn: Conn::Client(conn),
            cx,
            servername: Some(bare.to_string()),
            offered: None,
        })
    }

    /// Server side over a rustls config; `protocols` only refines messages.
    pub fn server(config: Arc<ServerConfig>, protocols: Protocols) -> Result<Self, NetError> {
        let cx = Context {
            side: Side::Server,
            protocols,
        };
        let conn = UnbufferedServerConnection::new(config).map_err(|e| tls_error(&e, cx))?;
        Ok(Self {
            conn: Conn::Server(conn),
            cx,
            servername: None,
            offered: None,
        })
    }

    /// The transport over `sock`. `early` holds bytes that were read from
    /// the socket before TLS started (STARTTLS: a peer's handshake that
    /// arrived with the plaintext that asked for it); rustls processes
    /// them before anything the socket has.
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
            incoming: Incoming::with(early),
            outgoing: Outgoing::default(),
            plain: Plain::default(),
            peer_closed: false,
            eof: false,
            send_reset: false,
            short_read: false,
            origin: None,
            offered: self.offered,
            ticket_refused: false,
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

    /// The negotiated state rustls keeps, for details this type does not
    /// surface.
    pub fn common_state(&self) -> &rustls::CommonState {
        self.conn.common()
    }

    /// Bytes held in record and plaintext buffers, for tests of what an
    /// idle connection keeps.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.incoming.capacity() + self.outgoing.capacity() + self.plain.capacity()
    }

    fn is_handshaking(&self) -> bool {
        self.conn.common().is_handshaking()
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

    /// Runs rustls over the received records towards `goal`, giving
    /// plaintext into `out` (`Goal::Read`) or encrypting `data`
    /// (`Goal::Write`). Answers why it stopped and how much went to `out`.
    fn run(&mut self, goal: Goal, out: &mut [u8], data: &[u8]) -> io::Result<(Stop, usize)> {
        let mut io = Io {
            out,
            got: 0,
            data,
            outgoing: &mut self.outgoing,
            plain: &mut self.plain,
            peer_closed: &mut self.peer_closed,
        };
        let conn = &mut self.conn;
        let incoming = &mut self.incoming;
        let result = tickets::carry_origin(&mut self.origin, || loop {
            match records::process(conn, incoming, goal, &mut io) {
                Ok(None) => continue,
                Ok(Some(Stop::NeedInput)) if io.got > 0 => break Ok(Stop::OutFull),
                Ok(Some(stop)) => break Ok(stop),
                Err(e) => break Err(e),
            }
        });
        // A ticket can decrypt and still not be used (another suite, say):
        // a full handshake begins a new session.
        if self.origin.is_some()
            && matches!(
                self.conn.common().handshake_kind(),
                Some(HandshakeKind::Full | HandshakeKind::FullWithHelloRetryRequest)
            )
        {
            self.origin = None;
        }
        let got = io.got;
        if let (Some(name), Conn::Server(_)) = (sni::take_seen(), &self.conn) {
            self.servername = name;
        }
        // The verifier ran inside that, if at all (revocation.rs).
        let failure = revocation::take().and_then(|r| {
            let failure = r.failure.clone();
            self.report = r;
            failure
        });
        let err = match result {
            Ok(stop) => return Ok((stop, got)),
            Err(Failure::Tls(e)) => {
                let err = match failure {
                    Some(msg) if matches!(e, rustls::Error::InvalidCertificate(_)) => {
                        NetError::new("certificate", msg)
                    }
                    _ if !self.is_handshaking() => traffic_error(&e, self.cx),
                    _ => {
                        let err = tls_error(&e, self.cx);
                        self.refused_ticket(&e, err)
                    }
                };
                self.queue_alert();
                let _ = self.push(); // best effort: tell the peer why (the alert)
                err
            }
            Err(Failure::Exhausted) => self.stage_error("TLS record sequence exhausted".into()),
            Err(Failure::Unexpected(what)) => {
                self.stage_error(format!("unexpected TLS state ({what})"))
            }
        };
        let err = self.fail(err);
        // The records before the bad one were good: their plaintext is
        // handed over now, and the failure reported by the next call.
        if got > 0 {
            return Ok((Stop::OutFull, got));
        }
        Err(err)
    }

    /// A handshake failure: the server's `missing_extension` to a client
    /// that offered a ticket is its refusal of a second ClientHello that
    /// dropped the ticket (sessions.rs). The name's other tickets would
    /// fail the same way, so they are forgotten, and the error says so.
    fn refused_ticket(&mut self, e: &rustls::Error, err: NetError) -> NetError {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::MissingExtension);
        let retried =
            self.conn.common().handshake_kind() == Some(HandshakeKind::FullWithHelloRetryRequest);
        if *e != alert || !retried {
            return err;
        }
        let Some(sessions) = self.offered.take() else {
            return err;
        };
        let name = self
            .servername
            .clone()
            .and_then(|n| ServerName::try_from(n).ok());
        if let Some(name) = name {
            sessions.forget(&name);
        }
        self.ticket_refused = true;
        NetError::new(
            err.code,
            format!(
                "{} after a HelloRetryRequest: the server refused the session ticket \
                 offered (one from another server of this name?); the name's tickets \
                 were dropped",
                err.message
            ),
        )
    }

    /// A failure of this connection that no rustls error describes:
    /// `handshake` while handshaking, `protocol` after.
    fn stage_error(&self, message: String) -> NetError {
        let code = if self.is_handshaking() {
            "handshake"
        } else {
            "protocol"
        };
        NetError::new(code, message)
    }

    /// After rustls failed: it answers the next calls with the alert it
    /// queued (if any) for encoding. Only while it has one queued: a call
    /// after that would process the failing bytes again.
    fn queue_alert(&mut self) {
        let mut io = Io {
            out: &mut [],
            got: 0,
            data: &[],
            outgoing: &mut self.outgoing,
            plain: &mut self.plain,
            peer_closed: &mut self.peer_closed,
        };
        for _ in 0..4 {
            if !self.conn.common().wants_write() {
                break;
            }
            match records::process(&mut self.conn, &mut self.incoming, Goal::Handshake, &mut io) {
                Ok(None) => {}
                _ => break,
            }
        }
    }

    /// Reads from the socket (or reports its end) into the incoming
    /// buffer; `WouldBlock` when it has nothing.
    fn fill(&mut self) -> io::Result<()> {
        loop {
            let spare = self.incoming.spare();
            if spare.is_empty() {
                let err =
                    self.stage_error("peer sent what TLS cannot take (message buffer full)".into());
                return Err(self.fail(err));
            }
            let room = spare.len();
            match self.sock.read(spare) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.short_read = n < room;
                    self.incoming.commit(n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // About to wait: an idle connection holds no buffers.
                    self.want = Want::Read;
                    self.incoming.idle();
                    self.outgoing.idle();
                    return Err(e);
                }
                Err(e) => {
                    let err = NetError::from_io("", &e);
                    return Err(self.fail(err));
                }
            }
        }
    }

    /// Writes pending records to the socket; `WouldBlock` if it fills up.
    fn push(&mut self) -> io::Result<()> {
        while self.outgoing.len() > 0 {
            match NoSigPipe(&self.sock).write(self.outgoing.pending()) {
                Ok(n) => self.outgoing.sent(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    match e.raw_os_error() {
                        _ if e.kind() == io::ErrorKind::WouldBlock => self.want = Want::Write,
                        Some(libc::ECONNRESET) => self.send_reset = true,
                        Some(libc::EPIPE) if !self.write_closed => self.send_reset = true,
                        _ => {}
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl Transport for TlsTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `drained` speaks of this call's socket read only: the loop may
        // have seen new readiness since an earlier one.
        self.short_read = false;
        // Plaintext decrypted before a failure is still the peer's data:
        // it goes out first, the failure after it.
        if !self.plain.is_empty() && !buf.is_empty() {
            return Ok(self.plain.take(buf));
        }
        self.check_failed()?;
        if self.is_handshaking() {
            self.handshake()?;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (_, got) = self.run(Goal::Read, buf, &[])?;
            // Processing may have queued records (alerts, key updates);
            // a full socket keeps them for the next push. A send that
            // fails does not fail the read: what arrived is still to be
            // read, and a reset is reported at its end.
            let _ = self.push();
            if got > 0 {
                return Ok(got);
            }
            if !self.plain.is_empty() {
                return Ok(self.plain.take(buf));
            }
            if self.peer_closed {
                return Ok(0);
            }
            if self.eof && self.send_reset {
                return Err(io::Error::from_raw_os_error(libc::ECONNRESET));
            }
            if self.eof {
                return Err(coded(
                    "truncated",
                    "peer closed the connection without close_notify (truncated)",
                ));
            }
            self.fill()?;
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_failed()?;
        if self.is_handshaking() {
            self.handshake()?;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // The send buffer is bounded: when full it takes nothing until a
        // push makes room.
        if self.outgoing.len() >= OUT_LIMIT {
            self.push()?;
        }
        let take = buf
            .len()
            .min(OUT_LIMIT - self.outgoing.len().min(OUT_LIMIT / 2));
        match self.run(Goal::Write, &mut [], &buf[..take])? {
            (Stop::Done, _) => {}
            _ => return Err(io::Error::other("TLS connection closed for writing")),
        }
        match self.push() {
            Ok(()) => Ok(take),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(take),
            Err(e) => Err(e),
        }
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
            if !self.is_handshaking() {
                self.incoming.release();
                self.outgoing.idle();
                return Ok(());
            }
            let (stop, _) = self.run(Goal::Handshake, &mut [], &[])?;
            if !self.is_handshaking() {
                continue;
            }
            if stop == Stop::Closed || self.eof {
                let err = NetError::new(
                    "handshake",
                    "peer closed the connection during the TLS handshake",
                );
                return Err(self.fail(err));
            }
            self.push()?;
            self.fill()?;
        }
    }

    fn shutdown(&mut self) -> io::Result<()> {
        // close_notify only ends an established session: mid-handshake it
        // would be a plaintext warning telling the peer "clean end" when
        // nothing was agreed, so an unfinished handshake just closes TCP.
        if self.failed.is_none() && !self.is_handshaking() {
            if !self.close_sent {
                self.close_sent = true;
                self.run(Goal::Close, &mut [], &[])?;
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

    /// The socket was empty at the last read and nothing readable is left
    /// here (no plaintext kept over, no whole record undecrypted), so the
    /// next read may wait for readiness without a `recv` that would fail
    /// with `EAGAIN` (one per request on a keep-alive server).
    /// Never after a failure: the next read must report it, not wait.
    fn drained(&self, _asked: usize, _got: usize) -> bool {
        self.short_read
            && self.failed.is_none()
            && !self.is_handshaking()
            && self.plain.is_empty()
            && !self.incoming.has_record()
            && !self.eof
            && !self.peer_closed
    }

    fn read_unit(&self) -> usize {
        // The largest plaintext a TLS record carries.
        16 * 1024
    }

    fn want(&self) -> Want {
        self.want
    }

    fn ticket_refused(&self) -> bool {
        self.ticket_refused
    }

    fn socket(&self) -> &StreamSocket {
        &self.sock
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        let servername = match &self.conn {
            Conn::Server(_) => self.servername.clone(),
            // Only DNS names are sent as SNI; an IP literal is not.
            Conn::Client(_) => self
                .servername
                .clone()
                .filter(|n| n.parse::<std::net::IpAddr>().is_err()),
        };
        let common = self.conn.common();
        Some(TlsInfo {
            version: common
                .protocol_version()
                .map(|v| version_name(v.as_str().unwrap_or("unknown"))),
            cipher: common
                .negotiated_cipher_suite()
                .map(|s| cipher_name(s.suite().as_str().unwrap_or("unknown"))),
            alpn: common
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            servername,
            resumed: common.handshake_kind() == Some(HandshakeKind::Resumed),
            peer_chain: common
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

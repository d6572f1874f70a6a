//! The byte transport under an `ios`: plain TCP or TLS.
//!
//! Everything above this trait (buffering, read formats, timeouts, `lines`,
//! `close`) is written once in `stream`; a transport only moves bytes and
//! says which socket readiness it is waiting for.

use std::io;

use crate::error::NetError;

/// Which socket readiness a blocked operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Wait until the socket is readable.
    Read,
    /// Wait until the socket is writable.
    Write,
}

/// What a TLS transport reports about its connection (`ios:info()`).
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    pub version: Option<String>,
    /// IANA cipher suite name.
    pub cipher: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// SNI name sent (client) or received (server).
    pub servername: Option<String>,
    /// Whether the session was resumed.
    pub resumed: bool,
    /// The peer's certificate chain, end entity first, DER encoded.
    pub peer_chain: Vec<Vec<u8>>,
    /// Client: the verified OCSP response the server stapled.
    pub ocsp: Option<crate::tls::ocsp::OcspStatus>,
    /// Client: why a stapled OCSP response was ignored.
    pub ocsp_error: Option<String>,
}

/// A non-blocking byte stream over a connected socket.
///
/// Every method is non-blocking: `Err(WouldBlock)` means "call again when the
/// socket is ready for [`Transport::want`]". Coded failures (certificate,
/// handshake, truncated) travel as `io::Error` wrapping a [`NetError`].
pub trait Transport {
    /// Reads plaintext into `buf`. `Ok(0)` is a clean end of stream (TLS:
    /// after close_notify); a TCP end without close_notify on TLS is an
    /// `UnexpectedEof` error wrapping a `truncated` [`NetError`].
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Accepts plaintext for sending; may buffer it internally (TLS).
    /// Returns how many bytes were taken.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// Pushes internally buffered output to the socket; `Ok(())` when
    /// nothing is left pending.
    fn flush(&mut self) -> io::Result<()>;

    /// Drives the handshake; `Ok(())` once it is complete (at once for TCP).
    fn handshake(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// After a failed handshake: the server refused the session ticket
    /// the client offered (TLS, see `tls/sessions.rs`), so a new connection
    /// without it may succeed.
    fn ticket_refused(&self) -> bool {
        false
    }

    /// Half-closes for writing (TLS: sends close_notify first). May return
    /// `WouldBlock` while close_notify is still being flushed.
    fn shutdown(&mut self) -> io::Result<()>;

    /// After a read of `got` bytes into a buffer of `asked`: true when the
    /// socket is surely drained, so the next read can wait for readiness
    /// without trying the syscall first (plain TCP: a short read).
    fn drained(&self, asked: usize, got: usize) -> bool {
        let _ = (asked, got);
        false
    }

    /// The room a read should offer so the transport can hand over its
    /// next unit whole (TLS: a record); a smaller buffer makes it split
    /// the unit and keep the rest, one more copy.
    fn read_unit(&self) -> usize {
        0
    }

    /// The readiness the last `WouldBlock` from this transport waits for.
    fn want(&self) -> Want;

    /// The connected socket (registration, addresses, options).
    fn socket(&self) -> &crate::net::socket::StreamSocket;

    /// TLS details; `None` for plain TCP.
    fn tls_info(&self) -> Option<TlsInfo> {
        None
    }

    /// The socket of a plain transport, given up so another transport can
    /// take over the connection (STARTTLS). `None` for TLS, which keeps
    /// state of its own that a socket alone would lose.
    fn into_socket(self: Box<Self>) -> Option<crate::net::socket::StreamSocket> {
        None
    }
}

/// Builds the `WouldBlock` error transports return.
pub fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

/// Convenience for transports: a coded failure as an `io::Error`.
pub fn coded(code: &'static str, message: impl Into<String>) -> io::Error {
    NetError::new(code, message).into_io()
}

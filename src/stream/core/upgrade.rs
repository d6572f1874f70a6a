//! Swapping the transport under a stream (STARTTLS): a plain connection
//! becomes a TLS one in place, so the `ios` a program holds stays the same.

use super::{End, Stream};
use crate::error::NetError;
use crate::stream::buffer::ReadBuffer;
use crate::stream::transport::Transport;

impl Stream {
    /// Whether the transport can hand its socket to another (plain TCP).
    pub(crate) fn is_plain(&self) -> bool {
        self.transport().is_some_and(|t| t.tls_info().is_none())
    }

    /// Hands the connection to the transport `make` builds over its socket.
    /// Bytes already read into the buffer but not consumed came after the
    /// plaintext exchange, so they belong to the new transport and `make`
    /// gets them. The caller flushes pending output first.
    pub(crate) fn upgrade(
        &mut self,
        kind: &'static str,
        make: impl FnOnce(crate::net::socket::StreamSocket, Vec<u8>) -> Box<dyn Transport>,
    ) -> Result<(), NetError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        if let End::Failed(e) = &self.end {
            return Err(e.clone());
        }
        if self.shut || self.has_output() {
            let msg = format!(
                "starttls on {}: the stream was shut down for writing",
                self.what()
            );
            return Err(NetError::new("closed", msg));
        }
        let not_plain = || NetError::new("closed", "starttls: not a plain stream");
        if !self.is_plain() {
            return Err(not_plain());
        }
        // Checked above: a plain transport always gives its socket up.
        let socket = self
            .transport
            .take()
            .and_then(|t| t.into_socket())
            .ok_or_else(not_plain)?;
        let early = self.rbuf.bytes().to_vec();
        self.rbuf = ReadBuffer::default();
        // The gates remember readiness of the old transport; the new one
        // may have bytes to work on without any event.
        self.read_gate = None;
        self.write_gate = None;
        self.end = End::Open;
        self.kind = kind;
        self.transport = Some(make(socket, early));
        Ok(())
    }
}

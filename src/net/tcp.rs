//! The plain transport: bytes straight to the socket (TCP or Unix).

use std::io::{self, Read};

use socket2::SockRef;

use super::socket::StreamSocket;
use crate::stream::transport::{Transport, Want};

pub(crate) struct TcpTransport {
    socket: StreamSocket,
    want: Want,
}

impl TcpTransport {
    pub(crate) fn new(socket: impl Into<StreamSocket>) -> Self {
        Self {
            socket: socket.into(),
            want: Want::Read,
        }
    }
}

impl Transport for TcpTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = (&self.socket).read(buf);
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.want = Want::Read;
        }
        r
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // MSG_NOSIGNAL: the Lua interpreter does not ignore SIGPIPE, and a
        // peer that went away must be an error, not the death of the process.
        let r = SockRef::from(&self.socket).send_with_flags(buf, libc::MSG_NOSIGNAL);
        if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.want = Want::Write;
        }
        r
    }

    fn drained(&self, asked: usize, got: usize) -> bool {
        got < asked
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.socket.shutdown(std::net::Shutdown::Write)
    }

    fn want(&self) -> Want {
        self.want
    }

    fn socket(&self) -> &StreamSocket {
        &self.socket
    }

    fn into_socket(self: Box<Self>) -> Option<crate::net::socket::StreamSocket> {
        Some(self.socket)
    }
}

//! Writing to the socket without SIGPIPE. The Lua interpreter does not
//! ignore SIGPIPE the way Rust binaries do, so a plain `write`/`writev` to
//! a peer that has gone away would kill the process; `send(MSG_NOSIGNAL)`
//! returns EPIPE instead.

use std::io::{self, IoSlice, Write};

use socket2::SockRef;

/// An `io::Write` over a borrowed stream socket that sends with `MSG_NOSIGNAL`.
pub(crate) struct NoSigPipe<'a>(pub(crate) &'a crate::net::socket::StreamSocket);

impl Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(self.0).send_with_flags(buf, libc::MSG_NOSIGNAL)
    }

    // rustls hands over several records at once: one sendmsg for all.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        SockRef::from(self.0).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn sends_and_reports_epipe_instead_of_signalling() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let client = mio::net::TcpStream::from_std(client).into();
        let mut w = NoSigPipe(&client);
        assert_eq!(
            w.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
                .unwrap(),
            4
        );
        let mut got = [0u8; 4];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");
        drop(server);
        // The first send after the peer closed may succeed (RST comes back);
        // a later one fails with EPIPE or ECONNRESET, never a signal.
        let mut failed = None;
        for _ in 0..100 {
            match w.write(b"x") {
                Ok(1) => std::thread::sleep(std::time::Duration::from_millis(5)),
                Ok(n) => panic!("sent {n} bytes of 1"),
                Err(e) => {
                    failed = e.raw_os_error();
                    break;
                }
            }
        }
        assert!(
            matches!(failed, Some(libc::EPIPE) | Some(libc::ECONNRESET)),
            "{failed:?}"
        );
    }
}

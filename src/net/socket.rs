//! A connected stream socket, TCP or Unix domain, and where one end of it
//! is ([`Endpoint`]). The transports (plain and TLS) work over either.

use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::linux::net::SocketAddrExt;
use std::path::PathBuf;

use mio::event::Source;
use mio::{Interest, Registry, Token};

/// One end of a stream: an IP address and port, or a Unix socket name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Ip(SocketAddr),
    /// A path in the file system.
    Path(PathBuf),
    /// A name in Linux's abstract namespace (`unix:@name`).
    Abstract(Vec<u8>),
    /// A Unix socket that was never bound (the client end, seen by a server).
    Unnamed,
}

impl Endpoint {
    pub(crate) fn from_unix(a: &std::os::unix::net::SocketAddr) -> Self {
        if let Some(p) = a.as_pathname() {
            Self::Path(p.to_path_buf())
        } else if let Some(n) = a.as_abstract_name() {
            Self::Abstract(n.to_vec())
        } else {
            Self::Unnamed
        }
    }

    /// The text after `unix:` (`/path`, `@name`, or empty when unnamed).
    pub(crate) fn unix_text(&self) -> Option<String> {
        match self {
            Self::Ip(_) => None,
            Self::Path(p) => Some(p.to_string_lossy().into_owned()),
            Self::Abstract(n) => Some(format!("@{}", String::from_utf8_lossy(n))),
            Self::Unnamed => Some(String::new()),
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Self {
        Self::Ip(a)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(a) => write!(f, "{a}"),
            other => write!(f, "unix:{}", other.unix_text().unwrap_or_default()),
        }
    }
}

/// A connected, non-blocking stream socket (what transports run over).
#[derive(Debug)]
pub enum StreamSocket {
    /// A TCP connection.
    Tcp(mio::net::TcpStream),
    /// A Unix domain stream connection.
    Unix(mio::net::UnixStream),
}

impl From<mio::net::TcpStream> for StreamSocket {
    fn from(s: mio::net::TcpStream) -> Self {
        Self::Tcp(s)
    }
}

impl From<mio::net::UnixStream> for StreamSocket {
    fn from(s: mio::net::UnixStream) -> Self {
        Self::Unix(s)
    }
}

impl StreamSocket {
    pub(crate) fn is_unix(&self) -> bool {
        matches!(self, Self::Unix(_))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(s) => s.peer_addr().map(Endpoint::Ip),
            Self::Unix(s) => s.peer_addr().map(|a| Endpoint::from_unix(&a)),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(s) => s.local_addr().map(Endpoint::Ip),
            Self::Unix(s) => s.local_addr().map(|a| Endpoint::from_unix(&a)),
        }
    }

    /// What names the stream in messages: the peer, or for the server end
    /// of a Unix stream (whose peer has no name) the path it was accepted on.
    pub(crate) fn label(&self) -> Option<Endpoint> {
        match self.peer_addr().ok()? {
            Endpoint::Unnamed => self.local_addr().ok(),
            e => Some(e),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.shutdown(how),
            Self::Unix(s) => s.shutdown(how),
        }
    }

    /// TCP_NODELAY; Unix streams have no Nagle to turn off.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_nodelay(on),
            Self::Unix(_) => Ok(()),
        }
    }
}

impl Read for &StreamSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamSocket::Tcp(s) => (&*s).read(buf),
            StreamSocket::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Read for StreamSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl AsFd for StreamSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(s) => s.as_fd(),
            Self::Unix(s) => s.as_fd(),
        }
    }
}

impl Source for StreamSocket {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.register(r, t, i),
            Self::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.reregister(r, t, i),
            Self::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.deregister(r),
            Self::Unix(s) => s.deregister(r),
        }
    }
}

/// A listening socket, TCP or Unix.
pub(crate) enum Listener {
    Tcp(mio::net::TcpListener),
    Unix(super::unix::UnixListener),
}

impl Listener {
    /// Accepts a connection. A TCP peer's address comes with it (what
    /// `accept4` wrote), so streams need not ask with `getpeername`; a Unix
    /// peer has no useful name (the stream names itself by its path).
    pub(crate) fn accept(&self) -> io::Result<(StreamSocket, Option<Endpoint>)> {
        match self {
            Self::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (StreamSocket::Tcp(s), Some(Endpoint::Ip(peer)))),
            Self::Unix(l) => l
                .socket
                .accept()
                .map(|(s, _)| (StreamSocket::Unix(s), None)),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(l) => l.local_addr().map(Endpoint::Ip),
            Self::Unix(l) => l.socket.local_addr().map(|a| Endpoint::from_unix(&a)),
        }
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Self::Tcp(l) => l.register(r, t, i),
            Self::Unix(l) => l.socket.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Self::Tcp(l) => l.reregister(r, t, i),
            Self::Unix(l) => l.socket.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Self::Tcp(l) => l.deregister(r),
            Self::Unix(l) => l.socket.deregister(r),
        }
    }
}

//! Datagram sockets on the reactor: bind or connect with options, then
//! non-blocking send and receive that report truncation instead of
//! cutting datagrams silently.

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use mio::Interest;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::NetError;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;
use crate::stream::transport::Want;

/// No UDP datagram (IPv4 or IPv6, without jumbograms) is larger.
pub(crate) const MAX_DATAGRAM: usize = 65536;

/// `multicast = { group = ..., interface = ..., loop = ..., ttl = ... }`.
#[derive(Debug, Clone)]
pub(crate) struct Multicast {
    pub(crate) group: IpAddr,
    /// IPv4: the interface's address; IPv6: its index (0: any).
    pub(crate) interface: Option<IpAddr>,
    pub(crate) index: u32,
    pub(crate) looped: Option<bool>,
    pub(crate) ttl: Option<u32>,
}

/// What `udp.bind` and `udp.connect` accept in `opts`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UdpOptions {
    pub(crate) reuseaddr: bool,
    pub(crate) reuseport: bool,
    pub(crate) broadcast: bool,
    pub(crate) ttl: Option<u32>,
    pub(crate) multicast: Option<Multicast>,
    pub(crate) rcvbuf: Option<usize>,
    pub(crate) sndbuf: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    /// Longest datagram `recv` hands over whole (default [`MAX_DATAGRAM`]).
    pub(crate) maxsize: Option<usize>,
}

/// A datagram socket. It joins the reactor only when an operation first
/// has to wait, and for writing only once a send has had to wait: a
/// socket in epoll pays for a wake-up callback on every datagram that
/// arrives (and every send that completes), which a busy socket that
/// never waits should not.
///
/// What joins the reactor is a duplicate of the descriptor (`twin`), not
/// the descriptor `getfd` gives: epoll takes each descriptor once, and
/// `loop.poll(s)` registers that one for its own wait, before or after
/// this socket first waits.
pub(crate) struct UdpSock {
    pub(crate) socket: mio::net::UdpSocket,
    registration: Option<(Registration, mio::net::UdpSocket)>,
    writable: bool,
    /// Where `send` goes (set by `connect`).
    pub(crate) peer: Option<SocketAddr>,
    /// Every datagram in the queue is the peer's: receives need not ask
    /// for the sender. True when connected as it was made (before any
    /// datagram could arrive), or once the queue was found empty after a
    /// later `connect` (the kernel drops other senders' from then on).
    peer_only: Cell<bool>,
}

/// How a receive ended when a datagram was there.
pub(crate) enum Received {
    Whole(usize, SocketAddr),
    /// Longer than the buffer allowed: the first `usize` bytes.
    Cut(usize, SocketAddr),
}

impl UdpSock {
    /// A socket bound to `local` (and connected to `peer`, if given).
    pub(crate) fn open(
        local: SocketAddr,
        peer: Option<SocketAddr>,
        o: &UdpOptions,
    ) -> Result<Self, NetError> {
        let what = match peer {
            Some(p) => format!("udp connect to {p}"),
            None => format!("udp bind to {local}"),
        };
        let fail = |e: io::Error| NetError::from_io(&what, &e);
        let s = Socket::new(
            Domain::for_address(local),
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )
        .map_err(fail)?;
        apply(&s, local.is_ipv6(), o).map_err(fail)?;
        if peer.is_none() || local.port() != 0 || !local.ip().is_unspecified() {
            s.bind(&local.into()).map_err(fail)?;
        }
        let mut peer = peer;
        if let Some(p) = peer {
            s.connect(&p.into()).map_err(fail)?;
            // As the kernel sees it (0.0.0.0 is loopback, say): receives
            // report this address without asking for it.
            peer = s.peer_addr().ok().and_then(|a| a.as_socket()).or(peer);
        }
        Ok(Self {
            socket: mio::net::UdpSocket::from_std(s.into()),
            registration: None,
            writable: false,
            peer,
            peer_only: Cell::new(peer.is_some()),
        })
    }

    /// Parks `waker` until the socket is ready for `want`, registering it
    /// (or widening its registration) first.
    pub(crate) fn park(&mut self, rt: &Rc<Runtime>, want: Want, waker: &Waker) -> io::Result<()> {
        let write = want == Want::Write;
        match &mut self.registration {
            None => {
                let dup = socket2::SockRef::from(&self.socket).try_clone()?;
                let mut twin = mio::net::UdpSocket::from_std(dup.into());
                let r = if write {
                    Registration::new(rt, &mut twin)?
                } else {
                    Registration::new_readable(rt, &mut twin)?
                };
                self.registration = Some((r, twin));
                self.writable = write;
            }
            Some((r, twin)) if write && !self.writable => {
                r.reregister(twin, Interest::READABLE | Interest::WRITABLE)?;
                self.writable = true;
            }
            Some(_) => {}
        }
        if let Some((r, _)) = &self.registration {
            r.park(want, waker);
        }
        Ok(())
    }

    /// Forgets `waker` (its operation is over).
    pub(crate) fn unpark(&self, want: Want, waker: &Waker) {
        if let Some((r, _)) = &self.registration {
            r.unpark(want, waker);
        }
    }

    /// Closes: whoever waits is woken (and finds the socket closed); the
    /// registration goes before the descriptor.
    pub(crate) fn close(self) {
        if let Some((r, twin)) = self.registration {
            r.wake_all();
            drop(r);
            drop(twin);
        }
        drop(self.socket);
    }

    /// Connects to `to`: sends go there, and the kernel drops datagrams
    /// from anyone else from now on. Those already queued stay: while
    /// there are any, each receive still asks who sent it (a receive that
    /// finds none ends that). A `poll` tells whether there are any now;
    /// unlike a peek it leaves a pending error (an ICMP "port unreachable"
    /// from the old peer, say) for the next receive to report. Anything it
    /// does not call empty keeps asking, which is always right.
    pub(crate) fn connect(&mut self, to: SocketAddr) -> Result<(), NetError> {
        self.socket
            .connect(to)
            .map_err(|e| NetError::from_io(&format!("udp connect to {to}"), &e))?;
        self.peer = Some(self.socket.peer_addr().unwrap_or(to));
        self.peer_only.set(self.nothing_queued());
        Ok(())
    }

    /// Whether no datagram waits and no error is pending.
    fn nothing_queued(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }

    /// One receive into `buf`; a datagram that fills it entirely was longer
    /// than the caller allows (the buffer is one byte longer than that).
    pub(crate) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        // A connected socket receives only from its peer: the kernel need
        // not copy out the address.
        let (n, from) = match self.peer {
            Some(p) if self.peer_only.get() => (self.socket.recv(buf)?, p),
            peer => match self.socket.recv_from(buf) {
                Ok(got) => got,
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock && peer.is_some() {
                        self.peer_only.set(true);
                    }
                    return Err(e);
                }
            },
        };
        if n >= buf.len() {
            Ok(Received::Cut(n - 1, from))
        } else {
            Ok(Received::Whole(n, from))
        }
    }

    /// One send, to `to` or (connected) to the peer.
    pub(crate) fn try_send(&self, data: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
        match to {
            Some(a) => self.socket.send_to(data, a),
            None => self.socket.send(data),
        }
    }
}

/// Socket options, before bind (so `reuseaddr` and `reuseport` count).
fn apply(s: &Socket, v6: bool, o: &UdpOptions) -> io::Result<()> {
    if v6 {
        // As for TCP listeners: "::" does not take the IPv4 port too.
        s.set_only_v6(true)?;
    }
    if o.reuseaddr {
        s.set_reuse_address(true)?;
    }
    if o.reuseport {
        s.set_reuse_port(true)?;
    }
    if o.broadcast {
        s.set_broadcast(true)?;
    }
    if let Some(n) = o.rcvbuf {
        s.set_recv_buffer_size(n)?;
    }
    if let Some(n) = o.sndbuf {
        s.set_send_buffer_size(n)?;
    }
    if let Some(t) = o.ttl {
        if v6 {
            s.set_unicast_hops_v6(t)?;
        } else {
            s.set_ttl_v4(t)?;
        }
    }
    if let Some(m) = &o.multicast {
        join(s, m)?;
    }
    Ok(())
}

fn join(s: &Socket, m: &Multicast) -> io::Result<()> {
    match m.group {
        IpAddr::V4(g) => {
            let iface = match m.interface {
                Some(IpAddr::V4(i)) => i,
                Some(IpAddr::V6(_)) => return Err(io::ErrorKind::InvalidInput.into()),
                None => std::net::Ipv4Addr::UNSPECIFIED,
            };
            s.join_multicast_v4(&g, &iface)?;
            if !iface.is_unspecified() {
                // Our own sends to the group leave by the same interface.
                s.set_multicast_if_v4(&iface)?;
            }
            if let Some(l) = m.looped {
                s.set_multicast_loop_v4(l)?;
            }
            if let Some(t) = m.ttl {
                s.set_multicast_ttl_v4(t)?;
            }
        }
        IpAddr::V6(g) => {
            s.join_multicast_v6(&g, m.index)?;
            if m.index != 0 {
                s.set_multicast_if_v6(m.index)?;
            }
            if let Some(l) = m.looped {
                s.set_multicast_loop_v6(l)?;
            }
            if let Some(t) = m.ttl {
                s.set_multicast_hops_v6(t)?;
            }
        }
    }
    Ok(())
}

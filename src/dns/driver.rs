//! Runs one [`Resolve`] on the loop's reactor: the only part of `dns` that
//! opens sockets.
//!
//! - UDP: one unconnected socket per address family per request, made when
//!   the request first sends to a server of that family. It is not bound
//!   explicitly: the first `send_to` binds it to the wildcard address and
//!   a port the kernel picks at random, so every request has its own
//!   source port. The machine checks source, ID and question of whatever
//!   arrives.
//! - TCP: a non-blocking connect per [`ResolveAction::SendTcp`], the framed
//!   query written once connected, the answer read as it comes.
//! - Time: a [`Deadline`] at the `until` of the latest `Wait`.
//!
//! No threads: the request is a future, parked on its sockets and timer.
//! Dropping it (a task that ends, a connect that times out) closes
//! everything.

use std::future::poll_fn;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::resolve::{ConnId, Resolve, ResolveAction, Resolved};
use crate::error::NetResult;
use crate::runtime::deadline::Deadline;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;
use crate::stream::transport::Want;

/// A request's UDP socket for one family.
struct Udp {
    socket: mio::net::UdpSocket,
    registration: Registration,
    /// The read epoch at which `recv_from` last said `WouldBlock`: until
    /// the reactor sees another event there is nothing to read.
    drained_at: Option<u32>,
    /// A datagram was read since: there may be more.
    more: bool,
}

impl Udp {
    fn new(rt: &Rc<Runtime>, v6: bool) -> io::Result<Udp> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(
            domain,
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )?;
        let mut socket = mio::net::UdpSocket::from_std(socket.into());
        let registration = Registration::new_readable(rt, &mut socket)?;
        // Nothing can have arrived on a socket that has not sent yet.
        let drained_at = registration.epoch(Want::Read);
        Ok(Udp {
            socket,
            registration,
            drained_at,
            more: false,
        })
    }
}

/// A TCP connection the request opened.
struct Tcp {
    conn: ConnId,
    socket: mio::net::TcpStream,
    registration: Registration,
    connected: bool,
    /// The framed query and how much of it is written.
    out: Vec<u8>,
    sent: usize,
    /// Reported failed or ended; waits for `CloseTcp`.
    dead: bool,
}

impl Tcp {
    fn open(rt: &Rc<Runtime>, conn: ConnId, server: SocketAddr, out: Vec<u8>) -> io::Result<Tcp> {
        let socket = Socket::new(
            Domain::for_address(server),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        match socket.connect(&server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let mut socket = mio::net::TcpStream::from_std(socket.into());
        let registration = Registration::new(rt, &mut socket)?;
        Ok(Tcp {
            conn,
            socket,
            registration,
            connected: false,
            out,
            sent: 0,
            dead: false,
        })
    }

    /// Moves the connection on as far as it goes without waiting, feeding
    /// what it reads to `r`; parks on the socket where it has to wait.
    fn drive(&mut self, r: &mut Resolve, buf: &mut [u8], cx: &Context<'_>) {
        if self.dead {
            return;
        }
        if let Err(()) = self.try_drive(r, buf, cx) {
            self.dead = true;
            r.tcp_failed(self.conn, Instant::now());
        }
    }

    fn try_drive(&mut self, r: &mut Resolve, buf: &mut [u8], cx: &Context<'_>) -> Result<(), ()> {
        if !self.connected {
            match self.socket.take_error() {
                Ok(None) => {}
                _ => return Err(()),
            }
            match self.socket.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    self.registration.park(Want::Write, cx.waker());
                    return Ok(());
                }
                Err(_) => return Err(()),
            }
        }
        while self.sent < self.out.len() {
            // MSG_NOSIGNAL: a server that hangs up must not kill the process.
            match SockRef::from(&self.socket)
                .send_with_flags(&self.out[self.sent..], libc::MSG_NOSIGNAL)
            {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.park(Want::Write, cx.waker());
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        loop {
            match (&self.socket).read(buf) {
                Ok(0) => return Err(()),
                Ok(n) => r.tcp_received(self.conn, &buf[..n], Instant::now()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.park(Want::Read, cx.waker());
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }
}

/// The sockets and timer of one request.
struct Io {
    rt: Rc<Runtime>,
    udp4: Option<Udp>,
    udp6: Option<Udp>,
    tcp: Vec<Tcp>,
    timer: Deadline,
}

impl Io {
    /// Feeds `r` the next datagram, if one has arrived (true), else moves
    /// the TCP connections on; parks every socket that has nothing. One
    /// datagram at a time, so that a request whose answer is in stops
    /// reading (the socket is about to close) without one more `recv_from`.
    fn drain(&mut self, r: &mut Resolve, cx: &Context<'_>) -> bool {
        let mut buf = self.rt.dns.buffer();
        for udp in [self.udp4.as_mut(), self.udp6.as_mut()]
            .into_iter()
            .flatten()
        {
            let epoch = udp.registration.epoch(Want::Read);
            if udp.more || epoch.is_none() || epoch != udp.drained_at {
                loop {
                    match udp.socket.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            udp.more = true;
                            r.udp_received(from, &buf[..n], Instant::now());
                            return true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // WouldBlock, or an error the socket reported (say,
                        // an ICMP message): nothing more to read now.
                        Err(_) => break,
                    }
                }
                udp.more = false;
                udp.drained_at = epoch;
            }
            udp.registration.park(Want::Read, cx.waker());
        }
        for tcp in &mut self.tcp {
            tcp.drive(r, &mut buf, cx);
        }
        false
    }

    fn send_udp(&mut self, server: SocketAddr, packet: &[u8]) -> io::Result<()> {
        let slot = if server.is_ipv4() {
            &mut self.udp4
        } else {
            &mut self.udp6
        };
        if slot.is_none() {
            *slot = Some(Udp::new(&self.rt, server.is_ipv6())?);
        }
        let udp = slot.as_mut().expect("made above");
        loop {
            match udp.socket.send_to(packet, server) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Drives `r`, whose first action is `first`, to its end.
pub(crate) async fn drive(
    rt: &Rc<Runtime>,
    mut r: Resolve,
    first: ResolveAction,
) -> NetResult<Resolved> {
    let mut io = Io {
        rt: rt.clone(),
        udp4: None,
        udp6: None,
        tcp: Vec::new(),
        timer: Deadline::at(rt, None),
    };
    let mut next = Some(first);
    poll_fn(|cx| loop {
        let mut fed = false;
        let action = match next.take() {
            Some(a) => a,
            None => {
                fed = io.drain(&mut r, cx);
                let mut state = io.rt.dns.state_now();
                r.poll(Instant::now(), &mut state.cache)
            }
        };
        match action {
            ResolveAction::Send { server, packet } => {
                if io.send_udp(server, &packet).is_err() {
                    r.udp_send_failed(Instant::now());
                }
            }
            ResolveAction::SendTcp {
                conn,
                server,
                packet,
            } => match Tcp::open(&io.rt, conn, server, packet) {
                Ok(tcp) => io.tcp.push(tcp),
                Err(_) => r.tcp_failed(conn, Instant::now()),
            },
            ResolveAction::CloseTcp { conn } => io.tcp.retain(|t| t.conn != conn),
            ResolveAction::Wait { until } => {
                if fed {
                    // Read on until the sockets are empty.
                    continue;
                }
                io.timer.reset(Some(until));
                if io.timer.poll_expired(cx) {
                    r.timer(Instant::now());
                    continue;
                }
                return Poll::Pending;
            }
            ResolveAction::Done(result) => return Poll::Ready(result),
        }
    })
    .await
}

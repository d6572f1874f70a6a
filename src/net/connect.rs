//! Non-blocking connect: to one address, and to a host name by racing its
//! addresses (Happy Eyeballs, RFC 8305).

use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::socket::{Endpoint, StreamSocket};
use crate::dns::addr::{parse_ip, Family};
use crate::dns::order;
use crate::dns::resolver;
use crate::error::{NetError, NetResult};
use crate::runtime::deadline::Deadline;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;
use crate::stream::transport::Want;

/// A connected socket and its place in the reactor.
pub(crate) struct Connected {
    pub(crate) socket: StreamSocket,
    pub(crate) registration: Registration,
}

/// RFC 8305's "Connection Attempt Delay": the next address is tried this
/// long after the previous attempt started, unless that one failed sooner.
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connects to `addr`, failing with `timeout` after `timeout`.
pub(crate) async fn connect(
    rt: &Rc<Runtime>,
    addr: SocketAddr,
    timeout: Option<Duration>,
    nodelay: bool,
) -> NetResult<Connected> {
    attempt(rt, addr, timeout, nodelay)
        .await
        .map_err(|e| NetError::new(e.code, format!("connect to {addr}: {}", e.message)))
}

/// [`connect`], with the bare reason as the message ("connection refused").
async fn attempt(
    rt: &Rc<Runtime>,
    addr: SocketAddr,
    timeout: Option<Duration>,
    nodelay: bool,
) -> NetResult<Connected> {
    let fail = |e: io::Error| NetError::from_io("", &e);
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )
    .map_err(fail)?;
    socket.set_tcp_nodelay(nodelay).map_err(fail)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(fail(e)),
    }
    let mut socket = mio::net::TcpStream::from_std(socket.into());
    let registration = Registration::new(rt, &mut socket).map_err(fail)?;
    let mut deadline = Deadline::after(rt, timeout);
    poll_fn(|cx| {
        // Writable means done either way: an error is in SO_ERROR, success
        // shows as a peer address. Anything else is a spurious wake-up.
        match socket.take_error() {
            Ok(Some(e)) | Err(e) => return Poll::Ready(Err(fail(e))),
            Ok(None) => {}
        }
        match socket.peer_addr() {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e)
                if e.kind() == io::ErrorKind::NotConnected
                    || e.raw_os_error() == Some(libc::EINPROGRESS) =>
            {
                if deadline.poll_expired(cx) {
                    return Poll::Ready(Err(NetError::new("timeout", "timed out")));
                }
                registration.park(Want::Write, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(fail(e))),
        }
    })
    .await?;
    Ok(Connected {
        socket: socket.into(),
        registration,
    })
}

/// [`connect`] to an IP address, or to a Unix socket.
pub(crate) async fn connect_endpoint(
    rt: &Rc<Runtime>,
    to: &Endpoint,
    timeout: Option<Duration>,
    nodelay: bool,
) -> NetResult<Connected> {
    match to {
        Endpoint::Ip(a) => connect(rt, *a, timeout, nodelay).await,
        unix => {
            let (socket, registration) = super::unix::connect(rt, unix, timeout).await?;
            Ok(Connected {
                socket,
                registration,
            })
        }
    }
}

/// Connects to `host` (a literal address or a name) on `port`. A literal
/// is connected to directly. A name is resolved (IPv4 and IPv6) and its
/// addresses raced, Happy Eyeballs style (RFC 8305): families alternate,
/// starting with the preferred one; each attempt starts [`ATTEMPT_DELAY`]
/// after the previous one, or at once when every running attempt has
/// failed; the first to connect wins and the others are closed. `timeout`
/// bounds the whole, resolution included. When every attempt fails, the
/// message lists what each got and the code is the last failure's.
pub(crate) async fn connect_host(
    rt: &Rc<Runtime>,
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    nodelay: bool,
) -> NetResult<Connected> {
    if let Some((ip, scope)) = parse_ip(host) {
        let addr = crate::dns::addr::socket_addr(ip, scope, port);
        return connect(rt, addr, timeout, nodelay).await;
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let what = format!("connect to {host} port {port}");
    let ips = {
        let mut limit = Deadline::at(rt, deadline);
        let mut lookup = std::pin::pin!(resolver::lookup(rt, host, Family::Any));
        poll_fn(|cx| match lookup.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending if limit.poll_expired(cx) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    };
    let ips = match ips {
        Some(result) => result?,
        None => {
            return Err(NetError::new(
                "timeout",
                format!("{what}: timed out resolving the name"),
            ))
        }
    };
    race(rt, &what, &ips, port, deadline, nodelay).await
}

type Attempt<'a> = Pin<Box<dyn Future<Output = NetResult<Connected>> + 'a>>;

/// Happy Eyeballs over `ips` (already sorted by preference).
async fn race(
    rt: &Rc<Runtime>,
    what: &str,
    ips: &[IpAddr],
    port: u16,
    deadline: Option<Instant>,
    nodelay: bool,
) -> NetResult<Connected> {
    let addrs: Vec<SocketAddr> = order::interleave(ips)
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    if addrs.is_empty() {
        return Err(NetError::new("noaddress", format!("{what}: no address")));
    }
    // Per address: the running attempt, then how it failed.
    let mut running: Vec<Option<Attempt<'_>>> = Vec::with_capacity(addrs.len());
    let mut failed: Vec<Option<NetError>> = vec![None; addrs.len()];
    let mut last_failure: Option<usize> = None;
    let mut next_start = Deadline::at(rt, None);
    let mut overall = Deadline::at(rt, deadline);
    let listing = |failed: &[Option<NetError>], started: usize| {
        addrs
            .iter()
            .enumerate()
            .filter(|&(i, _)| i < started)
            .map(|(i, a)| match &failed[i] {
                Some(e) => format!("{a} {}", e.message),
                None => format!("{a} timed out"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    poll_fn(|cx| loop {
        let started = running.len();
        let live = running.iter().filter(|a| a.is_some()).count();
        if started < addrs.len() && (live == 0 || next_start.poll_expired(cx)) {
            running.push(Some(Box::pin(attempt(rt, addrs[started], None, nodelay))));
            next_start.reset(Instant::now().checked_add(ATTEMPT_DELAY));
            continue;
        }
        let mut progressed = false;
        for (i, slot) in running.iter_mut().enumerate() {
            let Some(fut) = slot.as_mut() else { continue };
            match fut.as_mut().poll(cx) {
                // The other attempts are dropped with `running`: closed.
                Poll::Ready(Ok(c)) => return Poll::Ready(Ok(c)),
                Poll::Ready(Err(e)) => {
                    failed[i] = Some(e);
                    last_failure = Some(i);
                    *slot = None;
                    progressed = true;
                }
                Poll::Pending => {}
            }
        }
        if progressed {
            continue;
        }
        if live == 0 && started == addrs.len() {
            let code = last_failure
                .and_then(|i| failed[i].as_ref())
                .map_or("refused", |e| e.code);
            let list = listing(&failed, started);
            return Poll::Ready(Err(NetError::new(code, format!("{what}: {list}"))));
        }
        if overall.poll_expired(cx) {
            let list = listing(&failed, started);
            return Poll::Ready(Err(NetError::new(
                "timeout",
                format!("{what}: timed out ({list})"),
            )));
        }
        return Poll::Pending;
    })
    .await
}

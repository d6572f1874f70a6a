//! Non-blocking connect to one address.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{NetError, NetResult};
use crate::runtime::deadline::Deadline;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;
use crate::stream::transport::Want;

/// A connected socket and its place in the reactor.
pub(crate) struct Connected {
    pub(crate) socket: mio::net::TcpStream,
    pub(crate) registration: Registration,
}

/// Connects to `addr`, failing with `timeout` after `timeout`.
pub(crate) async fn connect(
    rt: &Rc<Runtime>,
    addr: SocketAddr,
    timeout: Option<Duration>,
    nodelay: bool,
) -> NetResult<Connected> {
    let what = format!("connect to {addr}");
    let fail = |e: io::Error| NetError::from_io(&what, &e);
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
                    return Poll::Ready(Err(NetError::new(
                        "timeout",
                        format!("{what}: timed out"),
                    )));
                }
                registration.park(Want::Write, cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(fail(e))),
        }
    })
    .await?;
    Ok(Connected {
        socket,
        registration,
    })
}

/// Connects to `host` (a literal address or a name) on `port`: the DNS
/// layer resolves names and races the addresses (Happy Eyeballs).
pub(crate) async fn connect_host(
    rt: &Rc<Runtime>,
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    nodelay: bool,
) -> NetResult<Connected> {
    match crate::api::tcp_module::literal_host(host) {
        Some(ip) => connect(rt, SocketAddr::new(ip, port), timeout, nodelay).await,
        None => Err(NetError::new(
            "nxdomain",
            format!("{host}: name resolution is not available yet"),
        )),
    }
}

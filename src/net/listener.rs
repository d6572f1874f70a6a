//! Listening sockets: an accept loop per server, each connection handed to
//! its own task.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use mlua::{
    Function, IntoLuaMulti, Lua, MetaMethod, Table, UserData, UserDataFields, UserDataMethods,
};
use socket2::{Domain, Socket, Type};

use super::accept_errors::AcceptErrors;
use super::conns::Conns;
use super::options::TcpOptions;
use super::socket::{Endpoint, Listener, StreamSocket};
use crate::api::surface::method;
use crate::error::{NetError, NetResult};
use crate::runtime::deadline::Deadline;
use crate::runtime::executor::OnError;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;
use crate::stream::ios::Ios;
use crate::stream::transport::{Transport, Want};

/// How accepted sockets become streams: the transport to wrap them in,
/// and the TLS handshake's time limit (`None`: plain TCP, no handshake).
pub(crate) struct Protocol {
    pub(crate) make: MakeTransport,
    pub(crate) handshake: Option<Duration>,
    /// `server:reload(opts)` for servers that have a configuration to swap.
    pub(crate) reload: Option<Reload>,
}

/// Swaps a running server's configuration: `server:reload(opts)`.
pub(crate) type Reload = Rc<dyn Fn(&Lua, mlua::Value) -> mlua::Result<mlua::MultiValue>>;

/// Makes the transport for an accepted socket (plain TCP or TLS).
pub(crate) type MakeTransport =
    Box<dyn Fn(StreamSocket) -> io::Result<(Box<dyn Transport>, &'static str)>>;

/// Starts the handler task for an accepted socket.
type Start = Box<dyn Fn(&Lua, (StreamSocket, Option<Endpoint>))>;

/// State shared by the accept loop and the `server` handle.
pub(crate) struct ServerShared {
    pub(crate) addr: Endpoint,
    closed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
    /// The socket and its registration, dropped by `close()` at once so the
    /// port is free (and refuses connections) as soon as `close` returns.
    socket: RefCell<Option<(Listener, Registration)>>,
    reload: Option<Reload>,
    /// Accepts that failed for lack of descriptors or memory.
    accept_errors: AcceptErrors,
    /// The running handlers.
    pub(crate) conns: Rc<Conns>,
    /// Starts handlers. The accept loop owns it (so it goes when the loop
    /// ends, at close or when the Lua state closes); `close` borrows it.
    start: std::rc::Weak<Start>,
}

impl ServerShared {
    /// Stops accepting. Connections the kernel has completed already are
    /// served rather than reset, as many as `max_connections` lets start.
    pub(crate) fn close(&self, lua: &Lua) {
        self.closed.set(true);
        if let Some((listener, registration)) = self.socket.borrow_mut().take() {
            if let Some(start) = self.start.upgrade() {
                while self.conns.has_room() {
                    match listener.accept() {
                        Ok(socket) => start(lua, socket),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            // Registration first, then the socket (closing it leaves epoll).
            drop(registration);
            drop(listener);
        }
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The `server` object returned by `listen`.
pub(crate) struct Server(pub(crate) Rc<ServerShared>);

/// The server's methods, registered through the Lua boundary so misuse
/// raises Lua-style strings (see `api::surface`).
fn methods(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("close", super::conns::close_method(lua)?)?;
    t.set(
        "connections",
        method(lua, "server:connections", |_, s: &Server, ()| {
            Ok(s.0.conns.count())
        })?,
    )?;
    t.set(
        "stats",
        method(lua, "server:stats", |lua, s: &Server, ()| {
            let t = lua.create_table()?;
            t.set("accept_errors", s.0.accept_errors.total())?;
            Ok(t)
        })?,
    )?;
    t.set(
        "address",
        method(lua, "server:address", |lua, s: &Server, ()| {
            super::addr::endpoint_to_lua(lua, &s.0.addr)
        })?,
    )?;
    t.set(
        "reload",
        method(
            lua,
            "server:reload",
            |lua, s: &Server, opts: mlua::Value| match &s.0.reload {
                Some(reload) => reload(lua, opts),
                None => Err(mlua::Error::runtime(
                    "calling 'server:reload' on bad self (a TCP server has no TLS configuration)",
                )),
            },
        )?,
    )?;
    Ok(t)
}

impl UserData for Server {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.server");
        f.add_meta_field_with("__index", methods);
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, s, ()| {
            let state = if s.0.closed.get() { " (closed)" } else { "" };
            Ok(format!("tls.server ({}){state}", s.0.addr))
        });
    }
}

enum Accept {
    Socket((StreamSocket, Option<Endpoint>)),
    Closed,
    Retry,
    Backoff(io::Error),
}

/// Binds and listens on `addr` (a Unix path: see [`super::unix::bind`]).
fn bind(addr: &Endpoint, opts: &TcpOptions) -> io::Result<Listener> {
    let addr = match addr {
        Endpoint::Ip(a) => *a,
        unix => return super::unix::bind(unix).map(Listener::Unix),
    };
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if opts.reuseport {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // "::" should not also take the IPv4 port: listening on both is explicit.
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(Listener::Tcp(mio::net::TcpListener::from_std(
        socket.into(),
    )))
}

/// Starts a server: binds, then runs an accept loop as a task that spawns
/// `serve(handler, ios, handshake, timeout)` for each connection.
/// `handshake` is the TLS handshake's time limit (`None`: plain TCP); the
/// stream's own timeout (`opts.timeout`) applies after it.
pub(crate) fn listen(
    lua: &Lua,
    rt: &Rc<Runtime>,
    addr: Endpoint,
    opts: TcpOptions,
    handler: Function,
    serve: Function,
    proto: Protocol,
) -> mlua::Result<NetResult<Server>> {
    let Protocol {
        make,
        handshake,
        reload,
    } = proto;
    let mut listener = match bind(&addr, &opts) {
        Ok(l) => l,
        Err(e) => return Ok(Err(NetError::from_io(&format!("listen on {addr}"), &e))),
    };
    let registration = match Registration::new_readable(rt, &mut listener) {
        Ok(r) => r,
        Err(e) => return Ok(Err(NetError::from_io(&format!("listen on {addr}"), &e))),
    };
    let local = listener.local_addr().unwrap_or(addr);
    let conns = Rc::new(Conns::new(opts.max_connections));
    let rt2 = rt.clone();
    let start: Rc<Start> = Rc::new(Box::new({
        let conns = conns.clone();
        move |lua, (socket, peer)| {
            if let Err(e) = start_connection(
                lua, &rt2, socket, peer, &opts, &make, &handler, &serve, handshake, &conns,
            ) {
                eprintln!("tls: could not start a connection handler: {e}");
            }
        }
    }));
    let shared = Rc::new(ServerShared {
        addr: local,
        closed: Cell::new(false),
        waker: RefCell::new(None),
        socket: RefCell::new(Some((listener, registration))),
        reload,
        accept_errors: AcceptErrors::default(),
        conns,
        start: Rc::downgrade(&start),
    });
    let weak_lua = lua.weak();
    let state = shared.clone();
    let rt2 = rt.clone();
    let accept_loop = async move {
        loop {
            let accepted = poll_fn(|cx| {
                let socket = state.socket.borrow();
                let Some((listener, registration)) =
                    socket.as_ref().filter(|_| !state.closed.get())
                else {
                    return Poll::Ready(Accept::Closed);
                };
                // At max_connections new connections wait in the backlog.
                if state.conns.poll_room(cx).is_pending() {
                    *state.waker.borrow_mut() = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                match listener.accept() {
                    Ok(socket) => Poll::Ready(Accept::Socket(socket)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        registration.park(Want::Read, cx.waker());
                        *state.waker.borrow_mut() = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
                        ) =>
                    {
                        Poll::Ready(Accept::Retry)
                    }
                    Err(e) => Poll::Ready(Accept::Backoff(e)),
                }
            })
            .await;
            let socket = match accepted {
                Accept::Socket(s) => s,
                Accept::Closed => break,
                Accept::Retry => continue,
                Accept::Backoff(e) => {
                    // Out of descriptors or memory: the connection stays
                    // queued; try again shortly rather than spin.
                    let errors = &state.accept_errors;
                    if let Some(line) = errors.failed(Instant::now(), &state.addr, &e) {
                        eprintln!("{line}");
                    }
                    let mut pause = Deadline::after(&rt2, Some(Duration::from_millis(100)));
                    poll_fn(|cx| {
                        if pause.poll_expired(cx) {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                    continue;
                }
            };
            let Some(lua) = weak_lua.try_upgrade() else {
                break;
            };
            start(&lua, socket);
        }
    };
    rt.exec.spawn(Box::pin(accept_loop), None);
    Ok(Ok(Server(shared)))
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
fn start_connection(
    lua: &Lua,
    rt: &Rc<Runtime>,
    mut socket: StreamSocket,
    peer: Option<Endpoint>,
    opts: &TcpOptions,
    make: &MakeTransport,
    handler: &Function,
    serve: &Function,
    handshake: Option<Duration>,
    conns: &Conns,
) -> mlua::Result<()> {
    let _ = socket.set_nodelay(opts.nodelay);
    let registration = Registration::new(rt, &mut socket).map_err(mlua::Error::external)?;
    let (transport, kind) = make(socket).map_err(mlua::Error::external)?;
    let ios = Ios::accepted(transport, registration, kind, opts, peer);
    ios.0.borrow_mut().timeout = handshake.or(opts.timeout);
    let stream = ios.0.clone();
    let ud = lua.create_userdata(ios)?;
    let after = opts.timeout.map(|d| d.as_secs_f64());
    let args = (handler.clone(), ud, handshake.is_some(), after);
    let task = rt.exec.spawn_lua(
        Rc::downgrade(rt),
        lua,
        serve.clone(),
        args.into_lua_multi(lua)?,
        OnError::Report,
    )?;
    conns.add(stream, &task);
    Ok(())
}

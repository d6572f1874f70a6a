//! `tls.tcp`: connecta, connect, listen.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::surface;
use crate::dns::addr::{parse_ip, Family};
use crate::dns::resolver::{self, service_port, Start};
use crate::dns::services::Proto;
use crate::error::{NetError, NetResult};
use crate::net::addr;
use crate::net::connect::{connect_endpoint, connect_host, Connected};
use crate::net::listener::{listen, MakeTransport, Protocol};
use crate::net::options::TcpOptions;
use crate::net::socket::Endpoint;
use crate::net::tcp::TcpTransport;
use crate::runtime::context::{block_on, cannot_wait, go_async, locate, Where};
use crate::runtime::Runtime;
use crate::stream::core::failure;
use crate::stream::ios::Ios;

/// The `ios` for a connect's outcome, or `nil, msg, code`.
fn tcp_ios(
    lua: &Lua,
    connected: NetResult<Connected>,
    opts: &TcpOptions,
) -> mlua::Result<MultiValue> {
    match connected {
        Ok(c) => {
            let kind = if c.socket.is_unix() { "unix" } else { "tcp" };
            let ios = Ios::new(
                Box::new(TcpTransport::new(c.socket)),
                c.registration,
                kind,
                opts,
            );
            Ok(MultiValue::from_iter([Value::UserData(
                lua.create_userdata(ios)?,
            )]))
        }
        Err(e) => failure(lua, e),
    }
}

/// Connects to `to` and wraps the socket in an `ios`.
async fn connect_ios(
    lua: &Lua,
    rt: &Rc<Runtime>,
    to: &Endpoint,
    opts: &TcpOptions,
) -> mlua::Result<MultiValue> {
    let connected = connect_endpoint(rt, to, opts.timeout, opts.nodelay).await;
    tcp_ios(lua, connected, opts)
}

/// Resolves `host`, connects, wraps the socket in an `ios`.
async fn connect_host_ios(
    lua: &Lua,
    rt: &Rc<Runtime>,
    host: &str,
    port: u16,
    opts: &TcpOptions,
) -> mlua::Result<MultiValue> {
    tcp_ios(
        lua,
        connect_host(rt, host, port, opts.timeout, opts.nodelay).await,
        opts,
    )
}

/// Runs `fut_args` through the twin in a task, or blocks on it.
pub(crate) fn dispatch_connect(
    lua: &Lua,
    twin: &Function,
    args: MultiValue,
    name: &str,
    blocking: impl FnOnce(&Rc<Runtime>) -> mlua::Result<MultiValue>,
) -> mlua::Result<MultiValue> {
    let rt = Runtime::get(lua)?;
    match locate(lua, &rt) {
        Where::Task => go_async(lua, twin, args),
        Where::Blocking => blocking(&rt),
        at => Err(cannot_wait(lua, &rt, at, name)),
    }
}

/// A port argument: an integer 0..=65535, its text, or a TCP service
/// name (`"https"`: `/etc/services`, then a built-in table).
pub(crate) fn port_arg(v: &Value, arg: usize, fname: &str) -> mlua::Result<u16> {
    port_arg_for(v, arg, fname, Proto::Tcp)
}

/// [`port_arg`], with service names looked up for `proto`.
pub(crate) fn port_arg_for(v: &Value, arg: usize, fname: &str, proto: Proto) -> mlua::Result<u16> {
    let bad = |why: String| surface::bad_argument(arg, fname, why);
    if let Some(p) = addr::port_number(v) {
        return Ok(p);
    }
    if let Value::String(s) = v {
        let text = s
            .to_str()
            .map_err(|_| bad("port is not valid text".into()))?;
        let text = text.trim();
        // Numeric text out of range is no service name either.
        if text.parse::<i64>().is_err() {
            return service_port(text, proto)
                .ok_or_else(|| bad(format!("unknown service '{text}'")));
        }
    }
    Err(bad("port number 0-65535 or service name expected".into()))
}

/// Where to listen, when it can be told without the network: `"*"` and
/// `""` are every IPv4 address, a literal is itself, a name in the hosts
/// file (or `localhost`) is its first IPv4 address, else its first. `None`:
/// the name needs a DNS lookup.
fn listen_ip_now(rt: &Runtime, host: &str) -> Option<NetResult<IpAddr>> {
    if host == "*" || host.is_empty() {
        return Some(Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    }
    if let Some((ip, _)) = parse_ip(host) {
        return Some(Ok(ip));
    }
    match rt.dns.start(host, Family::Any) {
        Start::Done(r) => Some(r.map(|r| pick_listen_ip(&r.addrs))),
        Start::Network(_) => None,
    }
}

/// IPv4 first: listening on a name binds one address, and the IPv4 one is
/// what most clients of that name reach.
fn pick_listen_ip(addrs: &[IpAddr]) -> IpAddr {
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(addrs.first())
        .copied()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// A `listen` waiting for its host name to resolve (in a task).
struct PendingListen {
    fname: String,
    host: String,
    port: u16,
    handler: Function,
    opts: TcpOptions,
    proto: Protocol,
}

impl mlua::UserData for PendingListen {}

/// The async function that finishes a [`PendingListen`].
fn listen_later(lua: &Lua) -> mlua::Result<Function> {
    if let Some(f) = lua.named_registry_value::<Option<Function>>("tls.listen_later")? {
        return Ok(f);
    }
    let f = surface::async_function(lua, "tcp.listen", |lua, ud: mlua::AnyUserData| async move {
        let p: PendingListen = ud.take()?;
        let rt = Runtime::get(&lua)?;
        match resolver::lookup(&rt, &p.host, Family::Any).await {
            Ok(ips) => listen_at(
                &lua,
                &rt,
                SocketAddr::new(pick_listen_ip(&ips), p.port).into(),
                p.handler,
                p.opts,
                p.proto,
            ),
            Err(e) => failure(&lua, listen_error(&p.fname, e)),
        }
    })?;
    lua.set_named_registry_value("tls.listen_later", &f)?;
    Ok(f)
}

fn listen_error(fname: &str, e: NetError) -> NetError {
    NetError::new(e.code, format!("{fname}: {}", e.message))
}

fn opts_arg(v: Option<Table>, arg: usize, fname: &str) -> mlua::Result<TcpOptions> {
    TcpOptions::from_lua(v.as_ref(), arg, fname, &[])
}

fn serve_function(lua: &Lua) -> mlua::Result<Function> {
    if let Some(f) = lua.named_registry_value::<Option<Function>>("tls.serve")? {
        return Ok(f);
    }
    let f: Function = lua
        .load(include_str!("serve.lua"))
        .set_name("=tls.serve")
        .call(super::loop_module::spawn_wrapper(lua)?)?;
    lua.set_named_registry_value("tls.serve", &f)?;
    Ok(f)
}

/// `listen(host, port, handler, opts)` shared by TCP and TLS.
pub(crate) fn listen_common(
    lua: &Lua,
    fname: &str,
    host: &str,
    port: u16,
    handler: Value,
    opts: TcpOptions,
    proto: Protocol,
) -> mlua::Result<MultiValue> {
    let Value::Function(handler) = handler else {
        return Err(surface::bad_argument(
            3,
            fname,
            format_args!("function expected, got {}", surface::type_name(&handler)),
        ));
    };
    let rt = Runtime::get(lua)?;
    // `unix:/path` and `unix:@name` listen on a Unix socket; `port` is ignored.
    if let Some(rest) = host.trim().strip_prefix("unix:") {
        let ep =
            crate::net::unix::parse(rest).map_err(|why| surface::bad_argument(1, fname, why))?;
        return listen_at(lua, &rt, ep, handler, opts, proto);
    }
    let ip = match listen_ip_now(&rt, host) {
        Some(Ok(ip)) => ip,
        Some(Err(e)) => return failure(lua, listen_error(fname, e)),
        None => match locate(lua, &rt) {
            Where::Blocking => match block_on(&rt, resolver::lookup(&rt, host, Family::Any))? {
                Ok(ips) => pick_listen_ip(&ips),
                Err(e) => return failure(lua, listen_error(fname, e)),
            },
            Where::Task => {
                let pending = PendingListen {
                    fname: fname.to_string(),
                    host: host.to_string(),
                    port,
                    handler,
                    opts,
                    proto,
                };
                let ud = lua.create_userdata(pending)?;
                return go_async(lua, &listen_later(lua)?, ud);
            }
            at => return Err(cannot_wait(lua, &rt, at, fname)),
        },
    };
    listen_at(
        lua,
        &rt,
        SocketAddr::new(ip, port).into(),
        handler,
        opts,
        proto,
    )
}

/// Listens on `addr` and returns the server, or `nil, msg, code`.
fn listen_at(
    lua: &Lua,
    rt: &Rc<Runtime>,
    addr: Endpoint,
    handler: Function,
    opts: TcpOptions,
    proto: Protocol,
) -> mlua::Result<MultiValue> {
    let serve = serve_function(lua)?;
    match listen(lua, rt, addr, opts, handler, serve, proto)? {
        Ok(server) => Ok(MultiValue::from_iter([Value::UserData(
            lua.create_userdata(server)?,
        )])),
        Err(e) => failure(lua, e),
    }
}

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;

    let twin = surface::async_function(
        lua,
        "tcp.connecta",
        |lua, (to, opts): (Value, Option<Table>)| async move {
            let rt = Runtime::get(&lua)?;
            let to = addr::endpoint_from_lua(&to, 1, "tcp.connecta")?;
            let opts = opts_arg(opts, 2, "tcp.connecta")?;
            connect_ios(&lua, &rt, &to, &opts).await
        },
    )?;
    let connecta = surface::function(
        lua,
        "tcp.connecta",
        move |lua, (to, opts): (Value, Option<Table>)| {
            let addr = addr::endpoint_from_lua(&to, 1, "tcp.connecta")?;
            let o = opts_arg(opts.clone(), 2, "tcp.connecta")?;
            let args = MultiValue::from_iter([to, opts.map_or(Value::Nil, Value::Table)]);
            dispatch_connect(lua, &twin, args, "tcp.connecta", |rt| {
                block_on(rt, connect_ios(lua, rt, &addr, &o))?
            })
        },
    )?;
    t.set("connecta", connecta)?;

    let twin = surface::async_function(
        lua,
        "tcp.connect",
        |lua, (host, port, opts): (String, Value, Option<Table>)| async move {
            let rt = Runtime::get(&lua)?;
            let port = port_arg(&port, 2, "tcp.connect")?;
            let opts = opts_arg(opts, 3, "tcp.connect")?;
            connect_host_ios(&lua, &rt, &host, port, &opts).await
        },
    )?;
    let connect_fn = surface::function(
        lua,
        "tcp.connect",
        move |lua, (host, port, opts): (String, Value, Option<Table>)| {
            let p = port_arg(&port, 2, "tcp.connect")?;
            let o = opts_arg(opts.clone(), 3, "tcp.connect")?;
            let args = MultiValue::from_iter([
                Value::String(lua.create_string(&host)?),
                port,
                opts.map_or(Value::Nil, Value::Table),
            ]);
            dispatch_connect(lua, &twin, args, "tcp.connect", |rt| {
                block_on(rt, connect_host_ios(lua, rt, &host, p, &o))?
            })
        },
    )?;
    t.set("connect", connect_fn)?;

    // A host name that needs DNS continues asynchronously in a task.
    let listen_fn = surface::function(
        lua,
        "tcp.listen",
        |lua, (host, port, handler, opts): (String, Value, Value, Option<Table>)| {
            let port = port_arg(&port, 2, "tcp.listen")?;
            let opts = opts_arg(opts, 4, "tcp.listen")?;
            let make: MakeTransport = Box::new(|s| {
                let kind = if s.is_unix() { "unix" } else { "tcp" };
                Ok((Box::new(TcpTransport::new(s)), kind))
            });
            let proto = Protocol {
                make,
                handshake: None,
                reload: None,
            };
            listen_common(lua, "tcp.listen", &host, port, handler, opts, proto)
        },
    )?;
    t.set("listen", listen_fn)?;
    Ok(t)
}

//! `tls.tcp`: connecta, connect, listen.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::net::addr;
use crate::net::connect::{connect, connect_host};
use crate::net::listener::{listen, MakeTransport, Protocol};
use crate::net::options::TcpOptions;
use crate::net::tcp::TcpTransport;
use crate::runtime::context::{block_on, foreign_error, go_async, locate, wrap, Where};
use crate::runtime::Runtime;
use crate::stream::core::failure;
use crate::stream::ios::Ios;

/// Connects and wraps the socket in an `ios`; `nil, msg, code` on failure.
async fn connect_ios(
    lua: &Lua,
    rt: &Rc<Runtime>,
    to: SocketAddr,
    opts: &TcpOptions,
) -> mlua::Result<MultiValue> {
    match connect(rt, to, opts.timeout, opts.nodelay).await {
        Ok(c) => {
            let ios = Ios::new(
                Box::new(TcpTransport::new(c.socket)),
                c.registration,
                "tcp",
                opts,
            );
            Ok(MultiValue::from_iter([Value::UserData(
                lua.create_userdata(ios)?,
            )]))
        }
        Err(e) => failure(lua, e),
    }
}

/// Resolves `host`, connects, wraps the socket in an `ios`.
async fn connect_host_ios(
    lua: &Lua,
    rt: &Rc<Runtime>,
    host: &str,
    port: u16,
    opts: &TcpOptions,
) -> mlua::Result<MultiValue> {
    match connect_host(rt, host, port, opts.timeout, opts.nodelay).await {
        Ok(c) => {
            let ios = Ios::new(
                Box::new(TcpTransport::new(c.socket)),
                c.registration,
                "tcp",
                opts,
            );
            Ok(MultiValue::from_iter([Value::UserData(
                lua.create_userdata(ios)?,
            )]))
        }
        Err(e) => failure(lua, e),
    }
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
        Where::Foreign => Err(foreign_error(name)),
    }
}

/// A literal listening or connecting host: an IP, `"*"` (any IPv4),
/// `"localhost"`.
pub(crate) fn literal_host(host: &str) -> Option<IpAddr> {
    match host {
        "*" | "" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "ip6-localhost" => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        h => h.trim_start_matches('[').trim_end_matches(']').parse().ok(),
    }
}

/// A port argument: an integer 0..=65535 or its text.
pub(crate) fn port_arg(v: &Value, arg: usize, fname: &str) -> mlua::Result<u16> {
    let n = match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.fract() == 0.0 => Some(*n as i64),
        Value::String(s) => s.to_str().ok().and_then(|t| t.trim().parse::<i64>().ok()),
        _ => None,
    };
    n.and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
        mlua::Error::runtime(format!(
            "bad argument #{arg} to '{fname}' (port number 0-65535 expected)"
        ))
    })
}

fn opts_arg(v: Option<Table>, fname: &str) -> mlua::Result<TcpOptions> {
    TcpOptions::from_lua(v.as_ref(), fname, &[])
}

fn serve_function(lua: &Lua) -> mlua::Result<Function> {
    if let Some(f) = lua.named_registry_value::<Option<Function>>("tls.serve")? {
        return Ok(f);
    }
    let f: Function = lua
        .load(include_str!("serve.lua"))
        .set_name("=tls.serve")
        .eval()?;
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
        return Err(mlua::Error::runtime(format!(
            "bad argument #3 to '{fname}' (function expected, got {})",
            handler.type_name()
        )));
    };
    let Some(ip) = literal_host(host) else {
        return failure(
            lua,
            crate::error::NetError::new(
                "noaddress",
                format!("{fname}: '{host}' is not a local address to listen on"),
            ),
        );
    };
    let rt = Runtime::get(lua)?;
    let serve = serve_function(lua)?;
    match listen(
        lua,
        &rt,
        SocketAddr::new(ip, port),
        opts,
        handler,
        serve,
        proto,
    )? {
        Ok(server) => Ok(MultiValue::from_iter([Value::UserData(
            lua.create_userdata(server)?,
        )])),
        Err(e) => failure(lua, e),
    }
}

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;

    let twin = lua.create_async_function(|lua, (to, opts): (Value, Option<Table>)| async move {
        let rt = Runtime::get(&lua)?;
        let to = addr::from_lua(&to, 1, "connecta")?;
        let opts = opts_arg(opts, "tcp.connecta")?;
        connect_ios(&lua, &rt, to, &opts).await
    })?;
    let connecta = lua.create_function(move |lua, (to, opts): (Value, Option<Table>)| {
        let addr = addr::from_lua(&to, 1, "connecta")?;
        let o = opts_arg(opts.clone(), "tcp.connecta")?;
        let args = MultiValue::from_iter([to, opts.map_or(Value::Nil, Value::Table)]);
        dispatch_connect(lua, &twin, args, "tcp.connecta", |rt| {
            block_on(rt, connect_ios(lua, rt, addr, &o))?
        })
    })?;
    t.set("connecta", wrap(lua, connecta)?)?;

    let twin = lua.create_async_function(
        |lua, (host, port, opts): (String, Value, Option<Table>)| async move {
            let rt = Runtime::get(&lua)?;
            let port = port_arg(&port, 2, "connect")?;
            let opts = opts_arg(opts, "tcp.connect")?;
            connect_host_ios(&lua, &rt, &host, port, &opts).await
        },
    )?;
    let connect_fn = lua.create_function(
        move |lua, (host, port, opts): (String, Value, Option<Table>)| {
            let p = port_arg(&port, 2, "connect")?;
            let o = opts_arg(opts.clone(), "tcp.connect")?;
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
    t.set("connect", wrap(lua, connect_fn)?)?;

    t.set(
        "listen",
        lua.create_function(
            |lua, (host, port, handler, opts): (String, Value, Value, Option<Table>)| {
                let port = port_arg(&port, 2, "listen")?;
                let opts = opts_arg(opts, "tcp.listen")?;
                let make: MakeTransport = Box::new(|s| Ok((Box::new(TcpTransport::new(s)), "tcp")));
                listen_common(
                    lua,
                    "tcp.listen",
                    &host,
                    port,
                    handler,
                    opts,
                    Protocol {
                        make,
                        handshake: None,
                    },
                )
            },
        )?,
    )?;
    Ok(t)
}

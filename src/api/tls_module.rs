//! `tls`: connecta, connect, listen, config. The handshake is complete
//! before `connecta`/`connect` return and before a server's handler runs.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::{Lua, MultiValue, Table, Value};

use super::surface;
use super::tcp_module::{dispatch_connect, listen_common, port_arg};
use crate::error::NetError;
use crate::net::addr;
use crate::net::connect::{connect_endpoint, connect_host, Connected};
use crate::net::listener::{MakeTransport, Protocol, Reload};
use crate::net::options::TcpOptions;
use crate::net::options::TCP_KEYS;
use crate::net::socket::Endpoint;
use crate::runtime::context::block_on;
use crate::runtime::deadline::Deadline;
use crate::runtime::Runtime;
use crate::stream::core::{failure, Stream};
use crate::stream::ios::Ios;
use crate::stream::ops::Exclusive;
use crate::tls::{new_config, tcp_options, tls_arg, TlsArg, TlsConfig, TlsTransport};

/// How long a server waits for a client's handshake unless `timeout` says.
const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a client connects: an address, or a host name and port.
enum Target {
    Addr(Endpoint),
    Host(String, u16),
}

/// The TCP keys of a TLS `opts` (the TLS keys were checked by `tls_arg`).
fn tcp_opts(opts: &Value, arg: usize, fname: &str) -> mlua::Result<TcpOptions> {
    TcpOptions::from_lua(
        tcp_options(opts)?.as_ref(),
        arg,
        fname,
        crate::tls::TLS_KEYS,
    )
}

/// Connects, wraps in TLS and completes the handshake within `timeout`.
/// A server that refuses the session ticket offered (tls/sessions.rs) is
/// connected to once more, the name's tickets forgotten by then.
async fn connect_tls(
    lua: &Lua,
    rt: &Rc<Runtime>,
    target: &Target,
    hostname: &str,
    arg: &TlsArg,
    tcp: &TcpOptions,
) -> mlua::Result<MultiValue> {
    let mut deadline = Deadline::after(rt, arg.timeout);
    let mut again = true;
    loop {
        match attempt(rt, &mut deadline, target, hostname, arg, tcp).await? {
            Ok(ios) => {
                return Ok(MultiValue::from_iter([Value::UserData(
                    lua.create_userdata(ios)?,
                )]))
            }
            Err((e, retry)) if !(retry && std::mem::take(&mut again)) => return failure(lua, e),
            Err(_) => {}
        }
    }
}

/// One connect and handshake; a failure says whether a new one may succeed.
async fn attempt(
    rt: &Rc<Runtime>,
    deadline: &mut Deadline,
    target: &Target,
    hostname: &str,
    arg: &TlsArg,
    tcp: &TcpOptions,
) -> mlua::Result<Result<Ios, (NetError, bool)>> {
    let timeout = deadline.remaining();
    let connected = match target {
        Target::Addr(a) => connect_endpoint(rt, a, timeout, tcp.nodelay).await,
        Target::Host(h, p) => connect_host(rt, h, *p, timeout, tcp.nodelay).await,
    };
    let Connected {
        socket,
        registration,
    } = match connected {
        Ok(c) => c,
        Err(e) => return Ok(Err((e, false))),
    };
    let transport = match TlsTransport::connect(socket, &arg.config, hostname) {
        Ok(t) => t,
        Err(e) => return Ok(Err((e, false))),
    };
    let ios = Ios::new(Box::new(transport), registration, "tls", tcp);
    ios.0.borrow_mut().host = Some(hostname.into());
    let stream = ios.0.clone();
    let done = Exclusive::new(&stream, "connecta")?
        .run(deadline, "handshake", Stream::handshake_step)
        .await;
    Ok(match done {
        Ok(()) => Ok(ios),
        Err(e) => {
            let mut s = stream.borrow_mut();
            let retry = s.ticket_refused();
            s.close();
            Err((e, retry))
        }
    })
}

fn hostname_arg(v: &Value, arg: usize, fname: &str) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_str()?.to_string()),
        other => Err(surface::bad_argument(
            arg,
            fname,
            format_args!("host name expected, got {}", surface::type_name(other)),
        )),
    }
}

/// `server:reload(opts)`: builds the new server config first, so a bad
/// one leaves the old in place (`nil, msg, code`); TCP options are fixed
/// when the server starts and are refused here.
fn reloader(current: Rc<RefCell<Arc<TlsConfig>>>) -> Reload {
    Rc::new(move |lua, opts| {
        let fname = "server:reload";
        if !matches!(opts, Value::Table(_) | Value::UserData(_)) {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to '{fname}' (options with cert and key expected, got {})",
                surface::type_name(&opts)
            )));
        }
        let arg = tls_arg(&opts, 1, fname)?;
        if let Some(t) = tcp_options(&opts)? {
            for key in TCP_KEYS {
                if !t.get::<Value>(*key)?.is_nil() {
                    return Err(mlua::Error::runtime(format!(
                        "bad argument #1 to '{fname}' (option '{key}' is fixed when the server \
                         starts; reload changes TLS options only)"
                    )));
                }
            }
        }
        if arg.config.options().server_certs().is_empty() {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to '{fname}' (options need 'cert' and 'key' (or 'certs'))"
            )));
        }
        if let Err(e) = arg.config.server() {
            return failure(lua, e);
        }
        *current.borrow_mut() = arg.config;
        Ok(MultiValue::from_iter([Value::Boolean(true)]))
    })
}

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;

    let twin = surface::async_function(
        lua,
        "tls.connecta",
        |lua, (to, host, opts): (Value, Value, Value)| async move {
            let rt = Runtime::get(&lua)?;
            let target = Target::Addr(addr::endpoint_from_lua(&to, 1, "tls.connecta")?);
            let host = hostname_arg(&host, 2, "tls.connecta")?;
            let arg = tls_arg(&opts, 3, "tls.connecta")?;
            let tcp = tcp_opts(&opts, 3, "tls.connecta")?;
            connect_tls(&lua, &rt, &target, &host, &arg, &tcp).await
        },
    )?;
    let connecta = surface::function(
        lua,
        "tls.connecta",
        move |lua, (to, host, opts): (Value, Value, Value)| {
            let target = Target::Addr(addr::endpoint_from_lua(&to, 1, "tls.connecta")?);
            let hostname = hostname_arg(&host, 2, "tls.connecta")?;
            let arg = tls_arg(&opts, 3, "tls.connecta")?;
            let tcp = tcp_opts(&opts, 3, "tls.connecta")?;
            // A bad cafile is reported now, not after a connect.
            if let Err(e) = arg.config.client() {
                return failure(lua, e);
            }
            let args = MultiValue::from_iter([to, host, opts]);
            dispatch_connect(lua, &twin, args, "tls.connecta", |rt| {
                block_on(rt, connect_tls(lua, rt, &target, &hostname, &arg, &tcp))?
            })
        },
    )?;
    t.set("connecta", connecta)?;

    let twin = surface::async_function(
        lua,
        "tls.connect",
        |lua, (host, port, opts): (Value, Value, Value)| async move {
            let rt = Runtime::get(&lua)?;
            let host = hostname_arg(&host, 1, "tls.connect")?;
            let port = port_arg(&port, 2, "tls.connect")?;
            let arg = tls_arg(&opts, 3, "tls.connect")?;
            let tcp = tcp_opts(&opts, 3, "tls.connect")?;
            connect_tls(
                &lua,
                &rt,
                &Target::Host(host.clone(), port),
                &host,
                &arg,
                &tcp,
            )
            .await
        },
    )?;
    let connect_fn = surface::function(
        lua,
        "tls.connect",
        move |lua, (host, port, opts): (Value, Value, Value)| {
            let hostname = hostname_arg(&host, 1, "tls.connect")?;
            let p = port_arg(&port, 2, "tls.connect")?;
            let arg = tls_arg(&opts, 3, "tls.connect")?;
            let tcp = tcp_opts(&opts, 3, "tls.connect")?;
            if let Err(e) = arg.config.client() {
                return failure(lua, e);
            }
            let args = MultiValue::from_iter([host, port, opts]);
            let target = Target::Host(hostname.clone(), p);
            dispatch_connect(lua, &twin, args, "tls.connect", |rt| {
                block_on(rt, connect_tls(lua, rt, &target, &hostname, &arg, &tcp))?
            })
        },
    )?;
    t.set("connect", connect_fn)?;

    // A host name that needs DNS continues asynchronously in a task.
    let listen_fn = surface::function(
        lua,
        "tls.listen",
        |lua, (host, port, handler, opts): (String, Value, Value, Value)| {
            let port = port_arg(&port, 2, "tls.listen")?;
            if opts.is_nil() {
                return Err(surface::bad_argument(
                    4,
                    "tls.listen",
                    "options with cert and key expected, got nil",
                ));
            }
            let arg = tls_arg(&opts, 4, "tls.listen")?;
            if arg.config.options().server_certs().is_empty() {
                return Err(surface::bad_argument(
                    4,
                    "tls.listen",
                    "options need 'cert' and 'key' (or 'certs')",
                ));
            }
            // Build now, so an unreadable key fails here and not per client.
            if let Err(e) = arg.config.server() {
                return failure(lua, e);
            }
            let tcp = tcp_opts(&opts, 4, "tls.listen")?;
            let handshake = Some(arg.timeout.unwrap_or(SERVER_HANDSHAKE_TIMEOUT));
            // Shared with `server:reload`, which swaps it; each accepted
            // connection keeps the config it started with.
            let current = Rc::new(RefCell::new(arg.config.clone()));
            let config = current.clone();
            let make: MakeTransport = Box::new(move |s| {
                let config = config.borrow().clone();
                let t = TlsTransport::accept(s, &config).map_err(NetError::into_io)?;
                Ok((
                    Box::new(t) as Box<dyn crate::stream::transport::Transport>,
                    "tls",
                ))
            });
            listen_common(
                lua,
                "tls.listen",
                &host,
                port,
                handler,
                tcp,
                Protocol {
                    make,
                    handshake,
                    reload: Some(reloader(current)),
                },
            )
        },
    )?;
    t.set("listen", listen_fn)?;

    t.set(
        "config",
        surface::function(lua, "tls.config", |lua, opts: Option<Table>| {
            new_config(lua, opts)
        })?,
    )?;
    Ok(t)
}

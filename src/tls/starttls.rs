//! `ios:starttls`: a connected plain stream becomes a TLS stream in place
//! (SMTP, IMAP, XMPP, PostgreSQL upgrade a connection this way).
//!
//! The same pieces as `tls.connecta` and `tls.listen`: options through
//! [`tls_arg`], the connection from [`TlsSetup`], the handshake through
//! [`Exclusive::run`]. What is particular to STARTTLS: pending output is
//! flushed first, and bytes already buffered (a peer that sent its
//! handshake right behind the plaintext) are handed to rustls.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use mlua::{AnyUserData, Function, Lua, MultiValue, UserData, Value};

use super::lua_config::LuaTlsConfig;
use super::{tls_arg, TlsSetup};
use crate::api::surface::{self, type_name};
use crate::api::tcp_module::dispatch_connect;
use crate::error::NetError;
use crate::runtime::context::block_on;
use crate::runtime::deadline::Deadline;
use crate::runtime::Runtime;
use crate::stream::core::{failure, Stream};
use crate::stream::ios::Ios;
use crate::stream::ops::Exclusive;

const FNAME: &str = "ios:starttls";

/// A checked call, ready to run: what the sync method hands its async twin.
struct Upgrade {
    ios: AnyUserData,
    stream: Rc<RefCell<Stream>>,
    setup: TlsSetup,
    /// Client: the name asked for, for messages.
    host: Option<String>,
    timeout: Option<Duration>,
}

impl UserData for Upgrade {}

fn misuse(why: String) -> mlua::Error {
    mlua::Error::runtime(why)
}

fn is_config(v: &Value) -> bool {
    matches!(v, Value::UserData(ud) if ud.is::<LuaTlsConfig>())
}

/// Checks the arguments (misuse raises) and builds the TLS side; a config
/// that does not build is `Err(nil, msg, code)` with the stream untouched.
fn prepare(this: Value, first: Value, second: Value) -> mlua::Result<Result<Upgrade, NetError>> {
    let ios = match &this {
        Value::UserData(ud) if ud.is::<Ios>() => ud.clone(),
        other => return Err(surface::bad_self(FNAME, "ios", Some(other))),
    };
    let stream = ios.borrow::<Ios>()?.0.clone();
    let (host, opts) = match first {
        Value::String(s) => {
            if !(second.is_nil() || second.is_table() || is_config(&second)) {
                return Err(misuse(format!(
                    "bad argument #2 to '{FNAME}' (table or tls.config expected, got {})",
                    type_name(&second)
                )));
            }
            (Some(s.to_str()?.to_string()), second)
        }
        v if v.is_table() || is_config(&v) => {
            if !second.is_nil() {
                return Err(misuse(format!(
                    "bad argument #2 to '{FNAME}' (no value expected after server options, got {})",
                    type_name(&second)
                )));
            }
            (None, v)
        }
        other => {
            return Err(misuse(format!(
                "bad argument #1 to '{FNAME}' (host name or server options expected, got {})",
                type_name(&other)
            )))
        }
    };
    let arg = tls_arg(&opts, if host.is_some() { 2 } else { 1 }, FNAME)?;
    if host.is_none() && arg.config.options().server_certs().is_empty() {
        return Err(misuse(format!(
            "bad argument #1 to '{FNAME}' (server options need 'cert' and 'key' (or 'certs'))"
        )));
    }
    {
        let mut s = stream.borrow_mut();
        if s.is_closed() {
            return Ok(Err(s.closed_error()));
        }
        if !s.is_plain() {
            return Err(misuse(format!(
                "calling '{FNAME}' on bad self (the stream is TLS already)"
            )));
        }
        // Misuse is raised before the call may wait (and where it cannot,
        // before that is reported): the claim in `run` checks it again.
        s.check_busy(0, "starttls")?;
        s.check_busy(1, "starttls")?;
    }
    let setup = match &host {
        Some(h) => TlsSetup::connect(&arg.config, h),
        None => TlsSetup::accept(&arg.config),
    };
    let setup = match setup {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let timeout = arg.timeout.or(stream.borrow().timeout);
    Ok(Ok(Upgrade {
        ios,
        stream,
        setup,
        host,
        timeout,
    }))
}

/// Flushes, swaps the transport, completes the handshake; on failure the
/// stream is closed (a half-done TLS handshake leaves nothing usable).
async fn run(lua: &Lua, rt: &Rc<Runtime>, up: Upgrade) -> mlua::Result<MultiValue> {
    let Upgrade {
        ios,
        stream,
        setup,
        host,
        timeout,
    } = up;
    let mut deadline = Deadline::after(rt, timeout);
    let mut hold = Exclusive::new(&stream, "starttls")?;
    let mut done = hold
        .run(&mut deadline, "starttls", Stream::flush_step)
        .await;
    if done.is_ok() {
        let mut s = stream.borrow_mut();
        done = s.upgrade("tls", |sock, early| Box::new(setup.over(sock, early)));
        if done.is_ok() {
            s.host = host.map(Into::into);
        }
    }
    if done.is_ok() {
        done = hold
            .run(&mut deadline, "handshake", Stream::handshake_step)
            .await;
    }
    drop(hold);
    match done {
        Ok(()) => Ok(MultiValue::from_iter([Value::UserData(ios)])),
        Err(e) => {
            stream.borrow_mut().close();
            failure(lua, e)
        }
    }
}

/// The `starttls` method for the `ios` methods table.
pub(crate) fn method(lua: &Lua) -> mlua::Result<Function> {
    let twin = surface::async_function(lua, FNAME, |lua, ud: AnyUserData| async move {
        let up: Upgrade = ud.take()?;
        let rt = Runtime::get(&lua)?;
        run(&lua, &rt, up).await
    })?;
    surface::function(
        lua,
        FNAME,
        move |lua, (this, first, second): (Value, Value, Value)| {
            let up = match prepare(this, first, second)? {
                Ok(up) => up,
                Err(e) => return failure(lua, e),
            };
            let ud = lua.create_userdata(up)?;
            let args = MultiValue::from_iter([Value::UserData(ud.clone())]);
            dispatch_connect(lua, &twin, args, FNAME, |rt| {
                let up: Upgrade = ud.take()?;
                block_on(rt, run(lua, rt, up))?
            })
        },
    )
}

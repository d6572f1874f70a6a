//! The `ios` userdata: Lua's `io` file interface over a stream.
//!
//! Methods that may wait (`read`, `write`, `flush`, `shutdown`,
//! `handshake`) are sync Rust functions behind the wrapper of
//! `runtime::context`: they answer at once when they can, and only
//! otherwise continue in an async twin (in a task) or drive the loop
//! (blocking mode).

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields,
    UserDataMethods, Value,
};
use smallvec::SmallVec;

use super::core::{failure, BufMode, Step, Stream};
use super::format::Format;
use super::ops::{unit_step, wait, Dir};
use super::transport::Transport;
use crate::net::options::TcpOptions;
use crate::runtime::context::{block_on, foreign_error, go_async, locate, wrap, Where};
use crate::runtime::deadline::seconds;
use crate::runtime::reactor::Registration;
use crate::runtime::Runtime;

/// A stream as Lua sees it. Cloning shares the stream.
#[derive(Clone)]
pub(crate) struct Ios(pub(crate) Rc<RefCell<Stream>>);

impl Ios {
    pub(crate) fn new(
        transport: Box<dyn Transport>,
        registration: Registration,
        kind: &'static str,
        opts: &TcpOptions,
    ) -> Self {
        let mut s = Stream::new(transport, registration, kind);
        s.max_line = opts.max_line;
        Self(Rc::new(RefCell::new(s)))
    }
}

type Formats = SmallVec<[Format; 4]>;

fn formats(args: &MultiValue) -> mlua::Result<Formats> {
    if args.is_empty() {
        return Ok(SmallVec::from_elem(Format::Line { keep: false }, 1));
    }
    args.iter()
        .enumerate()
        .map(|(i, v)| Format::from_lua(v, i + 1, "read"))
        .collect()
}

fn stream_of(ud: &AnyUserData, name: &str) -> mlua::Result<Rc<RefCell<Stream>>> {
    match ud.borrow::<Ios>() {
        Ok(ios) => Ok(ios.0.clone()),
        Err(_) => Err(mlua::Error::runtime(format!(
            "bad argument #1 to '{name}' (ios expected)"
        ))),
    }
}

fn self_arg(args: &mut MultiValue, name: &str) -> mlua::Result<(AnyUserData, Rc<RefCell<Stream>>)> {
    match args.pop_front() {
        Some(Value::UserData(ud)) => {
            let s = stream_of(&ud, name)?;
            Ok((ud, s))
        }
        _ => Err(mlua::Error::runtime(format!(
            "bad argument #1 to '{name}' (ios expected; use ios:{name}(...))"
        ))),
    }
}

fn runtime(lua: &Lua, s: &Stream) -> mlua::Result<Rc<Runtime>> {
    match s.registration() {
        Some(r) => Ok(r.runtime().clone()),
        None => Runtime::get(lua),
    }
}

fn one(v: Value) -> MultiValue {
    MultiValue::from_iter([v])
}

/// Continues an operation that could not finish at once.
fn dispatch(
    lua: &Lua,
    stream: &Rc<RefCell<Stream>>,
    async_fn: &Function,
    args: MultiValue,
    name: &'static str,
    dir: Dir,
    step: impl FnMut(&Lua, &mut Stream) -> mlua::Result<Step<MultiValue>>,
) -> mlua::Result<MultiValue> {
    let rt = runtime(lua, &stream.borrow())?;
    match locate(lua, &rt) {
        Where::Task => go_async(lua, async_fn, args),
        Where::Blocking => block_on(
            &rt,
            wait(lua.clone(), rt.clone(), stream.clone(), dir, name, step),
        )?,
        Where::Foreign => Err(foreign_error(&format!("ios:{name}"))),
    }
}

/// Builds a waiting method: `now` answers at once or returns `None` with
/// the stream in a state where `step` (re-run by the waiter) finishes it.
fn method(
    lua: &Lua,
    name: &'static str,
    dir: Dir,
    prepare: fn(&Lua, &AnyUserData, &mut Stream, &MultiValue) -> mlua::Result<Option<MultiValue>>,
    step: fn(&Lua, &AnyUserData, &mut Stream, &MultiValue) -> mlua::Result<Step<MultiValue>>,
) -> mlua::Result<Function> {
    let twin = lua.create_async_function(move |lua, mut args: MultiValue| async move {
        let (ud, stream) = self_arg(&mut args, name)?;
        let rt = runtime(&lua, &stream.borrow())?;
        wait(lua, rt, stream, dir, name, move |lua, s| {
            step(lua, &ud, s, &args)
        })
        .await
    })?;
    let sync = lua.create_function(move |lua, mut args: MultiValue| {
        let (ud, stream) = self_arg(&mut args, name)?;
        if let Some(done) = prepare(lua, &ud, &mut stream.borrow_mut(), &args)? {
            return Ok(done);
        }
        let ud2 = ud.clone();
        let args2 = args.clone();
        args.push_front(Value::UserData(ud));
        dispatch(lua, &stream, &twin, args, name, dir, move |lua, s| {
            step(lua, &ud2, s, &args2)
        })
    })?;
    wrap(lua, sync)
}

// ---- read ----

fn read_prepare(
    lua: &Lua,
    _: &AnyUserData,
    s: &mut Stream,
    args: &MultiValue,
) -> mlua::Result<Option<MultiValue>> {
    let fmts = formats(args)?;
    match s.try_read(lua, &fmts)? {
        Step::Ready(v) => Ok(Some(v)),
        Step::Blocked(_) => Ok(None),
    }
}

fn read_step(
    lua: &Lua,
    _: &AnyUserData,
    s: &mut Stream,
    args: &MultiValue,
) -> mlua::Result<Step<MultiValue>> {
    s.try_read(lua, &formats(args)?)
}

// ---- write and flush ----

fn write_prepare(
    lua: &Lua,
    ud: &AnyUserData,
    s: &mut Stream,
    args: &MultiValue,
) -> mlua::Result<Option<MultiValue>> {
    // Check every argument before sending any, so misuse sends nothing.
    for (i, v) in args.iter().enumerate() {
        if !matches!(v, Value::String(_) | Value::Integer(_) | Value::Number(_)) {
            return Err(mlua::Error::runtime(format!(
                "bad argument #{} to 'write' (string expected, got {})",
                i + 1,
                v.type_name()
            )));
        }
    }
    if s.is_closed() {
        return Ok(Some(failure(lua, s.closed_error())?));
    }
    let mut newline = false;
    for v in args.iter() {
        let r = match v {
            Value::String(st) => {
                let b = st.as_bytes();
                newline = newline || memchr::memchr(b'\n', &b).is_some();
                s.put(&b)
            }
            Value::Integer(i) => s.put(i.to_string().as_bytes()),
            Value::Number(n) => s.put(float_text(*n).as_bytes()),
            other => {
                let text = lua
                    .coerce_string(other.clone())?
                    .map(|t| t.as_bytes().to_vec())
                    .unwrap_or_default();
                s.put(&text)
            }
        };
        if let Err(e) = r {
            return Ok(Some(failure(lua, e)?));
        }
    }
    if !s.must_flush(newline) {
        return Ok(Some(one(Value::UserData(ud.clone()))));
    }
    flush_prepare(lua, ud, s, args)
}

/// A float as `file:write` writes it: C's `"%.14g"` (Lua's
/// `LUA_NUMBER_FMT`), so `2.0` is `2` and `1e100` is `1e+100`.
fn float_text(n: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: the format is NUL-terminated, takes exactly one double, and
    // snprintf writes at most buf.len() bytes including the NUL.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr().cast(),
            buf.len(),
            b"%.14g\0".as_ptr().cast(),
            n,
        )
    };
    let len = usize::try_from(len).unwrap_or(0).min(buf.len() - 1);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

fn flush_prepare(
    lua: &Lua,
    ud: &AnyUserData,
    s: &mut Stream,
    args: &MultiValue,
) -> mlua::Result<Option<MultiValue>> {
    match flush_step(lua, ud, s, args)? {
        Step::Ready(v) => Ok(Some(v)),
        Step::Blocked(_) => Ok(None),
    }
}

fn flush_step(
    lua: &Lua,
    ud: &AnyUserData,
    s: &mut Stream,
    _: &MultiValue,
) -> mlua::Result<Step<MultiValue>> {
    if s.is_closed() {
        return Ok(Step::Ready(failure(lua, s.closed_error())?));
    }
    unit_step(s.flush_step(), lua, || one(Value::UserData(ud.clone())))
}

// ---- shutdown and handshake ----

fn shutdown_prepare(
    lua: &Lua,
    ud: &AnyUserData,
    s: &mut Stream,
    args: &MultiValue,
) -> mlua::Result<Option<MultiValue>> {
    match shutdown_step(lua, ud, s, args)? {
        Step::Ready(v) => Ok(Some(v)),
        Step::Blocked(_) => Ok(None),
    }
}

fn shutdown_step(
    lua: &Lua,
    _: &AnyUserData,
    s: &mut Stream,
    _: &MultiValue,
) -> mlua::Result<Step<MultiValue>> {
    if s.is_closed() {
        return Ok(Step::Ready(failure(lua, s.closed_error())?));
    }
    unit_step(s.shutdown_step(), lua, || one(Value::Boolean(true)))
}

fn handshake_prepare(
    lua: &Lua,
    ud: &AnyUserData,
    s: &mut Stream,
    args: &MultiValue,
) -> mlua::Result<Option<MultiValue>> {
    match handshake_step(lua, ud, s, args)? {
        Step::Ready(v) => Ok(Some(v)),
        Step::Blocked(_) => Ok(None),
    }
}

fn handshake_step(
    lua: &Lua,
    ud: &AnyUserData,
    s: &mut Stream,
    _: &MultiValue,
) -> mlua::Result<Step<MultiValue>> {
    if s.is_closed() {
        return Ok(Step::Ready(failure(lua, s.closed_error())?));
    }
    unit_step(s.handshake_step(), lua, || one(Value::UserData(ud.clone())))
}

/// The methods table (`__index`) with the waiting methods and `lines`.
fn methods(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let read = method(lua, "read", Dir::Read, read_prepare, read_step)?;
    t.set(
        "write",
        method(lua, "write", Dir::Write, write_prepare, flush_step)?,
    )?;
    t.set(
        "flush",
        method(lua, "flush", Dir::Write, flush_prepare, flush_step)?,
    )?;
    t.set(
        "shutdown",
        method(lua, "shutdown", Dir::Write, shutdown_prepare, shutdown_step)?,
    )?;
    t.set(
        "handshake",
        method(
            lua,
            "handshake",
            Dir::Read,
            handshake_prepare,
            handshake_step,
        )?,
    )?;
    let lines: Function = lua
        .load(include_str!("lines.lua"))
        .set_name("=tls.ios.lines")
        .call(&read)?;
    t.set("lines", lines)?;
    t.set("read", read)?;
    Ok(t)
}

fn addr_result(lua: &Lua, s: &Stream, peer: bool) -> mlua::Result<MultiValue> {
    let Some(t) = s.transport() else {
        return failure(lua, s.closed_error());
    };
    let a = if peer {
        t.socket().peer_addr()
    } else {
        t.socket().local_addr()
    };
    match a {
        Ok(a) => Ok(one(Value::Table(crate::net::addr::to_lua(lua, a)?))),
        Err(e) => failure(lua, crate::error::NetError::from_io("", &e)),
    }
}

impl UserData for Ios {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.ios");
        f.add_meta_field_with("__index", methods);
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("close", |_, ios, ()| {
            ios.0.borrow_mut().close();
            Ok(true)
        });
        m.add_meta_method(MetaMethod::Close, |_, ios, _: MultiValue| {
            ios.0.borrow_mut().close();
            Ok(())
        });
        m.add_method("settimeout", |_, ios, t: Option<f64>| {
            ios.0.borrow_mut().timeout = seconds(t, "settimeout")?;
            Ok(true)
        });
        m.add_method("setmaxline", |_, ios, n: i64| {
            let n = usize::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                mlua::Error::runtime("bad argument #1 to 'setmaxline' (positive integer expected)")
            })?;
            ios.0.borrow_mut().max_line = n;
            Ok(true)
        });
        m.add_method("setvbuf", |_, ios, (mode, size): (String, Option<i64>)| {
            let mode = match mode.as_str() {
                "no" => BufMode::No,
                "line" => BufMode::Line,
                "full" => BufMode::Full,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad argument #1 to 'setvbuf' (invalid option '{other}')"
                    )))
                }
            };
            let size = size.map(|n| usize::try_from(n).unwrap_or(0));
            ios.0.borrow_mut().set_vbuf(mode, size);
            Ok(true)
        });
        m.add_method("getpeername", |lua, ios, ()| {
            addr_result(lua, &ios.0.borrow(), true)
        });
        m.add_method("getsockname", |lua, ios, ()| {
            addr_result(lua, &ios.0.borrow(), false)
        });
        m.add_method("info", |lua, ios, ()| {
            let s = ios.0.borrow();
            match s.transport().and_then(|t| t.tls_info()) {
                Some(info) => crate::tls::info_table(lua, &info).map(Value::Table),
                None => Ok(Value::Nil),
            }
        });
        m.add_meta_method(MetaMethod::ToString, |_, ios, ()| {
            let s = ios.0.borrow();
            let peer = s.peer.map(|p| format!(" {p}")).unwrap_or_default();
            let state = if s.is_closed() { " (closed)" } else { "" };
            Ok(format!("tls.ios ({}{peer}){state}", s.kind))
        });
    }
}

//! The `ios` userdata: Lua's `io` file interface over a stream.
//!
//! Methods that may wait (`read`, `write`, `flush`, `shutdown`,
//! `handshake`) are plain functions (private, see [`plain_functions`])
//! behind a small Lua wrapper (`waiting.lua`). The plain function answers at once when it can,
//! which is the fast path: no future, no userdata reference, no result
//! table. When it must wait in a task, it parks the task on the socket and
//! the wrapper yields (still no future); in blocking mode it drives the
//! loop until the operation is done.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use mlua::{
    AnyUserData, Function, LightUserData, Lua, MetaMethod, MultiValue, Table, UserData,
    UserDataFields, UserDataMethods, Value, Variadic,
};
use smallvec::SmallVec;

use super::core::{failure, BufMode, Out, Step, Stream};
use super::format::{Format, MAX_FORMATS};
use super::limits::{at_least, count_arg};
use super::number::float_text;
use super::ops::{unit_step, wait, Dir};
use super::transport::Transport;
use crate::api::surface::{bad_argument, method, raise_marker, raise_values, type_name};
use crate::net::options::TcpOptions;
use crate::runtime::by_hand;
use crate::runtime::context::{block_on, cannot_wait, foreign_error, locate, Where};
use crate::runtime::deadline::seconds_arg;
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

    /// A stream for an accepted connection whose peer address `accept`
    /// already reported (`None`: ask the socket, as [`Ios::new`] does).
    pub(crate) fn accepted(
        transport: Box<dyn Transport>,
        registration: Registration,
        kind: &'static str,
        opts: &TcpOptions,
        peer: Option<crate::net::socket::Endpoint>,
    ) -> Self {
        let mut s = match peer {
            Some(p) => Stream::with_label(transport, registration, kind, Some(p)),
            None => Stream::new(transport, registration, kind),
        };
        s.max_line = opts.max_line;
        Self(Rc::new(RefCell::new(s)))
    }
}

impl Ios {
    /// The stream, for a call that changes it. Fails, rather than panics,
    /// when a call on this stream has not returned: a finalizer (or a
    /// debug hook) that runs while a read makes its string may use the
    /// same stream.
    fn stream_mut(&self, name: &str) -> mlua::Result<std::cell::RefMut<'_, Stream>> {
        self.0.try_borrow_mut().map_err(|_| {
            mlua::Error::runtime(format!(
                "ios:{name}: the stream is busy with a call that has not returned \
                 (a finalizer used it during that call)"
            ))
        })
    }
}

type Args = SmallVec<[Value; 4]>;

fn formats(args: &[Value]) -> mlua::Result<SmallVec<[Format; 4]>> {
    if args.is_empty() {
        return Ok(SmallVec::from_elem(Format::Line { keep: false }, 1));
    }
    if args.len() > MAX_FORMATS {
        let why = format!("too many formats (at most {MAX_FORMATS})");
        return Err(bad_argument(MAX_FORMATS + 1, "ios:read", why));
    }
    args.iter()
        .enumerate()
        .map(|(i, v)| Format::from_lua(v, i + 1, "ios:read"))
        .collect()
}

fn runtime(lua: &Lua, s: &Stream) -> mlua::Result<Rc<Runtime>> {
    match s.registration() {
        Some(r) => Ok(r.runtime().clone()),
        None => Runtime::get(lua),
    }
}

/// Marks "the stream itself" in results of the plain methods; the wrapper
/// returns its `self` for it (the plain method has no handle on the ios
/// userdata, which is what keeps it cheap).
fn self_marker() -> LightUserData {
    static SELF: u8 = 0;
    LightUserData(&SELF as *const u8 as *mut std::ffi::c_void)
}

/// Tells the wrapper that the running task was parked: yield, then retry.
pub(crate) fn wait_marker() -> LightUserData {
    static WAIT: u8 = 0;
    LightUserData(&WAIT as *const u8 as *mut std::ffi::c_void)
}

type StepFn = fn(&Lua, &mut Stream, &[Value]) -> mlua::Result<Step<Out>>;

/// A method that may wait. `first` starts it (write queues its data);
/// `retry`, the plain function `<retry>`, finishes it after a wake-up.
#[derive(Clone, Copy)]
struct Waiting {
    /// The public name, for messages (`read`).
    name: &'static str,
    /// The plain function's name (`read_l` for `read("l")`).
    method: &'static str,
    dir: Dir,
    first: StepFn,
    retry: &'static str,
    /// The retry needs the call's arguments (read formats).
    retry_args: bool,
}

/// `read("l")` and `read("L")`, the common reads, as methods without
/// arguments: nothing to convert or parse on the fast path.
const LINE_READS: [Waiting; 2] = [
    Waiting {
        name: "read",
        method: "read_l",
        dir: Dir::Read,
        first: read_line_step,
        retry: "read_l",
        retry_args: false,
    },
    Waiting {
        name: "read",
        method: "read_L",
        dir: Dir::Read,
        first: read_line_keep_step,
        retry: "read_L",
        retry_args: false,
    },
];

const WAITING: [Waiting; 7] = [
    Waiting {
        name: "fill",
        method: "fill",
        dir: Dir::Read,
        first: fill_step,
        retry: "fill",
        retry_args: true,
    },
    Waiting {
        name: "read",
        method: "read",
        dir: Dir::Read,
        first: read_step,
        retry: "read",
        retry_args: true,
    },
    Waiting {
        name: "write",
        method: "write",
        dir: Dir::Write,
        first: write_first,
        retry: "write_more",
        retry_args: false,
    },
    // The rest of a write whose bytes are taken (by `write`, or by the
    // fast path) but not all sent: a flush that speaks as `write`, so its
    // timeout and busy messages name the call the program made.
    Waiting {
        name: "write",
        method: "write_more",
        dir: Dir::Write,
        first: flush_step,
        retry: "write_more",
        retry_args: false,
    },
    Waiting {
        name: "flush",
        method: "flush",
        dir: Dir::Write,
        first: flush_step,
        retry: "flush",
        retry_args: false,
    },
    Waiting {
        name: "shutdown",
        method: "shutdown",
        dir: Dir::Write,
        first: shutdown_step,
        retry: "shutdown",
        retry_args: false,
    },
    Waiting {
        name: "handshake",
        method: "handshake",
        dir: Dir::Read,
        first: handshake_step,
        retry: "handshake",
        retry_args: false,
    },
];

impl Waiting {
    /// The plain method: `(first, rest)` so one result needs no allocation.
    /// In a task it parks the task on the socket and returns WAIT; the Lua
    /// wrapper yields and calls the retry method when woken, so no future
    /// is built (the stream keeps the deadline).
    /// Takes every argument, trailing nils included, so `write(nil)` is
    /// told from `write()` (and raises, as `file:write(nil)` does).
    fn now(self, lua: &Lua, ios: &Ios, args: MultiValue) -> mlua::Result<(Value, Variadic<Value>)> {
        let args: Args = args.into_iter().collect();
        self.run(lua, ios, args)
    }

    fn run(self, lua: &Lua, ios: &Ios, args: Args) -> mlua::Result<(Value, Variadic<Value>)> {
        let marker = Value::LightUserData(self_marker());
        let d = self.dir as usize;
        let want = {
            let mut s = ios.stream_mut(self.name)?;
            if let Err(busy) = s.check_busy(d, self.name) {
                // The wait in the way may be this very task's, resumed by
                // hand out of it.
                let rt = runtime(lua, &s)?;
                return Err(match by_hand::task(lua, &rt) {
                    Some(id) => self.resumed_by_hand(lua, &rt, &mut s, id),
                    None => busy,
                });
            }
            match (self.first)(lua, &mut s, &args)? {
                Step::Ready(out) => {
                    if s.has_task_wait(d) {
                        if let Some(w) = runtime(lua, &s)?.exec.current_waker() {
                            s.end_task_wait_of(d, &w);
                        }
                    }
                    return out.into_lua(lua, marker);
                }
                Step::Blocked(want) => want,
            }
        };
        let rt = runtime(lua, &*ios.stream_mut(self.name)?)?;
        match locate(lua, &rt) {
            Where::Task => {
                let waker = rt
                    .exec
                    .current_waker()
                    .ok_or_else(|| foreign_error(&format!("ios:{}", self.name)))?;
                let mut s = ios.stream_mut(self.name)?;
                // A cancelled task stops waiting: the stream forgets the
                // wait, keeps what it buffered, and the wrapper raises.
                if let Some(v) = rt.exec.current_cancel() {
                    s.end_task_wait_of(d, &waker);
                    return Ok((
                        Value::LightUserData(raise_marker()),
                        Variadic::from_iter([v]),
                    ));
                }
                if s.park_task(d, want, &waker, self.name, Instant::now())? {
                    return Out::Fail(s.timeout_error(self.name)).into_lua(lua, marker);
                }
                let mut rest = Variadic::new();
                if self.retry_args {
                    rest.extend(args);
                }
                Ok((Value::LightUserData(wait_marker()), rest))
            }
            Where::Blocking => {
                let step = if self.retry_args {
                    self.first
                } else {
                    retry_step(self.retry)
                };
                let fut = wait(
                    lua.clone(),
                    rt.clone(),
                    ios.0.clone(),
                    self.dir,
                    self.name,
                    move |lua, s| step(lua, s, &args),
                );
                block_on(&rt, fut)??.into_lua(lua, marker)
            }
            Where::HandResumed(id) => {
                Err(self.resumed_by_hand(lua, &rt, &mut *ios.stream_mut(self.name)?, id))
            }
            at => Err(cannot_wait(lua, &rt, at, &format!("ios:{}", self.name))),
        }
    }

    /// Task `id`'s coroutine was resumed by hand (see runtime/by_hand.rs):
    /// the stream forgets the wait it parked for this direction, and the
    /// error to raise comes back.
    fn resumed_by_hand(self, lua: &Lua, rt: &Runtime, s: &mut Stream, id: usize) -> mlua::Error {
        if let Some(w) = rt.exec.waker_of(id) {
            s.end_task_wait_of(self.dir as usize, &w);
        }
        by_hand::refuse(lua, rt, id, &format!("ios:{}", self.name))
    }
}

fn retry_step(name: &str) -> StepFn {
    match name {
        "fill" => fill_step,
        "read" => read_step,
        "read_l" => read_line_step,
        "read_L" => read_line_keep_step,
        "shutdown" => shutdown_step,
        "handshake" => handshake_step,
        // "flush", "write_more"
        _ => flush_step,
    }
}

// ---- read ----

fn fill_step(_: &Lua, s: &mut Stream, args: &[Value]) -> mlua::Result<Step<Out>> {
    let Some(n) = args.first().and_then(|v| at_least(v, 0)) else {
        return Err(bad_argument(1, "ios:fill", "non-negative integer expected"));
    };
    s.try_fill(n)
}

fn read_line_step(lua: &Lua, s: &mut Stream, _: &[Value]) -> mlua::Result<Step<Out>> {
    s.try_read(lua, &[Format::Line { keep: false }])
}

fn read_line_keep_step(lua: &Lua, s: &mut Stream, _: &[Value]) -> mlua::Result<Step<Out>> {
    s.try_read(lua, &[Format::Line { keep: true }])
}

fn read_step(lua: &Lua, s: &mut Stream, args: &[Value]) -> mlua::Result<Step<Out>> {
    s.try_read(lua, &formats(args)?)
}

// ---- write and flush ----

fn write_first(lua: &Lua, s: &mut Stream, args: &[Value]) -> mlua::Result<Step<Out>> {
    // Check every argument before sending any, so misuse sends nothing.
    for (i, v) in args.iter().enumerate() {
        if !matches!(v, Value::String(_) | Value::Integer(_) | Value::Number(_)) {
            return Err(bad_argument(
                i + 1,
                "ios:write",
                format_args!("string expected, got {}", type_name(v)),
            ));
        }
    }
    if s.is_closed() {
        return Ok(Step::Ready(Out::Fail(s.closed_error())));
    }
    let mut newline = false;
    for v in args.iter() {
        let r = match v {
            Value::String(st) => {
                let b = st.as_bytes();
                newline = newline || memchr::memchr(b'\n', &b).is_some();
                s.put(&b)
            }
            // Before Lua 5.3 every number is a float, which mlua hands over
            // as an Integer when it is integral; file:write prints it
            // with "%.14g" there.
            Value::Integer(i) if !LUA_HAS_INTEGERS => s.put(float_text(*i as f64).as_bytes()),
            Value::Integer(i) => s.put(i.to_string().as_bytes()),
            Value::Number(n) => s.put(float_text(*n).as_bytes()),
            _ => Ok(()),
        };
        if let Err(e) = r {
            return Ok(Step::Ready(Out::Fail(e)));
        }
    }
    if !s.must_flush(newline) {
        return Ok(Step::Ready(Out::Stream));
    }
    flush_step(lua, s, args)
}

/// Whether numbers have an integer subtype (Lua 5.3 and 5.4).
const LUA_HAS_INTEGERS: bool = cfg!(any(feature = "lua53", feature = "lua54"));

fn flush_step(_: &Lua, s: &mut Stream, _: &[Value]) -> mlua::Result<Step<Out>> {
    if s.is_closed() {
        return Ok(Step::Ready(Out::Fail(s.closed_error())));
    }
    Ok(unit_step(s.flush_step(), Out::Stream))
}

// ---- shutdown and handshake ----

fn shutdown_step(_: &Lua, s: &mut Stream, _: &[Value]) -> mlua::Result<Step<Out>> {
    if s.is_closed() {
        return Ok(Step::Ready(Out::Fail(s.closed_error())));
    }
    Ok(unit_step(s.shutdown_step(), Out::One(Value::Boolean(true))))
}

fn handshake_step(_: &Lua, s: &mut Stream, _: &[Value]) -> mlua::Result<Step<Out>> {
    if s.is_closed() {
        return Ok(Step::Ready(Out::Fail(s.closed_error())));
    }
    Ok(unit_step(s.handshake_step(), Out::Stream))
}

/// The plain functions behind the waiting wrappers, by method name
/// (`read_l` for `read("l")`), and `handle`, the raw fast path's handle on
/// a stream. Private to waiting.lua and read.lua: were they entries of the
/// methods table, a call with a bad self would raise mlua's userdata
/// error, not a string. They never raise: the wrappers raise what follows
/// RAISE, and check `self` before calling them.
fn plain_functions(lua: &Lua) -> mlua::Result<Table> {
    let p = lua.create_table()?;
    for w in WAITING {
        let f = lua.create_function(move |lua, (ud, args): (AnyUserData, MultiValue)| {
            let ios = ud.borrow::<Ios>()?;
            Ok(w.now(lua, &ios, args).unwrap_or_else(|e| raised(lua, e)))
        })?;
        p.set(w.method, f)?;
    }
    for (w, keep) in LINE_READS.into_iter().zip([false, true]) {
        let f = lua.create_function(move |lua, ud: AnyUserData| {
            let ios = ud.borrow::<Ios>()?;
            Ok(line_read(lua, &ios, w, keep))
        })?;
        p.set(w.method, f)?;
    }
    let handle = lua.create_function(|lua, ud: AnyUserData| {
        crate::fast::stream::handle(lua, &ud.borrow::<Ios>()?.0)
    })?;
    p.set("handle", handle)?;
    Ok(p)
}

/// `read("l")` (`keep`: `read("L")`) as a plain function: `(first, rest)`.
fn line_read(lua: &Lua, ios: &Ios, w: Waiting, keep: bool) -> (Value, Variadic<Value>) {
    // A line already buffered: answered here, nothing else runs.
    if let Ok(mut s) = ios.0.try_borrow_mut() {
        // Another reader's wait (or this task's own retry) is the general
        // path's to check.
        if !s.reading {
            match s.try_read(lua, &[Format::Line { keep }]) {
                Ok(Step::Ready(Out::One(v))) => return (v, Variadic::new()),
                // A failure may have consumed a partial line: answer now,
                // a second try would not see it.
                Ok(Step::Ready(out)) => {
                    let marker = Value::LightUserData(self_marker());
                    return out.into_lua(lua, marker).unwrap_or_else(|e| raised(lua, e));
                }
                Err(e) => return raised(lua, e),
                Ok(Step::Blocked(_)) => {}
            }
        }
    }
    w.run(lua, ios, SmallVec::new())
        .unwrap_or_else(|e| raised(lua, e))
}

/// The methods table (`__index`): the waiting methods' wrappers,
/// `lines`, and the methods that never wait.
fn methods(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let plain = plain_functions(lua)?;
    let (make, known, check_self, raise): (Function, Table, Function, Function) = lua
        .load(include_str!("waiting.lua"))
        .set_name("=tls.ios")
        .call((
            Value::LightUserData(wait_marker()),
            Value::LightUserData(self_marker()),
            Value::LightUserData(Lua::poll_pending()),
            Value::LightUserData(raise_marker()),
            &t,
            crate::api::surface::self_check(lua)?,
            crate::api::surface::bad_self_text(lua)?,
            &plain,
        ))?;
    let mut write_more = None;
    for w in WAITING {
        let f: Function = make.call((w.name, w.method, w.retry))?;
        if w.method == w.name {
            t.set(w.name, f)?;
        } else {
            write_more = Some(f);
        }
    }
    let write_more =
        write_more.ok_or_else(|| mlua::Error::runtime("ios: the write_more method is missing"))?;
    // The raw fast path (src/fast/stream.rs) in front of read's line formats, lines,
    // write and flush.
    let fast = crate::fast::stream::functions(lua)?;
    let (write, flush): (Function, Function) = lua
        .load(include_str!("write.lua"))
        .set_name("=tls.ios.write")
        .call((
            fast.write,
            fast.flush,
            t.get::<Function>("write")?,
            write_more,
            t.get::<Function>("flush")?,
            &known,
            &check_self,
        ))?;
    t.set("write", write)?;
    t.set("flush", flush)?;
    // read dispatches the common single line formats to their own methods.
    let (read, waited_line): (Function, Function) = lua
        .load(include_str!("read.lua"))
        .set_name("=tls.ios.read")
        .call((
            Value::LightUserData(wait_marker()),
            Value::LightUserData(Lua::poll_pending()),
            Value::LightUserData(raise_marker()),
            plain.get::<Function>("read_l")?,
            plain.get::<Function>("read_L")?,
            t.get::<Function>("read")?,
            &known,
            &check_self,
            raise,
            &fast.read_l,
            fast.read_cap_l,
        ))?;
    // Lua 5.3 and 5.4: `read` is a C front of the line fast path, which
    // hands everything else to the wrapper (fast/stream.rs).
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    t.set(
        "read",
        crate::fast::stream::read_front(lua, &known, read.clone(), waited_line.clone())?,
    )?;
    #[cfg(not(any(feature = "lua53", feature = "lua54")))]
    t.set("read", &read)?;
    let lines: Function = lua
        .load(include_str!("lines.lua"))
        .set_name("=tls.ios.lines")
        .call((
            &read,
            known,
            check_self,
            fast.read_l,
            Value::LightUserData(wait_marker()),
            waited_line,
        ))?;
    t.set("lines", lines)?;
    plain_methods(lua, &t)?;
    t.set("starttls", crate::tls::starttls::method(lua)?)?;
    Ok(t)
}

/// The methods that never wait.
fn plain_methods(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.set(
        "close",
        method(lua, "ios:close", |_, ios: &Ios, ()| {
            ios.stream_mut("close")?.close();
            Ok(true)
        })?,
    )?;
    t.set(
        "settimeout",
        method(lua, "ios:settimeout", |_, ios: &Ios, t: Option<f64>| {
            ios.0.borrow_mut().timeout = seconds_arg(t, 1, "ios:settimeout")?;
            Ok(true)
        })?,
    )?;
    t.set(
        "setmaxline",
        method(lua, "ios:setmaxline", |_, ios: &Ios, n: Value| {
            // The same rule as the `maxline` option.
            let n = count_arg(&n, 1, 1, "ios:setmaxline")?;
            ios.0.borrow_mut().max_line = n;
            Ok(true)
        })?,
    )?;
    t.set(
        "setvbuf",
        method(
            lua,
            "ios:setvbuf",
            |_, ios: &Ios, (mode, size): (String, Value)| {
                let mode = match mode.as_str() {
                    "no" => BufMode::No,
                    "line" => BufMode::Line,
                    "full" => BufMode::Full,
                    other => {
                        return Err(bad_argument(
                            1,
                            "ios:setvbuf",
                            format_args!("invalid option '{other}'"),
                        ))
                    }
                };
                // A size is when buffered output is sent, not an
                // allocation: any positive integer is fine, nothing else.
                let size = match size {
                    Value::Nil => None,
                    v => Some(count_arg(&v, 1, 2, "ios:setvbuf")?),
                };
                ios.0.borrow_mut().set_vbuf(mode, size);
                Ok(true)
            },
        )?,
    )?;
    t.set(
        "getpeername",
        method(lua, "ios:getpeername", |lua, ios: &Ios, ()| {
            addr_result(lua, &ios.0.borrow(), true)
        })?,
    )?;
    t.set(
        "getsockname",
        method(lua, "ios:getsockname", |lua, ios: &Ios, ()| {
            addr_result(lua, &ios.0.borrow(), false)
        })?,
    )?;
    t.set(
        "info",
        method(lua, "ios:info", |lua, ios: &Ios, ()| {
            let s = ios.0.borrow();
            match s.transport().and_then(|t| t.tls_info()) {
                Some(info) => crate::tls::info_table(lua, &info).map(Value::Table),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    t.set(
        "peer_contains_name",
        method(
            lua,
            "ios:peer_contains_name",
            |_, ios: &Ios, name: Value| {
                let Value::String(name) = &name else {
                    let why = format!("string expected, got {}", type_name(&name));
                    return Err(bad_argument(1, "ios:peer_contains_name", why));
                };
                let s = ios.0.borrow();
                let info = s.transport().and_then(|t| t.tls_info());
                let leaf = info.as_ref().and_then(|i| i.peer_chain.first());
                Ok(leaf.is_some_and(|der| {
                    crate::tls::names::cert_contains_name(der, &name.to_string_lossy())
                }))
            },
        )?,
    )?;
    Ok(())
}

/// `RAISE, value` as a plain method's `(first, rest)` result.
fn raised(lua: &Lua, e: mlua::Error) -> (Value, Variadic<Value>) {
    let mut v = raise_values(lua, e);
    let first = v.pop_front().unwrap_or(Value::Nil);
    (first, v.into_iter().collect())
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
        Ok(a) => Ok(MultiValue::from_iter([Value::Table(
            crate::net::addr::endpoint_to_lua(lua, &a)?,
        )])),
        Err(e) => failure(lua, crate::error::NetError::from_io("", &e)),
    }
}

impl UserData for Ios {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.ios");
        f.add_meta_field_with("__index", methods);
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        // By name: MetaMethod::Close exists only for Lua 5.4, where `<close>` does.
        m.add_meta_method("__close", |_, ios, _: MultiValue| {
            ios.0.borrow_mut().close();
            Ok(())
        });
        m.add_meta_method(MetaMethod::ToString, |_, ios, ()| {
            let s = ios.0.borrow();
            let peer = s.peer.as_ref().map(|p| format!(" {p}")).unwrap_or_default();
            let state = if s.is_closed() { " (closed)" } else { "" };
            Ok(format!("tls.ios ({}{peer}){state}", s.kind))
        });
    }
}

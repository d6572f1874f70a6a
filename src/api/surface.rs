//! The Lua boundary: how every public function and method raises.
//!
//! mlua raises a Rust callback's `Err` as a userdata (its `WrappedFailure`),
//! never as a string or as an arbitrary Lua value, so our callbacks never
//! return `Err` to mlua. The adapter here turns the `Err` into the return
//! values `RAISE, value`, and a small Lua wrapper (`surface.lua`) raises
//! `value` with `error(value, 0)`. `value` is either
//! - a message in Lua's own style, with the caller's `file:line:` in front
//!   (as `luaL_argerror` gives): `bad argument #1 to 'tls.connecta'
//!   (address expected, got number)`, built from the `mlua::Error` by
//!   [`message`] (mlua's argument-conversion errors included); or
//! - a failed task's error value, unchanged (a table stays that table), when
//!   the error is [`task_failed`] (see `Executor::take_failure`).
//!
//! # Registering a function
//!
//! ```ignore
//! t.set("bind", surface::function(lua, "udp.bind",
//!     |lua, (host, port, opts): (String, Value, Option<Table>)| { ... })?)?;
//! ```
//! Arguments convert as mlua converts them, but a conversion failure reads
//! `bad argument #2 to 'udp.bind' (number expected, got string)`. Misuse
//! found by your own checks: `return Err(surface::bad_argument(2, "udp.bind",
//! "port expected"))`. Runtime failures are still `nil, msg, code` values
//! (`stream::core::failure`), not errors. The function may answer with
//! `context::go_async(lua, &twin, args)` to continue in an async twin: make
//! the twin with [`async_function`] so its errors raise the same way.
//!
//! # Registering a method
//!
//! Inside the `__index` table of the userdata (build it in
//! `add_fields` with `f.add_meta_field_with("__index", |lua| ...)`):
//! ```ignore
//! t.set("put", surface::method(lua, "queue:put", |lua, q: &Queue, (v, t): (Value, Option<f64>)| { ... })?)?;
//! ```
//! `self` is checked (`calling 'queue:put' on bad self (queue expected, got
//! nil)`), and arguments count from #1 after it, as Lua counts for methods.
//! A method that must hand its receiver on to an async twin (`task:join`)
//! is a [`function`] taking `MultiValue` that checks `self` with
//! [`this`]`::<T>(name, args.front())` and passes `args` to `go_async`.
//! Do not also register the same name with mlua's `add_method`: mlua would
//! overwrite the entry, and its errors are userdata again. Meta methods
//! (`__tostring`, `__gc`, `__close`, `__len`) may stay with mlua as long as
//! they cannot fail.
//!
//! A method whose plain Rust part is behind its own Lua wrapper (the ios
//! waiting methods, `read.lua`) returns [`raise_values`] itself, and that
//! wrapper checks for [`raise_marker`] where it already checks its other
//! markers, so the fast path pays nothing.

use std::future::Future;

use mlua::{
    FromLuaMulti, Function, IntoLuaMulti, LightUserData, Lua, MultiValue, Table, UserData, Value,
};

/// The marker a Rust callback returns first to make its wrapper raise.
pub(crate) fn raise_marker() -> LightUserData {
    static RAISE: u8 = 0;
    LightUserData(&RAISE as *const u8 as *mut std::ffi::c_void)
}

/// The registry table whose keys are the C methods that call a Lua
/// wrapper (`fast::call_wrapper`): frames of theirs are skipped when an
/// error's position is looked for, as the wrappers' own are.
const FRONTS: &str = "tls.fronts";

/// Records `f` as such a method (see [`FRONTS`]; Lua 5.3 and 5.4 only).
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub(crate) fn register_front(lua: &Lua, f: &Function) -> mlua::Result<()> {
    let t = match lua.named_registry_value::<Option<Table>>(FRONTS)? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            lua.set_named_registry_value(FRONTS, &t)?;
            t
        }
    };
    t.raw_set(f, true)
}

/// `self_check.lua`'s function (is `self` an object of a methods table,
/// and its fast-path handle), made once per Lua state.
pub(crate) fn self_check(lua: &Lua) -> mlua::Result<Function> {
    const KEY: &str = "tls.self_check";
    if let Some(f) = lua.named_registry_value::<Option<Function>>(KEY)? {
        return Ok(f);
    }
    let f: Function = lua
        .load(include_str!("self_check.lua"))
        .set_name("=tls.self_check")
        .call(())?;
    lua.set_named_registry_value(KEY, &f)?;
    Ok(f)
}

/// Misuse of argument `n` of `fname`, in Lua's words.
pub(crate) fn bad_argument(n: usize, fname: &str, why: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{n} to '{fname}' ({why})"))
}

/// `self` of a method is not the object it belongs to. Raised, it reads
/// as `luaL_argerror` words it: `calling 'ios:read' on bad self (ios
/// expected, got number)` for a method call, `bad argument #1 to
/// 'ios:read' (...)` when Lua code called the method as a plain function
/// (`ios.read(42)`), and the first when the call cannot be told (a C
/// caller such as `pcall`, or a frame a tail call replaced).
pub(crate) fn bad_self(fname: &str, what: &str, got: Option<&Value>) -> mlua::Error {
    mlua::Error::external(BadSelf {
        fname: fname.to_string(),
        what: what.to_string(),
        got: got.map_or("no value", type_name).to_string(),
    })
}

#[derive(Debug)]
struct BadSelf {
    fname: String,
    what: String,
    got: String,
}

impl BadSelf {
    fn text(&self, plain_call: bool) -> String {
        let why = format!("{} expected, got {}", self.what, self.got);
        if plain_call {
            format!("bad argument #1 to '{}' ({why})", self.fname)
        } else {
            format!("calling '{}' on bad self ({why})", self.fname)
        }
    }
}

impl std::fmt::Display for BadSelf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(false))
    }
}

impl std::error::Error for BadSelf {}

fn find_bad_self(e: &mlua::Error) -> Option<&BadSelf> {
    match e {
        mlua::Error::CallbackError { cause, .. } => find_bad_self(cause),
        mlua::Error::WithContext { cause, .. } => find_bad_self(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<BadSelf>(),
        _ => None,
    }
}

/// For the methods that check `self` in Lua (`stream/waiting.lua`):
/// `bad_self(fname, what, type)` answers the message to raise (level 0),
/// position included, as [`raise_values`] words it.
pub(crate) fn bad_self_text(lua: &Lua) -> mlua::Result<Function> {
    const KEY: &str = "tls.bad_self";
    if let Some(f) = lua.named_registry_value::<Option<Function>>(KEY)? {
        return Ok(f);
    }
    let f = lua.create_function(|lua, (fname, what, got): (String, String, String)| {
        let caller = caller(lua);
        let e = BadSelf { fname, what, got };
        Ok(format!("{}{}", caller.position, e.text(caller.plain_call)))
    })?;
    lua.set_named_registry_value(KEY, &f)?;
    Ok(f)
}

/// A value's type as Lua's `type()` names it, for every "got ..." in our
/// messages (mlua's own `type_name` says "integer" and "lightuserdata").
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) | Value::Number(_) => "number",
        // An mlua error value is a userdata on the Lua side.
        Value::LightUserData(_) | Value::Error(_) => "userdata",
        other => other.type_name(),
    }
}

/// The error a task ended with, waiting in the executor to be raised as
/// it was (the executor keeps the value; this error only points at it).
#[derive(Debug)]
pub(crate) struct TaskFailed;

impl std::fmt::Display for TaskFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a task failed")
    }
}

impl std::error::Error for TaskFailed {}

/// The error that makes the boundary raise the failed task's own value.
pub(crate) fn task_failed() -> mlua::Error {
    mlua::Error::external(TaskFailed)
}

fn is_task_failed(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => is_task_failed(cause),
        mlua::Error::WithContext { cause, .. } => is_task_failed(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<TaskFailed>().is_some(),
        _ => false,
    }
}

/// The text of an error as the Lua surface shows it: our own messages as
/// they are, mlua's conversion errors in Lua's words, no Rust wording.
pub(crate) fn message(e: &mlua::Error) -> String {
    use mlua::Error as E;
    match e {
        E::RuntimeError(s) | E::MemoryError(s) => s.clone(),
        E::SyntaxError { message, .. } => message.clone(),
        E::CallbackError { cause, .. } => message(cause),
        E::WithContext { context, cause } => format!("{context}: {}", message(cause)),
        E::BadArgument { to, pos, cause, .. } => {
            let why = reason(cause);
            match to {
                Some(f) => format!("bad argument #{pos} to '{f}' ({why})"),
                None => format!("bad argument #{pos} ({why})"),
            }
        }
        E::FromLuaConversionError { .. } => reason(e),
        E::ExternalError(x) => match x.downcast_ref::<mlua::Error>() {
            Some(inner) => message(inner),
            None => x.to_string(),
        },
        E::UserDataTypeMismatch => "userdata of another type".into(),
        E::UserDataBorrowError | E::UserDataBorrowMutError => {
            "object is in use by another call".into()
        }
        E::UserDataDestructed => "object already destroyed".into(),
        E::CallbackDestructed => "function used after the state closed".into(),
        E::StackError => "stack overflow (too many values)".into(),
        other => other.to_string(),
    }
}

/// Why an argument was refused, from mlua's conversion error.
fn reason(e: &mlua::Error) -> String {
    match e {
        mlua::Error::FromLuaConversionError { from, to, message } => {
            let to = lua_type(to);
            match (to, *from) {
                // mlua reports a float where it wants an integer as "number";
                // Lua says this.
                ("integer", "number") => "number has no integer representation".into(),
                ("integer", "integer") => "number out of range".into(),
                ("integer", _) => format!("number expected, got {}", got(from)),
                (to, from) if to == from => message.clone().unwrap_or_else(|| "invalid".into()),
                (to, from) => format!("{to} expected, got {}", got(from)),
            }
        }
        mlua::Error::CallbackError { cause, .. } => reason(cause),
        other => message(other),
    }
}

fn got(from: &str) -> &str {
    match from {
        "integer" => "number",
        "light userdata" => "userdata",
        f => f,
    }
}

/// The Lua type a Rust target type stands for.
fn lua_type(rust: &str) -> &str {
    match rust {
        "f32" | "f64" | "Number" => "number",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" | "Integer" => "integer",
        "String" | "string" | "&str" | "BString" | "OsString" | "PathBuf" | "char" => "string",
        "bool" | "boolean" => "boolean",
        t => t,
    }
}

/// The code that called into the library.
#[derive(Default)]
struct Caller {
    /// `file:line: `, as `luaL_where` gives it; empty for a C caller
    /// (`pcall(f, ...)`).
    position: String,
    /// Lua code called the library function other than as a method
    /// (`ios.read(42)`, not `ios:read()`), as far as Lua can tell.
    plain_call: bool,
}

/// The first frame that is not one of our (or mlua's) wrappers, and how it
/// called the outermost of ours (the frame before it; level 0 is the
/// running Rust function, always ours).
fn caller(lua: &Lua) -> Caller {
    let fronts = lua
        .named_registry_value::<Option<Table>>(FRONTS)
        .ok()
        .flatten();
    let mut called = lua.inspect_stack(0, |d| d.names().name_what).flatten();
    for level in 1..32 {
        let frame = lua.inspect_stack(level, |d| {
            let s = d.source();
            // Lua 5.1 shows a frame lost to a tail call as "=(tail call)".
            let ours = s.source.as_deref().is_some_and(|src| {
                src.starts_with("=tls") || src.starts_with("=__mlua") || src == "=(tail call)"
            }) || (s.what == "C"
                && fronts
                    .as_ref()
                    .is_some_and(|t| t.raw_get::<bool>(d.function()).unwrap_or(false)));
            (
                ours,
                s.short_src.as_deref().map(str::to_string),
                d.current_line(),
                d.names().name_what,
            )
        });
        match frame {
            Some((true, _, _, what)) => called = what,
            Some((false, Some(src), Some(line), _)) => {
                return Caller {
                    position: format!("{src}:{line}: "),
                    plain_call: called.is_some_and(|w| w != "method"),
                }
            }
            _ => break,
        }
    }
    Caller::default()
}

/// `RAISE, value` for an error: the failed task's value, or the message.
pub(crate) fn raise_values(lua: &Lua, e: mlua::Error) -> MultiValue {
    let marker = Value::LightUserData(raise_marker());
    let value = if is_task_failed(&e) {
        crate::runtime::Runtime::get(lua)
            .ok()
            .and_then(|rt| rt.exec.take_raised())
            .unwrap_or(Value::Nil)
    } else {
        let caller = caller(lua);
        let text = match find_bad_self(&e) {
            Some(b) => format!("{}{}", caller.position, b.text(caller.plain_call)),
            None => format!("{}{}", caller.position, message(&e)),
        };
        match lua.create_string(text) {
            Ok(s) => Value::String(s),
            Err(_) => Value::Nil,
        }
    };
    // A nil value is sent as the marker itself, so wrappers that look at
    // the second value first (read.lua) still see that something is wrong.
    let value = if value.is_nil() {
        marker.clone()
    } else {
        value
    };
    MultiValue::from_iter([marker, value])
}

/// The values of a callback's result, or `RAISE, value`.
pub(crate) fn settle(lua: &Lua, r: mlua::Result<MultiValue>) -> MultiValue {
    match r {
        Ok(v) => v,
        Err(e) => raise_values(lua, e),
    }
}

/// The Lua wrapper: raises on `RAISE`, continues in the async twin on
/// `PENDING` (see `runtime::context`), passes anything else through.
pub(crate) fn wrap(lua: &Lua, raw: Function) -> mlua::Result<Function> {
    let maker: Function = match lua.named_registry_value::<Option<Function>>("tls.surface")? {
        Some(f) => f,
        None => {
            let f: Function = lua
                .load(include_str!("surface.lua"))
                .set_name("=tls.surface")
                .call((
                    Value::LightUserData(crate::runtime::context::pending_marker()),
                    Value::LightUserData(raise_marker()),
                ))?;
            lua.set_named_registry_value("tls.surface", &f)?;
            f
        }
    };
    maker.call(raw)
}

/// A public function named `name` (`"tls.connecta"`), as the module doc says.
pub(crate) fn function<A, R, F>(lua: &Lua, name: &'static str, f: F) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
{
    let raw = lua.create_function(move |lua, args: MultiValue| {
        let r = A::from_lua_args(args, 1, Some(name), lua)
            .and_then(|a| f(lua, a))
            .and_then(|r| r.into_lua_multi(lua));
        Ok(settle(lua, r))
    })?;
    wrap(lua, raw)
}

/// The async twin of a function or method: the future's `Err` becomes
/// `RAISE, value` too, which the wrapper checks after the twin returns.
/// When the task is cancelled (`task:cancel`) while the future is pending,
/// the future is dropped and the twin raises the cancellation value.
pub(crate) fn async_function<A, R, F, FR>(
    lua: &Lua,
    name: &'static str,
    f: F,
) -> mlua::Result<Function>
where
    A: FromLuaMulti + 'static,
    R: IntoLuaMulti,
    F: Fn(Lua, A) -> FR + 'static,
    FR: Future<Output = mlua::Result<R>> + 'static,
{
    lua.create_async_function(move |lua, args: MultiValue| {
        let a = A::from_lua_args(args, 1, Some(name), &lua);
        let fut = a.map(|a| f(lua.clone(), a));
        async move {
            let r = match fut {
                // A cancelled task's wait raises the cancellation value.
                Ok(fut) => {
                    match crate::runtime::cancel::unless_cancelled(&lua, name, shed(fut)).await {
                        Ok(r) => r.and_then(|r| r.into_lua_multi(&lua)),
                        Err(v) => {
                            return Ok(MultiValue::from_iter([
                                Value::LightUserData(raise_marker()),
                                v,
                            ]))
                        }
                    }
                }
                Err(e) => Err(e),
            };
            Ok(settle(&lua, r))
        }
    })
}

/// Runs `fut` in an allocation of its own that is freed the moment it
/// completes. mlua keeps a finished call's future (its box, as large as the
/// future's biggest state: about 12 KiB for `tls.connecta`, which holds a
/// rustls connection and the DNS lookup) until Lua collects the call's
/// userdata, and Lua does not see that memory, so without this thousands of
/// finished connects stay allocated and the heap they fragment stays
/// resident (BENCHMARKS.md, "Idle memory per TLS connection").
fn shed<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    // Boxed here, before the caller's future captures it.
    let mut slot = Some(Box::pin(fut));
    std::future::poll_fn(move |cx| {
        let Some(f) = slot.as_mut() else {
            return std::task::Poll::Pending; // never polled again after Ready
        };
        let done = f.as_mut().poll(cx);
        if done.is_ready() {
            slot = None;
        }
        done
    })
}

/// The short name of a method's object, for "ios expected": the part of
/// `name` before the colon.
fn object_name(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

/// The receiver of a method call, borrowed, or the bad-self error.
pub(crate) fn this<T: UserData + 'static>(
    name: &str,
    v: Option<&Value>,
) -> mlua::Result<mlua::UserDataRef<T>> {
    match v {
        Some(Value::UserData(ud)) => ud
            .borrow::<T>()
            .map_err(|_| bad_self(name, object_name(name), v)),
        _ => Err(bad_self(name, object_name(name), v)),
    }
}

/// A public method named `name` (`"ios:settimeout"`), as the module doc says.
pub(crate) fn method<T, A, R, F>(lua: &Lua, name: &'static str, f: F) -> mlua::Result<Function>
where
    T: UserData + 'static,
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, &T, A) -> mlua::Result<R> + 'static,
{
    let raw = lua.create_function(move |lua, mut args: MultiValue| {
        let receiver = args.pop_front();
        let r = this::<T>(name, receiver.as_ref()).and_then(|t| {
            let a = A::from_lua_args(args, 1, Some(name), lua)?;
            f(lua, &t, a)?.into_lua_multi(lua)
        });
        Ok(settle(lua, r))
    })?;
    wrap(lua, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_errors_read_as_lua_writes_them() {
        let lua = Lua::new();
        let e = <(f64,)>::from_lua_args(
            MultiValue::from_iter([Value::String(lua.create_string("a").unwrap())]),
            1,
            Some("loop.sleep"),
            &lua,
        )
        .err()
        .unwrap();
        assert_eq!(
            message(&e),
            "bad argument #1 to 'loop.sleep' (number expected, got string)"
        );
        let e = <(i64,)>::from_lua_args(
            MultiValue::from_iter([Value::Number(1.5)]),
            1,
            Some("ios:setmaxline"),
            &lua,
        )
        .err()
        .unwrap();
        assert_eq!(
            message(&e),
            "bad argument #1 to 'ios:setmaxline' (number has no integer representation)"
        );
        let e = <(String,)>::from_lua_args(MultiValue::new(), 1, Some("tcp.listen"), &lua)
            .err()
            .unwrap();
        assert_eq!(
            message(&e),
            "bad argument #1 to 'tcp.listen' (string expected, got nil)"
        );
    }

    #[test]
    fn type_names_are_luas() {
        let lua = Lua::new();
        let t = lua.create_table().unwrap();
        for (v, want) in [
            (Value::Integer(5), "number"),
            (Value::Number(1.5), "number"),
            (Value::Boolean(true), "boolean"),
            (Value::Nil, "nil"),
            (Value::Table(t), "table"),
            (Value::LightUserData(raise_marker()), "userdata"),
        ] {
            assert_eq!(type_name(&v), want);
        }
    }

    #[test]
    fn wrapped_errors_lose_mlua_wording() {
        let lua = Lua::new();
        let f = function(&lua, "f", |_, ()| -> mlua::Result<()> {
            Err(bad_argument(1, "f", "why"))
        })
        .unwrap();
        // Through a Lua caller, as users meet it: a string, positioned.
        lua.globals().set("f", f).unwrap();
        let (t, e): (String, String) = lua
            .load("local ok, e = pcall(function() f() end) return type(e), e")
            .set_name("@probe.lua")
            .eval()
            .unwrap();
        assert_eq!(t, "string");
        assert_eq!(e, "probe.lua:1: bad argument #1 to 'f' (why)");
        let e = mlua::Error::WithContext {
            context: "ctx".into(),
            cause: mlua::Error::runtime("bad").into(),
        };
        assert_eq!(message(&e), "ctx: bad");
    }
}

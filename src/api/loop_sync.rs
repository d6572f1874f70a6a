//! `loop.cond()` and `loop.queue([capacity])`: the Lua face of
//! [`crate::runtime::sync`] and [`crate::runtime::queue`].

use std::rc::Rc;

use mlua::{
    AnyUserData, Function, LightUserData, Lua, MetaMethod, MultiValue, Table, UserData,
    UserDataFields, UserDataMethods, Value,
};

use super::surface;
use crate::error::NetError;
use crate::runtime::context::{block_on, foreign_error, locate, Where};
use crate::runtime::deadline::timeout_value;
use crate::runtime::queue::{Outcome, Queue, Retry};
use crate::runtime::sync::Cond;
use crate::runtime::Runtime;
use crate::stream::core::failure;

struct CondHandle(Rc<Cond>);
struct QueueHandle(Rc<Queue>);

fn cond_of(v: Option<&Value>, fname: &str) -> mlua::Result<Rc<Cond>> {
    Ok(surface::this::<CondHandle>(fname, v)?.0.clone())
}

fn queue_of(v: Option<&Value>, fname: &str) -> mlua::Result<Rc<Queue>> {
    Ok(surface::this::<QueueHandle>(fname, v)?.0.clone())
}

fn timed_out(lua: &Lua, fname: &str) -> mlua::Result<MultiValue> {
    failure(lua, NetError::new("timeout", format!("{fname}: timed out")))
}

fn closed(lua: &Lua, fname: &str) -> mlua::Result<MultiValue> {
    failure(
        lua,
        NetError::new("closed", format!("{fname}: queue is closed")),
    )
}

fn waited(lua: &Lua, o: Outcome<()>) -> mlua::Result<MultiValue> {
    match o {
        Outcome::Timeout => timed_out(lua, "cond:wait"),
        Outcome::Done(()) | Outcome::Closed => Ok(MultiValue::from_iter([Value::Boolean(true)])),
    }
}

/// `cond:wait([timeout])`: in a task, parks in line and yields without a
/// Rust future, as queue:get does (`queue.lua`).
fn cond_wait(lua: &Lua) -> mlua::Result<Function> {
    let plain = lua.create_function(|lua, args: MultiValue| {
        let r = (|| {
            let c = cond_of(args.front(), "cond:wait")?;
            let limit = timeout_value(args.get(1), 1, "cond:wait")?;
            if limit.is_some_and(|d| d.is_zero()) {
                return timed_out(lua, "cond:wait");
            }
            let rt = Runtime::get(lua)?;
            match task_waker(lua, &rt, "cond:wait")? {
                Some(waker) => Ok(parked(c.park(&rt, &waker, limit))),
                None => {
                    let ok = block_on(&rt, c.wait(&rt, limit))?;
                    waited(
                        lua,
                        if ok {
                            Outcome::Done(())
                        } else {
                            Outcome::Timeout
                        },
                    )
                }
            }
        })();
        Ok(surface::settle(lua, r))
    })?;
    let retry = lua.create_function(|lua, (ud, token): (AnyUserData, usize)| {
        let r = (|| {
            let c = ud.borrow::<CondHandle>()?.0.clone();
            let rt = Runtime::get(lua)?;
            retried(lua, c.retry(&rt, token), waited)
        })();
        Ok(surface::settle(lua, r))
    })?;
    parking_method(lua, plain, retry)
}

impl UserData for CondHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.cond");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("wait", cond_wait(lua)?)?;
            t.set(
                "signal",
                surface::method(lua, "cond:signal", |_, c: &CondHandle, ()| Ok(c.0.signal()))?,
            )?;
            t.set(
                "broadcast",
                surface::method(lua, "cond:broadcast", |_, c: &CondHandle, ()| {
                    Ok(c.0.broadcast())
                })?,
            )?;
            Ok(t)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, _, ()| Ok("tls.cond"));
    }
}

fn put_result(lua: &Lua, o: Outcome<()>) -> mlua::Result<MultiValue> {
    match o {
        Outcome::Done(()) => Ok(MultiValue::from_iter([Value::Boolean(true)])),
        Outcome::Closed => closed(lua, "queue:put"),
        Outcome::Timeout => timed_out(lua, "queue:put"),
    }
}

fn get_result(lua: &Lua, o: Outcome<Value>) -> mlua::Result<MultiValue> {
    match o {
        Outcome::Done(v) => Ok(MultiValue::from_iter([v])),
        Outcome::Closed => closed(lua, "queue:get"),
        Outcome::Timeout => timed_out(lua, "queue:get"),
    }
}

/// Where a waiting call runs: `Some(waker)` of the running task (which
/// then parks and yields), `None` in blocking mode (the caller drives the
/// loop); an error from another coroutine.
fn task_waker(lua: &Lua, rt: &Runtime, fname: &str) -> mlua::Result<Option<std::task::Waker>> {
    match locate(lua, rt) {
        Where::Task => rt
            .exec
            .current_waker()
            .map(Some)
            .ok_or_else(|| foreign_error(fname)),
        Where::Blocking => Ok(None),
        Where::Foreign => Err(foreign_error(fname)),
    }
}

/// Marks "parked: yield, then retry with this token" (see `queue.lua`).
fn wait_marker() -> LightUserData {
    static WAIT: u8 = 0;
    LightUserData(&WAIT as *const u8 as *mut std::ffi::c_void)
}

fn parked(token: usize) -> MultiValue {
    MultiValue::from_iter([
        Value::LightUserData(wait_marker()),
        Value::Integer(token as i64),
    ])
}

/// `queue.lua` around a plain method and its retry: a task that must wait
/// parks in line and yields without a Rust future (the common case of a
/// queue between tasks, so it is the fast path).
fn parking_method(lua: &Lua, plain: Function, retry: Function) -> mlua::Result<Function> {
    let make: Function = match lua.named_registry_value::<Option<Function>>("tls.queue")? {
        Some(f) => f,
        None => {
            let f: Function = lua
                .load(include_str!("queue.lua"))
                .set_name("=tls.queue")
                .call((
                    Value::LightUserData(wait_marker()),
                    Value::LightUserData(Lua::poll_pending()),
                    Value::LightUserData(surface::raise_marker()),
                ))?;
            lua.set_named_registry_value("tls.queue", &f)?;
            f
        }
    };
    make.call((plain, retry))
}

fn retried<T>(
    lua: &Lua,
    r: Retry<T>,
    done: impl FnOnce(&Lua, Outcome<T>) -> mlua::Result<MultiValue>,
) -> mlua::Result<MultiValue> {
    match r {
        Retry::Wait => Ok(MultiValue::from_iter([Value::LightUserData(wait_marker())])),
        Retry::Done(o) => done(lua, o),
        Retry::Cancelled(v) => Ok(MultiValue::from_iter([
            Value::LightUserData(surface::raise_marker()),
            v,
        ])),
    }
}

fn queue_put(lua: &Lua) -> mlua::Result<Function> {
    let plain = lua.create_function(|lua, args: MultiValue| {
        let r = (|| {
            let q = queue_of(args.front(), "queue:put")?;
            let v = args.get(1).cloned().unwrap_or(Value::Nil);
            if v.is_nil() {
                return Err(surface::bad_argument(
                    1,
                    "queue:put",
                    "value expected, got nil",
                ));
            }
            let limit = timeout_value(args.get(2), 2, "queue:put")?;
            let v = match q.try_put(v) {
                Ok(o) => return put_result(lua, o),
                Err(v) => v,
            };
            if limit.is_some_and(|d| d.is_zero()) {
                return timed_out(lua, "queue:put");
            }
            let rt = Runtime::get(lua)?;
            match task_waker(lua, &rt, "queue:put")? {
                Some(waker) => Ok(parked(q.park_put(&rt, v, &waker, limit))),
                None => put_result(lua, block_on(&rt, q.put(&rt, v, limit))?),
            }
        })();
        Ok(surface::settle(lua, r))
    })?;
    let retry = lua.create_function(|lua, (ud, token): (AnyUserData, usize)| {
        let r = (|| {
            let q = ud.borrow::<QueueHandle>()?.0.clone();
            let rt = Runtime::get(lua)?;
            retried(lua, q.retry_put(&rt, token), put_result)
        })();
        Ok(surface::settle(lua, r))
    })?;
    parking_method(lua, plain, retry)
}

fn queue_get(lua: &Lua) -> mlua::Result<Function> {
    let plain = lua.create_function(|lua, args: MultiValue| {
        let r = (|| {
            let q = queue_of(args.front(), "queue:get")?;
            let limit = timeout_value(args.get(1), 1, "queue:get")?;
            if let Some(o) = q.try_get() {
                return get_result(lua, o);
            }
            if limit.is_some_and(|d| d.is_zero()) {
                return timed_out(lua, "queue:get");
            }
            let rt = Runtime::get(lua)?;
            match task_waker(lua, &rt, "queue:get")? {
                Some(waker) => Ok(parked(q.park_get(&rt, &waker, limit))),
                None => get_result(lua, block_on(&rt, q.get(&rt, limit))?),
            }
        })();
        Ok(surface::settle(lua, r))
    })?;
    let retry = lua.create_function(|lua, (ud, token): (AnyUserData, usize)| {
        let r = (|| {
            let q = ud.borrow::<QueueHandle>()?.0.clone();
            let rt = Runtime::get(lua)?;
            retried(lua, q.retry_get(&rt, token), get_result)
        })();
        Ok(surface::settle(lua, r))
    })?;
    parking_method(lua, plain, retry)
}

impl UserData for QueueHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.queue");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("put", queue_put(lua)?)?;
            t.set("get", queue_get(lua)?)?;
            t.set(
                "close",
                surface::method(lua, "queue:close", |_, q: &QueueHandle, ()| {
                    q.0.close();
                    Ok(true)
                })?,
            )?;
            t.set(
                "closed",
                surface::method(lua, "queue:closed", |_, q: &QueueHandle, ()| {
                    Ok(q.0.is_closed())
                })?,
            )?;
            Ok(t)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Len, |_, q, ()| Ok(q.0.len()));
        m.add_meta_method(MetaMethod::ToString, |_, q, ()| {
            let state = if q.0.is_closed() { ", closed" } else { "" };
            Ok(format!("tls.queue ({} queued{state})", q.0.len()))
        });
    }
}

/// Adds `cond` and `queue` to the `tls.loop` table.
pub(crate) fn register(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.set(
        "cond",
        surface::function(lua, "loop.cond", |_, ()| {
            Ok(CondHandle(Rc::new(Cond::default())))
        })?,
    )?;
    t.set(
        "queue",
        surface::function(lua, "loop.queue", |_, cap: Value| {
            let capacity = match cap {
                Value::Nil => usize::MAX,
                Value::Integer(n) if n >= 0 => n as usize,
                Value::Number(n) if n == f64::INFINITY => usize::MAX,
                Value::Number(n) if n >= 0.0 && n.fract() == 0.0 => n as usize,
                other => {
                    return Err(surface::bad_argument(
                        1,
                        "loop.queue",
                        format_args!(
                            "non-negative integer expected, got {}",
                            match other {
                                Value::Integer(_) | Value::Number(_) =>
                                    "a negative or fractional number",
                                v => surface::type_name(&v),
                            }
                        ),
                    ))
                }
            };
            Ok(QueueHandle(Rc::new(Queue::new(capacity))))
        })?,
    )?;
    Ok(())
}

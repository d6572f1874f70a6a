//! `loop.cond()` and `loop.queue([capacity])`: the Lua face of
//! [`crate::runtime::sync`] and [`crate::runtime::queue`].

use std::rc::Rc;

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields,
    UserDataMethods, Value,
};

use crate::error::NetError;
use crate::runtime::cancel::async_fn;
use crate::runtime::context::{dispatch, wrap};
use crate::runtime::deadline::timeout_arg;
use crate::runtime::queue::{Outcome, Queue};
use crate::runtime::sync::Cond;
use crate::runtime::Runtime;
use crate::stream::core::failure;

struct CondHandle(Rc<Cond>);
struct QueueHandle(Rc<Queue>);

fn bad_self(fname: &str, what: &str) -> mlua::Error {
    let (obj, method) = fname.split_once(':').unwrap_or((what, fname));
    mlua::Error::runtime(format!(
        "calling '{fname}' on bad self ({what} expected; use {}:{method}(...))",
        &obj[..1]
    ))
}

fn cond_of(v: &Value, fname: &str) -> mlua::Result<Rc<Cond>> {
    match v {
        Value::UserData(ud) => ud.borrow::<CondHandle>().map(|c| c.0.clone()).ok(),
        _ => None,
    }
    .ok_or_else(|| bad_self(fname, "cond"))
}

fn queue_of(v: &Value, fname: &str) -> mlua::Result<Rc<Queue>> {
    match v {
        Value::UserData(ud) => ud.borrow::<QueueHandle>().map(|q| q.0.clone()).ok(),
        _ => None,
    }
    .ok_or_else(|| bad_self(fname, "queue"))
}

fn timed_out(lua: &Lua, fname: &str) -> mlua::Result<MultiValue> {
    failure(lua, NetError::new("timeout", format!("{fname}: timed out")))
}

fn closed(lua: &Lua, fname: &str) -> mlua::Result<MultiValue> {
    failure(lua, NetError::new("closed", format!("{fname}: queue is closed")))
}

fn waited(lua: &Lua, ok: bool) -> mlua::Result<MultiValue> {
    if ok {
        Ok(MultiValue::from_iter([Value::Boolean(true)]))
    } else {
        timed_out(lua, "cond:wait")
    }
}

fn cond_wait(lua: &Lua) -> mlua::Result<Function> {
    let twin = async_fn(lua, |lua, (ud, t): (AnyUserData, Value)| async move {
        let c = ud.borrow::<CondHandle>()?.0.clone();
        let rt = Runtime::get(&lua)?;
        let ok = c.wait(&rt, timeout_arg(&t, 1, "cond:wait")?).await;
        waited(&lua, ok)
    })?;
    let sync = lua.create_function(move |lua, (this, t): (Value, Value)| {
        let c = cond_of(&this, "cond:wait")?;
        let limit = timeout_arg(&t, 1, "cond:wait")?;
        let rt = Runtime::get(lua)?;
        dispatch(lua, &rt, "cond:wait", &twin, (this, t), || async {
            waited(lua, c.wait(&rt, limit).await)
        })
    })?;
    wrap(lua, sync)
}

impl UserData for CondHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.cond");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("wait", cond_wait(lua)?)?;
            t.set(
                "signal",
                lua.create_function(|_, this: Value| Ok(cond_of(&this, "cond:signal")?.signal()))?,
            )?;
            t.set(
                "broadcast",
                lua.create_function(|_, this: Value| {
                    Ok(cond_of(&this, "cond:broadcast")?.broadcast())
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

fn queue_put(lua: &Lua) -> mlua::Result<Function> {
    let twin = async_fn(lua, |lua, (ud, v, t): (AnyUserData, Value, Value)| async move {
        let q = ud.borrow::<QueueHandle>()?.0.clone();
        let rt = Runtime::get(&lua)?;
        let o = q.put(&rt, v, timeout_arg(&t, 2, "queue:put")?).await;
        put_result(&lua, o)
    })?;
    let sync = lua.create_function(move |lua, (this, v, t): (Value, Value, Value)| {
        let q = queue_of(&this, "queue:put")?;
        if v.is_nil() {
            return Err(mlua::Error::runtime(
                "bad argument #1 to 'queue:put' (value expected, got nil)",
            ));
        }
        let limit = timeout_arg(&t, 2, "queue:put")?;
        let v = match q.try_put(v) {
            Ok(o) => return put_result(lua, o),
            Err(v) => v,
        };
        if limit.is_some_and(|d| d.is_zero()) {
            return timed_out(lua, "queue:put");
        }
        let rt = Runtime::get(lua)?;
        let later = v.clone();
        dispatch(lua, &rt, "queue:put", &twin, (this, v, t), || async {
            put_result(lua, q.put(&rt, later, limit).await)
        })
    })?;
    wrap(lua, sync)
}

fn queue_get(lua: &Lua) -> mlua::Result<Function> {
    let twin = async_fn(lua, |lua, (ud, t): (AnyUserData, Value)| async move {
        let q = ud.borrow::<QueueHandle>()?.0.clone();
        let rt = Runtime::get(&lua)?;
        let o = q.get(&rt, timeout_arg(&t, 1, "queue:get")?).await;
        get_result(&lua, o)
    })?;
    let sync = lua.create_function(move |lua, (this, t): (Value, Value)| {
        let q = queue_of(&this, "queue:get")?;
        let limit = timeout_arg(&t, 1, "queue:get")?;
        if let Some(o) = q.try_get() {
            return get_result(lua, o);
        }
        if limit.is_some_and(|d| d.is_zero()) {
            return timed_out(lua, "queue:get");
        }
        let rt = Runtime::get(lua)?;
        dispatch(lua, &rt, "queue:get", &twin, (this, t), || async {
            get_result(lua, q.get(&rt, limit).await)
        })
    })?;
    wrap(lua, sync)
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
                lua.create_function(|_, this: Value| {
                    queue_of(&this, "queue:close")?.close();
                    Ok(true)
                })?,
            )?;
            t.set(
                "closed",
                lua.create_function(|_, this: Value| {
                    Ok(queue_of(&this, "queue:closed")?.is_closed())
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
        lua.create_function(|_, ()| Ok(CondHandle(Rc::new(Cond::default()))))?,
    )?;
    t.set(
        "queue",
        lua.create_function(|_, cap: Value| {
            let capacity = match cap {
                Value::Nil => usize::MAX,
                Value::Integer(n) if n >= 0 => n as usize,
                Value::Number(n) if n == f64::INFINITY => usize::MAX,
                Value::Number(n) if n >= 0.0 && n.fract() == 0.0 => n as usize,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad argument #1 to 'loop.queue' (non-negative integer expected, got {})",
                        match other {
                            Value::Integer(_) | Value::Number(_) => "a negative or fractional number",
                            v => v.type_name(),
                        }
                    )))
                }
            };
            Ok(QueueHandle(Rc::new(Queue::new(capacity))))
        })?,
    )?;
    Ok(())
}

//! `loop.cond()` and `loop.queue([capacity])`: the Lua face of
//! [`crate::runtime::sync`] and [`crate::runtime::queue`].

use std::rc::Rc;

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields,
    UserDataMethods, Value,
};

use super::surface;
use crate::error::NetError;
use crate::fast::sync as fast;
use crate::runtime::by_hand;
use crate::runtime::context::{block_on, cannot_wait, foreign_error, locate, Where};
use crate::runtime::deadline::timeout_value;
use crate::runtime::queue::{Item, Outcome, Queue};
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

/// The general `cond:wait(timeout)` (`queue.lua` calls it for what the
/// fast path declines): blocking mode, a zero timeout, misuse; in a task
/// it parks as the fast path does.
fn cond_wait(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, args: MultiValue| {
        let r = (|| {
            let c = cond_of(args.front(), "cond:wait")?;
            let limit = timeout_value(args.get(1), 1, "cond:wait")?;
            if limit.is_some_and(|d| d.is_zero()) {
                return timed_out(lua, "cond:wait");
            }
            let rt = Runtime::get(lua)?;
            match task_waker(lua, &rt, "cond:wait")? {
                Some(waker) => Ok(parked(c.park(&rt, &waker, limit), None)),
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
    })
}

impl UserData for CondHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.cond");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            // Private to queue.lua: a `_handle` method would raise mlua's
            // userdata error for a bad self, not a string.
            let handle = lua.create_function(|lua, ud: AnyUserData| {
                fast::cond_handle(lua, &ud.borrow::<CondHandle>()?.0)
            })?;
            let f = fast::functions(lua)?;
            let [wait, retry, signal, broadcast] = f.cond;
            let (_, make): (Function, Function) = wrappers(lua)?;
            make.call::<()>((
                &t,
                handle,
                wait,
                retry,
                signal,
                broadcast,
                cond_wait(lua)?,
                surface::method(lua, "cond:signal", |_, c: &CondHandle, ()| Ok(c.0.signal()))?,
                surface::method(lua, "cond:broadcast", |_, c: &CondHandle, ()| {
                    Ok(c.0.broadcast())
                })?,
            ))?;
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
        at => Err(cannot_wait(lua, rt, at, fname)),
    }
}

/// `WAIT, token [, item]`: parked, as the fast path answers (see
/// `queue.lua`).
fn parked(token: usize, item: Option<Item>) -> MultiValue {
    let mut out = MultiValue::from_iter([
        Value::LightUserData(fast::wait_marker()),
        Value::Integer(token as i64),
    ]);
    if let Some(item) = item {
        out.push_back(Value::Integer(item));
    }
    out
}

/// The two makers of `queue.lua`: queue methods, cond methods.
fn wrappers(lua: &Lua) -> mlua::Result<(Function, Function)> {
    if let Some(t) = lua.named_registry_value::<Option<Table>>("tls.queue")? {
        return Ok((t.raw_get(1)?, t.raw_get(2)?));
    }
    // The error of a wait that ended by CANCEL: the task's cancellation,
    // else (the task's coroutine was resumed by hand) that error, naming
    // the call `what`.
    let cancel_value = lua.create_function(|lua, what: Option<String>| {
        let rt = Runtime::get(lua)?;
        let what = what.as_deref().unwrap_or("wait");
        Ok(rt.exec.current_cancel().or_else(|| {
            let id = by_hand::task(lua, &rt)?;
            Some(by_hand::refuse_value(lua, &rt, id, what))
        }))
    })?;
    let (q, c): (Function, Function) = lua
        .load(include_str!("queue.lua"))
        .set_name("=tls.queue")
        .call((
        Value::LightUserData(fast::wait_marker()),
        Value::LightUserData(fast::cancel_marker()),
        Value::LightUserData(Lua::poll_pending()),
        Value::LightUserData(surface::raise_marker()),
        cancel_value,
        surface::self_check(lua)?,
    ))?;
    let t = lua.create_sequence_from([q.clone(), c.clone()])?;
    lua.set_named_registry_value("tls.queue", t)?;
    Ok((q, c))
}

/// The store argument of the general put and get (from the fast path's
/// `store(h)`).
fn store_arg(v: Option<&Value>) -> mlua::Result<Table> {
    match v {
        Some(Value::Table(t)) => Ok(t.clone()),
        _ => Err(mlua::Error::runtime("queue: the item store is missing")),
    }
}

/// The general `queue:put(store, v, timeout)` (`queue.lua` calls it for
/// what the fast path declines; `store` is the handle's item store).
fn queue_put(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, args: MultiValue| {
        let r = (|| {
            let q = queue_of(args.front(), "queue:put")?;
            let store = store_arg(args.get(1))?;
            let v = args.get(2).cloned().unwrap_or(Value::Nil);
            if v.is_nil() {
                return Err(surface::bad_argument(
                    1,
                    "queue:put",
                    "value expected, got nil",
                ));
            }
            let limit = timeout_value(args.get(3), 2, "queue:put")?;
            let item = q.next_item();
            store.raw_set(item, v)?;
            // A put that did not go in gives its value up.
            let settled = |o: Outcome<()>| {
                if !matches!(o, Outcome::Done(())) {
                    store.raw_set(item, Value::Nil)?;
                }
                put_result(lua, o)
            };
            let item = match q.try_put(item) {
                Ok(o) => return settled(o),
                Err(item) => item,
            };
            if limit.is_some_and(|d| d.is_zero()) {
                return settled(Outcome::Timeout);
            }
            let rt = Runtime::get(lua)?;
            match task_waker(lua, &rt, "queue:put") {
                Ok(Some(waker)) => Ok(parked(q.park_put(&rt, item, &waker, limit), Some(item))),
                Ok(None) => {
                    // A put given up (the loop run ended with another
                    // task's error) lets go of its value too.
                    let unsent = |item| {
                        let _ = store.raw_set(item, Value::Nil);
                    };
                    settled(block_on(&rt, q.put(&rt, item, limit, unsent))?)
                }
                Err(e) => {
                    store.raw_set(item, Value::Nil)?;
                    Err(e)
                }
            }
        })();
        Ok(surface::settle(lua, r))
    })
}

/// The general `queue:get(store, timeout)`, as [`queue_put`].
fn queue_get(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, args: MultiValue| {
        let r = (|| {
            let q = queue_of(args.front(), "queue:get")?;
            let store = store_arg(args.get(1))?;
            let limit = timeout_value(args.get(2), 1, "queue:get")?;
            let taken = |o: Outcome<Item>| match o {
                Outcome::Done(item) => {
                    let v: Value = store.raw_get(item)?;
                    store.raw_set(item, Value::Nil)?;
                    get_result(lua, Outcome::Done(v))
                }
                Outcome::Closed => get_result(lua, Outcome::Closed),
                Outcome::Timeout => get_result(lua, Outcome::Timeout),
            };
            if let Some(o) = q.try_get() {
                return taken(o);
            }
            if limit.is_some_and(|d| d.is_zero()) {
                return timed_out(lua, "queue:get");
            }
            let rt = Runtime::get(lua)?;
            match task_waker(lua, &rt, "queue:get")? {
                Some(waker) => Ok(parked(q.park_get(&rt, &waker, limit), None)),
                None => taken(block_on(&rt, q.get(&rt, limit))?),
            }
        })();
        Ok(surface::settle(lua, r))
    })
}

impl UserData for QueueHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.queue");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            // Private to queue.lua, as cond's.
            let handle = lua.create_function(|lua, ud: AnyUserData| {
                let q = ud.borrow::<QueueHandle>()?.0.clone();
                fast::queue_handle(lua, &q, lua.create_table()?)
            })?;
            let f = fast::functions(lua)?;
            let [put, get, retry_put, retry_get, store] = f.queue;
            let (make, _): (Function, Function) = wrappers(lua)?;
            make.call::<()>((
                &t,
                handle,
                put,
                get,
                retry_put,
                retry_get,
                store,
                queue_put(lua)?,
                queue_get(lua)?,
            ))?;
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

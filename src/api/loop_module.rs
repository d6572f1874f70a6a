//! `tls.loop`: spawn, run, sleep, step, fd, timeout, now; the task handle,
//! the synchronisation objects, `poll` and `signal` have their own files.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::runtime::context::{block_on, foreign_error, go_async, locate, wrap, Where};
use crate::runtime::deadline::{seconds, Deadline};
use crate::runtime::executor::OnError;

use super::loop_task::Task;
use crate::runtime::Runtime;

fn spawn_wrapper(lua: &Lua) -> mlua::Result<Function> {
    if let Some(f) = lua.named_registry_value::<Option<Function>>("tls.spawn")? {
        return Ok(f);
    }
    let is_cancel = lua.create_function(|lua, e: Value| {
        let rt = Runtime::get(lua)?;
        Ok(rt.exec.current_cancel().is_some_and(|c| c == e))
    })?;
    let f: Function = lua
        .load(include_str!("spawn.lua"))
        .set_name("=tls.spawn")
        .call(is_cancel)?;
    lua.set_named_registry_value("tls.spawn", &f)?;
    Ok(f)
}

fn not_in_task(lua: &Lua, rt: &Runtime, name: &str) -> mlua::Result<()> {
    if locate(lua, rt) != Where::Blocking {
        return Err(mlua::Error::runtime(format!(
            "loop.{name}: called from inside a task; only code outside the loop can drive it"
        )));
    }
    Ok(())
}

fn sleep_method(lua: &Lua) -> mlua::Result<Function> {
    let twin = crate::runtime::cancel::async_fn(lua, |lua, s: Option<f64>| async move {
        let rt = Runtime::get(&lua)?;
        sleep(&rt, s).await;
        Ok(())
    })?;
    let sync = lua.create_function(move |lua, s: Option<f64>| {
        seconds(Some(s.unwrap_or(0.0)), "loop.sleep")?;
        let rt = Runtime::get(lua)?;
        match locate(lua, &rt) {
            Where::Task => go_async(lua, &twin, s),
            Where::Blocking => {
                block_on(&rt, sleep(&rt, s))?;
                Ok(MultiValue::new())
            }
            Where::Foreign => Err(foreign_error("loop.sleep")),
        }
    })?;
    wrap(lua, sync)
}

/// Sleeps `s` seconds; 0 (or none) yields once to the other ready tasks.
async fn sleep(rt: &Rc<Runtime>, s: Option<f64>) {
    let d = Duration::try_from_secs_f64(s.unwrap_or(0.0).max(0.0)).unwrap_or(Duration::MAX);
    let mut deadline = Deadline::after(rt, Some(d));
    let mut first = true;
    poll_fn(|cx| {
        if d.is_zero() {
            if first {
                first = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(());
        }
        if deadline.poll_expired(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A function, or a table whose metatable has `__call`.
fn callable(v: &Value) -> bool {
    match v {
        Value::Function(_) => true,
        Value::Table(t) => t
            .metatable()
            .is_some_and(|mt| matches!(mt.raw_get::<Value>("__call"), Ok(Value::Function(_)))),
        _ => false,
    }
}

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let rt = Runtime::get(lua)?;
    let t = lua.create_table()?;
    let wrapper = spawn_wrapper(lua)?;
    let weak = Rc::downgrade(&rt);
    t.set(
        "spawn",
        lua.create_function(move |lua, (f, args): (Value, MultiValue)| {
            if !callable(&f) {
                return Err(mlua::Error::runtime(format!(
                    "bad argument #1 to 'spawn' (function expected, got {})",
                    f.type_name()
                )));
            }
            let rt = weak
                .upgrade()
                .ok_or_else(|| mlua::Error::runtime("loop is shut down"))?;
            let mut args = args;
            args.push_front(f);
            let shared =
                rt.exec
                    .spawn_lua(weak.clone(), lua, wrapper.clone(), args, OnError::Raise)?;
            Ok(Task(shared))
        })?,
    )?;
    // run and step hand a failed task's error back as a value; their Lua
    // wrappers raise it unchanged (a string keeps being a string).
    let r = rt.clone();
    let run = lua.create_function(move |lua, ()| {
        not_in_task(lua, &r, "run")?;
        while r.exec.count() > 0 {
            if let Some(e) = r.turn_for_tasks(None)? {
                return Ok((Value::Nil, e));
            }
        }
        Ok((Value::Boolean(true), Value::Nil))
    })?;
    let r = rt.clone();
    let step = lua.create_function(move |lua, timeout: Option<f64>| {
        not_in_task(lua, &r, "step")?;
        let wait = seconds(timeout, "loop.step")?;
        if r.exec.count() == 0 && r.timeout().is_none() {
            return Ok((Value::Integer(0), Value::Nil));
        }
        if let Some(e) = r.turn_for_tasks(wait)? {
            return Ok((Value::Nil, e));
        }
        Ok((Value::Integer(r.exec.count() as i64), Value::Nil))
    })?;
    let (run, step): (Function, Function) = lua
        .load(
            r#"local run, step, error = ...
            return function() local ok, e = run() if ok == nil then error(e, 0) end return ok end,
                   function(t) local n, e = step(t) if n == nil then error(e, 0) end return n end"#,
        )
        .set_name("=tls.loop")
        .call((run, step, lua.globals().get::<Function>("error")?))?;
    t.set("run", run)?;
    t.set("step", step)?;
    t.set("sleep", sleep_method(lua)?)?;
    let r = rt.clone();
    t.set("fd", lua.create_function(move |_, ()| Ok(r.reactor.fd()))?)?;
    let r = rt.clone();
    t.set(
        "timeout",
        lua.create_function(move |_, ()| Ok(r.timeout()))?,
    )?;
    let r = rt.clone();
    t.set("now", lua.create_function(move |_, ()| Ok(r.now()))?)?;
    super::loop_sync::register(lua, &t)?;
    super::loop_poll::register(lua, &t)?;
    super::loop_signal::register(lua, &t)?;
    Ok(t)
}

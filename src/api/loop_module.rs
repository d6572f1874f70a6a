//! `tls.loop`: spawn, run, sleep, step, fd, timeout, now. The task handle,
//! the synchronisation objects, `poll` and `signal` have files of their own.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::surface;
use crate::runtime::context::{block_on, cannot_wait, go_async, locate, Where};
use crate::runtime::deadline::{seconds_arg, Deadline};
use crate::runtime::executor::OnError;

use super::loop_task::Task;
use crate::runtime::Runtime;

pub(crate) fn spawn_wrapper(lua: &Lua) -> mlua::Result<Function> {
    if let Some(f) = lua.named_registry_value::<Option<Function>>("tls.spawn")? {
        return Ok(f);
    }
    let is_cancel = lua.create_function(|lua, e: Value| {
        let rt = Runtime::get(lua)?;
        Ok(rt.exec.current_cancel().is_some_and(|c| c == e))
    })?;
    // Lua 5.1 runs the task's function in a coroutine of its own (see
    // spawn.lua); `adopt` makes that coroutine the one the loop calls the task.
    let adopt = lua.create_function(|lua, co: mlua::Thread| {
        Runtime::get(lua)?.exec.adopt_thread(co.to_pointer());
        Ok(())
    })?;
    let f: Function = lua
        .load(include_str!("spawn.lua"))
        .set_name("=tls.spawn")
        .call((
            adopt,
            is_cancel,
            lua.create_function(|lua, ()| Ok(crate::runtime::by_hand::ended_outside(lua)))?,
        ))?;
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
    let twin = surface::async_function(lua, "loop.sleep", |lua, s: Option<f64>| async move {
        let rt = Runtime::get(&lua)?;
        sleep(&rt, s).await;
        Ok(())
    })?;
    surface::function(lua, "loop.sleep", move |lua, s: Option<f64>| {
        seconds_arg(Some(s.unwrap_or(0.0)), 1, "loop.sleep")?;
        let rt = Runtime::get(lua)?;
        match locate(lua, &rt) {
            Where::Task => go_async(lua, &twin, s),
            Where::Blocking => {
                block_on(&rt, sleep(&rt, s))?;
                Ok(MultiValue::new())
            }
            at => Err(cannot_wait(lua, &rt, at, "loop.sleep")),
        }
    })
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
        surface::function(
            lua,
            "loop.spawn",
            move |lua, (f, args): (Value, MultiValue)| {
                if !callable(&f) {
                    return Err(surface::bad_argument(
                        1,
                        "loop.spawn",
                        format_args!("function expected, got {}", surface::type_name(&f)),
                    ));
                }
                let rt = weak
                    .upgrade()
                    .ok_or_else(|| mlua::Error::runtime("loop.spawn: the loop is shut down"))?;
                let mut args = args;
                args.push_front(f);
                let shared =
                    rt.exec
                        .spawn_lua(weak.clone(), lua, wrapper.clone(), args, OnError::Raise)?;
                Ok(Task(shared))
            },
        )?,
    )?;
    // A failed task that nobody joins raises its error out of run and step,
    // unchanged (see surface: a table stays that table).
    let r = rt.clone();
    let run = surface::function(lua, "loop.run", move |lua, ()| {
        not_in_task(lua, &r, "run")?;
        while r.exec.count() > 0 {
            r.turn_for_tasks(None)?;
        }
        Ok(true)
    })?;
    let r = rt.clone();
    let step = surface::function(lua, "loop.step", move |lua, timeout: Option<f64>| {
        not_in_task(lua, &r, "step")?;
        let wait = seconds_arg(timeout, 1, "loop.step")?;
        if r.exec.count() == 0 && r.timeout().is_none() {
            return Ok(0);
        }
        r.turn_for_tasks(wait)?;
        Ok(r.exec.count() as i64)
    })?;
    t.set("run", run)?;
    t.set("step", step)?;
    t.set("sleep", sleep_method(lua)?)?;
    let r = rt.clone();
    t.set(
        "fd",
        surface::function(lua, "loop.fd", move |_, ()| Ok(r.reactor.fd()))?,
    )?;
    let r = rt.clone();
    t.set(
        "timeout",
        surface::function(lua, "loop.timeout", move |_, ()| Ok(r.timeout()))?,
    )?;
    let r = rt.clone();
    t.set(
        "now",
        surface::function(lua, "loop.now", move |_, ()| Ok(r.now()))?,
    )?;
    super::loop_sync::register(lua, &t)?;
    super::loop_poll::register(lua, &t)?;
    super::loop_signal::register(lua, &t)?;
    Ok(t)
}

//! `tls.loop`: spawn, join, run, sleep, step, fd, timeout, now.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use mlua::{
    Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields, UserDataMethods, Value,
};

use super::surface;
use crate::runtime::context::{block_on, foreign_error, go_async, locate, Where};
use crate::runtime::deadline::{seconds_arg, Deadline};
use crate::runtime::executor::{OnError, TaskShared};
use crate::runtime::joins::Joining;
use crate::runtime::Runtime;

/// The handle `loop.spawn` returns.
pub(crate) struct Task(Rc<TaskShared>);

fn joined(lua: &Lua, r: Result<MultiValue, Value>) -> mlua::Result<MultiValue> {
    let mut out = match r {
        Ok(values) => values,
        Err(e) => {
            let e = match e {
                // Keep Lua error values; Rust errors become their message.
                Value::Error(err) => Value::String(lua.create_string(surface::message(&err))?),
                other => other,
            };
            let mut m = MultiValue::new();
            m.push_back(e);
            m.push_front(Value::Boolean(false));
            return Ok(m);
        }
    };
    out.push_front(Value::Boolean(true));
    Ok(out)
}

fn join_method(lua: &Lua) -> mlua::Result<Function> {
    let twin =
        surface::async_function(lua, "task:join", |lua, ud: mlua::AnyUserData| async move {
            let shared = ud.borrow::<Task>()?.0.clone();
            // A join that would close a cycle of joins never ends: refuse it.
            let me = Runtime::get(&lua)?.exec.current_task();
            let _joining = match me {
                Some(me) => Some(Joining::enter(me, &shared).map_err(mlua::Error::runtime)?),
                None => None,
            };
            let r = poll_fn(|cx| shared.poll_result(cx)).await;
            joined(&lua, r)
        })?;
    surface::function(lua, "task:join", move |lua, args: MultiValue| {
        let shared = surface::this::<Task>("task:join", args.front())?.0.clone();
        if shared.is_done() {
            let r = shared.result.borrow().clone().expect("done");
            return joined(lua, r);
        }
        let rt = Runtime::get(lua)?;
        match locate(lua, &rt) {
            Where::Task => go_async(lua, &twin, args),
            Where::Blocking => {
                let r = block_on(&rt, poll_fn(|cx| shared.poll_result(cx)))?;
                joined(lua, r)
            }
            Where::Foreign => Err(foreign_error("task:join")),
        }
    })
}

impl UserData for Task {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.task");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("join", join_method(lua)?)?;
            t.set(
                "done",
                surface::method(lua, "task:done", |_, t: &Task, ()| Ok(t.0.is_done()))?,
            )?;
            Ok(t)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, t, ()| {
            Ok(format!(
                "tls.task ({})",
                if t.0.is_done() { "done" } else { "running" }
            ))
        });
    }
}

fn spawn_wrapper(lua: &Lua) -> mlua::Result<Function> {
    if let Some(f) = lua.named_registry_value::<Option<Function>>("tls.spawn")? {
        return Ok(f);
    }
    // Lua 5.1 runs the task's function in a coroutine of its own (see
    // spawn.lua); `adopt` makes that coroutine the one the loop calls the task.
    let adopt = lua.create_function(|lua, co: mlua::Thread| {
        Runtime::get(lua)?.exec.adopt_thread(co.to_pointer());
        Ok(())
    })?;
    let f: Function = lua
        .load(include_str!("spawn.lua"))
        .set_name("=tls.spawn")
        .call(adopt)?;
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
            Where::Foreign => Err(foreign_error("loop.sleep")),
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
    Ok(t)
}

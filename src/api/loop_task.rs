//! The task handle `loop.spawn` returns: `join([timeout])`,
//! `cancel([reason])`, `done()`.

use std::rc::Rc;

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, UserData, UserDataFields, UserDataMethods,
    Value,
};

use super::surface;
use crate::error::NetError;
use crate::runtime::cancel::error_value;
use crate::runtime::context::dispatch;
use crate::runtime::deadline::{seconds_arg, timeout_value};
use crate::runtime::executor::{join, TaskShared};
use crate::runtime::joins::Joining;
use crate::runtime::Runtime;
use crate::stream::core::failure;

/// The handle `loop.spawn` returns.
pub(crate) struct Task(pub(crate) Rc<TaskShared>);

fn joined(lua: &Lua, r: Option<Result<MultiValue, Value>>) -> mlua::Result<MultiValue> {
    let mut out = match r {
        None => return failure(lua, NetError::new("timeout", "task:join: timed out")),
        Some(Ok(values)) => values,
        Some(Err(e)) => {
            let e = match e {
                // Keep Lua error values; Rust errors become their message.
                Value::Error(err) => Value::String(lua.create_string(surface::message(&err))?),
                other => other,
            };
            return Ok(MultiValue::from_iter([Value::Boolean(false), e]));
        }
    };
    out.push_front(Value::Boolean(true));
    Ok(out)
}

fn join_method(lua: &Lua) -> mlua::Result<Function> {
    let twin = surface::async_function(
        lua,
        "task:join",
        |lua, (ud, t): (AnyUserData, Option<f64>)| async move {
            let shared = ud.borrow::<Task>()?.0.clone();
            let rt = Runtime::get(&lua)?;
            let limit = seconds_arg(t, 1, "task:join")?;
            // A join that would close a cycle of joins never ends: refuse it.
            let _joining = match rt.exec.current_task() {
                Some(me) => Some(Joining::enter(me, &shared).map_err(mlua::Error::runtime)?),
                None => None,
            };
            joined(&lua, join(&rt, &shared, limit).await)
        },
    )?;
    surface::function(lua, "task:join", move |lua, args: MultiValue| {
        let shared = surface::this::<Task>("task:join", args.front())?.0.clone();
        let limit = timeout_value(args.get(1), 1, "task:join")?;
        if shared.is_done() {
            let r = shared.result.borrow().clone();
            return joined(lua, r);
        }
        let rt = Runtime::get(lua)?;
        dispatch(lua, &rt, "task:join", &twin, args, || async {
            joined(lua, join(&rt, &shared, limit).await)
        })
    })
}

impl UserData for Task {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.task");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("join", join_method(lua)?)?;
            t.set(
                "cancel",
                surface::method(lua, "task:cancel", |lua, t: &Task, reason: Value| {
                    let rt = Runtime::get(lua)?;
                    Ok(rt.exec.cancel(&t.0, error_value(lua, reason)?))
                })?,
            )?;
            t.set(
                "done",
                surface::method(lua, "task:done", |_, t: &Task, ()| Ok(t.0.is_done()))?,
            )?;
            Ok(t)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, t, ()| {
            let state = if !t.0.is_done() {
                "running"
            } else if t.0.cancel_value().is_some() {
                "cancelled"
            } else {
                "done"
            };
            Ok(format!("tls.task ({state})"))
        });
    }
}

//! The task handle `loop.spawn` returns: `join([timeout])`, `cancel([reason])`,
//! `done()`.

use std::rc::Rc;

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, UserData, UserDataFields, UserDataMethods,
    Value,
};

use crate::error::NetError;
use crate::runtime::cancel::{async_fn, error_value};
use crate::runtime::context::{dispatch, wrap};
use crate::runtime::deadline::timeout_arg;
use crate::runtime::executor::{join, TaskShared};
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
                Value::Error(err) => Value::String(lua.create_string(err.to_string())?),
                other => other,
            };
            return Ok(MultiValue::from_iter([Value::Boolean(false), e]));
        }
    };
    out.push_front(Value::Boolean(true));
    Ok(out)
}

fn this(v: &Value, fname: &str) -> mlua::Result<Rc<TaskShared>> {
    match v {
        Value::UserData(ud) => match ud.borrow::<Task>() {
            Ok(t) => Ok(t.0.clone()),
            Err(_) => Err(bad_self(fname)),
        },
        _ => Err(bad_self(fname)),
    }
}

fn bad_self(fname: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "calling '{fname}' on bad self (task expected; use task:{}(...))",
        fname.trim_start_matches("task:")
    ))
}

fn join_method(lua: &Lua) -> mlua::Result<Function> {
    let twin = async_fn(lua, |lua, (ud, timeout): (AnyUserData, Value)| async move {
        let shared = ud.borrow::<Task>()?.0.clone();
        let rt = Runtime::get(&lua)?;
        let timeout = timeout_arg(&timeout, 1, "task:join")?;
        let r = join(&rt, &shared, timeout).await;
        joined(&lua, r)
    })?;
    let sync = lua.create_function(move |lua, (this_v, timeout): (Value, Value)| {
        let shared = this(&this_v, "task:join")?;
        let limit = timeout_arg(&timeout, 1, "task:join")?;
        if shared.is_done() {
            let r = shared.result.borrow().clone();
            return joined(lua, r);
        }
        let rt = Runtime::get(lua)?;
        dispatch(lua, &rt, "task:join", &twin, (this_v, timeout), || async {
            joined(lua, join(&rt, &shared, limit).await)
        })
    })?;
    wrap(lua, sync)
}

impl UserData for Task {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.task");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("join", join_method(lua)?)?;
            t.set(
                "cancel",
                lua.create_function(|lua, (this_v, reason): (Value, Value)| {
                    let shared = this(&this_v, "task:cancel")?;
                    let rt = Runtime::get(lua)?;
                    Ok(rt.exec.cancel(&shared, error_value(lua, reason)?))
                })?,
            )?;
            t.set(
                "done",
                lua.create_function(|_, this_v: Value| Ok(this(&this_v, "task:done")?.is_done()))?,
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

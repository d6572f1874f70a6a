//! `loop.signal(name)`: the Lua face of [`crate::runtime::signal`].

use std::rc::{Rc, Weak};

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields,
    UserDataMethods, Value,
};

use crate::error::NetError;
use crate::runtime::cancel::async_fn;
use crate::runtime::context::{dispatch, wrap};
use crate::runtime::deadline::timeout_arg;
use crate::runtime::signal::{parse, Waited, Watcher};
use crate::runtime::Runtime;
use crate::stream::core::failure;

struct SignalHandle {
    watcher: Rc<Watcher>,
    rt: Weak<Runtime>,
}

impl SignalHandle {
    fn close(&self) {
        if let Some(rt) = self.rt.upgrade() {
            rt.signals.unwatch(&self.watcher);
        }
    }
}

impl Drop for SignalHandle {
    fn drop(&mut self) {
        self.close();
    }
}

fn watcher_of(v: &Value, fname: &str) -> mlua::Result<Rc<Watcher>> {
    match v {
        Value::UserData(ud) => ud.borrow::<SignalHandle>().map(|s| s.watcher.clone()).ok(),
        _ => None,
    }
    .ok_or_else(|| {
        mlua::Error::runtime(format!(
            "calling '{fname}' on bad self (signal expected; use s:{}(...))",
            fname.trim_start_matches("signal:")
        ))
    })
}

fn waited(lua: &Lua, w: &Watcher, r: Waited) -> mlua::Result<MultiValue> {
    match r {
        Waited::Signal => Ok(MultiValue::from_iter([Value::Boolean(true)])),
        Waited::Timeout => failure(
            lua,
            NetError::new("timeout", format!("signal:wait ({}): timed out", w.name())),
        ),
        Waited::Closed => failure(
            lua,
            NetError::new(
                "closed",
                format!("signal:wait ({}): the signal object is closed", w.name()),
            ),
        ),
    }
}

fn wait_method(lua: &Lua) -> mlua::Result<Function> {
    let twin = async_fn(lua, |lua, (ud, t): (AnyUserData, Value)| async move {
        let w = ud.borrow::<SignalHandle>()?.watcher.clone();
        let rt = Runtime::get(&lua)?;
        let r = w.wait(&rt, timeout_arg(&t, 1, "signal:wait")?).await;
        waited(&lua, &w, r)
    })?;
    let sync = lua.create_function(move |lua, (this, t): (Value, Value)| {
        let w = watcher_of(&this, "signal:wait")?;
        let limit = timeout_arg(&t, 1, "signal:wait")?;
        let rt = Runtime::get(lua)?;
        // Deliveries that arrived since the loop last ran count too.
        rt.signals.read_all();
        if let Some(now) = w.take() {
            return waited(lua, &w, now);
        }
        if limit.is_some_and(|d| d.is_zero()) {
            return waited(lua, &w, Waited::Timeout);
        }
        dispatch(lua, &rt, "signal:wait", &twin, (this, t), || async {
            let r = w.wait(&rt, limit).await;
            waited(lua, &w, r)
        })
    })?;
    wrap(lua, sync)
}

impl UserData for SignalHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.signal");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("wait", wait_method(lua)?)?;
            t.set(
                "pending",
                lua.create_function(|lua, this: Value| {
                    let w = watcher_of(&this, "signal:pending")?;
                    let rt = Runtime::get(lua)?;
                    rt.signals.read_all();
                    Ok(w.pending())
                })?,
            )?;
            t.set(
                "close",
                lua.create_function(|lua, this: Value| {
                    let w = watcher_of(&this, "signal:close")?;
                    Runtime::get(lua)?.signals.unwatch(&w);
                    Ok(true)
                })?,
            )?;
            Ok(t)
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        // By name: MetaMethod::Close exists only for Lua 5.4, where `<close>` does.
        m.add_meta_method("__close", |_, s, _: MultiValue| {
            s.close();
            Ok(())
        });
        m.add_meta_method(MetaMethod::ToString, |_, s, ()| {
            let state = if s.watcher.is_closed() { " (closed)" } else { "" };
            Ok(format!("tls.signal ({}){state}", s.watcher.name()))
        });
    }
}

pub(crate) fn register(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.set(
        "signal",
        lua.create_function(|lua, name: Value| {
            let text = match &name {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad argument #1 to 'loop.signal' (signal name expected, got {})",
                        match other {
                            Value::Integer(_) => "number",
                            v => v.type_name(),
                        }
                    )))
                }
            };
            let signal = parse(&text).map_err(|why| {
                mlua::Error::runtime(format!("bad argument #1 to 'loop.signal' ({why})"))
            })?;
            let rt = Runtime::get(lua)?;
            match rt.signals.watch(&rt, signal) {
                Ok(watcher) => Ok(MultiValue::from_iter([Value::UserData(
                    lua.create_userdata(SignalHandle {
                        watcher,
                        rt: Rc::downgrade(&rt),
                    })?,
                )])),
                Err(e) => failure(
                    lua,
                    NetError::from_io(&format!("loop.signal {}", signal.as_str()), &e),
                ),
            }
        })?,
    )
}

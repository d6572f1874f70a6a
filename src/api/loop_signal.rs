//! `loop.signal(name)`: the Lua face of [`crate::runtime::signal`].

use std::rc::{Rc, Weak};

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields,
    UserDataMethods, Value,
};

use super::surface;
use crate::error::NetError;
use crate::runtime::context::dispatch;
use crate::runtime::deadline::{seconds_arg, timeout_value};
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

fn watcher_of(v: Option<&Value>, fname: &str) -> mlua::Result<Rc<Watcher>> {
    Ok(surface::this::<SignalHandle>(fname, v)?.watcher.clone())
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
    let twin = surface::async_function(
        lua,
        "signal:wait",
        |lua, (ud, t): (AnyUserData, Option<f64>)| async move {
            let w = ud.borrow::<SignalHandle>()?.watcher.clone();
            let rt = Runtime::get(&lua)?;
            let r = w.wait(&rt, seconds_arg(t, 1, "signal:wait")?).await;
            waited(&lua, &w, r)
        },
    )?;
    surface::function(lua, "signal:wait", move |lua, args: MultiValue| {
        let w = watcher_of(args.front(), "signal:wait")?;
        let limit = timeout_value(args.get(1), 1, "signal:wait")?;
        let rt = Runtime::get(lua)?;
        // Deliveries that arrived since the loop last ran count too.
        rt.signals.read_all();
        if let Some(now) = w.take() {
            return waited(lua, &w, now);
        }
        if limit.is_some_and(|d| d.is_zero()) {
            return waited(lua, &w, Waited::Timeout);
        }
        dispatch(lua, &rt, "signal:wait", &twin, args, || async {
            let r = w.wait(&rt, limit).await;
            waited(lua, &w, r)
        })
    })
}

impl UserData for SignalHandle {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "tls.signal");
        f.add_meta_field_with("__index", |lua| {
            let t = lua.create_table()?;
            t.set("wait", wait_method(lua)?)?;
            t.set(
                "pending",
                surface::method(lua, "signal:pending", |lua, s: &SignalHandle, ()| {
                    Runtime::get(lua)?.signals.read_all();
                    Ok(s.watcher.pending())
                })?,
            )?;
            t.set(
                "close",
                surface::method(lua, "signal:close", |_, s: &SignalHandle, ()| {
                    s.close();
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
            let state = if s.watcher.is_closed() {
                " (closed)"
            } else {
                ""
            };
            Ok(format!("tls.signal ({}){state}", s.watcher.name()))
        });
    }
}

pub(crate) fn register(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.set(
        "signal",
        surface::function(lua, "loop.signal", |lua, name: Value| {
            let text = match &name {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(surface::bad_argument(
                        1,
                        "loop.signal",
                        format_args!("signal name expected, got {}", surface::type_name(other)),
                    ))
                }
            };
            let signal =
                parse(&text).map_err(|why| surface::bad_argument(1, "loop.signal", why))?;
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

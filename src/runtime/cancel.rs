//! `task:cancel`: how a cancelled task's waits raise.
//!
//! [`super::executor::Executor::cancel`] marks the task and wakes it. Every
//! place a task waits then checks the mark whenever it would (go on)
//! waiting: the async twins made by [`async_fn`] drop their future and
//! return [`marker`] followed by the error value, and the streams' plain
//! methods return WAIT, [`marker`], value. The Lua wrappers (`wrap.lua`,
//! the stream wrappers) raise that value with `error(v, 0)`, so it reaches
//! `pcall` and `<close>` as exactly the value the user expects: a string,
//! or the reason itself when it is not one. A call that can finish at once
//! does not wait, so it does not raise.

use std::future::{poll_fn, Future};
use std::task::Poll;

use mlua::{Function, FromLuaMulti, IntoLuaMulti, LightUserData, Lua, MultiValue, Value};

use super::Runtime;

/// Precedes the error value in results that the Lua side must raise.
pub(crate) fn marker() -> LightUserData {
    static CANCEL: u8 = 0;
    LightUserData(&CANCEL as *const u8 as *mut std::ffi::c_void)
}

/// The error a cancelled task's waits raise: `"cancelled"`,
/// `"cancelled: <reason>"` for a string reason, or the reason itself.
pub(crate) fn error_value(lua: &Lua, reason: Value) -> mlua::Result<Value> {
    Ok(match reason {
        Value::Nil => Value::String(lua.create_string("cancelled")?),
        Value::String(s) => {
            let mut text = b"cancelled: ".to_vec();
            text.extend_from_slice(&s.as_bytes());
            Value::String(lua.create_string(text)?)
        }
        other => other,
    })
}

/// `lua.create_async_function` whose future gives way to a cancellation:
/// once its task is cancelled and the future is still pending, the future
/// is dropped (which ends what it was doing, as on a timeout) and the call
/// raises the cancellation error.
pub(crate) fn async_fn<F, A, FR, R>(lua: &Lua, func: F) -> mlua::Result<Function>
where
    F: Fn(Lua, A) -> FR + 'static,
    A: FromLuaMulti,
    FR: Future<Output = mlua::Result<R>> + 'static,
    R: IntoLuaMulti,
{
    lua.create_async_function(move |lua: Lua, args: A| {
        let inner = func(lua.clone(), args);
        async move {
            let rt = Runtime::get(&lua)?;
            let outcome = {
                let mut inner = std::pin::pin!(inner);
                poll_fn(|cx| match inner.as_mut().poll(cx) {
                    Poll::Ready(r) => Poll::Ready(Ok(r)),
                    Poll::Pending => match rt.exec.current_cancel() {
                        Some(v) => Poll::Ready(Err(v)),
                        None => Poll::Pending,
                    },
                })
                .await
            };
            match outcome {
                Ok(r) => r?.into_lua_multi(&lua),
                Err(v) => Ok(MultiValue::from_iter([Value::LightUserData(marker()), v])),
            }
        }
    })
}

//! `task:cancel`: how a cancelled task's waits raise.
//!
//! [`super::executor::Executor::cancel`] marks the task and wakes it. Every
//! place a task waits then checks the mark whenever it would (go on)
//! waiting: the async twins (`api::surface::async_function`, through
//! [`unless_cancelled`]) drop their future, and the streams' plain methods
//! forget their parked wait; both answer `RAISE, value`, so the Lua
//! wrappers raise the value with `error(v, 0)` and it reaches `pcall` and
//! `<close>` as exactly what the user expects: a string, or the reason
//! itself when it is not one. A call that can finish at once does not
//! wait, so it does not raise.

use std::future::{poll_fn, Future};
use std::task::Poll;

use mlua::{Lua, Value};

use super::Runtime;

/// The error a cancelled task's waits raise: `"cancelled"`,
/// `"cancelled: <reason>"` for a string reason, or the reason itself.
pub(crate) fn error_value(lua: &Lua, reason: Value) -> mlua::Result<Value> {
    Ok(match reason {
        // `false` is no reason either: as an error value it would make
        // `join` answer `false, false`, which says nothing.
        Value::Nil | Value::Boolean(false) => Value::String(lua.create_string("cancelled")?),
        Value::String(s) => {
            let mut text = b"cancelled: ".to_vec();
            text.extend_from_slice(&s.as_bytes());
            Value::String(lua.create_string(text)?)
        }
        other => other,
    })
}

/// Runs `fut` until it is done, or until it is pending in a task that was
/// cancelled: then the future is dropped (which ends what it was doing, as
/// a timeout would) and the cancellation value comes back instead. So it
/// is, with the error `what` raises, when the task's coroutine was resumed
/// by hand (see [`super::by_hand`]): then the future is not polled again.
pub(crate) async fn unless_cancelled<F: Future>(
    lua: &Lua,
    what: &str,
    fut: F,
) -> Result<F::Output, Value> {
    let rt = Runtime::get(lua).ok();
    let mut fut = std::pin::pin!(fut);
    let mut first = true;
    poll_fn(|cx| {
        // The first poll is the call itself, made where a wait may start.
        if !std::mem::take(&mut first) {
            if let Some(rt) = &rt {
                if let Some(id) = super::by_hand::task(lua, rt) {
                    return Poll::Ready(Err(super::by_hand::refuse_value(lua, rt, id, what)));
                }
            }
        }
        match fut.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(Ok(r)),
            Poll::Pending => match rt.as_ref().and_then(|rt| rt.exec.current_cancel()) {
                Some(v) => Poll::Ready(Err(v)),
                None => Poll::Pending,
            },
        }
    })
    .await
}

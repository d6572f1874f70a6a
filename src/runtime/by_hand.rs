//! A task's coroutine resumed by hand: `coroutine.resume` on what
//! `coroutine.running()` gave inside a task, while the task waits. The
//! wait then returns into code the loop is not running, with its socket,
//! timer or queue place still registered for the task.
//!
//! The first call of ours that sees it (the wait's retry, or any later
//! call that would wait) raises a clear error in the coroutine, forgets
//! the wait it was resumed out of, and marks the task broken: at the
//! loop's next turn the task ends with the same error (`join` answers
//! `false, err`; `loop.run` raises it when nobody joins), and the loop
//! never resumes that coroutine again. What the coroutine does after the
//! error is the resumer's business: each call that would wait raises it
//! again, and calls that can answer at once still do.

use std::task::Waker;

use mlua::{Lua, Value};

use super::Runtime;

/// The error, naming the call that saw it.
fn text(what: &str) -> String {
    format!(
        "{what}: this task's coroutine was resumed by coroutine.resume, not by the loop \
         (a task's coroutine is the loop's to resume; hand a task values through \
         loop.queue or loop.cond instead)"
    )
}

/// When the running coroutine is a task's and the loop is not running it
/// (see the module docs): the task's waker, with which its wait was
/// parked, and the error to raise. `None` otherwise, the common case,
/// found without a search while the loop runs that very coroutine.
pub(crate) fn check(lua: &Lua, rt: &Runtime, what: &str) -> Option<(Waker, mlua::Error)> {
    let me = lua.current_thread().to_pointer();
    if rt.exec.current_thread() == Some(me) {
        return None;
    }
    let id = rt.exec.resumed_by_hand(me)?;
    let waker = rt.exec.waker_of(id)?;
    Some((waker, refuse(lua, rt, id, what)))
}

/// Marks task `id` broken and returns the error to raise in its coroutine.
pub(crate) fn refuse(lua: &Lua, rt: &Runtime, id: usize, what: &str) -> mlua::Error {
    let message = text(what);
    if let Ok(s) = lua.create_string(&message) {
        rt.exec.break_task(id, Value::String(s));
    }
    mlua::Error::runtime(message)
}

/// The error of a task whose coroutine the loop found unresumable: only
/// a resume by hand can have run it to its end (or to an error) outside
/// the loop.
pub(crate) fn ended_outside(lua: &Lua) -> Value {
    let message = text("task").replacen(
        "not by the loop",
        "not by the loop, and ended outside it",
        1,
    );
    lua.create_string(message).map_or(Value::Nil, Value::String)
}

/// [`check`] for an async twin's future, as the value to raise.
pub(crate) fn check_value(lua: &Lua, rt: &Runtime, what: &str) -> Option<Value> {
    let (_, e) = check(lua, rt, what)?;
    let text = match e {
        mlua::Error::RuntimeError(t) => t,
        other => other.to_string(),
    };
    Some(lua.create_string(text).map_or(Value::Nil, Value::String))
}

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

use mlua::{Lua, Value};

use super::Runtime;

/// What the error says after naming the call that saw it.
const WHY: &str = "this task's coroutine was resumed by coroutine.resume, not by the loop";
const HINT: &str = "(a task's coroutine is the loop's to resume; hand a task values through \
                    loop.queue or loop.cond instead)";

fn text(what: &str) -> String {
    format!("{what}: {WHY} {HINT}")
}

/// The task whose coroutine is running while the loop is not running it
/// (see the module docs); `None` otherwise, the common case, found
/// without a search while the loop runs that very coroutine.
pub(crate) fn task(lua: &Lua, rt: &Runtime) -> Option<usize> {
    let me = lua.current_thread().to_pointer();
    if rt.exec.current_thread() == Some(me) {
        return None;
    }
    rt.exec.resumed_by_hand(me)
}

/// Marks task `id` broken with `message` (when the string can be made)
/// and returns it as a Lua value.
fn mark(lua: &Lua, rt: &Runtime, id: usize, message: &str) -> Value {
    let v = lua.create_string(message).map_or(Value::Nil, Value::String);
    if !v.is_nil() {
        rt.exec.break_task(id, v.clone());
    }
    v
}

/// Marks task `id` broken and returns the error to raise in its coroutine.
pub(crate) fn refuse(lua: &Lua, rt: &Runtime, id: usize, what: &str) -> mlua::Error {
    let message = text(what);
    mark(lua, rt, id, &message);
    mlua::Error::runtime(message)
}

/// [`refuse`] as the value to raise (for wrappers that raise it).
pub(crate) fn refuse_value(lua: &Lua, rt: &Runtime, id: usize, what: &str) -> Value {
    mark(lua, rt, id, &text(what))
}

/// The error of a task whose coroutine the loop found unresumable: only
/// a resume by hand can have run it to its end (or to an error) outside
/// the loop.
pub(crate) fn ended_outside(lua: &Lua) -> Value {
    let message = format!("task: {WHY}, and ended outside it {HINT}");
    lua.create_string(message).map_or(Value::Nil, Value::String)
}

//! `loop.poll(fd, events [, timeout])`: the Lua face of
//! [`crate::runtime::poll`].

use mlua::{Function, Lua, MultiValue, ObjectLike, Table, Value};

use super::surface;
use crate::error::NetError;
use crate::runtime::context::dispatch;
use crate::runtime::deadline::{seconds_arg, timeout_value};
use crate::runtime::poll::{poll_fd, Ready};
use crate::runtime::Runtime;
use crate::stream::core::failure;

const FNAME: &str = "loop.poll";

/// A descriptor number: an integer, or what `obj:getfd()` returns.
fn fd_arg(v: &Value) -> mlua::Result<i64> {
    let got = match v {
        Value::Integer(n) => Value::Integer(*n),
        Value::Number(n) => Value::Number(*n),
        Value::Table(_) | Value::UserData(_) => {
            let getfd = match v {
                Value::Table(t) => t.get::<Value>("getfd"),
                Value::UserData(ud) => ud.get::<Value>("getfd"),
                _ => Ok(Value::Nil),
            };
            match getfd {
                Ok(Value::Function(f)) => f.call::<Value>(v.clone())?,
                _ => {
                    return Err(surface::bad_argument(
                        1,
                        FNAME,
                        format_args!(
                            "file descriptor or object with getfd() expected, got {} without getfd",
                            surface::type_name(v)
                        ),
                    ))
                }
            }
        }
        other => {
            return Err(surface::bad_argument(
                1,
                FNAME,
                format_args!(
                    "file descriptor or object with getfd() expected, got {}",
                    surface::type_name(other)
                ),
            ))
        }
    };
    match got {
        Value::Integer(n) => Ok(n),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Ok(n as i64),
        other => Err(surface::bad_argument(
            1,
            FNAME,
            format_args!(
                "integer file descriptor expected, got {}",
                surface::type_name(&other)
            ),
        )),
    }
}

fn events_arg(v: &Value) -> mlua::Result<Ready> {
    let text = match v {
        Value::String(s) => s.to_string_lossy(),
        _ => String::new(),
    };
    match text.as_str() {
        "r" => Ok(Ready {
            read: true,
            write: false,
        }),
        "w" => Ok(Ready {
            read: false,
            write: true,
        }),
        "rw" | "wr" => Ok(Ready {
            read: true,
            write: true,
        }),
        _ => Err(surface::bad_argument(
            2,
            FNAME,
            format_args!(
                "\"r\", \"w\" or \"rw\" expected, got {}",
                match v {
                    Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
                    other => surface::type_name(other).to_string(),
                }
            ),
        )),
    }
}

fn result(lua: &Lua, r: Result<Ready, NetError>) -> mlua::Result<MultiValue> {
    let text = match r {
        Err(e) => return failure(lua, e),
        Ok(Ready {
            read: true,
            write: true,
        }) => "rw",
        Ok(Ready { read: true, .. }) => "r",
        Ok(Ready { write: true, .. }) => "w",
        Ok(_) => return failure(lua, NetError::new("timeout", format!("{FNAME}: timed out"))),
    };
    Ok(MultiValue::from_iter([Value::String(
        lua.create_string(text)?,
    )]))
}

/// Narrows a descriptor number to the platform's type; out of range is
/// treated like any other descriptor that is not open.
fn raw(fd: i64) -> i32 {
    i32::try_from(fd).unwrap_or(-1)
}

pub(crate) fn register(lua: &Lua, t: &Table) -> mlua::Result<()> {
    let twin = surface::async_function(
        lua,
        FNAME,
        |lua, (fd, want, timeout): (i64, Value, Option<f64>)| async move {
            let rt = Runtime::get(&lua)?;
            let want = events_arg(&want)?;
            let r = poll_fd(&rt, raw(fd), want, seconds_arg(timeout, 3, FNAME)?).await;
            result(&lua, r)
        },
    )?;
    let f: Function = surface::function(lua, FNAME, move |lua, args: MultiValue| {
        let fd = fd_arg(args.front().unwrap_or(&Value::Nil))?;
        let want = args.get(1).cloned().unwrap_or(Value::Nil);
        let ready = events_arg(&want)?;
        let timeout = args.get(2).cloned().unwrap_or(Value::Nil);
        let limit = timeout_value(Some(&timeout), 3, FNAME)?;
        let rt = Runtime::get(lua)?;
        dispatch(lua, &rt, FNAME, &twin, (fd, want, timeout), || async {
            result(lua, poll_fd(&rt, raw(fd), ready, limit).await)
        })
    })?;
    t.set("poll", f)
}

//! Socket options from a Lua table: `timeout`, `nodelay`, `backlog`,
//! `reuseport`, `maxline`, `max_connections`. Unknown keys raise unless the caller (TLS) knows them.

use std::time::Duration;

use mlua::{Table, Value};

use crate::api::surface::{bad_argument, type_name};
use crate::runtime::deadline::seconds;
use crate::stream::core::DEFAULT_MAX_LINE;
use crate::stream::limits::{at_least, whole};

/// Keys the TCP layer reads.
pub(crate) const TCP_KEYS: &[&str] = &[
    "timeout",
    "nodelay",
    "backlog",
    "reuseport",
    "maxline",
    "max_connections",
];

#[derive(Debug, Clone)]
pub(crate) struct TcpOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) nodelay: bool,
    pub(crate) backlog: i32,
    pub(crate) reuseport: bool,
    pub(crate) max_line: usize,
    /// Servers: handlers that may run at once (`None`: no limit).
    pub(crate) max_connections: Option<usize>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            timeout: None,
            nodelay: true,
            backlog: 1024,
            reuseport: false,
            max_line: DEFAULT_MAX_LINE,
            max_connections: None,
        }
    }
}

impl TcpOptions {
    /// Reads the TCP keys of `t`, argument `arg` of `fname`; any other key
    /// must be in `also`, or it raises.
    pub(crate) fn from_lua(
        t: Option<&Table>,
        arg: usize,
        fname: &str,
        also: &[&str],
    ) -> mlua::Result<Self> {
        let mut o = Self::default();
        let Some(t) = t else { return Ok(o) };
        let bad = |k: &str, why: &str, v: &Value| bad_option(arg, fname, k, why, v);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let key = option_name(&k, arg, fname)?;
            match key.as_str() {
                "timeout" => o.timeout = timeout_option(&v, arg, fname)?,
                "nodelay" => {
                    o.nodelay = boolean(&v).ok_or_else(|| bad("nodelay", "boolean", &v))?
                }
                "reuseport" => {
                    o.reuseport = boolean(&v).ok_or_else(|| bad("reuseport", "boolean", &v))?
                }
                "backlog" => {
                    o.backlog = whole(&v)
                        .and_then(|n| i32::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("backlog", "positive integer", &v))?
                }
                "maxline" => {
                    // The same rule as ios:setmaxline.
                    o.max_line =
                        at_least(&v, 1).ok_or_else(|| bad("maxline", "positive integer", &v))?
                }
                "max_connections" => {
                    o.max_connections = Some(
                        at_least(&v, 1)
                            .ok_or_else(|| bad("max_connections", "positive integer", &v))?,
                    )
                }
                k if also.contains(&k) => {}
                k => return Err(unknown_option(arg, fname, k)),
            }
        }
        Ok(o)
    }
}

// ---- shared by every options table (TCP, TLS's TCP part, UDP) ----

/// Misuse of option `k` of argument `arg`, in the bad-argument style:
/// `bad argument #3 to 'udp.bind' (option 'ttl': integer 1-255 expected,
/// got string)`.
pub(crate) fn bad_option(
    arg: usize,
    fname: &str,
    k: &str,
    expected: &str,
    v: &Value,
) -> mlua::Error {
    option_error(arg, fname, k, expected, type_name(v))
}

/// [`bad_option`] for an option with a range: a number is shown as itself
/// (`got 300`), anything else by its type.
pub(crate) fn bad_option_value(
    arg: usize,
    fname: &str,
    k: &str,
    expected: &str,
    v: &Value,
) -> mlua::Error {
    let got = match v {
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => crate::stream::number::float_text(*n),
        _ => type_name(v).to_string(),
    };
    option_error(arg, fname, k, expected, &got)
}

fn option_error(arg: usize, fname: &str, k: &str, expected: &str, got: &str) -> mlua::Error {
    bad_argument(
        arg,
        fname,
        format_args!("option '{k}': {expected} expected, got {got}"),
    )
}

/// The name of an option, which must be a string.
pub(crate) fn option_name(k: &Value, arg: usize, fname: &str) -> mlua::Result<String> {
    match k {
        Value::String(s) => Ok(s.to_string_lossy()),
        other => Err(bad_argument(
            arg,
            fname,
            format_args!("option names are strings, got {}", type_name(other)),
        )),
    }
}

/// An option this call does not know.
pub(crate) fn unknown_option(arg: usize, fname: &str, k: &str) -> mlua::Error {
    bad_argument(arg, fname, format_args!("unknown option '{k}'"))
}

/// The `timeout` option: seconds, or `nil` for none.
pub(crate) fn timeout_option(v: &Value, arg: usize, fname: &str) -> mlua::Result<Option<Duration>> {
    let s = match v {
        Value::Nil => None,
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => return Err(bad_option(arg, fname, "timeout", "number of seconds", v)),
    };
    seconds(s).map_err(|why| bad_argument(arg, fname, format_args!("option 'timeout': {why}")))
}

pub(crate) fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

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
        let bad = |k: &str, why: &str, v: &Value| {
            bad_argument(
                arg,
                fname,
                format_args!("option '{k}': {why} expected, got {}", type_name(v)),
            )
        };
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let key = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(bad_argument(
                        arg,
                        fname,
                        format_args!("option names are strings, got {}", type_name(other)),
                    ))
                }
            };
            match key.as_str() {
                "timeout" => {
                    let s = match v {
                        Value::Nil => None,
                        Value::Integer(i) => Some(i as f64),
                        Value::Number(n) => Some(n),
                        _ => return Err(bad("timeout", "number of seconds", &v)),
                    };
                    o.timeout = seconds(s).map_err(|why| {
                        bad_argument(arg, fname, format_args!("option 'timeout': {why}"))
                    })?;
                }
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
                k => {
                    return Err(bad_argument(
                        arg,
                        fname,
                        format_args!("unknown option '{k}'"),
                    ))
                }
            }
        }
        Ok(o)
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

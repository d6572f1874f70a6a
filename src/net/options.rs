//! Socket options from a Lua table: `timeout`, `nodelay`, `backlog`,
//! `reuseport`, `maxline`, `max_connections`. Unknown keys raise unless the caller (TLS) knows them.

use std::time::Duration;

use mlua::{Table, Value};

use crate::runtime::deadline::seconds;
use crate::stream::core::DEFAULT_MAX_LINE;

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
    /// Reads the TCP keys of `t`; any other key must be in `also`, or it raises.
    pub(crate) fn from_lua(t: Option<&Table>, fname: &str, also: &[&str]) -> mlua::Result<Self> {
        let mut o = Self::default();
        let Some(t) = t else { return Ok(o) };
        let bad = |k: &str, why: &str| mlua::Error::runtime(format!("{fname}: option '{k}' {why}"));
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let key = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "{fname}: option keys must be strings, got {}",
                        other.type_name()
                    )))
                }
            };
            match key.as_str() {
                "timeout" => {
                    let s = match v {
                        Value::Nil => None,
                        Value::Integer(i) => Some(i as f64),
                        Value::Number(n) => Some(n),
                        _ => return Err(bad("timeout", "must be a number of seconds")),
                    };
                    o.timeout = seconds(s, fname)?;
                }
                "nodelay" => {
                    o.nodelay = boolean(&v).ok_or_else(|| bad("nodelay", "must be a boolean"))?
                }
                "reuseport" => {
                    o.reuseport =
                        boolean(&v).ok_or_else(|| bad("reuseport", "must be a boolean"))?
                }
                "backlog" => {
                    o.backlog = integer(&v)
                        .and_then(|n| i32::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("backlog", "must be a positive integer"))?
                }
                "maxline" => {
                    o.max_line = integer(&v)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("maxline", "must be a positive integer"))?
                }
                "max_connections" => {
                    o.max_connections = Some(
                        integer(&v)
                            .and_then(|n| usize::try_from(n).ok())
                            .filter(|n| *n > 0)
                            .ok_or_else(|| bad("max_connections", "must be a positive integer"))?,
                    )
                }
                k if also.contains(&k) => {}
                k => {
                    return Err(mlua::Error::runtime(format!(
                        "{fname}: unknown option '{k}'"
                    )))
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

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.fract() == 0.0 => Some(*n as i64),
        _ => None,
    }
}

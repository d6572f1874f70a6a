//! The options table of `udp.bind` and `udp.connect`, read into
//! [`UdpOptions`]. Misuse raises in the bad-argument style the TCP options
//! use (`net/options.rs`, whose helpers these are), naming the argument.

use std::net::{IpAddr, Ipv4Addr};

use mlua::{Table, Value};

use super::options::{
    bad_option, bad_option_value, boolean, option_name, timeout_option, unknown_option,
};
use super::udp::{Multicast, UdpOptions, MAX_DATAGRAM};
use crate::api::surface::{bad_argument, type_name};
use crate::stream::limits::whole;

/// Keys of the `multicast` table.
const MULTICAST_KEYS: &[&str] = &["group", "interface", "loop", "ttl"];

/// Reads `t`, argument `arg` of `fname`. Unknown keys raise.
pub(crate) fn from_lua(t: Option<&Table>, arg: usize, fname: &str) -> mlua::Result<UdpOptions> {
    let mut o = UdpOptions::default();
    let Some(t) = t else { return Ok(o) };
    let bad = |k: &str, why: &str, v: &Value| bad_option(arg, fname, k, why, v);
    let in_range = |k: &str, v: &Value, lo: i64, hi: i64, why: &str| {
        whole(v)
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| bad_option_value(arg, fname, k, why, v))
    };
    let flag = |k: &str, v: &Value| boolean(v).ok_or_else(|| bad(k, "boolean", v));
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = option_name(&k, arg, fname)?;
        match key.as_str() {
            "reuseaddr" => o.reuseaddr = flag(&key, &v)?,
            "reuseport" => o.reuseport = flag(&key, &v)?,
            "broadcast" => o.broadcast = flag(&key, &v)?,
            // Linux refuses a unicast TTL (or hop limit) of 0.
            "ttl" => o.ttl = Some(in_range(&key, &v, 1, 255, "integer 1-255")? as u32),
            "rcvbuf" | "sndbuf" => {
                let n = in_range(&key, &v, 1, i32::MAX as i64, "positive integer")? as usize;
                if key == "rcvbuf" {
                    o.rcvbuf = Some(n);
                } else {
                    o.sndbuf = Some(n);
                }
            }
            "maxsize" => {
                let why = format!("integer 1-{MAX_DATAGRAM}");
                o.maxsize = Some(in_range(&key, &v, 1, MAX_DATAGRAM as i64, &why)? as usize);
            }
            "timeout" => o.timeout = timeout_option(&v, arg, fname)?,
            "multicast" => o.multicast = Some(multicast(&v, arg, fname)?),
            k => return Err(unknown_option(arg, fname, k)),
        }
    }
    Ok(o)
}

/// `multicast = { group = ..., interface = ..., loop = ..., ttl = ... }`.
fn multicast(v: &Value, arg: usize, fname: &str) -> mlua::Result<Multicast> {
    let bad = |field: &str, why: &str, v: &Value| {
        bad_option(arg, fname, &format!("multicast.{field}"), why, v)
    };
    let Value::Table(t) = v else {
        return Err(bad_option(
            arg,
            fname,
            "multicast",
            "table {group = ...}",
            v,
        ));
    };
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let name = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => format!("({})", type_name(other)),
        };
        if !MULTICAST_KEYS.contains(&name.as_str()) {
            let why = format!("option 'multicast': unknown field '{name}'");
            return Err(bad_argument(arg, fname, why));
        }
    }
    let group_value: Value = t.get("group")?;
    let group: IpAddr = match &group_value {
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|g| g.parse().ok())
            .filter(|g: &IpAddr| g.is_multicast())
            .ok_or_else(|| {
                let why = format!(
                    "option 'multicast.group': '{}' is not a multicast address",
                    s.to_string_lossy()
                );
                bad_argument(arg, fname, why)
            })?,
        other => return Err(bad("group", "multicast address", other)),
    };
    let (mut interface, mut index) = (None, 0);
    let iface: Value = t.get("interface")?;
    match (&iface, group) {
        (Value::Nil, _) => {}
        (Value::String(s), IpAddr::V4(_)) => {
            let text = s.to_string_lossy();
            let ip: Ipv4Addr = text.parse().map_err(|_| {
                let why = format!("option 'multicast.interface': '{text}' is not an IPv4 address");
                bad_argument(arg, fname, why)
            })?;
            interface = Some(IpAddr::V4(ip));
        }
        (_, IpAddr::V4(_)) => return Err(bad("interface", "IPv4 address (text)", &iface)),
        (_, IpAddr::V6(_)) => {
            index = whole(&iface)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    let k = "multicast.interface";
                    bad_option_value(arg, fname, k, "interface index (integer)", &iface)
                })?;
        }
    }
    let loop_value: Value = t.get("loop")?;
    let looped = match loop_value {
        Value::Nil => None,
        ref v => Some(boolean(v).ok_or_else(|| bad("loop", "boolean", v))?),
    };
    // 0 is valid here: the datagrams stay on this host.
    let ttl_value: Value = t.get("ttl")?;
    let ttl = match ttl_value {
        Value::Nil => None,
        ref v => Some(
            whole(v)
                .filter(|n| (0..=255).contains(n))
                .ok_or_else(|| bad_option_value(arg, fname, "multicast.ttl", "integer 0-255", v))?
                as u32,
        ),
    };
    Ok(Multicast {
        group,
        interface,
        index,
        looped,
        ttl,
    })
}

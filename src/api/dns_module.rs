//! `tls.dns`: `address(host, family, proto, port)` and `config{...}`.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use mlua::{AnyUserData, Function, Lua, MultiValue, Table, UserData, Value};

use super::surface;
use crate::dns::addr::Family;
use crate::dns::resolve::Resolved;
use crate::dns::resolver::{finish, service_port, Running, Settings, Start};
use crate::dns::services::Proto;
use crate::error::NetResult;
use crate::net::addr;
use crate::runtime::context::{block_on, cannot_wait, go_async, locate, Where};
use crate::runtime::Runtime;
use crate::stream::core::failure;

/// The checked arguments of `dns.address`.
#[derive(Clone, Copy)]
struct Query {
    family: Family,
    port: u16,
}

fn bad(arg: usize, why: impl std::fmt::Display) -> mlua::Error {
    surface::bad_argument(arg, "dns.address", why)
}

fn text_arg(v: &Value, arg: usize, what: &str) -> mlua::Result<Option<String>> {
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(
            s.to_str()
                .map_err(|_| bad(arg, format!("{what} is not valid text")))?
                .to_string(),
        )),
        other => Err(bad(
            arg,
            format!("{what} expected, got {}", surface::type_name(other)),
        )),
    }
}

/// Reads `host, family, proto, port`; misuse raises.
fn args(args: &MultiValue) -> mlua::Result<(String, Query)> {
    let get = |i: usize| args.get(i).cloned().unwrap_or(Value::Nil);
    let host = match get(0) {
        Value::String(s) => s
            .to_str()
            .map_err(|_| bad(1, "host name is not valid text"))?
            .to_string(),
        other => {
            return Err(bad(
                1,
                format!("string expected, got {}", surface::type_name(&other)),
            ))
        }
    };
    let family = match text_arg(&get(1), 2, "family")? {
        None => Family::Any,
        Some(f) => Family::from_lua(&f)
            .ok_or_else(|| bad(2, format!("family must be 'ip', 'ip4' or 'ip6', got '{f}'")))?,
    };
    let proto = match text_arg(&get(2), 3, "protocol")? {
        None => Proto::Tcp,
        Some(p) => Proto::from_lua(&p)
            .ok_or_else(|| bad(3, format!("protocol must be 'tcp' or 'udp', got '{p}'")))?,
    };
    let port = match get(3) {
        Value::Nil => 0,
        Value::Integer(i) => {
            u16::try_from(i).map_err(|_| bad(4, format!("port {i} is not in 0-65535")))?
        }
        Value::Number(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) => n as u16,
        Value::Number(n) => return Err(bad(4, format!("port {n} is not in 0-65535"))),
        Value::String(s) => {
            let text = s.to_str().map_err(|_| bad(4, "port is not valid text"))?;
            service_port(text.trim(), proto).ok_or_else(|| {
                let kind = if proto == Proto::Tcp { "tcp" } else { "udp" };
                bad(4, format!("unknown {kind} service '{}'", text.trim()))
            })?
        }
        other => {
            return Err(bad(
                4,
                format!(
                    "port number or service name expected, got {}",
                    surface::type_name(&other)
                ),
            ))
        }
    };
    Ok((host, Query { family, port }))
}

/// The array of address objects, or `nil, msg, code`.
fn answer(
    lua: &Lua,
    rt: &Runtime,
    result: NetResult<Resolved>,
    port: u16,
) -> mlua::Result<MultiValue> {
    match result {
        Ok(resolved) => {
            let mut ips: Vec<IpAddr> = resolved.addrs;
            rt.dns.sort(&mut ips);
            let t = lua.create_table_with_capacity(ips.len(), 0)?;
            for (i, ip) in ips.into_iter().enumerate() {
                t.raw_set(i + 1, addr::to_lua(lua, SocketAddr::new(ip, port))?)?;
            }
            Ok(MultiValue::from_iter([Value::Table(t)]))
        }
        Err(e) => failure(lua, e),
    }
}

/// A request handed from `address` to its async twin.
struct Pending {
    port: u16,
    running: Box<Running>,
}

impl UserData for Pending {}

fn address(lua: &Lua) -> mlua::Result<Function> {
    let twin = surface::async_function(lua, "dns.address", |lua, ud: AnyUserData| async move {
        let p: Pending = ud.take()?;
        let rt = Runtime::get(&lua)?;
        let result = finish(&rt, p.running).await;
        answer(&lua, &rt, result, p.port)
    })?;
    surface::function(lua, "dns.address", move |lua, a: MultiValue| {
        let (host, q) = args(&a)?;
        let rt = Runtime::get(lua)?;
        let running = match rt.dns.start(&host, q.family) {
            Start::Done(result) => return answer(lua, &rt, result, q.port),
            Start::Network(running) => running,
        };
        match locate(lua, &rt) {
            Where::Task => {
                let ud = lua.create_userdata(Pending {
                    port: q.port,
                    running,
                })?;
                go_async(lua, &twin, ud)
            }
            Where::Blocking => {
                let result = block_on(&rt, finish(&rt, running))?;
                answer(lua, &rt, result, q.port)
            }
            at => Err(cannot_wait(lua, &rt, at, "dns.address")),
        }
    })
}

/// Keys `dns.config` knows.
const CONFIG_KEYS: &[&str] = &[
    "nameservers",
    "timeout",
    "attempts",
    "search",
    "hosts",
    "cache",
    "ndots",
];

fn config_error(why: impl std::fmt::Display) -> mlua::Error {
    surface::bad_argument(1, "dns.config", why)
}

fn override_error(e: crate::dns::conf::OverrideError) -> mlua::Error {
    config_error(format_args!("option '{}': {}", e.key, e.reason))
}

/// A list of strings: an array, or one string for a list of one.
fn string_list(v: &Value, key: &str) -> mlua::Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.to_string_lossy()]),
        Value::Table(t) => {
            let mut out = Vec::new();
            for item in t.clone().sequence_values::<Value>() {
                match item? {
                    Value::String(s) => out.push(s.to_string_lossy()),
                    other => {
                        return Err(config_error(format!(
                            "option '{key}': array of strings expected, found a {} in it",
                            surface::type_name(&other)
                        )))
                    }
                }
            }
            Ok(out)
        }
        other => Err(config_error(format!(
            "option '{key}': array of strings expected, got {}",
            surface::type_name(other)
        ))),
    }
}

fn number(v: &Value, key: &str) -> mlua::Result<f64> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(n) => Ok(*n),
        other => Err(config_error(format!(
            "option '{key}': number expected, got {}",
            surface::type_name(other)
        ))),
    }
}

fn integer(v: &Value, key: &str) -> mlua::Result<i64> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(*n as i64),
        other => Err(config_error(format!(
            "option '{key}': integer expected, got {}",
            match other {
                Value::Number(n) => n.to_string(),
                o => surface::type_name(o).to_string(),
            }
        ))),
    }
}

/// Applies the keys of `t` to a copy of `settings`; `false` resets a key
/// to what the system files say.
fn read_settings(t: &Table, mut settings: Settings) -> mlua::Result<Settings> {
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => {
                return Err(config_error(format!(
                    "option names are strings, got {}",
                    surface::type_name(other)
                )))
            }
        };
        if !CONFIG_KEYS.contains(&key.as_str()) {
            return Err(config_error(format!(
                "unknown option '{key}'; known: {}",
                CONFIG_KEYS.join(", ")
            )));
        }
        let over = &mut settings.overrides;
        let reset = matches!(v, Value::Boolean(false)) && key != "cache";
        match key.as_str() {
            "nameservers" if reset => over.nameservers = None,
            "nameservers" => over
                .set_nameservers(&string_list(&v, "nameservers")?)
                .map_err(override_error)?,
            "timeout" if reset => over.timeout = None,
            "timeout" => over
                .set_timeout(number(&v, "timeout")?)
                .map_err(override_error)?,
            "attempts" if reset => over.attempts = None,
            "attempts" => over
                .set_attempts(integer(&v, "attempts")?)
                .map_err(override_error)?,
            "search" if reset => over.search = None,
            "search" => over
                .set_search(&string_list(&v, "search")?)
                .map_err(override_error)?,
            "hosts" if reset => over.hosts = None,
            "hosts" => match &v {
                Value::String(s) if !s.as_bytes().is_empty() => {
                    over.hosts = Some(std::path::PathBuf::from(s.to_string_lossy()))
                }
                other => {
                    return Err(config_error(format!(
                        "option 'hosts': file name expected, got {}",
                        surface::type_name(other)
                    )))
                }
            },
            "cache" => match v {
                Value::Boolean(b) => settings.cache = b,
                other => {
                    return Err(config_error(format!(
                        "option 'cache': boolean expected, got {}",
                        surface::type_name(&other)
                    )))
                }
            },
            "ndots" if reset => settings.ndots = None,
            "ndots" => settings
                .set_ndots(integer(&v, "ndots")?)
                .map_err(config_error)?,
            _ => unreachable!("checked against CONFIG_KEYS"),
        }
    }
    Ok(settings)
}

/// The settings in force, as a table.
fn settings_table(lua: &Lua, rt: &Rc<Runtime>) -> mlua::Result<Table> {
    // Copied out first: building the table may run finalizers, which must
    // not find the resolver borrowed.
    let (conf, cache) = {
        let state = rt.dns.state();
        (state.conf.clone(), state.settings.cache)
    };
    let t = lua.create_table()?;
    let servers = lua.create_table()?;
    for (i, s) in conf.nameservers.iter().enumerate() {
        servers.raw_set(i + 1, s.to_string())?;
    }
    t.raw_set("nameservers", servers)?;
    let search = lua.create_table()?;
    for (i, s) in conf.search.iter().enumerate() {
        search.raw_set(i + 1, s.as_str())?;
    }
    t.raw_set("search", search)?;
    t.raw_set("timeout", conf.timeout.as_secs_f64())?;
    t.raw_set("attempts", conf.attempts)?;
    t.raw_set("ndots", conf.ndots)?;
    t.raw_set("rotate", conf.rotate)?;
    t.raw_set("edns0", conf.edns0)?;
    t.raw_set("tcp", conf.use_vc)?;
    t.raw_set("hosts", conf.hosts_path.to_string_lossy().into_owned())?;
    t.raw_set("cache", cache)?;
    Ok(t)
}

fn config(lua: &Lua, arg: Option<Value>) -> mlua::Result<Table> {
    let rt = Runtime::get(lua)?;
    match arg {
        None | Some(Value::Nil) => {}
        Some(Value::Table(t)) => {
            let current = rt.dns.state().settings.clone();
            // Every key is checked before anything changes.
            let settings = read_settings(&t, current)?;
            rt.dns.state().configure(settings);
        }
        Some(other) => {
            return Err(surface::bad_argument(
                1,
                "dns.config",
                format_args!("table expected, got {}", surface::type_name(&other)),
            ))
        }
    }
    settings_table(lua, &rt)
}

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("address", address(lua)?)?;
    t.set("config", surface::function(lua, "dns.config", config)?)?;
    Ok(t)
}

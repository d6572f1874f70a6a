//! Address objects: `{family = "ip4"|"ip6", addr = text, port = n}` with a
//! shared metatable whose `__tostring` gives `127.0.0.1:443` or `[::1]:443`;
//! Unix stream sockets are `{family = "unix", addr = "/path"|"@name"}`,
//! shown as `unix:/path`.

use std::net::{IpAddr, SocketAddr};

use mlua::{Lua, Table, Value};

use super::socket::Endpoint;

/// Parses `"ip:port"` or `"[v6]:port"`.
pub(crate) fn parse_text(s: &str) -> Option<SocketAddr> {
    // Surrounding blanks (say, from a config file) are tolerated.
    s.trim().parse::<SocketAddr>().ok()
}

/// A port number: an integer 0-65535, a float with such a value (as
/// `luaL_checkinteger` takes it, so `80.5` is none), or its decimal text.
/// The one check of every port the library takes (arguments, address
/// objects; service names are the callers' to look up).
pub(crate) fn port_number(v: &Value) -> Option<u16> {
    let n = match v {
        Value::String(s) => s.to_str().ok()?.trim().parse::<i64>().ok()?,
        v => crate::stream::limits::whole(v)?,
    };
    u16::try_from(n).ok()
}

/// An address argument: an address object (or any table with `addr` and
/// `port`) or text. Misuse raises, naming the argument.
pub(crate) fn from_lua(v: &Value, arg: usize, fname: &str) -> mlua::Result<SocketAddr> {
    let bad =
        |why: String| mlua::Error::runtime(format!("bad argument #{arg} to '{fname}' ({why})"));
    match v {
        Value::String(s) => {
            let text = s
                .to_str()
                .map_err(|_| bad("address is not valid text".into()))?;
            parse_text(&text).ok_or_else(|| {
                bad(format!(
                    "'{text}' is not an address such as 127.0.0.1:80 or [::1]:80"
                ))
            })
        }
        Value::Table(t) => {
            let ip: String = t
                .get("addr")
                .map_err(|_| bad("address object needs a text 'addr'".into()))?;
            let port: Value = t.get("port")?;
            let port = match port {
                Value::Integer(_) | Value::Number(_) | Value::String(_) => port_number(&port)
                    .ok_or_else(|| {
                        bad("address object's 'port' is not a port number 0-65535".into())
                    })?,
                _ => return Err(bad("address object needs a numeric 'port'".into())),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| bad(format!("'{ip}' is not an IP address")))?;
            Ok(SocketAddr::new(ip, port))
        }
        other => Err(bad(format!(
            "address expected, got {}",
            crate::api::surface::type_name(other)
        ))),
    }
}

/// A stream address argument: as [`from_lua`], or a Unix socket
/// (`"unix:/path"`, `"unix:@name"`, or an object whose family is `unix`).
pub(crate) fn endpoint_from_lua(v: &Value, arg: usize, fname: &str) -> mlua::Result<Endpoint> {
    let bad =
        |why: String| mlua::Error::runtime(format!("bad argument #{arg} to '{fname}' ({why})"));
    let unix = match v {
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|t| t.trim().strip_prefix("unix:").map(str::to_string)),
        Value::Table(t) => match t.get::<Option<String>>("family") {
            Ok(Some(f)) if f == "unix" => Some(
                t.get::<String>("addr")
                    .map_err(|_| bad("unix address object needs a text 'addr'".into()))?,
            ),
            _ => None,
        },
        _ => None,
    };
    match unix {
        Some(rest) => super::unix::parse(&rest).map_err(bad),
        None => from_lua(v, arg, fname).map(Endpoint::Ip),
    }
}

/// The address object for a stream endpoint.
pub(crate) fn endpoint_to_lua(lua: &Lua, e: &Endpoint) -> mlua::Result<Table> {
    match (e, e.unix_text()) {
        (Endpoint::Ip(a), _) => to_lua(lua, *a),
        (_, text) => {
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("family", "unix")?;
            t.raw_set("addr", text.unwrap_or_default())?;
            t.set_metatable(Some(metatable(lua)?))?;
            Ok(t)
        }
    }
}

/// The address object for `a`.
pub(crate) fn to_lua(lua: &Lua, a: SocketAddr) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 3)?;
    t.raw_set("family", if a.is_ipv4() { "ip4" } else { "ip6" })?;
    t.raw_set("addr", a.ip().to_string())?;
    t.raw_set("port", a.port())?;
    t.set_metatable(Some(metatable(lua)?))?;
    Ok(t)
}

fn metatable(lua: &Lua) -> mlua::Result<Table> {
    if let Some(mt) = lua.named_registry_value::<Option<Table>>("tls.address")? {
        return Ok(mt);
    }
    let mt: Table = lua
        .load(
            r#"return { __name = "tls.address",
                __tostring = function(a)
                  if a.family == "unix" then return "unix:" .. a.addr end
                  if a.family == "ip6" then return "[" .. a.addr .. "]:" .. a.port end
                  return a.addr .. ":" .. a.port
                end,
                __eq = function(a, b) return a.addr == b.addr and a.port == b.port end }"#,
        )
        .set_name("=tls.address")
        .eval()?;
    lua.set_named_registry_value("tls.address", &mt)?;
    Ok(mt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_families() {
        assert_eq!(
            parse_text("127.0.0.1:80"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(parse_text("[::1]:443"), Some("[::1]:443".parse().unwrap()));
        assert_eq!(parse_text("::1:443"), None);
        assert_eq!(parse_text("localhost:80"), None);
    }
}

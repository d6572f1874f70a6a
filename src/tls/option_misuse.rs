//! How a misused TLS option raises, one wording for every option module
//! (`options.rs`, `tuning.rs`, `revocation_options.rs`): `TLS option
//! 'alpn[2]' must be a string, got number`. Types are named as Lua's
//! `type()` names them ([`type_name`]), and an element of an array is
//! named by its index, so the message points at the value that is wrong.

use mlua::{Table, Value};

use crate::api::surface::type_name;

/// Misuse in the words given (the caller names the option).
pub fn misuse(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

/// Option (or element) `key` holds a value of the wrong type.
pub fn wrong_type(key: &str, want: &str, v: &Value) -> mlua::Error {
    misuse(format!(
        "TLS option '{key}' must be {want}, got {}",
        type_name(v)
    ))
}

/// A string option; its text must be UTF-8 (names, not bytes).
pub fn string(key: &str, v: &Value) -> mlua::Result<String> {
    match v {
        Value::String(s) => s
            .to_str()
            .map(|s| s.to_string())
            .map_err(|_| misuse(format!("TLS option '{key}' must be UTF-8 text"))),
        _ => Err(wrong_type(key, "a string", v)),
    }
}

/// A boolean option.
pub fn boolean(key: &str, v: &Value) -> mlua::Result<bool> {
    match v {
        Value::Boolean(b) => Ok(*b),
        _ => Err(wrong_type(key, "a boolean", v)),
    }
}

/// The elements of array option `key`, each read by `item` under its own
/// name (`key[1]`, `key[2]`...), so its errors say which one is wrong.
pub fn elements<T>(
    key: &str,
    t: &Table,
    mut item: impl FnMut(&str, &Value) -> mlua::Result<T>,
) -> mlua::Result<Vec<T>> {
    t.sequence_values::<Value>()
        .enumerate()
        .map(|(i, v)| item(&format!("{key}[{}]", i + 1), &v?))
        .collect()
}

/// One string or an array of strings (`alpn`, `protocols`, `ciphers`);
/// `want` describes what else is accepted, for a value of another type.
pub fn strings(key: &str, v: &Value, want: &str) -> mlua::Result<Vec<String>> {
    match v {
        Value::String(_) => Ok(vec![string(key, v)?]),
        Value::Table(t) => elements(key, t, string),
        _ => Err(wrong_type(key, want, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn message(lua: &Lua, src: &str, f: impl Fn(&Value) -> mlua::Result<()>) -> String {
        let v: Value = lua.load(src).eval().unwrap();
        crate::api::surface::message(&f(&v).unwrap_err())
    }

    #[test]
    fn types_are_lua_types_and_elements_have_names() {
        let lua = Lua::new();
        let list = |v: &Value| strings("alpn", v, "an array of strings").map(|_| ());
        assert_eq!(
            message(&lua, r#"{"h2", 5}"#, list),
            "TLS option 'alpn[2]' must be a string, got number"
        );
        assert_eq!(
            message(&lua, r#"{"h2", "x", {}}"#, list),
            "TLS option 'alpn[3]' must be a string, got table"
        );
        assert_eq!(
            message(&lua, "5", list),
            "TLS option 'alpn' must be an array of strings, got number"
        );
        assert_eq!(
            message(&lua, "1.5", |v| boolean("resumption", v).map(|_| ())),
            "TLS option 'resumption' must be a boolean, got number"
        );
        assert_eq!(
            message(&lua, r#""\255""#, |v| string("servername", v).map(|_| ())),
            "TLS option 'servername' must be UTF-8 text"
        );
        let v: Value = lua.load(r#"{"a", "b"}"#).eval().unwrap();
        assert_eq!(strings("alpn", &v, "").unwrap(), ["a", "b"]);
    }
}

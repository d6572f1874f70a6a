//! TLS (and TCP) option tables, built from arbitrary bytes: every key the
//! library knows plus unknown ones, with values of every Lua type.

use mlua::{Lua, Table, Value};

use crate::net::options::{TcpOptions, TCP_KEYS};
use crate::tls::options::{PemSource, TlsOptions, TLS_KEYS};

thread_local! {
    static LUA: Lua = Lua::new();
}

/// Reads bytes one at a time; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn value(lua: &Lua, b: &mut Bytes<'_>, depth: u32) -> mlua::Result<Value> {
    let sel = b.byte();
    let len = usize::from(b.byte() % 48);
    Ok(match sel % 10 {
        0 => Value::Boolean(sel & 0x10 != 0),
        1 => Value::Integer(i64::from(b.byte() as i8) * i64::from(b.byte())),
        2 => Value::Number(f64::from(b.byte()) / 4.0 - 8.0),
        3 => Value::String(lua.create_string(b.take(len))?),
        // PEM-looking text: kept as text by the option parser
        4 => {
            let mut s = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            s.extend_from_slice(b.take(len));
            Value::String(lua.create_string(&s)?)
        }
        5 => Value::String(lua.create_string(
            [
                "TLSv1.2", "TLSv1.3", "all", "h2", "required", "optional", "none", "",
            ][usize::from(b.byte()) % 8],
        )?),
        6 | 7 if depth < 3 => {
            let t = lua.create_table()?;
            for i in 0..usize::from(b.byte() % 4) {
                if sel % 10 == 6 {
                    t.raw_set(i + 1, value(lua, b, depth + 1)?)?;
                } else {
                    let k = ["cert", "key", "ocsp_staple", "x"][usize::from(b.byte()) % 4];
                    t.raw_set(k, value(lua, b, depth + 1)?)?;
                }
            }
            Value::Table(t)
        }
        8 => Value::Function(lua.create_function(|_, ()| Ok(()))?),
        _ => Value::Nil,
    })
}

fn table(lua: &Lua, data: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let mut b = Bytes(data);
    let known: Vec<&str> = TLS_KEYS.iter().chain(TCP_KEYS).copied().collect();
    while !b.is_empty() {
        let k = b.byte();
        let key = match k % 16 {
            15 => Value::Integer(i64::from(k)),
            14 => Value::String(lua.create_string(format!("unknown{k}"))?),
            _ => Value::String(lua.create_string(known[usize::from(k) % known.len()])?),
        };
        t.raw_set(key, value(lua, &mut b, 0)?)?;
    }
    Ok(t)
}

/// Parsing never panics, and misuse is reported in plain words; options
/// that parse can be loaded (PEM text only: paths are never opened here).
pub fn tls_options(data: &[u8]) {
    LUA.with(|lua| {
        let t = table(lua, data).expect("building the table");
        match TlsOptions::from_table(&t) {
            Ok(o) => {
                for ck in o.server_certs() {
                    for src in [&ck.cert, &ck.key] {
                        if let PemSource::Text(_) = src {
                            let _ = crate::tls::pem::load_certs(src);
                            let _ = crate::tls::pem::load_key(src);
                        }
                    }
                }
            }
            Err(e) => super::assert_plain_message(&e.to_string()),
        }
        if let Err(e) = TcpOptions::from_lua(Some(&t), 3, "tls.connect", TLS_KEYS) {
            let msg = e.to_string();
            assert!(msg.contains("bad argument #3 to 'tls.connect'"), "{msg}");
            super::assert_plain_message(&msg);
        }
    });
}

//! The Lua face of configuration: the `tls.config(opts)` userdata and the
//! helper that turns whatever a caller passed as `opts` (nil, a table, a
//! `tls.config`) into a shared [`TlsConfig`].

use std::sync::Arc;
use std::time::Duration;

use mlua::{AnyUserData, Lua, MetaMethod, Table, UserData, UserDataMethods, Value};

use super::cache::{shared, TlsConfig};
use super::options::TlsOptions;

/// The `tls.config(opts)` object: one [`TlsConfig`], so every connection
/// made with it shares one session store.
#[derive(Debug, Clone)]
pub struct LuaTlsConfig(pub Arc<TlsConfig>);

impl UserData for LuaTlsConfig {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("tls.config: {:p}", Arc::as_ptr(&this.0)))
        });
    }
}

/// Misuse found in an options table, as argument `arg` of `fname`.
fn bad_options(arg: usize, fname: &str, e: mlua::Error) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{arg} to '{fname}' ({})",
        crate::api::surface::message(&e)
    ))
}

/// `tls.config(opts)`: checks the options (raising on misuse) and returns
/// the userdata. The options table is kept as its user value so the TCP
/// layer can still read its keys (see [`tcp_options`]).
pub fn new_config(lua: &Lua, opts: Option<Table>) -> mlua::Result<AnyUserData> {
    let options = match &opts {
        Some(t) => TlsOptions::from_table(t).map_err(|e| bad_options(1, "tls.config", e))?,
        None => TlsOptions::default(),
    };
    let ud = lua.create_userdata(LuaTlsConfig(Arc::new(TlsConfig::new(options))))?;
    if let Some(t) = opts {
        ud.set_user_value(t)?;
    }
    Ok(ud)
}

/// What a TLS call needs from its `opts` argument.
#[derive(Debug, Clone)]
pub struct TlsArg {
    /// The configs to build connections from.
    pub config: Arc<TlsConfig>,
    /// The `timeout` option (connect plus handshake).
    pub timeout: Option<Duration>,
}

/// Reads an `opts` argument: nil, an options table (configs shared with
/// other calls with the same options), or a `tls.config` object. Raises
/// on misuse, as argument `arg` of `fname` (`3`, `"tls.connecta"`).
pub fn tls_arg(value: &Value, arg: usize, fname: &str) -> mlua::Result<TlsArg> {
    match value {
        Value::Nil => Ok(TlsArg {
            config: shared(&TlsOptions::default()),
            timeout: None,
        }),
        Value::Table(t) => {
            let options = TlsOptions::from_table(t).map_err(|e| bad_options(arg, fname, e))?;
            Ok(TlsArg {
                timeout: options.timeout,
                config: shared(&options),
            })
        }
        Value::UserData(ud) if ud.is::<LuaTlsConfig>() => {
            let config = ud.borrow::<LuaTlsConfig>()?.0.clone();
            Ok(TlsArg {
                timeout: config.options().timeout,
                config,
            })
        }
        other => Err(mlua::Error::runtime(format!(
            "bad argument #{arg} to '{fname}' (table or tls.config expected, got {})",
            crate::api::surface::type_name(other)
        ))),
    }
}

/// The table holding TCP keys (`nodelay`, `backlog`...) for an `opts`
/// argument: the table itself, or the one a `tls.config` was made from.
pub fn tcp_options(value: &Value) -> mlua::Result<Option<Table>> {
    match value {
        Value::Table(t) => Ok(Some(t.clone())),
        Value::UserData(ud) if ud.is::<LuaTlsConfig>() => ud.user_value::<Option<Table>>(),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_objects_keep_their_own_store() {
        let lua = Lua::new();
        let opts: Table = lua
            .load(r#"{ alpn = {"x-ud"}, timeout = 2, nodelay = true }"#)
            .eval()
            .unwrap();
        let ud = new_config(&lua, Some(opts)).unwrap();
        let v = Value::UserData(ud.clone());
        let a = tls_arg(&v, 3, "tls.connecta").unwrap();
        let b = tls_arg(&v, 3, "tls.connecta").unwrap();
        assert!(Arc::ptr_eq(&a.config, &b.config));
        assert_eq!(a.timeout, Some(Duration::from_secs(2)));
        let tcp = tcp_options(&v).unwrap().unwrap();
        assert!(tcp.get::<bool>("nodelay").unwrap());
        lua.globals().set("cfg", ud).unwrap();
        let s: String = lua.load("return tostring(cfg)").eval().unwrap();
        assert!(s.starts_with("tls.config: "), "{s}");
    }

    #[test]
    fn plain_tables_share_by_content() {
        let lua = Lua::new();
        let t1: Table = lua
            .load(r#"{ alpn = {"x-plain"}, timeout = 1 }"#)
            .eval()
            .unwrap();
        let t2: Table = lua.load(r#"{ alpn = {"x-plain"} }"#).eval().unwrap();
        let a = tls_arg(&Value::Table(t1), 3, "tls.connecta").unwrap();
        let b = tls_arg(&Value::Table(t2), 3, "tls.connecta").unwrap();
        assert!(Arc::ptr_eq(&a.config, &b.config));
        assert_eq!((a.timeout, b.timeout), (Some(Duration::from_secs(1)), None));
        assert!(tls_arg(&Value::Nil, 3, "tls.connecta").is_ok());
        let e = crate::api::surface::message(
            &tls_arg(&Value::Boolean(true), 3, "tls.connecta").unwrap_err(),
        );
        assert_eq!(
            e,
            "bad argument #3 to 'tls.connecta' (table or tls.config expected, got boolean)"
        );
        let bad: Table = lua.load(r#"{ bogus = 1 }"#).eval().unwrap();
        assert!(tls_arg(&Value::Table(bad), 3, "tls.connecta")
            .unwrap_err()
            .to_string()
            .contains("'bogus'"));
    }
}

//! Built configs that connections share. Resumption state lives in the
//! rustls config, so sessions resume only between connections that use
//! the same `Arc<ClientConfig>`: a [`TlsConfig`] builds each side once,
//! lazily, and [`shared`] keeps a few of them for plain option tables.

use std::sync::{Arc, Mutex};

use rustls::{ClientConfig, ServerConfig};

use super::config::{client_config, server_config};
use super::options::TlsOptions;
use super::sessions::Sessions;
use super::stamps::FileStamps;
use crate::error::NetError;

/// Options plus the rustls configs built from them on first use, built
/// again when a file the options name has changed since (see `stamps.rs`).
#[derive(Debug)]
pub struct TlsConfig {
    options: TlsOptions,
    /// The client's sessions, kept across rebuilds of its config.
    sessions: Arc<Sessions>,
    client: Mutex<Option<Built<ClientConfig>>>,
    server: Mutex<Option<Built<ServerConfig>>>,
}

/// A built config and the stamps of the files it was built from.
#[derive(Debug)]
struct Built<T> {
    config: Arc<T>,
    stamps: FileStamps,
}

impl TlsConfig {
    /// Wraps checked options; builds nothing yet.
    pub fn new(options: TlsOptions) -> Self {
        Self {
            options,
            sessions: Sessions::new(),
            client: Mutex::new(None),
            server: Mutex::new(None),
        }
    }

    /// The options this config was made from.
    pub fn options(&self) -> &TlsOptions {
        &self.options
    }

    /// The client config, built on first call and whenever its files
    /// changed (failures are not cached: the next call tries again).
    pub fn client(&self) -> Result<Arc<ClientConfig>, NetError> {
        fresh(&self.client, &self.options, |o| {
            client_config(o, &self.sessions)
        })
    }

    /// Where the client config keeps its sessions.
    pub(crate) fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// The server config, built like [`TlsConfig::client`].
    pub fn server(&self) -> Result<Arc<ServerConfig>, NetError> {
        fresh(&self.server, &self.options, server_config)
    }
}

/// The config in `slot` if its files are unchanged, else a new one.
fn fresh<T>(
    slot: &Mutex<Option<Built<T>>>,
    options: &TlsOptions,
    build: impl FnOnce(&TlsOptions) -> Result<Arc<T>, NetError>,
) -> Result<Arc<T>, NetError> {
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = slot.as_ref().filter(|b| !b.stamps.changed()) {
        return Ok(b.config.clone());
    }
    let stamps = FileStamps::take(options.paths());
    let config = build(options)?;
    *slot = Some(Built {
        config: config.clone(),
        stamps,
    });
    Ok(config)
}

/// How many option sets [`shared`] remembers.
const SHARED_CAPACITY: usize = 16;

/// A small most-recently-used list of configs keyed by option content.
#[derive(Debug, Default)]
struct SharedCache {
    entries: Mutex<Vec<Arc<TlsConfig>>>,
}

impl SharedCache {
    const fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
        }
    }

    fn get(&self, options: &TlsOptions, capacity: usize) -> Arc<TlsConfig> {
        let mut key = options.clone();
        key.timeout = None;
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = entries
            .iter()
            .position(|c| c.options == key)
            .map(|i| entries.remove(i));
        let config = found.unwrap_or_else(|| Arc::new(TlsConfig::new(key)));
        if entries.len() >= capacity {
            entries.remove(0);
        }
        entries.push(config.clone()); // most recently used last
        config
    }
}

/// The config for these options, shared with earlier calls that gave the
/// same options (timeouts aside), so plain tables resume sessions too.
/// Least recently used entries are dropped past a small bound. Files named
/// in the options are read again when they change.
pub fn shared(options: &TlsOptions) -> Arc<TlsConfig> {
    static CACHE: SharedCache = SharedCache::new();
    CACHE.get(options, SHARED_CAPACITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn builds_once_and_shares() {
        let cfg = TlsConfig::new(TlsOptions::default());
        let a = cfg.client().unwrap();
        let b = cfg.client().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(cfg.server().is_err());
    }

    #[test]
    fn shared_is_keyed_by_content_without_timeout() {
        let mut o = TlsOptions {
            alpn: vec![b"cache-test".to_vec()],
            ..TlsOptions::default()
        };
        let a = shared(&o);
        o.timeout = Some(Duration::from_secs(3));
        let b = shared(&o);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(b.options().timeout, None);
        o.resumption = false;
        assert!(!Arc::ptr_eq(&a, &shared(&o)));
    }

    #[test]
    fn rebuilds_when_a_file_changes() {
        use crate::tls::options::PemSource;
        use crate::tls::testutil::path;
        let dir = std::env::temp_dir().join(format!("lua-tls-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::copy(path("ca.pem"), &ca).unwrap();
        let cfg = TlsConfig::new(TlsOptions {
            cafile: Some(ca.clone()),
            cert: Some(PemSource::Path(path("server.pem"))),
            key: Some(PemSource::Path(path("server.key"))),
            ..TlsOptions::default()
        });
        let a = cfg.client().unwrap();
        assert!(Arc::ptr_eq(&a, &cfg.client().unwrap()));
        std::fs::copy(path("ca2.pem"), dir.join("new.pem")).unwrap();
        std::fs::rename(dir.join("new.pem"), &ca).unwrap();
        let b = cfg.client().unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        std::fs::write(&ca, "garbage").unwrap();
        assert_eq!(cfg.client().unwrap_err().code, "config");
        std::fs::copy(path("ca.pem"), &ca).unwrap();
        assert!(cfg.client().is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shared_is_bounded() {
        let cache = SharedCache::new();
        let first = TlsOptions {
            alpn: vec![b"evict-me".to_vec()],
            ..TlsOptions::default()
        };
        let a = cache.get(&first, 3);
        assert!(Arc::ptr_eq(&a, &cache.get(&first, 3)));
        for i in 0..3 {
            let o = TlsOptions {
                alpn: vec![format!("filler-{i}").into_bytes()],
                ..TlsOptions::default()
            };
            cache.get(&o, 3);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 3);
        assert!(!Arc::ptr_eq(&a, &cache.get(&first, 3)));
    }
}

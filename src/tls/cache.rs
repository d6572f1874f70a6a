//! Built configs that connections share. Resumption state lives in the
//! rustls config, so sessions resume only between connections that use
//! the same `Arc<ClientConfig>`: a [`TlsConfig`] builds each side once,
//! lazily, and [`shared`] keeps a few of them for plain option tables.

use std::sync::{Arc, Mutex, OnceLock};

use rustls::{ClientConfig, ServerConfig};

use super::config::{client_config, server_config};
use super::options::TlsOptions;
use crate::error::NetError;

/// Options plus the rustls configs built from them on first use.
#[derive(Debug)]
pub struct TlsConfig {
    options: TlsOptions,
    client: OnceLock<Arc<ClientConfig>>,
    server: OnceLock<Arc<ServerConfig>>,
}

impl TlsConfig {
    /// Wraps checked options; builds nothing yet.
    pub fn new(options: TlsOptions) -> Self {
        Self {
            options,
            client: OnceLock::new(),
            server: OnceLock::new(),
        }
    }

    /// The options this config was made from.
    pub fn options(&self) -> &TlsOptions {
        &self.options
    }

    /// The client config, built on first call (failures are not cached).
    pub fn client(&self) -> Result<Arc<ClientConfig>, NetError> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let built = client_config(&self.options)?;
        Ok(self.client.get_or_init(|| built).clone())
    }

    /// The server config, built on first call (failures are not cached).
    pub fn server(&self) -> Result<Arc<ServerConfig>, NetError> {
        if let Some(s) = self.server.get() {
            return Ok(s.clone());
        }
        let built = server_config(&self.options)?;
        Ok(self.server.get_or_init(|| built).clone())
    }
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
/// in the options are read once per entry.
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

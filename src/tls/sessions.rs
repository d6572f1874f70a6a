//! The client's session store: rustls' in-memory cache, plus what a
//! connection needs to recover from a ticket the server refuses outright.
//!
//! A TLS 1.3 client holding a ticket offers it as a PSK. When the server
//! answers with a HelloRetryRequest naming a suite of another hash (a
//! ticket from another server of the same name: other `ciphers`, and other
//! `curves` to cause the retry), rustls' client drops the PSK from its
//! second ClientHello, as RFC 8446 allows, and a strict server (rustls
//! since 0.23.46) aborts with `missing_extension`. Every ticket
//! left for that name would fail the same way. So a connection notes
//! whether it offered a ticket ([`Sessions::offered_since`]); if the
//! handshake then ends with that alert, it forgets the name's tickets
//! ([`Sessions::forget`]) and the connect is tried once more without them
//! (`api/tls_module.rs`).

use std::cell::Cell;
use std::sync::Arc;

use rustls::client::Tls13ClientSessionValue;
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue};
use rustls::NamedGroup;
use rustls_pki_types::ServerName;

/// Server names whose sessions are kept (rustls' default).
const NAMES: usize = 256;

thread_local! {
    /// TLS 1.3 tickets this thread has taken from any store. A connection
    /// is made on one thread and rustls takes its ticket while making it,
    /// so the count before and after says whether that connection offers one.
    static TAKEN: Cell<u64> = const { Cell::new(0) };
}

/// The session store of one client config.
#[derive(Debug)]
pub struct Sessions {
    inner: ClientSessionMemoryCache,
}

impl Sessions {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: ClientSessionMemoryCache::new(NAMES),
        })
    }

    /// A mark to give [`Sessions::offered_since`].
    pub(crate) fn mark() -> u64 {
        TAKEN.get()
    }

    /// Whether a ticket was taken on this thread since `mark`.
    pub(crate) fn offered_since(mark: u64) -> bool {
        TAKEN.get() != mark
    }

    /// Drops every TLS 1.3 ticket kept for `name`, so the next connection
    /// to it does a full handshake (and gets tickets of its own).
    pub(crate) fn forget(&self, name: &ServerName<'static>) {
        while self.inner.take_tls13_ticket(name).is_some() {}
    }
}

impl ClientSessionStore for Sessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(server_name);
        if ticket.is_some() {
            TAKEN.set(TAKEN.get() + 1);
        }
        ticket
    }
}

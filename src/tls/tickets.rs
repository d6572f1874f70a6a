//! Session tickets under keys the user gives (`ticket_keys`), so several
//! server processes with the same keys resume each other's sessions, and
//! a session lifetime the server enforces (`session_lifetime`) on tickets
//! and on its session cache.
//!
//! Each secret becomes a key id and an AES-256-GCM key through HKDF-SHA256
//! (aws-lc-rs, the provider's library). A ticket is `id || nonce ||
//! seal(issued_at || state)`, sealed with `id || binding` as associated
//! data; the first key issues, every key decrypts.
//!
//! Two rules keep resumption from outliving what a full handshake checked:
//! - a ticket is bound to the server's rules for client certificates when
//!   it was issued ([`Binding`]: the verification mode, the CA and CRL
//!   contents, the depth). A server whose CA or CRL files were replaced,
//!   or that `reload`ed other ones, refuses older tickets (a full
//!   handshake checks the client again) though its keys stay the same;
//!   processes with the same files still resume each other's sessions;
//! - `issued_at` is the time of the full handshake the session began with,
//!   carried into every ticket issued on its resumptions ([`carry_origin`]),
//!   so `session_lifetime` bounds the session's whole life, as RFC 8446
//!   (4.6.1) recommends, rather than each ticket's.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};

use super::tuning::Secret;

/// How long a session lasts unless `session_lifetime` says (rustls' own
/// ticketer rotates keys every 6 hours too).
pub const DEFAULT_LIFETIME: u32 = 6 * 3600;

/// Sessions the server cache keeps (rustls' default size).
const CACHE_SIZE: usize = 256;

const ID_LEN: usize = 8;
const SALT: &[u8] = b"lua-tls session ticket key v1";

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

struct TicketKey {
    id: [u8; ID_LEN],
    key: LessSafeKey,
}

impl TicketKey {
    fn derive(secret: &[u8]) -> Option<Self> {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
        let mut id = [0u8; ID_LEN];
        prk.expand(&[b"key id"], Len(ID_LEN))
            .ok()?
            .fill(&mut id)
            .ok()?;
        let mut key = [0u8; 32];
        prk.expand(&[b"aes-256-gcm key"], Len(32))
            .ok()?
            .fill(&mut key)
            .ok()?;
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).ok()?);
        Some(Self { id, key })
    }
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

thread_local! {
    /// For the server connection being processed on this thread: when its
    /// session began (see [`carry_origin`]).
    static ORIGIN: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` (a `process_tls_records` call of a server connection) with
/// `origin`, the time that connection's session began, where the
/// ticketer sees it: a ticket that resumes the session tells it (decrypt),
/// and the tickets issued on the connection carry it (encrypt). rustls
/// calls the ticketer from inside that call and gives it no handle on
/// the connection, as with the verifiers (revocation.rs).
pub(crate) fn carry_origin<R>(origin: &mut Option<u64>, f: impl FnOnce() -> R) -> R {
    ORIGIN.set(*origin);
    let r = f();
    *origin = ORIGIN.take();
    r
}

/// What tickets are bound to: a digest of the server's client-certificate
/// rules (see the module comment). Parts are length-prefixed, so no two
/// lists of parts give the same input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding([u8; 32]);

impl Binding {
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut d = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for p in parts {
            d.update(&(p.len() as u64).to_be_bytes());
            d.update(p);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(d.finish().as_ref());
        Self(out)
    }
}

/// Whether a session issued at `issued` is still within `lifetime`.
fn fresh(issued: u64, lifetime: u32) -> bool {
    let t = now();
    // A little slack for clocks of processes sharing keys.
    issued <= t + 60 && t.saturating_sub(issued) <= u64::from(lifetime)
}

/// A ticketer over fixed keys: the first issues, all decrypt.
pub struct KeyedTicketer {
    keys: Vec<TicketKey>,
    lifetime: u32,
    binding: Binding,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyedTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedTicketer")
            .field("keys", &self.keys.len())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl KeyedTicketer {
    /// A ticketer for `secrets` (at least one) whose tickets are bound to
    /// `binding`; `None` if key derivation fails (it does not for any input).
    pub fn new(secrets: &[Secret], lifetime: u32, binding: Binding) -> Option<Arc<Self>> {
        let keys = secrets
            .iter()
            .map(|s| TicketKey::derive(&s.0))
            .collect::<Option<Vec<_>>>()?;
        if keys.is_empty() {
            return None;
        }
        Some(Arc::new(Self {
            keys,
            lifetime,
            binding,
            rng: SystemRandom::new(),
        }))
    }

    /// A ticketer with one random secret (a lifetime but no shared keys).
    pub fn random(lifetime: u32, binding: Binding) -> Option<Arc<Self>> {
        let mut secret = vec![0u8; 32];
        SystemRandom::new().fill(&mut secret).ok()?;
        Self::new(&[Secret(secret)], lifetime, binding)
    }

    /// The associated data a ticket under key `id` is sealed with.
    fn aad(&self, id: &[u8]) -> [u8; ID_LEN + 32] {
        let mut aad = [0u8; ID_LEN + 32];
        aad[..ID_LEN].copy_from_slice(id);
        aad[ID_LEN..].copy_from_slice(&self.binding.0);
        aad
    }
}

impl ProducesTickets for KeyedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let k = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        // The session's first full handshake, for tickets that resume it.
        let issued = ORIGIN.get().unwrap_or_else(|| {
            let t = now();
            ORIGIN.set(Some(t));
            t
        });
        let mut body = Vec::with_capacity(8 + plain.len() + 16);
        body.extend_from_slice(&issued.to_be_bytes());
        body.extend_from_slice(plain);
        k.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(&k.id)),
                &mut body,
            )
            .ok()?;
        let mut out = Vec::with_capacity(ID_LEN + NONCE_LEN + body.len());
        out.extend_from_slice(&k.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        if cipher.len() < ID_LEN + NONCE_LEN {
            return None;
        }
        let (id, rest) = cipher.split_at(ID_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let k = self.keys.iter().find(|k| k.id == id)?;
        let mut body = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = k
            .key
            .open_in_place(nonce, Aad::from(self.aad(id)), &mut body)
            .ok()?;
        let (issued, state) = plain.split_at_checked(8)?;
        let issued = u64::from_be_bytes(issued.try_into().ok()?);
        if !fresh(issued, self.lifetime) {
            return None;
        }
        ORIGIN.set(Some(issued));
        Some(state.to_vec())
    }
}

/// The server's session cache (TLS 1.2 session ids), forgetting sessions
/// older than the lifetime.
#[derive(Debug)]
pub struct ExpiringCache {
    inner: Arc<ServerSessionMemoryCache>,
    lifetime: u32,
}

impl ExpiringCache {
    /// A cache whose sessions last `lifetime` seconds.
    pub fn new(lifetime: u32) -> Arc<Self> {
        Arc::new(Self {
            inner: ServerSessionMemoryCache::new(CACHE_SIZE),
            lifetime,
        })
    }

    fn unwrap(&self, stored: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let stored = stored?;
        let (issued, value) = stored.split_at_checked(8)?;
        let issued = u64::from_be_bytes(issued.try_into().ok()?);
        fresh(issued, self.lifetime).then(|| value.to_vec())
    }
}

impl StoresServerSessions for ExpiringCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut stamped = now().to_be_bytes().to_vec();
        stamped.extend_from_slice(&value);
        self.inner.put(key, stamped)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.unwrap(self.inner.get(key))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.unwrap(self.inner.take(key))
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(c: char) -> Secret {
        Secret(c.to_string().repeat(32).into_bytes())
    }

    const B: Binding = Binding([7; 32]);

    #[test]
    fn tickets_are_bound_to_the_client_rules() {
        let a = Binding::of([b"verify".as_slice(), b"ca one"]);
        let b = Binding::of([b"verify".as_slice(), b"ca two"]);
        // Length prefixes: moving a byte between parts changes the digest.
        assert_ne!(
            Binding::of([b"ab".as_slice(), b"c"]),
            Binding::of([b"a".as_slice(), b"bc"])
        );
        let t_a = KeyedTicketer::new(&[secret('a')], 60, a).unwrap();
        let t_b = KeyedTicketer::new(&[secret('a')], 60, b).unwrap();
        let ticket = t_a.encrypt(b"state").unwrap();
        assert!(t_b.decrypt(&ticket).is_none());
        let same = KeyedTicketer::new(
            &[secret('a')],
            60,
            Binding::of([b"verify".as_slice(), b"ca one"]),
        );
        assert_eq!(same.unwrap().decrypt(&ticket).unwrap(), b"state");
    }

    #[test]
    fn resumed_sessions_keep_their_first_time() {
        let t = KeyedTicketer::new(&[secret('a')], 60, B).unwrap();
        // A session that began 50 s ago (a ticket stamped then).
        let mut first = Some(now() - 50);
        let old = carry_origin(&mut first, || t.encrypt(b"s").unwrap());
        // A new connection resumes it: the ticket it gets keeps that time.
        let mut origin = None;
        let renewed = carry_origin(&mut origin, || {
            assert!(t.decrypt(&old).is_some());
            t.encrypt(b"s").unwrap()
        });
        assert_eq!(origin, first);
        let mut again = None;
        carry_origin(&mut again, || t.decrypt(&renewed));
        assert_eq!(again, first);
        // A new session is stamped now, and the thread keeps nothing.
        let mut fresh_origin = None;
        carry_origin(&mut fresh_origin, || t.encrypt(b"s"));
        assert!(fresh_origin.unwrap() >= now() - 1);
        assert_eq!(ORIGIN.get(), None);
    }

    #[test]
    fn rotation_first_issues_all_decrypt() {
        let old = KeyedTicketer::new(&[secret('a')], 60, B).unwrap();
        let rotated = KeyedTicketer::new(&[secret('b'), secret('a')], 60, B).unwrap();
        let t_old = old.encrypt(b"state").unwrap();
        assert_eq!(rotated.decrypt(&t_old).unwrap(), b"state");
        let t_new = rotated.encrypt(b"new").unwrap();
        assert!(old.decrypt(&t_new).is_none());
        assert_eq!(t_new[..ID_LEN], rotated.keys[0].id);
        // Same secret in another process: same key.
        let twin = KeyedTicketer::new(&[secret('b')], 60, B).unwrap();
        assert_eq!(twin.decrypt(&t_new).unwrap(), b"new");
    }

    #[test]
    fn tampered_and_short_tickets_are_refused() {
        let t = KeyedTicketer::new(&[secret('a')], 60, B).unwrap();
        let mut ticket = t.encrypt(b"state").unwrap();
        let last = ticket.len() - 1;
        ticket[last] ^= 1;
        assert!(t.decrypt(&ticket).is_none());
        assert!(t.decrypt(b"short").is_none());
        assert!(t.decrypt(&[]).is_none());
        assert_eq!(t.lifetime(), 60);
    }

    #[test]
    fn lifetime_bounds_freshness() {
        assert!(fresh(now(), 1));
        assert!(!fresh(now() - 100, 10));
        assert!(!fresh(now() + 3600, 7200));
        let c = ExpiringCache::new(10);
        assert!(c.put(b"k".to_vec(), b"v".to_vec()));
        assert_eq!(c.get(b"k").unwrap(), b"v");
        let mut old = (now() - 100).to_be_bytes().to_vec();
        old.extend_from_slice(b"v");
        c.inner.put(b"old".to_vec(), old);
        assert!(c.get(b"old").is_none());
        assert_eq!(c.take(b"k").unwrap(), b"v");
        assert!(c.get(b"k").is_none());
    }
}

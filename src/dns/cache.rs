//! A small bounded answer cache, keyed by (name, type), with time passed
//! in by the caller so nothing here reads a clock.
//!
//! - Positive answers live for the least TTL of the records used (CNAMEs
//!   included, which [`Outcome::Addresses`] already folds in), capped at
//!   [`MAX_POSITIVE_TTL`]. A TTL of 0 is not cached.
//! - Negative answers (NXDOMAIN, no data) live for the lesser of the SOA
//!   record's TTL and its MINIMUM field (RFC 2308 §5), capped at
//!   [`MAX_NEGATIVE_TTL`]; with no SOA, for [`DEFAULT_NEGATIVE_TTL`] (RFC
//!   2308 §5 says such answers SHOULD NOT be cached; a few seconds is a
//!   compromise that still absorbs a burst of identical lookups).
//! - NXDOMAIN means the name has no records of any type, so it also
//!   answers a lookup of the other address type.
//! - Eviction: when full, expired entries go first; if none has expired,
//!   the entry closest to expiry goes. That needs no bookkeeping on reads
//!   and drops the entry that had the least life left in it anyway; the
//!   scan is linear, which at a few hundred entries costs less than one
//!   network round trip, and happens only on insert into a full cache.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::codec::{QType, SoaTtl};
use super::name::Name;
use super::query::Outcome;

/// Longest time a positive answer is kept (one day).
pub const MAX_POSITIVE_TTL: u32 = 86_400;
/// Longest time a negative answer is kept (five minutes).
pub const MAX_NEGATIVE_TTL: u32 = 300;
/// Lifetime of a negative answer that came without an SOA record.
pub const DEFAULT_NEGATIVE_TTL: u32 = 5;
/// A reasonable capacity for one Lua state.
pub const DEFAULT_CAPACITY: usize = 512;

/// A cache hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// Addresses, with the seconds they have left.
    Addresses {
        /// The canonical name they belong to.
        canonical: Name,
        /// The addresses, in the order first received.
        addrs: Vec<IpAddr>,
        /// Whole seconds left before the entry expires.
        ttl: u32,
    },
    /// The name does not exist.
    NxDomain,
    /// The name has no record of this type.
    NoData,
}

#[derive(Debug, Clone)]
enum Answer {
    Addresses { canonical: Name, addrs: Vec<IpAddr> },
    NxDomain,
    NoData,
}

#[derive(Debug, Clone)]
struct Entry {
    answer: Answer,
    expires: Instant,
}

/// The cache. See the module documentation for the policy.
#[derive(Debug, Clone)]
pub struct Cache {
    capacity: usize,
    map: HashMap<(Name, QType), Entry>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new(DEFAULT_CAPACITY)
    }
}

/// The negative-caching lifetime for an answer with these SOA TTLs.
pub fn negative_ttl(soa: Option<SoaTtl>) -> u32 {
    match soa {
        Some(soa) => soa.ttl.min(soa.minimum).min(MAX_NEGATIVE_TTL),
        None => DEFAULT_NEGATIVE_TTL,
    }
}

impl Cache {
    /// A cache holding at most `capacity` entries (0 disables caching).
    pub fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            map: HashMap::new(),
        }
    }

    /// The live entry for `name`/`qtype` at `now`, if any.
    pub fn get(&self, name: &Name, qtype: QType, now: Instant) -> Option<Cached> {
        if let Some(hit) = self.live(name, qtype, now) {
            return Some(match &hit.answer {
                Answer::Addresses { canonical, addrs } => Cached::Addresses {
                    canonical: canonical.clone(),
                    addrs: addrs.clone(),
                    ttl: u32::try_from((hit.expires - now).as_secs()).unwrap_or(u32::MAX),
                },
                Answer::NxDomain => Cached::NxDomain,
                Answer::NoData => Cached::NoData,
            });
        }
        // A name that does not exist has no records of the other type either.
        match self.live(name, qtype.other(), now) {
            Some(Entry {
                answer: Answer::NxDomain,
                ..
            }) => Some(Cached::NxDomain),
            _ => None,
        }
    }

    fn live(&self, name: &Name, qtype: QType, now: Instant) -> Option<&Entry> {
        // The key is a tuple, so the name is cloned to look it up: two small
        // allocations, nothing next to a lookup's round trip.
        let entry = self.map.get(&(name.clone(), qtype))?;
        (entry.expires > now).then_some(entry)
    }

    /// Stores what a lookup of `name`/`qtype` found. Outcomes that are not
    /// answers (`Cname`, `ServFail`, `Timeout`) are not stored. Returns
    /// whether something was stored.
    pub fn insert(&mut self, name: &Name, qtype: QType, outcome: &Outcome, now: Instant) -> bool {
        let (answer, ttl) = match outcome {
            Outcome::Addresses {
                canonical,
                addrs,
                ttl,
            } => (
                Answer::Addresses {
                    canonical: canonical.clone(),
                    addrs: addrs.clone(),
                },
                (*ttl).min(MAX_POSITIVE_TTL),
            ),
            Outcome::NxDomain { soa, .. } => (Answer::NxDomain, negative_ttl(*soa)),
            Outcome::NoData { soa, .. } => (Answer::NoData, negative_ttl(*soa)),
            Outcome::Cname { .. } | Outcome::ServFail { .. } | Outcome::Timeout { .. } => {
                return false
            }
        };
        if ttl == 0 || self.capacity == 0 {
            return false;
        }
        let Some(expires) = now.checked_add(Duration::from_secs(ttl.into())) else {
            return false;
        };
        let key = (name.clone(), qtype);
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.make_room(now);
        }
        self.map.insert(key, Entry { answer, expires });
        true
    }

    /// Drops expired entries, then, if still full, the one closest to expiry.
    fn make_room(&mut self, now: Instant) {
        self.purge_expired(now);
        if self.map.len() < self.capacity {
            return;
        }
        let soonest = self
            .map
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| k.clone());
        if let Some(key) = soonest {
            self.map.remove(&key);
        }
    }

    /// Drops every entry that has expired at `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        self.map.retain(|_, e| e.expires > now);
    }

    /// Drops everything (say, after `dns.config` changed the servers).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Entries held, expired ones included until purged.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addrs(name: &str, list: &[&str], ttl: u32) -> Outcome {
        Outcome::Addresses {
            canonical: n(name),
            addrs: list.iter().map(|s| ip(s)).collect(),
            ttl,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn positive_entry_lives_for_its_ttl() {
        let t0 = Instant::now();
        let mut c = Cache::new(8);
        assert!(c.insert(
            &n("a.example"),
            QType::A,
            &addrs("b.example", &["1.1.1.1", "2.2.2.2"], 60),
            t0
        ));
        let hit = c.get(&n("a.example"), QType::A, t0 + secs(10)).unwrap();
        assert_eq!(
            hit,
            Cached::Addresses {
                canonical: n("b.example"),
                addrs: vec![ip("1.1.1.1"), ip("2.2.2.2")],
                ttl: 50
            }
        );
        assert_eq!(
            c.get(&n("a.example"), QType::Aaaa, t0),
            None,
            "other type misses"
        );
        assert_eq!(
            c.get(&n("a.example"), QType::A, t0 + secs(60)),
            None,
            "expired"
        );
        assert_eq!(c.len(), 1);
        c.purge_expired(t0 + secs(60));
        assert!(c.is_empty());
    }

    #[test]
    fn ttl_zero_and_huge() {
        let t0 = Instant::now();
        let mut c = Cache::new(8);
        assert!(!c.insert(
            &n("z.example"),
            QType::A,
            &addrs("z.example", &["1.1.1.1"], 0),
            t0
        ));
        assert!(c.is_empty());
        assert!(c.insert(
            &n("h.example"),
            QType::A,
            &addrs("h.example", &["1.1.1.1"], u32::MAX),
            t0
        ));
        match c.get(&n("h.example"), QType::A, t0).unwrap() {
            Cached::Addresses { ttl, .. } => assert_eq!(ttl, MAX_POSITIVE_TTL),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.get(
                &n("h.example"),
                QType::A,
                t0 + secs(u64::from(MAX_POSITIVE_TTL))
            ),
            None
        );
    }

    #[test]
    fn negative_ttls_follow_rfc2308() {
        assert_eq!(
            negative_ttl(Some(SoaTtl {
                ttl: 3600,
                minimum: 60
            })),
            60
        );
        assert_eq!(
            negative_ttl(Some(SoaTtl {
                ttl: 30,
                minimum: 900
            })),
            30
        );
        assert_eq!(
            negative_ttl(Some(SoaTtl {
                ttl: 86400,
                minimum: 86400
            })),
            MAX_NEGATIVE_TTL
        );
        assert_eq!(negative_ttl(None), DEFAULT_NEGATIVE_TTL);
        assert_eq!(
            negative_ttl(Some(SoaTtl {
                ttl: 0,
                minimum: 60
            })),
            0
        );
    }

    #[test]
    fn nxdomain_answers_both_types() {
        let t0 = Instant::now();
        let mut c = Cache::new(8);
        let nx = Outcome::NxDomain {
            name: n("gone.example"),
            soa: Some(SoaTtl {
                ttl: 100,
                minimum: 40,
            }),
        };
        assert!(c.insert(&n("gone.example"), QType::A, &nx, t0));
        assert_eq!(
            c.get(&n("gone.example"), QType::A, t0 + secs(39)),
            Some(Cached::NxDomain)
        );
        assert_eq!(
            c.get(&n("gone.example"), QType::Aaaa, t0 + secs(39)),
            Some(Cached::NxDomain)
        );
        assert_eq!(c.get(&n("gone.example"), QType::Aaaa, t0 + secs(40)), None);
    }

    #[test]
    fn nodata_is_per_type() {
        let t0 = Instant::now();
        let mut c = Cache::new(8);
        let nd = Outcome::NoData {
            name: n("v4only.example"),
            soa: None,
        };
        assert!(c.insert(&n("v4only.example"), QType::Aaaa, &nd, t0));
        assert_eq!(
            c.get(&n("v4only.example"), QType::Aaaa, t0 + secs(4)),
            Some(Cached::NoData)
        );
        assert_eq!(c.get(&n("v4only.example"), QType::A, t0), None);
        assert_eq!(c.get(&n("v4only.example"), QType::Aaaa, t0 + secs(5)), None);
        // An SOA with a zero TTL means "do not cache".
        let nd = Outcome::NoData {
            name: n("x.example"),
            soa: Some(SoaTtl { ttl: 0, minimum: 0 }),
        };
        assert!(!c.insert(&n("x.example"), QType::A, &nd, t0));
    }

    #[test]
    fn failures_are_not_cached() {
        let t0 = Instant::now();
        let mut c = Cache::new(8);
        let name = n("a.example");
        assert!(!c.insert(&name, QType::A, &Outcome::ServFail { errors: vec![] }, t0));
        assert!(!c.insert(
            &name,
            QType::A,
            &Outcome::Timeout {
                servers: vec![],
                errors: vec![]
            },
            t0
        ));
        assert!(!c.insert(
            &name,
            QType::A,
            &Outcome::Cname {
                target: n("b.example"),
                ttl: 60
            },
            t0
        ));
        assert!(c.is_empty());
    }

    #[test]
    fn replacing_an_entry_does_not_evict() {
        let t0 = Instant::now();
        let mut c = Cache::new(2);
        c.insert(&n("a"), QType::A, &addrs("a", &["1.1.1.1"], 10), t0);
        c.insert(&n("b"), QType::A, &addrs("b", &["2.2.2.2"], 20), t0);
        c.insert(&n("a"), QType::A, &addrs("a", &["3.3.3.3"], 30), t0);
        assert_eq!(c.len(), 2);
        assert!(matches!(
            c.get(&n("b"), QType::A, t0),
            Some(Cached::Addresses { .. })
        ));
        match c.get(&n("a"), QType::A, t0).unwrap() {
            Cached::Addresses { addrs, .. } => assert_eq!(addrs, vec![ip("3.3.3.3")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn evicts_expired_then_soonest_to_expire() {
        let t0 = Instant::now();
        let mut c = Cache::new(3);
        c.insert(&n("long"), QType::A, &addrs("long", &["1.1.1.1"], 300), t0);
        c.insert(&n("short"), QType::A, &addrs("short", &["2.2.2.2"], 10), t0);
        c.insert(&n("mid"), QType::A, &addrs("mid", &["3.3.3.3"], 100), t0);
        // Full: the entry closest to expiry ("short") goes.
        c.insert(&n("new"), QType::A, &addrs("new", &["4.4.4.4"], 200), t0);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&n("short"), QType::A, t0), None);
        for k in ["long", "mid", "new"] {
            assert!(c.get(&n(k), QType::A, t0).is_some(), "{k}");
        }
        // Later, with "mid" expired, it is the one dropped, and only it.
        let t1 = t0 + secs(150);
        c.insert(
            &n("newer"),
            QType::A,
            &addrs("newer", &["5.5.5.5"], 1000),
            t1,
        );
        assert_eq!(c.len(), 3);
        for k in ["long", "new", "newer"] {
            assert!(c.get(&n(k), QType::A, t1).is_some(), "{k}");
        }
    }

    #[test]
    fn never_exceeds_capacity() {
        let t0 = Instant::now();
        let mut c = Cache::new(16);
        for i in 0..1000u32 {
            let name = n(&format!("h{i}.example"));
            c.insert(
                &name,
                QType::A,
                &addrs("x", &["1.1.1.1"], 1 + i % 50),
                t0 + secs(u64::from(i % 7)),
            );
            assert!(c.len() <= 16);
        }
        assert_eq!(c.capacity(), 16);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let t0 = Instant::now();
        let mut c = Cache::new(0);
        assert!(!c.insert(&n("a"), QType::A, &addrs("a", &["1.1.1.1"], 60), t0));
        assert!(c.is_empty());
        assert_eq!(Cache::default().capacity(), DEFAULT_CAPACITY);
    }
}

//! One `dns.address` request, sans-IO: literal addresses, the hosts file,
//! the search list, A and AAAA side by side, the cache, and CNAME chains
//! that need another query, on top of [`Lookup`].
//!
//! The runtime owns the sockets; this machine says what to send and reads
//! what came back, exactly as [`Lookup`] does, with two differences:
//! several lookups may run at once (A and AAAA), so TCP connections carry
//! a [`ConnId`] and are closed explicitly with [`ResolveAction::CloseTcp`];
//! and `poll` takes the cache, which it reads and fills.
//!
//! Order of the request, as glibc with `hosts: files dns`:
//! 1. an IP literal is its own answer (in the wrong family: `noaddress`);
//! 2. a name the hosts file lists in the wanted family is answered from it;
//!    `localhost` and `*.localhost` are loopback even when the file is
//!    missing them (RFC 6761 §6.3);
//! 3. otherwise each search candidate (see [`search`]) in
//!    turn: A and/or AAAA, from the cache or by lookup. Addresses of either
//!    type end the search; NXDOMAIN, no data and SERVFAIL go on to the next
//!    candidate; a timeout ends it.
//! 4. When the candidates run out the error is, as glibc ranks them:
//!    `noaddress` if some candidate exists without such addresses, else
//!    `servfail` if a server failed, else `nxdomain`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use super::addr::{parse_ip, Family};
use super::cache::{Cache, Cached};
use super::codec::QType;
use super::conf::ResolvConf;
use super::hosts::Hosts;
use super::name::Name;
use super::query::{Action, Lookup, LookupConfig, Outcome, MAX_CNAME_RESTARTS};
use super::search;
use crate::error::NetError;

/// Names a TCP connection the runtime opened for this request.
pub type ConnId = u32;

/// What a request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Addresses: A results before AAAA results, each in the server's
    /// order. Sort them with [`order::sort`](super::order::sort).
    pub addrs: Vec<IpAddr>,
    /// The canonical name, when DNS gave one.
    pub canonical: Option<Name>,
}

/// What the runtime should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveAction {
    /// Send one UDP datagram to `server`, from this request's socket for
    /// that address family. If the send fails, call
    /// [`Resolve::udp_send_failed`] before polling again.
    Send {
        /// Where to.
        server: SocketAddr,
        /// The datagram.
        packet: Vec<u8>,
    },
    /// Open TCP connection `conn` to `server` and write `packet` (framed).
    /// Feed what it reads with `tcp_received(conn, ..)`; report a failure
    /// or an end of stream with `tcp_failed(conn, ..)`.
    SendTcp {
        /// The connection's name for later events.
        conn: ConnId,
        /// Where to.
        server: SocketAddr,
        /// The framed query.
        packet: Vec<u8>,
    },
    /// Close connection `conn`: its lookup no longer needs it.
    CloseTcp {
        /// Which one.
        conn: ConnId,
    },
    /// Wait for input or until this time, then feed it and poll again.
    Wait {
        /// The earliest deadline of the running lookups.
        until: Instant,
    },
    /// Finished: close every socket of this request.
    Done(Result<Resolved, NetError>),
}

/// One query type for the current candidate.
#[derive(Debug)]
struct Job {
    qtype: QType,
    /// Running lookup, `None` once `outcome` is known.
    lookup: Option<Lookup>,
    /// TCP connection the lookup is using.
    conn: Option<ConnId>,
    /// New lookups started for CNAME targets.
    restarts: usize,
    /// Least TTL along CNAME restarts.
    chain_ttl: u32,
    outcome: Option<Outcome>,
}

/// A whole `dns.address` request. See the module documentation.
#[derive(Debug)]
pub struct Resolve {
    host: String,
    family: Family,
    config: LookupConfig,
    candidates: Vec<Name>,
    /// Index of the candidate being tried (`jobs` belong to it).
    next_candidate: usize,
    jobs: Vec<Job>,
    /// Connections to close before anything else.
    to_close: Vec<ConnId>,
    next_conn: ConnId,
    /// Which job sent the last datagram (for `udp_send_failed`).
    last_sender: Option<usize>,
    saw_nodata: bool,
    servfail: Option<NetError>,
    done: Option<Result<Resolved, NetError>>,
}

impl Resolve {
    /// Starts a request for `host` in `family`. Literals, hosts-file names
    /// and invalid names are settled here: the first `poll` returns `Done`.
    pub fn new(host: &str, family: Family, conf: &ResolvConf, hosts: &Hosts) -> Resolve {
        let mut r = Resolve {
            host: host.to_string(),
            family,
            config: LookupConfig::from(conf),
            candidates: Vec::new(),
            next_candidate: 0,
            jobs: Vec::new(),
            to_close: Vec::new(),
            next_conn: 0,
            last_sender: None,
            saw_nodata: false,
            servfail: None,
            done: None,
        };
        r.done = r.settle_locally(conf, hosts);
        r
    }

    /// Answers that need no DNS: literals, hosts, localhost, bad names.
    fn settle_locally(
        &mut self,
        conf: &ResolvConf,
        hosts: &Hosts,
    ) -> Option<Result<Resolved, NetError>> {
        let host = self.host.as_str();
        if let Some((ip, _zone)) = parse_ip(host) {
            if self.family.matches(&ip) {
                return Some(Ok(Resolved {
                    addrs: vec![ip],
                    canonical: None,
                }));
            }
            let what = if ip.is_ipv4() { "an IPv4" } else { "an IPv6" };
            return Some(Err(NetError::new(
                "noaddress",
                format!("{host} is {what} address"),
            )));
        }
        // A ':' is no part of a host name: a mistyped IPv6 literal, or a
        // "host:port" given as the host. Asking DNS would only be slow.
        if host.contains(':') {
            return Some(Err(NetError::new(
                "nxdomain",
                format!("invalid host name '{host}': neither an IPv6 address nor a name (':')"),
            )));
        }
        let (name, _) = match Name::parse(host) {
            Ok(parsed) => parsed,
            Err(e) => {
                return Some(Err(NetError::new(
                    "nxdomain",
                    format!("invalid host name '{host}': {e}"),
                )))
            }
        };
        let listed = hosts.lookup_name(&name, self.family);
        if !listed.is_empty() {
            return Some(Ok(Resolved {
                addrs: listed,
                canonical: None,
            }));
        }
        if is_localhost(&name) {
            let loopback = [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
            let addrs = loopback
                .into_iter()
                .filter(|ip| self.family.matches(ip))
                .collect();
            return Some(Ok(Resolved {
                addrs,
                canonical: None,
            }));
        }
        match search::candidates(host, &conf.search, conf.ndots) {
            Ok(candidates) => self.candidates = candidates,
            Err(e) => {
                return Some(Err(NetError::new(
                    "nxdomain",
                    format!("invalid host name '{host}': {e}"),
                )))
            }
        }
        None
    }

    /// Whether the request was settled without DNS (a literal, the hosts
    /// file, `localhost`, an invalid name): the first `poll` returns `Done`
    /// and neither sends nor reads the cache.
    pub fn is_settled(&self) -> bool {
        self.done.is_some()
    }

    /// The next thing to do; `cache` is read when a candidate starts and
    /// filled as lookups finish.
    pub fn poll(&mut self, now: Instant, cache: &mut Cache) -> ResolveAction {
        loop {
            if let Some(conn) = self.to_close.pop() {
                return ResolveAction::CloseTcp { conn };
            }
            if let Some(done) = &self.done {
                return ResolveAction::Done(done.clone());
            }
            if self.jobs.is_empty() {
                self.start_candidate(now, cache);
                continue;
            }
            let mut until: Option<Instant> = None;
            let mut progressed = false;
            for j in 0..self.jobs.len() {
                let Some(lookup) = self.jobs[j].lookup.as_mut() else {
                    continue;
                };
                match lookup.poll(now) {
                    Action::Send { server, packet, .. } => {
                        self.last_sender = Some(j);
                        self.drop_conn(j);
                        return ResolveAction::Send { server, packet };
                    }
                    Action::SendTcp { server, packet } => {
                        self.drop_conn(j);
                        let conn = self.next_conn;
                        self.next_conn = self.next_conn.wrapping_add(1);
                        self.jobs[j].conn = Some(conn);
                        return ResolveAction::SendTcp {
                            conn,
                            server,
                            packet,
                        };
                    }
                    Action::Wait { until: t } => until = Some(until.map_or(t, |u| u.min(t))),
                    Action::Done(outcome) => {
                        self.drop_conn(j);
                        self.job_finished(j, outcome, now, cache);
                        progressed = true;
                    }
                }
            }
            if progressed {
                continue;
            }
            match until {
                Some(until) => return ResolveAction::Wait { until },
                None => self.candidate_finished(),
            }
        }
    }

    /// A datagram arrived on one of the request's UDP sockets.
    pub fn udp_received(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        // Each lookup checks source, ID and question, so offering the
        // datagram to all of them is safe.
        for lookup in self.jobs.iter_mut().filter_map(|j| j.lookup.as_mut()) {
            lookup.udp_received(from, bytes, now);
        }
    }

    /// The last `Send` could not be sent.
    pub fn udp_send_failed(&mut self, now: Instant) {
        if let Some(lookup) = self
            .last_sender
            .and_then(|j| self.jobs.get_mut(j))
            .and_then(|j| j.lookup.as_mut())
        {
            lookup.udp_send_failed(now);
        }
    }

    /// Bytes arrived on connection `conn` (stale connections are ignored).
    pub fn tcp_received(&mut self, conn: ConnId, bytes: &[u8], now: Instant) {
        if let Some(lookup) = self.job_for_conn(conn) {
            lookup.tcp_received(bytes, now);
        }
    }

    /// Connection `conn` failed or ended.
    pub fn tcp_failed(&mut self, conn: ConnId, now: Instant) {
        if let Some(lookup) = self.job_for_conn(conn) {
            lookup.tcp_failed(now);
        }
    }

    /// A timer armed for a `Wait` fired.
    pub fn timer(&mut self, now: Instant) {
        for lookup in self.jobs.iter_mut().filter_map(|j| j.lookup.as_mut()) {
            lookup.timer(now);
        }
    }

    fn job_for_conn(&mut self, conn: ConnId) -> Option<&mut Lookup> {
        self.jobs
            .iter_mut()
            .find(|j| j.conn == Some(conn))
            .and_then(|j| j.lookup.as_mut())
    }

    fn drop_conn(&mut self, j: usize) {
        if let Some(conn) = self.jobs[j].conn.take() {
            self.to_close.push(conn);
        }
    }

    fn qtypes(&self) -> &'static [QType] {
        match self.family {
            Family::Any => &[QType::A, QType::Aaaa],
            Family::V4 => &[QType::A],
            Family::V6 => &[QType::Aaaa],
        }
    }

    /// Makes the jobs for the next candidate, answering from the cache
    /// where it can; with no candidate left, finishes with the error.
    fn start_candidate(&mut self, now: Instant, cache: &Cache) {
        let Some(name) = self.candidates.get(self.next_candidate).cloned() else {
            self.done = Some(Err(self.final_error()));
            return;
        };
        for &qtype in self.qtypes() {
            let cached = cache.get(&name, qtype, now).map(|hit| match hit {
                Cached::Addresses {
                    canonical,
                    addrs,
                    ttl,
                } => Outcome::Addresses {
                    canonical,
                    addrs,
                    ttl,
                },
                Cached::NxDomain => Outcome::NxDomain {
                    name: name.clone(),
                    soa: None,
                },
                Cached::NoData => Outcome::NoData {
                    name: name.clone(),
                    soa: None,
                },
            });
            let lookup = cached
                .is_none()
                .then(|| Lookup::new(name.clone(), qtype, &self.config));
            self.jobs.push(Job {
                qtype,
                lookup,
                conn: None,
                restarts: 0,
                chain_ttl: u32::MAX,
                outcome: cached,
            });
        }
    }

    fn job_finished(&mut self, j: usize, outcome: Outcome, now: Instant, cache: &mut Cache) {
        let name = self.candidates[self.next_candidate].clone();
        let job = &mut self.jobs[j];
        job.lookup = None;
        match outcome {
            Outcome::Cname { target, ttl } if job.restarts < MAX_CNAME_RESTARTS => {
                job.restarts += 1;
                job.chain_ttl = job.chain_ttl.min(ttl);
                job.lookup = Some(Lookup::new(target, job.qtype, &self.config));
            }
            Outcome::Cname { target, .. } => {
                let servfail = Outcome::ServFail { errors: Vec::new() };
                let err = NetError::new(
                    "servfail",
                    format!("{}: CNAME chain too long (gave up at {target})", self.host),
                );
                self.servfail.get_or_insert(err);
                job.outcome = Some(servfail);
            }
            Outcome::Addresses {
                canonical,
                addrs,
                ttl,
            } => {
                let outcome = Outcome::Addresses {
                    canonical,
                    addrs,
                    ttl: ttl.min(job.chain_ttl),
                };
                cache.insert(&name, job.qtype, &outcome, now);
                job.outcome = Some(outcome);
            }
            other => {
                // Negative answers reached through a restart are about the
                // CNAME target, so only direct ones are cached.
                if job.restarts == 0 {
                    cache.insert(&name, job.qtype, &other, now);
                }
                job.outcome = Some(other);
            }
        }
    }

    /// Every job of the current candidate has an outcome: succeed, go on
    /// to the next candidate, or stop.
    fn candidate_finished(&mut self) {
        let jobs = std::mem::take(&mut self.jobs);
        let mut addrs = Vec::new();
        let mut canonical = None;
        let mut timeout = None;
        for job in &jobs {
            match &job.outcome {
                Some(Outcome::Addresses {
                    canonical: c,
                    addrs: a,
                    ..
                }) => {
                    canonical.get_or_insert_with(|| c.clone());
                    addrs.extend(a.iter().copied());
                }
                Some(Outcome::NoData { .. }) => self.saw_nodata = true,
                // The first server failure names the error, as it is the
                // one closest to what the user typed.
                Some(o @ Outcome::ServFail { .. }) if self.servfail.is_none() => {
                    self.servfail = o.to_error(&self.host, job.qtype);
                }
                Some(o @ Outcome::Timeout { .. }) => timeout = o.to_error(&self.host, job.qtype),
                _ => {}
            }
        }
        self.next_candidate += 1;
        if !addrs.is_empty() {
            self.done = Some(Ok(Resolved { addrs, canonical }));
        } else if let Some(err) = timeout {
            self.done = Some(Err(err));
        }
        // Otherwise the next poll starts the next candidate (or ends).
    }

    fn final_error(&self) -> NetError {
        let host = &self.host;
        if self.saw_nodata {
            let which = match self.family {
                Family::Any => "",
                Family::V4 => " IPv4",
                Family::V6 => " IPv6",
            };
            return NetError::new(
                "noaddress",
                format!("{host}: no{which} address for this name"),
            );
        }
        if let Some(err) = &self.servfail {
            return err.clone();
        }
        NetError::new("nxdomain", format!("{host}: no such host"))
    }
}

fn is_localhost(name: &Name) -> bool {
    name.labels().last() == Some(b"localhost".as_slice())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod live;

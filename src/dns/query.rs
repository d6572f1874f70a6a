//! The lookup state machine: one name, one query type, across the
//! configured name servers. Sans-IO: it never touches a socket or a clock;
//! the runtime performs the [`Action`]s it asks for and feeds back what
//! happened, with the current time.
//!
//! # Protocol
//!
//! A *try* is one query to one server. Tries go round the server list
//! (starting at a random server with `rotate`), `attempts` rounds, each
//! try waiting up to `timeout`:
//!
//! - A datagram is accepted only if it comes from the address the query
//!   went to, carries an ID we are still waiting on, is a response, and
//!   repeats our question (case-insensitively). Anything else is ignored,
//!   not trusted and not counted as a failure. An answer to an earlier try
//!   that arrives late is still accepted.
//! - A message that passes those checks but cannot be parsed, SERVFAIL,
//!   REFUSED, any other error code, or a referral from a server that does
//!   not recurse marks that server failed: it is not asked again, and the
//!   next try starts at once. When every server has failed the lookup ends
//!   with [`Outcome::ServFail`].
//! - FORMERR to a query with EDNS0 makes us ask the same server again
//!   without EDNS0 (RFC 6891 §7), once.
//! - A truncated answer (TC) makes us ask the same server over TCP; a TCP
//!   failure, a TCP timeout or a bad TCP answer marks the server failed.
//! - NOERROR and NXDOMAIN are final. CNAMEs in the answer are followed (at
//!   most [`MAX_CNAME_HOPS`]) to the records of the asked type.
//! - When the tries run out, the lookup ends with [`Outcome::Timeout`]
//!   (some server never answered usefully) or [`Outcome::ServFail`] (every
//!   server failed).
//!
//! # States
//!
//! ```text
//!            poll                  send                 answer / failure
//!   Idle ──────────▶ Ready ──────────────▶ AwaitUdp ───────────────────┐
//!    ▲  (next try     │ (UDP or TCP)        AwaitTcp                    │
//!    │   or finish)   │                        │ deadline               │
//!    │                ▼                        ▼                        ▼
//!    └──────────── (server failed, deadline passed) ◀───────────── Done(Outcome)
//! ```
//!
//! `Idle` and `Ready` are transient: `poll` leaves them before returning.
//! `AwaitUdp`/`AwaitTcp` return `Wait`; `Done` returns `Done` forever.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::codec::{
    rcode, tcp_frame, Header, Message, ParseError, QType, Query, RData, SoaTtl, EDNS_UDP_SIZE,
};
use super::conf::ResolvConf;
use super::name::Name;
use crate::error::NetError;

/// CNAME records followed inside one answer before giving up (a loop in
/// the data, or an absurd chain).
pub const MAX_CNAME_HOPS: usize = 8;

/// How many times the caller should start a new lookup for the target of
/// an [`Outcome::Cname`] before giving up with `servfail`.
pub const MAX_CNAME_RESTARTS: usize = 4;

/// Queries whose answers are still accepted (late answers). Bounds memory
/// however many servers and attempts are configured.
const MAX_OUTSTANDING: usize = 64;

/// What the lookup needs to know about the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupConfig {
    /// Servers in order.
    pub servers: Vec<SocketAddr>,
    /// Wait per try.
    pub timeout: Duration,
    /// Rounds over the server list (0 reads as 1).
    pub attempts: u32,
    /// Start at a random server.
    pub rotate: bool,
    /// Send EDNS0 (UDP payload 1232).
    pub edns: bool,
    /// Always use TCP.
    pub tcp_only: bool,
}

impl From<&ResolvConf> for LookupConfig {
    fn from(conf: &ResolvConf) -> Self {
        LookupConfig {
            servers: conf.nameservers.clone(),
            timeout: conf.timeout,
            attempts: conf.attempts,
            rotate: conf.rotate,
            edns: conf.edns0,
            tcp_only: conf.use_vc,
        }
    }
}

/// What the runtime should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `packet` as one UDP datagram to `server` (from an unconnected
    /// socket, so answers from elsewhere can be seen and ignored), then
    /// call `poll` again.
    Send {
        /// Where to.
        server: SocketAddr,
        /// The query ID (for logs; the machine remembers it).
        id: u16,
        /// The datagram.
        packet: Vec<u8>,
    },
    /// Open a TCP connection to `server` and write `packet` (already
    /// length-prefixed), then call `poll` again. Any earlier TCP connection
    /// of this lookup is no longer wanted.
    SendTcp {
        /// Where to.
        server: SocketAddr,
        /// The framed query.
        packet: Vec<u8>,
    },
    /// Nothing to send: wait for input or until this time, then feed what
    /// happened (or [`Lookup::timer`]) and call `poll` again.
    Wait {
        /// The deadline of the current try.
        until: Instant,
    },
    /// The lookup is over; drop its sockets.
    Done(Outcome),
}

/// Why one server was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// It answered SERVFAIL.
    ServFail,
    /// It answered REFUSED.
    Refused,
    /// It answered with another error code (FORMERR, NOTIMP, ...).
    Rcode(u16),
    /// Its answer could not be parsed.
    Malformed(ParseError),
    /// It sent a referral instead of recursing.
    NotRecursive,
    /// The UDP datagram could not be sent (say, no route to it).
    Unreachable,
    /// The TCP connection failed or closed before a whole answer came.
    TcpFailed,
    /// No answer over TCP within the timeout.
    TcpTimeout,
    /// Over TCP: an answer with the wrong ID or question, or truncated.
    BadTcpAnswer,
    /// Its answer had a CNAME chain longer than [`MAX_CNAME_HOPS`].
    CnameChain,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::ServFail => f.write_str("SERVFAIL"),
            ServerError::Refused => f.write_str("REFUSED"),
            ServerError::Rcode(rc) => write!(f, "error code {rc}"),
            ServerError::Malformed(e) => write!(f, "malformed answer: {e}"),
            ServerError::NotRecursive => f.write_str("referral from a non-recursive server"),
            ServerError::Unreachable => f.write_str("unreachable"),
            ServerError::TcpFailed => f.write_str("TCP connection failed"),
            ServerError::TcpTimeout => f.write_str("TCP timed out"),
            ServerError::BadTcpAnswer => f.write_str("bad answer over TCP"),
            ServerError::CnameChain => f.write_str("CNAME chain too long"),
        }
    }
}

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Addresses of the asked type for `canonical` (the end of the CNAME
    /// chain), in the server's order, without duplicates. `ttl` is the
    /// least TTL of the records used, CNAMEs included.
    Addresses {
        /// The canonical name.
        canonical: Name,
        /// The addresses.
        addrs: Vec<IpAddr>,
        /// Seconds they may be cached.
        ttl: u32,
    },
    /// The answer's CNAME chain ended at `target` with neither records nor
    /// a negative answer for it: start a new lookup for `target` (bounded
    /// by [`MAX_CNAME_RESTARTS`]). `ttl` is the least TTL of the chain.
    Cname {
        /// Where the chain ended.
        target: Name,
        /// Seconds the chain may be cached.
        ttl: u32,
    },
    /// The name (`name`: the end of the CNAME chain) does not exist.
    NxDomain {
        /// Which name.
        name: Name,
        /// SOA TTLs from the authority section, for negative caching.
        soa: Option<SoaTtl>,
    },
    /// The name exists but has no record of the asked type.
    NoData {
        /// Which name (the end of the CNAME chain).
        name: Name,
        /// SOA TTLs from the authority section, for negative caching.
        soa: Option<SoaTtl>,
    },
    /// Every server failed, each for the reason given.
    ServFail {
        /// Per server, why.
        errors: Vec<(SocketAddr, ServerError)>,
    },
    /// The tries ran out before any server answered usefully.
    Timeout {
        /// The servers asked.
        servers: Vec<SocketAddr>,
        /// Servers that failed with an answer meanwhile, and why.
        errors: Vec<(SocketAddr, ServerError)>,
    },
}

impl Outcome {
    /// The Lua-facing failure for an unsuccessful outcome (`host` is what
    /// the user asked for), or `None` for `Addresses` and `Cname`.
    pub fn to_error(&self, host: &str, qtype: QType) -> Option<NetError> {
        let list = |errors: &[(SocketAddr, ServerError)]| {
            errors
                .iter()
                .map(|(s, e)| format!("{s}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        Some(match self {
            Outcome::Addresses { .. } | Outcome::Cname { .. } => return None,
            Outcome::NxDomain { .. } => NetError::new("nxdomain", format!("{host}: no such host")),
            Outcome::NoData { .. } => NetError::new(
                "noaddress",
                format!("{host}: no {qtype} address for this name"),
            ),
            Outcome::ServFail { errors } if errors.is_empty() => {
                NetError::new("servfail", format!("{host}: no name servers configured"))
            }
            Outcome::ServFail { errors } => NetError::new(
                "servfail",
                format!("{host}: name servers failed ({})", list(errors)),
            ),
            Outcome::Timeout { servers, errors } => {
                let asked = servers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut msg = format!("{host}: no answer from {asked} (timed out)");
                if !errors.is_empty() {
                    msg.push_str(&format!("; {}", list(errors)));
                }
                NetError::new("timeout", msg)
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    // Set when this server failed; it is then skipped.
    failed: Option<ServerError>,
    // Set after a FORMERR to an EDNS0 query.
    no_edns: bool,
}

/// A UDP query whose answer we still accept.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    server: usize,
    id: u16,
}

#[derive(Debug)]
enum State {
    /// Nothing to wait for: `poll` schedules the next try or finishes.
    Idle,
    /// `poll` sends a query to this server.
    Ready { server: usize, transport: Transport },
    /// A datagram is out; waiting for an answer or the deadline.
    AwaitUdp { server: usize, deadline: Instant },
    /// A TCP query is out; `buf` collects the length-prefixed answer.
    AwaitTcp {
        server: usize,
        id: u16,
        deadline: Instant,
        buf: Vec<u8>,
    },
    /// Finished.
    Done(Outcome),
}

/// One lookup of one name and one type. See the module documentation.
#[derive(Debug)]
pub struct Lookup {
    name: Name,
    qtype: QType,
    servers: Vec<Server>,
    timeout: Duration,
    attempts: u32,
    edns: bool,
    tcp_only: bool,
    // First server of each round.
    start: usize,
    // Tries scheduled so far (round = cursor / servers).
    cursor: usize,
    outstanding: Vec<Outstanding>,
    state: State,
}

impl Lookup {
    /// A lookup of `name`/`qtype`; nothing is sent until the first `poll`.
    pub fn new(name: Name, qtype: QType, config: &LookupConfig) -> Lookup {
        let servers: Vec<Server> = config
            .servers
            .iter()
            .map(|&addr| Server {
                addr,
                failed: None,
                no_edns: false,
            })
            .collect();
        let start = if config.rotate && !servers.is_empty() {
            random_u64() as usize % servers.len()
        } else {
            0
        };
        Lookup {
            name,
            qtype,
            servers,
            timeout: config.timeout,
            attempts: config.attempts.max(1),
            edns: config.edns,
            tcp_only: config.tcp_only,
            start,
            cursor: 0,
            outstanding: Vec::new(),
            state: State::Idle,
        }
    }

    /// The name being looked up.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The type being looked up.
    pub fn qtype(&self) -> QType {
        self.qtype
    }

    /// Whether the lookup has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// The next thing to do. Call it first, after every `Send`/`SendTcp`,
    /// and after feeding any event. A passed deadline is noticed here too,
    /// so a missed `timer` call only delays things.
    pub fn poll(&mut self, now: Instant) -> Action {
        loop {
            match self.state {
                State::Done(ref outcome) => return Action::Done(outcome.clone()),
                State::AwaitUdp { deadline, .. } | State::AwaitTcp { deadline, .. } => {
                    if now < deadline {
                        return Action::Wait { until: deadline };
                    }
                    self.deadline_passed();
                }
                State::Ready { server, transport } => return self.send(server, transport, now),
                State::Idle => {
                    self.state = match self.next_try() {
                        Some(server) => {
                            let transport = if self.tcp_only {
                                Transport::Tcp
                            } else {
                                Transport::Udp
                            };
                            State::Ready { server, transport }
                        }
                        None => State::Done(self.failure()),
                    };
                }
            }
        }
    }

    /// A datagram arrived on the lookup's UDP socket from `from`.
    pub fn udp_received(&mut self, from: SocketAddr, bytes: &[u8], _now: Instant) {
        if matches!(
            self.state,
            State::Done(_)
                | State::AwaitTcp { .. }
                | State::Ready {
                    transport: Transport::Tcp,
                    ..
                }
        ) {
            return;
        }
        let Ok(header) = Header::parse(bytes) else {
            return;
        };
        if !header.qr {
            return;
        }
        let Some(pos) = self
            .outstanding
            .iter()
            .position(|o| o.id == header.id && same_endpoint(self.servers[o.server].addr, from))
        else {
            return;
        };
        let server = self.outstanding[pos].server;
        match Message::parse(bytes) {
            Err(e) => {
                self.outstanding.remove(pos);
                self.server_failed(server, ServerError::Malformed(e));
            }
            Ok(msg) => {
                if !msg.question_matches(&self.name, self.qtype) {
                    // A server that could not make sense of the query may
                    // answer an error without repeating it. That can only
                    // make us move on, never give an answer, so accept it.
                    let question_less_error = msg.questions.is_empty()
                        && !matches!(msg.rcode(), rcode::NOERROR | rcode::NXDOMAIN);
                    if !question_less_error {
                        return;
                    }
                }
                self.outstanding.remove(pos);
                self.on_answer(server, &msg, Transport::Udp);
            }
        }
    }

    /// The UDP send for the current try failed (no route, network down):
    /// that server is given up on and the next try starts.
    pub fn udp_send_failed(&mut self, _now: Instant) {
        if let State::AwaitUdp { server, .. } = self.state {
            self.server_failed(server, ServerError::Unreachable);
        }
    }

    /// Bytes arrived on the TCP connection (any chunking).
    pub fn tcp_received(&mut self, mut bytes: &[u8], _now: Instant) {
        let State::AwaitTcp {
            server,
            id,
            ref mut buf,
            ..
        } = self.state
        else {
            return;
        };
        // Take only what the framing says is ours: the 2-byte length, then
        // that many bytes. Memory is bounded by 2 + 65535.
        loop {
            let want = if buf.len() < 2 {
                2
            } else {
                2 + usize::from(u16::from_be_bytes([buf[0], buf[1]]))
            };
            if buf.len() >= 2 && buf.len() == want {
                break;
            }
            if bytes.is_empty() {
                return;
            }
            let take = (want - buf.len()).min(bytes.len());
            buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        let body = std::mem::take(buf);
        let body = &body[2..];
        match Message::parse(body) {
            Err(e) => self.server_failed(server, ServerError::Malformed(e)),
            Ok(msg) => {
                if msg.header.id != id
                    || !msg.header.qr
                    || !msg.question_matches(&self.name, self.qtype)
                {
                    self.server_failed(server, ServerError::BadTcpAnswer);
                } else {
                    self.on_answer(server, &msg, Transport::Tcp);
                }
            }
        }
    }

    /// The TCP connection could not be made, broke, or reached its end
    /// before a whole answer came.
    pub fn tcp_failed(&mut self, _now: Instant) {
        if let State::AwaitTcp { server, .. } = self.state {
            self.server_failed(server, ServerError::TcpFailed);
        }
    }

    /// The timer armed for a `Wait` fired (early or spurious calls are harmless).
    pub fn timer(&mut self, now: Instant) {
        if let State::AwaitUdp { deadline, .. } | State::AwaitTcp { deadline, .. } = self.state {
            if now >= deadline {
                self.deadline_passed();
            }
        }
    }

    /// The next server to try, or `None` when the tries have run out.
    fn next_try(&mut self) -> Option<usize> {
        let n = self.servers.len();
        let total = n.saturating_mul(self.attempts as usize);
        while self.cursor < total {
            let server = (self.start + self.cursor) % n;
            self.cursor += 1;
            if self.servers[server].failed.is_none() {
                return Some(server);
            }
        }
        None
    }

    fn send(&mut self, server: usize, transport: Transport, now: Instant) -> Action {
        let id = self.fresh_id();
        let edns = (self.edns && !self.servers[server].no_edns).then_some(EDNS_UDP_SIZE);
        let packet = Query {
            id,
            name: &self.name,
            qtype: self.qtype,
            recursion_desired: true,
            edns_udp_size: edns,
        }
        .encode();
        let addr = self.servers[server].addr;
        let deadline = now.checked_add(self.timeout).unwrap_or(now);
        match transport {
            Transport::Udp => {
                if self.outstanding.len() >= MAX_OUTSTANDING {
                    self.outstanding.remove(0);
                }
                self.outstanding.push(Outstanding { server, id });
                self.state = State::AwaitUdp { server, deadline };
                Action::Send {
                    server: addr,
                    id,
                    packet,
                }
            }
            Transport::Tcp => {
                self.state = State::AwaitTcp {
                    server,
                    id,
                    deadline,
                    buf: Vec::new(),
                };
                Action::SendTcp {
                    server: addr,
                    packet: tcp_frame(&packet),
                }
            }
        }
    }

    /// A random ID not already waited on (so two tries cannot be confused).
    fn fresh_id(&self) -> u16 {
        loop {
            let id = random_u64() as u16;
            if !self.outstanding.iter().any(|o| o.id == id) {
                return id;
            }
        }
    }

    fn deadline_passed(&mut self) {
        match self.state {
            // Silence is not failure: the server is asked again next round,
            // and a late answer to this try is still accepted.
            State::AwaitUdp { .. } => self.state = State::Idle,
            State::AwaitTcp { server, .. } => self.server_failed(server, ServerError::TcpTimeout),
            _ => {}
        }
    }

    fn awaited_server(&self) -> Option<usize> {
        match self.state {
            State::AwaitUdp { server, .. } | State::AwaitTcp { server, .. } => Some(server),
            _ => None,
        }
    }

    /// Gives up on a server; if it was the one being waited on, the next
    /// try starts.
    fn server_failed(&mut self, server: usize, error: ServerError) {
        self.servers[server].failed = Some(error);
        self.outstanding.retain(|o| o.server != server);
        if self.awaited_server() == Some(server) {
            self.state = State::Idle;
        }
    }

    /// A message that belongs to our query, from `server`.
    fn on_answer(&mut self, server: usize, msg: &Message, transport: Transport) {
        if msg.header.tc {
            match transport {
                Transport::Udp => {
                    self.state = State::Ready {
                        server,
                        transport: Transport::Tcp,
                    }
                }
                Transport::Tcp => self.server_failed(server, ServerError::BadTcpAnswer),
            }
            return;
        }
        match msg.rcode() {
            rcode::NOERROR | rcode::NXDOMAIN => match interpret(msg, &self.name, self.qtype) {
                Ok(outcome) => self.state = State::Done(outcome),
                Err(ServerError::CnameChain) => {
                    // Bad data, not a bad server: another would say the same.
                    let errors = vec![(self.servers[server].addr, ServerError::CnameChain)];
                    self.state = State::Done(Outcome::ServFail { errors });
                }
                Err(e) => self.server_failed(server, e),
            },
            rcode::FORMERR if self.edns && !self.servers[server].no_edns => {
                self.servers[server].no_edns = true;
                if self.awaited_server() == Some(server) {
                    self.state = State::Ready { server, transport };
                }
            }
            rcode::SERVFAIL => self.server_failed(server, ServerError::ServFail),
            rcode::REFUSED => self.server_failed(server, ServerError::Refused),
            other => self.server_failed(server, ServerError::Rcode(other)),
        }
    }

    /// The outcome when no server gave a usable answer.
    fn failure(&self) -> Outcome {
        let errors: Vec<(SocketAddr, ServerError)> = self
            .servers
            .iter()
            .filter_map(|s| s.failed.clone().map(|e| (s.addr, e)))
            .collect();
        if errors.len() == self.servers.len() {
            Outcome::ServFail { errors }
        } else {
            Outcome::Timeout {
                servers: self.servers.iter().map(|s| s.addr).collect(),
                errors,
            }
        }
    }
}

/// Reads a NOERROR/NXDOMAIN answer: follows CNAMEs from `qname` and
/// collects the records of `qtype` for the end of the chain.
fn interpret(msg: &Message, qname: &Name, qtype: QType) -> Result<Outcome, ServerError> {
    let mut current = qname;
    let mut ttl = u32::MAX;
    let mut hops = 0;
    loop {
        let mut addrs: Vec<IpAddr> = Vec::new();
        let mut addr_ttl = u32::MAX;
        for r in msg.answers.iter().filter(|r| r.name == *current) {
            let ip = match (&r.data, qtype) {
                (RData::A(ip), QType::A) => IpAddr::V4(*ip),
                (RData::Aaaa(ip), QType::Aaaa) => IpAddr::V6(*ip),
                _ => continue,
            };
            addr_ttl = addr_ttl.min(r.ttl);
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
        if !addrs.is_empty() {
            return Ok(Outcome::Addresses {
                canonical: current.clone(),
                addrs,
                ttl: ttl.min(addr_ttl),
            });
        }
        let alias = msg.answers.iter().find_map(|r| match &r.data {
            RData::Cname(target) if r.name == *current => Some((target, r.ttl)),
            _ => None,
        });
        let Some((target, alias_ttl)) = alias else {
            break;
        };
        hops += 1;
        if hops > MAX_CNAME_HOPS {
            return Err(ServerError::CnameChain);
        }
        ttl = ttl.min(alias_ttl);
        current = target;
    }
    let soa = msg.soa_ttl();
    let name = current.clone();
    if msg.rcode() == rcode::NXDOMAIN {
        return Ok(Outcome::NxDomain { name, soa });
    }
    if hops > 0 && soa.is_none() {
        // The server stopped partway along the chain.
        return Ok(Outcome::Cname { target: name, ttl });
    }
    if hops == 0 && soa.is_none() && !msg.header.ra && !msg.header.aa {
        // No data, no SOA, no recursion: a referral, not an answer.
        return Err(ServerError::NotRecursive);
    }
    Ok(Outcome::NoData { name, soa })
}

/// Same server: same port and address, an IPv4-mapped IPv6 address equal
/// to its IPv4 form (a dual-stack socket reports IPv4 peers that way).
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// Random bits from the OS; should that ever fail, from std's per-process
/// random hash keys mixed with the time, which still defeats guessing by
/// an off-path attacker far better than a counter would.
fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| RandomState::new().hash_one(Instant::now()))
}

#[cfg(test)]
mod tests;

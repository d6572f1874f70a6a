//! Name resolution, sans-IO: configuration files, the wire codec and the
//! resolver state machines. Nothing in this module opens a socket, reads a
//! file or a clock, except `resolver.rs` and `driver.rs`: they are the
//! runtime side, which reads the files and drives the machines on the
//! loop's reactor.
//!
//! # Files
//!
//! | file | job |
//! |---|---|
//! | `name.rs` | validated lowercase domain names ([`name::Name`]) |
//! | `codec.rs` | build A/AAAA queries, parse answers defensively |
//! | `conf.rs` | `/etc/resolv.conf` text and `dns.config{}` overrides |
//! | `hosts.rs` | `/etc/hosts` text |
//! | `services.rs` | service names to ports (`/etc/services` + built-ins) |
//! | `addr.rs` | IP literals, `ip:port` forms, the `Family` filter |
//! | `search.rs` | candidate names by `ndots` and the search list |
//! | `cache.rs` | bounded answer cache with negative caching |
//! | `query.rs` | [`query::Lookup`]: one name, one type, across servers |
//! | `resolve.rs` | [`resolve::Resolve`]: one whole `dns.address` request |
//! | `order.rs` | RFC 6724 family order and Happy Eyeballs interleave |
//! | `resolver.rs` | per Lua state: files (reloaded on change), settings, cache |
//! | `driver.rs` | runs one `Resolve` on the reactor (UDP, TCP, timer) |
//! | `gate.rs` | bounds the requests of a Lua state on the network at once |
//!
//! # What the runtime keeps per Lua state
//!
//! - `conf`: [`conf::ResolvConf::parse`] of `/etc/resolv.conf` (or
//!   `ResolvConf::default()` when it is missing), then
//!   [`conf::ResolvConf::apply_options`] with `$RES_OPTIONS` if set, then
//!   [`conf::ResolvConf::apply`] with the [`conf::Overrides`] that
//!   `dns.config{}` built through its `set_*` methods (whose errors name
//!   the bad key, for a Lua argument error).
//! - `hosts`: [`hosts::Hosts::parse`] of the file at `conf.hosts_path`
//!   (empty when missing); `services`: [`services::Services::parse`] of
//!   `/etc/services` (empty when missing: the built-in table still works).
//! - `cache`: a [`cache::Cache`] (`Cache::default()`); clear it when
//!   `dns.config` changes the servers.
//!
//! # Serving `dns.address(host, family, proto, port)`
//!
//! 1. `family` via [`addr::Family::from_lua`], `proto` via
//!    [`services::Proto::from_lua`] (either unknown: argument error);
//!    the port via [`services::Services::port`] (`None`: return
//!    `nil, msg, "noaddress"` or similar: an unknown service).
//! 2. `let mut r = Resolve::new(host, family, &conf, &hosts);` then the
//!    loop below. Literals and hosts-file names finish at the first poll
//!    with no I/O.
//! 3. On `Ok(resolved)`: [`order::sort`] the addresses (pass whether the
//!    host has a usable global or loopback IPv6 address), attach the port,
//!    and for `tcp.connect` walk them in [`order::interleave`] order. On
//!    `Err(e)`: return `nil, e.message, e.code`.
//!
//! ```text
//! let mut udp4 = None; let mut udp6 = None;       // made on first use
//! let mut tcp: HashMap<ConnId, Conn> = ...;
//! loop {
//!     match r.poll(Instant::now(), &mut cache) {
//!         Send { server, packet } => {
//!             // unconnected UDP socket of server's family, bound to the
//!             // wildcard address with port 0 (a fresh random port per request)
//!             if sock_for(server).send_to(&packet, server).is_err() {
//!                 r.udp_send_failed(Instant::now());
//!             }
//!         }
//!         SendTcp { conn, server, packet } => tcp.insert(conn, connect_and_queue(server, packet)),
//!         CloseTcp { conn } => drop(tcp.remove(&conn)),
//!         Wait { until } => {
//!             // sleep until readable/writable or `until`, then feed:
//!             //   each datagram (recv_from until WouldBlock, buffer of
//!             //   65535 bytes)          -> r.udp_received(from, &buf[..n], now)
//!             //   TCP bytes             -> r.tcp_received(conn, &bytes, now)
//!             //   TCP error, EOF, or connect failure -> r.tcp_failed(conn, now)
//!             //   the timer             -> r.timer(now)
//!         }
//!         Done(result) => break result,            // drop every socket
//!     }
//! }
//! ```
//!
//! Events may be fed in any number and order between polls; stale or
//! foreign input (spoofed datagrams, events for closed connections) is
//! ignored by the machines, never trusted. `poll` also notices passed
//! deadlines itself, so a late timer only delays things. A runtime that
//! wants finer control can drive [`query::Lookup`] directly: the same
//! loop, for one name and type, with the rule that any action other than
//! `Wait` ends the lookup's current TCP connection.
//!
//! # Failure codes
//!
//! `nxdomain` (no such name, or an invalid one), `noaddress` (the name
//! exists without addresses of the family, or a literal of the other
//! family), `servfail` (every server failed, or a CNAME chain too long),
//! `timeout` (no server answered within `timeout` × `attempts` per server).

pub mod addr;
pub mod cache;
pub mod codec;
pub mod conf;
pub(crate) mod driver;
pub(crate) mod gate;
pub mod hosts;
pub mod name;
pub mod order;
pub mod query;
pub mod resolve;
pub(crate) mod resolver;
pub mod search;
pub mod services;

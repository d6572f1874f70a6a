//! The resolver of one Lua state: the configuration files (read on first
//! use, reloaded when they change), the `dns.config{}` settings, the
//! answer cache, and the entry points the Lua functions and
//! `connect_host` call. The I/O of a lookup is [`super::driver`]'s.
//!
//! Files are checked at most once per [`RECHECK`]: a change of
//! `/etc/resolv.conf` or of the hosts file (modification time, size or
//! inode) makes the next request read it again. `/etc/services` is read
//! once per process (see [`service_port`]).

use std::cell::{RefCell, RefMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use super::addr::Family;
use super::cache::Cache;
use super::conf::{Overrides, ResolvConf, MAX_NDOTS};
use super::gate::{Gate, Permit};
use super::hosts::Hosts;
use super::order;
use super::resolve::{Resolve, ResolveAction, Resolved};
use super::services::{Proto, Services};
use crate::error::NetResult;
use crate::runtime::Runtime;

/// The system resolver configuration.
pub(crate) const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The services database.
const SERVICES: &str = "/etc/services";
/// How often the files are looked at for changes, at most.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);
/// How long the "is IPv6 usable" answer is kept.
const IPV6_RECHECK: Duration = Duration::from_secs(1);

/// What identifies a version of a file: a change of any field means the
/// file was written or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    ino: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        ino: m.ino(),
    })
}

/// The `dns.config{}` settings of a Lua state, on top of the files.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Servers, timeout, attempts, search list, hosts file.
    pub(crate) overrides: Overrides,
    /// `ndots`, when set.
    pub(crate) ndots: Option<u32>,
    /// Whether answers are cached.
    pub(crate) cache: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            overrides: Overrides::default(),
            ndots: None,
            cache: true,
        }
    }
}

impl Settings {
    /// Sets `ndots` (0 to 15, glibc's limit).
    pub(crate) fn set_ndots(&mut self, n: i64) -> Result<(), String> {
        match u32::try_from(n) {
            Ok(n) if n <= MAX_NDOTS => {
                self.ndots = Some(n);
                Ok(())
            }
            _ => Err(format!("option 'ndots': {n} is not in 0..{MAX_NDOTS}")),
        }
    }
}

/// The loaded state.
pub(crate) struct State {
    /// Where resolv.conf is ([`RESOLV_CONF`] but in tests).
    resolv_path: PathBuf,
    /// What resolv.conf and `$RES_OPTIONS` say.
    system: ResolvConf,
    resolv_stamp: Option<Stamp>,
    /// What is in force: `system` with the settings applied.
    pub(crate) conf: ResolvConf,
    pub(crate) settings: Settings,
    pub(crate) hosts: Hosts,
    hosts_path: PathBuf,
    hosts_stamp: Option<Stamp>,
    pub(crate) cache: Cache,
    checked: Instant,
    /// Per kind of destination (loopback, other): when it was checked and
    /// whether IPv6 was usable.
    ipv6: [Option<(Instant, bool)>; 2],
}

impl State {
    fn load(resolv_path: &Path, now: Instant) -> State {
        let resolv_stamp = stamp(resolv_path);
        let system = read_resolv_conf(resolv_path);
        let mut s = State {
            resolv_path: resolv_path.to_path_buf(),
            conf: system.clone(),
            system,
            resolv_stamp,
            settings: Settings::default(),
            hosts: Hosts::default(),
            hosts_path: PathBuf::new(),
            hosts_stamp: None,
            cache: Cache::default(),
            checked: now,
            ipv6: [None, None],
        };
        s.recompute();
        s.reload_hosts();
        s
    }

    /// Rebuilds `conf` from the files and the settings.
    fn recompute(&mut self) {
        let mut conf = self.system.clone();
        conf.apply(&self.settings.overrides);
        if let Some(n) = self.settings.ndots {
            conf.ndots = n;
        }
        if conf.nameservers != self.conf.nameservers {
            self.cache.clear();
        }
        self.conf = conf;
    }

    fn reload_hosts(&mut self) {
        self.hosts_path = self.conf.hosts_path.clone();
        self.hosts_stamp = stamp(&self.hosts_path);
        self.hosts = std::fs::read_to_string(&self.hosts_path)
            .map(|text| Hosts::parse(&text))
            .unwrap_or_default();
    }

    /// Looks at the files if the last look is more than [`RECHECK`] ago.
    fn refresh(&mut self, now: Instant) {
        if now.saturating_duration_since(self.checked) < RECHECK {
            return;
        }
        self.checked = now;
        let resolv_stamp = stamp(&self.resolv_path);
        if resolv_stamp != self.resolv_stamp {
            self.resolv_stamp = resolv_stamp;
            self.system = read_resolv_conf(&self.resolv_path);
            self.recompute();
        }
        if self.conf.hosts_path != self.hosts_path || stamp(&self.hosts_path) != self.hosts_stamp {
            self.reload_hosts();
        }
    }

    /// Replaces the settings (from `dns.config{}`); takes effect at once.
    pub(crate) fn configure(&mut self, settings: Settings) {
        if settings.cache != self.settings.cache {
            self.cache = if settings.cache {
                Cache::default()
            } else {
                Cache::new(0)
            };
        }
        self.settings = settings;
        self.recompute();
        if self.conf.hosts_path != self.hosts_path {
            self.reload_hosts();
        }
    }

    /// Whether IPv6 destinations like `dest` should come first: see
    /// [`Resolver::sort`].
    fn prefers_ipv6(&mut self, dest: Ipv6Addr, now: Instant) -> bool {
        let kind = usize::from(!dest.is_loopback());
        if let Some((at, usable)) = self.ipv6[kind] {
            if now.saturating_duration_since(at) < IPV6_RECHECK {
                return usable;
            }
        }
        let usable = ipv6_route(dest);
        self.ipv6[kind] = Some((now, usable));
        usable
    }
}

/// resolv.conf, or the defaults when it is missing, then `$RES_OPTIONS`.
fn read_resolv_conf(path: &Path) -> ResolvConf {
    let mut conf = std::fs::read_to_string(path)
        .map(|text| ResolvConf::parse(&text))
        .unwrap_or_default();
    if let Ok(options) = std::env::var("RES_OPTIONS") {
        conf.apply_options(&options);
    }
    conf
}

/// Whether the kernel has a route to `dest`: connecting a UDP socket only
/// looks up the route and picks a source address, it sends nothing.
fn ipv6_route(dest: Ipv6Addr) -> bool {
    use socket2::{Domain, Socket, Type};
    let Ok(s) = Socket::new(Domain::IPV6, Type::DGRAM.cloexec(), None) else {
        return false;
    };
    s.connect(&SocketAddr::new(IpAddr::V6(dest), 9).into())
        .is_ok()
}

/// A request that needs the network: its machine, and, once it has its
/// place under the [`Gate`], the permit and the first thing it asked for.
pub(crate) struct Running {
    resolve: Resolve,
    action: Option<ResolveAction>,
    permit: Option<Permit>,
}

/// How a request started.
pub(crate) enum Start {
    /// Answered at once: a literal, the hosts file, the cache, a bad name.
    Done(NetResult<Resolved>),
    /// It needs the network: [`finish`] takes it from here.
    Network(Box<Running>),
}

/// The resolver of one Lua state, kept in its [`Runtime`].
#[derive(Default)]
pub(crate) struct Resolver {
    state: RefCell<Option<State>>,
    /// Receive buffer shared by every lookup: datagrams are handled as soon
    /// as they are read, so one is enough.
    buf: RefCell<Vec<u8>>,
    /// The bound on requests on the network at once.
    gate: Gate,
}

impl Resolver {
    /// The state, loaded on first use and refreshed when due.
    pub(crate) fn state(&self) -> RefMut<'_, State> {
        let now = Instant::now();
        let mut slot = self.state.borrow_mut();
        match slot.as_mut() {
            Some(s) => s.refresh(now),
            None => *slot = Some(State::load(Path::new(RESOLV_CONF), now)),
        }
        RefMut::map(slot, |s| s.as_mut().expect("loaded above"))
    }

    /// The state without a look at the files (for the lookups in flight).
    pub(crate) fn state_now(&self) -> RefMut<'_, State> {
        let mut slot = self.state.borrow_mut();
        if slot.is_none() {
            *slot = Some(State::load(Path::new(RESOLV_CONF), Instant::now()));
        }
        RefMut::map(slot, |s| s.as_mut().expect("loaded above"))
    }

    pub(crate) fn buffer(&self) -> RefMut<'_, Vec<u8>> {
        let mut buf = self.buf.borrow_mut();
        if buf.len() < 65535 {
            buf.resize(65535, 0);
        }
        buf
    }

    /// Starts a request: settles it at once if it needs no network, else
    /// sets it going if the gate lets it (a request waiting for its turn
    /// has not asked the cache yet: it does when its turn comes).
    pub(crate) fn start(&self, host: &str, family: Family) -> Start {
        let mut state = self.state();
        let mut resolve = Resolve::new(host, family, &state.conf, &state.hosts);
        let permit = if resolve.is_settled() {
            None
        } else {
            match self.gate.try_acquire() {
                Some(p) => Some(p),
                None => {
                    return Start::Network(Box::new(Running {
                        resolve,
                        action: None,
                        permit: None,
                    }))
                }
            }
        };
        let s = &mut *state;
        match resolve.poll(Instant::now(), &mut s.cache) {
            ResolveAction::Done(result) => Start::Done(result),
            action => Start::Network(Box::new(Running {
                resolve,
                action: Some(action),
                permit,
            })),
        }
    }

    /// Sorts addresses as RFC 6724 does in its simple form: IPv6 first
    /// when the host can use it, else IPv4 first, the resolver's order
    /// kept within a family. "Can use it" means the kernel has a route to
    /// the first IPv6 address of the list (a UDP socket connects to it;
    /// nothing is sent); the answer is kept for a second, separately for
    /// loopback and other destinations.
    pub(crate) fn sort(&self, addrs: &mut [IpAddr]) {
        let first_v6 = addrs.iter().find_map(|ip| match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => Some(*v6),
            _ => None,
        });
        let Some(v6) = first_v6 else { return };
        if addrs.iter().all(order::HasFamily::is_v6) {
            return;
        }
        let prefer = self.state_now().prefers_ipv6(v6, Instant::now());
        order::sort(addrs, prefer);
    }
}

/// Finishes a request that [`Resolver::start`] found needs the network:
/// waits for its turn if it has none, then drives it.
pub(crate) async fn finish(rt: &Rc<Runtime>, running: Box<Running>) -> NetResult<Resolved> {
    let Running {
        mut resolve,
        action,
        permit,
    } = *running;
    let permit = match permit {
        Some(p) => p,
        None => rt.dns.gate.acquire().await,
    };
    let action = match action {
        Some(a) => a,
        // Its timers run from now; the cache may have the answer by now.
        None => match resolve.poll(Instant::now(), &mut rt.dns.state_now().cache) {
            ResolveAction::Done(result) => return result,
            a => a,
        },
    };
    let result = super::driver::drive(rt, resolve, action).await;
    // The permit is held until the request ends (or is dropped).
    drop(permit);
    result
}

/// Resolves `host` in `family` on the loop; the addresses come sorted
/// (see [`Resolver::sort`]).
pub(crate) async fn lookup(rt: &Rc<Runtime>, host: &str, family: Family) -> NetResult<Vec<IpAddr>> {
    let resolved = match rt.dns.start(host, family) {
        Start::Done(result) => result,
        Start::Network(running) => finish(rt, running).await,
    }?;
    let mut addrs = resolved.addrs;
    rt.dns.sort(&mut addrs);
    Ok(addrs)
}

/// The port of a service name for `proto`: a number, an entry of
/// `/etc/services` (read once per process), or the built-in table.
pub(crate) fn service_port(service: &str, proto: Proto) -> Option<u16> {
    static SERVICES_DB: OnceLock<Services> = OnceLock::new();
    if let Some(p) = super::services::numeric_port(service) {
        return Some(p);
    }
    SERVICES_DB
        .get_or_init(|| {
            std::fs::read_to_string(SERVICES)
                .map(|text| Services::parse(&text))
                .unwrap_or_default()
        })
        .port(service, proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("lua-tls-resolver-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn servers(s: &State) -> Vec<String> {
        s.conf.nameservers.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reloads_changed_files_at_most_once_a_second() {
        let dir = temp_dir("reload");
        let resolv = dir.0.join("resolv.conf");
        let hosts = dir.0.join("hosts");
        std::fs::write(&resolv, "nameserver 192.0.2.1\nsearch a.example\n").unwrap();
        std::fs::write(&hosts, "192.0.2.10 one.example\n").unwrap();
        let t0 = Instant::now();
        let mut s = State::load(&resolv, t0);
        let mut settings = Settings::default();
        settings.overrides.hosts = Some(hosts.clone());
        s.configure(settings);
        assert_eq!(servers(&s), ["192.0.2.1:53"]);
        assert_eq!(s.hosts.lookup("one.example", Family::Any).len(), 1);

        // Longer content, so the size changes even where mtime is coarse.
        std::fs::write(&resolv, "nameserver 192.0.2.2\nnameserver 192.0.2.3\n").unwrap();
        std::fs::write(&hosts, "192.0.2.20 two.example\n192.0.2.21 two.example\n").unwrap();
        s.refresh(t0 + Duration::from_millis(500));
        assert_eq!(servers(&s), ["192.0.2.1:53"], "checked within a second");
        s.refresh(t0 + Duration::from_millis(1500));
        assert_eq!(servers(&s), ["192.0.2.2:53", "192.0.2.3:53"]);
        assert!(s.conf.search.is_empty());
        assert!(s.hosts.lookup("one.example", Family::Any).is_empty());
        assert_eq!(s.hosts.lookup("two.example", Family::Any).len(), 2);

        // Overrides stay on top of a reloaded file.
        let mut settings = s.settings.clone();
        settings
            .overrides
            .set_nameservers(&["127.0.0.1:5353"])
            .unwrap();
        settings.set_ndots(3).unwrap();
        s.configure(settings);
        std::fs::write(
            &resolv,
            "nameserver 192.0.2.4\noptions ndots:2 attempts:4\n",
        )
        .unwrap();
        s.refresh(t0 + Duration::from_millis(2600));
        assert_eq!(servers(&s), ["127.0.0.1:5353"]);
        assert_eq!(s.conf.ndots, 3);
        assert_eq!(s.conf.attempts, 4);

        // A missing file means the defaults.
        std::fs::remove_file(&resolv).unwrap();
        let mut settings = s.settings.clone();
        settings.overrides.nameservers = None;
        s.configure(settings);
        s.refresh(t0 + Duration::from_millis(3700));
        assert_eq!(servers(&s), ["127.0.0.1:53", "[::1]:53"]);
    }

    #[test]
    fn turning_the_cache_off_empties_it() {
        let dir = temp_dir("cache");
        let mut s = State::load(&dir.0.join("missing"), Instant::now());
        assert!(s.cache.capacity() > 0);
        let mut settings = s.settings.clone();
        settings.cache = false;
        s.configure(settings.clone());
        assert_eq!(s.cache.capacity(), 0);
        settings.cache = true;
        s.configure(settings);
        assert!(s.cache.capacity() > 0);
    }

    #[test]
    fn service_names() {
        assert_eq!(service_port("443", Proto::Tcp), Some(443));
        assert_eq!(service_port("https", Proto::Tcp), Some(443));
        assert_eq!(service_port("HTTP", Proto::Tcp), Some(80));
        assert_eq!(service_port("domain", Proto::Udp), Some(53));
        assert_eq!(service_port("no-such-service", Proto::Tcp), None);
        assert_eq!(service_port("70000", Proto::Tcp), None);
    }
}

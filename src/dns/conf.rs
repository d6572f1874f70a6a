//! Resolver configuration: `/etc/resolv.conf` text, glibc's reading of it,
//! and the overrides a Lua state sets with `dns.config{...}`.
//!
//! Parsing is pure (text in, struct out); reading the files is the
//! runtime's job. Unknown keywords and options are ignored, as glibc does,
//! so a resolv.conf written for another resolver never stops us.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::addr::{parse_ip, parse_server, socket_addr};
use super::name::Name;

/// The DNS port.
pub const DNS_PORT: u16 = 53;
/// glibc reads at most three `nameserver` lines (MAXNS); later ones are ignored.
pub const MAX_NAMESERVERS: usize = 3;
/// glibc's RES_MAXNDOTS.
pub const MAX_NDOTS: u32 = 15;
/// glibc's RES_MAXRETRANS (seconds).
pub const MAX_TIMEOUT_SECS: u32 = 30;
/// glibc's RES_MAXRETRY.
pub const MAX_ATTEMPTS: u32 = 5;
/// A bound on the search list. Modern glibc has none; this only keeps a
/// hostile file from making every lookup try thousands of names.
pub const MAX_SEARCH: usize = 32;

/// The resolver configuration in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// Servers in the order given (never empty: defaults fill in).
    pub nameservers: Vec<SocketAddr>,
    /// Search domains, in order.
    pub search: Vec<Name>,
    /// Names with at least this many dots are tried as given first.
    pub ndots: u32,
    /// How long to wait for each server on each try.
    pub timeout: Duration,
    /// Rounds over the server list.
    pub attempts: u32,
    /// Start each lookup at a different server (`options rotate`).
    pub rotate: bool,
    /// Send EDNS0 (advertising a 1232-byte UDP payload). glibc needs
    /// `options edns0`; we default to on, because every resolver in use
    /// today speaks it and it spares TCP retries for large answers. The
    /// query machine falls back to plain DNS when a server answers FORMERR.
    pub edns0: bool,
    /// Use TCP for every query (`options use-vc` / `usevc`).
    pub use_vc: bool,
    /// The hosts file to read (`/etc/hosts` unless overridden).
    pub hosts_path: PathBuf,
}

impl Default for ResolvConf {
    /// What glibc assumes with no resolv.conf: the local server on both
    /// loopbacks, ndots 1, timeout 5 s, 2 attempts.
    fn default() -> Self {
        ResolvConf {
            nameservers: default_nameservers(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            edns0: true,
            use_vc: false,
            hosts_path: PathBuf::from("/etc/hosts"),
        }
    }
}

fn default_nameservers() -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DNS_PORT),
    ]
}

impl ResolvConf {
    /// Reads resolv.conf text. Never fails: bad lines are skipped.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            ..ResolvConf::default()
        };
        for line in text.lines() {
            // Comments start with '#' or ';', at the start of a line or after
            // a value.
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword {
                "nameserver" => {
                    let addr = words.next().and_then(parse_server_word);
                    if let Some(addr) = addr {
                        if conf.nameservers.len() < MAX_NAMESERVERS {
                            conf.nameservers.push(addr);
                        }
                    }
                }
                // The last of `search` and `domain` wins (glibc).
                "domain" => {
                    conf.search = words.next().into_iter().filter_map(search_name).collect()
                }
                "search" => conf.search = words.filter_map(search_name).take(MAX_SEARCH).collect(),
                "options" => {
                    for option in words {
                        conf.apply_option(option);
                    }
                }
                _ => {}
            }
        }
        if conf.nameservers.is_empty() {
            conf.nameservers = default_nameservers();
        }
        conf
    }

    /// Applies a space-separated options string, as found after `options`
    /// or in the `RES_OPTIONS` environment variable.
    pub fn apply_options(&mut self, options: &str) {
        for option in options.split_whitespace() {
            self.apply_option(option);
        }
    }

    fn apply_option(&mut self, option: &str) {
        let (key, value) = match option.split_once(':') {
            Some((k, v)) => (k, Some(v)),
            None => (option, None),
        };
        // glibc reads the number with atoi: a bad value reads as 0, which the
        // clamps below then raise to the least useful setting.
        let number = || value.map_or(0, atoi);
        match key {
            "ndots" => self.ndots = number().min(MAX_NDOTS),
            // A zero timeout or attempt count would never ask anyone.
            "timeout" => {
                self.timeout = Duration::from_secs(number().clamp(1, MAX_TIMEOUT_SECS).into())
            }
            "attempts" => self.attempts = number().clamp(1, MAX_ATTEMPTS),
            "rotate" => self.rotate = true,
            "edns0" => self.edns0 = true,
            "use-vc" | "usevc" => self.use_vc = true,
            _ => {}
        }
    }

    /// Applies the overrides from `dns.config{...}`; fields left `None`
    /// keep what the files said.
    pub fn apply(&mut self, over: &Overrides) {
        if let Some(servers) = &over.nameservers {
            self.nameservers = servers.clone();
        }
        if let Some(timeout) = over.timeout {
            self.timeout = timeout;
        }
        if let Some(attempts) = over.attempts {
            self.attempts = attempts;
        }
        if let Some(search) = &over.search {
            self.search = search.clone();
        }
        if let Some(path) = &over.hosts {
            self.hosts_path = path.clone();
        }
    }
}

/// A nameserver word: an address, IPv6 with an optional `%zone`; port 53.
/// Unlike the Lua form, resolv.conf has no port syntax.
fn parse_server_word(word: &str) -> Option<SocketAddr> {
    if word.starts_with('[') {
        return None;
    }
    let (ip, scope) = parse_ip(word)?;
    Some(socket_addr(ip, scope, DNS_PORT))
}

fn search_name(word: &str) -> Option<Name> {
    Name::new(word).ok().filter(|n| !n.is_root())
}

/// C's `atoi` for the digits we accept: leading digits, saturating.
fn atoi(s: &str) -> u32 {
    s.bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u32, |acc, d| {
            acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
}

/// Settings from Lua's `dns.config{...}`, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replace the server list.
    pub nameservers: Option<Vec<SocketAddr>>,
    /// Per-try timeout.
    pub timeout: Option<Duration>,
    /// Rounds over the server list.
    pub attempts: Option<u32>,
    /// Replace the search list.
    pub search: Option<Vec<Name>>,
    /// Read this hosts file instead of `/etc/hosts`.
    pub hosts: Option<PathBuf>,
}

/// Why an override value was refused; the runtime turns it into a Lua
/// argument error naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideError {
    /// The `dns.config` key.
    pub key: &'static str,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for OverrideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dns.config: bad '{}': {}", self.key, self.reason)
    }
}

impl std::error::Error for OverrideError {}

impl Overrides {
    /// Sets the servers from Lua strings: `"ip"`, `"ip:port"`, `"[v6]:port"`,
    /// `"v6"`. An empty list is refused: nobody would be asked.
    pub fn set_nameservers<S: AsRef<str>>(&mut self, list: &[S]) -> Result<(), OverrideError> {
        let err = |reason: String| OverrideError {
            key: "nameservers",
            reason,
        };
        if list.is_empty() {
            return Err(err("empty list".into()));
        }
        let servers = list
            .iter()
            .map(|s| {
                parse_server(s.as_ref(), DNS_PORT)
                    .ok_or_else(|| err(format!("'{}' is not an address", s.as_ref())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.nameservers = Some(servers);
        Ok(())
    }

    /// Sets the per-try timeout in seconds (fractions allowed, up to an hour).
    pub fn set_timeout(&mut self, seconds: f64) -> Result<(), OverrideError> {
        if !(seconds > 0.0 && seconds <= 3600.0) {
            return Err(OverrideError {
                key: "timeout",
                reason: format!("{seconds} is not in (0, 3600]"),
            });
        }
        self.timeout = Some(Duration::from_secs_f64(seconds));
        Ok(())
    }

    /// Sets the number of rounds (1 to 5, glibc's limit).
    pub fn set_attempts(&mut self, attempts: i64) -> Result<(), OverrideError> {
        match u32::try_from(attempts) {
            Ok(n) if (1..=MAX_ATTEMPTS).contains(&n) => {
                self.attempts = Some(n);
                Ok(())
            }
            _ => Err(OverrideError {
                key: "attempts",
                reason: format!("{attempts} is not in 1..{MAX_ATTEMPTS}"),
            }),
        }
    }

    /// Sets the search list (may be empty: no search).
    pub fn set_search<S: AsRef<str>>(&mut self, list: &[S]) -> Result<(), OverrideError> {
        let search = list
            .iter()
            .map(|s| {
                let s = s.as_ref();
                match Name::new(s) {
                    Ok(n) if !n.is_root() => Ok(n),
                    Ok(_) => Err("the root is not a search domain".to_string()),
                    Err(e) => Err(format!("'{s}': {e}")),
                }
                .map_err(|reason| OverrideError {
                    key: "search",
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.search = Some(search);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn names(list: &[&str]) -> Vec<Name> {
        list.iter().map(|s| Name::new(s).unwrap()).collect()
    }

    #[test]
    fn defaults() {
        let c = ResolvConf::parse("");
        assert_eq!(c, ResolvConf::default());
        assert_eq!(c.nameservers, vec![sa("127.0.0.1:53"), sa("[::1]:53")]);
        assert_eq!(c.ndots, 1);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.attempts, 2);
        assert!(!c.rotate && !c.use_vc && c.edns0);
        assert!(c.search.is_empty());
        assert_eq!(c.hosts_path, PathBuf::from("/etc/hosts"));
    }

    #[test]
    fn typical_file() {
        let c = ResolvConf::parse(
            "# generated\n\
             ; also a comment\n\
             nameserver 192.0.2.53\n\
             nameserver 2001:db8::53 # inline comment\n\
             nameserver fe80::1%eth0\n\
             nameserver 192.0.2.54\n\
             search Example.COM corp.example.\n\
             options ndots:2 timeout:3 attempts:4 rotate\n",
        );
        // Only the first three servers count.
        assert_eq!(
            c.nameservers,
            vec![
                sa("192.0.2.53:53"),
                sa("[2001:db8::53]:53"),
                sa("[fe80::1]:53")
            ]
        );
        assert_eq!(c.search, names(&["example.com", "corp.example"]));
        assert_eq!(c.ndots, 2);
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.attempts, 4);
        assert!(c.rotate);
    }

    #[test]
    fn numeric_zone_is_kept() {
        let c = ResolvConf::parse("nameserver fe80::1%4\n");
        assert_eq!(c.nameservers, vec![sa("[fe80::1%4]:53")]);
    }

    #[test]
    fn bad_nameservers_are_skipped_and_defaults_used() {
        let c = ResolvConf::parse(
            "nameserver\nnameserver bogus\nnameserver 1.2.3.4:53\nnameserver [::1]:53\n",
        );
        assert_eq!(c.nameservers, ResolvConf::default().nameservers);
        let c = ResolvConf::parse("nameserver bogus\nnameserver 10.0.0.1\n");
        assert_eq!(c.nameservers, vec![sa("10.0.0.1:53")]);
    }

    #[test]
    fn last_of_search_and_domain_wins() {
        let c = ResolvConf::parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(c.search, names(&["c.example"]));
        let c = ResolvConf::parse("domain c.example\nsearch a.example b.example\n");
        assert_eq!(c.search, names(&["a.example", "b.example"]));
        // Bad names in the list are dropped, good ones kept.
        let c = ResolvConf::parse("search ok.example bad..name .\n");
        assert_eq!(c.search, names(&["ok.example"]));
        let c = ResolvConf::parse(&format!("search {}\n", "x.example ".repeat(100)));
        assert_eq!(c.search.len(), MAX_SEARCH);
    }

    #[test]
    fn options_are_clamped() {
        let c = ResolvConf::parse("options ndots:99 timeout:120 attempts:50\n");
        assert_eq!(
            (c.ndots, c.timeout, c.attempts),
            (15, Duration::from_secs(30), 5)
        );
        let c = ResolvConf::parse("options ndots:0 timeout:0 attempts:0\n");
        assert_eq!(
            (c.ndots, c.timeout, c.attempts),
            (0, Duration::from_secs(1), 1)
        );
        let c = ResolvConf::parse("options ndots:x timeout:2s attempts:99999999999999\n");
        assert_eq!(
            (c.ndots, c.timeout, c.attempts),
            (0, Duration::from_secs(2), 5)
        );
        let c = ResolvConf::parse("options use-vc edns0 inet6 no-such-option:3\n");
        assert!(c.use_vc && c.edns0);
        assert_eq!(c.ndots, 1);
    }

    #[test]
    fn keywords_must_lead_the_line() {
        let c = ResolvConf::parse(
            "  nameserver 10.0.0.1\n# nameserver 10.0.0.2\nfoo nameserver 10.0.0.3\n",
        );
        assert_eq!(c.nameservers, vec![sa("10.0.0.1:53")]);
        let c = ResolvConf::parse("options ndots:3;rotate\n");
        assert_eq!(c.ndots, 3);
        assert!(!c.rotate);
    }

    #[test]
    fn res_options_string() {
        let mut c = ResolvConf::default();
        c.apply_options("ndots:4 rotate");
        assert_eq!(c.ndots, 4);
        assert!(c.rotate);
    }

    #[test]
    fn overrides() {
        let mut o = Overrides::default();
        o.set_nameservers(&["127.0.0.1:5353", "[::1]:53", "10.0.0.1", "::2"])
            .unwrap();
        o.set_timeout(0.25).unwrap();
        o.set_attempts(3).unwrap();
        o.set_search(&["Lan.", "corp.example"]).unwrap();
        o.hosts = Some(PathBuf::from("/tmp/hosts"));
        let mut c = ResolvConf::parse("nameserver 192.0.2.1\nsearch x.example\noptions ndots:2\n");
        c.apply(&o);
        assert_eq!(
            c.nameservers,
            vec![
                sa("127.0.0.1:5353"),
                sa("[::1]:53"),
                sa("10.0.0.1:53"),
                sa("[::2]:53")
            ]
        );
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.attempts, 3);
        assert_eq!(c.search, names(&["lan", "corp.example"]));
        assert_eq!(c.hosts_path, PathBuf::from("/tmp/hosts"));
        assert_eq!(c.ndots, 2, "untouched settings stay");
    }

    #[test]
    fn bad_overrides() {
        let mut o = Overrides::default();
        let empty: [&str; 0] = [];
        assert_eq!(o.set_nameservers(&empty).unwrap_err().key, "nameservers");
        let e = o
            .set_nameservers(&["127.0.0.1:5353", "localhost"])
            .unwrap_err();
        assert!(e.to_string().contains("'localhost'"), "{e}");
        assert!(o.set_timeout(0.0).is_err());
        assert!(o.set_timeout(-1.0).is_err());
        assert!(o.set_timeout(f64::NAN).is_err());
        assert!(o.set_timeout(f64::INFINITY).is_err());
        assert!(o.set_attempts(0).is_err());
        assert!(o.set_attempts(6).is_err());
        assert!(o.set_attempts(-1).is_err());
        assert!(o.set_search(&["a..b"]).is_err());
        assert!(o.set_search(&["."]).is_err());
        assert_eq!(o, Overrides::default(), "failed setters change nothing");
        let empty: [&str; 0] = [];
        o.set_search(&empty).unwrap();
        assert_eq!(o.search, Some(vec![]));
    }
}

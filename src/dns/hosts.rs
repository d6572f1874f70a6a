//! The hosts file: `address name [aliases...]` per line, `#` comments.
//!
//! Lookup is case-insensitive and returns every address listed for the
//! name, in file order, without duplicates (what glibc's `getaddrinfo`
//! gives with the files backend).

use std::collections::HashMap;
use std::net::IpAddr;

use super::addr::{parse_ip, Family};
use super::name::Name;

/// A parsed hosts file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    // Lowercased name -> addresses in file order.
    by_name: HashMap<Name, Vec<IpAddr>>,
}

impl Hosts {
    /// Reads hosts-file text. Lines whose address does not parse are
    /// skipped, and so are names that are not valid domain names.
    pub fn parse(text: &str) -> Hosts {
        let mut by_name: HashMap<Name, Vec<IpAddr>> = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(addr) = words.next() else { continue };
            // A zone (`fe80::1%eth0`) is tolerated; the address is kept.
            let Some((ip, _zone)) = parse_ip(addr).filter(|_| !addr.starts_with('[')) else {
                continue;
            };
            for word in words {
                let Ok(name) = Name::new(word) else { continue };
                let list = by_name.entry(name).or_default();
                if !list.contains(&ip) {
                    list.push(ip);
                }
            }
        }
        Hosts { by_name }
    }

    /// The addresses for `name` (any case, trailing dot or not) in `family`,
    /// in file order. Empty when the file does not list it.
    pub fn lookup(&self, name: &str, family: Family) -> Vec<IpAddr> {
        let Ok(name) = Name::new(name) else {
            return Vec::new();
        };
        self.lookup_name(&name, family)
    }

    /// As [`Hosts::lookup`], for an already parsed name.
    pub fn lookup_name(&self, name: &Name, family: Family) -> Vec<IpAddr> {
        self.by_name
            .get(name)
            .map(|ips| {
                ips.iter()
                    .copied()
                    .filter(|ip| family.matches(ip))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the file lists the name at all (any family). Note that glibc
    /// (`hosts: files dns`) still asks DNS for a name listed only in the
    /// other family, and so does [`Resolve`](super::resolve::Resolve).
    pub fn contains(&self, name: &Name) -> bool {
        self.by_name.contains_key(name)
    }

    /// How many distinct names the file lists.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the file lists no names.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    const TEXT: &str = "\
# The usual Debian file
127.0.0.1\tlocalhost
127.0.1.1  myhost.example.org  myhost   # trailing comment
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
192.0.2.10 Web.Example.COM web www
2001:db8::10 web.example.com
192.0.2.11 web.example.com
192.0.2.10 web.example.com
fe80::5%eth0 linklocal
not-an-address somename
   # indented comment
10.0.0.1
192.0.2.99 bad..name good.example
";

    #[test]
    fn lookups_by_family_in_file_order() {
        let h = Hosts::parse(TEXT);
        assert_eq!(
            h.lookup("localhost", Family::Any),
            ips(&["127.0.0.1", "::1"])
        );
        assert_eq!(h.lookup("localhost", Family::V4), ips(&["127.0.0.1"]));
        assert_eq!(h.lookup("localhost", Family::V6), ips(&["::1"]));
        assert_eq!(
            h.lookup("web.example.com", Family::Any),
            ips(&["192.0.2.10", "2001:db8::10", "192.0.2.11"]),
            "file order, duplicates dropped"
        );
        assert_eq!(
            h.lookup("web.example.com", Family::V6),
            ips(&["2001:db8::10"])
        );
    }

    #[test]
    fn names_and_aliases_case_insensitive() {
        let h = Hosts::parse(TEXT);
        assert_eq!(h.lookup("myhost", Family::Any), ips(&["127.0.1.1"]));
        assert_eq!(
            h.lookup("MYHOST.example.org.", Family::Any),
            ips(&["127.0.1.1"])
        );
        assert_eq!(h.lookup("WWW", Family::V4), ips(&["192.0.2.10"]));
        assert_eq!(h.lookup("ip6-loopback", Family::Any), ips(&["::1"]));
        assert_eq!(h.lookup("linklocal", Family::Any), ips(&["fe80::5"]));
        assert_eq!(h.lookup("good.example", Family::Any), ips(&["192.0.2.99"]));
    }

    #[test]
    fn misses() {
        let h = Hosts::parse(TEXT);
        assert!(h.lookup("somename", Family::Any).is_empty());
        assert!(h.lookup("nowhere", Family::Any).is_empty());
        assert!(h.lookup("ip6-allnodes", Family::V4).is_empty());
        assert!(h.contains(&Name::new("ip6-allnodes").unwrap()));
        assert!(h.lookup("", Family::Any).is_empty());
        assert!(h.lookup("a..b", Family::Any).is_empty());
        assert!(Hosts::parse("").is_empty());
    }

    #[test]
    fn counts_names() {
        let h = Hosts::parse("127.0.0.1 a b\n::1 a\n");
        assert_eq!(h.len(), 2);
    }
}

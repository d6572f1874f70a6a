//! Which address to try first.
//!
//! [`sort`] is RFC 6724 destination selection in its simple form: when the
//! host has usable IPv6 (a global or loopback IPv6 address; the caller
//! finds out, since that is I/O), IPv6 destinations come before IPv4 ones,
//! otherwise IPv4 first. The sort is stable, so the resolver's order is
//! kept within a family. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
//! count as IPv4, as RFC 6724's policy table has it.
//!
//! [`interleave`] then makes the Happy Eyeballs order (RFC 8305 §4):
//! alternate families, starting with the family of the first address.

use std::net::{IpAddr, SocketAddr};

/// Anything with an address family.
pub trait HasFamily {
    /// Whether this counts as an IPv6 destination.
    fn is_v6(&self) -> bool;
}

impl HasFamily for IpAddr {
    fn is_v6(&self) -> bool {
        match self {
            IpAddr::V4(_) => false,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
        }
    }
}

impl HasFamily for SocketAddr {
    fn is_v6(&self) -> bool {
        self.ip().is_v6()
    }
}

/// Sorts in place: the preferred family first, order kept otherwise.
pub fn sort<T: HasFamily>(addrs: &mut [T], host_has_ipv6: bool) {
    // Stable sort on a bool key: `false` sorts first.
    addrs.sort_by_key(|a| a.is_v6() != host_has_ipv6);
}

/// Alternates families, starting with the first address's family; when
/// one family runs out the rest of the other follows in order.
pub fn interleave<T: HasFamily + Clone>(addrs: &[T]) -> Vec<T> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let lead_v6 = first.is_v6();
    let mut lead = addrs.iter().filter(|a| a.is_v6() == lead_v6);
    let mut other = addrs.iter().filter(|a| a.is_v6() != lead_v6);
    let mut out = Vec::with_capacity(addrs.len());
    loop {
        match (lead.next(), other.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b).cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn sort_prefers_v6_when_usable() {
        let mut a = ips(&["1.1.1.1", "::1", "2.2.2.2", "2001:db8::2"]);
        sort(&mut a, true);
        assert_eq!(a, ips(&["::1", "2001:db8::2", "1.1.1.1", "2.2.2.2"]));
        let mut a = ips(&["1.1.1.1", "::1", "2.2.2.2", "2001:db8::2"]);
        sort(&mut a, false);
        assert_eq!(a, ips(&["1.1.1.1", "2.2.2.2", "::1", "2001:db8::2"]));
    }

    #[test]
    fn sort_treats_mapped_as_v4() {
        let mut a = ips(&["::ffff:1.2.3.4", "2001:db8::1", "5.6.7.8"]);
        sort(&mut a, true);
        assert_eq!(a, ips(&["2001:db8::1", "::ffff:1.2.3.4", "5.6.7.8"]));
    }

    #[test]
    fn sort_socket_addrs() {
        let mut a: Vec<SocketAddr> =
            vec!["[::1]:80".parse().unwrap(), "127.0.0.1:80".parse().unwrap()];
        sort(&mut a, false);
        assert_eq!(a[0], "127.0.0.1:80".parse().unwrap());
    }

    #[test]
    fn interleave_alternates() {
        let a = ips(&[
            "2001:db8::1",
            "2001:db8::2",
            "2001:db8::3",
            "1.1.1.1",
            "2.2.2.2",
        ]);
        assert_eq!(
            interleave(&a),
            ips(&[
                "2001:db8::1",
                "1.1.1.1",
                "2001:db8::2",
                "2.2.2.2",
                "2001:db8::3"
            ])
        );
        let a = ips(&["1.1.1.1", "2.2.2.2", "3.3.3.3", "::1"]);
        assert_eq!(
            interleave(&a),
            ips(&["1.1.1.1", "::1", "2.2.2.2", "3.3.3.3"])
        );
    }

    #[test]
    fn interleave_edge_cases() {
        assert!(interleave::<IpAddr>(&[]).is_empty());
        let one_family = ips(&["1.1.1.1", "2.2.2.2"]);
        assert_eq!(interleave(&one_family), one_family);
        // Already interleaved input stays as it is.
        let a = ips(&["::1", "1.1.1.1", "::2", "2.2.2.2"]);
        assert_eq!(interleave(&a), a);
    }
}

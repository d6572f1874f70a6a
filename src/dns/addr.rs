//! Address literals: `1.2.3.4`, `::1`, `fe80::1%2`, `[::1]`, and the
//! `host:port` forms used for name servers.
//!
//! Shared by resolv.conf, hosts and the Lua overrides so the three agree.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// Address family filter, as Lua spells it: `"ip"`, `"ip4"`, `"ip6"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 and IPv6.
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// Reads the Lua spelling; `None` for anything else.
    pub fn from_lua(s: &str) -> Option<Family> {
        match s {
            "ip" => Some(Family::Any),
            "ip4" => Some(Family::V4),
            "ip6" => Some(Family::V6),
            _ => None,
        }
    }

    /// Whether `ip` belongs to this family.
    pub fn matches(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// An IP literal, optionally in brackets, with an IPv6 zone (`%eth0`,
/// `%2`) tolerated. Returns the address and the zone's numeric index when
/// the zone is a number (an interface name yields 0: resolving it is I/O).
pub fn parse_ip(text: &str) -> Option<(IpAddr, u32)> {
    let text = match text.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None => text,
    };
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some((ip, 0));
    }
    let (ip, zone) = text.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    if zone.is_empty() {
        return None;
    }
    Some((IpAddr::V6(ip), zone.parse().unwrap_or(0)))
}

/// Builds a socket address, keeping an IPv6 zone index.
pub fn socket_addr(ip: IpAddr, scope: u32, port: u16) -> SocketAddr {
    match ip {
        IpAddr::V4(_) => SocketAddr::new(ip, port),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope)),
    }
}

/// Parses `ip`, `ip:port` (IPv4), `[ip6]` or `[ip6]:port`; a bare IPv6
/// address (with colons, no brackets) takes `default_port`.
pub fn parse_server(text: &str, default_port: u16) -> Option<SocketAddr> {
    let text = text.trim();
    if let Some((ip, scope)) = parse_ip(text) {
        return Some(socket_addr(ip, scope, default_port));
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let bracketed = host.starts_with('[');
    let (ip, scope) = parse_ip(host)?;
    // "::1:53" is an IPv6 address, not ::1 port 53: only brackets make a
    // port on an IPv6 address unambiguous.
    if ip.is_ipv6() && !bracketed {
        return None;
    }
    Some(socket_addr(ip, scope, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn family() {
        assert_eq!(Family::from_lua("ip"), Some(Family::Any));
        assert_eq!(Family::from_lua("ip4"), Some(Family::V4));
        assert_eq!(Family::from_lua("ip6"), Some(Family::V6));
        assert_eq!(Family::from_lua("inet"), None);
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert!(Family::Any.matches(&v4) && Family::Any.matches(&v6));
        assert!(Family::V4.matches(&v4) && !Family::V4.matches(&v6));
        assert!(!Family::V6.matches(&v4) && Family::V6.matches(&v6));
    }

    #[test]
    fn ip_literals() {
        assert_eq!(parse_ip("10.0.0.1"), Some(("10.0.0.1".parse().unwrap(), 0)));
        assert_eq!(parse_ip("::1"), Some(("::1".parse().unwrap(), 0)));
        assert_eq!(parse_ip("[::1]"), Some(("::1".parse().unwrap(), 0)));
        assert_eq!(parse_ip("fe80::1%3"), Some(("fe80::1".parse().unwrap(), 3)));
        assert_eq!(
            parse_ip("fe80::1%eth0"),
            Some(("fe80::1".parse().unwrap(), 0))
        );
        assert_eq!(parse_ip("fe80::1%"), None);
        assert_eq!(parse_ip("1.2.3.4%1"), None);
        assert_eq!(parse_ip("[1.2.3.4"), None);
        assert_eq!(parse_ip("example.com"), None);
        assert_eq!(parse_ip(""), None);
    }

    #[test]
    fn servers() {
        assert_eq!(parse_server("127.0.0.1", 53), Some(sa("127.0.0.1:53")));
        assert_eq!(
            parse_server("127.0.0.1:5353", 53),
            Some(sa("127.0.0.1:5353"))
        );
        assert_eq!(parse_server("::1", 53), Some(sa("[::1]:53")));
        assert_eq!(parse_server("[::1]", 53), Some(sa("[::1]:53")));
        assert_eq!(parse_server("[::1]:5353", 53), Some(sa("[::1]:5353")));
        assert_eq!(parse_server(" 10.1.1.1:1 ", 53), Some(sa("10.1.1.1:1")));
        assert_eq!(parse_server("::1:53", 53), Some(sa("[::1:53]:53")));
        assert_eq!(
            parse_server("[fe80::1%2]:53", 53),
            Some(sa("[fe80::1%2]:53"))
        );
        assert_eq!(parse_server("1.2.3.4:99999", 53), None);
        assert_eq!(parse_server("1.2.3.4:", 53), None);
        assert_eq!(parse_server("host:53", 53), None);
        assert_eq!(parse_server("", 53), None);
    }
}

//! Service names to port numbers: numeric strings, `/etc/services`, and a
//! built-in table for when the file is missing (containers often lack it).
//!
//! Lookup order: a decimal number is always a port; then the file; then the
//! built-in table. Names compare ASCII case-insensitively (glibc is
//! case-sensitive, but nobody means a different service by `HTTPS`).

use std::collections::HashMap;

/// Transport protocol of a service entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// Reads `"tcp"` or `"udp"`.
    pub fn from_lua(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// Built-in ports, the same for TCP and UDP unless noted by the file.
const BUILTIN: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("dns", 53),
    ("tftp", 69),
    ("gopher", 70),
    ("finger", 79),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ident", 113),
    ("auth", 113),
    ("nntp", 119),
    ("ntp", 123),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("submissions", 465),
    ("smtps", 465),
    ("syslog", 514),
    ("submission", 587),
    ("ldaps", 636),
    ("domain-s", 853),
    ("rsync", 873),
    ("ftps-data", 989),
    ("ftps", 990),
    ("telnets", 992),
    ("imaps", 993),
    ("pop3s", 995),
    ("socks", 1080),
    ("openvpn", 1194),
    ("mqtt", 1883),
    ("nfs", 2049),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("xmpp-client", 5222),
    ("xmpp-server", 5269),
    ("redis", 6379),
    ("irc", 6667),
    ("ircs-u", 6697),
    ("http-alt", 8080),
    ("mqtts", 8883),
];

/// A numeric port: ASCII digits only, 0 to 65535.
pub fn numeric_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The built-in port for a service name.
pub fn builtin_port(name: &str) -> Option<u16> {
    BUILTIN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, p)| p)
}

/// A parsed services file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    // (lowercased name or alias, proto) -> port; first entry wins.
    map: HashMap<(String, Proto), u16>,
}

impl Services {
    /// Reads `/etc/services` text: `name port/proto [aliases...]`, `#`
    /// comments. Bad lines are skipped.
    pub fn parse(text: &str) -> Services {
        let mut map = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let (Some(port), Some(proto)) = (
                numeric_port(port),
                Proto::from_lua(&proto.to_ascii_lowercase()),
            ) else {
                continue;
            };
            for n in std::iter::once(name).chain(words) {
                map.entry((n.to_ascii_lowercase(), proto)).or_insert(port);
            }
        }
        Services { map }
    }

    /// The port for `service`: a decimal number, else the file's entry for
    /// `proto`, else the built-in table. `None` when unknown.
    pub fn port(&self, service: &str, proto: Proto) -> Option<u16> {
        if let Some(p) = numeric_port(service) {
            return Some(p);
        }
        self.map
            .get(&(service.to_ascii_lowercase(), proto))
            .copied()
            .or_else(|| builtin_port(service))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# Network services, Internet style
tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
https\t\t443/tcp
https\t\t443/udp
domain\t\t53/tcp
domain\t\t53/udp
syslog\t\t514/udp
shell\t\t514/tcp\t\tcmd\t\t# no passwords used
custom 7000/TCP altname
broken 70000/tcp
noproto 71
bad 72/sctp
dup 1000/tcp
dup 2000/tcp
";

    #[test]
    fn numeric() {
        let s = Services::default();
        assert_eq!(s.port("0", Proto::Tcp), Some(0));
        assert_eq!(s.port("443", Proto::Tcp), Some(443));
        assert_eq!(s.port("65535", Proto::Udp), Some(65535));
        assert_eq!(s.port("65536", Proto::Tcp), None);
        assert_eq!(s.port("-1", Proto::Tcp), None);
        assert_eq!(s.port("+80", Proto::Tcp), None);
        assert_eq!(s.port(" 80", Proto::Tcp), None);
        assert_eq!(s.port("0080", Proto::Tcp), Some(80));
        assert_eq!(s.port("000080", Proto::Tcp), None);
        assert_eq!(s.port("", Proto::Tcp), None);
    }

    #[test]
    fn from_file_by_proto() {
        let s = Services::parse(TEXT);
        assert_eq!(s.port("tcpmux", Proto::Tcp), Some(1));
        assert_eq!(s.port("www", Proto::Tcp), Some(80));
        assert_eq!(s.port("syslog", Proto::Udp), Some(514));
        assert_eq!(s.port("shell", Proto::Tcp), Some(514));
        assert_eq!(s.port("cmd", Proto::Tcp), Some(514));
        assert_eq!(s.port("shell", Proto::Udp), None);
        assert_eq!(s.port("custom", Proto::Tcp), Some(7000));
        assert_eq!(s.port("ALTNAME", Proto::Tcp), Some(7000));
        assert_eq!(s.port("dup", Proto::Tcp), Some(1000), "first entry wins");
        assert_eq!(s.port("broken", Proto::Tcp), None);
        assert_eq!(s.port("noproto", Proto::Tcp), None);
        assert_eq!(s.port("bad", Proto::Tcp), None);
    }

    #[test]
    fn builtin_fallback() {
        let s = Services::default();
        for (name, port) in [
            ("http", 80),
            ("https", 443),
            ("domain", 53),
            ("smtp", 25),
            ("imap", 143),
            ("imaps", 993),
            ("pop3", 110),
            ("pop3s", 995),
            ("ssh", 22),
            ("ftp", 21),
            ("submission", 587),
            ("ldap", 389),
            ("ldaps", 636),
            ("HTTPS", 443),
        ] {
            assert_eq!(s.port(name, Proto::Tcp), Some(port), "{name}");
            assert_eq!(s.port(name, Proto::Udp), Some(port), "{name}");
        }
        assert_eq!(s.port("no-such-service", Proto::Tcp), None);
        // The file wins over the table when both know a name.
        let s = Services::parse("http 8000/tcp\n");
        assert_eq!(s.port("http", Proto::Tcp), Some(8000));
        assert_eq!(s.port("http", Proto::Udp), Some(80));
    }

    #[test]
    fn proto_names() {
        assert_eq!(Proto::from_lua("tcp"), Some(Proto::Tcp));
        assert_eq!(Proto::from_lua("udp"), Some(Proto::Udp));
        assert_eq!(Proto::from_lua("sctp"), None);
    }

    #[test]
    fn builtin_table_has_no_duplicates() {
        for (i, (a, _)) in BUILTIN.iter().enumerate() {
            assert!(BUILTIN[i + 1..].iter().all(|(b, _)| a != b), "{a}");
        }
    }
}

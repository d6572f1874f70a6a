//! Tests of whole requests, with a scripted name server.

use super::*;
use crate::dns::codec::tests::{resp_flags, Builder};
use crate::dns::codec::{rtype, tcp_frame, Message, CLASS_IN};
use std::time::Duration;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn conf(search: &[&str]) -> ResolvConf {
    ResolvConf {
        nameservers: vec![sa("192.0.2.1:53"), sa("192.0.2.2:53")],
        search: search.iter().map(|s| n(s)).collect(),
        ..ResolvConf::default()
    }
}

/// What the scripted server does with a query.
enum Reply {
    /// Answer over UDP with these bytes.
    Udp(Vec<u8>),
    /// Say "truncated" over UDP, then answer over TCP with these bytes.
    ViaTcp(Vec<u8>),
    /// Stay silent.
    Silent,
}

/// The start of a response to `q`.
fn resp(q: &Message, rcode: u16, counts: [u16; 3]) -> Builder {
    let question = &q.questions[0];
    Builder::new(
        q.header.id,
        resp_flags(rcode),
        [1, counts[0], counts[1], counts[2]],
    )
    .name(question.name.as_str())
    .u16(question.qtype)
    .u16(CLASS_IN)
}

fn qtype_of(q: &Message) -> QType {
    if q.questions[0].qtype == rtype::A {
        QType::A
    } else {
        QType::Aaaa
    }
}

/// Addresses for `q`'s name: `v4` for A queries, `v6` for AAAA.
fn addresses(q: &Message, v4: &[[u8; 4]], v6: &[&str], ttl: u32) -> Vec<u8> {
    let name = q.questions[0].name.as_str().to_string();
    match qtype_of(q) {
        QType::A => {
            let mut b = resp(q, 0, [v4.len() as u16, 0, 0]);
            for a in v4 {
                b = b.a(&name, ttl, *a);
            }
            b.build()
        }
        QType::Aaaa => {
            let mut b = resp(q, 0, [v6.len() as u16, 0, 0]);
            for a in v6 {
                b = b.aaaa(&name, ttl, a.parse().unwrap());
            }
            b.build()
        }
    }
}

fn nxdomain(q: &Message) -> Vec<u8> {
    resp(q, 3, [0, 1, 0]).soa("example", 60, 60).build()
}

fn nodata(q: &Message) -> Vec<u8> {
    resp(q, 0, [0, 1, 0]).soa("example", 60, 60).build()
}

/// Everything the runtime saw.
#[derive(Debug, Default)]
struct Log {
    /// (server, name, type) of each query, UDP and TCP.
    queries: Vec<(SocketAddr, String, QType)>,
    opened: Vec<ConnId>,
    closed: Vec<ConnId>,
}

/// Plays the runtime and the servers until the request ends.
fn run(
    r: &mut Resolve,
    cache: &mut Cache,
    t0: Instant,
    mut server: impl FnMut(&Message) -> Reply,
) -> (Result<Resolved, NetError>, Log, Instant) {
    let mut now = t0;
    let mut log = Log::default();
    let mut pending_udp: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut pending_tcp: Vec<(ConnId, Vec<u8>)> = Vec::new();
    let mut tcp_answers: Vec<(Message, Vec<u8>)> = Vec::new();
    for _ in 0..1000 {
        match r.poll(now, cache) {
            ResolveAction::Send { server: to, packet } => {
                let q = Message::parse(&packet).unwrap();
                log.queries
                    .push((to, q.questions[0].name.as_str().to_string(), qtype_of(&q)));
                match server(&q) {
                    Reply::Udp(bytes) => pending_udp.push((to, bytes)),
                    Reply::ViaTcp(bytes) => {
                        let tc = resp(&q, 0, [0, 0, 0]).build();
                        let mut tc = tc;
                        tc[2] |= 0x02;
                        pending_udp.push((to, tc));
                        tcp_answers.push((q, bytes));
                    }
                    Reply::Silent => {}
                }
            }
            ResolveAction::SendTcp {
                conn,
                server: to,
                packet,
            } => {
                let q = Message::parse(&packet[2..]).unwrap();
                log.queries
                    .push((to, q.questions[0].name.as_str().to_string(), qtype_of(&q)));
                log.opened.push(conn);
                let pos = tcp_answers
                    .iter()
                    .position(|(m, _)| m.questions == q.questions)
                    .unwrap();
                let (_, mut bytes) = tcp_answers.remove(pos);
                bytes[..2].copy_from_slice(&q.header.id.to_be_bytes());
                pending_tcp.push((conn, tcp_frame(&bytes)));
            }
            ResolveAction::CloseTcp { conn } => log.closed.push(conn),
            ResolveAction::Wait { until } => {
                if pending_udp.is_empty() && pending_tcp.is_empty() {
                    now = until;
                    r.timer(now);
                } else {
                    for (from, bytes) in pending_udp.drain(..) {
                        r.udp_received(from, &bytes, now);
                    }
                    for (conn, bytes) in pending_tcp.drain(..) {
                        r.tcp_received(conn, &bytes, now);
                    }
                }
            }
            ResolveAction::Done(result) => return (result, log, now),
        }
    }
    panic!("request did not finish");
}

fn done_now(r: &mut Resolve) -> Result<Resolved, NetError> {
    match r.poll(Instant::now(), &mut Cache::new(4)) {
        ResolveAction::Done(result) => result,
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn literals_need_no_dns() {
    let hosts = Hosts::default();
    let c = conf(&[]);
    let ok = |host: &str, family| {
        done_now(&mut Resolve::new(host, family, &c, &hosts))
            .unwrap()
            .addrs
    };
    assert_eq!(ok("127.0.0.1", Family::Any), vec![ip("127.0.0.1")]);
    assert_eq!(ok("::1", Family::V6), vec![ip("::1")]);
    assert_eq!(ok("[::1]", Family::Any), vec![ip("::1")]);
    assert_eq!(ok("fe80::1%2", Family::Any), vec![ip("fe80::1")]);
    let err = done_now(&mut Resolve::new("::1", Family::V4, &c, &hosts)).unwrap_err();
    assert_eq!(err.code, "noaddress");
    assert!(err.message.contains("IPv6"), "{}", err.message);
}

#[test]
fn invalid_names_fail_at_once() {
    let hosts = Hosts::default();
    let colons = ["::zz", "1.2.3.4:80", "example.com:443", "fe80::1%", "[::1"];
    for host in ["", "a..b", "with space", &"x".repeat(64)]
        .into_iter()
        .chain(colons)
    {
        let err = done_now(&mut Resolve::new(host, Family::Any, &conf(&[]), &hosts)).unwrap_err();
        assert_eq!(err.code, "nxdomain", "{host:?}");
        assert!(err.message.contains("invalid host name"), "{}", err.message);
    }
}

#[test]
fn hosts_file_first() {
    let hosts = Hosts::parse("10.0.0.5 db.internal db\n::1 only6\n");
    let c = conf(&["corp.example"]);
    let got = done_now(&mut Resolve::new("DB", Family::Any, &c, &hosts)).unwrap();
    assert_eq!(
        got,
        Resolved {
            addrs: vec![ip("10.0.0.5")],
            canonical: None
        }
    );
    // Listed only in the other family: DNS is asked.
    let mut r = Resolve::new("only6", Family::V4, &c, &hosts);
    let (result, log, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        Reply::Udp(nxdomain(q))
    });
    assert_eq!(result.unwrap_err().code, "nxdomain");
    assert_eq!(log.queries[0].1, "only6.corp.example");
}

#[test]
fn localhost_is_loopback() {
    let hosts = Hosts::default();
    let c = conf(&[]);
    let got = done_now(&mut Resolve::new("localhost", Family::Any, &c, &hosts)).unwrap();
    assert_eq!(got.addrs, vec![ip("127.0.0.1"), ip("::1")]);
    let got = done_now(&mut Resolve::new("app.LOCALHOST.", Family::V6, &c, &hosts)).unwrap();
    assert_eq!(got.addrs, vec![ip("::1")]);
    // The hosts file still wins when it lists the name.
    let hosts = Hosts::parse("127.0.0.2 localhost\n");
    let got = done_now(&mut Resolve::new("localhost", Family::V4, &c, &hosts)).unwrap();
    assert_eq!(got.addrs, vec![ip("127.0.0.2")]);
}

#[test]
fn both_families_and_the_cache() {
    let t0 = Instant::now();
    let hosts = Hosts::default();
    let c = conf(&[]);
    let mut cache = Cache::new(16);
    let mut r = Resolve::new("www.example.com", Family::Any, &c, &hosts);
    let (result, log, _) = run(&mut r, &mut cache, t0, |q| {
        Reply::Udp(addresses(q, &[[192, 0, 2, 7]], &["2001:db8::7"], 120))
    });
    let got = result.unwrap();
    assert_eq!(got.addrs, vec![ip("192.0.2.7"), ip("2001:db8::7")]);
    assert_eq!(got.canonical, Some(n("www.example.com")));
    let types: Vec<QType> = log.queries.iter().map(|q| q.2).collect();
    assert_eq!(
        types,
        [QType::A, QType::Aaaa],
        "both sent before any answer"
    );
    // Again, a minute later: from the cache, no query.
    let mut r = Resolve::new("www.example.com.", Family::Any, &c, &hosts);
    let (result, log, _) = run(&mut r, &mut cache, t0 + Duration::from_secs(60), |_| {
        panic!("no query expected")
    });
    assert_eq!(
        result.unwrap().addrs,
        vec![ip("192.0.2.7"), ip("2001:db8::7")]
    );
    assert!(log.queries.is_empty());
    // After the TTL, asked again.
    let mut r = Resolve::new("www.example.com", Family::V6, &c, &hosts);
    let (_, log, _) = run(&mut r, &mut cache, t0 + Duration::from_secs(121), |q| {
        Reply::Udp(addresses(q, &[], &["2001:db8::8"], 120))
    });
    assert_eq!(log.queries.len(), 1);
}

#[test]
fn one_family_with_addresses_is_enough() {
    let hosts = Hosts::default();
    let mut r = Resolve::new("v4only.example", Family::Any, &conf(&[]), &hosts);
    let (result, _, _) = run(
        &mut r,
        &mut Cache::new(8),
        Instant::now(),
        |q| match qtype_of(q) {
            QType::A => Reply::Udp(addresses(q, &[[1, 2, 3, 4]], &[], 60)),
            QType::Aaaa => Reply::Udp(nodata(q)),
        },
    );
    assert_eq!(result.unwrap().addrs, vec![ip("1.2.3.4")]);
}

#[test]
fn search_list_in_order() {
    let hosts = Hosts::default();
    let c = conf(&["a.example", "b.example"]);
    let mut r = Resolve::new("host", Family::V4, &c, &hosts);
    let (result, log, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        if q.questions[0].name == n("host.b.example") {
            Reply::Udp(addresses(q, &[[10, 9, 8, 7]], &[], 60))
        } else {
            Reply::Udp(nxdomain(q))
        }
    });
    assert_eq!(result.unwrap().addrs, vec![ip("10.9.8.7")]);
    let names: Vec<&str> = log.queries.iter().map(|q| q.1.as_str()).collect();
    assert_eq!(names, ["host.a.example", "host.b.example"]);
}

#[test]
fn nxdomain_everywhere() {
    let hosts = Hosts::default();
    let c = conf(&["a.example"]);
    let mut r = Resolve::new("nope", Family::Any, &c, &hosts);
    let (result, log, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        Reply::Udp(nxdomain(q))
    });
    let err = result.unwrap_err();
    assert_eq!(err.code, "nxdomain");
    assert_eq!(err.message, "nope: no such host");
    let names: Vec<&str> = log.queries.iter().map(|q| q.1.as_str()).collect();
    assert_eq!(names, ["nope.a.example", "nope.a.example", "nope", "nope"]);
}

#[test]
fn nodata_outranks_nxdomain_and_servfail() {
    let hosts = Hosts::default();
    let c = conf(&["a.example", "b.example"]);
    let mut r = Resolve::new("x", Family::V6, &c, &hosts);
    let (result, _, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        let name = q.questions[0].name.as_str();
        Reply::Udp(match name {
            "x.a.example" => resp(q, 2, [0, 0, 0]).build(),
            "x.b.example" => nodata(q),
            _ => nxdomain(q),
        })
    });
    let err = result.unwrap_err();
    assert_eq!(err.code, "noaddress");
    assert!(err.message.contains("IPv6"), "{}", err.message);
}

#[test]
fn servfail_outranks_nxdomain() {
    let hosts = Hosts::default();
    let c = conf(&["a.example"]);
    let mut r = Resolve::new("x", Family::V4, &c, &hosts);
    let (result, log, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        Reply::Udp(if q.questions[0].name.as_str() == "x.a.example" {
            resp(q, 2, [0, 0, 0]).build()
        } else {
            nxdomain(q)
        })
    });
    assert_eq!(result.unwrap_err().code, "servfail");
    // Both servers were asked about the first candidate, then the search went on.
    assert_eq!(log.queries.len(), 3);
}

#[test]
fn timeout_stops_the_search() {
    let t0 = Instant::now();
    let hosts = Hosts::default();
    let c = conf(&["a.example", "b.example"]);
    let mut r = Resolve::new("x", Family::V4, &c, &hosts);
    let (result, log, end) = run(&mut r, &mut Cache::new(8), t0, |_| Reply::Silent);
    let err = result.unwrap_err();
    assert_eq!(err.code, "timeout");
    assert!(log.queries.iter().all(|q| q.1 == "x.a.example"));
    assert_eq!(log.queries.len(), 4, "2 servers x 2 attempts");
    assert_eq!(end, t0 + Duration::from_secs(20));
}

#[test]
fn cname_needing_another_query() {
    let hosts = Hosts::default();
    let mut cache = Cache::new(8);
    let mut r = Resolve::new("alias.example", Family::V4, &conf(&[]), &hosts);
    let (result, log, _) = run(&mut r, &mut cache, Instant::now(), |q| {
        Reply::Udp(match q.questions[0].name.as_str() {
            "alias.example" => resp(q, 0, [1, 0, 0])
                .cname("alias.example", 30, "real.example")
                .build(),
            _ => addresses(q, &[[5, 6, 7, 8]], &[], 300),
        })
    });
    let got = result.unwrap();
    assert_eq!(got.addrs, vec![ip("5.6.7.8")]);
    assert_eq!(got.canonical, Some(n("real.example")));
    assert_eq!(log.queries.len(), 2);
    // Cached under the asked name with the chain's TTL.
    match cache
        .get(&n("alias.example"), QType::A, Instant::now())
        .unwrap()
    {
        Cached::Addresses { ttl, .. } => assert!(ttl <= 30, "{ttl}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cname_restarts_are_bounded() {
    let hosts = Hosts::default();
    let mut r = Resolve::new("c0.example", Family::V4, &conf(&[]), &hosts);
    let (result, log, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        let name = q.questions[0].name.as_str().to_string();
        let i: u32 = name[1..name.find('.').unwrap()].parse().unwrap();
        Reply::Udp(
            resp(q, 0, [1, 0, 0])
                .cname(&name, 30, &format!("c{}.example", i + 1))
                .build(),
        )
    });
    let err = result.unwrap_err();
    assert_eq!(err.code, "servfail");
    assert!(err.message.contains("CNAME chain"), "{}", err.message);
    assert_eq!(log.queries.len(), 1 + MAX_CNAME_RESTARTS);
}

#[test]
fn truncated_answers_go_over_tcp_and_connections_are_closed() {
    let hosts = Hosts::default();
    let mut r = Resolve::new("big.example", Family::Any, &conf(&[]), &hosts);
    let (result, log, _) = run(&mut r, &mut Cache::new(8), Instant::now(), |q| {
        Reply::ViaTcp(addresses(
            q,
            &[[1, 1, 1, 1], [1, 1, 1, 2]],
            &["2001:db8::1"],
            60,
        ))
    });
    assert_eq!(
        result.unwrap().addrs,
        vec![ip("1.1.1.1"), ip("1.1.1.2"), ip("2001:db8::1")]
    );
    assert_eq!(log.opened.len(), 2);
    assert_ne!(log.opened[0], log.opened[1]);
    let mut closed = log.closed.clone();
    closed.sort_unstable();
    assert_eq!(closed, log.opened, "every connection closed");
}

#[test]
fn tcp_events_for_unknown_connections_are_ignored() {
    let now = Instant::now();
    let hosts = Hosts::default();
    let mut cache = Cache::new(8);
    let mut r = Resolve::new("x.example", Family::V4, &conf(&[]), &hosts);
    let ResolveAction::Send { .. } = r.poll(now, &mut cache) else {
        panic!()
    };
    r.tcp_received(99, b"\x00\x05hello", now);
    r.tcp_failed(99, now);
    assert!(matches!(
        r.poll(now, &mut cache),
        ResolveAction::Wait { .. }
    ));
}

#[test]
fn send_failure_goes_to_the_next_server() {
    let now = Instant::now();
    let hosts = Hosts::default();
    let mut cache = Cache::new(8);
    let mut r = Resolve::new("x.example", Family::V4, &conf(&[]), &hosts);
    let ResolveAction::Send { server, .. } = r.poll(now, &mut cache) else {
        panic!()
    };
    assert_eq!(server, sa("192.0.2.1:53"));
    r.udp_send_failed(now);
    let ResolveAction::Send { server, .. } = r.poll(now, &mut cache) else {
        panic!()
    };
    assert_eq!(server, sa("192.0.2.2:53"));
}

#[test]
fn negative_answers_are_cached() {
    let t0 = Instant::now();
    let hosts = Hosts::default();
    let mut cache = Cache::new(8);
    let mut r = Resolve::new("gone.example", Family::Any, &conf(&[]), &hosts);
    let (result, log, _) = run(&mut r, &mut cache, t0, |q| Reply::Udp(nxdomain(q)));
    assert_eq!(result.unwrap_err().code, "nxdomain");
    assert_eq!(log.queries.len(), 2);
    let mut r = Resolve::new("gone.example", Family::V6, &conf(&[]), &hosts);
    let (result, log, _) = run(&mut r, &mut cache, t0 + Duration::from_secs(30), |_| {
        panic!("cached")
    });
    assert_eq!(result.unwrap_err().code, "nxdomain");
    assert!(log.queries.is_empty());
}

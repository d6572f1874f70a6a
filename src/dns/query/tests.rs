//! Tests of the lookup state machine, driven by hand: every test plays the
//! runtime and the name servers.

use super::*;
use crate::dns::codec::tests::{resp_flags, Builder, XorShift};
use crate::dns::codec::{rtype, CLASS_IN};
use std::net::Ipv4Addr;

const S1: &str = "192.0.2.1:53";
const S2: &str = "192.0.2.2:53";
const S3: &str = "[2001:db8::3]:53";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn config(servers: &[&str]) -> LookupConfig {
    LookupConfig {
        servers: servers.iter().map(|s| sa(s)).collect(),
        timeout: Duration::from_secs(5),
        attempts: 2,
        rotate: false,
        edns: true,
        tcp_only: false,
    }
}

fn lookup(servers: &[&str]) -> Lookup {
    Lookup::new(name("www.example.com"), QType::A, &config(servers))
}

/// What a `Send` carried.
#[derive(Debug)]
struct Sent {
    server: SocketAddr,
    id: u16,
    packet: Vec<u8>,
}

fn expect_send(action: Action) -> Sent {
    match action {
        Action::Send { server, id, packet } => Sent { server, id, packet },
        other => panic!("expected Send, got {other:?}"),
    }
}

fn expect_wait(action: Action) -> Instant {
    match action {
        Action::Wait { until } => until,
        other => panic!("expected Wait, got {other:?}"),
    }
}

fn expect_done(action: Action) -> Outcome {
    match action {
        Action::Done(outcome) => outcome,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// Sends the first query and checks the machine then waits `timeout`.
fn start(l: &mut Lookup, now: Instant) -> Sent {
    let sent = expect_send(l.poll(now));
    assert_eq!(expect_wait(l.poll(now)), now + Duration::from_secs(5));
    sent
}

/// The start of a response to `sent`: same ID and question.
fn reply(sent: &Sent, flags: u16, counts: [u16; 3]) -> Builder {
    let q = Message::parse(&sent.packet).unwrap();
    let question = &q.questions[0];
    Builder::new(sent.id, flags, [1, counts[0], counts[1], counts[2]])
        .name(question.name.as_str())
        .u16(question.qtype)
        .u16(CLASS_IN)
}

fn a_reply(sent: &Sent, ips: &[[u8; 4]]) -> Vec<u8> {
    let mut b = reply(sent, resp_flags(0), [ips.len() as u16, 0, 0]);
    for ip in ips {
        b = b.a("www.example.com", 300, *ip);
    }
    b.build()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn addresses(ips: &[IpAddr], ttl: u32) -> Outcome {
    Outcome::Addresses {
        canonical: name("www.example.com"),
        addrs: ips.to_vec(),
        ttl,
    }
}

#[test]
fn answers_from_the_first_server() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    assert!(!l.is_done());
    let sent = start(&mut l, now);
    assert_eq!(sent.server, sa(S1));
    let q = Message::parse(&sent.packet).unwrap();
    assert_eq!(q.header.id, sent.id);
    assert!(q.header.rd);
    assert!(q.question_matches(&name("www.example.com"), QType::A));
    assert_eq!(q.edns.unwrap().udp_size, 1232);
    l.udp_received(
        sa(S1),
        &a_reply(&sent, &[[192, 0, 2, 80], [192, 0, 2, 81]]),
        now,
    );
    let outcome = expect_done(l.poll(now));
    assert_eq!(
        outcome,
        addresses(&[v4(192, 0, 2, 80), v4(192, 0, 2, 81)], 300)
    );
    assert!(l.is_done());
    // Done is sticky and later input is ignored.
    l.udp_received(sa(S1), &a_reply(&sent, &[[1, 1, 1, 1]]), now);
    l.timer(now + Duration::from_secs(100));
    l.tcp_failed(now);
    assert_eq!(expect_done(l.poll(now + Duration::from_secs(100))), outcome);
    assert_eq!(l.name(), &name("www.example.com"));
    assert_eq!(l.qtype(), QType::A);
}

#[test]
fn ignores_spoofed_and_stray_packets() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    let good = a_reply(&sent, &[[192, 0, 2, 80]]);
    // From another address, from another port, from the other server.
    l.udp_received(sa("198.51.100.1:53"), &good, now);
    l.udp_received(sa("192.0.2.1:5353"), &good, now);
    l.udp_received(sa(S2), &good, now);
    // Wrong ID.
    let mut wrong_id = good.clone();
    wrong_id[0] ^= 0xFF;
    l.udp_received(sa(S1), &wrong_id, now);
    // Not a response.
    let mut query = good.clone();
    query[2] &= 0x7F;
    l.udp_received(sa(S1), &query, now);
    // Another question (name, type).
    let other = Builder::new(sent.id, resp_flags(0), [1, 1, 0, 0])
        .question("evil.example", rtype::A)
        .a("evil.example", 300, [6, 6, 6, 6])
        .build();
    l.udp_received(sa(S1), &other, now);
    let other = Builder::new(sent.id, resp_flags(0), [1, 0, 0, 0])
        .question("www.example.com", rtype::AAAA)
        .build();
    l.udp_received(sa(S1), &other, now);
    // A spoofed SERVFAIL with a question-less body from elsewhere.
    let sf = Builder::new(sent.id, resp_flags(2), [0, 0, 0, 0]).build();
    l.udp_received(sa("198.51.100.1:53"), &sf, now);
    // Too short to have an ID, and noise.
    l.udp_received(sa(S1), &[1, 2, 3], now);
    l.udp_received(sa(S1), &[], now);
    // Still waiting on the first server.
    assert_eq!(expect_wait(l.poll(now)), now + Duration::from_secs(5));
    l.udp_received(sa(S1), &good, now);
    assert_eq!(
        expect_done(l.poll(now)),
        addresses(&[v4(192, 0, 2, 80)], 300)
    );
}

#[test]
fn question_compares_case_insensitively() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let msg = Builder::new(sent.id, resp_flags(0), [1, 1, 0, 0])
        .raw(b"\x03WwW\x07ExAmPlE\x03CoM\x00")
        .u16(rtype::A)
        .u16(CLASS_IN)
        .raw(b"\x03WWW\x07EXAMPLE\x03COM\x00")
        .u16(rtype::A)
        .u16(CLASS_IN)
        .u32(60)
        .u16(4)
        .raw(&[10, 0, 0, 1])
        .build();
    l.udp_received(sa(S1), &msg, now);
    assert_eq!(expect_done(l.poll(now)), addresses(&[v4(10, 0, 0, 1)], 60));
}

#[test]
fn accepts_v4_mapped_source() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    l.udp_received(
        sa("[::ffff:192.0.2.1]:53"),
        &a_reply(&sent, &[[1, 2, 3, 4]]),
        now,
    );
    assert_eq!(expect_done(l.poll(now)), addresses(&[v4(1, 2, 3, 4)], 300));
}

#[test]
fn timeouts_go_round_the_servers_then_fail() {
    let t0 = Instant::now();
    let mut l = lookup(&[S1, S2, S3]);
    let mut now = t0;
    let mut order = Vec::new();
    let mut ids = Vec::new();
    loop {
        match l.poll(now) {
            Action::Send { server, id, .. } => {
                order.push(server);
                ids.push(id);
            }
            Action::Wait { until } => {
                assert_eq!(until, now + Duration::from_secs(5));
                // A spurious early timer changes nothing.
                l.timer(until - Duration::from_millis(1));
                assert_eq!(expect_wait(l.poll(now)), until);
                now = until;
                l.timer(now);
            }
            Action::Done(outcome) => {
                let servers = vec![sa(S1), sa(S2), sa(S3)];
                assert_eq!(
                    outcome,
                    Outcome::Timeout {
                        servers,
                        errors: vec![]
                    }
                );
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(order, [S1, S2, S3, S1, S2, S3].map(sa));
    assert_eq!(
        now,
        t0 + Duration::from_secs(30),
        "timeout * attempts * servers"
    );
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 6, "a fresh ID per try");
}

#[test]
fn poll_notices_a_passed_deadline_without_timer() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    start(&mut l, now);
    let later = now + Duration::from_secs(6);
    assert_eq!(expect_send(l.poll(later)).server, sa(S2));
}

#[test]
fn late_answer_from_an_earlier_try_is_accepted() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let first = start(&mut l, now);
    let later = now + Duration::from_secs(5);
    l.timer(later);
    let second = expect_send(l.poll(later));
    assert_eq!(second.server, sa(S2));
    expect_wait(l.poll(later));
    // S1's answer to the first try arrives now.
    l.udp_received(sa(S1), &a_reply(&first, &[[9, 9, 9, 9]]), later);
    assert_eq!(
        expect_done(l.poll(later)),
        addresses(&[v4(9, 9, 9, 9)], 300)
    );
    // But an answer carrying the first ID from S2 would not have been.
    let mut l = lookup(&[S1, S2]);
    let first = start(&mut l, now);
    l.timer(later);
    expect_send(l.poll(later));
    l.udp_received(sa(S2), &a_reply(&first, &[[9, 9, 9, 9]]), later);
    expect_wait(l.poll(later));
}

#[test]
fn servfail_moves_on_at_once() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    l.udp_received(sa(S1), &reply(&sent, resp_flags(2), [0, 0, 0]).build(), now);
    let second = expect_send(l.poll(now));
    assert_eq!(second.server, sa(S2));
    l.udp_received(sa(S2), &a_reply(&second, &[[5, 5, 5, 5]]), now);
    assert_eq!(expect_done(l.poll(now)), addresses(&[v4(5, 5, 5, 5)], 300));
}

#[test]
fn every_server_failing_is_servfail() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    l.udp_received(sa(S1), &reply(&sent, resp_flags(2), [0, 0, 0]).build(), now);
    let sent = expect_send(l.poll(now));
    l.udp_received(sa(S2), &reply(&sent, resp_flags(5), [0, 0, 0]).build(), now);
    // No second round for servers that already failed.
    let outcome = expect_done(l.poll(now));
    assert_eq!(
        outcome,
        Outcome::ServFail {
            errors: vec![
                (sa(S1), ServerError::ServFail),
                (sa(S2), ServerError::Refused)
            ]
        }
    );
    let err = outcome.to_error("www.example.com", QType::A).unwrap();
    assert_eq!(err.code, "servfail");
    assert!(err.message.contains("www.example.com"), "{}", err.message);
    assert!(
        err.message.contains("192.0.2.1:53: SERVFAIL"),
        "{}",
        err.message
    );
    assert!(err.message.contains("REFUSED"), "{}", err.message);
}

#[test]
fn one_failing_one_silent_is_timeout() {
    let t0 = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, t0);
    l.udp_received(sa(S1), &reply(&sent, resp_flags(4), [0, 0, 0]).build(), t0);
    let mut now = t0;
    let mut order = vec![sent.server];
    let outcome = loop {
        match l.poll(now) {
            Action::Send { server, .. } => order.push(server),
            Action::Wait { until } => now = until,
            Action::Done(o) => break o,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        order,
        [S1, S2, S2].map(sa),
        "the failed server is not asked again"
    );
    assert_eq!(
        outcome,
        Outcome::Timeout {
            servers: vec![sa(S1), sa(S2)],
            errors: vec![(sa(S1), ServerError::Rcode(4))]
        }
    );
    let err = outcome.to_error("h", QType::A).unwrap();
    assert_eq!(err.code, "timeout");
    assert!(err.message.contains("192.0.2.2:53"), "{}", err.message);
    assert!(err.message.contains("error code 4"), "{}", err.message);
}

#[test]
fn malformed_answer_from_the_server_counts_as_failure() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    // Right source, right ID, garbage after the header.
    let mut bad = a_reply(&sent, &[[1, 2, 3, 4]]);
    bad.truncate(bad.len() - 2);
    // From someone else: ignored.
    l.udp_received(sa("198.51.100.9:53"), &bad, now);
    expect_wait(l.poll(now));
    l.udp_received(sa(S1), &bad, now);
    let second = expect_send(l.poll(now));
    assert_eq!(second.server, sa(S2));
    l.udp_received(
        sa(S2),
        &reply(&second, resp_flags(2), [0, 0, 0]).build(),
        now,
    );
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![
                (sa(S1), ServerError::Malformed(ParseError::Truncated)),
                (sa(S2), ServerError::ServFail)
            ]
        }
    );
}

#[test]
fn garbage_with_a_matching_id_never_panics() {
    let now = Instant::now();
    let mut rng = XorShift(12345);
    for _ in 0..2000 {
        let mut l = lookup(&[S1, S2]);
        let sent = start(&mut l, now);
        let mut msg = a_reply(&sent, &[[1, 2, 3, 4]]);
        for _ in 0..3 {
            let i = 2 + (rng.next() as usize) % (msg.len() - 2);
            msg[i] = rng.next() as u8;
        }
        l.udp_received(sa(S1), &msg, now);
        let _ = l.poll(now);
    }
}

fn tcp_answer(id: u16, ips: &[[u8; 4]]) -> Vec<u8> {
    let mut b = Builder::new(id, resp_flags(0), [1, ips.len() as u16, 0, 0])
        .question("www.example.com", rtype::A);
    for ip in ips {
        b = b.a("www.example.com", 30, *ip);
    }
    tcp_frame(&b.build())
}

/// Gets the machine to ask S1 over TCP; returns the ID of the TCP query.
fn truncated_then_tcp(l: &mut Lookup, now: Instant) -> u16 {
    let sent = start(l, now);
    l.udp_received(
        sa(S1),
        &reply(&sent, resp_flags(0) | 0x0200, [0, 0, 0]).build(),
        now,
    );
    match l.poll(now) {
        Action::SendTcp { server, packet } => {
            assert_eq!(server, sa(S1));
            let len = usize::from(u16::from_be_bytes([packet[0], packet[1]]));
            assert_eq!(len, packet.len() - 2);
            let q = Message::parse(&packet[2..]).unwrap();
            assert!(q.question_matches(&name("www.example.com"), QType::A));
            assert_eq!(expect_wait(l.poll(now)), now + Duration::from_secs(5));
            q.header.id
        }
        other => panic!("expected SendTcp, got {other:?}"),
    }
}

#[test]
fn truncated_answer_retries_over_tcp() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let id = truncated_then_tcp(&mut l, now);
    // UDP is no longer listened to.
    let udp = Builder::new(id, resp_flags(0), [1, 1, 0, 0])
        .question("www.example.com", rtype::A)
        .a("www.example.com", 1, [6, 6, 6, 6])
        .build();
    l.udp_received(sa(S1), &udp, now);
    // The answer arrives a byte at a time, followed by junk to ignore.
    let mut stream = tcp_answer(id, &[[7, 7, 7, 7], [7, 7, 7, 8]]);
    stream.extend_from_slice(b"junk");
    for b in &stream {
        l.tcp_received(std::slice::from_ref(b), now);
    }
    assert_eq!(
        expect_done(l.poll(now)),
        addresses(&[v4(7, 7, 7, 7), v4(7, 7, 7, 8)], 30)
    );
}

#[test]
fn tcp_answer_in_one_chunk() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let id = truncated_then_tcp(&mut l, now);
    l.tcp_received(&tcp_answer(id, &[[7, 7, 7, 7]]), now);
    assert_eq!(expect_done(l.poll(now)), addresses(&[v4(7, 7, 7, 7)], 30));
}

#[test]
fn tcp_failure_moves_to_the_next_server() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    truncated_then_tcp(&mut l, now);
    l.tcp_received(&[0, 40, 1, 2], now); // part of an answer, then the peer goes away
    l.tcp_failed(now);
    let next = expect_send(l.poll(now));
    assert_eq!(next.server, sa(S2));
    l.udp_received(sa(S2), &a_reply(&next, &[[3, 3, 3, 3]]), now);
    assert_eq!(expect_done(l.poll(now)), addresses(&[v4(3, 3, 3, 3)], 300));
}

#[test]
fn tcp_timeout_moves_on() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    truncated_then_tcp(&mut l, now);
    let later = now + Duration::from_secs(5);
    l.timer(later);
    assert_eq!(expect_send(l.poll(later)).server, sa(S2));
}

#[test]
fn tcp_answer_with_wrong_id_or_truncated_is_a_failure() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let id = truncated_then_tcp(&mut l, now);
    l.tcp_received(&tcp_answer(id.wrapping_add(1), &[[7, 7, 7, 7]]), now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![(sa(S1), ServerError::BadTcpAnswer)]
        }
    );
    let mut l = lookup(&[S1]);
    let id = truncated_then_tcp(&mut l, now);
    let tc = Builder::new(id, resp_flags(0) | 0x0200, [1, 0, 0, 0])
        .question("www.example.com", rtype::A)
        .build();
    l.tcp_received(&tcp_frame(&tc), now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![(sa(S1), ServerError::BadTcpAnswer)]
        }
    );
    let mut l = lookup(&[S1]);
    truncated_then_tcp(&mut l, now);
    l.tcp_received(&[0, 0], now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![(sa(S1), ServerError::Malformed(ParseError::TooShort))]
        }
    );
}

#[test]
fn tcp_only_starts_with_tcp() {
    let now = Instant::now();
    let mut cfg = config(&[S1]);
    cfg.tcp_only = true;
    let mut l = Lookup::new(name("www.example.com"), QType::A, &cfg);
    let Action::SendTcp { server, packet } = l.poll(now) else {
        panic!("expected SendTcp")
    };
    assert_eq!(server, sa(S1));
    let id = Message::parse(&packet[2..]).unwrap().header.id;
    l.tcp_received(&tcp_answer(id, &[[4, 4, 4, 4]]), now);
    assert_eq!(expect_done(l.poll(now)), addresses(&[v4(4, 4, 4, 4)], 30));
}

#[test]
fn nxdomain_with_soa() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let msg = reply(&sent, resp_flags(3), [0, 1, 0])
        .soa("example.com", 600, 60)
        .build();
    l.udp_received(sa(S1), &msg, now);
    let outcome = expect_done(l.poll(now));
    assert_eq!(
        outcome,
        Outcome::NxDomain {
            name: name("www.example.com"),
            soa: Some(SoaTtl {
                ttl: 600,
                minimum: 60
            })
        }
    );
    let err = outcome.to_error("www.example.com", QType::A).unwrap();
    assert_eq!(err.code, "nxdomain");
}

#[test]
fn nodata_with_and_without_soa() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let msg = reply(&sent, resp_flags(0), [0, 1, 0])
        .soa("example.com", 600, 60)
        .build();
    l.udp_received(sa(S1), &msg, now);
    let outcome = expect_done(l.poll(now));
    assert_eq!(
        outcome,
        Outcome::NoData {
            name: name("www.example.com"),
            soa: Some(SoaTtl {
                ttl: 600,
                minimum: 60
            })
        }
    );
    let err = outcome.to_error("www.example.com", QType::Aaaa).unwrap();
    assert_eq!(err.code, "noaddress");
    assert!(err.message.contains("AAAA"), "{}", err.message);

    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    // Records of another type only, RA set, no SOA: still no data.
    let msg = reply(&sent, resp_flags(0), [1, 0, 0])
        .aaaa("www.example.com", 1, "2001:db8::1".parse().unwrap())
        .build();
    l.udp_received(sa(S1), &msg, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::NoData {
            name: name("www.example.com"),
            soa: None
        }
    );
}

#[test]
fn referral_from_non_recursive_server_is_a_failure() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    // QR only: no RA, no AA, nothing useful.
    l.udp_received(sa(S1), &reply(&sent, 0x8000, [0, 0, 0]).build(), now);
    let next = expect_send(l.poll(now));
    assert_eq!(next.server, sa(S2));
    l.udp_received(sa(S2), &reply(&next, 0x8000, [0, 0, 0]).build(), now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![
                (sa(S1), ServerError::NotRecursive),
                (sa(S2), ServerError::NotRecursive)
            ]
        }
    );
}

#[test]
fn follows_cname_chain() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    // Records out of order, an unrelated A record, and a CNAME with a short TTL.
    let msg = reply(&sent, resp_flags(0), [5, 0, 0])
        .a("cdn.example.net", 120, [10, 0, 0, 2])
        .a("unrelated.example", 1, [6, 6, 6, 6])
        .cname("www.example.com", 3600, "alias.example.org")
        .cname("alias.example.org", 50, "cdn.example.net")
        .a("cdn.example.net", 100, [10, 0, 0, 1])
        .build();
    l.udp_received(sa(S1), &msg, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::Addresses {
            canonical: name("cdn.example.net"),
            addrs: vec![v4(10, 0, 0, 2), v4(10, 0, 0, 1)],
            ttl: 50
        }
    );
}

#[test]
fn cname_chain_ending_early_asks_for_another_lookup() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let msg = reply(&sent, resp_flags(0), [1, 0, 0])
        .cname("www.example.com", 90, "elsewhere.example")
        .build();
    l.udp_received(sa(S1), &msg, now);
    let outcome = expect_done(l.poll(now));
    assert_eq!(
        outcome,
        Outcome::Cname {
            target: name("elsewhere.example"),
            ttl: 90
        }
    );
    assert_eq!(outcome.to_error("x", QType::A), None);
}

#[test]
fn cname_to_a_name_without_data() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let msg = reply(&sent, resp_flags(3), [1, 1, 0])
        .cname("www.example.com", 90, "gone.example")
        .soa("example", 30, 10)
        .build();
    l.udp_received(sa(S1), &msg, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::NxDomain {
            name: name("gone.example"),
            soa: Some(SoaTtl {
                ttl: 30,
                minimum: 10
            })
        }
    );
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let msg = reply(&sent, resp_flags(0), [1, 1, 0])
        .cname("www.example.com", 90, "v6only.example")
        .soa("example", 30, 10)
        .build();
    l.udp_received(sa(S1), &msg, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::NoData {
            name: name("v6only.example"),
            soa: Some(SoaTtl {
                ttl: 30,
                minimum: 10
            })
        }
    );
}

#[test]
fn cname_loop_is_bounded() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    let msg = reply(&sent, resp_flags(0), [2, 0, 0])
        .cname("www.example.com", 90, "loop.example")
        .cname("loop.example", 90, "www.example.com")
        .build();
    l.udp_received(sa(S1), &msg, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![(sa(S1), ServerError::CnameChain)]
        }
    );
}

#[test]
fn long_cname_chain_within_limit() {
    let now = Instant::now();
    let mut l = lookup(&[S1]);
    let sent = start(&mut l, now);
    let mut b = reply(&sent, resp_flags(0), [MAX_CNAME_HOPS as u16 + 1, 0, 0]);
    let mut from = "www.example.com".to_string();
    for i in 0..MAX_CNAME_HOPS {
        let to = format!("c{i}.example");
        b = b.cname(&from, 100, &to);
        from = to;
    }
    l.udp_received(sa(S1), &b.a(&from, 100, [1, 1, 1, 1]).build(), now);
    assert!(matches!(
        expect_done(l.poll(now)),
        Outcome::Addresses { .. }
    ));
}

#[test]
fn formerr_to_edns_retries_without_it() {
    let now = Instant::now();
    let mut l = lookup(&[S1, S2]);
    let sent = start(&mut l, now);
    assert!(Message::parse(&sent.packet).unwrap().edns.is_some());
    // An old server: FORMERR with no question section.
    let formerr = Builder::new(sent.id, resp_flags(1), [0, 0, 0, 0]).build();
    l.udp_received(sa(S1), &formerr, now);
    let again = expect_send(l.poll(now));
    assert_eq!(again.server, sa(S1));
    assert_ne!(again.id, sent.id);
    assert_eq!(Message::parse(&again.packet).unwrap().edns, None);
    // A second FORMERR is a real failure.
    let formerr = Builder::new(again.id, resp_flags(1), [0, 0, 0, 0]).build();
    l.udp_received(sa(S1), &formerr, now);
    let next = expect_send(l.poll(now));
    assert_eq!(next.server, sa(S2));
    assert!(
        Message::parse(&next.packet).unwrap().edns.is_some(),
        "other servers keep EDNS0"
    );
}

#[test]
fn no_edns_when_configured_off() {
    let now = Instant::now();
    let mut cfg = config(&[S1]);
    cfg.edns = false;
    let mut l = Lookup::new(name("x.example"), QType::Aaaa, &cfg);
    let sent = expect_send(l.poll(now));
    let q = Message::parse(&sent.packet).unwrap();
    assert_eq!(q.edns, None);
    assert_eq!(q.questions[0].qtype, rtype::AAAA);
    let formerr = Builder::new(sent.id, resp_flags(1), [0, 0, 0, 0]).build();
    l.udp_received(sa(S1), &formerr, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::ServFail {
            errors: vec![(sa(S1), ServerError::Rcode(1))]
        }
    );
}

#[test]
fn aaaa_lookup() {
    let now = Instant::now();
    let mut l = Lookup::new(name("v6.example"), QType::Aaaa, &config(&[S3]));
    let sent = start(&mut l, now);
    assert_eq!(sent.server, sa(S3));
    let ip: std::net::Ipv6Addr = "2001:db8::99".parse().unwrap();
    let msg = reply(&sent, resp_flags(0), [2, 0, 0])
        .a("v6.example", 10, [1, 1, 1, 1])
        .aaaa("v6.example", 10, ip)
        .build();
    l.udp_received(sa(S3), &msg, now);
    assert_eq!(
        expect_done(l.poll(now)),
        Outcome::Addresses {
            canonical: name("v6.example"),
            addrs: vec![IpAddr::V6(ip)],
            ttl: 10
        }
    );
}

#[test]
fn send_failure_moves_on() {
    let now = Instant::now();
    let mut l = lookup(&[S3, S1]);
    start(&mut l, now);
    l.udp_send_failed(now);
    assert_eq!(expect_send(l.poll(now)).server, sa(S1));
}

#[test]
fn rotate_spreads_the_first_server() {
    let now = Instant::now();
    let mut cfg = config(&[S1, S2, S3]);
    cfg.rotate = true;
    let mut firsts = std::collections::HashSet::new();
    for _ in 0..200 {
        let mut l = Lookup::new(name("a.example"), QType::A, &cfg);
        let first = expect_send(l.poll(now)).server;
        // The round still visits every server in list order.
        let mut order = vec![first];
        let mut t = now;
        for _ in 0..2 {
            t += Duration::from_secs(5);
            order.push(expect_send(l.poll(t)).server);
        }
        let i = cfg.servers.iter().position(|s| *s == first).unwrap();
        assert_eq!(order, [0, 1, 2].map(|k| cfg.servers[(i + k) % 3]));
        firsts.insert(first);
    }
    assert_eq!(firsts.len(), 3);
}

#[test]
fn no_servers_fails_at_once() {
    let now = Instant::now();
    let mut l = lookup(&[]);
    let outcome = expect_done(l.poll(now));
    assert_eq!(outcome, Outcome::ServFail { errors: vec![] });
    let err = outcome.to_error("h", QType::A).unwrap();
    assert!(err.message.contains("no name servers"), "{}", err.message);
}

#[test]
fn zero_attempts_reads_as_one() {
    let now = Instant::now();
    let mut cfg = config(&[S1]);
    cfg.attempts = 0;
    let mut l = Lookup::new(name("a.example"), QType::A, &cfg);
    expect_send(l.poll(now));
    let later = now + Duration::from_secs(5);
    assert!(matches!(
        expect_done(l.poll(later)),
        Outcome::Timeout { .. }
    ));
}

#[test]
fn config_from_resolv_conf() {
    let conf = crate::dns::conf::ResolvConf::parse(
        "nameserver 10.0.0.1\noptions timeout:2 attempts:3 rotate use-vc\n",
    );
    let cfg = LookupConfig::from(&conf);
    assert_eq!(cfg.servers, vec![sa("10.0.0.1:53")]);
    assert_eq!(cfg.timeout, Duration::from_secs(2));
    assert_eq!(cfg.attempts, 3);
    assert!(cfg.rotate && cfg.edns && cfg.tcp_only);
}

#[test]
fn same_endpoint_rules() {
    assert!(same_endpoint(sa("1.2.3.4:53"), sa("[::ffff:1.2.3.4]:53")));
    assert!(!same_endpoint(sa("1.2.3.4:53"), sa("1.2.3.4:54")));
    assert!(same_endpoint(sa("[fe80::1%2]:53"), sa("[fe80::1]:53")));
}

//! The DNS codec and lookup machine under arbitrary answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::dns::codec::{Message, Name, QType, RData, MAX_NAME_WIRE};
use crate::dns::query::{Action, Lookup, LookupConfig};

fn check_name(name: &Name) {
    assert!(name.wire().len() <= MAX_NAME_WIRE);
    // The text form of every decoded name parses back to the same name.
    if !name.is_root() {
        assert_eq!(&Name::new(name.as_str()).expect("text form parses"), name);
    }
}

/// Any bytes given to the message parser: it must return, without
/// panicking, and what it returns must be self-consistent.
pub fn parse_message(data: &[u8]) {
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let _ = msg.rcode();
    let _ = msg.soa_ttl();
    assert!(msg.questions.len() <= usize::from(msg.header.qdcount));
    assert!(msg.answers.len() <= usize::from(msg.header.ancount));
    assert!(msg.authority.len() <= usize::from(msg.header.nscount));
    for q in &msg.questions {
        check_name(&q.name);
    }
    for r in msg.answers.iter().chain(&msg.authority) {
        check_name(&r.name);
        match &r.data {
            RData::Cname(target) => check_name(target),
            RData::Soa(soa) => {
                check_name(&soa.mname);
                check_name(&soa.rname);
            }
            _ => {}
        }
    }
}

/// Any bytes as the answer to a lookup, from the server that was asked and
/// with the right ID (the first two bytes are overwritten), over UDP and
/// then over TCP: the machine must not panic and must end or wait.
pub fn lookup_answer(data: &[u8]) {
    let server: SocketAddr = "192.0.2.1:53".parse().expect("literal");
    let config = LookupConfig {
        servers: vec![server, "192.0.2.2:53".parse().expect("literal")],
        timeout: Duration::from_secs(1),
        attempts: 2,
        rotate: false,
        edns: true,
        tcp_only: false,
    };
    let qtype = if data.first().is_some_and(|b| b & 1 == 1) {
        QType::Aaaa
    } else {
        QType::A
    };
    let name = Name::new("www.example.com").expect("literal");
    let mut lookup = Lookup::new(name, qtype, &config);
    let now = Instant::now();
    let Action::Send { id, .. } = lookup.poll(now) else {
        panic!("first action is a send")
    };
    let mut msg = data.to_vec();
    if msg.len() >= 2 {
        msg[..2].copy_from_slice(&id.to_be_bytes());
    }
    lookup.udp_received(server, &msg, now);
    // Whatever happened, a TCP retry may be asked for: feed the same bytes
    // framed as its answer.
    for _ in 0..4 {
        match lookup.poll(now) {
            Action::SendTcp { packet, .. } => {
                let n = msg.len().min(2);
                msg[..n].copy_from_slice(&packet[2..2 + n]);
                let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
                lookup.tcp_received(&len.to_be_bytes(), now);
                lookup.tcp_received(&msg, now);
            }
            Action::Done(_) => return,
            Action::Wait { .. } | Action::Send { .. } => {}
        }
    }
    // Time runs out: the lookup must finish within its tries.
    let mut later = now;
    for _ in 0..16 {
        later += Duration::from_secs(2);
        if let Action::Done(_) = lookup.poll(later) {
            return;
        }
    }
    panic!("lookup did not finish after its deadlines");
}

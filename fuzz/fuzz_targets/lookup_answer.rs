//! Any bytes as the answer to a lookup, from the server that was asked and
//! with the right ID (the first two bytes are overwritten), over UDP and
//! then over TCP: the machine must not panic and must end or wait.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tls::dns::codec::{Name, QType};
use tls::dns::query::{Action, Lookup, LookupConfig};

fuzz_target!(|data: &[u8]| {
    let server: SocketAddr = "192.0.2.1:53".parse().unwrap();
    let config = LookupConfig {
        servers: vec![server, "192.0.2.2:53".parse().unwrap()],
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
    let mut lookup = Lookup::new(Name::new("www.example.com").unwrap(), qtype, &config);
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
});

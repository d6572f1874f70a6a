//! Any bytes given to the message parser: it must return, without
//! panicking, and what it returns must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tls::dns::codec::{Message, Name, RData, MAX_NAME_WIRE};

fn check_name(name: &Name) {
    assert!(name.wire().len() <= MAX_NAME_WIRE);
    // The text form of every decoded name parses back to the same name.
    if !name.is_root() {
        assert_eq!(&Name::new(name.as_str()).expect("text form parses"), name);
    }
}

fuzz_target!(|data: &[u8]| {
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
});

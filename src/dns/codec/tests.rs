//! Codec tests, and a message builder other DNS tests share.

use super::*;

/// Builds response messages for tests, without compression unless the
/// test writes pointers itself.
pub(crate) struct Builder {
    pub(crate) buf: Vec<u8>,
}

impl Builder {
    pub(crate) fn new(id: u16, flags: u16, counts: [u16; 4]) -> Builder {
        let mut buf = Vec::new();
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        for c in counts {
            buf.extend_from_slice(&c.to_be_bytes());
        }
        Builder { buf }
    }

    pub(crate) fn name(mut self, text: &str) -> Self {
        self.buf.extend_from_slice(Name::new(text).unwrap().wire());
        self
    }

    pub(crate) fn raw(mut self, bytes: &[u8]) -> Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    pub(crate) fn u16(self, v: u16) -> Self {
        self.raw(&v.to_be_bytes())
    }

    pub(crate) fn u32(self, v: u32) -> Self {
        self.raw(&v.to_be_bytes())
    }

    pub(crate) fn question(self, name: &str, qtype: u16) -> Self {
        self.name(name).u16(qtype).u16(CLASS_IN)
    }

    /// A record header; the caller appends `rdlen` bytes of rdata.
    pub(crate) fn rr(self, name: &str, rtype: u16, ttl: u32, rdlen: u16) -> Self {
        self.name(name).u16(rtype).u16(CLASS_IN).u32(ttl).u16(rdlen)
    }

    pub(crate) fn a(self, name: &str, ttl: u32, ip: [u8; 4]) -> Self {
        self.rr(name, rtype::A, ttl, 4).raw(&ip)
    }

    pub(crate) fn aaaa(self, name: &str, ttl: u32, ip: Ipv6Addr) -> Self {
        self.rr(name, rtype::AAAA, ttl, 16).raw(&ip.octets())
    }

    pub(crate) fn cname(self, name: &str, ttl: u32, target: &str) -> Self {
        let t = Name::new(target).unwrap();
        self.rr(name, rtype::CNAME, ttl, t.wire().len() as u16)
            .raw(t.wire())
    }

    pub(crate) fn soa(self, zone: &str, ttl: u32, minimum: u32) -> Self {
        let m = Name::new("ns.example").unwrap();
        let r = Name::new("admin.example").unwrap();
        let len = m.wire().len() + r.wire().len() + 20;
        let mut b = self
            .rr(zone, rtype::SOA, ttl, len as u16)
            .raw(m.wire())
            .raw(r.wire());
        for v in [1, 2, 3, 4, minimum] {
            b = b.u32(v);
        }
        b
    }

    pub(crate) fn opt(self, udp: u16, ext_rcode: u8) -> Self {
        self.raw(&[0])
            .u16(rtype::OPT)
            .u16(udp)
            .u32(u32::from(ext_rcode) << 24)
            .u16(0)
    }

    pub(crate) fn build(self) -> Vec<u8> {
        self.buf
    }
}

/// Response flags: QR, RD, RA and the given rcode.
pub(crate) fn resp_flags(rcode: u16) -> u16 {
    0x8180 | rcode
}

fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

#[test]
fn encodes_query_without_edns() {
    let name = n("Example.COM");
    let q = Query {
        id: 0xBEEF,
        name: &name,
        qtype: QType::A,
        recursion_desired: true,
        edns_udp_size: None,
    };
    let bytes = q.encode();
    assert_eq!(
        bytes,
        b"\xbe\xef\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    );
    let m = Message::parse(&bytes).unwrap();
    assert!(!m.header.qr);
    assert!(m.header.rd);
    assert!(m.question_matches(&name, QType::A));
    assert!(!m.question_matches(&name, QType::Aaaa));
    assert_eq!(m.edns, None);
}

#[test]
fn encodes_query_with_edns() {
    let name = n("example.com");
    let q = Query {
        id: 7,
        name: &name,
        qtype: QType::Aaaa,
        recursion_desired: false,
        edns_udp_size: Some(EDNS_UDP_SIZE),
    };
    let bytes = q.encode();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.header.id, 7);
    assert!(!m.header.rd);
    assert_eq!(m.header.arcount, 1);
    assert_eq!(m.questions[0].qtype, rtype::AAAA);
    assert_eq!(
        m.edns,
        Some(Edns {
            udp_size: 1232,
            ext_rcode: 0,
            version: 0
        })
    );
    assert_eq!(
        &bytes[bytes.len() - 11..],
        b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
    );
}

#[test]
fn tcp_frame_prefixes_length() {
    assert_eq!(tcp_frame(b"abc"), b"\x00\x03abc");
    assert_eq!(tcp_frame(b""), b"\x00\x00");
}

#[test]
fn parses_answer_with_cname_and_addresses() {
    let msg = Builder::new(0x1234, resp_flags(0), [1, 3, 0, 1])
        .question("WWW.example.com", rtype::A)
        .cname("www.EXAMPLE.com", 300, "web.example.net")
        .a("web.example.net", 60, [192, 0, 2, 1])
        .a("web.example.net", 30, [192, 0, 2, 2])
        .opt(4096, 0)
        .build();
    let m = Message::parse(&msg).unwrap();
    assert_eq!(m.header.id, 0x1234);
    assert!(m.header.qr && m.header.rd && m.header.ra && !m.header.tc);
    assert_eq!(m.rcode(), rcode::NOERROR);
    assert!(m.question_matches(&n("www.example.com"), QType::A));
    assert_eq!(m.answers.len(), 3);
    assert_eq!(m.answers[0].name, n("www.example.com"));
    assert_eq!(m.answers[0].data, RData::Cname(n("web.example.net")));
    assert_eq!(m.answers[0].ttl, 300);
    assert_eq!(m.answers[1].data, RData::A(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(m.answers[2].ttl, 30);
    assert_eq!(m.edns.unwrap().udp_size, 4096);
}

#[test]
fn parses_aaaa() {
    let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let msg = Builder::new(1, resp_flags(0), [1, 1, 0, 0])
        .question("h.example", rtype::AAAA)
        .aaaa("h.example", 5, ip)
        .build();
    let m = Message::parse(&msg).unwrap();
    assert_eq!(m.answers[0].data, RData::Aaaa(ip));
}

#[test]
fn parses_nxdomain_with_soa() {
    let msg = Builder::new(9, resp_flags(rcode::NXDOMAIN), [1, 0, 1, 0])
        .question("nope.example", rtype::A)
        .soa("example", 3600, 900)
        .build();
    let m = Message::parse(&msg).unwrap();
    assert_eq!(m.rcode(), rcode::NXDOMAIN);
    assert_eq!(
        m.soa_ttl(),
        Some(SoaTtl {
            ttl: 3600,
            minimum: 900
        })
    );
    match &m.authority[0].data {
        RData::Soa(soa) => {
            assert_eq!(soa.mname, n("ns.example"));
            assert_eq!(soa.rname, n("admin.example"));
            assert_eq!(
                (soa.serial, soa.refresh, soa.retry, soa.expire),
                (1, 2, 3, 4)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn extended_rcode_combines_with_header() {
    let msg = Builder::new(9, resp_flags(0), [0, 0, 0, 1])
        .opt(1232, 1)
        .build();
    assert_eq!(Message::parse(&msg).unwrap().rcode(), 16);
}

#[test]
fn high_bit_ttl_reads_as_zero() {
    let msg = Builder::new(1, resp_flags(0), [0, 1, 0, 0])
        .a("x", 0x8000_0001, [1, 2, 3, 4])
        .build();
    assert_eq!(Message::parse(&msg).unwrap().answers[0].ttl, 0);
}

#[test]
fn skips_unknown_types_and_keeps_flags() {
    let msg = Builder::new(1, 0x8400 | 0x0200, [1, 1, 0, 0])
        .question("x", rtype::A)
        .rr("x", 16, 1, 3)
        .raw(b"\x02hi")
        .build();
    // TC set: only the question is read.
    let m = Message::parse(&msg).unwrap();
    assert!(m.header.tc && m.header.aa && !m.header.rd);
    assert!(m.answers.is_empty());
    // Without TC the TXT record is kept as Other.
    let mut msg = msg;
    msg[2] &= !0x02;
    let m = Message::parse(&msg).unwrap();
    assert_eq!(m.answers[0].data, RData::Other);
    assert_eq!(m.answers[0].rtype, 16);
}

#[test]
fn a_in_other_class_is_other() {
    let msg = Builder::new(1, resp_flags(0), [0, 1, 0, 0])
        .name("x")
        .u16(rtype::A)
        .u16(3)
        .u32(1)
        .u16(2)
        .raw(b"ab")
        .build();
    assert_eq!(Message::parse(&msg).unwrap().answers[0].data, RData::Other);
}

#[test]
fn follows_backward_pointers() {
    // Question "www.example.com" at 12; answer owner is a pointer to it;
    // CNAME target "mail" + pointer to "example.com" (offset 16).
    let msg = Builder::new(1, resp_flags(0), [1, 1, 0, 0])
        .question("www.example.com", rtype::A)
        .raw(&[0xC0, 12])
        .u16(rtype::CNAME)
        .u16(CLASS_IN)
        .u32(10)
        .u16(7)
        .raw(b"\x04mail\xC0\x10")
        .build();
    let m = Message::parse(&msg).unwrap();
    assert_eq!(m.answers[0].name, n("www.example.com"));
    assert_eq!(m.answers[0].data, RData::Cname(n("mail.example.com")));
}

#[test]
fn chained_pointers_are_fine_when_backward() {
    // Name at 12: "com"; at 21: "example" + ptr 12; at 35: "www" + ptr 21;
    // then a question that is just a pointer to 35.
    let msg = Builder::new(1, resp_flags(0), [4, 0, 0, 0])
        .question("com", 1)
        .raw(b"\x07example\xC0\x0C")
        .u16(1)
        .u16(1)
        .raw(b"\x03www\xC0\x15")
        .u16(1)
        .u16(1)
        .raw(&[0xC0, 35])
        .u16(1)
        .u16(1)
        .build();
    let m = Message::parse(&msg).unwrap();
    assert_eq!(m.questions[1].name, n("example.com"));
    assert_eq!(m.questions[2].name, n("www.example.com"));
    assert_eq!(m.questions[3].name, n("www.example.com"));
}

fn parse_err(msg: &[u8]) -> ParseError {
    Message::parse(msg).unwrap_err()
}

#[test]
fn rejects_short_and_truncated() {
    assert_eq!(parse_err(b""), ParseError::TooShort);
    assert_eq!(parse_err(&[0; 11]), ParseError::TooShort);
    let full = Builder::new(1, resp_flags(0), [1, 1, 0, 0])
        .question("example.com", rtype::A)
        .a("example.com", 1, [1, 2, 3, 4])
        .build();
    assert!(Message::parse(&full).is_ok());
    // Every strict prefix past the header is rejected, never a panic.
    for cut in HEADER_LEN..full.len() {
        assert_eq!(
            parse_err(&full[..cut]),
            ParseError::Truncated,
            "cut at {cut}"
        );
    }
}

#[test]
fn rejects_counts_that_lie() {
    let msg = Builder::new(1, resp_flags(0), [1, 2, 0, 0])
        .question("example.com", rtype::A)
        .a("example.com", 1, [1, 2, 3, 4])
        .build();
    assert_eq!(parse_err(&msg), ParseError::Truncated);
    let msg = Builder::new(1, resp_flags(0), [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]).build();
    assert_eq!(parse_err(&msg), ParseError::Truncated);
    let msg = Builder::new(1, resp_flags(0), [2, 0, 0, 0])
        .question("a", 1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::Truncated);
}

#[test]
fn rejects_pointer_loops() {
    // A pointer to itself.
    let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
        .raw(&[0xC0, 12])
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::ForwardPointer);
    // Two names pointing at each other: at 12 "a" + ptr 20, at 20 ptr 12.
    let msg = Builder::new(1, resp_flags(0), [2, 0, 0, 0])
        .raw(b"\x01a\xC0\x14")
        .u16(1)
        .u16(1)
        .raw(&[0xC0, 12])
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::ForwardPointer);
    // A pointer into the middle of its own name.
    let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
        .raw(b"\x01a\x01b\xC0\x0E")
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::ForwardPointer);
}

#[test]
fn rejects_forward_pointers() {
    // Points at a valid name that comes later.
    let msg = Builder::new(1, resp_flags(0), [2, 0, 0, 0])
        .raw(&[0xC0, 18])
        .u16(1)
        .u16(1)
        .name("a")
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::ForwardPointer);
}

#[test]
fn rejects_pointers_out_of_range() {
    let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
        .raw(&[0xFF, 0xFF])
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::PointerOutOfRange);
    let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
        .raw(&[0xC0, 3])
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::PointerOutOfRange);
    // Pointer cut in half.
    let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
        .raw(&[0xC0])
        .build();
    assert_eq!(parse_err(&msg), ParseError::Truncated);
}

#[test]
fn rejects_reserved_label_types() {
    for b in [0x40u8, 0x80] {
        let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
            .raw(&[b, 0])
            .u16(1)
            .u16(1)
            .build();
        assert_eq!(parse_err(&msg), ParseError::BadLabelType);
    }
}

#[test]
fn rejects_long_names() {
    // 4 labels of 63 = 4*64 + 1 = 257 bytes on the wire.
    let mut b = Builder::new(1, resp_flags(0), [1, 0, 0, 0]);
    for _ in 0..4 {
        b = b.raw(&[63]).raw(&[b'a'; 63]);
    }
    let msg = b.raw(&[0]).u16(1).u16(1).build();
    assert_eq!(parse_err(&msg), ParseError::NameTooLong);
    // The same limit applies across compression: a long suffix plus a
    // prefix that makes the total too long.
    let mut b = Builder::new(1, resp_flags(0), [2, 0, 0, 0]);
    for _ in 0..3 {
        b = b.raw(&[63]).raw(&[b'a'; 63]);
    }
    b = b.raw(&[0]).u16(1).u16(1);
    let msg = b
        .raw(&[62])
        .raw(&[b'b'; 62])
        .raw(&[0xC0, 12])
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(parse_err(&msg), ParseError::NameTooLong);
    // 255 exactly is fine.
    let mut b = Builder::new(1, resp_flags(0), [1, 0, 0, 0]);
    for _ in 0..3 {
        b = b.raw(&[63]).raw(&[b'a'; 63]);
    }
    let msg = b
        .raw(&[61])
        .raw(&[b'c'; 61])
        .raw(&[0])
        .u16(1)
        .u16(1)
        .build();
    assert_eq!(
        Message::parse(&msg).unwrap().questions[0].name.wire().len(),
        255
    );
}

#[test]
fn rejects_rdata_length_mismatch() {
    for (rt, len) in [
        (rtype::A, 3u16),
        (rtype::A, 5),
        (rtype::AAAA, 4),
        (rtype::AAAA, 17),
    ] {
        let msg = Builder::new(1, resp_flags(0), [0, 1, 0, 0])
            .rr("x", rt, 1, len)
            .raw(&vec![1; usize::from(len)])
            .build();
        assert_eq!(
            parse_err(&msg),
            ParseError::RdataLength { rtype: rt },
            "{rt} {len}"
        );
    }
    // CNAME whose name is shorter than rdlength says.
    let msg = Builder::new(1, resp_flags(0), [0, 1, 0, 0])
        .rr("x", rtype::CNAME, 1, 5)
        .raw(b"\x01y\x00zz")
        .build();
    assert_eq!(
        parse_err(&msg),
        ParseError::RdataLength {
            rtype: rtype::CNAME
        }
    );
    // CNAME whose name runs past rdlength.
    let msg = Builder::new(1, resp_flags(0), [0, 1, 1, 0])
        .rr("x", rtype::CNAME, 1, 2)
        .raw(b"\x01y\x00")
        .soa("x", 1, 1)
        .build();
    assert_eq!(
        parse_err(&msg),
        ParseError::RdataLength {
            rtype: rtype::CNAME
        }
    );
    // SOA with a short fixed part.
    let msg = Builder::new(1, resp_flags(0), [0, 0, 1, 0])
        .rr("x", rtype::SOA, 1, 2 + 19)
        .raw(&[0, 0])
        .raw(&[0; 19])
        .build();
    assert_eq!(
        parse_err(&msg),
        ParseError::RdataLength { rtype: rtype::SOA }
    );
    // Rdata running off the end of the message.
    let msg = Builder::new(1, resp_flags(0), [0, 1, 0, 0])
        .rr("x", rtype::A, 1, 4)
        .raw(&[1, 2])
        .build();
    assert_eq!(parse_err(&msg), ParseError::Truncated);
}

#[test]
fn rejects_two_opt_records() {
    let msg = Builder::new(1, resp_flags(0), [0, 0, 0, 2])
        .opt(512, 0)
        .opt(512, 0)
        .build();
    assert_eq!(parse_err(&msg), ParseError::MultipleOpt);
}

#[test]
fn tolerates_trailing_bytes() {
    let msg = Builder::new(1, resp_flags(0), [1, 0, 0, 0])
        .question("x", 1)
        .raw(&[0; 5])
        .build();
    assert!(Message::parse(&msg).is_ok());
}

/// A small deterministic generator, so the mutation test needs no crate.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[test]
fn mutated_messages_never_panic() {
    let seed = Builder::new(0x1234, resp_flags(0), [1, 2, 1, 1])
        .question("www.example.com", rtype::A)
        .raw(&[0xC0, 12])
        .u16(rtype::CNAME)
        .u16(CLASS_IN)
        .u32(10)
        .u16(7)
        .raw(b"\x04mail\xC0\x10")
        .a("mail.example.com", 60, [192, 0, 2, 1])
        .soa("example.com", 60, 30)
        .opt(1232, 0)
        .build();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..50_000 {
        let mut msg = seed.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % msg.len();
            match rng.next() % 4 {
                0 => msg[i] = rng.next() as u8,
                1 => msg[i] ^= 1 << (rng.next() % 8),
                2 => msg.truncate(i.max(1)),
                _ => msg.insert(i, rng.next() as u8),
            }
        }
        let _ = Message::parse(&msg);
    }
    // Pure noise too.
    for len in 0..600 {
        let msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = Message::parse(&msg);
    }
}

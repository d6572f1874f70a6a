//! The DNS message codec (RFC 1035, EDNS0 from RFC 6891), by hand.
//!
//! Only what a stub resolver needs: building an A/AAAA query and reading
//! the answer. The parser is written for hostile input: every read is
//! bounds-checked, compression pointers must point strictly backwards
//! (so they cannot loop), names are limited to 255 bytes, record counts are
//! never trusted for allocation (a count that lies runs out of bytes and
//! fails), and rdata lengths are checked against the record type. It returns
//! a [`ParseError`], never panics, and does work linear in the input.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub use super::name::{Name, NameError, MAX_LABEL, MAX_NAME_WIRE};

/// The fixed header length.
pub const HEADER_LEN: usize = 12;
/// The UDP payload size we advertise in EDNS0 (the DNS flag day 2020 value:
/// fits an IPv6 minimum MTU without fragmentation).
pub const EDNS_UDP_SIZE: u16 = 1232;
/// Class IN.
pub const CLASS_IN: u16 = 1;

/// Record type numbers we care about.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name (alias).
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// EDNS0 pseudo-record.
    pub const OPT: u16 = 41;
}

/// Response codes we act on (RFC 1035 §4.1.1, RFC 6895).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// The server could not parse our query.
    pub const FORMERR: u16 = 1;
    /// The server failed.
    pub const SERVFAIL: u16 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// The server does not implement the query kind.
    pub const NOTIMP: u16 = 4;
    /// The server refuses to answer us.
    pub const REFUSED: u16 = 5;
}

/// The two query types a stub resolver for connections asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl QType {
    /// The type number on the wire.
    pub fn code(self) -> u16 {
        match self {
            QType::A => rtype::A,
            QType::Aaaa => rtype::AAAA,
        }
    }

    /// The other address family's type.
    pub fn other(self) -> QType {
        match self {
            QType::A => QType::Aaaa,
            QType::Aaaa => QType::A,
        }
    }
}

impl fmt::Display for QType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QType::A => "A",
            QType::Aaaa => "AAAA",
        })
    }
}

/// Why a message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than a header.
    TooShort,
    /// The data ended inside a name, record or question; also what a count
    /// that claims more records than are present leads to.
    Truncated,
    /// A compression pointer beyond the end of the message or into the header.
    PointerOutOfRange,
    /// A compression pointer that does not point strictly before the
    /// name segment holding it (forward pointers, self-pointers and loops).
    ForwardPointer,
    /// A length byte with the top bits 01 or 10: extended label types, or
    /// a label longer than 63 bytes.
    BadLabelType,
    /// A decoded name longer than 255 bytes.
    NameTooLong,
    /// Rdata whose length does not fit its type (A not 4 bytes, AAAA not 16,
    /// a name in CNAME/SOA not ending exactly at the end of the rdata).
    RdataLength {
        /// The record type.
        rtype: u16,
    },
    /// More than one OPT record.
    MultipleOpt,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooShort => f.write_str("message shorter than a DNS header"),
            ParseError::Truncated => f.write_str("message truncated"),
            ParseError::PointerOutOfRange => f.write_str("compression pointer out of range"),
            ParseError::ForwardPointer => f.write_str("compression pointer not pointing backwards"),
            ParseError::BadLabelType => f.write_str("unknown label type"),
            ParseError::NameTooLong => f.write_str("name longer than 255 bytes"),
            ParseError::RdataLength { rtype } => write!(f, "bad rdata length for type {rtype}"),
            ParseError::MultipleOpt => f.write_str("more than one OPT record"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The fixed header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Query ID.
    pub id: u16,
    /// This is a response.
    pub qr: bool,
    /// Operation code (0 = standard query).
    pub opcode: u8,
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated: the answer did not fit; ask again over TCP.
    pub tc: bool,
    /// Recursion desired (echoed).
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// The low four bits of the response code (see [`Message::rcode`]).
    pub rcode: u8,
    /// Question count as claimed.
    pub qdcount: u16,
    /// Answer count as claimed.
    pub ancount: u16,
    /// Authority count as claimed.
    pub nscount: u16,
    /// Additional count as claimed.
    pub arcount: u16,
}

impl Header {
    /// Reads the header alone. Lets a caller learn the ID (to attribute a
    /// message to a query) even when the rest is malformed.
    pub fn parse(msg: &[u8]) -> Result<Header, ParseError> {
        if msg.len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        let flags = be16(msg, 2);
        Ok(Header {
            id: be16(msg, 0),
            qr: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0xF) as u8,
            aa: flags & 0x0400 != 0,
            tc: flags & 0x0200 != 0,
            rd: flags & 0x0100 != 0,
            ra: flags & 0x0080 != 0,
            rcode: (flags & 0xF) as u8,
            qdcount: be16(msg, 4),
            ancount: be16(msg, 6),
            nscount: be16(msg, 8),
            arcount: be16(msg, 10),
        })
    }
}

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name asked about (lowercased).
    pub name: Name,
    /// Type number.
    pub qtype: u16,
    /// Class number.
    pub qclass: u16,
}

/// The SOA fields that matter for negative caching (RFC 2308 §5): the
/// record's own TTL and its MINIMUM field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoaTtl {
    /// TTL of the SOA record itself.
    pub ttl: u32,
    /// The SOA MINIMUM field.
    pub minimum: u32,
}

/// A start-of-authority record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// Primary server.
    pub mname: Name,
    /// Responsible mailbox.
    pub rname: Name,
    /// Zone serial.
    pub serial: u32,
    /// Refresh interval.
    pub refresh: u32,
    /// Retry interval.
    pub retry: u32,
    /// Expiry.
    pub expire: u32,
    /// Negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

/// Decoded record data for the types we use; everything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address (class IN).
    A(Ipv4Addr),
    /// An IPv6 address (class IN).
    Aaaa(Ipv6Addr),
    /// An alias target.
    Cname(Name),
    /// Zone authority data.
    Soa(Soa),
    /// Some other type or class; its rdata is skipped.
    Other,
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name (lowercased).
    pub name: Name,
    /// Type number.
    pub rtype: u16,
    /// Class number.
    pub class: u16,
    /// Time to live in seconds (values with the top bit set read as 0,
    /// RFC 2181 §8).
    pub ttl: u32,
    /// The decoded data.
    pub data: RData,
}

/// What the OPT pseudo-record said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The sender's UDP payload size.
    pub udp_size: u16,
    /// Upper eight bits of the response code.
    pub ext_rcode: u8,
    /// EDNS version.
    pub version: u8,
}

/// A parsed message. The additional section is validated but only its OPT
/// record is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section (empty when the message is truncated, `tc`).
    pub answers: Vec<Record>,
    /// The authority section (empty when truncated).
    pub authority: Vec<Record>,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
}

impl Message {
    /// Parses a whole message.
    ///
    /// A truncated message (`tc` set) is only read up to its question: the
    /// caller will ask again over TCP, and servers are allowed to cut such a
    /// message anywhere, so its records are neither needed nor trustworthy.
    pub fn parse(msg: &[u8]) -> Result<Message, ParseError> {
        let header = Header::parse(msg)?;
        let mut pos = HEADER_LEN;
        let mut questions = Vec::new();
        for _ in 0..header.qdcount {
            let (name, p) = read_name(msg, pos)?;
            let fixed = msg.get(p..p + 4).ok_or(ParseError::Truncated)?;
            questions.push(Question {
                name,
                qtype: be16(fixed, 0),
                qclass: be16(fixed, 2),
            });
            pos = p + 4;
        }
        let mut out = Message {
            header,
            questions,
            answers: Vec::new(),
            authority: Vec::new(),
            edns: None,
        };
        if header.tc {
            return Ok(out);
        }
        for _ in 0..header.ancount {
            let (record, p) = read_record(msg, pos)?;
            out.answers.push(record);
            pos = p;
        }
        for _ in 0..header.nscount {
            let (record, p) = read_record(msg, pos)?;
            out.authority.push(record);
            pos = p;
        }
        for _ in 0..header.arcount {
            let (record, p) = read_record(msg, pos)?;
            if record.rtype == rtype::OPT {
                if out.edns.is_some() {
                    return Err(ParseError::MultipleOpt);
                }
                out.edns = Some(Edns {
                    udp_size: record.class,
                    ext_rcode: (record.ttl >> 24) as u8,
                    version: (record.ttl >> 16) as u8,
                });
            }
            pos = p;
        }
        // Bytes after the last record are tolerated: some servers pad.
        Ok(out)
    }

    /// The full response code, including the EDNS extension bits.
    pub fn rcode(&self) -> u16 {
        let ext = self.edns.map_or(0, |e| u16::from(e.ext_rcode));
        (ext << 4) | u16::from(self.header.rcode)
    }

    /// Whether the question section is exactly the one question asked
    /// (names compare case-insensitively: both sides are lowercased).
    pub fn question_matches(&self, name: &Name, qtype: QType) -> bool {
        matches!(self.questions.as_slice(), [q] if q.name == *name
            && q.qtype == qtype.code()
            && q.qclass == CLASS_IN)
    }

    /// TTLs of the first SOA in the authority section, for negative caching.
    pub fn soa_ttl(&self) -> Option<SoaTtl> {
        self.authority.iter().find_map(|r| match &r.data {
            RData::Soa(soa) => Some(SoaTtl {
                ttl: r.ttl,
                minimum: soa.minimum,
            }),
            _ => None,
        })
    }
}

/// A query to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<'a> {
    /// The ID (random, chosen by the caller).
    pub id: u16,
    /// The name asked about.
    pub name: &'a Name,
    /// A or AAAA.
    pub qtype: QType,
    /// Ask the server to recurse (always, for a stub resolver).
    pub recursion_desired: bool,
    /// Add an EDNS0 OPT record advertising this UDP payload size.
    pub edns_udp_size: Option<u16>,
}

impl Query<'_> {
    /// The message bytes (without the TCP length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.name.wire().len() + 4 + 11);
        out.extend_from_slice(&self.id.to_be_bytes());
        let flags: u16 = if self.recursion_desired { 0x0100 } else { 0 };
        out.extend_from_slice(&flags.to_be_bytes());
        let arcount: u16 = self.edns_udp_size.is_some().into();
        for count in [1, 0, 0, arcount] {
            out.extend_from_slice(&u16::to_be_bytes(count));
        }
        out.extend_from_slice(self.name.wire());
        out.extend_from_slice(&self.qtype.code().to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some(size) = self.edns_udp_size {
            out.push(0); // owner: the root
            out.extend_from_slice(&rtype::OPT.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes()); // class carries the UDP size
            out.extend_from_slice(&[0, 0, 0, 0]); // ext rcode, version 0, no flags
            out.extend_from_slice(&[0, 0]); // no options
        }
        out
    }
}

/// Prefixes a message with its two-byte length, as DNS over TCP sends it.
pub fn tcp_frame(msg: &[u8]) -> Vec<u8> {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&msg[..usize::from(len)]);
    out
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a possibly compressed name starting at `start`; returns it and the
/// position just after it in the original byte stream.
///
/// Termination: every pointer must point strictly before the start of the
/// segment it was found in, so positions jumped to strictly decrease and a
/// loop is impossible; the 255-byte limit bounds the work done per segment.
fn read_name(msg: &[u8], start: usize) -> Result<(Name, usize), ParseError> {
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut wire_len = 1; // the root byte
    let mut pos = start;
    let mut segment_start = start;
    let mut end = None;
    loop {
        let len = *msg.get(pos).ok_or(ParseError::Truncated)?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                let end = end.unwrap_or(pos + 1);
                let name = Name::from_labels(&labels).map_err(|_| ParseError::NameTooLong)?;
                return Ok((name, end));
            }
            0x00 => {
                let len = usize::from(len);
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(ParseError::Truncated)?;
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE {
                    return Err(ParseError::NameTooLong);
                }
                labels.push(label);
                pos += 1 + len;
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or(ParseError::Truncated)?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if end.is_none() {
                    end = Some(pos + 2);
                }
                if target >= msg.len() || target < HEADER_LEN {
                    return Err(ParseError::PointerOutOfRange);
                }
                if target >= segment_start {
                    return Err(ParseError::ForwardPointer);
                }
                pos = target;
                segment_start = target;
            }
            _ => return Err(ParseError::BadLabelType),
        }
    }
}

/// Reads one resource record at `pos`; returns it and the position after it.
fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), ParseError> {
    let (name, p) = read_name(msg, pos)?;
    let fixed = msg.get(p..p + 10).ok_or(ParseError::Truncated)?;
    let rtype = be16(fixed, 0);
    let class = be16(fixed, 2);
    let raw_ttl = be32(fixed, 4);
    // RFC 2181 §8: a TTL with the top bit set is treated as zero.
    let ttl = if raw_ttl & 0x8000_0000 != 0 {
        0
    } else {
        raw_ttl
    };
    let rdlen = usize::from(be16(fixed, 8));
    let rd_start = p + 10;
    let rd_end = rd_start + rdlen;
    let rdata = msg.get(rd_start..rd_end).ok_or(ParseError::Truncated)?;
    let bad_len = ParseError::RdataLength { rtype };
    let data = match rtype {
        rtype::A if class == CLASS_IN => {
            let octets: [u8; 4] = rdata.try_into().map_err(|_| bad_len)?;
            RData::A(Ipv4Addr::from(octets))
        }
        rtype::AAAA if class == CLASS_IN => {
            let octets: [u8; 16] = rdata.try_into().map_err(|_| bad_len)?;
            RData::Aaaa(Ipv6Addr::from(octets))
        }
        rtype::CNAME => {
            let (target, after) = read_name(msg, rd_start)?;
            if after != rd_end {
                return Err(bad_len);
            }
            RData::Cname(target)
        }
        rtype::SOA => {
            let (mname, p1) = read_name(msg, rd_start)?;
            let (rname, p2) = read_name(msg, p1)?;
            if p1 > rd_end || p2 + 20 != rd_end {
                return Err(bad_len);
            }
            let n = &msg[p2..rd_end];
            RData::Soa(Soa {
                mname,
                rname,
                serial: be32(n, 0),
                refresh: be32(n, 4),
                retry: be32(n, 8),
                expire: be32(n, 12),
                minimum: be32(n, 16),
            })
        }
        _ => RData::Other,
    };
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            data,
        },
        rd_end,
    ))
}

#[cfg(test)]
pub(crate) mod tests;

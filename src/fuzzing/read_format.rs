//! The read-format matcher (`ios:read` formats against buffered bytes)
//! and the format argument parser.

use mlua::{Lua, Value};

use crate::stream::format::{match_format, Format, Match, Piece};

thread_local! {
    static LUA: Lua = Lua::new();
}

/// The first byte picks the format and the line limit; the rest is the
/// buffer. Checks the shape of every answer, that an answer never changes
/// when more bytes arrive (so it does not matter how the peer split its
/// writes), and that the format parser agrees with its grammar.
pub fn read_format(data: &[u8]) {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let count = usize::from(input.first().copied().unwrap_or(0)) % 64;
    let fmt = match sel % 8 {
        0 => Format::All,
        1 => Format::Line { keep: false },
        2 => Format::Line { keep: true },
        3 | 4 => Format::Number,
        5 => Format::Available,
        6 => Format::Count(count),
        _ => Format::Count(0),
    };
    let max_line = 1 + usize::from(sel >> 3) * 4;
    for eof in [false, true] {
        let full = match_format(fmt, input, eof, max_line);
        check_shape(fmt, input, eof, max_line, &full);
        if fmt == Format::Available {
            continue; // "whatever has arrived" depends on what has, by design
        }
        // A prefix that decides decides as the whole does.
        let step = (input.len() / 16).max(1);
        for cut in (0..input.len()).step_by(step) {
            match match_format(fmt, &input[..cut], false, max_line) {
                Match::Need => {}
                decided => assert_eq!(decided, full, "{fmt:?} decided on {cut} bytes"),
            }
        }
    }
    format_parser(input);
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn check_shape(fmt: Format, data: &[u8], eof: bool, max_line: usize, m: &Match) {
    let (consumed, piece) = match m {
        Match::Need => {
            assert!(!eof, "{fmt:?} needs more at the end of stream");
            return;
        }
        Match::TooLong => {
            assert!(matches!(fmt, Format::Line { .. }));
            assert!(data.len() > max_line);
            return;
        }
        Match::Done { consumed, piece } => (*consumed, piece),
    };
    assert!(consumed <= data.len());
    match (fmt, piece) {
        (_, Piece::Fail) => match fmt {
            Format::Number => {
                let ws = data.iter().take_while(|c| is_c_space(**c)).count();
                assert!(consumed >= ws && consumed - ws <= 200, "{consumed} {ws}");
            }
            _ => assert!(
                eof && data.is_empty(),
                "{fmt:?} failed on {} bytes",
                data.len()
            ),
        },
        (Format::Line { keep }, Piece::Bytes(0, n)) => {
            let body = if consumed > 0 && data[consumed - 1] == b'\n' {
                consumed - 1
            } else {
                assert!(
                    eof && consumed == data.len(),
                    "a line without newline before the end"
                );
                consumed
            };
            assert!(!data[..body].contains(&b'\n'));
            assert!(body <= max_line);
            assert_eq!(*n, if keep { consumed } else { body });
        }
        (Format::All, Piece::Bytes(0, n)) => assert!(eof && *n == data.len() && consumed == *n),
        (Format::Count(c), Piece::Bytes(0, n)) => {
            assert_eq!(*n, consumed);
            assert!(*n == c || (eof && *n == data.len() && *n < c));
        }
        (Format::Available, Piece::Bytes(0, n)) => assert!(*n == data.len() && *n > 0),
        (Format::Number, Piece::Numeral(a, b)) => {
            assert_eq!(*b, consumed);
            assert!(data[..*a].iter().all(|c| is_c_space(*c)));
            assert!(b - a <= 200 && b > a);
            // What the scanner took is a numeral Lua accepts.
            LUA.with(|lua| {
                let text = lua.create_string(&data[*a..*b]).expect("string");
                let n = lua.coerce_number(Value::String(text)).expect("coerce");
                assert!(n.is_some(), "not a numeral: {:?}", &data[*a..*b]);
            });
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// `Format::from_lua` on any string: accepted exactly when, after one
/// optional `*`, it starts with a format letter; the error names the
/// argument and the function.
fn format_parser(input: &[u8]) {
    LUA.with(|lua| {
        let s = lua.create_string(input).expect("string");
        let parsed = Format::from_lua(&Value::String(s), 2, "ios:read");
        let body = input.strip_prefix(b"*").unwrap_or(input);
        let valid = matches!(body.first(), Some(b'a' | b'l' | b'L' | b'n' | b'b'));
        match parsed {
            Ok(_) => assert!(valid),
            Err(e) => {
                assert!(!valid);
                let msg = e.to_string();
                assert!(msg.contains("bad argument #2 to 'ios:read'"), "{msg}");
                super::assert_plain_message(&msg);
            }
        }
        // Numbers as counts: whole numbers from 0 are counts, nothing else.
        if input.len() >= 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&input[..8]);
            let x = f64::from_le_bytes(b);
            let parsed = Format::from_lua(&Value::Number(x), 1, "ios:read");
            // i64::MAX as f64 is 2^63, the first float past the integers
            let whole = x.fract() == 0.0 && (0.0..i64::MAX as f64).contains(&x);
            assert_eq!(parsed.is_ok(), whole, "{x}");
        }
    });
}

//! Read formats (`"a"`, `"l"`, `"L"`, `"n"`, `"b"`, a byte count) and the
//! pure functions that match them against buffered bytes.
//!
//! Matching never consumes: it says how many bytes a format would take and
//! which of them form the value, so a read that cannot finish from the
//! buffer leaves it untouched and can be retried after more bytes arrive.

use mlua::Value;

/// One read format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `"a"`: everything until the end of stream.
    All,
    /// `"l"` (`keep == false`) or `"L"` (keeps the newline).
    Line { keep: bool },
    /// `"n"`: a numeral, read as Lua's `io` does.
    Number,
    /// A byte count.
    Count(usize),
    /// `"b"`: whatever has arrived (waits only if nothing has).
    Available,
}

impl Format {
    /// Parses argument `index` (1-based, for error messages) of `fname`.
    pub(crate) fn from_lua(v: &Value, index: usize, fname: &str) -> mlua::Result<Self> {
        match v {
            Value::Integer(n) if *n >= 0 => Ok(Format::Count(*n as usize)),
            Value::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => {
                Ok(Format::Count(*n as usize))
            }
            Value::String(s) => {
                let b = s.as_bytes();
                let b: &[u8] = b.as_ref();
                let b = b.strip_prefix(b"*").unwrap_or(b);
                match b.first() {
                    Some(b'a') => Ok(Format::All),
                    Some(b'l') => Ok(Format::Line { keep: false }),
                    Some(b'L') => Ok(Format::Line { keep: true }),
                    Some(b'n') => Ok(Format::Number),
                    Some(b'b') => Ok(Format::Available),
                    _ => Err(bad_format(index, fname)),
                }
            }
            _ => Err(bad_format(index, fname)),
        }
    }
}

fn bad_format(index: usize, fname: &str) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{index} to '{fname}' (invalid format)"
    ))
}

/// The value a matched format yields, as positions in the matched slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Bytes `start..end` of the slice.
    Bytes(usize, usize),
    /// A numeral in bytes `start..end`, converted by Lua.
    Numeral(usize, usize),
    /// A read that failed (`nil`), as at end of stream or a bad numeral.
    Fail,
}

/// What matching a format against a slice found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    /// More bytes are needed to decide.
    Need,
    /// Consumes `consumed` bytes and yields `piece`.
    Done { consumed: usize, piece: Piece },
    /// No newline within the maximum line length.
    TooLong,
}

/// Longest numeral `"n"` reads, as Lua's `L_MAXLENNUM`.
const MAX_NUMERAL: usize = 200;

/// Matches `fmt` against `data`; `eof` says no more bytes will come.
pub(crate) fn match_format(fmt: Format, data: &[u8], eof: bool, max_line: usize) -> Match {
    let len = data.len();
    let done = |consumed, piece| Match::Done { consumed, piece };
    match fmt {
        Format::All if eof => done(len, Piece::Bytes(0, len)),
        Format::All => Match::Need,
        // The limit holds however the line arrived: whether its newline is
        // already buffered must not change the answer.
        Format::Line { keep } => match memchr::memchr(b'\n', data) {
            Some(i) if i > max_line => Match::TooLong,
            Some(i) => done(i + 1, Piece::Bytes(0, if keep { i + 1 } else { i })),
            None if len > max_line => Match::TooLong,
            None if eof && len > 0 => done(len, Piece::Bytes(0, len)),
            None if eof => done(0, Piece::Fail),
            None => Match::Need,
        },
        Format::Count(0) if len > 0 => done(0, Piece::Bytes(0, 0)),
        Format::Count(n) if n > 0 && len >= n => done(n, Piece::Bytes(0, n)),
        Format::Count(_) | Format::Available if eof && len > 0 => done(len, Piece::Bytes(0, len)),
        Format::Count(_) | Format::Available if eof => done(0, Piece::Fail),
        Format::Available if len > 0 => done(len, Piece::Bytes(0, len)),
        Format::Count(_) | Format::Available => Match::Need,
        Format::Number => match_numeral(data, eof),
    }
}

/// Scans a numeral the way Lua's `io` `read_number` does: skip whitespace,
/// optional sign, optional `0x`, digits, optional point and digits,
/// optional exponent. Whatever is scanned is consumed, even on failure.
fn match_numeral(data: &[u8], eof: bool) -> Match {
    let mut s = Scanner {
        data,
        pos: 0,
        eof,
        count: 0,
        valid: false,
    };
    // Each step can run out of buffered bytes before it can decide.
    let result = (|| {
        while s.peek()?.is_some_and(|c| c.is_ascii_whitespace()) {
            s.pos += 1;
        }
        let start = s.pos;
        s.accept(b"-+")?;
        let mut hex = false;
        if s.accept(b"0")? {
            hex = s.accept(b"xX")?;
            s.count = 1; // the "0" counts as a digit
        }
        s.digits(hex)?;
        if s.accept(b".")? {
            s.digits(hex)?;
        }
        // A numeral needs a digit in its mantissa and, if it has an
        // exponent, in the exponent too (what lua_stringtonumber accepts).
        s.valid = s.count > 0;
        if s.count > 0 && s.accept(if hex { b"pP" } else { b"eE" })? {
            s.accept(b"-+")?;
            s.count = 0;
            s.digits(false)?;
            s.valid = s.count > 0;
        }
        Some((start, s.pos))
    })();
    match result {
        None => Match::Need,
        Some((start, end)) if end - start > MAX_NUMERAL || !s.valid => done_fail(end),
        Some((start, end)) => Match::Done {
            consumed: end,
            piece: Piece::Numeral(start, end),
        },
    }
}

fn done_fail(consumed: usize) -> Match {
    Match::Done {
        consumed,
        piece: Piece::Fail,
    }
}

struct Scanner<'a> {
    data: &'a [u8],
    pos: usize,
    eof: bool,
    count: usize,
    valid: bool,
}

impl Scanner<'_> {
    /// The next byte; `Some(None)` at end of stream, `None` if undecided.
    fn peek(&self) -> Option<Option<u8>> {
        match self.data.get(self.pos) {
            Some(&c) => Some(Some(c)),
            None if self.eof => Some(None),
            None => None,
        }
    }

    fn accept(&mut self, set: &[u8]) -> Option<bool> {
        match self.peek()? {
            Some(c) if set.contains(&c) && self.pos < MAX_NUMERAL + 64 => {
                self.pos += 1;
                Some(true)
            }
            _ => Some(false),
        }
    }

    fn digits(&mut self, hex: bool) -> Option<()> {
        while let Some(c) = self.peek()? {
            let ok = if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            };
            // Stop scanning absurdly long numerals; they fail as Lua's do.
            if !ok || self.pos > MAX_NUMERAL + 64 {
                break;
            }
            self.pos += 1;
            self.count += 1;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(fmt: Format, data: &str, eof: bool) -> Match {
        match_format(fmt, data.as_bytes(), eof, 16)
    }

    fn done(consumed: usize, piece: Piece) -> Match {
        Match::Done { consumed, piece }
    }

    #[test]
    fn lines() {
        let l = Format::Line { keep: false };
        let big_l = Format::Line { keep: true };
        assert_eq!(m(l, "ab\ncd", false), done(3, Piece::Bytes(0, 2)));
        assert_eq!(m(big_l, "ab\ncd", false), done(3, Piece::Bytes(0, 3)));
        assert_eq!(m(l, "abc", false), Match::Need);
        assert_eq!(m(l, "abc", true), done(3, Piece::Bytes(0, 3)));
        assert_eq!(m(l, "", true), done(0, Piece::Fail));
        assert_eq!(m(l, "0123456789abcdefg", false), Match::TooLong);
        // a complete line over the limit, and a last line at end of stream
        assert_eq!(m(l, "0123456789abcdefg\n", false), Match::TooLong);
        assert_eq!(m(big_l, "0123456789abcdefg", true), Match::TooLong);
        assert_eq!(
            m(l, "0123456789abcdef\n", false),
            done(17, Piece::Bytes(0, 16))
        );
    }

    #[test]
    fn counts_all_and_available() {
        assert_eq!(
            m(Format::Count(2), "abc", false),
            done(2, Piece::Bytes(0, 2))
        );
        assert_eq!(m(Format::Count(5), "abc", false), Match::Need);
        assert_eq!(
            m(Format::Count(5), "abc", true),
            done(3, Piece::Bytes(0, 3))
        );
        assert_eq!(m(Format::Count(0), "a", false), done(0, Piece::Bytes(0, 0)));
        assert_eq!(m(Format::Count(0), "", false), Match::Need);
        assert_eq!(m(Format::Count(0), "", true), done(0, Piece::Fail));
        assert_eq!(m(Format::All, "abc", false), Match::Need);
        assert_eq!(m(Format::All, "", true), done(0, Piece::Bytes(0, 0)));
        assert_eq!(
            m(Format::Available, "ab", false),
            done(2, Piece::Bytes(0, 2))
        );
        assert_eq!(m(Format::Available, "", false), Match::Need);
        assert_eq!(m(Format::Available, "", true), done(0, Piece::Fail));
    }

    #[test]
    fn numerals() {
        let n = Format::Number;
        assert_eq!(m(n, "  42 ", false), done(4, Piece::Numeral(2, 4)));
        assert_eq!(m(n, "42", false), Match::Need);
        assert_eq!(m(n, "42", true), done(2, Piece::Numeral(0, 2)));
        assert_eq!(m(n, "-0x1fp2z", false), done(7, Piece::Numeral(0, 7)));
        assert_eq!(m(n, "1.5e+3\n", false), done(6, Piece::Numeral(0, 6)));
        assert_eq!(m(n, "abc", false), done(0, Piece::Fail));
        assert_eq!(m(n, "", true), done(0, Piece::Fail));
        assert_eq!(m(n, "1e+x", false), done(3, Piece::Fail));
        assert_eq!(m(n, "- 1", false), done(1, Piece::Fail));
        assert_eq!(m(n, " .5 ", false), done(3, Piece::Numeral(1, 3)));
    }

    #[test]
    fn absurd_numerals_fail_bounded() {
        let long = "1".repeat(1000);
        match match_format(Format::Number, long.as_bytes(), false, 16) {
            Match::Done {
                piece: Piece::Fail,
                consumed,
            } => assert!(consumed < 300),
            other => panic!("{other:?}"),
        }
    }
}

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
            // A count is any whole number (2^53 as a float too); a count
            // larger than what arrives reads to the end of stream.
            Value::Integer(_) | Value::Number(_) => match super::limits::at_least(v, 0) {
                Some(n) => Ok(Format::Count(n)),
                None => Err(mlua::Error::runtime(format!(
                    "bad argument #{index} to '{fname}' (invalid format: a count must be a \
                     non-negative integer)"
                ))),
            },
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

/// The most formats one read takes. Its results must fit the Lua stack,
/// or they would be consumed and then fail to be returned: Lua 5.1 and
/// LuaJIT give a C call 8000 slots (`LUAI_MAXCSTACK`) for its arguments
/// and its results together, less `LUA_MINSTACK` (20); later versions
/// have one stack of a million slots per coroutine, and this leaves most
/// of it to the rest of the program.
pub(crate) const MAX_FORMATS: usize = if cfg!(any(feature = "lua51", feature = "luajit")) {
    (8000 - 20) / 2 - 1
} else {
    200_000
};

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

/// Scans a numeral exactly as Lua 5.4's `io` `read_number` does: skip
/// whitespace (C's `isspace`), optional sign, optional `0x`, digits,
/// optional point and digits, optional exponent. At most `MAX_NUMERAL`
/// characters are taken after the whitespace; one more that would fit the
/// numeral makes it fail, and whatever was scanned is consumed either way.
fn match_numeral(data: &[u8], eof: bool) -> Match {
    let mut s = Scanner {
        data,
        pos: 0,
        eof,
        start: 0,
        overflow: false,
    };
    // Each step can run out of buffered bytes before it can decide.
    let result = (|| {
        while s.peek()?.is_some_and(is_c_space) {
            s.pos += 1;
        }
        s.start = s.pos;
        s.accept(b"-+")?;
        let mut hex = false;
        let mut count = 0;
        if s.accept(b"0")? {
            if s.accept(b"xX")? {
                hex = true;
            } else {
                count = 1; // the "0" counts as a digit
            }
        }
        count += s.digits(hex)?;
        if s.accept(b".")? {
            count += s.digits(hex)?;
        }
        // What lua_stringtonumber then accepts: a digit in the mantissa
        // and, if there is an exponent, a digit in it too.
        let mut valid = count > 0;
        if count > 0 && s.accept(if hex { b"pP" } else { b"eE" })? {
            s.accept(b"-+")?;
            valid = s.digits(false)? > 0;
        }
        Some(valid && !s.overflow)
    })();
    match result {
        None => Match::Need,
        Some(valid) => Match::Done {
            consumed: s.pos,
            piece: if valid {
                Piece::Numeral(s.start, s.pos)
            } else {
                Piece::Fail
            },
        },
    }
}

/// C's `isspace` in the C locale (Rust's `is_ascii_whitespace` omits `\v`).
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

struct Scanner<'a> {
    data: &'a [u8],
    pos: usize,
    eof: bool,
    /// Where the numeral starts (after the whitespace).
    start: usize,
    /// A character past `MAX_NUMERAL` belonged to the numeral.
    overflow: bool,
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

    /// Takes the next byte into the numeral, as Lua's `nextc`: refused
    /// (and the numeral spoiled) once `MAX_NUMERAL` bytes are taken.
    fn take(&mut self) -> bool {
        if self.pos - self.start >= MAX_NUMERAL {
            self.overflow = true;
            return false;
        }
        self.pos += 1;
        true
    }

    fn accept(&mut self, set: &[u8]) -> Option<bool> {
        Some(match self.peek()? {
            Some(c) if set.contains(&c) => self.take(),
            _ => false,
        })
    }

    /// Takes digits; answers how many.
    fn digits(&mut self, hex: bool) -> Option<usize> {
        let mut count = 0;
        while let Some(c) = self.peek()? {
            let ok = if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            };
            if !ok || !self.take() {
                break;
            }
            count += 1;
        }
        Some(count)
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
    fn numerals_over_200_characters_consume_200_and_fail() {
        let long = format!("  {}", "1".repeat(1000));
        assert_eq!(
            match_format(Format::Number, long.as_bytes(), false, 16),
            done(202, Piece::Fail)
        );
        // Exactly 200 characters is still a numeral.
        let max = format!("{}x", "1".repeat(200));
        assert_eq!(
            match_format(Format::Number, max.as_bytes(), false, 16),
            done(200, Piece::Numeral(0, 200))
        );
    }

    #[test]
    fn hex_prefix_alone_fails_and_vertical_tab_is_space() {
        let n = Format::Number;
        assert_eq!(m(n, "0x", true), done(2, Piece::Fail));
        assert_eq!(m(n, "0x ", false), done(2, Piece::Fail));
        assert_eq!(m(n, "0x1p", true), done(4, Piece::Fail));
        assert_eq!(m(n, "0x.8 ", false), done(4, Piece::Numeral(0, 4)));
        assert_eq!(m(n, "\x0b7 ", false), done(2, Piece::Numeral(1, 2)));
        assert_eq!(m(n, "0 ", false), done(1, Piece::Numeral(0, 1)));
    }
}

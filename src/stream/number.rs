//! Numbers as `file:write` writes them, formatted here rather than by
//! Lua's `string.format`, which a program may have replaced: integers
//! (Lua 5.3 and 5.4) as `%d`, floats as `%.14g` (`LUA_NUMBER_FMT`).

/// The significant digits of `%.14g`.
const DIGITS: usize = 14;

/// `n` as `printf("%.14g", n)` prints it with glibc; LuaJIT formats
/// numbers itself and writes every NaN as `nan`.
pub(crate) fn float_text(n: f64) -> String {
    if n.is_nan() {
        let signed = n.is_sign_negative() && !cfg!(feature = "luajit");
        return if signed { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // As in C, the exponent after rounding to DIGITS significant digits
    // chooses the style. Rust rounds exactly, ties to even, as glibc does.
    let sci = format!("{:.*e}", DIGITS - 1, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= DIGITS as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.unsigned_abs())
    } else {
        let decimals = (DIGITS as i32 - 1 - exp) as usize;
        trim_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

/// `%g` drops trailing zeros of the fraction, and a bare point.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::float_text;

    #[test]
    fn as_printf_g14() {
        let cases: [(f64, &str); 22] = [
            (2.0, "2"),
            (-0.0, "-0"),
            (1.0 / 3.0, "0.33333333333333"),
            (0.1, "0.1"),
            (1e15, "1e+15"),
            (1e14, "1e+14"),
            (12345678901234.0, "12345678901234"),
            (2f64.powi(53), "9.007199254741e+15"),
            (-(2f64.powi(63)), "-9.2233720368548e+18"),
            (1e100, "1e+100"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (123456.789, "123456.789"),
            (2.5, "2.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (5e-324, "4.9406564584125e-324"),
            (f64::MAX, "1.7976931348623e+308"),
            (0.000_123_456_789_012_345_67, "0.00012345678901235"),
            (99999999999999.5, "1e+14"),
            // Exact ties round to even, as glibc does.
            (10000000000000.5, "10000000000000"),
            (10000000000001.5, "10000000000002"),
        ];
        for (n, text) in cases {
            assert_eq!(float_text(n), text, "{n:e}");
        }
        let nan = if cfg!(feature = "luajit") {
            "nan"
        } else {
            "-nan"
        };
        assert_eq!(float_text(-f64::NAN), nan);
        assert_eq!(float_text(f64::NAN), "nan");
    }
}

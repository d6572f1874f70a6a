//! The whole-number arguments of streams (read counts, `fill`,
//! `setmaxline` and the `maxline` option, `setvbuf` sizes), taken by one
//! rule so every entry point agrees: an integer, or a float with an exact
//! integer value (as Lua's `luaL_checkinteger` takes them), so `2^53` is a
//! count and `1.5` or `2^63` is not.

use mlua::Value;

/// `v` as a whole number, if it is one within Lua's integer range.
pub(crate) fn whole(v: &Value) -> Option<i64> {
    // 2^63 is the first float past i64::MAX; -2^63 is exactly i64::MIN.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match *v {
        Value::Integer(i) => Some(i),
        Value::Number(n) if n.fract() == 0.0 && (-LIMIT..LIMIT).contains(&n) => Some(n as i64),
        _ => None,
    }
}

/// A count of at least `min`, as `usize`.
pub(crate) fn at_least(v: &Value, min: i64) -> Option<usize> {
    whole(v)
        .filter(|n| *n >= min)
        .and_then(|n| usize::try_from(n).ok())
}

/// Argument `n` of `fname` as a count of at least `min`: a value that is
/// not a number says so in Lua's words, a number out of range says what
/// is expected.
pub(crate) fn count_arg(v: &Value, min: i64, n: usize, fname: &str) -> mlua::Result<usize> {
    if !matches!(v, Value::Integer(_) | Value::Number(_)) {
        let why = format!("number expected, got {}", crate::api::surface::type_name(v));
        return Err(crate::api::surface::bad_argument(n, fname, why));
    }
    if whole(v).is_none() {
        let why = "number has no integer representation";
        return Err(crate::api::surface::bad_argument(n, fname, why));
    }
    at_least(v, min).ok_or_else(|| {
        let why = if min == 1 {
            "positive integer expected".to_string()
        } else {
            format!("integer >= {min} expected")
        };
        crate::api::surface::bad_argument(n, fname, why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_integral_floats_within_range() {
        assert_eq!(whole(&Value::Integer(-3)), Some(-3));
        assert_eq!(
            whole(&Value::Number(9_007_199_254_740_992.0)),
            Some(1 << 53)
        );
        assert_eq!(whole(&Value::Number(1.5)), None);
        assert_eq!(whole(&Value::Number(9_223_372_036_854_775_808.0)), None);
        assert_eq!(
            whole(&Value::Number(-9_223_372_036_854_775_808.0)),
            Some(i64::MIN)
        );
        assert_eq!(whole(&Value::Number(f64::INFINITY)), None);
        assert_eq!(whole(&Value::Number(f64::NAN)), None);
        assert_eq!(whole(&Value::Nil), None);
        assert_eq!(at_least(&Value::Integer(0), 1), None);
        assert_eq!(
            at_least(&Value::Integer(i64::MAX), 1),
            Some(i64::MAX as usize)
        );
    }
}

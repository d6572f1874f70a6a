//! A deadline that a pending future checks each time it is polled; the
//! timer behind it is created only once the future actually waits.

use std::rc::Rc;
use std::task::Context;
use std::time::{Duration, Instant};

use super::timer::TimerKey;
use super::Runtime;

pub(crate) struct Deadline {
    at: Option<Instant>,
    key: Option<TimerKey>,
    rt: Rc<Runtime>,
}

impl Deadline {
    /// `None` never expires.
    pub(crate) fn after(rt: &Rc<Runtime>, timeout: Option<Duration>) -> Self {
        let at = timeout.map(|t| later(Instant::now(), t));
        Self {
            at,
            key: None,
            rt: rt.clone(),
        }
    }

    /// A deadline at a fixed time (`None` never expires).
    pub(crate) fn at(rt: &Rc<Runtime>, at: Option<Instant>) -> Self {
        Self {
            at,
            key: None,
            rt: rt.clone(),
        }
    }

    /// Moves the deadline; the timer armed for the old time, if any, is
    /// cancelled (the next `poll_expired` arms a new one).
    pub(crate) fn reset(&mut self, at: Option<Instant>) {
        if self.at != at {
            if let Some(k) = self.key.take() {
                self.rt.timers.cancel(k);
            }
            self.at = at;
        }
    }

    /// The time left (zero once passed); `None` never expires.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// True once the deadline has passed; otherwise arranges a wake-up then.
    pub(crate) fn poll_expired(&mut self, cx: &Context<'_>) -> bool {
        let Some(at) = self.at else { return false };
        if Instant::now() >= at {
            return true;
        }
        match self.key {
            Some(k) => self.rt.timers.update(k, cx.waker()),
            None => self.key = Some(self.rt.timers.add(at, cx.waker().clone())),
        }
        false
    }
}

/// `now + t`, or about thirty years ahead when that overflows an
/// `Instant` (`recv(1e300)`): a timeout too long to reach is no timeout,
/// never a panic. Every deadline made from a user's timeout goes through
/// here.
pub(crate) fn later(now: Instant, t: Duration) -> Instant {
    now.checked_add(t)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30))
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.rt.timers.cancel(k);
        }
    }
}

/// Converts a Lua timeout in seconds (`nil`: none) to a duration; negative,
/// NaN or absurd values are misuse, and the error says why.
pub(crate) fn seconds(value: Option<f64>) -> Result<Option<Duration>, String> {
    match value {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(
            Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX),
        )),
        Some(s) if s == f64::INFINITY => Ok(None),
        Some(s) => Err(format!("non-negative number of seconds expected, got {s}")),
    }
}

/// Whether [`seconds`] accepts `s` (without converting it).
pub(crate) fn is_seconds(s: f64) -> bool {
    s >= 0.0
}

/// [`seconds`] for argument `n` of `fname`.
pub(crate) fn seconds_arg(
    value: Option<f64>,
    n: usize,
    fname: &str,
) -> mlua::Result<Option<Duration>> {
    seconds(value).map_err(|why| crate::api::surface::bad_argument(n, fname, why))
}

/// A timeout among a call's raw arguments: `nil`/absent (none) or a
/// non-negative number of seconds; anything else is misuse of argument `n`.
pub(crate) fn timeout_value(
    value: Option<&mlua::Value>,
    n: usize,
    fname: &str,
) -> mlua::Result<Option<Duration>> {
    use crate::api::surface::{bad_argument, type_name};
    let s = match value {
        None | Some(mlua::Value::Nil) => None,
        Some(mlua::Value::Integer(i)) => Some(*i as f64),
        Some(mlua::Value::Number(x)) => Some(*x),
        Some(other) => {
            return Err(bad_argument(
                n,
                fname,
                format_args!("number expected, got {}", type_name(other)),
            ))
        }
    };
    seconds_arg(s, n, fname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_seconds_agrees_with_seconds() {
        for s in [
            -1.0,
            -0.0,
            0.0,
            1e-9,
            1.5,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(is_seconds(s), seconds(Some(s)).is_ok(), "{s}");
        }
    }
}

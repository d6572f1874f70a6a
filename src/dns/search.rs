//! Which fully qualified names to try for what the user typed, by the
//! `ndots` rule and the search list, in glibc's order:
//!
//! - a trailing dot means the name is absolute: only it is tried;
//! - a name with at least `ndots` dots is tried as given first, then with
//!   each search domain appended;
//! - otherwise each search domain is tried first, then the name as given.
//!
//! Candidates that would exceed the name length limit are skipped, and a
//! candidate is never listed twice.
//!
//! When to move on to the next candidate is [`keep_searching`]: glibc goes
//! on after "no such name" and "no data" (and after SERVFAIL, remembering
//! it), and stops at a timeout or at the first success.

use super::name::{Name, NameError};
use super::query::Outcome;

/// The names to try, in order. Fails only when `input` itself is not a
/// valid name.
pub fn candidates(input: &str, search: &[Name], ndots: u32) -> Result<Vec<Name>, NameError> {
    let (name, absolute) = Name::parse(input)?;
    if absolute || name.is_root() {
        return Ok(vec![name]);
    }
    let dots = name.label_count().saturating_sub(1);
    let as_is_first = dots >= ndots as usize;
    let mut out = Vec::with_capacity(search.len() + 1);
    if as_is_first {
        out.push(name.clone());
    }
    for domain in search {
        if let Ok(candidate) = name.join(domain) {
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    if !as_is_first && !out.contains(&name) {
        out.push(name);
    }
    Ok(out)
}

/// Whether a search should go on to the next candidate after this outcome
/// for the current one. `Outcome::Cname` is not a final answer: the caller
/// follows it (see `query`) before deciding.
pub fn keep_searching(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::NxDomain { .. } | Outcome::NoData { .. } | Outcome::ServFail { .. } => true,
        Outcome::Addresses { .. } | Outcome::Cname { .. } | Outcome::Timeout { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<Name> {
        list.iter().map(|s| Name::new(s).unwrap()).collect()
    }

    fn strs(list: Vec<Name>) -> Vec<String> {
        list.into_iter().map(|n| n.as_str().to_string()).collect()
    }

    #[test]
    fn short_name_searches_first() {
        let search = names(&["corp.example", "example.com"]);
        assert_eq!(
            strs(candidates("host", &search, 1).unwrap()),
            ["host.corp.example", "host.example.com", "host"]
        );
    }

    #[test]
    fn dotted_name_tried_as_is_first() {
        let search = names(&["corp.example"]);
        assert_eq!(
            strs(candidates("www.example.org", &search, 1).unwrap()),
            ["www.example.org", "www.example.org.corp.example"]
        );
        // Exactly ndots dots counts as "enough".
        assert_eq!(
            strs(candidates("a.b", &search, 1).unwrap()),
            ["a.b", "a.b.corp.example"]
        );
    }

    #[test]
    fn ndots_threshold() {
        let search = names(&["s.example"]);
        assert_eq!(
            strs(candidates("a.b", &search, 2).unwrap()),
            ["a.b.s.example", "a.b"]
        );
        assert_eq!(
            strs(candidates("a.b.c", &search, 2).unwrap()),
            ["a.b.c", "a.b.c.s.example"]
        );
        // ndots 0: even a single label is tried as-is first.
        assert_eq!(
            strs(candidates("a", &search, 0).unwrap()),
            ["a", "a.s.example"]
        );
    }

    #[test]
    fn trailing_dot_is_absolute() {
        let search = names(&["s.example"]);
        assert_eq!(strs(candidates("host.", &search, 1).unwrap()), ["host"]);
        assert_eq!(
            strs(candidates("Host.Example.", &search, 5).unwrap()),
            ["host.example"]
        );
        assert_eq!(candidates(".", &search, 1).unwrap(), vec![Name::root()]);
    }

    #[test]
    fn no_search_list() {
        assert_eq!(strs(candidates("host", &[], 1).unwrap()), ["host"]);
        assert_eq!(strs(candidates("a.b", &[], 1).unwrap()), ["a.b"]);
    }

    #[test]
    fn skips_too_long_and_duplicates() {
        let long = Name::new(&format!("{0}.{0}.{0}", "d".repeat(63))).unwrap();
        let search = vec![
            long,
            Name::new("ok.example").unwrap(),
            Name::new("ok.example").unwrap(),
        ];
        let label = "h".repeat(63);
        assert_eq!(
            strs(candidates(&label, &search, 1).unwrap()),
            [format!("{label}.ok.example"), label.clone()]
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(candidates("", &[], 1), Err(NameError::Empty));
        assert_eq!(candidates("a..b", &[], 1), Err(NameError::EmptyLabel));
        assert_eq!(candidates("a b", &[], 1), Err(NameError::BadChar));
    }
}

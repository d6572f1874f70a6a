//! The properties the fuzz targets check, one function per target, each
//! taking any bytes and panicking when a property fails. `fuzz/` runs them
//! under libFuzzer (`cargo +nightly fuzz run NAME`); `tests/fuzz.rs` runs
//! them for a bounded number of generated inputs on stable Rust, so every
//! `cargo test` exercises them. Not part of the library's API.

mod dns;
mod pem;
mod read_format;
mod tls_options;

pub use dns::{lookup_answer, parse_message};
pub use pem::pem;
pub use read_format::read_format;
pub use tls_options::tls_options;

/// A property: panics when it does not hold for the input.
pub type Property = fn(&[u8]);

/// Every target by name, for drivers that run them all.
pub const TARGETS: &[(&str, Property)] = &[
    ("parse_message", parse_message),
    ("lookup_answer", lookup_answer),
    ("read_format", read_format),
    ("tls_options", tls_options),
    ("pem", pem),
];

/// A message must never show a Rust debug string.
fn assert_plain_message(msg: &str) {
    for bad in [
        "Error {",
        "Os {",
        "kind:",
        "Other(",
        "Custom {",
        // pki-types' and rustls' Display of PEM and key errors.
        "InvalidCharacter",
        "section end marker",
        "unexpected error",
    ] {
        assert!(!msg.contains(bad), "message shows Rust debug output: {msg}");
    }
}

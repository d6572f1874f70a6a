//! libFuzzer target: the `tls_options` property of `tls::fuzzing` (its doc says
//! what is checked). `cargo test` runs the same property on stable Rust
//! for a bounded number of inputs (tests/fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tls::fuzzing::tls_options(data));
